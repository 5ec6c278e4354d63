//go:build linux

package mbox

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// Linux open-file-description lock commands (fcntl(2)); the syscall
// package does not name them.
const (
	fOFDSetLK = 37
)

// lock takes an exclusive flock lock and an exclusive fcntl (OFD) lock on
// the whole of f, waiting at most wait. It reports whether at least one
// lock is held; a file system that supports neither is not an error. The
// only error is ErrLockTimeout.
// Both locks go away when f is closed.
func lock(f *os.File, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	fd := int(f.Fd())
	flocked, err := retry(deadline, func() error {
		return syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	})
	if err != nil {
		return false, err
	}
	fcntled, err := retry(deadline, func() error {
		lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0, Start: 0, Len: 0}
		return syscall.FcntlFlock(f.Fd(), fOFDSetLK, &lk)
	})
	if err != nil {
		return false, err
	}
	return flocked || fcntled, nil
}

// retry calls try until it succeeds, fails with something other than
// "held by someone else", or the deadline passes (ErrLockTimeout). A lock
// that cannot be taken for any other reason is reported as (false, nil).
func retry(deadline time.Time, try func() error) (bool, error) {
	pause := 10 * time.Millisecond
	for {
		err := try()
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK), errors.Is(err, syscall.EAGAIN),
			errors.Is(err, syscall.EACCES):
			// held by someone else
		default:
			// Not supported here (EINVAL, ENOLCK, EOPNOTSUPP, ...):
			// go on without this lock, as qmail-local does.
			return false, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, ErrLockTimeout
		}
		time.Sleep(min(pause, left))
		pause = min(2*pause, 500*time.Millisecond)
	}
}
