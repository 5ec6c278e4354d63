//go:build !linux

package mbox

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lock takes an exclusive flock lock on f, waiting at most wait; other
// systems than Linux have no open-file-description fcntl locks.
func lock(f *os.File, wait time.Duration) (bool, error) {
	deadline := time.Now().Add(wait)
	pause := 10 * time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
		default:
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
