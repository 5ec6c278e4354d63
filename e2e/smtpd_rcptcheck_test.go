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

// TestOpenRelayFormsAllRefused: with rcpthosts and rcptcheck on (and no
// catch-all mailbox), every form relay testers use (nmap's
// smtp-open-relay probes and hardening.md §2.3) is refused at RCPT time
// for a client without RELAYCLIENT or AUTH — none is accepted to bounce
// later. With RELAYCLIENT the same probes are accepted, so the test can
// tell the difference.
func TestOpenRelayFormsAllRefused(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	alias := filepath.Join(home, "alias")
	if err := os.Remove(filepath.Join(alias, ".qmail-default")); err != nil {
		t.Fatal(err)
	}
	for name, value := range map[string]string{"rcptcheck": "1\n", "percenthack": "localhost\n"} {
		p := filepath.Join(home, "control", name)
		testutil.MustWrite(t, p, value, 0o644)
		if uid >= 0 {
			os.Chown(p, uid, gid)
		}
	}
	s := start(t, home, uid, gid)
	forms := []string{
		"<relaytest@nmap.scanme.org>",
		"<relaytest%nmap.scanme.org@[127.0.0.1]>",
		"<relaytest%nmap.scanme.org@localhost>",
		"<\"relaytest@nmap.scanme.org\">",
		"<\"relaytest%nmap.scanme.org\">",
		"<relaytest@nmap.scanme.org@[127.0.0.1]>",
		"<\"relaytest@nmap.scanme.org\"@[127.0.0.1]>",
		"<relaytest@nmap.scanme.org@localhost>",
		"<@[127.0.0.1]:relaytest@nmap.scanme.org>",
		"<@localhost:relaytest@nmap.scanme.org>",
		"<@localhost,@other.example:relaytest@nmap.scanme.org>",
		"<nmap.scanme.org!relaytest>",
		"<nmap.scanme.org!relaytest@[127.0.0.1]>",
		"<nmap.scanme.org!relaytest@localhost>",
		"<relaytest!nmap.scanme.org@localhost>",
		"<a%b%nmap.scanme.org@localhost>",
		"<relaytest@nmap.scanme.org.>",
		"<relaytest@localhost.>",
		"<RELAYTEST@NMAP.SCANME.ORG>",
		"<relaytest@NMAP.scanme.org@LOCALHOST>",
		"<relaytest@[127.0.0.2]>",
		"<relaytest@[IPv6:::1]>",
		"<relaytest\\@nmap.scanme.org@localhost>",
		"relaytest@nmap.scanme.org",
		"<relaytest@localhost@nmap.scanme.org>",
		"<relaytest@localhost.nmap.scanme.org>",
		"<relaytest@nmap.scanme.org\\>@localhost>",
		"<postmaster@nmap.scanme.org>",
	}
	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 *")
	c.expect("MAIL FROM:<antispam@[127.0.0.1]>", "250 ok")
	for _, f := range forms {
		r := c.cmd("RCPT TO:" + f)
		if !strings.HasPrefix(r, "553 ") && !strings.HasPrefix(r, "550 ") {
			t.Errorf("RCPT TO:%s: %q, want it refused", f, r)
		}
	}
	c.expect("QUIT", "221 *")
	c.conn.Close()

	// The same probes from a relaying client are accepted as written.
	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	run(t, "127.0.0.1:allow,RELAYCLIENT=\"\"\n:deny\n", filepath.Join(home, "bin", "tcprules"), rules, rules+".tmp")
	c = dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 *")
	c.expect("MAIL FROM:<antispam@[127.0.0.1]>", "250 ok")
	c.expect("RCPT TO:<relaytest@nmap.scanme.org>", "250 ok")
	c.expect("QUIT", "221 *")
	c.conn.Close()
}
