// Command qmail is goqmail's one multi-call binary. It runs the program
// it is named as (bin/qmail-smtpd is a link to it) or the one named by
// its first argument ("qmail qmail-smtpd ..."); "qmail help" lists them.
//
// A copy running setuid or setgid (bin/qmail-queue in a root-mode
// install) runs qmail-queue and nothing else, whatever its argv[0] and
// environment say: a setuid program must not let its caller choose what
// it does. (Its caller may choose qmail-queue's worker mode, which only
// queues several messages in one run.)
package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"goqmail/internal/prog"
	"goqmail/internal/start"
)

// init keeps the main goroutine on the process's main thread for the
// whole run, and so every other goroutine off it. qmail-lspawn's
// in-process deliveries give their thread the recipient's uid and throw
// the thread away afterwards; the main thread cannot be thrown away, and
// it is what ps and /proc/PID/status show, so it must never be one of
// them.
func init() {
	nameThreads()
	runtime.LockOSThread()
}

// nameThreads names the process's threads after the program it runs,
// the main thread first (what ps, pgrep and /proc/PID/comm show). The
// kernel names them after the file exec'd, which is bin/qmail when
// qmail-start runs a daemon from the shared image (prog.SharedImage) or
// "qmail" for "qmail PROGRAM ...": an administrator looking for
// qmail-send must still find it by that name. init runs on the main
// thread, and PR_SET_NAME names the calling thread; it comes before
// LockOSThread, whose template thread, which starts the threads of
// locked goroutines, then inherits the name. The runtime's threads
// already running are named through /proc/self/task (which a setuid
// qmail-queue may not write: there only the main thread is named).
func nameThreads() {
	name := ""
	switch {
	case os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid():
		name = "qmail-queue"
	case len(os.Args) > 0 && programs[filepath.Base(os.Args[0])].run != nil:
		name = filepath.Base(os.Args[0])
	case len(os.Args) > 1 && programs[os.Args[1]].run != nil:
		name = os.Args[1]
	default:
		return
	}
	b := append([]byte(name), 0)
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&b[0])), 0, 0, 0)
	runtime.KeepAlive(b)
	self := unix.Gettid()
	for _, tid := range threadIDs() {
		if tid == self {
			continue
		}
		fd, err := unix.Open("/proc/self/task/"+strconv.Itoa(tid)+"/comm", unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Write(fd, []byte(name))
			unix.Close(fd)
		}
	}
}

// threadIDs lists the process's threads from /proc/self/task, with raw
// system calls only: an os.File made in init would start the runtime's
// poller, whose descriptors would then take 3-6 before qmail-start can
// hold them (holdLowFDs), which made qmail-start die at its exec (exit 2,
// TestRootModeStartEveryTime).
func threadIDs() []int {
	fd, err := unix.Open("/proc/self/task", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var ids []int
	buf := make([]byte, 4096)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil || n <= 0 {
			return ids
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, nm := range names {
			if id, err := strconv.Atoi(nm); err == nil {
				ids = append(ids, id)
			}
		}
	}
}

// main runs the program in a goroutine of its own and only waits for
// it: the main goroutine is locked to the main thread (init), and a
// program whose loop ran there would pay a thread hand-off every time it
// blocked and woke (qmail-send's loop, tcpserver's accepts; perf showed
// runtime.startlockedm and stoplockedm among tcpserver's costs on W1).
func main() {
	code := make(chan int, 1)
	go func() { code <- run() }()
	os.Exit(<-code)
}

func run() int {
	home := homeFromExecutable()
	if os.Getuid() != os.Geteuid() || os.Getgid() != os.Getegid() {
		// The one argument that reaches it is qmail-queue's own
		// --worker (package queue): still qmail-queue, only several
		// messages in one run.
		args := []string{"qmail-queue"}
		if len(os.Args) == 2 && os.Args[1] == "--worker" {
			args = append(args, "--worker")
			// A long-lived worker runs on from bin/qmail, the
			// file tcpserver runs from, to share its pages.
			// No return unless it could not.
			if err := prog.ExecSharedQueue(args, os.Environ()); err != nil && err != prog.ErrNotShared {
				fmt.Fprintf(os.Stderr, "qmail-queue: warning: worker runs from its own copy, not bin/qmail: %v\n", err)
			}
		}
		ctx := &prog.Context{
			Args:   args,
			Home:   home,
			Stdin:  os.Stdin,
			Stdout: os.Stdout,
			Stderr: os.Stderr,
			Files:  []*os.File{os.Stdin, os.Stdout, os.Stderr},
		}
		return setuidQueue(ctx)
	}
	args := os.Args
	name := filepath.Base(args[0])
	if _, ok := programs[name]; !ok {
		if len(args) < 2 {
			usage(os.Stderr)
			return 100
		}
		args = args[1:]
		name = args[0]
	}
	switch name {
	case "help", "-h", "--help":
		usage(os.Stdout)
		return 0
	}
	if name == "qmail-start" {
		start.ReexecIfPollerLow()
	}
	main, ok := programs[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "qmail: fatal: no program named %s (qmail help lists them)\n", name)
		return 100
	}
	args[0] = name
	ctx := &prog.Context{
		Args:      args,
		Env:       os.Environ(),
		Home:      home,
		Stdin:     os.Stdin,
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Files:     openFiles(),
		InProcess: inProcess,
	}
	code := main.run(ctx)
	// The wrappers of inherited descriptors live as long as the program:
	// one it uses only by number must not be closed under it.
	runtime.KeepAlive(ctx.Files)
	return code
}

// inProcessable are the programs tcpserver may run as goroutines (see
// prog.Context.InProcess): each serves one connection on its standard
// streams, never exits the process, never touches signals, and keeps no
// state outside its call.
var inProcessable = map[string]bool{"qmail-smtpd": true, "qmail-qmtpd": true, "qmail-qmqpd": true}

func inProcess(name string) (prog.Main, bool) {
	if !inProcessable[name] {
		return nil, false
	}
	e, ok := programs[name]
	return e.run, ok
}

// openFiles returns descriptors 0-9 for the programs that use raw
// descriptors (qmail-send's spawner pipes, qmail-queue's envelope). Only
// a descriptor inherited through exec is wrapped: one without
// close-on-exec. A descriptor that is not open is left nil, and so is one
// with close-on-exec: that is the Go runtime's own (its epoll and event
// descriptors, opened before main runs when os.Stdin is made pollable).
// Wrapped, it would be closed by the garbage collector when the program
// does not use the wrapper — qmail-clean died of exactly that ("epollwait
// on fd 6 failed with 9") with qmail-send after it.
func openFiles() []*os.File {
	files := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	for fd := 3; fd <= 9; fd++ {
		var f *os.File
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		if errno == 0 && flags&syscall.FD_CLOEXEC == 0 {
			f = os.NewFile(uintptr(fd), fmt.Sprintf("fd%d", fd))
		}
		files = append(files, f)
	}
	return files
}

// homeFromExecutable finds qmail's home: the folder holding the bin/
// folder this binary sits in.
func homeFromExecutable() string {
	exe, err := os.Executable()
	if err != nil {
		return "/var/qmail"
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return filepath.Dir(filepath.Dir(exe))
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: qmail PROGRAM [ARGS...], or run as PROGRAM through a link in bin/")
	fmt.Fprintln(w, "programs:")
	names := make([]string, 0, len(programs))
	for n := range programs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, programs[n].help)
	}
}

type entry struct {
	run  prog.Main
	help string
}

// Names lists the programs this binary runs, for install's links.
func names() []string {
	var out []string
	for n := range programs {
		if !strings.HasPrefix(n, "-") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
