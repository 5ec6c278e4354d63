package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/timerslack"
)

// TestRootModeDaemonsRunAsQmailUsers installs in root mode, as on a real
// server, and checks that every daemon runs as its own qmail account,
// that instcheck is clean, and that mail flows from SMTP into the alias
// user's Maildir with the Received line of a network injection.
// rootInstall is a fresh root-mode install (the test is skipped when
// not run as root, which root mode needs; CI runs as root).
func rootInstall(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("root mode needs root (CI runs as root)")
	}
	home := tempHome(t)
	run(t, "", binary(t), "install", "--home", home)
	return home
}

func TestRootModeDaemonsRunAsQmailUsers(t *testing.T) {
	home := rootInstall(t)

	// qmail's accounts may predate this install (an earlier install put
	// alias's home elsewhere); point alias at this install for the test,
	// as an administrator moving qmail would, and put it back afterwards.
	if u, err := user.Lookup("alias"); err == nil && u.HomeDir != filepath.Join(home, "alias") {
		run(t, "", "usermod", "-d", filepath.Join(home, "alias"), "alias")
		t.Cleanup(func() { exec.Command("usermod", "-d", u.HomeDir, "alias").Run() })
	}
	run(t, "", filepath.Join(home, "bin", "config-fast"), "localhost")
	if out, err := exec.Command(filepath.Join(home, "bin", "instcheck")).CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("instcheck: %v\n%s", err, out)
	}

	aliasUID, _ := lookupID(t, "alias")
	nofiles := groupID(t, "nofiles")
	qmaild, _ := lookupID(t, "qmaild")
	// Mail for any local address goes to ~alias/.qmail-default.
	os.WriteFile(filepath.Join(home, "alias", ".qmail-default"), []byte("./Maildir/\n"), 0o644)
	os.Chown(filepath.Join(home, "alias", ".qmail-default"), aliasUID, nofiles)
	md := filepath.Join(home, "alias", "Maildir")
	for _, d := range []string{md, md + "/tmp", md + "/new", md + "/cur"} {
		os.Mkdir(d, 0o700)
		os.Chown(d, aliasUID, nofiles)
	}

	s := start(t, home, qmaild, nofiles)
	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.send("root@example.org", "postmaster@localhost", "Subject: root mode\n\nHi.\n")
	c.expect("QUIT", "221 localhost")
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	s.expectLog("starting delivery 1: msg " + n + " to local postmaster@localhost")
	s.expectLog("delivery 1: success: did_1+0+0/")
	s.expectLog("end msg " + n)

	path, msg := waitFile(t, filepath.Join(md, "new"))
	if !strings.HasPrefix(msg, "Return-Path: <root@example.org>\nDelivered-To: postmaster@localhost\nReceived: (qmail ") ||
		!strings.Contains(msg, " invoked from network); ") {
		t.Errorf("message:\n%s", msg)
	}
	fi, _ := os.Stat(path)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != aliasUID {
		t.Errorf("delivered as uid %d, want alias (%d)", st.Uid, aliasUID)
	}

	// Who runs what: qmail-start became qmail-send (qmails); its children
	// are qmail-lspawn (root), qmail-rspawn (qmailr), qmail-clean (qmailq).
	want := map[string]string{"qmail-lspawn": "root", "qmail-rspawn": "qmailr", "qmail-clean": "qmailq"}
	sendPid := s.send.Process.Pid
	if uid, err := procUID(sendPid); err != nil || uid != mustUID(t, "qmails") {
		t.Errorf("qmail-send runs as uid %d (%v), want qmails", uid, err)
	}
	kids := children(sendPid)
	for name, acct := range want {
		found := false
		for pid, comm := range kids {
			if comm != name {
				continue
			}
			found = true
			if uid, err := procUID(pid); err != nil || uid != mustUID(t, acct) {
				t.Errorf("%s runs as uid %d (%v), want %s", name, uid, err, acct)
			}
		}
		if !found {
			t.Errorf("no %s among qmail-send's children %v", name, kids)
		}
	}
	// tcpserver dropped to qmaild; so does the qmail-smtpd it runs.
	if uid, err := procUID(s.tcp.Process.Pid); err != nil || uid != qmaild {
		t.Errorf("tcpserver runs as uid %d (%v), want qmaild", uid, err)
	}

	// Every long-lived process runs from bin/qmail, whatever copy its
	// name leads to (prog.SharedImage, prog.ExecSharedQueue), so that the
	// binary's pages are in memory once: qmail-send and its children, and
	// tcpserver's qmail-queue worker, which keeps qmailq's effective uid.
	shared := filepath.Join(home, "bin", "qmail")
	exeOf := func(pid int) string {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return exe
	}
	if exe := exeOf(sendPid); exe != shared {
		t.Errorf("qmail-send runs from %s, want %s", exe, shared)
	}
	for pid, comm := range kids {
		if want[comm] != "" && exeOf(pid) != shared {
			t.Errorf("%s runs from %s, want %s", comm, exeOf(pid), shared)
		}
	}
	worker := 0
	for pid, comm := range children(s.tcp.Process.Pid) {
		if comm == "qmail-queue" {
			worker = pid
		}
	}
	if worker == 0 {
		t.Errorf("no qmail-queue worker among tcpserver's children %v", children(s.tcp.Process.Pid))
	} else {
		if exe := exeOf(worker); exe != shared {
			t.Errorf("the qmail-queue worker runs from %s, want %s", exe, shared)
		}
		if ruid, euid, err := procUIDs(worker); err != nil || ruid != qmaild || euid != mustUID(t, "qmailq") {
			t.Errorf("the qmail-queue worker runs as uid %d euid %d (%v), want qmaild and qmailq", ruid, euid, err)
		}
	}
	// Every thread of every daemon, the Go runtime's own among them, has
	// a daemon's timer slack (timerslack): qmail-start and tcpserver set
	// theirs as root and their children are born with it.
	daemons := map[int]string{sendPid: "qmail-send", s.tcp.Process.Pid: "tcpserver", worker: "qmail-queue worker"}
	for pid, comm := range kids {
		if want[comm] != "" {
			daemons[pid] = comm
		}
	}
	for pid, name := range daemons {
		if pid == 0 {
			continue
		}
		if bad := threadsWithoutSlack(pid, timerslack.Daemon); bad != "" {
			t.Errorf("%s (pid %d): threads without a slack of %v: %s", name, pid, timerslack.Daemon, bad)
		}
	}
}

// threadsWithoutSlack lists the threads of pid whose timer slack is not
// want, with theirs ("" when none, or the process is gone).
func threadsWithoutSlack(pid int, want time.Duration) string {
	tids, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var bad []string
	for _, d := range tids {
		id, _ := strconv.Atoi(d.Name())
		if got, err := timerslack.Of(id); err == nil && got != want {
			bad = append(bad, fmt.Sprintf("%d:%v", id, got))
		}
	}
	return strings.Join(bad, " ")
}

// procUIDs is a process's real and effective uid.
func procUIDs(pid int) (ruid, euid int, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "Uid:" {
			ruid, _ = strconv.Atoi(f[1])
			euid, _ = strconv.Atoi(f[2])
			return ruid, euid, nil
		}
	}
	return 0, 0, fmt.Errorf("no Uid line")
}

func mustUID(t *testing.T, name string) int {
	uid, _ := lookupID(t, name)
	return uid
}

func groupID(t *testing.T, name string) int {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(g.Gid)
	return n
}

// TestSetuidCopyRunsOnlyQmailQueue runs the setuid bin/qmail-queue as an
// unprivileged account under another name, with arguments and an
// environment that would make the multi-call binary do something else:
// it must behave as qmail-queue, queueing the message as qmailq.
func TestSetuidCopyRunsOnlyQmailQueue(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the setuid copy exists only in a root-mode install")
	}
	bin := binary(t)
	home := tempHome(t)
	run(t, "", bin, "install", "--home", home)
	nobody, nogroup := lookupID(t, "nobody")
	qmailq := mustUID(t, "qmailq")

	envFile := filepath.Join(filepath.Dir(home), "envelope")
	os.WriteFile(envFile, []byte("Fsomeone@example.org\x00Tpostmaster@localhost\x00\x00"), 0o644)
	env, err := os.Open(envFile)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Close()
	cmd := exec.Command(filepath.Join(home, "bin", "qmail-queue"), "install", "--home", "/tmp/evil")
	cmd.Args[0] = "qmail-smtpd"
	cmd.Env = []string{"QMAILQUEUE=/bin/false", "PATH=/nonexistent"}
	cmd.Stdin = strings.NewReader("Subject: setuid\n\nhello\n")
	cmd.Stdout = env // qmail-queue reads its envelope from fd 1
	var stderr strings.Builder
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(nobody), Gid: uint32(nogroup), Groups: []uint32{},
	}}
	if err := cmd.Run(); err != nil {
		t.Fatalf("setuid qmail-queue: %v\n%s", err, stderr.String())
	}
	todo, _ := os.ReadDir(filepath.Join(home, "queue", "todo"))
	if len(todo) != 1 {
		t.Fatalf("todo holds %d files, want 1", len(todo))
	}
	n, _ := strconv.ParseUint(todo[0].Name(), 10, 64)
	mess := filepath.Join(home, "queue", "mess", strconv.FormatUint(n%23, 10), todo[0].Name())
	fi, err := os.Stat(mess)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != qmailq || fi.Mode().Perm() != 0o644 {
		t.Errorf("mess owned by %d mode %v, want qmailq (%d) 0644", st.Uid, fi.Mode().Perm(), qmailq)
	}
	data, _ := os.ReadFile(mess)
	if !strings.HasPrefix(string(data), "Received: (qmail ") || !strings.Contains(string(data), " invoked by uid "+strconv.Itoa(nobody)+"); ") {
		t.Errorf("mess starts %q", data)
	}
	if _, err := os.Stat("/tmp/evil"); err == nil {
		t.Error("the setuid copy obeyed its arguments")
	}
}

// TestRootModeStartEveryTime starts qmail-start again and again in root
// mode: each time it must become qmail-send, with its three children.
// qmail-start once moved its pipes onto descriptors 0-6 in its own Go
// process, where the runtime's epoll descriptor could be: the runtime
// then died in the moment before the exec ("epollwait on fd 6 failed",
// exit 2), in about half the starts on the benchmark machine.
func TestRootModeStartEveryTime(t *testing.T) {
	home := rootInstall(t)
	run(t, "", filepath.Join(home, "bin", "config-fast"), "localhost")
	for i := 0; i < 10; i++ {
		cmd := exec.Command(filepath.Join(home, "bin", "qmail-start"), "./Maildir/", "cat")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		pid := cmd.Process.Pid
		up := false
		for try := 0; try < 100 && !up; try++ { // at most 5 s
			select {
			case err := <-done:
				t.Fatalf("start %d: qmail-start exited: %v\n%s", i, err, errb.String())
			case <-time.After(50 * time.Millisecond):
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			up = strings.TrimSpace(string(comm)) == "qmail-send" && len(children(pid)) >= 3
		}
		if !up {
			cmd.Process.Kill()
			<-done
			t.Fatalf("start %d: no qmail-send with its children after 5 s", i)
		}
		// Alive a little later too: the old failure came just before the
		// exec, but look once more after it.
		select {
		case err := <-done:
			t.Fatalf("start %d: qmail-send exited: %v\n%s", i, err, errb.String())
		case <-time.After(100 * time.Millisecond):
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("start %d: qmail-send did not stop on TERM", i)
		}
	}
}

// TestRootModeRemoteInProcess: in a root-mode install qmail-rspawn, run
// as qmailr from bin/qmail (qmail-start's shared image), still delivers
// with goqmail's own qmail-remote in-process, although qmailr cannot read
// bin/qmail.0711, the copy bin/qmail-remote leads to, to compare it: two
// messages one after the other share one connection (an exec'd
// qmail-remote per message would open two).
func TestRootModeRemoteInProcess(t *testing.T) {
	home := rootInstall(t)
	run(t, "", filepath.Join(home, "bin", "config-fast"), "localhost")
	peer := newRelaySink(t, func(string) string { return "250 ok" })
	os.WriteFile(filepath.Join(home, "control", "smtproutes"), []byte("remote.test:127.0.0.1:"+peer.port()+"\n"), 0o644)
	qmaild, _ := lookupID(t, "qmaild")
	s := start(t, home, qmaild, groupID(t, "nofiles"))
	allowRelay(t, home) // start writes rules without relaying
	for i, rcpt := range []string{"one@remote.test", "two@remote.test"} {
		n := s.submitSMTP("me@localhost", rcpt, fmt.Sprintf("Subject: %d\n\nbody %d\n", i, i))
		d := s.remoteDelivery(n, rcpt)
		if line := s.logUntil("delivery " + d + ": "); !strings.Contains(line, ": success: ") {
			t.Fatalf("delivery to %s: %q", rcpt, line)
		}
		s.logUntil("end msg " + n)
	}
	peer.mu.Lock()
	conns, msgs := peer.conns, len(peer.msgs)
	peer.mu.Unlock()
	if msgs != 2 || conns != 1 {
		t.Errorf("peer got %d messages over %d connections, want 2 over 1 (qmail-remote in-process)", msgs, conns)
	}
}
