package e2e

import (
	"bufio"
	"bytes"
	"io"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pipeConn joins a process's stdout (read) and stdin (write).
type pipeConn struct {
	io.Reader
	io.WriteCloser
}

// TestSendmailBs: "sendmail -bs" speaks SMTP on its standard streams
// through the real qmail-smtpd, with the environment qmail's sendmail
// sets (RELAYCLIENT, TCPREMOTEINFO=sendmail-bs); the replies are exact
// and the message is delivered locally.
func TestSendmailBs(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	cmd := exec.Command(filepath.Join(home, "bin", "sendmail"), "-bs")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "USER=bsuser"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	timer := time.AfterFunc(30*time.Second, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer func() {
		timer.Stop()
		in.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}()

	c := &smtp{t: t, tp: textproto.NewConn(pipeConn{bufio.NewReader(out), in})}
	if g := c.reply(); g != "220 localhost ESMTP" {
		t.Fatalf("greeting %q", g)
	}
	c.expect("EHLO client.example", "250-localhost\n250-PIPELINING\n250 8BITMIME")
	c.expect("MAIL FROM:<bs-sender@example.org>", "250 ok")
	// RELAYCLIENT is set: a domain outside rcpthosts is accepted too
	// (then dropped with RSET, so nothing goes to qmail-remote).
	c.expect("RCPT TO:<x@elsewhere.example>", "250 ok")
	c.expect("RSET", "250 flushed")
	c.expect("MAIL FROM:<bs-sender@example.org>", "250 ok")
	c.expect("RCPT TO:<someone@localhost>", "250 ok")
	c.expect("DATA", "354 go ahead")
	ok := c.expect("Subject: via sendmail -bs\r\n\r\nhello over stdin\r\n.", "250 ok *")
	c.expect("QUIT", "221 localhost")
	in.Close()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("sendmail -bs did not exit after QUIT")
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 || stderr.Len() != 0 {
		t.Fatalf("sendmail -bs: exit %d, stderr %q", code, stderr.String())
	}

	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	info := s.expectLog("info msg " + n + ": bytes *")
	if qp := ok[strings.LastIndexByte(ok, ' ')+1:]; !strings.Contains(info, " from <bs-sender@example.org> qp "+qp+" ") {
		t.Errorf("info line %q, reply %q", info, ok)
	}
	_, msg := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	if !strings.HasPrefix(msg, "Return-Path: <bs-sender@example.org>\nDelivered-To: someone@localhost\n") ||
		!strings.Contains(msg, "\nReceived: from localhost (HELO client.example) (sendmail-bs@127.0.0.1)\n  by localhost with SMTP; ") ||
		!strings.HasSuffix(msg, "\nSubject: via sendmail -bs\n\nhello over stdin\n") {
		t.Errorf("delivered:\n%s", msg)
	}
}

// TestMailxThroughSendmail: mailx (s-nail, or any mailx found) sends
// through our sendmail with "mailx -s subject rcpt"; the envelope sender
// is the user's without -r, and the -r address with it.
func TestMailxThroughSendmail(t *testing.T) {
	mailx := ""
	for _, name := range []string{"s-nail", "mailx", "bsd-mailx"} {
		if p, err := exec.LookPath(name); err == nil {
			mailx = p
			break
		}
	}
	if mailx == "" {
		t.Skip("no mailx is installed (Debian package s-nail)")
	}
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	scratch := ownedDir(t, uid, gid)
	sendmail := filepath.Join(home, "bin", "sendmail")
	// mailx resets USER and LOGNAME to the account it runs as, so that
	// account is the envelope sender when no -r is given.
	runUID := os.Getuid()
	if uid >= 0 {
		runUID = uid
	}
	acct, err := user.LookupId(strconv.Itoa(runUID))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + scratch, "PATH=/usr/bin:/bin", "USER=" + acct.Username, "LOGNAME=" + acct.Username,
		"MAILRC=/dev/null", "TERM=dumb", "LC_ALL=C"}
	tests := []struct {
		name, rcpt, sender string
		extra              []string
	}{
		{"without -r", "first@localhost", acct.Username + "@" + ldom, nil},
		{"with -r", "second@localhost", "mailx-from@example.org", []string{"-r", "mailx-from@example.org"}},
	}
	for _, tt := range tests {
		args := []string{"-n", "-#", "-S", "mta=" + sendmail, "-S", "sendwait", "-s", "mailx " + tt.name}
		if !strings.HasSuffix(mailx, "s-nail") {
			args = []string{"-n", "-s", "mailx " + tt.name}
			env = append(env, "sendmail="+sendmail)
		}
		args = append(args, tt.extra...)
		args = append(args, tt.rcpt)
		code, out := runAs(t, uid, gid, env, "Hello from mailx.\n", mailx, args...)
		if code != 0 {
			t.Fatalf("%s: mailx exit %d: %s", tt.name, code, out)
		}
		n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
		if info := s.expectLog("info msg " + n + ": bytes *"); !strings.Contains(info, " from <"+tt.sender+"> ") {
			t.Errorf("%s: info line %q, want the envelope sender <%s>", tt.name, info, tt.sender)
		}
		d := strings.Fields(s.expectLog("starting delivery *"))[2] // "N:"
		s.expectLog("delivery " + d + " success: *")
		s.expectLog("end msg " + n)
	}
	msgs := waitDelivered(t, filepath.Join(home, "alias", "Maildir", "new"), 2)
	for i, tt := range tests {
		m := msgs[1-i] // sorted: "Return-Path: <mailx-from" < "Return-Path: <mailxuser"
		for _, want := range []string{
			"Return-Path: <" + tt.sender + ">\nDelivered-To: " + strings.TrimSuffix(tt.rcpt, "@localhost") + "@" + ldom + "\n",
			"\nSubject: mailx " + tt.name + "\n", "\nMessage-ID: ", "\nHello from mailx.\n",
		} {
			if !strings.Contains(m, want) {
				t.Errorf("%s: message lacks %q:\n%s", tt.name, want, m)
			}
		}
	}
}
