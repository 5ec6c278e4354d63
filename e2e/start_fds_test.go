package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartPollerAboveSendFDs: qmail-start puts qmail-send's pipes on
// descriptors 0-6 right before it execs qmail-send, so none of them may be
// the Go runtime's poller (its epoll or event descriptor): a poll of the
// runtime in between failed, and qmail-start died with exit 2 and no word
// (about one CI run in four on 2026-12-03, after the timer slack code came
// to open /proc files before the low descriptors were held). Checked from
// strace: every epoll and event descriptor the process makes before its
// exec of qmail-send is above 6.
func TestStartPollerAboveSendFDs(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Skip("strace not found")
	}
	home, _, _ := userModeInstall(t)
	trace := filepath.Join(t.TempDir(), "start.trace")
	bin := filepath.Join(home, "bin")
	cmd := exec.Command("strace", "-f", "-qq", "-o", trace, "-e", "trace=epoll_create1,eventfd2,execve",
		filepath.Join(bin, "qmail-start"), "./Maildir/", "cat")
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	log := &lockedBuffer{}
	cmd.Stdout = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log.String(), "status: ") {
		if time.Now().After(deadline) {
			t.Fatalf("qmail-send logged nothing in 20 s: %q", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		t.Fatal("qmail-start under strace did not stop on TERM")
	}

	f, err := os.Open(trace)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	made := regexp.MustCompile(`^(\d+) +(epoll_create1|eventfd2)\(.*\) += (\d+)`)
	toSend := regexp.MustCompile(`^(\d+) +execve\("[^"]*/qmail-send"`)
	byPID := map[string][]string{} // descriptors each process made, before it became qmail-send
	checked := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if m := made.FindStringSubmatch(l); m != nil {
			byPID[m[1]] = append(byPID[m[1]], m[2]+"="+m[3])
			continue
		}
		if m := toSend.FindStringSubmatch(l); m != nil {
			checked = true
			for _, d := range byPID[m[1]] {
				_, num, _ := strings.Cut(d, "=")
				if n, _ := strconv.Atoi(num); n <= 6 {
					t.Errorf("qmail-start made the runtime's %s on a descriptor qmail-send's pipes take", d)
				}
			}
		}
	}
	if !checked {
		t.Fatal("no exec of qmail-send in the trace")
	}
}
