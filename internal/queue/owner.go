package queue

import (
	"os"
	"syscall"

	"goqmail/internal/ids"
)

// becomeOwner gives a qmail-queue that root started for a user-mode
// install the install owner's effective user and group (and no
// supplementary groups), as the setuid bit gives qmailq's in root mode.
//
// A user-mode install has no setuid qmail-queue: its owner runs every
// program. But an administrator, or a cron job, may inject as root (root
// running the quick start's `run/bin/sendmail -t`), and the message's
// files would then be root's: qmail-lspawn defers every delivery of a
// message the queue's owner does not own ("Sorry, message has wrong
// owner. (#4.3.5)") until queuelifetime bounces it. So root acts as the
// owner here. The real uid stays the caller's: the u record and the
// Received line say "invoked by uid 0", as qmail's setuid qmail-queue
// records its caller. Anyone else who is not the owner cannot write the
// queue and gets qmail-queue's usual temporary error.
//
// It changes the whole process (Go applies the calls to every thread),
// so only qmail-queue's own entry points call it, before any file is
// made. A failure is reported as trouble in the home directory (61).
func becomeOwner(home string) int {
	if os.Geteuid() != 0 {
		return ExitOK
	}
	id, err := ids.Load(home)
	if err != nil || !id.UserMode { // a user-mode install is never root's (ids.Load)
		return ExitOK // root mode: the setuid bit did it; Run reports a bad home
	}
	if syscall.Setgroups(nil) != nil ||
		syscall.Setresgid(-1, id.GidQmail, id.GidQmail) != nil ||
		syscall.Setresuid(-1, id.Qmailq, id.Qmailq) != nil {
		return ExitHome
	}
	return ExitOK
}
