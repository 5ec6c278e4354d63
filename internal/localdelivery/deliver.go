package localdelivery

import (
	"errors"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"goqmail/internal/control"
	"goqmail/internal/maildir"
	"goqmail/internal/mbox"
	"goqmail/internal/qq"
)

// mbox appends the message to the mbox file at path (as written in the
// .qmail file, which is also how reports name it).
func (d *delivery) mbox(path string) *exit {
	err := mbox.Append(d.path(path), []byte(d.lines.uf), []byte(d.lines.rp+d.lines.dt), d.message(), mbox.Options{})
	if err == nil {
		return nil
	}
	var me *mbox.Error
	errors.As(err, &me)
	switch {
	case errors.Is(err, mbox.ErrLockTimeout):
		return temp("File has been locked for 30 seconds straight. (#4.3.0)")
	case me != nil && me.Op == "open":
		return tempf("Unable to open %s: %s. (#4.2.1)", path, errText(err))
	case me != nil && me.Op == "read":
		return tempf("Unable to read message: %s. (#4.3.0)", errText(err))
	}
	return tempf("Unable to write %s: %s. (#4.3.0)", path, errText(err))
}

// maildir delivers the message into the Maildir at path. The texts are
// qmail's, which do not name the cause.
func (d *delivery) maildir(path string) *exit {
	_, err := maildir.DeliverGroup(d.dirs, d.path(path), []byte(d.lines.rp+d.lines.dt), d.message())
	switch {
	case err == nil:
		return nil
	case maildir.IsNoDir(err):
		return temp("Unable to chdir to maildir. (#4.2.1)")
	case maildir.IsRead(err):
		return temp("Unable to read message. (#4.3.0)")
	}
	return temp("Temporary error on maildir delivery. (#4.3.0)")
}

// umaskShell is the script /bin/sh runs for a |program line: it sets
// qmail-local's umask 077 (which goqmail cannot set for one delivery in a
// shared process), drops itself from the positional parameters and runs
// the line in the same shell, so the program sees what it would see
// under qmail's "sh -c LINE": $0 is "sh", there are no arguments, and
// the exit status is the line's.
const umaskShell = `umask 077 && eval "shift; $1"`

// waitDelay bounds how long qmail-local waits for a program's output
// after the program has exited (a background child may hold it open).
const waitDelay = 10 * time.Second

// program runs cmd with the shell in the home directory, the message on
// its standard input and its output going into the report (spec §8.5).
//
// With control/timeoutlocal, the line runs in a process group of its own
// and a timer kills that group (deadline). qmail-lspawn runs this as root,
// so the kill is sent only while the shell, the group's leader, is known
// not to have been reaped: until then no other process can have its
// number, as process or as group (deadline.kill). The timer does not go
// through os/exec's Context, whose Cancel may run after Wait has reaped
// the shell, when the number may already be another process's.
func (d *delivery) program(cmd string) (stop bool, ex *exit) {
	if _, err := d.msg.Seek(0, 0); err != nil {
		return false, temp("Unable to rewind message. (#4.3.0)")
	}
	limit, ex := d.programTimeout()
	if ex != nil {
		return false, ex
	}
	c := exec.Command("/bin/sh", "-c", umaskShell, "sh", cmd)
	if limit > 0 {
		// Its own process group, so that the kill reaches everything
		// the line started (a pipeline, a background child).
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	if d.ctx.Cred != nil {
		if c.SysProcAttr == nil {
			c.SysProcAttr = &syscall.SysProcAttr{}
		}
		c.SysProcAttr.Credential = d.ctx.Cred
	}
	c.Args[0] = "sh"
	c.Dir = d.home
	c.Env = d.env
	c.Stdin = d.msg
	c.Stdout = d.ctx.Stdout
	c.Stderr = d.ctx.Stderr
	c.WaitDelay = waitDelay
	var dl *deadline
	if limit > 0 {
		dl = newDeadline(time.Duration(limit) * time.Second)
	}
	if err := c.Start(); err != nil {
		dl.stop()
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) {
			return false, tempf("Unable to run /bin/sh: %s. (#4.3.0)", errText(err))
		}
		return false, tempf("Unable to fork: %s. (#4.3.0)", errText(err))
	}
	if dl != nil {
		dl.watch(c.Process.Pid)
	}
	err := c.Wait()
	if dl.stop() {
		return false, tempf("Timeout on program delivery: killed after %d seconds. (#4.3.0)", limit)
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			if errors.Is(err, exec.ErrWaitDelay) {
				return false, nil // exited 0; only its output lingered
			}
			return false, temp("Aack, child crashed. (#4.3.0)")
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return false, temp("Aack, child crashed. (#4.3.0)")
		}
		code = ee.ExitCode()
	}
	switch code {
	case 0:
		return false, nil
	case 99:
		return true, nil
	case 100, 64, 65, 70, 76, 77, 78, 112:
		return false, &exit{code: 100}
	}
	return false, &exit{code: 111}
}

// deadline is control/timeoutlocal for one program: when its time is up
// it kills the program's process group with SIGKILL, if the group's
// leader (the shell) has not yet been reaped.
//
// A process group is named by its leader's process id, and that number
// cannot be given to another process while the leader exists, even as a
// zombie. So watch first waits, without reaping, until the shell has
// exited, and then, under mu, marks it exited; the kill, also under mu,
// is sent only before that. Only after watch has returned does the
// caller reap the shell (exec.Cmd.Wait). The background children of a
// shell that exited in time are not killed, as before: Wait's WaitDelay
// bounds how long their output is waited for.
//
// The time is up only if it runs out before the shell exits: a shell that
// exited in time has delivered by its exit code, even when a child it left
// behind holds its output past the limit. Reported as a timeout, the
// delivery would be deferred and the program run again, the message
// delivered twice.
type deadline struct {
	mu     sync.Mutex
	timer  *time.Timer
	pgid   int  // the process group; 0 until watch
	exited bool // the leader has exited (or cannot be waited for): no kill
	fired  bool // the time was up before the leader exited and before stop
	done   bool // stop was called
}

// newDeadline starts the clock, before the program is started (as the
// context that timed it before did).
func newDeadline(limit time.Duration) *deadline {
	dl := &deadline{}
	dl.timer = time.AfterFunc(limit, dl.kill)
	return dl
}

// kill is the timer's: the time is up.
func (dl *deadline) kill() {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if dl.done || dl.exited {
		return
	}
	dl.fired = true
	if dl.pgid > 0 {
		syscall.Kill(-dl.pgid, syscall.SIGKILL)
	}
}

// watch arms the kill for the group of pid, the started shell (kill
// at once if the time was already up), and returns once the shell has
// exited, leaving it unreaped for exec.Cmd.Wait.
func (dl *deadline) watch(pid int) {
	dl.mu.Lock()
	dl.pgid = pid
	late := dl.fired
	dl.mu.Unlock()
	if late {
		dl.kill()
	}
	waitExited(pid)
	dl.mu.Lock()
	dl.exited = true
	dl.mu.Unlock()
}

// stop ends the clock and says whether the time was up; a nil deadline
// (no timeoutlocal) never is.
func (dl *deadline) stop() bool {
	if dl == nil {
		return false
	}
	dl.timer.Stop()
	dl.mu.Lock()
	defer dl.mu.Unlock()
	dl.done = true
	return dl.fired
}

// waitExited waits until the child pid has exited, without reaping it
// (waitid with WNOWAIT). On an error other than EINTR (ECHILD: the child
// is gone already) it returns at once.
func waitExited(pid int) {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

// openQueue starts qmail-queue (or $QMAILQUEUE) with the delivery's
// environment; its error output goes into the report.
func openQueue(d *delivery) (*qq.QQ, error) {
	return qq.OpenAs(d.ctx.Home, d.env, d.ctx.Stderr, d.ctx.Cred)
}

// programTimeout reads control/timeoutlocal, goqmail's own control file:
// how many seconds a |program line may run before qmail-local kills it
// (its whole process group) and defers the delivery with "Timeout on
// program delivery". qmail 1.03 waits for ever, and so does goqmail when
// the file is missing, empty or 0: a filter that legitimately takes long
// must not be cut off by an upgrade. A negative number means off too. A
// malformed file defers program deliveries with a text naming it, so the
// administrator sees the mistake in the log instead of a silent default.
func (d *delivery) programTimeout() (int, *exit) {
	if d.ctx.Home == "" {
		return 0, nil
	}
	n, err := control.New(d.ctx.Home).Int("timeoutlocal", 0)
	if err != nil {
		return 0, tempf("Unable to read controls: %s. (#4.3.0)", err)
	}
	return max(n, 0), nil
}
