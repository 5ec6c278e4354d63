package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"goqmail/internal/durable"
	"goqmail/internal/testutil"
)

func mustMake(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "Maildir")
	if err := Make(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func list(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestMake(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	dir := mustMake(t)
	for _, d := range []string{"", "tmp", "new", "cur"} {
		fi, err := os.Stat(filepath.Join(dir, d))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want dir 0700", d, fi.Mode())
		}
	}
	if err := Make(dir); !errors.Is(err, os.ErrExist) {
		t.Errorf("Make on an existing dir: %v, want ErrExist", err)
	}
}

func TestDeliver(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	dir := mustMake(t)
	prefix := "Return-Path: <a@b>\nDelivered-To: c@d\n"
	msgs := []string{"Subject: x\n\nbody\n", "From nobody\nno final newline", ""}
	seen := map[string]bool{}
	for _, m := range msgs {
		name, err := Deliver(dir, []byte(prefix), strings.NewReader(m))
		if err != nil {
			t.Fatal(err)
		}
		if seen[name] {
			t.Fatalf("name %s used twice", name)
		}
		seen[name] = true
		got, err := os.ReadFile(filepath.Join(dir, "new", name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != prefix+m {
			t.Errorf("got %q, want %q", got, prefix+m)
		}
		fi, _ := os.Stat(filepath.Join(dir, "new", name))
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode())
		}
	}
	if l := list(t, filepath.Join(dir, "tmp")); len(l) != 0 {
		t.Errorf("tmp/ not empty: %v", l)
	}
	if l := list(t, filepath.Join(dir, "new")); len(l) != len(msgs) {
		t.Errorf("new/ has %v", l)
	}
}

func TestDeliverNoMaildir(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	base := t.TempDir()
	os.WriteFile(filepath.Join(base, "file"), nil, 0o600)
	os.Mkdir(filepath.Join(base, "notmaildir"), 0o700)
	tests := []struct {
		dir    string
		nodir  bool
		errno  error
		reason string
	}{
		{filepath.Join(base, "missing"), true, syscall.ENOENT, "missing dir"},
		{filepath.Join(base, "file"), true, syscall.ENOTDIR, "a file"},
		{filepath.Join(base, "notmaildir"), false, syscall.ENOENT, "no tmp/"},
	}
	for _, tc := range tests {
		_, err := Deliver(tc.dir, nil, strings.NewReader("x"))
		if err == nil {
			t.Errorf("%s: no error", tc.reason)
			continue
		}
		if IsNoDir(err) != tc.nodir {
			t.Errorf("%s: IsNoDir = %v (%v)", tc.reason, !tc.nodir, err)
		}
		if !errors.Is(err, tc.errno) {
			t.Errorf("%s: %v, want %v", tc.reason, err, tc.errno)
		}
		var me *Error
		if !errors.As(err, &me) || !me.Temporary() {
			t.Errorf("%s: not a temporary *Error: %v", tc.reason, err)
		}
	}
}

// faultFS fails one step with err.
type faultFS struct {
	osFS
	step string
	err  error
}

type faultFile struct {
	f    *os.File
	step string
	err  error
	n    int
}

func (f *faultFile) Write(p []byte) (int, error) {
	f.n++
	if f.step == "write" && f.n == 2 { // the prefix goes through, the message does not
		return 0, f.err
	}
	return f.f.Write(p)
}
func (f *faultFile) Sync() error {
	if f.step == "sync" {
		return f.err
	}
	return f.f.Sync()
}
func (f *faultFile) Stat() (os.FileInfo, error) { return f.f.Stat() }
func (f *faultFile) Close() error {
	err := f.f.Close()
	if f.step == "close" {
		return f.err
	}
	return err
}

func (fs faultFS) Create(p string) (file, error) {
	if fs.step == "create" {
		return nil, fs.err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return &faultFile{f: f, step: fs.step, err: fs.err}, nil
}

func (fs faultFS) Link(o, n string) error {
	if fs.step == "link" {
		return fs.err
	}
	return os.Link(o, n)
}

func (fs faultFS) SyncDir(p string) error {
	if fs.step == "syncdir" {
		return fs.err
	}
	return fs.osFS.SyncDir(p)
}

type badReader struct{}

func (badReader) Read([]byte) (int, error) { return 0, syscall.EIO }

func TestDeliverFaults(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		step string
		err  error
		msg  io.Reader
		op   string
	}{
		{"create", syscall.EDQUOT, nil, "create"},
		{"write", syscall.ENOSPC, nil, "write"},
		{"write", syscall.EDQUOT, nil, "write"},
		{"sync", syscall.EIO, nil, "sync"},
		{"close", syscall.ENOSPC, nil, "close"},
		{"link", syscall.EMLINK, nil, "link"},
		{"syncdir", syscall.EIO, nil, "syncdir"},
		{"", nil, badReader{}, "read"},
	}
	for _, tc := range tests {
		dir := mustMake(t)
		msg := tc.msg
		if msg == nil {
			msg = strings.NewReader("Subject: x\n\nbody\n")
		}
		_, err := deliver(faultFS{step: tc.step, err: tc.err}, nil, dir, []byte("Delivered-To: x\n"), msg)
		var me *Error
		if !errors.As(err, &me) {
			t.Errorf("%s: err %v, want *Error", tc.op, err)
			continue
		}
		if me.Op != tc.op || !me.Temporary() {
			t.Errorf("%s: got op %q (%v)", tc.op, me.Op, err)
		}
		if tc.err != nil && !errors.Is(err, tc.err) {
			t.Errorf("%s: %v does not wrap %v", tc.op, err, tc.err)
		}
		if IsRead(err) != (tc.op == "read") {
			t.Errorf("%s: IsRead wrong", tc.op)
		}
		for _, sub := range []string{"tmp", "new"} {
			if l := list(t, filepath.Join(dir, sub)); len(l) != 0 {
				t.Errorf("%s: %s/ left with %v", tc.op, sub, l)
			}
		}
	}
}

func TestUniqueName(t *testing.T) {
	re := regexp.MustCompile(`^[0-9]+\.M[0-9]+P[0-9]+R[0-9a-f]{16}\.[^/:]+$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		n, err := UniqueName()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(n) {
			t.Fatalf("bad name %q", n)
		}
		if seen[n] {
			t.Fatalf("duplicate %q", n)
		}
		seen[n] = true
	}
}

func TestEscapeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"mail.example.com", "mail.example.com"},
		{"a/b", `a\057b`},
		{"a:b", `a\072b`},
		{`a\b`, `a\134b`},
		{"", ""},
	}
	for _, tc := range tests {
		if got := EscapeHost(tc.in); got != tc.want {
			t.Errorf("EscapeHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestDeliverRoundFaults: with rounds of a durable.FS, a failed first
// round (the message's data) and a failed second round (its new/ name)
// are each a temporary failure that leaves neither tmp/ nor new/ behind,
// as a failed fsync of the file or of new/ is; both succeeding deliver.
func TestDeliverRoundFaults(t *testing.T) {
	for _, c := range []struct {
		failAt int // which round fails; 0: none
		op     string
	}{{1, "sync"}, {2, "syncdir"}, {0, ""}} {
		dir := mustMake(t)
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil {
			t.Fatal(err)
		}
		rounds := 0
		fs := durable.NewFSForTest(uint64(st.Dev), func() error {
			rounds++
			if rounds == c.failAt {
				return syscall.EIO
			}
			return nil
		})
		name, err := deliver(osFS{}, only(fs), dir, []byte("Delivered-To: x\n"), strings.NewReader("Subject: x\n\nbody\n"))
		if c.failAt == 0 {
			if err != nil || rounds != 2 {
				t.Errorf("no fault: %v after %d rounds", err, rounds)
			}
			if l := list(t, filepath.Join(dir, "new")); len(l) != 1 || l[0] != name {
				t.Errorf("no fault: new/ holds %v", l)
			}
			continue
		}
		var me *Error
		if !errors.As(err, &me) || me.Op != c.op || !errors.Is(err, syscall.EIO) {
			t.Errorf("round %d fails: err %v, want op %s", c.failAt, err, c.op)
		}
		for _, sub := range []string{"tmp", "new"} {
			if l := list(t, filepath.Join(dir, sub)); len(l) != 0 {
				t.Errorf("round %d fails: %s/ left with %v", c.failAt, sub, l)
			}
		}
	}
}

// countFS is osFS counting the fsyncs of files and folders.
type countFS struct {
	osFS
	files, dirs *int
}

type countFile struct {
	*os.File
	n *int
}

func (f countFile) Sync() error { *f.n++; return f.File.Sync() }

func (fs countFS) Create(p string) (file, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	return countFile{f, fs.files}, nil
}

func (fs countFS) SyncDir(p string) error { *fs.dirs++; return fs.osFS.SyncDir(p) }

// TestDeliverRoundOtherDevice: rounds of syncfs on one file system say
// nothing of a Maildir on another (tmp/ and new/ linked elsewhere, say):
// the file and new/ are then fsynced, as without rounds, and no round runs.
func TestDeliverRoundOtherDevice(t *testing.T) {
	dir := mustMake(t)
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	rounds, files, dirs := 0, 0, 0
	other := durable.NewFSForTest(uint64(st.Dev)+1, func() error { rounds++; return nil })
	name, err := deliver(countFS{files: &files, dirs: &dirs}, only(other), dir, []byte("Delivered-To: x\n"),
		strings.NewReader("Subject: x\n\nbody\n"))
	if err != nil {
		t.Fatal(err)
	}
	if rounds != 0 || files != 1 || dirs != 1 {
		t.Errorf("%d rounds, %d file and %d folder fsyncs; want 0, 1, 1", rounds, files, dirs)
	}
	if l := list(t, filepath.Join(dir, "new")); len(l) != 1 || l[0] != name {
		t.Errorf("new/ holds %v", l)
	}
	// The same FS on the Maildir's own device: two rounds, no fsync.
	rounds, files, dirs = 0, 0, 0
	own := durable.NewFSForTest(uint64(st.Dev), func() error { rounds++; return nil })
	if _, err := deliver(countFS{files: &files, dirs: &dirs}, only(own), dir, nil, strings.NewReader("x\n")); err != nil {
		t.Fatal(err)
	}
	if rounds != 2 || files != 0 || dirs != 0 {
		t.Errorf("own device: %d rounds, %d file and %d folder fsyncs; want 2, 0, 0", rounds, files, dirs)
	}
}

// only is rounds that give f whatever the folder, after checking that
// deliver asks with the folder's own device.
func only(f *durable.FS) roundsFor {
	return func(dir string, dev uint64) *durable.FS {
		var st syscall.Stat_t
		if err := syscall.Stat(dir, &st); err != nil || uint64(st.Dev) != dev {
			panic(fmt.Sprintf("rounds asked for %s on device %d; stat: %v, %d", dir, dev, err, st.Dev))
		}
		return f
	}
}
