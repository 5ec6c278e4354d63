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
)

// localInProcess says whether qmail-lspawn runs qmail-local's work
// itself (deliverHere) instead of exec'ing bin/qmail-local: it does when
// bin/qmail-local is goqmail's own program (an administrator's wrapper
// there is exec'd per delivery, as qmail does) and the environment does
// not hold GOQMAIL_FORCE_EXEC=1 (for tests that run both ways).
func localInProcess(ctx *prog.Context) bool {
	return isOurs(ctx, "qmail-local")
}

// isOurs says whether bin/NAME is goqmail's own program (prog.IsSelf),
// and the exec path is not forced.
func isOurs(ctx *prog.Context, name string) bool {
	if v, _ := ctx.Getenv("GOQMAIL_FORCE_EXEC"); v == "1" {
		return false
	}
	return prog.IsSelf(filepath.Join(ctx.Home, "bin", name))
}

// deliverHere is one qmail-local run without the exec: on an OS thread
// of its own that first becomes the recipient — real, effective and
// saved uid and gid, and the gid as the only group, changed for that
// thread alone with raw system calls — and is thrown away afterwards
// (the goroutine ends locked to it, so the Go runtime never reuses it).
// Everything qmail-local does then happens with the user's rights
// exactly as in the exec'd program: reading .qmail files, writing
// Maildirs and mbox files, and forking |programs and the qmail-queue of
// a forward, which inherit the thread's credentials (the Go runtime
// makes its own new threads from a clean template thread, never from
// this one). This is stricter than DESIGN.md's setfsuid: the thread
// keeps no root capability at all, so it cannot signal or ptrace others.
//
// The report is what the exec path makes of qmail-local's output and
// exit code; a panic is reported as a crash of qmail-local.
func (l *lspawn) deliverHere(uid, gid int, args []string, msg *os.File) spawnproto.Report {
	ch := make(chan spawnproto.Report, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		if syscall.Gettid() == os.Getpid() {
			// The main thread cannot be thrown away (cmd/qmail keeps
			// other goroutines off it; a test binary may not).
			runtime.UnlockOSThread()
			ch <- l.deliverExec(uid, gid, args, msg)
			return
		}
		defer func() {
			if r := recover(); r != nil {
				ch <- z("qmail-local crashed.\n")
			}
		}()
		if os.Geteuid() == 0 {
			if err := becomeUser(uid, gid); err != nil {
				ch <- z("Unable to run qmail-local.\n")
				return
			}
		} else if uid != os.Geteuid() {
			ch <- z("This install runs without root and can deliver only as its owner. (#4.3.0)\n")
			return
		}
		var out bytes.Buffer
		ctx := &prog.Context{
			Args: append([]string{"qmail-local"}, args...), Env: l.e.ctx.Env, Home: l.e.ctx.Home,
			Stdin: msg, Stdout: &out, Stderr: &out,
		}
		code := localdelivery.Run(ctx)
		ch <- localReport(code, cutReport(out.Bytes()))
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
