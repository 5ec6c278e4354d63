package send

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/queuefixture"
	"goqmail/internal/queuefs"
	"goqmail/internal/spawnproto"
)

// startOn runs qmail-send with fake spawners and a real qmail-clean on a
// home whose queue the caller has already filled (start makes an empty
// one).
func startOn(t *testing.T, home string, answer func(spawnproto.Command) (byte, string)) *harness {
	t.Helper()
	return launch(t, home, answer, nil, nil)
}

// takeoverAnswer delivers everything except recipients named fail*.
func takeoverAnswer(c spawnproto.Command) (byte, string) {
	if strings.HasPrefix(c.Recipient, "fail") {
		return 'D', "Sorry, no mailbox here by that name. (#5.1.1)\n"
	}
	return 'K', "did 1+0+0\n"
}

// qlog is qmail-send's log read up to some point, with the deliveries
// it started and their outcomes.
type qlog struct {
	lines  []string
	starts map[string]string // delivery number -> "msg N to local|remote RCPT"
	result map[string]string // delivery number -> rest of its result line
}

var (
	startRe  = regexp.MustCompile(`^starting delivery (\d+): (msg \d+ to (local|remote) .*)$`)
	resultRe = regexp.MustCompile(`^delivery (\d+): (.*)$`)
)

// readUntil reads log lines until every wanted line has been seen (status
// lines skipped), failing on warnings and alerts.
func (h *harness) readUntil(want ...string) *qlog {
	h.t.Helper()
	l := &qlog{starts: map[string]string{}, result: map[string]string{}}
	missing := map[string]bool{}
	for _, w := range want {
		missing[w] = true
	}
	for i := 0; len(missing) > 0; i++ {
		if i > 500 {
			h.t.Fatalf("still waiting for %v after 500 lines: %q", missing, l.lines)
		}
		line := h.next()
		l.lines = append(l.lines, line)
		delete(missing, line)
		if strings.HasPrefix(line, "warning:") || strings.HasPrefix(line, "alert:") {
			h.t.Errorf("unexpected log line %q", line)
		}
		if m := startRe.FindStringSubmatch(line); m != nil {
			if _, dup := l.starts[m[1]]; dup {
				h.t.Errorf("delivery number %s started twice", m[1])
			}
			l.starts[m[1]] = m[2]
		} else if m := resultRe.FindStringSubmatch(line); m != nil {
			l.result[m[1]] = m[2]
		}
	}
	return l
}

// deliveries lists "msg N to CHAN RCPT: RESULT" for every started delivery.
func (l *qlog) deliveries() []string {
	var out []string
	for d, s := range l.starts {
		out = append(out, s+": "+l.result[d])
	}
	sort.Strings(out)
	return out
}

func (l *qlog) count(line string) int {
	n := 0
	for _, x := range l.lines {
		if x == line {
			n++
		}
	}
	return n
}

// index is the position of the first line with prefix, or -1.
func (l *qlog) index(prefix string) int {
	for i, x := range l.lines {
		if strings.HasPrefix(x, prefix) {
			return i
		}
	}
	return -1
}

func exist(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// TestTakeOverQmail103Queue starts qmail-send on a queue as qmail 1.03
// left it (messages in every state of spec §1.1, recipients partly done)
// and checks that exactly the recipients qmail had not delivered are
// delivered, each once, with qmail's log lines (hardening.md G17).
func TestTakeOverQmail103Queue(t *testing.T) {
	home := t.TempDir()
	if err := queuefs.MakeTree(filepath.Join(home, "queue")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(home, "control"), 0o755)
	os.WriteFile(filepath.Join(home, "control", "me"), []byte("example.com\n"), 0o644)
	fx := queuefixture.New(t, filepath.Join(home, "queue"))
	now := time.Now()
	past := now.Add(-2 * time.Hour)
	old := now.Add(-40 * time.Hour) // beyond the 36-hour sweep
	const date = "23 Nov 2025 10:00:00 -0000"
	body := func(s string) string { return "Subject: " + s + "\n\nbody of " + s + "\n" }
	sub := func(n uint64) string { return queuefs.Sub(n) }

	// (a) S4: still in todo/ (intd/N linked to todo/N).
	a := fx.Mess(queuefixture.Received(3141, 1001, date), body("a"))
	fx.Todo(a, queuefixture.Envelope(1001, 3141, "a@example.org", "a1@example.com", "a2@remote.test"))
	// (a2) S4 again, but qmail-send died while preprocessing it: a
	// half-written info and local file are there; they are replaced.
	a2 := fx.Mess(queuefixture.Received(2718, 0, date), body("a2"))
	fx.Todo(a2, queuefixture.Envelope(0, 2718, "", "c1@example.com"))
	fx.Info(a2, "stale@example.org", past)
	fx.Chan(a2, false, past, queuefixture.T("stale@example.com"), queuefixture.T("c1@example.com"))
	// (b) S5: preprocessed, some recipients done on both channels.
	b := fx.Mess(queuefixture.Received(1618, 1002, date), body("b"))
	fx.Info(b, "b@example.org", past)
	fx.Chan(b, false, past, queuefixture.D("b1@example.com"), queuefixture.T("b2@example.com"),
		queuefixture.D("b3@example.com"), queuefixture.T("b4@example.com"))
	fx.Chan(b, true, past, queuefixture.D("b5@remote.test"), queuefixture.T("b6@remote.test"))
	// (c1) every recipient done, local file still there, no bounce.
	c1 := fx.Mess(queuefixture.Received(1414, 1003, date), body("c1"))
	fx.Info(c1, "c@example.org", past)
	fx.Chan(c1, false, past, queuefixture.D("x@example.com"), queuefixture.D("y@example.com"))
	// (c2) every recipient done and the channel files gone, but qmail
	// was killed before it injected the bounce and removed info.
	c2 := fx.Mess(queuefixture.Received(1732, 1004, date), body("c2"))
	fx.Info(c2, "c2@example.org", past)
	c2para := queuefixture.Paragraph("gone@example.com", "Sorry, no mailbox here by that name. (#5.1.1)")
	fx.Bounce(c2, c2para)
	// (d) failures recorded in bounce/N, recipients still to do.
	d := fx.Mess(queuefixture.Received(2236, 1005, date), body("d"))
	fx.Info(d, "d@example.org", past)
	fx.Chan(d, false, past, queuefixture.D("d1@example.com"), queuefixture.T("fail2@example.com"),
		queuefixture.T("d3@example.com"))
	dpara := queuefixture.Paragraph("fail0@example.com", "Sorry, no mailbox here by that name. (#5.1.1)")
	fx.Bounce(d, dpara)
	// (e) next retry an hour away: not tried before ALRM.
	e := fx.Mess(queuefixture.Received(1111, 1006, date), body("e"))
	fx.Info(e, "e@example.org", past)
	fx.Chan(e, false, now.Add(time.Hour), queuefixture.T("e1@example.com"))
	// S2 and S3: qmail-queue died before the commit point. Never
	// delivered; removed once older than 36 hours.
	s2old := fx.Mess(queuefixture.Received(1, 1, date), body("s2old"))
	fx.Age(fx.SplitPath("mess", s2old), old, old)
	s2new := fx.Mess(queuefixture.Received(2, 1, date), body("s2new"))
	s3old := fx.Mess(queuefixture.Received(3, 1, date), body("s3old"))
	fx.Intd(s3old, queuefixture.Envelope(1, 3, "s3@example.org", "s3@example.com"))
	fx.Age(fx.SplitPath("mess", s3old), old, old)
	// S2 again, 40 hours old by the clock but still held by a live
	// qmail-queue (the clock jumped forward while it wrote): kept.
	s2live := fx.Mess(queuefixture.Received(4, 1, date), body("s2live"))
	fx.Age(fx.SplitPath("mess", s2live), old, old)
	live, err := os.OpenFile(fx.SplitPath("mess", s2live), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if err := queuefs.LockWriting(live); err != nil {
		t.Fatal(err)
	}
	// S1 debris: a pid file of a qmail-queue that died long ago.
	pidDebris := filepath.Join(home, "queue", "pid", "999.1700000000.1")
	os.WriteFile(pidDebris, nil, 0o644)
	fx.Age(pidDebris, old, old)

	aSize, a2Size := messSize(t, queuefs.New(home), a), messSize(t, queuefs.New(home), a2)
	h := startOn(t, home, takeoverAnswer)
	n := itoaT
	l := h.readUntil("end msg "+n(a), "end msg "+n(a2), "end msg "+n(b), "end msg "+n(c1), "end msg "+n(c2), "end msg "+n(d))

	wantDel := []string{
		"msg " + n(a) + " to local a1@example.com: success: did_1+0+0/",
		"msg " + n(a) + " to remote a2@remote.test: success: did_1+0+0/",
		"msg " + n(a2) + " to local c1@example.com: success: did_1+0+0/",
		"msg " + n(b) + " to local b2@example.com: success: did_1+0+0/",
		"msg " + n(b) + " to local b4@example.com: success: did_1+0+0/",
		"msg " + n(b) + " to remote b6@remote.test: success: did_1+0+0/",
		"msg " + n(d) + " to local d3@example.com: success: did_1+0+0/",
		"msg " + n(d) + " to local fail2@example.com: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/",
	}
	sort.Strings(wantDel)
	if got := l.deliveries(); strings.Join(got, "\n") != strings.Join(wantDel, "\n") {
		t.Errorf("deliveries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantDel, "\n"))
	}
	for _, line := range []string{
		"new msg " + n(a),
		"info msg " + n(a) + ": bytes " + itoa(uint64(aSize)) + " from <a@example.org> qp 3141 uid 1001",
		"new msg " + n(a2),
		"info msg " + n(a2) + ": bytes " + itoa(uint64(a2Size)) + " from <> qp 2718 uid 0",
	} {
		if l.count(line) != 1 {
			t.Errorf("log has %q %d times, want once: %q", line, l.count(line), l.lines)
		}
	}
	// Preprocessed messages are not announced again.
	for _, m := range []uint64{b, c1, c2, d, e} {
		if i := l.index("new msg " + n(m)); i >= 0 {
			t.Errorf("%q for a message qmail had preprocessed", l.lines[i])
		}
	}
	// Bounces: c2's as it was, d's with the new failure after the old.
	for _, m := range []uint64{c2, d} {
		bi, ei := l.index("bounce msg "+n(m)+" qp "), l.index("end msg "+n(m))
		if bi < 0 || bi > ei || l.count(l.lines[bi]) != 1 {
			t.Errorf("msg %d: bounce line at %d, end at %d: %q", m, bi, ei, l.lines)
		}
	}
	for _, m := range []uint64{a, a2, b, c1} {
		if i := l.index("bounce msg " + n(m) + " "); i >= 0 {
			t.Errorf("unexpected %q", l.lines[i])
		}
	}
	checkBounces(t, h, map[string]string{
		"c2@example.org": c2para + "--- Below this line is a copy of the message.\n\nReturn-Path: <c2@example.org>\n" +
			queuefixture.Received(1732, 1004, date) + body("c2"),
		"d@example.org": dpara + queuefixture.Paragraph("fail2@example.com", "Sorry, no mailbox here by that name. (#5.1.1)") +
			"--- Below this line is a copy of the message.\n\nReturn-Path: <d@example.org>\n" +
			queuefixture.Received(2236, 1005, date) + body("d"),
	})
	// The spawners were given the message and the sender qmail stored.
	h.local.mu.Lock()
	for _, c := range h.local.commands {
		if strings.HasPrefix(c.Recipient, "c1@") && (c.Message != sub(a2) || c.Sender != "") ||
			strings.HasPrefix(c.Recipient, "b") && (c.Message != sub(b) || c.Sender != "b@example.org") {
			t.Errorf("command %+v", c)
		}
	}
	h.local.mu.Unlock()

	// (e) waits for its retry time; ALRM makes it due now.
	for _, x := range l.lines {
		if strings.Contains(x, " msg "+n(e)+" ") {
			t.Errorf("msg e touched before its retry time: %q", x)
		}
	}
	h.sig <- syscall.SIGALRM
	l2 := h.readUntil("end msg " + n(e))
	if got := l2.deliveries(); len(got) != 1 || got[0] != "msg "+n(e)+" to local e1@example.com: success: did_1+0+0/" {
		t.Errorf("after ALRM: %q", got)
	}
	if code := h.stop(); code != 0 {
		t.Errorf("qmail-send exit %d", code)
	}

	q := queuefs.New(home)
	for _, m := range []uint64{a, a2, b, c1, c2, d, e} {
		for _, p := range []string{q.Mess(m), q.Info(m), q.Local(m), q.Remote(m), q.Todo(m), q.Intd(m), q.Bounce(m)} {
			if exist(p) {
				t.Errorf("%s left behind", p)
			}
		}
	}
	for _, p := range []string{q.Mess(s2old), q.Mess(s3old), q.Intd(s3old), pidDebris} {
		if exist(p) {
			t.Errorf("debris older than 36 hours not removed: %s", p)
		}
	}
	if !exist(q.Mess(s2new)) {
		t.Errorf("a fresh mess file without todo was removed (qmail-queue may still be writing it)")
	}
	if !exist(q.Mess(s2live)) {
		t.Errorf("a mess file 40 hours old by the clock but still being written was removed")
	}
	for _, m := range []uint64{s2old, s2new, s3old} {
		for _, x := range append(l.lines, l2.lines...) {
			if strings.Contains(x, " "+n(m)) && !strings.HasPrefix(x, "status:") {
				t.Errorf("uncommitted message %d in the log: %q", m, x)
			}
		}
	}
}

// checkBounces compares each injected bounce (by its recipient) with the
// text after the fixed introduction, and its envelope.
func checkBounces(t *testing.T, h *harness, want map[string]string) {
	t.Helper()
	envs, _ := filepath.Glob(filepath.Join(h.qqDir, "env.*"))
	if len(envs) != len(want) {
		t.Errorf("%d bounces injected, want %d", len(envs), len(want))
	}
	const intro = "Hi. This is the qmail-send program at example.com.\n" +
		"I'm afraid I wasn't able to deliver your message to the following addresses.\n" +
		"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
	for _, ep := range envs {
		env, _ := os.ReadFile(ep)
		msg, _ := os.ReadFile(strings.Replace(ep, "env.", "msg.", 1))
		s := string(env)
		if !strings.HasPrefix(s, "F\x00T") || !strings.HasSuffix(s, "\x00\x00") {
			t.Errorf("bounce envelope %q", s)
			continue
		}
		rcpt := s[3 : len(s)-2]
		w, ok := want[rcpt]
		if !ok {
			t.Errorf("bounce to %q", rcpt)
			continue
		}
		i := strings.Index(string(msg), intro)
		if i < 0 || string(msg)[i+len(intro):] != w {
			t.Errorf("bounce to %s:\n%s\nwant after the introduction:\n%s", rcpt, msg, w)
		}
		delete(want, rcpt)
	}
}
