// Package plainfile opens regular files and folders without the runtime
// poller's system calls.
//
// os.OpenFile offers every descriptor it opens to the runtime's netpoller:
// on Linux an fcntl to set O_NONBLOCK, an epoll_ctl that a regular file
// or folder refuses, and two more fcntl calls to clear the flag again.
// That is four system calls for nothing on each of the several files the
// queue, qmail-send and qmail-lspawn open for every message (issue 8:
// a W1 message opened about eight). Open here makes one open(2), and
// os.NewFile one fcntl to see that the descriptor blocks; the file is
// then an ordinary *os.File, without deadlines, as regular files are.
package plainfile

import (
	"errors"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Open is os.OpenFile for regular files and folders (O_CLOEXEC always).
// perm gives the permission bits only (no setuid, setgid or sticky bit).
// A descriptor opened O_NONBLOCK (a FIFO) is still put in the poller by
// os.NewFile, as os.OpenFile would.
func Open(path string, flag int, perm os.FileMode) (*os.File, error) {
	for {
		fd, err := unix.Open(path, flag|unix.O_CLOEXEC, uint32(perm.Perm()))
		if err == nil {
			return os.NewFile(uintptr(fd), path), nil
		}
		if !errors.Is(err, unix.EINTR) {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
}

// ReadFile is os.ReadFile through Open.
func ReadFile(path string) ([]byte, error) {
	data, _, err := ReadFileStat(path)
	return data, err
}

// ReadFileStat is ReadFile that also returns the file's fstat, taken
// before it was read: the identity (inode, times) of the very file whose
// bytes these are, which a later stat by name might not be.
func ReadFileStat(path string) ([]byte, unix.Stat_t, error) {
	var st unix.Stat_t
	f, err := Open(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, st, err
	}
	defer f.Close()
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, st, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	size := 512
	if st.Size > 0 && st.Size < 1<<30 {
		size = int(st.Size) + 1 // one more, to see the end at once
	}
	data := make([]byte, 0, size)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			return data, st, nil
		}
		if err != nil {
			return data, st, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
}

// Remove removes a file (not a folder) with one unlink(2). os.Remove
// tries rmdir(2) after any failed unlink, so each file that is already
// gone cost it two system calls and two path walks; qmail-send and
// qmail-clean remove several such files per message (the stale info,
// local, remote and bounce files a direct message may not have; an
// intd/N removed by the todo/N request before).
func Remove(path string) error {
	for {
		err := unix.Unlink(path)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return &os.PathError{Op: "remove", Path: path, Err: err}
		}
	}
}
