package localdelivery

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"time"

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
func (d *delivery) program(cmd string) (stop bool, ex *exit) {
	if _, err := d.msg.Seek(0, 0); err != nil {
		return false, temp("Unable to rewind message. (#4.3.0)")
	}
	limit, ex := d.programTimeout()
	if ex != nil {
		return false, ex
	}
	runCtx, cancel := context.Background(), context.CancelFunc(func() {})
	if limit > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, time.Duration(limit)*time.Second)
	}
	defer cancel()
	c := exec.CommandContext(runCtx, "/bin/sh", "-c", umaskShell, "sh", cmd)
	if limit > 0 {
		// Its own process group, so that the kill reaches everything
		// the line started (a pipeline, a background child).
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		c.Cancel = func() error { return syscall.Kill(-c.Process.Pid, syscall.SIGKILL) }
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
	if err := c.Start(); err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.EACCES) {
			return false, tempf("Unable to run /bin/sh: %s. (#4.3.0)", errText(err))
		}
		return false, tempf("Unable to fork: %s. (#4.3.0)", errText(err))
	}
	err := c.Wait()
	if limit > 0 && errors.Is(runCtx.Err(), context.DeadlineExceeded) {
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
