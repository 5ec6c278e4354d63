// Package errtext words system errors the way qmail's and djb's programs
// always have ("file does not exist", "access denied", "out of disk
// space"), so that delivery reports, bounces and warnings read as
// administrators' scripts and habits expect. Errors without an errno keep
// Go's own text.
package errtext

import (
	"errors"
	"syscall"
)

// Text is the short reason for err.
func Text(err error) string {
	var en syscall.Errno
	if !errors.As(err, &en) {
		return err.Error()
	}
	if t, ok := words[en]; ok {
		return t
	}
	return en.Error()
}

var words = map[syscall.Errno]string{
	syscall.ENOENT:        "file does not exist",
	syscall.EACCES:        "access denied",
	syscall.EPERM:         "permission denied",
	syscall.EISDIR:        "is a directory",
	syscall.ENOTDIR:       "not a directory",
	syscall.EEXIST:        "file already exists",
	syscall.EPROTO:        "protocol error",
	syscall.EIO:           "input/output error",
	syscall.ENOSPC:        "out of disk space",
	syscall.EDQUOT:        "disk quota exceeded",
	syscall.EROFS:         "read-only file system",
	syscall.EXDEV:         "cross-device link",
	syscall.ENOMEM:        "out of memory",
	syscall.EMFILE:        "process cannot open more files",
	syscall.ENFILE:        "system cannot open more files",
	syscall.EADDRINUSE:    "address already used",
	syscall.EADDRNOTAVAIL: "address not available",
	syscall.ECONNREFUSED:  "connection refused",
	syscall.ETIMEDOUT:     "timed out",
	syscall.ENOEXEC:       "exec format error",
	syscall.ETXTBSY:       "text busy",
	syscall.ENAMETOOLONG:  "file name too long",
	syscall.ELOOP:         "symbolic link loop",
	syscall.EAGAIN:        "temporary failure",
	syscall.EINVAL:        "invalid argument",
	syscall.EFBIG:         "file too big",
}
