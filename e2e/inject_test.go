package e2e

import (
	"bufio"
	"bytes"
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

// ldom is the name qmail-inject gives "localhost" in these installs.
const ldom = "localhost.localdomain"

// runAs runs a program as the install's owner (uid -1: as ourselves)
// with a bounded time, and returns its exit code and combined output.
func runAs(t *testing.T, uid, gid int, env []string, stdin, name string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if uid >= 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%s did not finish: %s", name, out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// ownedDir makes a scratch folder the install's owner can write.
func ownedDir(t *testing.T, uid, gid int) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(tempHome(t)), "scratch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if uid >= 0 {
		os.Chown(dir, uid, gid)
	}
	return dir
}

// TestMuttThroughSendmail: mutt sends through our sendmail (with an
// envelope sender), delivered to the local Maildir.
func TestMuttThroughSendmail(t *testing.T) {
	mutt, err := exec.LookPath("mutt")
	if err != nil {
		t.Skip("mutt is not installed (Debian package mutt)")
	}
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	scratch := ownedDir(t, uid, gid)
	sendmail := filepath.Join(home, "bin", "sendmail")
	env := []string{"HOME=" + scratch, "PATH=/usr/bin:/bin", "TERM=dumb", "USER=tester"}
	code, out := runAs(t, uid, gid, env, "Hello from mutt.\n", mutt, "-n", "-F", "/dev/null",
		"-e", "set sendmail=\""+sendmail+"\"",
		"-e", "set use_envelope_from=yes",
		"-e", "set from=\"Mutt User <mutt-user@example.org>\"",
		"-e", "set copy=no", "-e", "set record=\"\"", "-e", "set hostname=localhost.localdomain",
		"-s", "mutt test", "someone@localhost")
	if code != 0 {
		t.Fatalf("mutt exit %d: %s", code, out)
	}
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	info := s.expectLog("info msg " + n + ": bytes *")
	if !strings.Contains(info, " from <mutt-user@example.org> ") {
		t.Errorf("info line %q: wrong envelope sender", info)
	}
	_, msg := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	for _, want := range []string{
		"Return-Path: <mutt-user@example.org>\nDelivered-To: someone@" + ldom + "\n",
		"\nSubject: mutt test\n", "\nTo: someone@" + ldom + "\n", "Mutt User <mutt-user@example.org>",
		"\nMessage-ID: ", "\nHello from mutt.\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
}

// TestCronStyleSendmailT: a cron job's "sendmail -t" with the
// recipients in the header only; the envelope sender is the user's.
func TestCronStyleSendmailT(t *testing.T) {
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	env := []string{"PATH=/usr/bin:/bin", "LOGNAME=cronuser", "USER=cronuser", "SHELL=/bin/sh"}
	in := "From: root (Cron Daemon)\nTo: admin@localhost\nCc: other@localhost\nBcc: hidden@localhost\n" +
		"Subject: Cron <cronuser@host> /usr/local/bin/job\n\noutput of the job\n"
	code, out := runAs(t, uid, gid, env, in, filepath.Join(home, "bin", "sendmail"), "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "-t")
	if code != 0 || out != "" {
		t.Fatalf("sendmail -t: exit %d: %s", code, out)
	}
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	info := s.expectLog("info msg " + n + ": bytes *")
	if !strings.Contains(info, " from <cronuser@"+ldom+"> ") {
		t.Errorf("info line %q: wrong envelope sender", info)
	}
	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 3 && time.Now().Before(deadline) {
		ents, _ := os.ReadDir(filepath.Join(home, "alias", "Maildir", "new"))
		got = got[:0]
		for _, e := range ents {
			data, _ := os.ReadFile(filepath.Join(home, "alias", "Maildir", "new", e.Name()))
			got = append(got, string(data))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(got) != 3 {
		t.Fatalf("%d deliveries, want 3 (To, Cc, Bcc)", len(got))
	}
	seen := map[string]bool{}
	for _, m := range got {
		if !strings.HasPrefix(m, "Return-Path: <cronuser@"+ldom+">\nDelivered-To: ") {
			t.Errorf("delivery starts %q", m[:min(80, len(m))])
		}
		dt := strings.SplitN(m, "\n", 3)[1]
		seen[strings.TrimPrefix(dt, "Delivered-To: ")] = true
		if strings.Contains(m, "hidden") && !strings.HasPrefix(dt, "Delivered-To: hidden") {
			t.Errorf("Bcc shows in the message:\n%s", m)
		}
		if !strings.Contains(m, "\nFrom: root@"+ldom+" (Cron Daemon)\n") || !strings.HasSuffix(m, "\n\noutput of the job\n") {
			t.Errorf("message:\n%s", m)
		}
	}
	for _, r := range []string{"admin@" + ldom, "other@" + ldom, "hidden@" + ldom} {
		if !seen[r] {
			t.Errorf("no delivery to %s (saw %v)", r, seen)
		}
	}
}

// startService runs tcpserver with prog on a free loopback port (rules:
// 127.0.0.1 allowed) and returns the port; it stops at cleanup.
func startService(t *testing.T, home string, uid, gid int, prog string, progEnv ...string) (string, *exec.Cmd) {
	t.Helper()
	bin := filepath.Join(home, "bin")
	rules := filepath.Join(home, "control", "tcp."+prog+".cdb")
	run(t, "127.0.0.1:allow\n:deny\n", filepath.Join(bin, "tcprules"), rules, rules+".tmp")
	args := []string{"-1", "-R", "-H", "-l", "localhost", "-x", rules}
	if uid >= 0 {
		args = append(args, "-u", strconv.Itoa(uid), "-g", strconv.Itoa(gid))
	}
	args = append(args, "127.0.0.1", "0", filepath.Join(bin, prog))
	cmd := exec.Command(filepath.Join(bin, "tcpserver"), args...)
	cmd.Env = append([]string{"PATH=" + bin + ":/usr/bin:/bin"}, progEnv...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	t.Cleanup(stop)
	portc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		portc <- strings.TrimSpace(line)
	}()
	select {
	case p := <-portc:
		if p == "" {
			t.Fatal("tcpserver printed no port")
		}
		return p, cmd
	case <-time.After(10 * time.Second):
		t.Fatal("tcpserver did not print its port")
	}
	return "", nil
}

// stopService stops a tcpserver started by startService.
func stopService(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// TestMiniQmail: a mini-qmail host (qmqpservers, QMAILQUEUE=qmail-qmqpc,
// no qmail-send at all) hands its mail to a central host running
// qmail-qmqpd, which delivers it; with the central host down the
// injector fails temporarily and nothing is lost.
func TestMiniQmail(t *testing.T) {
	central, uid, gid := userModeInstall(t)
	s := start(t, central, uid, gid)
	port, qmqpd := startService(t, central, uid, gid, "qmail-qmqpd")

	mini, muid, mgid := userModeInstall(t)
	if err := os.WriteFile(filepath.Join(mini, "control", "qmqpservers"), []byte("127.0.0.1:"+port+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", "USER=mini", "QMAILHOST=mini.example",
		"QMAILQUEUE=" + filepath.Join(mini, "bin", "qmail-qmqpc")}
	inject := filepath.Join(mini, "bin", "qmail-inject")
	code, out := runAs(t, muid, mgid, env, "Subject: via QMQP\n\nfrom the mini host\n", inject, "someone@localhost")
	if code != 0 {
		t.Fatalf("qmail-inject on the mini host: exit %d: %s", code, out)
	}
	// The mini host has no queue of its own: nothing may be written there.
	if local := queuedFiles(t, mini); len(local) != 0 {
		t.Fatalf("the mini host queued locally (%v): $QMAILQUEUE must run qmail-qmqpc, "+
			"which needs internal/qq to start it under its own name (argv[0]), not \"qmail-queue\"", local)
	}
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	if info := s.expectLog("info msg " + n + ": bytes *"); !strings.Contains(info, " from <mini@mini.example> ") {
		t.Errorf("info line %q", info)
	}
	_, msg := waitFile(t, filepath.Join(central, "alias", "Maildir", "new"))
	if !strings.HasPrefix(msg, "Return-Path: <mini@mini.example>\nDelivered-To: someone@"+ldom+"\n") ||
		!strings.Contains(msg, "\nReceived: from unknown (127.0.0.1)\n  by localhost with QMQP; ") ||
		!strings.HasSuffix(msg, "\nSubject: via QMQP\n\nfrom the mini host\n") {
		t.Errorf("delivered:\n%s", msg)
	}

	stopService(qmqpd)
	code, out = runAs(t, muid, mgid, env, "Subject: lost?\n\nnot lost\n", inject, "someone@localhost")
	if code != 111 || !strings.Contains(out, "qmail-inject: fatal: connection to mail server rejected (#4.4.1)") {
		t.Errorf("with the central host down: exit %d, output %q; want 111 and a temporary error", code, out)
	}
	time.Sleep(300 * time.Millisecond)
	ents, _ := os.ReadDir(filepath.Join(central, "alias", "Maildir", "new"))
	if len(ents) != 1 {
		t.Errorf("%d messages in the central Maildir, want 1", len(ents))
	}
	if local := queuedFiles(t, mini); len(local) != 0 {
		t.Errorf("the failed message was queued on the mini host: %v", local)
	}
}

// queuedFiles lists the files under home/queue/mess.
func queuedFiles(t *testing.T, home string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(filepath.Join(home, "queue", "mess"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestPostfixQmqpInterop: Postfix's qmqp-source talks to our
// qmail-qmqpd, and our qmail-qmqpc talks to Postfix's qmqp-sink.
func TestPostfixQmqpInterop(t *testing.T) {
	source, err1 := exec.LookPath("qmqp-source")
	if err1 != nil {
		source = "/usr/sbin/qmqp-source"
	}
	sink := "/usr/sbin/qmqp-sink"
	for _, p := range []string{source, sink} {
		if _, err := os.Stat(p); err != nil {
			t.Skip("Postfix's qmqp-source/qmqp-sink are not installed (Debian package postfix)")
		}
	}
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	port, _ := startService(t, home, uid, gid, "qmail-qmqpd")

	// qmqp-source -> qmail-qmqpd: 3 messages, one connection each.
	code, out := runAs(t, -1, -1, []string{"PATH=/usr/bin:/bin"}, "", source,
		"-c", "-m", "3", "-f", "pfx@example.org", "-t", "someone@localhost", "127.0.0.1:"+port)
	if code != 0 {
		t.Fatalf("qmqp-source: exit %d: %s", code, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if ents, _ := os.ReadDir(filepath.Join(home, "alias", "Maildir", "new")); len(ents) == 3 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	ents, _ := os.ReadDir(filepath.Join(home, "alias", "Maildir", "new"))
	if len(ents) != 3 {
		t.Errorf("%d deliveries from qmqp-source, want 3", len(ents))
	}
	for _, e := range ents {
		data, _ := os.ReadFile(filepath.Join(home, "alias", "Maildir", "new", e.Name()))
		if !strings.HasPrefix(string(data), "Return-Path: <pfx@example.org>\nDelivered-To: someone@localhost\n") ||
			!strings.Contains(string(data), "\n  by localhost with QMQP; ") {
			t.Errorf("delivered:\n%.300s", data)
		}
	}
	_ = s

	// qmail-qmqpc -> qmqp-sink.
	sinkPort := freePort(t)
	sinkCmd := exec.Command(sink, "-c", "127.0.0.1:"+sinkPort, "5")
	var sinkOut bytes.Buffer
	sinkCmd.Stdout, sinkCmd.Stderr = &sinkOut, &sinkOut
	sinkCmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sinkCmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-sinkCmd.Process.Pid, syscall.SIGKILL)
		sinkCmd.Wait()
	})
	mini, muid, mgid := userModeInstall(t)
	os.WriteFile(filepath.Join(mini, "control", "qmqpservers"), []byte("127.0.0.1:"+sinkPort+"\n"), 0o644)
	env := []string{"PATH=/usr/bin:/bin", "USER=mini", "QMAILQUEUE=" + filepath.Join(mini, "bin", "qmail-qmqpc")}
	var last string
	for i := 0; i < 50; i++ { // the sink needs a moment to listen
		code, last = runAs(t, muid, mgid, env, "Subject: to the sink\n\nx\n", filepath.Join(mini, "bin", "qmail-inject"), "a@b.example")
		if code == 0 {
			if local := queuedFiles(t, mini); len(local) != 0 {
				t.Fatalf("qmail-qmqpc was not run: the message was queued locally (%v)", local)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("qmail-qmqpc to qmqp-sink: exit %d: %s (sink said %q)", code, last, sinkOut.String())
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().String()
	l.Close()
	return p[strings.LastIndexByte(p, ':')+1:]
}

// TestRootInjectsIntoUserModeInstall: root runs the user-mode install's
// sendmail (an administrator trying the quick start, a cron job as
// root). Its qmail-queue acts as the install's owner, as the setuid bit
// makes it qmailq in root mode, so the message is the queue owner's and
// is delivered, where root's files were deferred forever ("message has
// wrong owner"); the Received line still names the real caller, uid 0.
// A third account, neither root nor the owner, cannot queue (the queue is
// the owner's) and is told so, with nothing left behind.
func TestRootInjectsIntoUserModeInstall(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root, with an install owned by another account")
	}
	home, uid, gid := userModeInstall(t)
	s := start(t, home, uid, gid)
	env := []string{"PATH=/usr/bin:/bin", "USER=root"}
	code, out := runAs(t, -1, -1, env, "To: someone@localhost\nSubject: from root\n\nhello\n",
		filepath.Join(home, "bin", "sendmail"), "-t")
	if code != 0 {
		t.Fatalf("sendmail -t as root: exit %d: %s", code, out)
	}
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	if info := s.expectLog("info msg " + n + ": bytes *"); !strings.HasSuffix(info, " uid 0") {
		t.Errorf("info line %q: want the real caller, uid 0", info)
	}
	s.expectLog("starting delivery 1: msg " + n + " to local someone@" + ldom)
	s.expectLog("delivery 1: success: did_1+0+0/")
	s.expectLog("end msg " + n)
	_, msg := waitFile(t, filepath.Join(home, "alias", "Maildir", "new"))
	if !strings.Contains(msg, "\nReceived: (qmail ") || !strings.Contains(msg, " invoked by uid 0); ") ||
		!strings.HasSuffix(msg, "\nSubject: from root\n\nhello\n") {
		t.Errorf("message:\n%s", msg)
	}

	// tcpserver run by root (no -u) for the same install: its qmail-smtpd
	// sessions queue through the long-lived qmail-queue worker, which
	// acts as the owner the same way.
	_, port := startTCPServer(t, home, -1, -1, nil, filepath.Join(home, "bin", "qmail-smtpd"))
	c := dial(t, port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.send("sender@example.org", "someone@localhost", "Subject: via root's tcpserver\n\nhello\n")
	c.expect("QUIT", "221 localhost")
	n = strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	s.expectLog("starting delivery 2: msg " + n + " to local someone@localhost")
	s.expectLog("delivery 2: success: did_1+0+0/")

	// Someone else: neither root nor the owner.
	other, otherGID, ok := otherAccount(uid)
	if !ok {
		t.Log("no third account to try")
		return
	}
	code, out = runAs(t, other, otherGID, env, "To: someone@localhost\n\nx\n", filepath.Join(home, "bin", "sendmail"), "-t")
	if code == 0 || !strings.Contains(out, "qq ") {
		t.Errorf("sendmail -t as uid %d: exit %d, %q; want a qq error", other, code, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(home, "queue", "todo")); len(ents) != 0 {
		t.Errorf("todo/ holds %d entries after a refused injection", len(ents))
	}
}

// otherAccount is a system account that is neither root nor uid: daemon
// (1) or bin (2) on Debian.
func otherAccount(uid int) (int, int, bool) {
	for _, name := range []string{"daemon", "bin"} {
		if u, err := user.Lookup(name); err == nil {
			n, _ := strconv.Atoi(u.Uid)
			g, _ := strconv.Atoi(u.Gid)
			if n > 0 && n != uid {
				return n, g, true
			}
		}
	}
	return 0, 0, false
}
