package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"goqmail/internal/errtext"
	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
)

// Qfsck is qmail-qfsck, goqmail's queue checker (hardening.md §3.1 I4,
// §3.7): it checks the queue at ctx.Home for everything qmail-send could
// meet that a healthy queue never holds, and with -f repairs it.
//
//	qmail-qfsck [-f]
//
// It writes one line per problem on standard output:
//
//	qmail-qfsck: PATH: what is wrong; what -f would do
//
// and with -f the same line ends with what was done instead. PATH is
// relative to the queue folder, as in qmail-send's log lines. Exit 0: the
// queue is clean; 1: problems were found (and with -f, repaired, or left
// for qmail-send where it repairs them itself); 111: the queue could not
// be read, a repair failed, or -f met a problem it cannot repair (one
// that needs an administrator).
//
// Repairs are what qmail-send and qmail-clean do on restart (old pid/
// files and messages abandoned by qmail-queue more than 36 hours ago
// removed, missing folders and lock files made), plus: a file in the
// wrong split folder is moved where qmail looks for it, and whatever
// cannot be repaired safely (a todo, info, local or remote file that does
// not parse, a message whose text is missing or empty, recipients
// without an info file, names that are not message numbers) is moved
// into queue/quarantine/ (mode 0700, owned as queue/), never deleted.
// A quarantined file keeps its path: mess/5/28 becomes
// quarantine/mess/5/28 (".1" to ".9" appended if that is taken), so an
// administrator can inspect it and move it back; a quarantined mess file
// keeps its inode, so no new message can be given its number. A message
// is quarantined whole, its mess file first, so that an interrupted run
// never leaves a mess file that the 36-hour sweep would delete.
//
// -f refuses to run while qmail-send runs (qmail-send holds an exclusive
// flock on lock/sendmutex; qmail-qfsck takes the same lock, without
// waiting, and keeps it until it is done, so qmail-send cannot start in
// the middle). Without -f nothing is locked or changed (taking the lock
// even for a moment could make a starting qmail-send give up); a running
// qmail-send may then make a transient state look like a problem. An
// injection in progress (a mess file without todo yet) is always
// reported, with its age, and left alone: qmail-queue may still finish.
//
// Not checked: owners and modes of existing folders and files (a queue
// restored as root); a mess file whose inode is not its number is
// reported but not renumbered.
func Qfsck(ctx *prog.Context) int {
	return QfsckRun(ctx, QfsckOptions{})
}

// QfsckOptions adjust a qmail-qfsck run for tests.
type QfsckOptions struct {
	// Now replaces the clock.
	Now func() time.Time
}

// staleAge is qmail's 36 hours (129600 s): a mess file abandoned by
// qmail-queue, or a pid/ file, older than this is removed.
const staleAge = 129600 * time.Second

// QfsckRun is qmail-qfsck with options.
func QfsckRun(ctx *prog.Context, opt QfsckOptions) int {
	f := &fsck{ctx: ctx, q: queuefs.New(ctx.Home), out: bufio.NewWriter(ctx.Stdout)}
	switch {
	case len(ctx.Args) == 1:
	case len(ctx.Args) == 2 && ctx.Args[1] == "-f":
		f.fix = true
	default:
		return ctx.Usage("qmail-qfsck [-f]")
	}
	f.now = time.Now()
	if opt.Now != nil {
		f.now = opt.Now()
	}
	code := f.run()
	if err := f.out.Flush(); err != nil && code != 111 {
		return ctx.Fatal(111, "unable to write output: %s", errtext.Text(err))
	}
	return code
}

// fsck is one run.
type fsck struct {
	ctx      *prog.Context
	q        queuefs.Queue
	fix      bool
	now      time.Time
	out      *bufio.Writer
	problems int
	failed   bool // a repair failed or cannot be done: exit 111
	ids      *ids.IDs
	mutex    *os.File
	// wrongSplit holds, per kind, files found in the wrong split folder.
	wrongSplit [nKinds][]misplaced
}

func (f *fsck) run() int {
	fi, err := os.Stat(f.q.Dir)
	if err != nil {
		return f.ctx.Fatal(111, "unable to read %s: %s", f.q.Dir, errtext.Text(err))
	}
	if !fi.IsDir() {
		return f.ctx.Fatal(111, "%s is not a folder", f.q.Dir)
	}
	defer func() {
		if f.mutex != nil {
			f.mutex.Close() // releases the flock
		}
	}()
	if err := f.checkLockDir(); err != nil {
		return f.fatal(err)
	}
	if f.fix {
		if code := f.lock(); code != 0 {
			return code
		}
	}
	if err := f.checkLayout(); err != nil {
		return f.fatal(err)
	}
	if err := f.checkPid(); err != nil {
		return f.fatal(err)
	}
	msgs, err := f.scan()
	if err != nil {
		return f.fatal(err)
	}
	for _, n := range msgs.order() {
		f.checkMessage(n, msgs[n])
	}
	switch {
	case f.failed:
		return 111
	case f.problems > 0:
		return 1
	}
	return 0
}

// fatal ends the run on an error that stops the check.
func (f *fsck) fatal(err error) int {
	f.out.Flush()
	return f.ctx.Fatal(111, "%s", err)
}

// lock takes qmail-send's lock, refusing to go on if qmail-send holds it.
func (f *fsck) lock() int {
	p := f.q.Path("lock", "sendmutex")
	m, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		f.out.Flush()
		return f.ctx.Fatal(111, "unable to open %s: %s", p, errtext.Text(err))
	}
	if err := syscall.Flock(int(m.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		m.Close()
		f.out.Flush()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return f.ctx.Fatal(111, "qmail-send is running (it holds lock/sendmutex); stop it before repairing the queue")
		}
		return f.ctx.Fatal(111, "unable to lock %s: %s", p, errtext.Text(err))
	}
	f.mutex = m
	return 0
}

// rel is p relative to the queue folder, as qmail writes queue paths.
func (f *fsck) rel(p string) string {
	if r, err := filepath.Rel(f.q.Dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// action is what -f does about a problem. With fn nil the problem is
// only reported: would is then the whole advice, and human says whether
// it needs an administrator (an exit 111 under -f).
type action struct {
	would string
	fn    func() (did string, err error)
	human bool
}

// report says what is wrong with p and, with -f, repairs it. It returns
// whether the repair was done.
func (f *fsck) report(p, what string, a action) bool {
	f.problems++
	line := "qmail-qfsck: " + safe(f.rel(p), '?') + ": " + what + "; "
	done := false
	switch {
	case a.fn == nil:
		line += a.would
		if a.human && f.fix {
			f.failed = true
		}
	case !f.fix:
		line += a.would
	default:
		did, err := a.fn()
		if err != nil {
			f.failed = true
			line += "unable to repair: " + err.Error()
		} else {
			line += did
			done = true
		}
	}
	f.out.WriteString(line + "\n")
	return done
}

// pathErr words a file-system error as qmail's programs do, with the
// path relative to the queue.
func (f *fsck) pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s", f.rel(pe.Path), errtext.Text(pe.Err))
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return fmt.Errorf("%s to %s: %s", f.rel(le.Old), f.rel(le.New), errtext.Text(le.Err))
	}
	return err
}
