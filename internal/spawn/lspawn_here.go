package spawn

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	"goqmail/internal/localdelivery"
	"goqmail/internal/prog"
	"goqmail/internal/spawnproto"
	"goqmail/internal/userdb"
)

// isOurs says whether bin/NAME is goqmail's own program (prog.IsSelf),
// and the exec path is not forced: then qmail-lspawn runs its work
// in-process (qmail-local, qmail-getpw), as qmail-rspawn does
// qmail-remote's. A wrapper an administrator put at bin/NAME is exec'd
// per delivery as in qmail, and so is ours when the environment holds
// GOQMAIL_FORCE_EXEC=1 (for tests that run both ways and compare).
func isOurs(ctx *prog.Context, name string) bool {
	if ctx.ForceExec() {
		return false
	}
	return prog.IsSelf(filepath.Join(ctx.Home, "bin", name))
}

// deliverHere is one qmail-local run without the exec, on a thread of
// its own that has become the recipient (asUser; a thread kept from the
// same user's last delivery when there is one, see userThreads). Everything qmail-local
// does then happens with the user's rights exactly as in the exec'd
// program: reading .qmail files, writing Maildirs and mbox files, and
// forking |programs and the qmail-queue of a forward, which inherit the
// thread's credentials (the Go runtime makes its new threads from a
// clean template thread, never from this one).
//
// The report is what the exec path makes of qmail-local's output and
// exit code; a panic is reported as a crash of qmail-local.
func (l *lspawn) deliverHere(uid, gid int, args []string, msg *os.File) spawnproto.Report {
	if os.Geteuid() != 0 && uid != os.Geteuid() {
		return z("This install runs without root and can deliver only as its owner. (#4.3.0)\n")
	}
	var rep spawnproto.Report
	dirs := l.dirGroup(uid)
	switch l.threads.run(uid, gid, func() {
		var out bytes.Buffer
		ctx := &prog.Context{
			Args: append([]string{"qmail-local"}, args...), Env: l.e.ctx.Env, Home: l.e.ctx.Home,
			Stdin: msg, Stdout: &out, Stderr: &out,
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

// Outcomes of asUser.
const (
	threadOK    = iota // f ran and returned
	threadMain         // refused: the goroutine landed on the main thread
	threadCreds        // the credentials could not be taken
	threadPanic        // f panicked
)

// asUser runs f on an OS thread of its own that, when this process is
// root, first becomes uid:gid — real, effective and saved ids, and gid as
// the only group, changed for that thread alone with raw system calls —
// and is thrown away afterwards (the goroutine ends locked to it, so the
// Go runtime never reuses it). The thread keeps no root capability, so
// it can neither signal nor trace others; this is stricter than the
// setfsuid of DESIGN.md. Not root (a user-mode install), f runs as the
// caller.
func asUser(uid, gid int, f func()) int {
	ch := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		if syscall.Gettid() == os.Getpid() {
			// The main thread cannot be thrown away (cmd/qmail keeps
			// other goroutines off it; a test binary may not).
			runtime.UnlockOSThread()
			ch <- threadMain
			return
		}
		defer func() {
			if recover() != nil {
				ch <- threadPanic
			}
		}()
		if os.Geteuid() == 0 {
			if err := becomeUser(uid, gid); err != nil {
				ch <- threadCreds
				return
			}
		}
		f()
		ch <- threadOK
	}()
	return <-ch
}

// becomeUser gives the calling thread, and only it, uid and gid with gid
// as its one group, and checks that it took. The raw calls are per
// thread in Linux; Go's syscall.Setuid would change every thread.
func becomeUser(uid, gid int) error {
	groups := []uint32{uint32(gid)}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETGROUPS, 1, uintptr(unsafe.Pointer(&groups[0])), 0); e != 0 {
		return fmt.Errorf("setgroups: %v", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESGID, uintptr(gid), uintptr(gid), uintptr(gid)); e != 0 {
		return fmt.Errorf("setresgid: %v", e)
	}
	if _, _, e := syscall.RawSyscall(syscall.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid: %v", e)
	}
	var r, e, s uint32
	syscall.RawSyscall(syscall.SYS_GETRESUID, uintptr(unsafe.Pointer(&r)), uintptr(unsafe.Pointer(&e)), uintptr(unsafe.Pointer(&s)))
	if int(r) != uid || int(e) != uid || int(s) != uid {
		return fmt.Errorf("still uid %d/%d/%d", r, e, s)
	}
	return nil
}
