package queuefs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// A message being written.
//
// qmail-send (and qmail-qfsck -f) remove a message file that has neither
// info/N nor todo/N once its access time is 36 hours old: what a killed
// qmail-queue left. The age is read off the wall clock, and a clock that
// jumps forward by more than 36 hours (a virtual machine resumed after
// days, a clock set right at last) makes the file of a qmail-queue that is
// still writing look abandoned; removed between qmail-send's check for
// todo/N and qmail-queue's commit, it leaves todo/N without its message
// after 250 ok (hardening.md §3.11). So goqmail's qmail-queue holds a lock
// (flock) on the message file from its creation until it is done, and the
// sweepers leave a locked file alone: whatever the clocks say, a file is
// debris only once no process holds it. A qmail-queue of another make
// takes no lock; its files are judged by age alone, as qmail does.

// LockWriting marks f, a message file just made, as being written until
// it is closed (the lock goes with the open file).
func LockWriting(f *os.File) error {
	return unix.Flock(int(f.Fd()), unix.LOCK_EX)
}

// BeingWritten says whether a process holds the message file at path
// open under LockWriting. An unreadable or vanished file is not.
func BeingWritten(path string) bool {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOATIME, 0)
	if errors.Is(err, unix.EPERM) { // O_NOATIME is only for the file's owner
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	for {
		err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	return errors.Is(err, unix.EWOULDBLOCK)
}
