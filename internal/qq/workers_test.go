package qq

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeWorkerEnv makes this test binary, run as bin/qmail-queue --worker,
// act as a worker: each message's first byte is the exit code it
// answers ('0' queued, 'S' "53", 'K' kills itself first).
const fakeWorkerEnv = "GOQMAIL_QQ_FAKE_WORKER=1"

func TestMain(m *testing.M) {
	if os.Getenv("GOQMAIL_QQ_FAKE_WORKER") == "1" && len(os.Args) == 2 && os.Args[1] == "--worker" {
		fakeWorker()
		return
	}
	os.Exit(m.Run())
}

func fakeWorker() {
	in := bufio.NewReader(os.Stdin)
	for {
		f := NewFrameReader(in)
		if err := f.Start(); err != nil {
			os.Exit(0)
		}
		msg, err := io.ReadAll(f)
		code := byte(54)
		if err == nil && len(msg) > 0 {
			switch msg[0] {
			case '0':
				code = 0
			case 'S':
				code = 53
			case 'K':
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
		if !f.Finish() {
			os.Exit(54)
		}
		os.Stdout.Write([]byte{code})
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
	pid := q.Pid()
	q.WriteString(body)
	return q.Close("a@example.org", []string{"b@example.net"}), pid
}

// TestWorkers: one worker serves message after message; a refusal keeps
// it; an abort keeps it; one that dies gives "qq crashed" and another
// takes its place; an address with CR never reaches it.
func TestWorkers(t *testing.T) {
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	defer p.Close()
	r1, pid1 := send(t, p, nil, "0 first")
	r2, pid2 := send(t, p, nil, "0 second")
	if !r1.OK() || !r2.OK() || pid1 != pid2 {
		t.Fatalf("%v %v, pids %d %d: want two queued by one worker", r1, r2, pid1, pid2)
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

// TestWorkersIdle: at most MaxIdle workers wait; one idle longer than
// IdleTime ends; Close ends the rest.
func TestWorkersIdle(t *testing.T) {
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	p.MaxIdle = 1
	a, _ := p.Open(nil, io.Discard)
	b, _ := p.Open(nil, io.Discard)
	if a.Pid() == b.Pid() {
		t.Fatal("two messages at once share a worker")
	}
	a.WriteString("0")
	b.WriteString("0")
	a.Close("", nil)
	b.Close("", nil)
	if len(p.idle) != 1 {
		t.Errorf("%d idle workers, want 1", len(p.idle))
	}
	p.IdleTime = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if r, pid := send(t, p, nil, "0"); !r.OK() || pid == a.Pid() || pid == b.Pid() {
		t.Errorf("after the idle time: %v from %d (old %d, %d)", r, pid, a.Pid(), b.Pid())
	}
	p.Close()
	if len(p.idle) != 0 || !strings.Contains(Text(54), "read error") {
		t.Errorf("idle after Close: %d", len(p.idle))
	}
}

// TestWorkersLazy: a message is kept in memory until it is complete (or
// outgrows maxPending), so an aborted small message never needs a
// worker, and sessions hold a worker only while queueing.
func TestWorkersLazy(t *testing.T) {
	p := NewWorkers(workersHome(t), []string{fakeWorkerEnv}, io.Discard)
	defer p.Close()
	q, _ := p.Open(nil, io.Discard)
	q.WriteString("0 never sent")
	q.Abort()
	if q.wk != nil || len(p.idle) != 0 {
		t.Error("an aborted small message started a worker")
	}
	q, _ = p.Open(nil, io.Discard)
	q.WriteString("0 small")
	if q.wk != nil {
		t.Error("a worker was taken before the message was complete")
	}
	if r := q.Close("a@example.org", []string{"b@example.net"}); !r.OK() || q.Pid() == 0 {
		t.Errorf("small message: %v, pid %d", r, q.Pid())
	}
	q, _ = p.Open(nil, io.Discard)
	q.WriteString("0")
	q.Write(make([]byte, maxPending+1))
	if q.wk == nil {
		t.Error("a large message is not streamed to a worker")
	}
	if r := q.Close("a@example.org", []string{"b@example.net"}); !r.OK() {
		t.Errorf("large message: %v", r)
	}
	if len(p.idle) != 1 {
		t.Errorf("%d idle workers after two messages one after the other, want 1", len(p.idle))
	}
}
