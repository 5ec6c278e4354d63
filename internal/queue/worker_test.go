package queue

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// workerConn starts worker(opt) on one end of a socket pair and returns
// the other end, and a channel with the worker's exit code.
func workerConn(t *testing.T, home string, opt Options) (*net.UnixConn, chan int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "ours"), os.NewFile(uintptr(fds[1]), "theirs")
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan int, 1)
	go func() {
		ctx := &prog.Context{Args: []string{"qmail-queue", "--worker"}, Home: home, Files: []*os.File{theirs}}
		done <- worker(ctx, opt)
		theirs.Close()
	}()
	return c.(*net.UnixConn), done
}

// submit hands the worker one message as qq.Workers does and returns
// its answer (-1: none).
func submit(t *testing.T, c *net.UnixConn, msg, env []byte) int {
	t.Helper()
	mr, mw, _ := os.Pipe()
	er, ew, _ := os.Pipe()
	rr, rw, _ := os.Pipe()
	if _, _, err := c.WriteMsgUnix([]byte{1}, syscall.UnixRights(int(mr.Fd()), int(er.Fd()), int(rw.Fd())), nil); err != nil {
		t.Fatal(err)
	}
	mr.Close()
	er.Close()
	rw.Close()
	go func() {
		mw.Write(msg)
		mw.Close()
		if env != nil {
			ew.Write(env)
		}
		ew.Close()
	}()
	var b [1]byte
	if _, err := io.ReadFull(rr, b[:]); err != nil {
		return -1
	}
	return int(b[0])
}

// TestWorkerSameAsRun: qmail-queue --worker queues each message it is
// handed with the files and exit code that a qmail-queue of its own
// gives: the same bytes as Run; an aborted message (no envelope) 54 and
// nothing left; a truncated envelope refused; twenty at once in the same
// second all queued (their pid/ names differ); a request without three
// descriptors ignored; and it ends with 0 when its socket closes.
func TestWorkerSameAsRun(t *testing.T) {
	home, q := newHome(t)
	opt := Options{Now: func() time.Time { return fixed }, PID: 4242, UID: 7791, IDs: rootIDs()}
	c, done := workerConn(t, home, opt)
	env := []byte("Fa@example.org\x00Tb@example.net\x00Tc@example.net\x00\x00")
	msg := []byte("Subject: worker\n\nhello\n")
	if code := submit(t, c, msg, env); code != ExitOK {
		t.Fatalf("first message: %d", code)
	}
	nums := queued(t, q)
	if len(nums) != 1 {
		t.Fatalf("todo: %v", nums)
	}
	gotMess, _ := os.ReadFile(q.Mess(nums[0]))
	gotTodo, _ := os.ReadFile(q.Todo(nums[0]))
	if code := submit(t, c, []byte("half a mess"), nil); code != ExitRead {
		t.Errorf("aborted message: %d, want %d", code, ExitRead)
	}
	if code := submit(t, c, msg, []byte("Fa@example.org\x00Tb@example.net")); code != ExitBadEnvelop && code != ExitRead {
		t.Errorf("truncated envelope: %d", code)
	}
	c.WriteMsgUnix([]byte{1}, nil, nil) // no descriptors: ignored
	var wg sync.WaitGroup
	codes := make([]int, 20)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = submit(t, c, bytes.Repeat([]byte("line\n"), 1000*i+1), env)
		}()
	}
	wg.Wait()
	for i, code := range codes {
		if code != ExitOK {
			t.Errorf("message %d of 20 at once: %d", i, code)
		}
	}
	c.Close()
	select {
	case code := <-done:
		if code != ExitOK {
			t.Errorf("worker ended with %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not end when its socket closed")
	}
	if n := len(queued(t, q)); n != 21 {
		t.Errorf("%d messages queued, want 21", n)
	}
	if d := debris(t, q); d != 21*3 {
		t.Errorf("%d files in the queue, want %d (mess, intd, todo each)", d, 21*3)
	}

	// The same message through Run alone, in a fresh queue, gives the
	// same bytes.
	home2, q2 := newHome(t)
	if code := Run(home2, bytes.NewReader(msg), bytes.NewReader(env), opt); code != ExitOK {
		t.Fatalf("Run: %d", code)
	}
	n2 := queued(t, q2)
	wantMess, _ := os.ReadFile(q2.Mess(n2[0]))
	wantTodo, _ := os.ReadFile(q2.Todo(n2[0]))
	if !bytes.Equal(gotMess, wantMess) || !bytes.Equal(gotTodo, wantTodo) {
		t.Errorf("worker wrote\n%q\n%q\nRun wrote\n%q\n%q", gotMess, gotTodo, wantMess, wantTodo)
	}
	if !strings.Contains(string(gotMess), "invoked from network") {
		t.Errorf("mess: %q", gotMess)
	}
}
