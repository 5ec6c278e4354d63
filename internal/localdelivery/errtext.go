package localdelivery

import (
	"errors"
	"syscall"

	"goqmail/internal/errtext"
)

// errText is the short reason qmail puts after "Unable to ...: " in a
// delivery report (administrators grep their logs and bounces for "out
// of disk space").
func errText(err error) string { return errtext.Text(err) }

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
