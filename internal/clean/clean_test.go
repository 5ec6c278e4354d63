package clean

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
)

// session is one qmail-clean running in-process, fed through pipes.
type session struct {
	t    *testing.T
	q    queuefs.Queue
	in   *io.PipeWriter
	out  *bufio.Reader
	done chan int
}

func newQueue(t *testing.T) (string, queuefs.Queue) {
	t.Helper()
	home := t.TempDir()
	q := queuefs.New(home)
	if err := queuefs.MakeTree(q.Dir); err != nil {
		t.Fatal(err)
	}
	return home, q
}

func startClean(t *testing.T, home string) *session {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	s := &session{t: t, q: queuefs.New(home), in: inW, out: bufio.NewReader(outR), done: make(chan int, 1)}
	ctx := &prog.Context{Args: []string{"qmail-clean"}, Home: home, Stdin: inR, Stdout: outW, Stderr: io.Discard}
	go func() {
		code := Main(ctx)
		outW.Close()
		inR.Close()
		s.done <- code
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return s
}

// ask sends one request (the NUL is added) and returns the reply byte.
func (s *session) ask(req string) byte {
	s.t.Helper()
	type answer struct {
		b   byte
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		if _, err := s.in.Write([]byte(req + "\x00")); err != nil {
			ch <- answer{0, err}
			return
		}
		b, err := s.out.ReadByte()
		ch <- answer{b, err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			s.t.Fatalf("request %q: %v", req, a.err)
		}
		return a.b
	case <-time.After(10 * time.Second):
		s.t.Fatalf("request %q: no reply in 10s", req)
		return 0
	}
}

// finish closes qmail-clean's input and returns its exit code.
func (s *session) finish() int {
	s.t.Helper()
	s.in.Close()
	select {
	case code := <-s.done:
		return code
	case <-time.After(10 * time.Second):
		s.t.Fatal("qmail-clean did not exit on EOF")
		return -1
	}
}

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestRequests(t *testing.T) {
	home, q := newQueue(t)
	const n = 12345
	touch(t, q.Mess(n), q.Intd(n), q.Todo(n), q.Info(n))
	const m = 777
	touch(t, q.Mess(m), q.Intd(m), q.Todo(m))
	s := startClean(t, home)

	if got := s.ask("todo/12345"); got != '+' {
		t.Errorf("todo/12345: reply %q, want '+'", got)
	}
	if exists(q.Intd(n)) || exists(q.Todo(n)) {
		t.Errorf("todo/N left intd or todo")
	}
	if !exists(q.Mess(n)) || !exists(q.Info(n)) {
		t.Errorf("todo/N removed mess or info")
	}

	if got := s.ask("foop/777"); got != '+' {
		t.Errorf("foop/777: reply %q, want '+'", got)
	}
	if exists(q.Intd(m)) || exists(q.Mess(m)) {
		t.Errorf("foop/N left intd or mess")
	}
	if !exists(q.Todo(m)) {
		t.Errorf("foop/N removed todo")
	}

	// Nothing left to remove: ENOENT is fine.
	for _, req := range []string{"foop/12345", "foop/777", "todo/777", "todo/99999", "foop/0000001"} {
		if got := s.ask(req); got != '+' {
			t.Errorf("%s: reply %q, want '+'", req, got)
		}
	}
	if exists(q.Todo(m)) || exists(q.Mess(n)) {
		t.Errorf("second round left files")
	}
	if !exists(q.Info(n)) {
		t.Errorf("info removed; qmail-clean never touches info")
	}
	if code := s.finish(); code != 0 {
		t.Errorf("exit %d on EOF, want 0", code)
	}
}

func TestMalformed(t *testing.T) {
	home, q := newQueue(t)
	touch(t, q.Mess(1), q.Intd(1), q.Todo(1))
	s := startClean(t, home)
	tests := []struct {
		name, req string
	}{
		{"empty", ""},
		{"short", "foop/"},
		{"short todo", "todo/"},
		{"six bytes", "foo/12"},
		{"unknown prefix", "bar/12345"},
		{"upper case", "FOOP/1"},
		{"no slash", "foop12"},
		{"info prefix", "info/1"},
		{"not digits", "foop/1a"},
		{"sign", "todo/+1"},
		{"minus", "foop/-1"},
		{"space", "foop/ 1"},
		{"path", "foop/../1"},
		{"subfolder", "todo/1/1"},
		{"too many digits", "foop/" + strings.Repeat("1", 21)},
		{"overflow", "foop/18446744073709551616"},
		{"100 bytes with NUL", "foop/" + strings.Repeat("1", 94)},
		{"101 bytes with NUL", "foop/" + strings.Repeat("1", 95)},
		{"very long", strings.Repeat("x", 5000)},
	}
	for _, tt := range tests {
		if got := s.ask(tt.req); got != 'x' {
			t.Errorf("%s (%q): reply %q, want 'x'", tt.name, tt.req, got)
		}
	}
	// The shortest valid request, 7 bytes with its NUL.
	if got := s.ask("todo/1"); got != '+' {
		t.Errorf("todo/1: reply %q, want '+'", got)
	}
	if !exists(q.Mess(1)) {
		t.Errorf("mess/1 removed by a bad request")
	}
	if code := s.finish(); code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
}

// TestUnlinkFailure: an unlink error other than ENOENT answers '!'. A
// non-empty folder in the file's place fails even for root.
func TestUnlinkFailure(t *testing.T) {
	home, q := newQueue(t)
	for _, p := range []string{q.Intd(5), q.Mess(6)} {
		if err := os.MkdirAll(filepath.Join(p, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	touch(t, q.Todo(5))
	s := startClean(t, home)
	if got := s.ask("todo/5"); got != '!' {
		t.Errorf("todo/5 with intd/5 stuck: reply %q, want '!'", got)
	}
	if got := s.ask("foop/6"); got != '!' {
		t.Errorf("foop/6 with mess stuck: reply %q, want '!'", got)
	}
	if got := s.ask("foop/7"); got != '+' {
		t.Errorf("foop/7 after failures: reply %q, want '+'", got)
	}
	s.finish()
}

func TestEOF(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"nothing", ""},
		{"partial request", "foop/12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home, _ := newQueue(t)
			var out strings.Builder
			ctx := &prog.Context{Args: []string{"qmail-clean"}, Home: home,
				Stdin: strings.NewReader(tt.in), Stdout: &out, Stderr: io.Discard}
			if code := Main(ctx); code != 0 {
				t.Errorf("exit %d, want 0", code)
			}
			if out.String() != "" {
				t.Errorf("replied %q to an unfinished request", out.String())
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestReplyWriteError: with qmail-send gone (the answer cannot be
// written), the requests it wrote before it went are still carried out,
// and qmail-clean exits 111 at the end of its input.
func TestReplyWriteError(t *testing.T) {
	home, q := newQueue(t)
	for _, n := range []uint64{1, 2} {
		if err := os.WriteFile(q.Mess(n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := &prog.Context{Args: []string{"qmail-clean"}, Home: home,
		Stdin: strings.NewReader("foop/1\x00foop/2\x00"), Stdout: failWriter{}, Stderr: io.Discard}
	if code := Main(ctx); code != 111 {
		t.Errorf("exit %d, want 111", code)
	}
	for _, n := range []uint64{1, 2} {
		if _, err := os.Stat(q.Mess(n)); !os.IsNotExist(err) {
			t.Errorf("mess file %d still there after its request", n)
		}
	}
}

func setAtime(t *testing.T, p string, age time.Duration) {
	t.Helper()
	now := time.Now()
	if err := os.Chtimes(p, now.Add(-age), now); err != nil {
		t.Fatal(err)
	}
}

// TestPidSweep: at start and every 30 requests, pid/ files whose atime is
// older than 36 hours go; younger ones stay, whatever their mtime.
func TestPidSweep(t *testing.T) {
	home, q := newQueue(t)
	old := q.Path("pid", "100.1000000000.1")
	young := q.Path("pid", "101.1000000000.1")
	touch(t, old, young)
	setAtime(t, old, 37*time.Hour)
	setAtime(t, young, 35*time.Hour)
	s := startClean(t, home)
	// The start sweep has run by the time the first reply comes.
	if got := s.ask("foop/1"); got != '+' {
		t.Fatalf("reply %q", got)
	}
	if exists(old) {
		t.Errorf("start sweep left a pid file 37 hours old")
	}
	if !exists(young) {
		t.Errorf("start sweep removed a pid file 35 hours old")
	}

	// A stale file appearing now goes at the 30th request, not before.
	later := q.Path("pid", "102.1000000000.1")
	touch(t, later)
	setAtime(t, later, 40*time.Hour)
	for i := 2; i <= 29; i++ {
		s.ask("foop/1")
	}
	if !exists(later) {
		t.Fatalf("pid file removed before the 30th request")
	}
	s.ask("foop/1") // the 30th
	if exists(later) {
		t.Errorf("30th request did not sweep pid/")
	}
	if !exists(young) {
		t.Errorf("sweep removed a young pid file")
	}
	if code := s.finish(); code != 0 {
		t.Errorf("exit %d", code)
	}
}
