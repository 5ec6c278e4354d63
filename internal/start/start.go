// Package start is qmail-start [DEFAULTDELIVERY [LOGGER ARGS...]]: it
// starts qmail-lspawn, qmail-rspawn, qmail-clean and the logger, each as
// its own account, joined to qmail-send by pipes, and then becomes
// qmail-send (spec §5).
//
// qmail-send gets descriptor 0 = the log (the logger's input, or
// qmail-start's own standard output when no logger is named), 1/2 =
// qmail-lspawn's input/output, 3/4 = qmail-rspawn's, 5/6 = qmail-clean's.
//
// Accounts: in root mode qmail-lspawn stays root (group qmail),
// qmail-rspawn runs as qmailr, qmail-clean as qmailq, qmail-send as qmails
// and the logger as qmaill (group nofiles). In a user-mode install every
// process runs as the install's owner; started by root, qmail-start drops
// to that owner first, so qmail never delivers as root.
//
// The daemons are exec'd from bin/qmail when the names they are
// installed as are copies of it with other modes (prog.SharedImage): one
// file's pages in memory for all of them instead of three copies'.
//
// qmail 1.03 printed nothing at all, even on failure; goqmail writes one
// line on standard error when it cannot start, and exits 111.
package start

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/timerslack"
)

type role struct {
	uid, gid int
}

// Main is qmail-start. On success it does not return: it becomes
// qmail-send.
func Main(ctx *prog.Context) int {
	// Kept until the exec: nothing closes them (raw descriptors). First
	// of all: whatever opens a file before (timerslack.Raise reads and
	// writes /proc) may start the runtime's poller, whose epoll and event
	// descriptors would then take free numbers among 3-6, and becomeSend
	// puts qmail-send's pipes there; a poll of the runtime between that
	// and the exec then fails and the process dies with exit 2, silently
	// (descriptor 2 is no longer standard error). Raise ran first from
	// 2026-12-02 to 12-03 and qmail-start died so in about one CI run in four.
	holdLowFDs()
	// Every child is forked, and qmail-send exec'd, from this thread:
	// with its timer slack raised they all start with it (timerslack).
	runtime.LockOSThread()
	timerslack.Raise()
	ctx.Env = withoutReexecFlag(ctx.Env) // not for the children or qmail-send
	dd := "./Mailbox"
	var logger []string
	if len(ctx.Args) > 1 {
		dd = ctx.Args[1]
	}
	if len(ctx.Args) > 2 {
		logger = ctx.Args[2:]
	}
	theIDs, err := ids.Load(ctx.Home)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	root := os.Geteuid() == 0
	var lspawn, rspawn, clean, send, logr role
	if theIDs.UserMode {
		owner := role{theIDs.Qmails, theIDs.GidQmail}
		if !root && os.Geteuid() != owner.uid {
			return ctx.Fatal(111, "this user-mode install belongs to uid %d, not to uid %d", owner.uid, os.Geteuid())
		}
		lspawn, rspawn, clean, send, logr = owner, owner, owner, owner, owner
	} else {
		if !root {
			return ctx.Fatal(111, "a root-mode install must be started by root")
		}
		lspawn = role{0, theIDs.GidQmail}
		rspawn = role{theIDs.Qmailr, theIDs.GidQmail}
		clean = role{theIDs.Qmailq, theIDs.GidQmail}
		send = role{theIDs.Qmails, theIDs.GidQmail}
		logr = role{theIDs.Qmaill, theIDs.GidNofiles}
	}
	syscall.Umask(0o077)
	bin := filepath.Join(ctx.Home, "bin")

	var fds [7]*os.File // qmail-send's descriptors 0..6
	fds[0] = ctx.File(1)
	if fds[0] == nil {
		return ctx.Fatal(111, "no standard output for the log")
	}
	if logger != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return ctx.Fatal(111, "unable to create pipe: %v", err)
		}
		path, err := lookPath(ctx.Env, logger[0])
		if err != nil {
			return ctx.Fatal(111, "unable to find logger %s: %v", logger[0], err)
		}
		if err := startChild(ctx, path, logger, r, ctx.File(1), logr, root); err != nil {
			return ctx.Fatal(111, "unable to start logger %s: %v", logger[0], err)
		}
		r.Close()
		fds[0] = w
	}
	children := []struct {
		name string
		args []string
		who  role
	}{
		{"qmail-lspawn", []string{"qmail-lspawn", dd}, lspawn},
		{"qmail-rspawn", []string{"qmail-rspawn"}, rspawn},
		{"qmail-clean", []string{"qmail-clean"}, clean},
	}
	for i, c := range children {
		inR, inW, err := os.Pipe()
		if err != nil {
			return ctx.Fatal(111, "unable to create pipe: %v", err)
		}
		outR, outW, err := os.Pipe()
		if err != nil {
			return ctx.Fatal(111, "unable to create pipe: %v", err)
		}
		if err := startChild(ctx, prog.SharedImage(bin, c.name), c.args, inR, outW, c.who, root); err != nil {
			return ctx.Fatal(111, "unable to start %s: %v", c.name, err)
		}
		inR.Close()
		outW.Close()
		fds[1+2*i] = inW
		fds[2+2*i] = outR
	}
	return becomeSend(ctx, prog.SharedImage(bin, "qmail-send"), fds, send, root)
}

func startChild(ctx *prog.Context, path string, args []string, stdin, stdout *os.File, who role, root bool) error {
	cmd := exec.Command(path, args[1:]...)
	cmd.Args = args
	cmd.Env = ctx.Env
	cmd.Dir = "/"
	cmd.Stdin = stdin
	cmd.Stdout = stdout
	cmd.Stderr = ctx.Stderr
	if root {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(who.uid), Gid: uint32(who.gid), Groups: []uint32{uint32(who.gid)},
		}}
	}
	return cmd.Start()
}

// holdLowFDs keeps descriptors 3-9 taken (close-on-exec) while
// qmail-start works, so that every descriptor it or the Go runtime opens
// meanwhile (the runtime's epoll and event descriptors at the first
// pipe, the children's pidfds) gets a number above 9. becomeSend then
// puts the pipes on 0-6 over nothing of the runtime's. Put on the
// runtime's epoll descriptor, a pipe broke the runtime in the moment
// before the exec: "epollwait on fd 6 failed", qmail-start dying with
// exit 2 in about half the starts under load.
//
// The runtime opens some descriptors before main: its cgroup files
// (harmless to replace: it reads them with pread, which fails on a pipe)
// and, when standard input, output or error is non-blocking, its epoll
// and event descriptors: those last two, found among 3-6, make qmail-start
// clear O_NONBLOCK on 0-2 and exec itself once more before it starts
// (ReexecIfPollerLow), where the runtime then has no reason to open them
// early.
//
// The copies are of descriptor 0, 1 or 2, which the Go runtime makes
// sure are open before main (it opens /dev/null on them, or aborts); it
// returns the descriptors it holds (for the test).
func holdLowFDs() []int {
	var held []int
	for fd := 3; fd <= 9; fd++ {
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); errno != syscall.EBADF {
			continue
		}
		for src := 0; src <= 2; src++ {
			if syscall.Dup3(src, fd, syscall.O_CLOEXEC) == nil {
				held = append(held, fd)
				break
			}
		}
	}
	return held
}

// reexecFlag is set in the environment of qmail-start's second start
// (ReexecIfPollerLow); qmail-send does not get it.
const reexecFlag = "GOQMAIL_START_REEXEC"

// ReexecIfPollerLow is for the process that is about to run qmail-start
// (cmd/qmail, before anything else): when the runtime's epoll or event
// descriptor is among 3-6 (standard input, output or error was
// non-blocking), it clears O_NONBLOCK on 0-2 and execs the program again,
// once, so that holdLowFDs can keep 3-9 for becomeSend.
func ReexecIfPollerLow() {
	if !pollerLow() || os.Getenv(reexecFlag) != "" {
		return
	}
	for fd := 0; fd <= 2; fd++ {
		syscall.SetNonblock(fd, false)
	}
	if exe, err := os.Executable(); err == nil {
		syscall.Exec(exe, os.Args, append(os.Environ(), reexecFlag+"=1"))
	}
	// The exec failed: go on, with the short risk becomeSend takes.
}

// pollerLow says whether the runtime's epoll or event descriptor is among
// 3-6.
func pollerLow() bool {
	for fd := 3; fd <= 6; fd++ {
		l, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
		if err == nil && (l == "anon_inode:[eventpoll]" || l == "anon_inode:[eventfd]") {
			return true
		}
	}
	return false
}

// becomeSend moves the pipes to descriptors 0-6, takes qmail-send's
// account and execs qmail-send, as qmail-start does. The account is
// taken first and the descriptors moved last, right before the exec,
// over the ones holdLowFDs kept (released just before).
func becomeSend(ctx *prog.Context, path string, fds [7]*os.File, who role, root bool) int {
	if root {
		if err := syscall.Setgroups([]int{who.gid}); err != nil {
			return ctx.Fatal(111, "unable to set groups: %v", err)
		}
		if err := syscall.Setgid(who.gid); err != nil {
			return ctx.Fatal(111, "unable to set gid: %v", err)
		}
		if err := syscall.Setuid(who.uid); err != nil {
			return ctx.Fatal(111, "unable to set uid: %v", err)
		}
	}
	// Keep a copy of standard error: descriptor 2 is about to be reused.
	errfd, _, _ := syscall.Syscall(syscall.SYS_FCNTL, 2, syscall.F_DUPFD_CLOEXEC, 20)
	var high [7]int
	for i, f := range fds {
		n, _, errno := syscall.Syscall(syscall.SYS_FCNTL, f.Fd(), syscall.F_DUPFD_CLOEXEC, 20)
		if errno != 0 {
			return ctx.Fatal(111, "unable to move descriptor: %v", errno)
		}
		high[i] = int(n)
	}
	// The held descriptors are replaced by dup3 at once (3-6) or closed
	// by the exec (7-9, close-on-exec): none is ever free meanwhile.
	runtime.LockOSThread()
	stderr := os.NewFile(errfd, "stderr")
	for i, h := range high {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_DUP3, uintptr(h), uintptr(i), 0); errno != 0 {
			fmt.Fprintf(stderr, "qmail-start: fatal: unable to move descriptor: %v\n", errno)
			return 111
		}
	}
	err := syscall.Exec(path, []string{"qmail-send"}, ctx.Env)
	runtime.KeepAlive(fds)
	fmt.Fprintf(stderr, "qmail-start: fatal: unable to run qmail-send: %v\n", err)
	return 111
}

// withoutReexecFlag is env without holdLowFDs' mark.
func withoutReexecFlag(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, reexecFlag+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// lookPath finds a program as execvp does, with PATH from env.
func lookPath(env []string, name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path, _ := prog.Lookup(env, "PATH")
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in PATH")
}
