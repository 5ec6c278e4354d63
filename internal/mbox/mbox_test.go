//go:build linux

package mbox

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/iotest"
	"time"

	"goqmail/internal/testutil"
)

const (
	from = "From a@b Sun Jan 03 01:05:34 1996\n"
	hdr  = "Return-Path: <a@b>\nDelivered-To: c@d\n"
)

func TestQuoting(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"From x\n", ">From x\n"},
		{"From x", ">From x"},
		{">From x\n", ">>From x\n"},
		{">>>From x\n", ">>>>From x\n"},
		{"From \n", ">From \n"},
		{"From", "From"},
		{"From\n", "From\n"},
		{"Fro", "Fro"},
		{">Fro", ">Fro"},
		{">>", ">>"},
		{">\n>From\n", ">\n>From\n"},
		{"FROM x\n", "FROM x\n"},
		{"from x\n", "from x\n"},
		{" From x\n", " From x\n"},
		{"x From y\n", "x From y\n"},
		{"a\nFrom b\nc From d\n>From e\n\nFrom f", "a\n>From b\nc From d\n>>From e\n\n>From f"},
		{">F>From x\n", ">F>From x\n"},
		{"FFrom x\n", "FFrom x\n"},
		{"From From x\n", ">From From x\n"},
		{"\n\n", "\n\n"},
		{strings.Repeat(">", 100000) + "From x\n", ">" + strings.Repeat(">", 100000) + "From x\n"},
		{strings.Repeat(">", 100000) + "X\n", strings.Repeat(">", 100000) + "X\n"},
	}
	for _, tc := range tests {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			var sb strings.Builder
			w := newBufWriter(&sb)
			last, wrote, err := copyQuoted(w, r)
			w.Flush()
			if err != nil {
				t.Fatal(err)
			}
			got := sb.String()
			if got != tc.want {
				t.Errorf("copyQuoted(%.40q, oneByte=%v) = %.60q, want %.60q", tc.in, oneByte, got, tc.want)
			}
			if wrote != (tc.want != "") || wrote && last != tc.want[len(tc.want)-1] {
				t.Errorf("copyQuoted(%.40q): last %q wrote %v", tc.in, last, wrote)
			}
		}
	}
}

func TestAppend(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name, before, msg, want string
	}{
		{"new file", "", "Subject: x\n\nFrom here\n", from + hdr + "Subject: x\n\n>From here\n\n"},
		{"no final newline", "", "Subject: x\n\nbody", from + hdr + "Subject: x\n\nbody\n\n"},
		{"empty message", "", "", from + hdr + "\n"},
		{"after a complete message", "From x\nA\n\n", "M\n", "From x\nA\n\n" + from + hdr + "M\n\n"},
		{"after a partial line", "From x\nA\npart", "M\n", "From x\nA\npart\n\n" + from + hdr + "M\n\n"},
		{"after a line without blank", "From x\nA\n", "M\n", "From x\nA\n\n" + from + hdr + "M\n\n"},
		{"file of one newline", "\n", "M\n", "\n" + from + hdr + "M\n\n"},
		{"file of one byte", "x", "M\n", "x\n\n" + from + hdr + "M\n\n"},
	}
	dir := t.TempDir()
	for i, tc := range tests {
		p := filepath.Join(dir, "mbox"+string(rune('a'+i)))
		if tc.before != "" {
			os.WriteFile(p, []byte(tc.before), 0o600)
		}
		if err := Append(p, []byte(from), []byte(hdr), strings.NewReader(tc.msg), Options{}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, _ := os.ReadFile(p)
		if string(got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
		if fi, _ := os.Stat(p); tc.before == "" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", tc.name, fi.Mode())
		}
	}
}

func TestAppendWriteOnly(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	p := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(p, []byte("From x\npartial"), 0o200)
	if err := Append(p, []byte(from), []byte(hdr), strings.NewReader("M\n"), Options{}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o600)
	got, _ := os.ReadFile(p)
	// Unreadable: no repair, but the message is appended.
	if want := "From x\npartial" + from + hdr + "M\n\n"; string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestAppendOpenError(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	dir := t.TempDir()
	for _, p := range []string{dir, filepath.Join(dir, "missing", "mbox")} {
		err := Append(p, []byte(from), nil, strings.NewReader("x"), Options{})
		var me *Error
		if !errors.As(err, &me) || me.Op != "open" || !me.Temporary() {
			t.Errorf("%s: %v, want an open *Error", p, err)
		}
	}
}

func TestLockTimeout(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name string
		hold func(f *os.File) error
	}{
		{"flock", func(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX) }},
		{"fcntl", func(f *os.File) error {
			lk := syscall.Flock_t{Type: syscall.F_WRLCK}
			return syscall.FcntlFlock(f.Fd(), fOFDSetLK, &lk)
		}},
	}
	for _, tc := range tests {
		p := filepath.Join(t.TempDir(), "mbox")
		os.WriteFile(p, []byte("From x\n\n"), 0o600)
		holder, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.hold(holder); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		err = Append(p, []byte(from), []byte(hdr), strings.NewReader("M\n"), Options{LockWait: 300 * time.Millisecond})
		if !errors.Is(err, ErrLockTimeout) {
			t.Errorf("%s: %v, want ErrLockTimeout", tc.name, err)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 5*time.Second {
			t.Errorf("%s: waited %v", tc.name, d)
		}
		if got, _ := os.ReadFile(p); string(got) != "From x\n\n" {
			t.Errorf("%s: file changed to %q", tc.name, got)
		}
		// Released: the next append goes through.
		holder.Close()
		if err := Append(p, []byte(from), []byte(hdr), strings.NewReader("M\n"), Options{LockWait: time.Second}); err != nil {
			t.Errorf("%s after release: %v", tc.name, err)
		}
	}
}

// faultFile fails writes after limit bytes, or Sync.
type faultFile struct {
	*os.File
	limit    int
	written  int
	syncFail bool
	err      error
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.written+len(p) > f.limit {
		n := f.limit - f.written
		f.File.Write(p[:n])
		f.written += n
		return n, f.err
	}
	f.written += len(p)
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.syncFail {
		f.syncFail = false // the truncation's own sync goes through
		return f.err
	}
	return f.File.Sync()
}

type badReader struct{ n int }

func (r *badReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		n := copy(p, strings.Repeat("x\n", r.n))
		r.n = 0
		return n, nil
	}
	return 0, syscall.EIO
}

func TestTruncateBack(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	const before = "From x\nold\n\n"
	big := strings.Repeat("line of the message\n", 20000)
	tests := []struct {
		name  string
		limit int
		sync  bool
		err   error
		msg   io.Reader
		op    string
	}{
		{"ENOSPC mid-message", 100, false, syscall.ENOSPC, strings.NewReader(big), "write"},
		{"EDQUOT at once", 0, false, syscall.EDQUOT, strings.NewReader(big), "write"},
		{"EIO at fsync", 1 << 30, true, syscall.EIO, strings.NewReader(big), "sync"},
		{"read error", 1 << 30, false, nil, &badReader{n: 10}, "read"},
	}
	for _, tc := range tests {
		p := filepath.Join(t.TempDir(), "mbox")
		os.WriteFile(p, []byte(before), 0o600)
		f, err := os.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		ff := &faultFile{File: f, limit: tc.limit, syncFail: tc.sync, err: tc.err}
		err = appendTo(ff, true, true, p, []byte(from), []byte(hdr), tc.msg)
		f.Close()
		var me *Error
		if !errors.As(err, &me) || me.Op != tc.op || !me.Temporary() {
			t.Errorf("%s: %v, want op %s", tc.name, err, tc.op)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v does not wrap %v", tc.name, err, tc.err)
		}
		if got, _ := os.ReadFile(p); string(got) != before {
			t.Errorf("%s: file is %d bytes %.80q, want it back as before", tc.name, len(got), got)
		}
	}
}

// TestFileSizeLimit fails a real write with RLIMIT_FSIZE (EFBIG; Go
// ignores SIGXFSZ) and checks that the mbox is truncated back.
func TestFileSizeLimit(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	const before = "From x\nold\n\n"
	p := filepath.Join(t.TempDir(), "mbox")
	os.WriteFile(p, []byte(before), 0o600)
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	lim := old
	lim.Cur = 100 << 10
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot set RLIMIT_FSIZE: %v", err)
	}
	err := Append(p, []byte(from), []byte(hdr), strings.NewReader(strings.Repeat("y\n", 100<<10)), Options{})
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Errorf("got %v, want EFBIG", err)
	}
	if got, _ := os.ReadFile(p); string(got) != before {
		t.Errorf("file is %d bytes, want it back as before", len(got))
	}
}

func TestDevFull(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	err := Append("/dev/full", []byte(from), []byte(hdr), strings.NewReader("M\n"), Options{})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("got %v, want ENOSPC", err)
	}
}
