// Package timerslack gives goqmail's long-lived daemons a timer slack of
// one millisecond (prctl PR_SET_TIMERSLACK), as systemd's
// TimerSlackNSec=1ms would: the kernel may then fire a daemon's timers up
// to a millisecond late and fold them into wake-ups it has anyway.
//
// Why: the Go runtime gives every process a monitor thread (sysmon). When
// a system call wakes it from its idle sleep, it polls every 20 µs until
// the process has been idle for a while, and under a steady flow of mail
// the daemons are never idle for long: qmail-send, qmail-clean,
// qmail-lspawn, qmail-rspawn, tcpserver and the qmail-queue worker each
// woke tens of thousands of times a second, every wake-up a timer
// interrupt and two context switches. On the benchmark's two cores that
// was a tenth of the machine's CPU; with 1 ms of slack the daemons' context
// switches per message halved and W1 and W2 gained a quarter or more in
// msg/s (bench/README.md, 2026-12-02 evening).
//
// The price: a daemon's timer fires up to 1 ms late (qmail's timeouts and
// retries are counted in seconds), and a goroutine waiting for a thread
// while all threads are in system calls may wait up to 1 ms longer
// before sysmon hands one over.
//
// Who gets it: a thread's slack passes to the threads it creates and to
// the processes it forks, and an exec keeps it; sysmon is made from the
// main thread before main runs. Only a process with CAP_SYS_NICE (root)
// may set its other threads' slack. So a launcher sets the slack of the
// thread it forks its daemons from (Start, or Raise on a locked thread):
// qmail-start for qmail-lspawn, qmail-rspawn, qmail-clean, the logger and
// the qmail-send it becomes; tcpserver for its qmail-queue worker. A
// daemon started as root (qmail-start, tcpserver) also sets its own other
// threads, sysmon among them. What the daemons run in turn (a user's
// |program, an exec'd qmail-local or qmail-smtpd) inherits the slack, as
// it would under systemd's setting.
package timerslack

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Daemon is the slack of goqmail's daemons.
const Daemon = time.Millisecond

// Raise sets the slack of the calling thread to Daemon and tries every
// other thread of the process (/proc/TID/timerslack_ns, allowed with
// CAP_SYS_NICE). It reports whether every thread has it now; without the
// capability only the calling thread does, which is what a launcher
// needs when it forks from that thread (runtime.LockOSThread first).
func Raise() bool {
	if setSelf() != nil {
		return false
	}
	// A thread being created while the others are set may have been
	// cloned from one not yet set: look again, a bounded number of times.
	for pass := 0; pass < 3; pass++ {
		all, changed := raiseOthers()
		if !all {
			return false
		}
		if !changed {
			return true
		}
	}
	return false
}

// Start starts cmd from a thread whose slack is Daemon, so that the child
// and every thread of its runtime have it from the start.
func Start(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	setSelf()
	return cmd.Start()
}

// setSelf sets the calling thread's slack.
func setSelf() error {
	return unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(Daemon), 0, 0, 0)
}

// raiseOthers sets every thread of the process whose slack is not Daemon
// yet. all: every thread has it now (a thread that ended meanwhile
// counts as done); changed: some thread had to be set.
func raiseOthers() (all, changed bool) {
	tids, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return false, false
	}
	want := strconv.FormatInt(int64(Daemon), 10)
	for _, t := range tids {
		path := "/proc/" + t.Name() + "/timerslack_ns"
		b, err := os.ReadFile(path)
		if os.IsNotExist(err) {
			continue // the thread ended
		}
		if err != nil {
			return false, changed
		}
		if strings.TrimSpace(string(b)) == want {
			continue
		}
		err = os.WriteFile(path, []byte(want), 0)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return false, changed
		}
		changed = true
	}
	return true, changed
}

// Of returns the slack of thread (or process) id, for tests and checks.
func Of(id int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(id) + "/timerslack_ns")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return time.Duration(n), err
}
