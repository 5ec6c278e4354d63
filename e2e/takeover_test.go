package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/queuefixture"
)

// collect reads qmail-send's log (status lines skipped) until every
// wanted line has been seen at least once, and returns the lines read. A
// wanted line is literal except that each "*" matches any text. Warnings
// and alerts fail the test unless allow matches them.
func (s *server) collect(allow *regexp.Regexp, want ...string) []string {
	s.t.Helper()
	var got []string
	missing := map[string]*regexp.Regexp{}
	for _, w := range want {
		missing[w] = regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(w), `\*`, ".*") + "$")
	}
	deadline := time.After(30 * time.Second)
	for len(missing) > 0 {
		select {
		case line, ok := <-s.log:
			if !ok {
				s.t.Fatalf("log ended (%s); still waiting for %v; saw %q (all lines: %q)", s.sendExit(), missing, got, s.lines)
			}
			s.lines = append(s.lines, line)
			if strings.HasPrefix(line, "status: ") {
				continue
			}
			got = append(got, line)
			if (strings.HasPrefix(line, "warning:") || strings.HasPrefix(line, "alert:")) &&
				(allow == nil || !allow.MatchString(line)) {
				s.t.Errorf("unexpected log line %q", line)
			}
			for w, re := range missing {
				if re.MatchString(line) {
					delete(missing, w)
				}
			}
		case <-deadline:
			s.t.Fatalf("timed out waiting for %v; saw %q", missing, got)
		}
	}
	return got
}

// deliveredTo lists the Delivered-To address of every message in a
// Maildir's new/ folder, sorted, with the messages by address.
func deliveredTo(t *testing.T, dir string) ([]string, map[string]string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	msgs := map[string]string{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^Delivered-To: (.*)$`).FindStringSubmatch(string(data))
		if m == nil {
			t.Errorf("%s has no Delivered-To:\n%s", e.Name(), data)
			continue
		}
		out = append(out, m[1])
		msgs[m[1]] = string(data)
	}
	sort.Strings(out)
	return out, msgs
}

// waitCount waits until dir holds n files.
func waitCount(t *testing.T, dir string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(dir)
		if len(ents) >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	ents, _ := os.ReadDir(dir)
	t.Fatalf("%s holds %d files, want %d", dir, len(ents), n)
}

// TestTakeOverQmail103QueueEndToEnd starts the real daemons on a queue
// written in qmail 1.03's format: a message in todo/, one preprocessed
// with some recipients done, one finished except for its bounce, and one
// whose mess file has the wrong owner (as when a root-mode qmail's queue
// is moved under a user-mode install). Exactly the recipients qmail had
// not delivered arrive, once each; the wrong owner defers (never
// bounces) until the owner is put right.
func TestTakeOverQmail103QueueEndToEnd(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	fx := queuefixture.New(t, filepath.Join(home, "queue"))
	fx.QUID, fx.SUID, fx.GID = uid, uid, gid
	past := time.Now().Add(-2 * time.Hour)
	const date = "23 Nov 2025 10:00:00 -0000"
	body := func(s string) string { return "Subject: " + s + "\n\nbody of " + s + "\n" }
	n := func(m uint64) string { return strconv.FormatUint(m, 10) }

	a := fx.Mess(queuefixture.Received(3141, 1001, date), body("queued"))
	fx.Todo(a, queuefixture.Envelope(1001, 3141, "a@example.org", "t1@localhost", "t2@localhost"))
	b := fx.Mess(queuefixture.Received(1618, 1002, date), body("half done"))
	fx.Info(b, "b@example.org", past)
	fx.Chan(b, false, past, queuefixture.D("d1@localhost"), queuefixture.T("t3@localhost"),
		queuefixture.D("d2@localhost"), queuefixture.T("t4@localhost"))
	c := fx.Mess(queuefixture.Received(1732, 1004, date), body("bounced"))
	fx.Info(c, "sender@localhost", past)
	fx.Bounce(c, queuefixture.Paragraph("gone@localhost", "Sorry, no mailbox here by that name. (#5.1.1)"))
	var w uint64
	if os.Getuid() == 0 {
		w = fx.Mess(queuefixture.Received(2236, 1005, date), body("wrong owner"))
		os.Chown(fx.SplitPath("mess", w), 0, 0)
		fx.Info(w, "w@example.org", past)
		fx.Chan(w, false, past, queuefixture.T("w1@localhost"))
	}

	s := start(t, home, uid, gid)
	want := []string{"end msg " + n(a), "end msg " + n(b), "bounce msg " + n(c) + " qp *", "end msg " + n(c),
		"info msg *: bytes * from <> qp *"}
	if w != 0 {
		want = append(want, "delivery *: deferral: Sorry,_message_has_wrong_owner._(#4.3.5)/")
	}
	lines := s.collect(nil, want...)
	all := strings.Join(lines, "\n") + "\n"
	for _, re := range []string{
		`(?m)^new msg ` + n(a) + `\ninfo msg ` + n(a) + `: bytes \d+ from <a@example.org> qp 3141 uid 1001$`,
		`(?m)^starting delivery \d+: msg ` + n(a) + ` to local t1@localhost$`,
		`(?m)^starting delivery \d+: msg ` + n(b) + ` to local t3@localhost$`,
		`(?m)^starting delivery \d+: msg ` + n(b) + ` to local t4@localhost$`,
	} {
		if !regexp.MustCompile(re).MatchString(all) {
			t.Errorf("log lacks %s:\n%s", re, all)
		}
	}
	for _, bad := range []string{"d1@localhost", "d2@localhost", "new msg " + n(b) + "\n", "new msg " + n(c) + "\n", "failure:"} {
		if strings.Contains(all, bad) {
			t.Errorf("log mentions %q:\n%s", bad, all)
		}
	}
	md := filepath.Join(home, "alias", "Maildir", "new")
	// t1 t2 t3 t4 and the bounce to sender@localhost.
	waitCount(t, md, 5)

	if w != 0 {
		// The administrator fixes the owner and wakes qmail-send.
		if err := os.Chown(fx.SplitPath("mess", w), uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := s.send.Process.Signal(syscall.SIGALRM); err != nil {
			t.Fatal(err)
		}
		more := s.collect(nil, "end msg "+n(w))
		if !regexp.MustCompile(`(?m)^delivery \d+: success: did_1\+0\+0/$`).MatchString(strings.Join(more, "\n")) {
			t.Errorf("after ALRM: %q", more)
		}
		waitCount(t, md, 6)
	}
	time.Sleep(200 * time.Millisecond) // a duplicate would show up now
	got, msgs := deliveredTo(t, md)
	wantTo := []string{"sender@localhost", "t1@localhost", "t2@localhost", "t3@localhost", "t4@localhost"}
	if w != 0 {
		wantTo = append(wantTo, "w1@localhost")
	}
	if strings.Join(got, " ") != strings.Join(wantTo, " ") {
		t.Errorf("delivered to %v, want %v", got, wantTo)
	}
	if m := msgs["t3@localhost"]; !strings.HasPrefix(m, "Return-Path: <b@example.org>\nDelivered-To: t3@localhost\n"+
		queuefixture.Received(1618, 1002, date)+body("half done")) {
		t.Errorf("t3's copy:\n%s", m)
	}
	if m := msgs["sender@localhost"]; !strings.Contains(m, "<gone@localhost>:\nSorry, no mailbox here by that name. (#5.1.1)\n\n"+
		"--- Below this line is a copy of the message.\n\nReturn-Path: <sender@localhost>\n"+
		queuefixture.Received(1732, 1004, date)+body("bounced")) {
		t.Errorf("bounce:\n%s", m)
	}
}

// sendExit says how qmail-start (qmail-send) ended, waiting up to 5 s:
// for a test whose log ended early.
func (s *server) sendExit() string {
	if s.send == nil || s.send.Process == nil {
		return "not started"
	}
	done := make(chan struct{})
	go func() { s.send.Wait(); close(done) }()
	select {
	case <-done:
		return "qmail-send: " + s.send.ProcessState.String()
	case <-time.After(5 * time.Second):
		return "qmail-send still running"
	}
}
