package smtpd

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog records each Write call separately, to see what was flushed
// together.
type writeLog struct {
	mu     sync.Mutex
	writes chan string
	all    bytes.Buffer
}

func newWriteLog() *writeLog { return &writeLog{writes: make(chan string, 100)} }

func (w *writeLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.all.Write(p)
	w.mu.Unlock()
	w.writes <- string(p)
	return len(p), nil
}

func (w *writeLog) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.String()
}

// next waits (boundedly) for the next Write.
func (w *writeLog) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-w.writes:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no reply within 10 s")
		return ""
	}
}

// start runs a session in the background; the channel yields its exit code.
func (h *harness) start(in io.Reader, out io.Writer) (<-chan int, *bytes.Buffer) {
	var stderr bytes.Buffer
	done := make(chan int, 1)
	ctx := h.context(in, out, &syncWriter{w: &stderr})
	go func() { done <- run(ctx, h.options()) }()
	return done, &stderr
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func waitExit(t *testing.T, done <-chan int) int {
	t.Helper()
	select {
	case code := <-done:
		return code
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end within 10 s")
		return -1
	}
}

// TestPipelining sends MAIL, RCPT and DATA in one write and checks that
// the three replies come back in one write, after the greeting's own.
func TestPipelining(t *testing.T) {
	h := newHarness(t, baseControls())
	pr, pw := io.Pipe()
	defer pr.Close()
	out := newWriteLog()
	done, _ := h.start(pr, out)
	if got := out.next(t); got != greet {
		t.Fatalf("greeting %q", got)
	}
	go pw.Write([]byte(envelopeIn))
	if got, want := out.next(t), crlf(envelopeOut); got != want {
		t.Errorf("pipelined replies %q, want one write %q", got, want)
	}
	go pw.Write([]byte("body\r\n.\r\nRSET\r\nNOOP\r\n"))
	msg := out.next(t)
	if !strings.HasPrefix(msg, "250 ok 1700000000 qp ") {
		t.Errorf("after DATA: %q", msg)
	}
	if got, want := out.next(t), "250 flushed\r\n250 ok\r\n"; got != want {
		t.Errorf("RSET (buffered) and NOOP: %q, want %q", got, want)
	}
	go pw.Write([]byte("QUIT\r\n"))
	if got := out.next(t); got != "221 mail.example.com\r\n" {
		t.Errorf("QUIT: %q", got)
	}
	if code := waitExit(t, done); code != 0 {
		t.Errorf("exit %d", code)
	}
	if msgs := h.messages(); len(msgs) != 1 || msgs[0].body != received+"body\n" {
		t.Errorf("queued %#v", msgs)
	}
}

func TestReadTimeout(t *testing.T) {
	ctl := baseControls()
	ctl["timeoutsmtpd"] = "1\n"
	cases := []struct {
		name  string
		input string
		want  string
	}{
		{"idle", "", ""},
		{"in a command", "NOOP\r\nHEL", "250 ok\r\n"},
		{"in DATA", envelopeIn + "partial body\r\n", crlf(envelopeOut)},
	}
	streams := []struct {
		name string
		make func() (client io.WriteCloser, server io.Reader, cleanup func())
	}{
		{"os.Pipe (deadlines)", func() (io.WriteCloser, io.Reader, func()) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			return w, r, func() { r.Close() }
		}},
		{"io.Pipe (timer)", func() (io.WriteCloser, io.Reader, func()) {
			r, w := io.Pipe()
			return w, r, func() { r.Close() }
		}},
	}
	for _, s := range streams {
		for _, tc := range cases {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, ctl)
				client, server, cleanup := s.make()
				defer cleanup()
				defer client.Close()
				out := newWriteLog()
				start := time.Now()
				done, _ := h.start(server, out)
				if tc.input != "" {
					go client.Write([]byte(tc.input))
				}
				code := waitExit(t, done)
				if got, want := out.String(), greet+tc.want+"451 timeout (#4.4.2)\r\n"; got != want || code != 1 {
					t.Errorf("got %q %d, want %q 1", got, code, want)
				}
				if el := time.Since(start); el < 900*time.Millisecond {
					t.Errorf("timed out after %v, before timeoutsmtpd", el)
				}
				if msgs := h.messages(); len(msgs) != 0 {
					t.Errorf("queued %d messages", len(msgs))
				}
			})
		}
	}
}

// TestNetConn runs a session on a net.Conn (stdin and stdout the same
// connection, with deadlines), as tcpserver's in-process path does.
func TestNetConn(t *testing.T) {
	t.Parallel()
	ctl := baseControls()
	ctl["timeoutsmtpd"] = "1\n"
	h := newHarness(t, ctl)
	server, client := net.Pipe()
	defer client.Close()
	defer server.Close()
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	done, _ := h.start(server, server)
	client.Write([]byte("NOOP\r\n"))
	if code := waitExit(t, done); code != 1 {
		t.Errorf("exit %d", code)
	}
	server.Close()
	if b := <-got; string(b) != greet+"250 ok\r\n451 timeout (#4.4.2)\r\n" {
		t.Errorf("got %q", b)
	}
}

func TestWriteTimeout(t *testing.T) {
	ctl := baseControls()
	ctl["timeoutsmtpd"] = "1\n"
	t.Run("net.Conn", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, ctl)
		server, client := net.Pipe() // nobody reads client
		defer client.Close()
		defer server.Close()
		done, _ := h.start(strings.NewReader("QUIT\r\n"), server)
		if code := waitExit(t, done); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
	t.Run("io.Pipe", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, ctl)
		pr, pw := io.Pipe() // nobody reads pr
		defer pr.Close()
		done, _ := h.start(strings.NewReader("QUIT\r\n"), pw)
		if code := waitExit(t, done); code != 1 {
			t.Errorf("exit %d, want 1", code)
		}
	})
}

// failWriter fails every write.
type failWriter struct{}

func (failWriter) Write(p []byte) (int, error) { return 0, io.ErrClosedPipe }

func TestWriteError(t *testing.T) {
	h := newHarness(t, baseControls())
	var e bytes.Buffer
	code := run(h.context(strings.NewReader("QUIT\r\n"), failWriter{}, &e), h.options())
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

// TestDeadlineDetection checks which streams get real deadlines and
// which fall back to a timer.
func TestDeadlineDetection(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := os.CreateTemp(t.TempDir(), "plain")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	c1, c2 := net.Pipe()
	defer c1.Close()
	defer c2.Close()
	cases := []struct {
		name     string
		rd       io.Reader
		wr       io.Writer
		deadline bool
	}{
		{"os.Pipe", r, w, true},
		{"net.Conn", c1, c1, true},
		{"regular file", f, f, false},
		{"io.Pipe", pr, pw, false},
		{"bytes", strings.NewReader(""), &bytes.Buffer{}, false},
	}
	for _, tc := range cases {
		tr := newTimedReader(tc.rd, time.Second, nil)
		tw := newTimedWriter(tc.wr, time.Second)
		if (tr.dl != nil) != tc.deadline || (tw.dl != nil) != tc.deadline {
			t.Errorf("%s: read deadline %v, write deadline %v, want %v", tc.name, tr.dl != nil, tw.dl != nil, tc.deadline)
		}
	}
}
