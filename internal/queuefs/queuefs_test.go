package queuefs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"syscall"
	"testing"
)

func TestSub(t *testing.T) {
	tests := []struct {
		n    uint64
		want string
	}{
		{0, "0/0"}, {22, "22/22"}, {23, "0/23"}, {24, "1/24"}, {12345, "17/12345"},
		{18446744073709551615, "5/18446744073709551615"},
	}
	for _, tt := range tests {
		if got := Sub(tt.n); got != tt.want {
			t.Errorf("Sub(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	q := New("/var/qmail")
	tests := []struct{ got, want string }{
		{q.Dir, "/var/qmail/queue"},
		{q.Mess(12345), "/var/qmail/queue/mess/17/12345"},
		{q.Info(12345), "/var/qmail/queue/info/17/12345"},
		{q.Local(12345), "/var/qmail/queue/local/17/12345"},
		{q.Remote(12345), "/var/qmail/queue/remote/17/12345"},
		{q.Chan(false, 46), "/var/qmail/queue/local/0/46"},
		{q.Chan(true, 46), "/var/qmail/queue/remote/0/46"},
		{q.Intd(12345), "/var/qmail/queue/intd/12345"},
		{q.Todo(12345), "/var/qmail/queue/todo/12345"},
		{q.Bounce(12345), "/var/qmail/queue/bounce/12345"},
		{q.Trigger(), "/var/qmail/queue/lock/trigger"},
		{q.Path("pid", "x"), "/var/qmail/queue/pid/x"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"12345", 12345, true},
		{"007", 7, true},
		{"18446744073709551615", 18446744073709551615, true},
		{"18446744073709551616", 0, false},  // overflows
		{"000000000000000000001", 0, false}, // 21 bytes
		{"", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"1 ", 0, false},
		{"1a", 0, false},
		{"0x10", 0, false},
		{"1.5", 0, false},
		{"１", 0, false}, // fullwidth digit
		{"12\x00", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseNumber(tt.in)
		if ok != tt.ok || (ok && got != tt.want) {
			t.Errorf("ParseNumber(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestParseTodo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    *Envelope
		wantErr bool
	}{
		{
			name: "full",
			in:   "u1000\x00p4242\x00Fjoe@example.com\x00Tbob@example.org\x00Tann@x\x00",
			want: &Envelope{UID: "1000", PID: "4242", Sender: "joe@example.com", Recipients: []string{"bob@example.org", "ann@x"}},
		},
		{
			name: "bounce sender, no recipients",
			in:   "u0\x00p1\x00F\x00",
			want: &Envelope{UID: "0", PID: "1", Sender: ""},
		},
		{
			name: "F only",
			in:   "Fa@b\x00Tc@d\x00",
			want: &Envelope{Sender: "a@b", Recipients: []string{"c@d"}},
		},
		{
			name: "empty recipient kept",
			in:   "Fa@b\x00T\x00",
			want: &Envelope{Sender: "a@b", Recipients: []string{""}},
		},
		{name: "empty file", in: "", wantErr: true},
		{name: "no F", in: "u1\x00p2\x00Tc@d\x00", wantErr: true},
		{name: "missing final NUL", in: "u1\x00p2\x00Fa@b\x00Tc@d", wantErr: true},
		{name: "missing NUL on F", in: "u1\x00p2\x00Fa@b", wantErr: true},
		{name: "unknown record", in: "u1\x00p2\x00Fa@b\x00Xc@d\x00", wantErr: true},
		{name: "lower-case t", in: "Fa@b\x00tc@d\x00", wantErr: true},
		{name: "empty record (the envelope's final NUL)", in: "Fa@b\x00Tc@d\x00\x00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTodo([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTodo(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTodo(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseTodo(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
	if _, err := ParseTodo([]byte("Fa\x00Q\x00")); !errors.Is(err, ErrBadRecord) {
		t.Errorf("unknown record: err = %v, want ErrBadRecord", err)
	}
}

func TestParseChan(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []Record
		wantErr bool
	}{
		{name: "empty", in: "", want: nil},
		{
			name: "T and D",
			in:   "Ta@b\x00Dcc@d\x00Te\x00",
			want: []Record{{0, false, "a@b"}, {5, true, "cc@d"}, {11, false, "e"}},
		},
		{
			name: "trailing partial record ignored",
			in:   "Ta@b\x00Tc@",
			want: []Record{{0, false, "a@b"}},
		},
		{
			name: "only a partial record",
			in:   "Tc@",
			want: nil,
		},
		{
			name: "empty address",
			in:   "T\x00D\x00",
			want: []Record{{0, false, ""}, {2, true, ""}},
		},
		{name: "bad letter", in: "Ta\x00Xb\x00Tc\x00", want: []Record{{0, false, "a"}}, wantErr: true},
		{name: "empty record", in: "Ta\x00\x00", want: []Record{{0, false, "a"}}, wantErr: true},
		{name: "F record", in: "Fa\x00", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseChan([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseChan(%q) err = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadRecord) {
				t.Errorf("err = %v, want ErrBadRecord", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseChan(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestMakeTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	for round := 0; round < 2; round++ { // a second run over an existing tree must succeed
		if err := MakeTree(dir); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	modes := map[string]os.FileMode{
		"": 0o750, "pid": 0o700, "intd": 0o700, "todo": 0o750, "bounce": 0o700, "lock": 0o750,
		"mess": 0o750, "info": 0o700, "local": 0o700, "remote": 0o700,
	}
	for name, mode := range modes {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want dir %v", name, fi.Mode(), mode)
		}
	}
	for _, name := range []string{"mess", "info", "local", "remote"} {
		for i := 0; i < Split+1; i++ {
			fi, err := os.Stat(filepath.Join(dir, name, strconv.Itoa(i)))
			if i == Split {
				if err == nil {
					t.Errorf("%s/%d exists; only 0..%d should", name, i, Split-1)
				}
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != modes[name] {
				t.Errorf("%s/%d: mode %v, want %v", name, i, fi.Mode().Perm(), modes[name])
			}
		}
	}
	fi, err := os.Lstat(filepath.Join(dir, "lock", "trigger"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeNamedPipe == 0 || fi.Mode().Perm() != 0o622 {
		t.Errorf("trigger: mode %v, want a FIFO 0622", fi.Mode())
	}
	tcpto, err := os.ReadFile(filepath.Join(dir, "lock", "tcpto"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tcpto, make([]byte, 1024)) {
		t.Errorf("tcpto: %d bytes, want 1024 NULs", len(tcpto))
	}
	for name, size := range map[string]int64{"sendmutex": 0, "directdone": DoneMarksSize} {
		fi, err = os.Stat(filepath.Join(dir, "lock", name))
		if err != nil || fi.Size() != size || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", name, fi, err)
		}
	}
	if err := SyncDir(dir); err != nil {
		t.Errorf("SyncDir: %v", err)
	}
	if err := SyncDir(filepath.Join(dir, "nonexistent")); err == nil {
		t.Errorf("SyncDir of a missing folder succeeded")
	}
}

// TestMakeTreeFixesModes checks that an existing folder with the wrong
// mode is brought to qmail's.
func TestMakeTreeFixesModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue")
	if err := os.MkdirAll(filepath.Join(dir, "todo"), 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(dir, "todo"), 0o777)
	if err := MakeTree(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "todo"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o750 {
		t.Errorf("todo: mode %v, want 0750", fi.Mode().Perm())
	}
}

func FuzzParseTodo(f *testing.F) {
	for _, s := range []string{
		"u1000\x00p4242\x00Fjoe@example.com\x00Tbob@example.org\x00",
		"F\x00", "", "\x00", "Fa", "Xa\x00", "u\x00p\x00F\x00T\x00T\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseTodo(data)
		if err != nil {
			if e != nil {
				t.Fatalf("error %v with an envelope", err)
			}
			return
		}
		// Accepted: every record ends in NUL and is u, p, F or T; the
		// envelope holds the last u, p and F and every T in order.
		if len(data) == 0 || data[len(data)-1] != 0 {
			t.Fatalf("accepted %q without a final NUL", data)
		}
		want := &Envelope{}
		sawF := false
		for _, rec := range bytes.Split(data[:len(data)-1], []byte{0}) {
			if len(rec) == 0 {
				t.Fatalf("accepted an empty record in %q", data)
			}
			v := string(rec[1:])
			switch rec[0] {
			case 'u':
				want.UID = v
			case 'p':
				want.PID = v
			case 'F':
				want.Sender, sawF = v, true
			case 'T':
				want.Recipients = append(want.Recipients, v)
			default:
				t.Fatalf("accepted record %q", rec)
			}
		}
		if !sawF {
			t.Fatalf("accepted %q without F", data)
		}
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("ParseTodo(%q) = %+v, want %+v", data, e, want)
		}
	})
}

func FuzzParseChan(f *testing.F) {
	for _, s := range []string{"Ta@b\x00Dc@d\x00", "", "T", "\x00", "X\x00", "Ta\x00Tb"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _ := ParseChan(data)
		end := int64(-1)
		for _, r := range recs {
			if r.Offset <= end || r.Offset >= int64(len(data)) {
				t.Fatalf("offset %d out of order or range (len %d)", r.Offset, len(data))
			}
			want := byte('T')
			if r.Done {
				want = 'D'
			}
			if data[r.Offset] != want {
				t.Fatalf("offset %d points at %q, want %q", r.Offset, data[r.Offset], want)
			}
			stop := r.Offset + 1 + int64(len(r.Addr))
			if stop >= int64(len(data)) || data[stop] != 0 || string(data[r.Offset+1:stop]) != r.Addr {
				t.Fatalf("record at %d does not hold %q then NUL", r.Offset, r.Addr)
			}
			end = stop
		}
	})
}
