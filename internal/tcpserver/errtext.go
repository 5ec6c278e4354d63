package tcpserver

import (
	"errors"
	"syscall"

	"goqmail/internal/cdb"
)

// errText describes err the way djb's programs do ("file does not
// exist", "access denied"), so that warnings read like ucspi-tcp's.
// Errors without an errno keep Go's own text.
func errText(err error) string {
	if errors.Is(err, cdb.ErrCorrupt) {
		return "protocol error" // what ucspi-tcp's cdb code reports
	}
	var en syscall.Errno
	if !errors.As(err, &en) {
		return err.Error()
	}
	switch en {
	case syscall.ENOENT:
		return "file does not exist"
	case syscall.EACCES:
		return "access denied"
	case syscall.EPERM:
		return "permission denied"
	case syscall.EISDIR:
		return "is a directory"
	case syscall.ENOTDIR:
		return "not a directory"
	case syscall.EEXIST:
		return "file already exists"
	case syscall.EPROTO:
		return "protocol error"
	case syscall.EIO:
		return "input/output error"
	case syscall.ENOSPC:
		return "out of disk space"
	case syscall.EROFS:
		return "read-only file system"
	case syscall.EXDEV:
		return "cross-device link"
	case syscall.ENOMEM:
		return "out of memory"
	case syscall.EMFILE:
		return "process cannot open more files"
	case syscall.ENFILE:
		return "system cannot open more files"
	case syscall.EADDRINUSE:
		return "address already used"
	case syscall.EADDRNOTAVAIL:
		return "address not available"
	case syscall.ECONNREFUSED:
		return "connection refused"
	case syscall.ETIMEDOUT:
		return "timed out"
	case syscall.ENOEXEC:
		return "exec format error"
	case syscall.ETXTBSY:
		return "text busy"
	case syscall.ENAMETOOLONG:
		return "file name too long"
	case syscall.ELOOP:
		return "symbolic link loop"
	case syscall.EAGAIN:
		return "temporary failure"
	case syscall.EINVAL:
		return "invalid argument"
	}
	return en.Error()
}
