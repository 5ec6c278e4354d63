// Package queue is qmail-queue: it puts one message into the queue.
//
// The message arrives on descriptor 0 and the envelope on descriptor 1
// (F sender NUL, T recipient NUL ..., a final NUL). Files are written in
// qmail's order, each step a crash-safe state of spec §1.1:
//
//  1. pid/PID.TIME.K created exclusively; its inode is the message number N;
//  2. linked to mess/N%23/N, the pid name removed;
//  3. the Received line and the message written and fsynced;
//  4. intd/N written with u, p, F and T records and fsynced;
//
// (goqmail makes the two files unnamed in a mess/ folder and names them
// mess/S/N and, once written, intd/N, with no pid/ name: the inodes then
// come from many block groups instead of two; create.go says why.)
//  5. intd/N linked to todo/N: the commit point; todo/ is fsynced;
//  6. a byte written to lock/trigger to wake qmail-send.
//
// Beyond qmail 1.03 (which relied on BSD file systems making names
// durable at once), the folder is fsynced after each name change that a
// later step depends on, so that on ext4 a message is on disk when the
// caller says "250 ok". Envelope addresses holding CR or LF are refused
// (exit 12, a permanent failure): they would break every log and header
// they reach.
//
// The exit codes are qmail's (spec §2): 0 queued; 11 address too long; 12
// (goqmail) CR or LF in an address; 52 timeout; 53 write error; 54 read
// error; 61 home; 62 queue; 63 pid file; 64 mess; 65 intd; 66 todo; 81
// internal bug; 91 envelope format error.
package queue

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"goqmail/internal/datefmt"
	"goqmail/internal/durable"
	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
)

// Exit codes of qmail-queue.
const (
	ExitOK         = 0
	ExitTooLong    = 11
	ExitBadChar    = 12
	ExitTimeout    = 52
	ExitWrite      = 53
	ExitRead       = 54
	ExitHome       = 61
	ExitQueue      = 62
	ExitPid        = 63
	ExitMess       = 64
	ExitIntd       = 65
	ExitTodo       = 66
	ExitBug        = 81
	ExitBadEnvelop = 91
)

// maxAddr is qmail's limit: an address of 1003 bytes or more is refused.
const maxAddr = 1003

// lifetime bounds how long one qmail-queue may take (qmail: 24 hours).
const lifetime = 24 * time.Hour

// Main is qmail-queue; "qmail-queue --worker" is Worker.
func Main(ctx *prog.Context) int {
	if len(ctx.Args) == 2 && ctx.Args[1] == "--worker" {
		return Worker(ctx)
	}
	if code := becomeOwner(ctx.Home); code != ExitOK {
		return code
	}
	msg := ctx.File(0)
	env := ctx.File(1)
	if msg == nil || env == nil {
		return ExitRead
	}
	return Run(ctx.Home, msg, env, Options{})
}

// Options adjust a run: for tests, and for the worker (Worker), which
// loads the ids once and numbers its messages' pid/ names.
type Options struct {
	Now func() time.Time
	PID int
	UID int // the real uid recorded in the u record; 0 means os.Getuid()
	IDs *ids.IDs
	// Number, if set, receives the message number (for in-process callers
	// and tests: qmail-queue's interface has no way to say it).
	Number *uint64
	// Slot makes the pid/ file names of messages queued at once by one
	// process differ (a worker queues many in the same second): the
	// names tried are PID.TIME.K for K from 9×Slot+1 to 9×Slot+9.
	Slot int
	// Dirs coalesces the folder fsyncs of messages queued at the same
	// time (the worker's); nil fsyncs the folders for this message alone.
	Dirs *durable.Group
	// FS, if set, makes the message and intd/N durable together with
	// those of the messages queued at the same time, by one syncfs round
	// (durable.FS) instead of two file and one folder fsync each (the
	// worker's); todo/ is still fsynced through Dirs.
	FS *durable.FS
}

// Run queues the message read from msg with the envelope read from env.
func Run(home string, msg, env io.Reader, opt Options) int {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.PID == 0 {
		opt.PID = os.Getpid()
	}
	uid := opt.UID
	if uid == 0 {
		uid = os.Getuid()
	}
	if fi, err := os.Stat(home); err != nil || !fi.IsDir() {
		return ExitHome
	}
	q := queuefs.New(home)
	if fi, err := os.Stat(q.Dir); err != nil || !fi.IsDir() {
		return ExitQueue
	}
	theIDs := opt.IDs
	if theIDs == nil {
		var err error
		if theIDs, err = ids.Load(home); err != nil {
			return ExitHome
		}
	}
	j := &job{q: q, now: opt.Now(), pid: opt.PID, uid: uid, ids: theIDs, k0: 9 * opt.Slot, dirs: opt.Dirs, fs: opt.FS}
	// The alarm: a hung injector must not keep files open forever.
	var timedOut atomic.Bool
	t := time.AfterFunc(lifetime, func() {
		timedOut.Store(true)
		closeIfCloser(msg)
		closeIfCloser(env)
	})
	defer t.Stop()
	code := j.run(msg, env)
	if opt.Number != nil {
		*opt.Number = j.num
	}
	if code != ExitOK && timedOut.Load() {
		code = ExitTimeout
	}
	return code
}

func closeIfCloser(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

type job struct {
	q    queuefs.Queue
	now  time.Time
	pid  int
	uid  int
	ids  *ids.IDs
	num  uint64
	mess string // path of mess/S/N once linked
	intd string // path of intd/N once created
	// unnamed: the message file was made unnamed and then named (create.go)
	unnamed bool
	k0      int // pid/ file names use K from k0+1 (Options.Slot)
	dirs    *durable.Group
	fs      *durable.FS // nil: fsync each file (Options.FS)
}

// cleanup removes a partly written message (qmail does this on read and
// write errors; other failures leave debris for qmail-send's sweep).
func (j *job) cleanup() {
	if j.intd != "" {
		os.Truncate(j.intd, 0)
		os.Remove(j.intd)
	}
	if j.mess != "" {
		os.Truncate(j.mess, 0)
		os.Remove(j.mess)
	}
}

// messWriters are the message files' 64 KiB write buffers, reused from
// message to message in the worker (a fresh one was a 64 KiB allocation
// to clear and collect per message).
var messWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

func (j *job) run(msgIn, envIn io.Reader) int {
	var tok durable.Token
	if j.fs != nil {
		tok = j.fs.Begin()
	}
	// 1 and 2. The message file, named mess/S/N (create.go).
	pf, code := j.newMess()
	if code != ExitOK {
		return code
	}
	defer pf.Close()

	// 3. Received line and message, fsynced with the folder (or, with
	// j.fs, made durable with intd/N below).
	w := messWriters.Get().(*bufio.Writer)
	w.Reset(pf)
	defer func() {
		w.Reset(nil)
		messWriters.Put(w)
	}()
	fmt.Fprintf(w, "Received: (qmail %d %s); %s\n", j.pid, j.invoked(), datefmt.RFC822(j.now))
	if code := copyMessage(w, msgIn); code != ExitOK {
		j.cleanup()
		return code
	}
	if err := w.Flush(); err != nil {
		j.cleanup()
		return ExitWrite
	}
	if j.fs == nil {
		if err := pf.Sync(); err != nil {
			j.cleanup()
			return ExitWrite
		}
		if err := j.dirs.SyncDir(j.q.Path("mess", strconv.FormatUint(j.num%queuefs.Split, 10))); err != nil {
			j.cleanup()
			return ExitWrite
		}
	}

	// 4. intd/N with the envelope, fsynced.
	if code := j.newIntd(envIn); code != ExitOK {
		return code
	}
	// With j.fs: both files, their data and their names, on disk in one
	// round before the commit point, which is what the fsyncs above and
	// in newIntd give one by one. A failure is a failed fsync.
	if j.fs != nil {
		if err := j.fs.Sync(tok); err != nil {
			j.cleanup()
			return ExitWrite
		}
	}

	// 5. The commit point.
	if err := os.Link(j.intd, j.q.Todo(j.num)); err != nil {
		return ExitTodo
	}
	if err := j.dirs.SyncDir(j.q.Path("todo")); err != nil {
		// The link exists; only its durability is in doubt. qmail-send
		// will deliver it; tell the caller to retry rather than lose it.
		return ExitTodo
	}

	// 6. Wake qmail-send; failure is harmless (it rescans todo/). Raw
	// system calls: as an *os.File the FIFO would be put in the
	// runtime's poller and taken out again, for one byte.
	if t, err := unix.Open(j.q.Trigger(), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
		unix.Write(t, []byte{0})
		unix.Close(t)
	}
	return ExitOK
}

// invoked is the middle of qmail-queue's Received line, chosen by the
// real uid of the caller. In a user-mode install every role has the same
// uid, so the line says "by uid U" there.
func (j *job) invoked() string {
	if !j.ids.UserMode {
		switch j.uid {
		case j.ids.Alias:
			return "invoked by alias"
		case j.ids.Qmaild:
			return "invoked from network"
		case j.ids.Qmails:
			return "invoked for bounce"
		}
	}
	return "invoked by uid " + strconv.Itoa(j.uid)
}

// copyMessage copies the message, telling a read error (54) from a
// write error (53).
func copyMessage(w *bufio.Writer, r io.Reader) int {
	for {
		// Read straight into w's free space (no buffer of its own per
		// message, no second copy).
		if w.Available() == 0 {
			if err := w.Flush(); err != nil {
				return ExitWrite
			}
		}
		buf := w.AvailableBuffer()[:w.Available()]
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return ExitWrite
			}
		}
		if err == io.EOF {
			return ExitOK
		}
		if err != nil {
			return ExitRead
		}
	}
}

// copyEnvelope reads F sender NUL (T rcpt NUL)* NUL from r and writes the
// records (without the final NUL) to w.
func copyEnvelope(w *bufio.Writer, r io.Reader) int {
	br := bufio.NewReader(r)
	first := true
	for {
		c, err := br.ReadByte()
		if err != nil {
			return ExitRead
		}
		if c == 0 && !first {
			return ExitOK
		}
		if first && c != 'F' || !first && c != 'T' {
			return ExitBadEnvelop
		}
		first = false
		w.WriteByte(c)
		n := 0
		for {
			b, err := br.ReadByte()
			if err != nil {
				return ExitRead
			}
			if b == 0 {
				break
			}
			if b == '\r' || b == '\n' {
				return ExitBadChar
			}
			n++
			if n >= maxAddr {
				return ExitTooLong
			}
			w.WriteByte(b)
		}
		if err := w.WriteByte(0); err != nil {
			return ExitWrite
		}
	}
}
