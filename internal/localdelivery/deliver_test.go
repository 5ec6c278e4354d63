package localdelivery

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDeadlineAfterExit: once the shell has exited, the timeoutlocal
// kill is no longer sent to its process group, even though a member of
// the group still runs: it is sent only while the leader is unreaped, so
// never to a group number that may since have been given to someone else.
// Before the exit it is (TestTimeoutLocalKillsGroup). Nor is the time up
// for the delivery: the shell ended in time, and its exit code stands.
func TestDeadlineAfterExit(t *testing.T) {
	c := exec.Command("/bin/sh", "-c", "sleep 60 </dev/null >/dev/null 2>&1 & echo $!")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	dl := newDeadline(time.Hour)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	bg, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("background pid: %q", buf[:n])
	}
	defer syscall.Kill(bg, syscall.SIGKILL)
	dl.watch(c.Process.Pid) // returns once the shell has exited
	dl.kill()               // the time is up now
	if err := c.Wait(); err != nil {
		t.Fatalf("shell: %v", err)
	}
	if dl.stop() {
		t.Error("the shell exited in time, but stop says the time was up")
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(bg) {
		t.Fatal("the group was killed after its leader had exited")
	}
}

// TestDeadlineStop: a program that ends in time is not reported as timed
// out, and a stopped deadline does not fire; nil means no timeoutlocal.
func TestDeadlineStop(t *testing.T) {
	c := exec.Command("/bin/true")
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	dl := newDeadline(50 * time.Millisecond)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	dl.watch(c.Process.Pid)
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	if dl.stop() {
		t.Error("stop says the time was up")
	}
	time.Sleep(100 * time.Millisecond)
	if dl.stop() {
		t.Error("the timer fired after stop")
	}
	var none *deadline
	if none.stop() {
		t.Error("nil deadline timed out")
	}
}
