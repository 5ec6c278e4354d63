package send

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/queuefs"
)

// fakeClean is qmail-clean on the other end of two pipes: it records each
// request with whether info/N was already gone when it came, and answers
// '+'.
type fakeClean struct {
	reqs     chan string
	infoGone chan bool
}

func newRetireSender(t *testing.T) (*sender, *fakeClean) {
	t.Helper()
	home := t.TempDir()
	if err := queuefs.MakeTree(filepath.Join(home, "queue")); err != nil {
		t.Fatal(err)
	}
	s := &sender{q: queuefs.New(home), log: io.Discard, now: time.Now, msgs: map[uint64]*message{}}
	toClean, fromSend := io.Pipe()
	fromClean, toSend := io.Pipe()
	s.clean = newCleaner(fromSend, bufio.NewReader(fromClean))
	fc := &fakeClean{reqs: make(chan string, 100), infoGone: make(chan bool, 100)}
	go func() {
		r := bufio.NewReader(toClean)
		for {
			req, err := r.ReadString(0)
			if err != nil {
				return
			}
			req = strings.TrimSuffix(req, "\x00")
			n, _ := queuefs.ParseNumber(strings.TrimPrefix(req, "foop/"))
			_, err = os.Stat(s.q.Info(n))
			fc.infoGone <- os.IsNotExist(err)
			fc.reqs <- req
			toSend.Write([]byte{'+'})
		}
	}()
	t.Cleanup(func() { toClean.Close(); toSend.Close() })
	return s, fc
}

// TestRetireOrder: channel files, then the info file, then qmail-clean's
// foop/N — in that order, both when the retirer runs beside the loop and
// when it does not (the removal then happens in the caller).
func TestRetireOrder(t *testing.T) {
	for _, background := range []bool{false, true} {
		s, fc := newRetireSender(t)
		var logb bytes.Buffer
		s.log = &logb
		const n = 4711
		for _, p := range []string{s.q.Chan(false, n), s.q.Chan(true, n), s.q.Info(n)} {
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if background {
			s.trigger = make(chan struct{}, 1)
			s.startRetirer()
		}
		s.retire(n, s.q.Chan(false, n), false)
		s.retire(n, s.q.Chan(true, n), false)
		s.retire(n, s.q.Info(n), true)
		s.stopRetirer()
		select {
		case req := <-fc.reqs:
			if req != "foop/4711" {
				t.Fatalf("qmail-clean got %q", req)
			}
			if !<-fc.infoGone {
				t.Error("foop/N asked while info/N still existed")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no foop request")
		}
		for _, p := range []string{s.q.Chan(false, n), s.q.Chan(true, n), s.q.Info(n)} {
			if _, err := os.Stat(p); !os.IsNotExist(err) {
				t.Errorf("background=%v: %s still there", background, p)
			}
		}
		if logb.Len() != 0 {
			t.Errorf("log: %q", logb.String())
		}
	}
}

// TestRetireFailureKeepsOrder: a file that cannot be removed is logged as
// qmail logs it; its message's later files — in particular its mess file —
// wait until it is gone, and are removed then; another message's files do
// not wait.
func TestRetireFailureKeepsOrder(t *testing.T) {
	s, fc := newRetireSender(t)
	logr, logw := io.Pipe()
	s.log = logw
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(logr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	const n, other = 815, 816
	stuck := s.q.Chan(false, n)
	// A folder in the file's place: unlink fails even for root.
	if err := os.MkdirAll(filepath.Join(stuck, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{s.q.Info(n), s.q.Info(other)} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.trigger = make(chan struct{}, 1)
	s.retireEvery = 50 * time.Millisecond
	s.startRetirer()
	s.retire(n, stuck, false)
	s.retire(n, s.q.Info(n), true)
	s.retire(other, s.q.Info(other), true)
	select {
	case l := <-lines:
		if want := "warning: unable to unlink local/10/815; will try again later"; l != want {
			t.Fatalf("log line %q, want %q", l, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no warning logged")
	}
	// The other message goes through at once.
	select {
	case req := <-fc.reqs:
		<-fc.infoGone
		if req != "foop/816" {
			t.Fatalf("qmail-clean asked %q, want foop/816", req)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the other message waited behind the failing one")
	}
	if _, err := os.Stat(s.q.Info(n)); err != nil {
		t.Errorf("info/N removed behind a failing channel file: %v", err)
	}
	// Mended, the held files go, in order.
	if err := os.RemoveAll(stuck); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stuck, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case req := <-fc.reqs:
		if req != "foop/815" || !<-fc.infoGone {
			t.Fatalf("qmail-clean asked %q (info gone first: want it)", req)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the held message was never retried")
	}
	for _, p := range []string{stuck, s.q.Info(n)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there", p)
		}
	}
	s.stopRetirer()
	logw.Close()
}
