package timerslack

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"goqmail/internal/testutil"
)

// kernelDefault is the slack of a thread nobody has set (50 µs).
const kernelDefault = 50 * time.Microsecond

// setThread sets the calling (locked) thread's slack.
func setThread(t *testing.T, d time.Duration) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(d), 0, 0, 0); err != nil {
		t.Fatalf("prctl: %v", err)
	}
}

// childSlack runs a child that prints its own slack, started by start.
func childSlack(t *testing.T, start func(*exec.Cmd) error) time.Duration {
	t.Helper()
	cmd := exec.Command("cat", "/proc/self/timerslack_ns")
	var out strings.Builder
	cmd.Stdout = &out
	if err := start(cmd); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(out.String()), 10, 64)
	if err != nil {
		t.Fatalf("child printed %q", out.String())
	}
	return time.Duration(n)
}

// Start gives the child the daemon's slack; the same child started from
// a thread at the kernel's default has the default (so it is Start's
// doing, not the test process's own slack).
func TestStartGivesChildTheSlack(t *testing.T) {
	if got := childSlack(t, Start); got != Daemon {
		t.Errorf("child started by Start has slack %v, want %v", got, Daemon)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setThread(t, kernelDefault)
	if got := childSlack(t, (*exec.Cmd).Start); got != kernelDefault {
		t.Errorf("child started from a thread at %v has slack %v", kernelDefault, got)
	}
}

// Without CAP_SYS_NICE (an unprivileged account) Raise sets only the
// calling thread and says so; a child forked from that thread has the
// slack, which is how a user-mode qmail-start passes it on.
func TestRaiseWithoutCapability(t *testing.T) {
	if os.Getuid() == 0 {
		// The re-run is forked from this thread: it starts at the
		// kernel's default whatever other tests set.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		setThread(t, kernelDefault)
	}
	if !testutil.AsUnprivileged(t) {
		return
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if got, err := Of(os.Getpid()); err != nil || got == Daemon {
		t.Skipf("the process started with slack %v (%v): nothing to tell apart", got, err)
	}
	if Raise() {
		t.Fatal("Raise says every thread has the slack, without CAP_SYS_NICE")
	}
	if got, err := Of(unix.Gettid()); err != nil || got != Daemon {
		t.Fatalf("calling thread's slack %v (%v), want %v", got, err, Daemon)
	}
	if got, _ := Of(os.Getpid()); got == Daemon && unix.Gettid() != os.Getpid() {
		t.Errorf("the main thread was set too, without CAP_SYS_NICE")
	}
	if got := childSlack(t, (*exec.Cmd).Start); got != Daemon {
		t.Errorf("child forked from the raised thread has slack %v, want %v", got, Daemon)
	}
}

// As root, Raise sets every thread of the process, the runtime's own
// (sysmon) among them.
func TestRaiseEveryThread(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root (CAP_SYS_NICE) to set other threads")
	}
	if !Raise() {
		t.Fatal("Raise as root did not reach every thread")
	}
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if len(tids) < 2 {
		t.Fatalf("only %d threads: the runtime has more", len(tids))
	}
	for _, d := range tids {
		id, _ := strconv.Atoi(d.Name())
		got, err := Of(id)
		if err != nil && os.IsNotExist(err) {
			continue // ended meanwhile
		}
		if err != nil || got != Daemon {
			t.Errorf("thread %d: slack %v (%v), want %v", id, got, err, Daemon)
		}
	}
}
