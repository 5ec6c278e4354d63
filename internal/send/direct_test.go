package send

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/queuefs"
	"goqmail/internal/spawnproto"
)

// queued records, for each recipient, whether its message's info and
// todo files existed when its delivery started: no info file for a
// message delivered straight from todo/ (direct.go). num maps each
// recipient to its message, filled before qmail-send starts.
type queued struct {
	mu      sync.Mutex
	q       queuefs.Queue
	num     map[string]uint64
	hadInfo map[string][]bool
	hadTodo map[string][]bool
}

func newQueued(q queuefs.Queue) *queued {
	return &queued{q: q, num: map[string]uint64{}, hadInfo: map[string][]bool{}, hadTodo: map[string][]bool{}}
}

func (r *queued) look(c spawnproto.Command) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.num[c.Recipient]
	r.hadInfo[c.Recipient] = append(r.hadInfo[c.Recipient], exists(r.q.Info(n)))
	r.hadTodo[c.Recipient] = append(r.hadTodo[c.Recipient], exists(r.q.Todo(n)))
}

// injectFor queues a message and notes its recipients' message number.
func (r *queued) injectFor(h *harness, rcpts ...string) uint64 {
	n := h.inject("a@b", rcpts...)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rc := range rcpts {
		r.num[rc] = n
	}
	return n
}

func gone(t *testing.T, h *harness, n uint64) {
	t.Helper()
	for _, p := range []string{h.q.Info(n), h.q.Local(n), h.q.Remote(n), h.q.Mess(n), h.q.Todo(n), h.q.Intd(n), h.q.Bounce(n)} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still exists", p)
		}
	}
}

// TestDirectDeliveryWritesNoQueueFiles: a message to one recipient is
// delivered with its todo file and no info file. Without a usable
// lock/directdone (here a folder in its place; in root mode, an install
// from before it existed) qmail-send says so, and it is preprocessed as
// qmail does it.
func TestDirectDeliveryWritesNoQueueFiles(t *testing.T) {
	for _, marks := range []bool{true, false} {
		t.Run(map[bool]string{true: "direct", false: "no directdone"}[marks], func(t *testing.T) {
			var rec *queued
			var n uint64
			h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
				rec.look(c)
				return 'K', "did 1+0+0\n"
			}, nil, func(h *harness) {
				if !marks {
					os.Remove(h.marksFile())
					if err := os.Mkdir(h.marksFile(), 0o700); err != nil {
						t.Fatal(err)
					}
				}
				rec = newQueued(h.q)
				n = rec.injectFor(h, "bob@example.com")
				if size := messSize(t, h.q, n); uint64(size) != injectedSize {
					t.Fatalf("mess/N holds %d bytes, injectedSize says %d", size, injectedSize)
				}
			})
			// The log lines, the same as a preprocessed message's:
			// TestLocalSuccessLogLines, whose message goes direct too.
			h.untilEnded(n)
			if code := h.stop(); code != 0 {
				t.Errorf("exit %d", code)
			}
			warned := false
			for _, l := range h.all {
				warned = warned || strings.HasPrefix(l, "warning: unable to open lock/directdone (") &&
					strings.HasSuffix(l, "); every message is preprocessed as qmail 1.03 does")
			}
			if warned == marks {
				t.Errorf("warned about lock/directdone: %v; log %q", warned, h.all)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if got := rec.hadInfo["bob@example.com"]; len(got) != 1 || got[0] == marks {
				t.Errorf("info file present at delivery: %v, want [%v]", got, !marks)
			}
			if got := rec.hadTodo["bob@example.com"]; len(got) != 1 || got[0] != marks {
				t.Errorf("todo file present at delivery: %v, want [%v]", got, marks)
			}
			gone(t, h, n)
		})
	}
}

func TestDirectOnlyForOneRecipient(t *testing.T) {
	var rec *queued
	var ns [3]uint64
	h := startWith(t, map[string]string{"me": "example.com\n", "concurrencylocal": "1\n"},
		func(c spawnproto.Command) (byte, string) {
			rec.look(c)
			return 'K', "ok"
		}, nil, func(h *harness) {
			rec = newQueued(h.q)
			ns[0] = rec.injectFor(h, "one@example.com")
			ns[1] = rec.injectFor(h, "two@example.com")
			ns[2] = rec.injectFor(h, "three@example.com", "four@example.com")
		})
	h.untilEnded(ns[:]...)
	h.stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	// One slot: the second one-recipient message waited for it, well
	// under directWait, and still went direct.
	for _, r := range []string{"one@example.com", "two@example.com"} {
		if got := rec.hadInfo[r]; len(got) != 1 || got[0] {
			t.Errorf("%s: info file at delivery %v, want [false] (direct)", r, got)
		}
	}
	for _, r := range []string{"three@example.com", "four@example.com"} {
		if got := rec.hadInfo[r]; len(got) != 1 || !got[0] {
			t.Errorf("%s: info file at delivery %v, want [true] (two recipients are preprocessed)", r, got)
		}
	}
	for _, n := range ns {
		gone(t, h, n)
	}
	if c := strings.Count(strings.Join(h.all, "\n"), "new msg "); c != 3 {
		t.Errorf("%d new msg lines, want 3", c)
	}
}

// startSlotHeld starts qmail-send with one local slot and a directWait
// of 50 ms, and a first message to slow@example.com whose delivery holds
// that slot until release is closed (20 s at most); it returns once that
// delivery has started.
func startSlotHeld(t *testing.T) (h *harness, rec *queued, slow uint64, release chan struct{}) {
	release = make(chan struct{})
	h = startWith(t, map[string]string{"me": "example.com\n", "concurrencylocal": "1\n"},
		func(c spawnproto.Command) (byte, string) {
			rec.look(c)
			if c.Recipient == "slow@example.com" {
				select {
				case <-release:
				case <-time.After(20 * time.Second):
				}
			}
			return 'K', "ok"
		}, nil, func(h *harness) {
			h.directWait = 50 * time.Millisecond
			rec = newQueued(h.q)
			slow = rec.injectFor(h, "slow@example.com")
		})
	h.expect("new msg " + itoaT(slow))
	h.next()
	h.expect("starting delivery 1: msg " + itoaT(slow) + " to local slow@example.com")
	return h, rec, slow, release
}

// untilHandedBack waits (10 s at most) until message n has been
// preprocessed as qmail does: todo/N gone, local/N there.
func (h *harness) untilHandedBack(n uint64) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for exists(h.q.Todo(n)) || !exists(h.q.Local(n)) {
		if time.Now().After(deadline) {
			h.t.Fatalf("message %d not handed back to preprocessing; saw %q", n, h.all)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDirectWaitingHandedBack: a direct message that waits directWait for
// a slot is preprocessed as qmail does (so qmail-qread lists it), without
// a second "new msg", and delivered when a slot frees.
func TestDirectWaitingHandedBack(t *testing.T) {
	h, rec, first, release := startSlotHeld(t)
	second := rec.injectFor(h, "next@example.com")
	h.untilHandedBack(second)
	if data, _ := os.ReadFile(h.q.Local(second)); string(data) != "Tnext@example.com\x00" {
		t.Errorf("local file %q", data)
	}
	close(release)
	h.untilEnded(first, second)
	h.stop()
	for _, n := range []uint64{first, second} {
		if c := strings.Count(strings.Join(h.all, "\n")+"\n", "new msg "+itoaT(n)+"\n"); c != 1 {
			t.Errorf("%d new msg lines for %d, want 1: %q", c, n, h.all)
		}
		gone(t, h, n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if got := rec.hadInfo["next@example.com"]; len(got) != 1 || !got[0] {
		t.Errorf("next@: info file at delivery %v, want [true] (handed back)", got)
	}
}

// TestDirectManyWaitingHandedBack: many direct messages wait for the one
// slot among preprocessed ones in the same heap; each is taken out of the
// heap and handed back in turn (heap.Remove by its index), and in the
// end every recipient is delivered exactly once, none lost, none twice.
func TestDirectManyWaitingHandedBack(t *testing.T) {
	h, rec, slow, release := startSlotHeld(t)
	var direct, pair []uint64
	rcpts := []string{"slow@example.com"}
	for i := 0; i < 24; i++ {
		r := fmt.Sprintf("d%02d@example.com", i)
		rcpts = append(rcpts, r)
		direct = append(direct, rec.injectFor(h, r))
		if i%6 == 5 { // two recipients: preprocessed, waits in the same heap
			a, b := fmt.Sprintf("p%02da@example.com", i), fmt.Sprintf("p%02db@example.com", i)
			rcpts = append(rcpts, a, b)
			pair = append(pair, rec.injectFor(h, a, b))
		}
	}
	for _, n := range direct {
		h.untilHandedBack(n)
	}
	close(release)
	h.untilEnded(append(append([]uint64{slow}, direct...), pair...)...)
	h.stop()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, r := range rcpts {
		if got := len(rec.hadInfo[r]); got != 1 {
			t.Errorf("%s delivered %d times, want once", r, got)
		}
	}
	if len(rec.hadInfo) != len(rcpts) {
		t.Errorf("%d recipients delivered, want %d", len(rec.hadInfo), len(rcpts))
	}
	for _, n := range append(direct, pair...) {
		gone(t, h, n)
	}
}

func TestDirectDeferralHandedBack(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'Z', "Mailbox busy. (#4.2.1)\n"
	}, nil)
	n := h.inject("joe@example.org", "bob@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.expect("starting delivery 1: msg " + itoaT(n) + " to local bob@example.com")
	h.expect("delivery 1: deferral: Mailbox_busy._(#4.2.1)/")
	h.untilHandedBack(n) // preprocessed as qmail does, todo/N gone
	if code := h.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, l := range h.all {
		if strings.HasPrefix(l, "new msg ") && l != "new msg "+itoaT(n) || strings.HasPrefix(l, "warning") {
			t.Errorf("log line %q", l)
		}
	}
	if c := strings.Count(strings.Join(h.all, "\n"), "new msg "); c != 1 {
		t.Errorf("%d new msg lines, want 1: %q", c, h.all)
	}
	data, _ := os.ReadFile(h.q.Local(n))
	if string(data) != "Tbob@example.com\x00" {
		t.Errorf("local file %q", data)
	}
	info, _ := os.ReadFile(h.q.Info(n))
	if string(info) != "Fjoe@example.org\x00" {
		t.Errorf("info file %q", info)
	}
	// The retry the direct attempt earned: its start + (0+10)^2 s.
	lf, err := os.Stat(h.q.Local(n))
	if err != nil {
		t.Fatal(err)
	}
	want := time.Now().Add(100 * time.Second)
	if d := lf.ModTime().Sub(want); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("local file mtime %v, want about %v", lf.ModTime(), want)
	}
}

func TestDirectFailureBouncesAndCleans(t *testing.T) {
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'D', "no mailbox.\n"
	}, nil)
	n := h.inject("joe@example.org", "nobody@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.next()
	h.expect("delivery 1: failure: no_mailbox./")
	if l := h.next(); !strings.HasPrefix(l, "bounce msg "+itoaT(n)+" qp ") {
		t.Fatalf("got %q, want the bounce", l)
	}
	h.expect("end msg " + itoaT(n))
	h.stop()
	gone(t, h, n)
}

// TestDirectTERMWhileDelivering: a TERM during a direct delivery lets it
// finish and then ends the message before exiting; its todo/N left
// behind would have the next qmail-send deliver it again.
func TestDirectTERMWhileDelivering(t *testing.T) {
	release := make(chan struct{})
	h := start(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		return 'K', "ok"
	}, nil)
	n := h.inject("joe@example.org", "bob@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.expect("starting delivery 1: msg " + itoaT(n) + " to local bob@example.com")
	h.sig <- syscall.SIGTERM
	for l := h.nextAny(); l != "status: local 1/10 remote 0/20 exitasap"; l = h.nextAny() {
	}
	close(release)
	h.expect("delivery 1: success: ok")
	h.expect("end msg " + itoaT(n))
	if code := h.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	gone(t, h, n)
}

// nextAny returns the next log line, status lines included.
func (h *harness) nextAny() string {
	h.t.Helper()
	select {
	case line := <-h.log:
		h.all = append(h.all, line)
		return line
	case <-time.After(10 * time.Second):
		h.t.Fatalf("timed out; saw %q", h.all)
		return ""
	}
}

// TestDirectHandedBackAnnouncedOnce: a deferred direct message whose
// preprocessing then fails (here its syncfs round) is tried again later
// and never logged as a new message twice: qmailanalog pairs each "new
// msg" with one "end msg".
func TestDirectHandedBackAnnouncedOnce(t *testing.T) {
	var failing atomic.Bool
	var attempts atomic.Int32
	h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		if c.Recipient == "bob@example.com" && attempts.Add(1) == 1 {
			return 'Z', "busy"
		}
		return 'K', "ok"
	}, nil, failingRounds(t, &failing))
	failing.Store(true)
	n := h.inject("joe@example.org", "bob@example.com")
	h.expect("new msg " + itoaT(n))
	h.next()
	h.next()
	h.expect("delivery 1: deferral: busy")
	if l := h.next(); !strings.HasPrefix(l, "warning: trouble fsyncing ") {
		t.Fatalf("log line %q, want the failed round's warning", l)
	}
	failing.Store(false)
	h.sig <- syscall.SIGALRM                            // its retry time now, once it is taken in
	m := h.inject("joe@example.org", "amy@example.com") // pulls the trigger
	h.untilEnded(n, m)
	if c := strings.Count(strings.Join(h.all, "\n")+"\n", "new msg "+itoaT(n)+"\n"); c != 1 {
		t.Errorf("%d new msg lines for %d, want 1: %q", c, n, h.all)
	}
	h.stop()
	gone(t, h, n)
}

// TestDirectDoneAfterLostSpawn: a direct delivery reported after the
// spawner was lost is still finished (shutdown removes its todo/N); only
// a deferred one is handed back. Handing back a done one had the next
// qmail-send deliver it again.
func TestDirectDoneAfterLostSpawn(t *testing.T) {
	for _, deferred := range []bool{false, true} {
		s := &sender{msgs: map[uint64]*message{}, now: time.Now, lostConn: true}
		for c := range s.ch {
			s.ch[c] = newChannel(c, 10, nil, nil)
		}
		rec := []byte("Tbob@example.com\x00")
		recs, err := queuefs.ParseChan(rec)
		if err != nil {
			t.Fatal(err)
		}
		m := &message{num: 7, direct: true, birth: time.Now()}
		mc := &msgChan{mem: rec, recs: recs, batched: []bool{false}, next: 1, inPass: true, retry: time.Now()}
		if deferred {
			mc.numtodo = 1
		} else {
			mc.recs[0].Done = true
		}
		m.chans[0] = mc
		s.msgs[7] = m
		s.ch[0].active = []*message{m}
		s.maybeEndPass(0, m)
		_, handedBack := s.directRetry[7]
		if deferred {
			if s.msgs[7] != nil || !handedBack {
				t.Errorf("deferred: in msgs %v, handed back %v; want handed back", s.msgs[7] != nil, handedBack)
			}
			continue
		}
		if s.msgs[7] != m || handedBack || m.chans[0] != nil || len(s.finishing) != 1 || s.finishing[0] != 7 {
			t.Errorf("done: in msgs %v, handed back %v, finishing %v; want it finishing", s.msgs[7] == m, handedBack, s.finishing)
		}
	}
}

// oneBounceListing checks that qmail-send queued one bounce, which lists
// the failure of recip once.
func (h *harness) oneBounceListing(recip string) {
	h.t.Helper()
	msgs, _ := filepath.Glob(filepath.Join(h.qqDir, "msg.*"))
	if len(msgs) != 1 {
		h.t.Fatalf("%d bounces, want 1", len(msgs))
	}
	body, _ := os.ReadFile(msgs[0])
	if c := strings.Count(string(body), "<"+recip+">:"); c != 1 {
		h.t.Errorf("the failure appears %d times in the bounce:\n%s", c, body)
	}
}

// TestDirectCleanRefusesTodo: when qmail-clean cannot remove a delivered
// direct message's todo/N, the message is not ended (todo/N would bring
// it back), is not delivered again while it waits, not even when another
// message makes qmail-send read todo/ again, and is ended once
// qmail-clean succeeds (here at the ALRM that retries it at once).
func TestDirectCleanRefusesTodo(t *testing.T) {
	var n uint64
	refuse := func(req string) bool { return req == "todo/"+itoaT(n) }
	h := startWith(t, map[string]string{"me": "example.com\n"}, func(c spawnproto.Command) (byte, string) {
		return 'K', "did 1+0+0\n"
	}, nil, func(h *harness) {
		h.refuseClean.Store(&refuse)
		n = h.inject("a@b", "bob@example.com")
	})
	h.expect("new msg " + itoaT(n))
	if l := h.next(); !strings.HasPrefix(l, "info msg "+itoaT(n)+":") {
		t.Fatalf("log line %q, want the info line", l)
	}
	h.expect("starting delivery 1: msg " + itoaT(n) + " to local bob@example.com")
	h.expect("delivery 1: success: did_1+0+0/")
	for i := 0; h.refused.Load() == 0; i++ { // at most 10 s
		if i == 1000 {
			t.Fatal("qmail-send never asked qmail-clean to remove todo/N")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(h.q.Todo(n)); err != nil {
		t.Fatalf("todo/N: %v", err)
	}
	// Another message: qmail-send reads todo/ again, where todo/N still is.
	m := h.inject("a@b", "carol@example.com")
	h.untilEnded(m)
	for _, l := range h.all {
		if l == "end msg "+itoaT(n) {
			t.Fatalf("message %d ended while its todo/N stayed; log %q", n, h.all)
		}
	}
	h.refuseClean.Store(nil)
	h.sig <- syscall.SIGALRM
	h.untilEnded(n)
	h.stop()
	h.local.mu.Lock()
	defer h.local.mu.Unlock()
	bob := 0
	for _, c := range h.local.commands {
		if c.Recipient == "bob@example.com" {
			bob++
		}
	}
	if bob != 1 {
		t.Errorf("bob@example.com delivered %d times, want once", bob)
	}
	gone(t, h, n)
}

// untilEnded reads log lines until each message in ns has logged its
// "end msg": at most 1000 lines, none more than 10 s apart (h.next).
func (h *harness) untilEnded(ns ...uint64) {
	h.t.Helper()
	left := map[string]bool{}
	for _, n := range ns {
		left["end msg "+itoaT(n)] = true
	}
	for i := 0; len(left) > 0; i++ {
		if i == 1000 {
			h.t.Fatalf("still waiting for %v; saw %q", left, h.all)
		}
		delete(left, h.next())
	}
}
