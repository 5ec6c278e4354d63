package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecipeQmailWithPostfixForLists is the qmail guides' "qmail and
// sendmail on one host" recipe with Postfix standing in for sendmail:
// goqmail answers SMTP for example.test and hands list.example.test to
// the list MTA on port 10025 through smtproutes; the list MTA sends
// everything outbound back through goqmail (its relayhost, with
// RELAYCLIENT for 127.0.0.1 in goqmail's tcp rules). Root only: a
// private Postfix instance (its own config, queue and data folders) is
// started and stopped by the test.
func TestRecipeQmailWithPostfixForLists(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("a private Postfix instance needs root")
	}
	home, uid, gid := relayInstall(t, map[string]string{
		"locals":     "localhost\nexample.test\n",
		"rcpthosts":  "localhost\nexample.test\nlist.example.test\n",
		"smtproutes": "list.example.test:127.0.0.1:" + postfixPort + "\n",
	})
	s := start(t, home, uid, gid)
	allowRelay(t, home)
	pf := startPostfix(t, s.port)

	// Inbound: mail for the list domain goes through goqmail to Postfix.
	n := s.submitSMTP("sender@far.test", "someone@list.example.test", "Subject: to the list\n\nhello list\n")
	d := s.remoteDelivery(n, "someone@list.example.test")
	s.logUntil("delivery " + d + ": success: 127.0.0.1_accepted_message./Remote_host_said:_250_2.0.0_Ok:_queued_as_")
	_, got := waitFile(t, filepath.Join(pf.maildir, "new"))
	for _, want := range []string{
		"Return-Path: <sender@far.test>\n",
		"by list.example.test (Postfix) with ESMTP",
		"Received: from unknown (HELO client.example) (127.0.0.1)\n  by localhost with SMTP; ",
		"Subject: to the list\n",
		"\nhello list\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Postfix's mailbox lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "(Postfix)") > strings.Index(got, "by localhost with SMTP") {
		t.Errorf("Postfix's Received line is not above goqmail's:\n%s", got)
	}

	// Outbound: the list MTA sends to example.test via its relayhost,
	// which is goqmail; goqmail delivers locally.
	c := dial(t, postfixPort)
	for _, step := range [][2]string{
		{"", "220 *"},
		{"EHLO lists.example", "250*"},
		{"MAIL FROM:<owner@list.example.test>", "250 *"},
		{"RCPT TO:<member@example.test>", "250 *"},
		{"DATA", "354 *"},
		{"Subject: from the list\r\n\r\nlist traffic\r\n.", "250 *"},
		{"QUIT", "221 *"},
	} {
		if step[0] == "" {
			if r := c.reply(); !strings.HasPrefix(r, "220 ") {
				t.Fatalf("Postfix greeted %q", r)
			}
			continue
		}
		c.expect(step[0], step[1])
	}
	m := strings.TrimPrefix(s.logUntil("new msg "), "new msg ")
	s.logUntil("info msg " + m + ": bytes ")
	s.logUntil("starting delivery ")
	_, back := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	for _, want := range []string{
		"Return-Path: <owner@list.example.test>\n",
		"(127.0.0.1)\n  by localhost with SMTP; ",
		"by list.example.test (Postfix) with ESMTP",
		"Subject: from the list\n",
		"\nlist traffic\n",
	} {
		if !strings.Contains(back, want) {
			t.Errorf("goqmail's mailbox lacks %q:\n%s", want, back)
		}
	}
}

// TestNullClient is the guides' null client: control/smtproutes holds
// only the default route ":127.0.0.1:PORT" and control/locals is empty,
// so every message, even one for the host's own name, goes to the smart
// host, and nothing is delivered on this host.
func TestNullClient(t *testing.T) {
	peer := newRelaySink(t, func(string) string { return "250 ok" })
	home, uid, gid := relayInstall(t, map[string]string{
		"locals":     "",
		"smtproutes": ":127.0.0.1:" + peer.port() + "\n",
	})
	s := start(t, home, uid, gid)
	allowRelay(t, home)

	for i, rcpt := range []string{"postmaster@localhost", "friend@far.test"} {
		n := s.submitSMTP("me@localhost", rcpt, "Subject: null client\n\nbody\n")
		d := s.remoteDelivery(n, rcpt)
		s.logUntil("delivery " + d + ": success: 127.0.0.1_accepted_message./Remote_host_said:_250_accepted_as_12345/")
		s.logUntil("end msg " + n)
		peer.mu.Lock()
		got := append([]string(nil), peer.msgs...)
		peer.mu.Unlock()
		if len(got) != i+1 || !strings.HasPrefix(got[i], "MAIL FROM:<me@localhost>|RCPT TO:<"+rcpt+">|") {
			t.Fatalf("smart host got %q", got)
		}
	}
	for _, l := range s.lines {
		if strings.Contains(l, " to local ") {
			t.Errorf("null client delivered locally: %q", l)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(home, "alias", "Maildir", "new")); len(ents) != 0 {
		t.Errorf("%d messages delivered on the null client", len(ents))
	}
}
