package queue

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/qq"
)

// TestWorkerSameAsRun: qmail-queue --worker queues message after message
// with the files and exit codes that one qmail-queue per message gives:
// a message, an aborted one (54, nothing left), an envelope without its
// final NUL (91), a message in many frames; then ends with 0 when its
// input closes between messages.
func TestWorkerSameAsRun(t *testing.T) {
	home, q := newHome(t)
	opt := Options{Now: func() time.Time { return fixed }, PID: 4242, UID: 7791, IDs: rootIDs()}
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	done := make(chan int, 1)
	go func() {
		ctx := &prog.Context{Args: []string{"qmail-queue", "--worker"}, Home: home, Files: []*os.File{inR, outW}}
		done <- worker(ctx, opt)
		outW.Close()
	}()
	answer := func() int {
		var b [1]byte
		if _, err := io.ReadFull(outR, b[:]); err != nil {
			t.Fatalf("no answer: %v", err)
		}
		return int(b[0])
	}
	env := []byte("Fa@example.org\x00Tb@example.net\x00Tc@example.net\x00\x00")
	msg := []byte("Subject: worker\n\nhello\n")

	qq.WriteFrame(inW, qq.FrameMessage, msg)
	qq.WriteFrame(inW, qq.FrameEnd, env)
	if c := answer(); c != ExitOK {
		t.Fatalf("first message: %d", c)
	}
	nums := queued(t, q)
	if len(nums) != 1 {
		t.Fatalf("todo: %v", nums)
	}
	gotMess, _ := os.ReadFile(q.Mess(nums[0]))
	gotTodo, _ := os.ReadFile(q.Todo(nums[0]))

	qq.WriteFrame(inW, qq.FrameMessage, []byte("half a mess"))
	qq.WriteFrame(inW, qq.FrameAbort, nil)
	if c := answer(); c != ExitRead {
		t.Errorf("aborted message: %d, want %d", c, ExitRead)
	}
	qq.WriteFrame(inW, qq.FrameMessage, msg)
	qq.WriteFrame(inW, qq.FrameEnd, []byte("Fa@example.org\x00Tb@example.net"))
	if c := answer(); c != ExitBadEnvelop && c != ExitRead {
		t.Errorf("truncated envelope: %d", c)
	}
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 20000)
	for i := 0; i < len(big); i += 1000 {
		qq.WriteFrame(inW, qq.FrameMessage, big[i:min(i+1000, len(big))])
	}
	qq.WriteFrame(inW, qq.FrameEnd, env)
	if c := answer(); c != ExitOK {
		t.Errorf("message in many frames: %d", c)
	}
	inW.Close()
	select {
	case c := <-done:
		if c != ExitOK {
			t.Errorf("worker ended with %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not end when its input closed")
	}
	if n := len(queued(t, q)); n != 2 {
		t.Errorf("%d messages queued, want 2", n)
	}
	if d := debris(t, q); d != 2*3 {
		t.Errorf("%d files in the queue, want 6 (mess, intd or todo, for two messages)", d)
	}

	// The same message through Run alone, in a fresh queue, gives the
	// same bytes.
	home2, q2 := newHome(t)
	if c := Run(home2, bytes.NewReader(msg), bytes.NewReader(env), opt); c != ExitOK {
		t.Fatalf("Run: %d", c)
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

// TestWorkerOutOfStep: garbage where a frame should be ends the worker.
func TestWorkerOutOfStep(t *testing.T) {
	home, _ := newHome(t)
	inR, inW, _ := os.Pipe()
	_, outW, _ := os.Pipe()
	done := make(chan int, 1)
	go func() {
		ctx := &prog.Context{Home: home, Files: []*os.File{inR, outW}}
		done <- worker(ctx, Options{IDs: rootIDs()})
	}()
	inW.Write([]byte("Xnot a frame at all"))
	inW.Close()
	select {
	case c := <-done:
		if c != ExitRead {
			t.Errorf("worker ended with %d, want %d", c, ExitRead)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not end")
	}
}
