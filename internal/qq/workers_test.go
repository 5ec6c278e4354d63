package qq

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// fakeWorkerEnv makes this test binary, run as bin/qmail-queue --worker,
// act as a worker: each message's first byte says the exit code it
// answers ('0' queued, 'S' 53), 'K' makes it kill itself, and it answers
// 54 when the envelope never comes.
const fakeWorkerEnv = "GOQMAIL_QQ_FAKE_WORKER=1"

func TestMain(m *testing.M) {
	if os.Getenv("GOQMAIL_QQ_FAKE_WORKER") == "1" && len(os.Args) == 2 && os.Args[1] == "--worker" {
		fakeWorker()
		return
	}
	os.Exit(m.Run())
}

func fakeWorker() {
	c, err := net.FileConn(os.Stdin)
	if err != nil {
		os.Exit(111)
	}
	uc := c.(*net.UnixConn)
	oob := make([]byte, syscall.CmsgSpace(12))
	for {
		var b [1]byte
		n, oobn, _, _, err := uc.ReadMsgUnix(b[:], oob)
		if err != nil || n == 0 {
			os.Exit(0)
		}
		msgs, _ := syscall.ParseSocketControlMessage(oob[:oobn])
		fds, _ := syscall.ParseUnixRights(&msgs[0])
		msg, env, res := os.NewFile(uintptr(fds[0]), "m"), os.NewFile(uintptr(fds[1]), "e"), os.NewFile(uintptr(fds[2]), "r")
		go func() {
			body, _ := io.ReadAll(msg)
			envelope, _ := io.ReadAll(env)
			code := byte(54)
			if len(envelope) > 0 && len(body) > 0 {
				switch body[0] {
				case '0':
					code = 0
				case 'S':
					code = 53
				case 'K':
					syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
			res.Write([]byte{code})
			msg.Close()
			env.Close()
			res.Close()
		}()
	}
}

func workersHome(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "bin"), 0o755)
	if err := os.Symlink(self, filepath.Join(home, "bin", "qmail-queue")); err != nil {
		t.Fatal(err)
	}
	return home
}

func send(t *testing.T, p *Workers, env []string, body string) (Result, int) {
	t.Helper()
	q, err := p.Open(env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	q.WriteString(body)
	r := q.Close("a@example.org", []string{"b@example.net"})
	return r, q.Pid()
}

// TestWorkers: one worker serves message after message, and several at
// once; a refusal and an abort leave it serving; one that dies gives
// "qq crashed" and another takes its place; an address with CR never
// reaches it.
func TestWorkers(t *testing.T) {
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	defer p.Close()
	r1, pid1 := send(t, p, nil, "0 first")
	r2, pid2 := send(t, p, nil, "0 second")
	if !r1.OK() || !r2.OK() || pid1 != pid2 {
		t.Fatalf("%v %v, pids %d %d: want two queued by one worker", r1, r2, pid1, pid2)
	}
	a, _ := p.Open(nil, io.Discard)
	b, _ := p.Open(nil, io.Discard)
	a.WriteString("0 a")
	b.WriteString("0 b")
	if ra, rb := b.Close("x@example.org", nil), a.Close("y@example.org", nil); !ra.OK() || !rb.OK() || a.Pid() != b.Pid() {
		t.Errorf("two at once: %v %v from %d and %d", ra, rb, a.Pid(), b.Pid())
	}
	if r, pid := send(t, p, nil, "S disk full"); r.Code != 53 || r.Text != Text(53) || pid != pid1 {
		t.Errorf("refusal: %v from %d", r, pid)
	}
	q, _ := p.Open(nil, io.Discard)
	q.WriteString("0 dropped")
	q.Abort()
	if r, pid := send(t, p, nil, "0 after abort"); !r.OK() || pid != pid1 {
		t.Errorf("after an abort: %v from %d", r, pid)
	}
	if r, _ := send(t, p, nil, "K crash"); r.Text != "Zqq crashed (#4.3.0)" {
		t.Errorf("worker killed: %v", r)
	}
	// A message handed over while the dead worker's socket is still
	// being closed fails as "qq crashed" too (its client tries again);
	// wait until the process is gone, at most 5 s.
	for i := 0; i < 500 && syscall.Kill(pid1, 0) == nil; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if r, pid := send(t, p, nil, "0 next"); !r.OK() || pid == pid1 {
		t.Errorf("after the crash: %v from %d", r, pid)
	}
	q, _ = p.Open(nil, io.Discard)
	q.WriteString("0 bad")
	if r := q.Close("a@example.org", []string{"b\r@example.net"}); r.Text != ErrBadAddress {
		t.Errorf("CR in an address: %v", r)
	}
	if r, _ := send(t, p, nil, "0 still fine"); !r.OK() {
		t.Errorf("after a refused envelope: %v", r)
	}
}

// TestWorkersQMAILQUEUE: a session whose environment names QMAILQUEUE
// gets that program, once per message, as in qmail.
func TestWorkersQMAILQUEUE(t *testing.T) {
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	defer p.Close()
	dir := t.TempDir()
	script := filepath.Join(dir, "filter")
	os.WriteFile(script, []byte("#!/bin/sh\ncat > "+dir+"/seen\nexit 31\n"), 0o755)
	r, _ := send(t, p, []string{"QMAILQUEUE=" + script}, "hello through the filter")
	if r.Code != 31 {
		t.Errorf("QMAILQUEUE: %v", r)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "seen")); string(b) != "hello through the filter" {
		t.Errorf("the filter read %q", b)
	}
}

// TestWorkersClose: Close ends the worker; an Open after it starts
// another.
func TestWorkersClose(t *testing.T) {
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	_, pid1 := send(t, p, nil, "0")
	p.Close()
	if err := syscall.Kill(pid1, 0); err == nil {
		t.Errorf("worker %d still runs after Close", pid1)
	}
	r, pid2 := send(t, p, nil, "0")
	if !r.OK() || pid2 == pid1 {
		t.Errorf("after Close: %v from %d", r, pid2)
	}
	p.Close()
}

// swapIn puts a fake qmail-queue script in place of home's
// bin/qmail-queue, as an administrator installs a wrapper: written
// beside it, then renamed over it. The script appends its arguments to
// DIR/args and the message to DIR/seen, reads the envelope and exits 0.
func swapIn(t *testing.T, home, dir string) {
	t.Helper()
	tmp := filepath.Join(home, "bin", "qmail-queue.new")
	script := "#!/bin/sh\necho \"args:$*\" >> " + dir + "/args\ncat >> " + dir + "/seen\ncat <&1 >/dev/null\nexit 0\n"
	if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(home, "bin", "qmail-queue")); err != nil {
		t.Fatal(err)
	}
}

// gone waits, at most 5 s, for process pid to end.
func gone(pid int) bool {
	for i := 0; i < 500; i++ {
		if syscall.Kill(pid, 0) != nil {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestWorkersSwapped: bin/qmail-queue replaced by a wrapper while the
// pool runs is never started as a worker: the next message after the
// worker is gone (killed), or the next one at all (the running worker
// is then retired), goes through the wrapper, exec'd per message; put
// back, goqmail's own serves as a worker again.
func TestWorkersSwapped(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"after a crash", "while running"} {
		t.Run(how, func(t *testing.T) {
			home, dir := workersHome(t), t.TempDir()
			p := NewWorkers(home, []string{fakeWorkerEnv, "PATH=/usr/bin:/bin"}, io.Discard)
			defer p.Close()
			r, pid1 := send(t, p, nil, "0 first")
			if !r.OK() {
				t.Fatalf("first message: %v", r)
			}
			if how == "after a crash" {
				if r, _ := send(t, p, nil, "K crash"); r.Text != "Zqq crashed (#4.3.0)" {
					t.Errorf("worker killed: %v", r)
				}
				if !gone(pid1) {
					t.Fatalf("worker %d still runs after its crash", pid1)
				}
			}
			swapIn(t, home, dir)
			r, pid2 := send(t, p, nil, "0 second")
			if !r.OK() || pid2 == pid1 {
				t.Errorf("after the swap: %v from %d", r, pid2)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "seen")); string(b) != "0 second" {
				t.Errorf("the wrapper read %q", b)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "args")); string(b) != "args:\n" {
				t.Errorf("the wrapper ran with %q, want no arguments", b)
			}
			if how == "while running" && !gone(pid1) {
				t.Errorf("worker %d still runs after bin/qmail-queue was replaced", pid1)
			}
			r, pid3 := send(t, p, nil, "0 third")
			if !r.OK() || pid3 == pid2 {
				t.Errorf("third message: %v from %d", r, pid3)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "seen")); string(b) != "0 second0 third" {
				t.Errorf("the wrapper read %q", b)
			}
			// Put back: a worker again, one for both messages.
			os.Remove(filepath.Join(home, "bin", "qmail-queue"))
			if err := os.Symlink(self, filepath.Join(home, "bin", "qmail-queue")); err != nil {
				t.Fatal(err)
			}
			r4, pid4 := send(t, p, nil, "0 fourth")
			r5, pid5 := send(t, p, nil, "0 fifth")
			if !r4.OK() || !r5.OK() || pid4 != pid5 {
				t.Errorf("put back: %v %v from %d and %d, want one worker", r4, r5, pid4, pid5)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "seen")); string(b) != "0 second0 third" {
				t.Errorf("the wrapper read %q after it was gone", b)
			}
		})
	}
}

// TestWorkersNotOurs: a pool whose bin/qmail-queue is not goqmail's
// own from the start execs it for each message.
func TestWorkersNotOurs(t *testing.T) {
	home, dir := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(home, "bin"), 0o755)
	swapIn(t, home, dir)
	p := NewWorkers(home, []string{fakeWorkerEnv, "PATH=/usr/bin:/bin"}, io.Discard)
	defer p.Close()
	r1, pid1 := send(t, p, nil, "0 one")
	r2, pid2 := send(t, p, nil, "0 two")
	if !r1.OK() || !r2.OK() || pid1 == pid2 {
		t.Errorf("%v %v from %d and %d, want two processes", r1, r2, pid1, pid2)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "seen")); string(b) != "0 one0 two" {
		t.Errorf("the wrapper read %q", b)
	}
}

// gate is a qq.Gate that says yes or no and counts.
type gate struct {
	yes             bool
	asked, answered int
}

func (g *gate) Commit() bool { g.asked++; return g.yes }
func (g *gate) Committed()   { g.answered++ }

// TestWorkersGate: a session's gate is asked before the envelope is
// handed over; refused, the message is aborted (qmail-queue sees no
// envelope) and Close says "qq read error"; allowed, Committed follows
// the answer. Both through the worker and through an exec'd qmail-queue.
func TestWorkersGate(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "qq")
	os.WriteFile(script, []byte("#!/bin/sh\ncat >/dev/null\ncat <&1 > "+dir+"/env\n[ -s "+dir+"/env ] || exit 54\nexit 0\n"), 0o755)
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	defer p.Close()
	for _, env := range [][]string{nil, {"PATH=/usr/bin:/bin", "QMAILQUEUE=" + script}} {
		no := &gate{}
		r, _ := send(t, p.With(no), env, "0 refused")
		if r.Code != 54 || r.Text != Text(54) || no.asked != 1 || no.answered != 0 {
			t.Errorf("%q refused: %v, asked %d, answered %d", env, r, no.asked, no.answered)
		}
		if env != nil {
			if b, err := os.ReadFile(filepath.Join(dir, "env")); err != nil || len(b) != 0 {
				t.Errorf("refused, qmail-queue got the envelope %q (%v)", b, err)
			}
		}
		yes := &gate{yes: true}
		r, _ = send(t, p.With(yes), env, "0 allowed")
		if !r.OK() || yes.asked != 1 || yes.answered != 1 {
			t.Errorf("%q allowed: %v, asked %d, answered %d", env, r, yes.asked, yes.answered)
		}
	}
	// A view's gate is its own: the pool itself asks nobody.
	if r, _ := send(t, p, nil, "0 no gate"); !r.OK() {
		t.Errorf("without a gate: %v", r)
	}
}

// TestWorkersHardLinkElsewhere: a hard link made to bin/qmail-queue
// (perf's build-id cache does that) changes its ctime and link count,
// not the program: the same worker goes on. A chmod is a change: the
// worker is replaced.
func TestWorkersHardLinkElsewhere(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	os.Mkdir(filepath.Join(home, "bin"), 0o755)
	qq := filepath.Join(home, "bin", "qmail-queue")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(qq, b, 0o755); err != nil {
		t.Fatal(err)
	}
	p := NewWorkers(home, []string{fakeWorkerEnv}, io.Discard)
	defer p.Close()
	r1, pid1 := send(t, p, nil, "0 first")
	if err := os.Link(qq, filepath.Join(home, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	r2, pid2 := send(t, p, nil, "0 second")
	if !r1.OK() || !r2.OK() || pid1 != pid2 {
		t.Errorf("%v %v from %d and %d: want one worker across the hard link", r1, r2, pid1, pid2)
	}
	if err := os.Chmod(qq, 0o711); err != nil {
		t.Fatal(err)
	}
	r3, pid3 := send(t, p, nil, "0 third")
	if !r3.OK() || pid3 == pid1 {
		t.Errorf("after a chmod: %v from %d, want a new worker (was %d)", r3, pid3, pid1)
	}
}
