package e2e

import (
	"bytes"
	"fmt"
	"net"
	netsmtp "net/smtp"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
	"goqmail/internal/timerslack"
)

// lockedBuffer is a bytes.Buffer safe for a process's output and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestQuickStartAsUser runs the README's `make run` (scripts/demo.sh) as
// an unprivileged account, as a new user would on a fresh machine: the
// server must answer SMTP on its port, deliver to run/alias/Maildir/new,
// and stop on Ctrl-C (SIGINT). CI runs as root, where the script hands
// the daemons to an account itself; run as anyone else, tcpserver once
// died on -g ("unable to set gid: permission denied") and the quick
// start served nothing. The script's `go build` is stood in for by a
// copy of the binary this test run built. Closing the terminal (SIGHUP)
// stops it too: the daemons run in sessions of their own, and once a
// closed terminal left them running, port taken, with no script to stop
// them.
func TestQuickStartAsUser(t *testing.T) {
	for _, c := range []struct {
		name string
		sig  syscall.Signal
	}{{"Ctrl-C", syscall.SIGINT}, {"terminal closed", syscall.SIGHUP}} {
		t.Run(c.name, func(t *testing.T) { quickStart(t, c.sig) })
	}
}

// quickStart is TestQuickStartAsUser, stopped by sig.
func quickStart(t *testing.T, sig syscall.Signal) {
	bin := binary(t)
	acct := testutil.Unprivileged(t)
	top := tempHome(t)
	_, file, _, _ := runtime.Caller(0)
	script, err := os.ReadFile(filepath.Join(filepath.Dir(filepath.Dir(file)), "scripts", "demo.sh"))
	if err != nil {
		t.Fatal(err)
	}
	shim := filepath.Join(top, "shim")
	testutil.MustWrite(t, filepath.Join(top, "scripts", "demo.sh"), string(script), 0o755)
	testutil.MustWrite(t, filepath.Join(shim, "go"), "#!/bin/sh\n# go build -o OUT ...: a copy of the test's binary\n"+
		"while [ $# -gt 0 ]; do [ \"$1\" = -o ] && { cp \""+bin+"\" \"$2\"; exit $?; }; shift; done\nexit 1\n", 0o755)
	testutil.Chown(t, top, acct)

	port := freePort(t)
	var out lockedBuffer
	cmd := exec.Command("/bin/sh", filepath.Join(top, "scripts", "demo.sh"))
	cmd.Env = []string{"PATH=" + shim + ":/usr/bin:/bin", "PORT=" + port, "HOME=" + top}
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Getuid() == 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(acct.UID), Gid: uint32(acct.GID)}
	}
	// A signal ignored here (go test run under nohup) would be ignored by
	// the script too, and a shell cannot trap a signal it was started
	// with ignored: as the terminal's child it gets the default. Caught
	// here while it starts, the signal is the default in the child.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, sig)
	err = cmd.Start()
	signal.Stop(caught)
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Whatever happened, nothing this test started stays: the script,
		// and the daemons it started in sessions of their own, found by
		// the binary they run (qmail-send's argv has no path).
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		killRunning(filepath.Join(top, "run", "bin") + "/")
	})

	addr := "127.0.0.1:" + port
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			smtpdLog, _ := os.ReadFile(filepath.Join(top, "run", "log", "smtpd"))
			t.Fatalf("no SMTP on %s after 60 s; the script said:\n%s\nlog/smtpd:\n%s", addr, out.String(), smtpdLog)
		}
		time.Sleep(200 * time.Millisecond)
	}
	msg := "From: me@example.org\r\nTo: someone@localhost\r\nSubject: quick start\r\n\r\nHello.\r\n"
	if err := netsmtp.SendMail(addr, nil, "me@example.org", []string{"someone@localhost"}, []byte(msg)); err != nil {
		t.Fatalf("SMTP: %v\n%s", err, out.String())
	}
	newDir := filepath.Join(top, "run", "alias", "Maildir", "new")
	deadline = time.Now().Add(30 * time.Second)
	for {
		ents, _ := os.ReadDir(newDir)
		if len(ents) == 1 {
			b, _ := os.ReadFile(filepath.Join(newDir, ents[0].Name()))
			if !bytes.Contains(b, []byte("Subject: quick start")) {
				t.Errorf("delivered message:\n%s", b)
			}
			fi, _ := os.Stat(filepath.Join(newDir, ents[0].Name()))
			if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != acct.UID {
				t.Errorf("delivered file belongs to uid %d, want %d", st.Uid, acct.UID)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d files in %s after 30 s\n%s", len(ents), newDir, out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// In user mode too the daemons qmail-start forks, the qmail-send it
	// becomes and tcpserver's qmail-queue worker have a daemon's timer
	// slack on every thread (timerslack: forked from a thread that has it).
	daemonNames := map[string]bool{"qmail-send": true, "qmail-lspawn": true, "qmail-rspawn": true, "qmail-clean": true, "qmail-queue": true}
	seen := map[string]bool{}
	for pid, comm := range processesUnder(filepath.Join(top, "run", "bin") + "/") {
		if !daemonNames[comm] {
			continue
		}
		seen[comm] = true
		if bad := threadsWithoutSlack(pid, timerslack.Daemon); bad != "" {
			t.Errorf("%s (pid %d): threads without a slack of %v: %s", comm, pid, timerslack.Daemon, bad)
		}
	}
	if len(seen) != len(daemonNames) {
		t.Errorf("daemons running from run/bin: %v, want all of %v", seen, daemonNames)
	}

	// The signal: the script stops every daemon and exits 0.
	syscall.Kill(cmd.Process.Pid, sig)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("script ended with %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("script still running 30 s after %v\n%s", sig, out.String())
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("%s still answers after the script stopped", addr)
	}
	if left := processesUnder(filepath.Join(top, "run", "bin") + "/"); len(left) != 0 {
		t.Errorf("still running after %v: %v", sig, left)
	}
	if testing.Verbose() {
		fmt.Print(out.String())
	}
}

// killRunning SIGKILLs every process whose executable lies under prefix
// (a deleted one included), waiting up to 10 s for them to be gone.
// processesUnder maps the processes running a binary whose path starts
// with prefix to their names.
func processesUnder(prefix string) map[int]string {
	out := map[int]string{}
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink("/proc/" + p.Name() + "/exe")
		if err != nil || !strings.HasPrefix(exe, prefix) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + p.Name() + "/comm")
		out[pid] = strings.TrimSpace(string(comm))
	}
	return out
}

func killRunning(prefix string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs := processesUnder(prefix)
		for pid := range procs {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		if len(procs) == 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
