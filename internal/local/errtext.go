package local

import (
	"errors"
	"syscall"
)

// errText is the short reason qmail puts after "Unable to ...: " in a
// delivery report. The common causes use the wording qmail's reports
// have always used (administrators grep their logs and bounces for "out
// of disk space"); anything else uses the system's text.
func errText(err error) string {
	var en syscall.Errno
	if !errors.As(err, &en) {
		return err.Error()
	}
	switch en {
	case syscall.ENOENT:
		return "file does not exist"
	case syscall.EACCES, syscall.EPERM:
		return "access denied"
	case syscall.ENOSPC:
		return "out of disk space"
	case syscall.EDQUOT:
		return "disk quota exceeded"
	case syscall.EIO:
		return "input/output error"
	case syscall.EROFS:
		return "read-only file system"
	case syscall.EISDIR:
		return "is a directory"
	case syscall.ENOTDIR:
		return "not a directory"
	case syscall.EAGAIN:
		return "temporary failure"
	case syscall.ENOMEM:
		return "out of memory"
	case syscall.EFBIG:
		return "file too big"
	}
	return en.Error()
}

// absent says whether an open or stat error means "there is no such
// file" (skip this candidate) rather than "cannot tell now" (defer).
// qmail 1.03 deferred only on errors it classed as temporary and on
// EPERM/EACCES, and skipped everything else; goqmail defers on every
// error it does not know to mean absence, so that an odd error can never
// send mail to a -default file or bounce it by mistake.
func absent(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) ||
		errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENAMETOOLONG)
}
