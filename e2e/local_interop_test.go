package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Interop of local delivery with Debian's mail programs (issue 4): mutt
// reads our Maildir and our mbox, and procmail (behind preline) and
// maildrop deliver from .qmail program lines. CI installs mutt, procmail
// and maildrop; where one is missing its part is skipped.

// interopMessages are the bodies the interop test sends: 8-bit text, a
// line far longer than any buffer, and lines starting with "From ".
var interopMessages = []struct{ subject, body string }{
	{"eight", "Caf\xe9 \xfcber \xff\xfe na\xefve\nsecond line \xe9\n"},
	{"long", strings.Repeat("0123456789", 3000) + "\nend of the long line\n"},
	{"from", "From the start of a line\n>From quoted once\n>>From quoted twice\nFrom\nFromage\n\nFrom me to you\nnot From here\n"},
}

// quoteFrom is qmail-local's mbox quoting of a body.
func quoteFrom(body string) string {
	lines := strings.SplitAfter(body, "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimLeft(l, ">"), "From ") {
			lines[i] = ">" + l
		}
	}
	return strings.Join(lines, "")
}

// bodyOf splits a message at its first empty line; a leading mbox From_
// line is dropped first.
func bodyOf(msg string) (header, body string) {
	if strings.HasPrefix(msg, "From ") {
		msg = msg[strings.IndexByte(msg, '\n')+1:]
	}
	i := strings.Index(msg, "\n\n")
	if i < 0 {
		return msg, ""
	}
	return msg[:i+1], msg[i+2:]
}

// subjectOf returns the Subject of a message header.
func subjectOf(header string) string {
	for _, l := range strings.Split(header, "\n") {
		if strings.HasPrefix(l, "Subject: ") {
			return strings.TrimPrefix(l, "Subject: ")
		}
	}
	return ""
}

// checkMessages checks that msgs are exactly interopMessages, each body
// as want makes it from the body sent.
func checkMessages(t *testing.T, where string, msgs []string, want func(string) []string) {
	t.Helper()
	if len(msgs) != len(interopMessages) {
		t.Errorf("%s: %d messages, want %d", where, len(msgs), len(interopMessages))
	}
	bySubject := map[string]string{}
	for _, m := range msgs {
		h, b := bodyOf(m)
		bySubject[subjectOf(h)] = b
	}
	for _, im := range interopMessages {
		got, ok := bySubject[im.subject]
		if !ok {
			t.Errorf("%s: no message %q", where, im.subject)
			continue
		}
		match := false
		for _, w := range want(im.body) {
			match = match || got == w
		}
		if !match {
			t.Errorf("%s: message %q body\n%q\nwant one of %q", where, im.subject, trunc(got), truncAll(want(im.body)))
		}
	}
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:150] + "..." + s[len(s)-150:]
	}
	return s
}

func truncAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = trunc(s)
	}
	return out
}

// maildirMessages returns the contents of every file in dir/new and
// dir/cur.
func maildirMessages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(dir, sub))
		for _, e := range ents {
			data, err := os.ReadFile(filepath.Join(dir, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(data))
		}
	}
	return out
}

// muttRead opens folder with mutt (read-only, no configuration) in a
// pseudo-terminal made by script(1) and pipes every message, one at a
// time and undecoded, to a small script that saves it; it returns what
// mutt piped.
func muttRead(t *testing.T, folder string) []string {
	t.Helper()
	for _, p := range []string{"mutt", "script"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed (Debian packages mutt, bsdutils)", p)
		}
	}
	dir := t.TempDir()
	// Without ~/Mail, mutt first asks whether to create it, and that
	// question would eat the keys pushed below.
	os.Mkdir(filepath.Join(dir, "Mail"), 0o700)
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o700)
	saver := filepath.Join(dir, "save")
	os.WriteFile(saver, []byte("#!/bin/sh\ncat >\"$(mktemp "+out+"/m.XXXXXX)\"\n"), 0o700)
	muttCmd := "mutt -n -F /dev/null -R -e 'set pipe_split=yes pipe_decode=no wait_key=no' " +
		"-e 'push <tag-pattern>~A<enter><tag-prefix><pipe-message>" + saver + "<enter><exit>' -f '" + folder + "'"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "script", "-qec", muttCmd, "/dev/null")
	cmd.Env = []string{"TERM=xterm", "HOME=" + dir, "PATH=/usr/bin:/bin", "LANG=C"}
	// script passes its standard input on to mutt's terminal; at end of
	// file mutt would be cut short, so it gets a pipe that stays open
	// (and empty) until mutt is done.
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdinW.Close()
	cmd.Stdin = stdinR
	outb, err := cmd.CombinedOutput()
	stdinR.Close()
	if err != nil {
		t.Fatalf("mutt on %s: %v\n%q", folder, err, trunc(string(outb)))
	}
	ents, _ := os.ReadDir(out)
	var msgs []string
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(out, e.Name()))
		msgs = append(msgs, string(data))
	}
	sort.Strings(msgs)
	return msgs
}

// TestLocalInterop delivers three awkward messages to a Maildir, an
// mbox, procmail (|preline procmail) and maildrop (|maildrop), and
// checks every copy with the reader that would meet it.
func TestLocalInterop(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	ah := filepath.Join(home, "alias")
	own := func(p string) {
		if uid >= 0 {
			os.Chown(p, uid, gid)
		}
	}
	write := func(name, content string, mode os.FileMode) {
		p := filepath.Join(ah, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		own(p)
	}
	mkMaildir := func(name string) string {
		md := filepath.Join(ah, name)
		for _, d := range []string{"", "/tmp", "/new", "/cur"} {
			os.Mkdir(md+d, 0o700)
			own(md + d)
		}
		return md
	}
	_, procmailErr := exec.LookPath("procmail")
	_, maildropErr := exec.LookPath("maildrop")
	rcpts := []string{"md@localhost", "mbox@localhost"}
	write(".qmail-mbox", "./Mailbox\n", 0o644)
	if procmailErr == nil {
		pm := mkMaildir("pm")
		write("procmailrc", "DEFAULT="+pm+"/\nLOGFILE="+ah+"/procmail.log\n", 0o644)
		write(".qmail-pm", "|preline procmail ./procmailrc\n", 0o644)
		rcpts = append(rcpts, "pm@localhost")
	}
	if maildropErr == nil {
		md2 := mkMaildir("md2")
		write("mailfilter", "to \""+md2+"/\"\n", 0o600)
		write(".qmail-drop", "|maildrop ./mailfilter\n", 0o644)
		rcpts = append(rcpts, "drop@localhost")
	}

	s := start(t, home, uid, gid)
	c := dial(t, s.port)
	c.reply()
	c.expect("EHLO client.example", "250-localhost\n250-PIPELINING\n250 8BITMIME")
	for _, m := range interopMessages {
		c.expect("MAIL FROM:<sender@example.org> BODY=8BITMIME", "250 ok")
		for _, r := range rcpts {
			c.expect("RCPT TO:<"+r+">", "250 ok")
		}
		c.expect("DATA", "354 go ahead")
		c.expect(strings.ReplaceAll("Subject: "+m.subject+"\n\n"+m.body, "\n", "\r\n")+".", "250 ok *")
	}
	c.expect("QUIT", "221 localhost")
	// Wait for every delivery (collect returns at each "delivery" line).
	deliveries := len(rcpts) * len(interopMessages)
	for n := 0; n < deliveries; {
		for _, l := range s.collect(nil, "delivery *") {
			if !strings.HasPrefix(l, "delivery ") {
				continue
			}
			if !strings.Contains(l, ": success: ") {
				t.Fatalf("delivery failed: %q", l)
			}
			n++
		}
	}

	exact := func(b string) []string { return []string{b} }
	// In the file, an mbox message ends with the blank line after it.
	inMbox := func(b string) []string { return []string{quoteFrom(b) + "\n"} }
	// mutt pipes each message followed by $pipe_sep ("\n"). It reads
	// the mbox as mboxo: lines that qmail-local quoted stay ">From "
	// (mutt never unquotes); the Maildir holds them verbatim.
	muttExact := func(b string) []string { return []string{b + "\n"} }
	muttQuoted := func(b string) []string { return []string{quoteFrom(b) + "\n"} }
	t.Run("Maildir as written", func(t *testing.T) {
		checkMessages(t, "Maildir", maildirMessages(t, filepath.Join(ah, "Maildir")), exact)
	})
	t.Run("mbox as written", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(ah, "Mailbox"))
		if err != nil {
			t.Fatal(err)
		}
		// Each message is "From ...\n" up to and with the blank line
		// that ends it.
		parts := strings.Split("\n\n"+string(data), "\n\nFrom ")[1:]
		var msgs []string
		for i, m := range parts {
			if i < len(parts)-1 {
				m += "\n\n"
			}
			msgs = append(msgs, "From "+m)
		}
		checkMessages(t, "Mailbox", msgs, inMbox)
	})
	t.Run("mutt reads the Maildir", func(t *testing.T) {
		checkMessages(t, "mutt Maildir", muttRead(t, filepath.Join(ah, "Maildir")), muttExact)
	})
	t.Run("mutt reads the mbox", func(t *testing.T) {
		checkMessages(t, "mutt mbox", muttRead(t, filepath.Join(ah, "Mailbox")), muttQuoted)
	})
	t.Run("preline procmail", func(t *testing.T) {
		if procmailErr != nil {
			t.Skip("procmail not installed (Debian package procmail)")
		}
		msgs := maildirMessages(t, filepath.Join(ah, "pm"))
		checkMessages(t, "procmail", msgs, exact)
		for _, m := range msgs {
			if !strings.HasPrefix(m, "Return-Path: <sender@example.org>\nDelivered-To: pm@localhost\n") {
				t.Errorf("procmail's copy starts %q", trunc(m))
			}
		}
	})
	t.Run("maildrop", func(t *testing.T) {
		if maildropErr != nil {
			t.Skip("maildrop not installed (Debian package maildrop)")
		}
		checkMessages(t, "maildrop", maildirMessages(t, filepath.Join(ah, "md2")), exact)
	})
}
