// Package durable makes file-system changes survive a power cut.
//
// A file's data is durable after fsync(file); a name created, renamed or
// removed by link, rename or unlink is durable only after fsync of its
// folder (hardening.md §3.2). qmail relied on BSD file systems doing the
// latter synchronously; on ext4 and xfs it must be asked for.
package durable

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncDir fsyncs a folder, making the names changed in it durable: open,
// fsync, close, three system calls (os.Open would add four for the
// runtime's poller; see plainfile).
func SyncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR { // as os.Open retries (FUSE, NFS, CIFS)
		fd, err = unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	err = unix.Fsync(fd)
	for err == unix.EINTR {
		err = unix.Fsync(fd)
	}
	if err != nil {
		unix.Close(fd)
		return &os.PathError{Op: "fsync", Path: dir, Err: err}
	}
	if err := unix.Close(fd); err != nil {
		return &os.PathError{Op: "close", Path: dir, Err: err}
	}
	return nil
}
