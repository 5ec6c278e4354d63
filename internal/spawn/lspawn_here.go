package spawn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"

	"goqmail/internal/localdelivery"
	"goqmail/internal/prog"
	"goqmail/internal/spawnproto"
	"goqmail/internal/userdb"
)

// isOurs says whether bin/NAME is goqmail's own program
// (prog.IsInstalledSelf: this program, or the same file as this daemon's
// own name when qmail-start ran it from bin/qmail), and the exec path is
// not forced: then qmail-lspawn runs its work
// in-process (qmail-local, qmail-getpw), as qmail-rspawn does
// qmail-remote's. A wrapper an administrator put at bin/NAME is exec'd
// per delivery as in qmail, and so is ours when the environment holds
// GOQMAIL_FORCE_EXEC=1 (for tests that run both ways and compare).
func isOurs(ctx *prog.Context, name string) bool {
	if ctx.ForceExec() {
		return false
	}
	return prog.IsInstalledSelf(filepath.Join(ctx.Home, "bin"), filepath.Base(ctx.Args[0]), name)
}

// deliverHere is one qmail-local run without the exec, on a thread of
// its own that has become the recipient for the file system (becomeUser;
// a thread kept from the same user's last delivery when there is one, see
// userThreads). Everything qmail-local does then happens with the user's
// rights exactly as in the exec'd program: reading .qmail files, writing
// Maildirs and mbox files; the |programs and the qmail-queue of a forward
// are started with the user's uid, gid and group (prog.Context.Cred).
//
// The report is what the exec path makes of qmail-local's output and
// exit code; a panic is reported as a crash of qmail-local.
func (l *lspawn) deliverHere(uid, gid int, args []string, msg *os.File) spawnproto.Report {
	if os.Geteuid() != 0 && uid != os.Geteuid() {
		return z("This install runs without root and can deliver only as its owner. (#4.3.0)\n")
	}
	var rep spawnproto.Report
	dirs := l.dirGroup(uid)
	var cred *syscall.Credential // children as the user (becomeUser)
	if os.Geteuid() == 0 {
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}
	}
	switch l.threads.run(uid, gid, func() {
		var out bytes.Buffer
		ctx := &prog.Context{
			Args: append([]string{"qmail-local"}, args...), Env: l.e.ctx.Env, Home: l.e.ctx.Home,
			Stdin: msg, Stdout: &out, Stderr: &out, Cred: cred,
		}
		code := localdelivery.RunDirs(ctx, dirs)
		rep = localReport(code, cutReport(out.Bytes()))
	}) {
	case threadOK:
		return rep
	case threadMain:
		return l.deliverExec(uid, gid, args, msg)
	case threadPanic:
		return z("qmail-local crashed.\n")
	}
	return z("Unable to run qmail-local.\n")
}

// getpwHere is qmail-getpw without the exec: userdb.GetpwInHome on a
// thread that has become qmailp, as the exec'd qmail-getpw runs, with the
// same results (an exit code becomes the report qmail-lspawn makes of
// it).
func (l *lspawn) getpwHere(local string) (userdb.Entry, *spawnproto.Report) {
	var ent userdb.Entry
	var code int
	switch l.threads.run(l.e.ids.Qmailp, l.e.ids.GidNofiles, func() {
		ent, code, _ = userdb.GetpwInHome(l.e.ctx.Home, local, l.passwd.Read, userdb.StatOwner)
	}) {
	case threadOK:
		if code != 0 {
			r := localReport(code, nil)
			return userdb.Entry{}, &r
		}
		return ent, nil
	case threadMain:
		return l.getpwExec(local)
	}
	r := z("Unable to run qmail-getpw.\n")
	return userdb.Entry{}, &r
}

// Outcomes of userThreads.run.
const (
	threadOK    = iota // f ran and returned
	threadMain         // refused: the goroutine landed on the main thread
	threadCreds        // the credentials could not be taken
	threadPanic        // f panicked
)

// becomeUser makes the calling thread, and only it, uid:gid for the file
// system: its file-system uid and gid (setfsuid, setfsgid) and its groups
// (gid alone), as DESIGN.md says, through raw calls that Linux applies
// per thread (Go's syscall.Setuid would change every thread). Files are
// then read, created and owned as the user, and the kernel drops the
// file capabilities (DAC override and the like) from the thread.
//
// Its real and saved uid stay root's, on purpose: Linux lets a user
// signal, or set the limits of, any thread whose real or saved uid is
// his, and a signal sent to a thread reaches the whole process. Given
// the user's real uid too, a delivery thread let that user stop or kill
// qmail-lspawn, or lower its limits, from his own |program. So children
// do not inherit the user from the thread: they are started with the
// user's ids (prog.Context.Cred).
func becomeUser(uid, gid int) error {
	groups := []uint32{uint32(gid)}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups: %v", e)
	}
	// setfsgid and setfsuid return the previous value and no error:
	// asked again, they tell whether it took.
	syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(gid), 0, 0)
	if g, _, _ := syscall.RawSyscall(syscall.SYS_SETFSGID, uintptr(gid), 0, 0); int(g) != gid {
		return fmt.Errorf("still fsgid %d", g)
	}
	syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(uid), 0, 0)
	if u, _, _ := syscall.RawSyscall(syscall.SYS_SETFSUID, uintptr(uid), 0, 0); int(u) != uid {
		return fmt.Errorf("still fsuid %d", u)
	}
	return nil
}
