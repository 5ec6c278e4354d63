package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/testutil"
)

// TestSMTPDRcptCheck: with control/rcptcheck on, qmail-smtpd refuses at
// RCPT time a local address no .qmail file takes, and accepts it with
// the switch off, on a real user-mode install whose catch-all
// alias/.qmail-default was replaced by one alias/.qmail-known.
func TestSMTPDRcptCheck(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	alias := filepath.Join(home, "alias")
	if err := os.Remove(filepath.Join(alias, ".qmail-default")); err != nil {
		t.Fatal(err)
	}
	known := filepath.Join(alias, ".qmail-known")
	testutil.MustWrite(t, known, "./Maildir/\n", 0o644)
	if uid >= 0 {
		if err := os.Chown(known, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	s := start(t, home, uid, gid)
	const noMailbox = "550 sorry, no mailbox here by that name. (#5.1.1)"
	for _, tt := range []struct {
		rcptcheck string // "" = no control/rcptcheck
		unknown   string // the reply to RCPT TO:<unknown@localhost>
	}{
		{"", "250 ok"},
		{"0", "250 ok"},
		{"1", noMailbox},
	} {
		ctl := filepath.Join(home, "control", "rcptcheck")
		os.Remove(ctl)
		if tt.rcptcheck != "" {
			testutil.MustWrite(t, ctl, tt.rcptcheck+"\n", 0o644)
		}
		c := dial(t, s.port)
		c.reply()
		c.expect("HELO client.example", "250 *")
		c.expect("MAIL FROM:<a@example.org>", "250 ok")
		c.expect("RCPT TO:<unknown@localhost>", tt.unknown)
		c.expect("RCPT TO:<known@localhost>", "250 ok")
		c.expect("RCPT TO:<Known@LOCALHOST>", "250 ok")
		c.expect("RSET", "250 flushed")
		c.expect("QUIT", "221 *")
		c.conn.Close()
	}
	// The known address really is delivered with the check on.
	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 *")
	c.send("a@example.org", "known@localhost", "Subject: rcptcheck\n\nhello\n")
	c.expect("QUIT", "221 *")
	c.conn.Close()
	msgs := waitMaildir(t, filepath.Join(alias, "Maildir"), 1)
	if !strings.Contains(msgs[0], "Subject: rcptcheck") {
		t.Errorf("delivered message lacks the subject: %q", msgs[0])
	}
}
