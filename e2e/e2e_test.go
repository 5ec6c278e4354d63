package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestUserModeSMTPToMaildir is the quick start as a test: a user-mode
// install with the localhost configuration, mail sent over SMTP, found
// in the Maildir with Return-Path and Delivered-To on top, and qmail-send's
// five log lines for it.
func TestUserModeSMTPToMaildir(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	if out := run(t, "", filepath.Join(home, "bin", "instcheck")); out != "" {
		t.Errorf("instcheck after install: %s", out)
	}
	s := start(t, home, uid, gid)

	c := dial(t, s.port)
	if g := c.reply(); g != "220 localhost ESMTP" {
		t.Fatalf("greeting %q", g)
	}
	c.expect("EHLO client.example", "250-localhost\n250-PIPELINING\n250 8BITMIME")
	ok := c.send("sender@example.org", "someone@localhost", "Subject: hello\n\nThis is a test.\n")
	c.expect("QUIT", "221 localhost")

	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	info := s.expectLog("info msg " + n + ": bytes *")
	if !strings.Contains(info, " from <sender@example.org> qp ") || !strings.Contains(ok, " qp ") {
		t.Errorf("info line %q, reply %q", info, ok)
	}
	qp := ok[strings.LastIndex(ok, " ")+1:]
	if !strings.Contains(info, " qp "+qp+" uid ") {
		t.Errorf("info line %q does not carry the qp %s of the 250 reply", info, qp)
	}
	s.expectLog("starting delivery 1: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 1: success: did_1+0+0/")
	s.expectLog("end msg " + n)

	path, msg := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	wantTop := "Return-Path: <sender@example.org>\nDelivered-To: someone@localhost\nReceived: (qmail "
	if !strings.HasPrefix(msg, wantTop) {
		t.Errorf("message starts %q, want %q", msg[:min(len(msg), 200)], wantTop)
	}
	if !strings.Contains(msg, "\nReceived: from unknown (HELO client.example) (127.0.0.1)\n  by localhost with SMTP; ") ||
		!strings.HasSuffix(msg, "\nSubject: hello\n\nThis is a test.\n") {
		t.Errorf("message:\n%s", msg)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	wantUID := uint32(os.Getuid())
	if uid >= 0 {
		wantUID = uint32(uid)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != wantUID || fi.Mode().Perm() != 0o600 {
		t.Errorf("delivered file owned by %d mode %v, want %d 0600 (never root)", st.Uid, fi.Mode().Perm(), wantUID)
	}
}

// TestUserModeBadRecipientBounces checks the other end: mail to a local
// address with no mailbox bounces to its sender, who is local too.
func TestUserModeBounceToLocalSender(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	// One address refuses its mail with a program line.
	if err := os.WriteFile(filepath.Join(home, "alias", ".qmail-refuse"), []byte("|echo no such luck; exit 100\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		os.Chown(filepath.Join(home, "alias", ".qmail-refuse"), uid, gid)
	}
	s := start(t, home, uid, gid)
	c := dial(t, s.port)
	c.reply()
	c.send("me@localhost", "refuse@localhost", "Subject: doomed\n\nbody\n")
	c.expect("QUIT", "221 localhost")

	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	s.expectLog("starting delivery 1: msg " + n + " to local refuse@localhost")
	s.expectLog("delivery 1: failure: no_such_luck/")
	s.expectLog("bounce msg " + n + " qp *")
	s.expectLog("end msg " + n)
	_, msg := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	for _, want := range []string{
		"Return-Path: <>\nDelivered-To: me@localhost\n",
		"\nFrom: MAILER-DAEMON@localhost\nTo: me@localhost\nSubject: failure notice\n\n",
		"Hi. This is the qmail-send program at localhost.\n",
		"<refuse@localhost>:\nno such luck\n\n--- Below this line is a copy of the message.\n\nReturn-Path: <me@localhost>\n",
		"Subject: doomed\n\nbody\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("bounce lacks %q:\n%s", want, msg)
		}
	}
}
