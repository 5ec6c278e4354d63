package qq

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"goqmail/internal/prog"
	"goqmail/internal/timerslack"
)

// Workers keeps one long-lived qmail-queue ("qmail-queue --worker",
// package queue) for the programs a long-lived process runs in-process:
// tcpserver's qmail-smtpd, qmail-qmtpd and qmail-qmqpd sessions. A
// message then costs no fork and exec of the setuid qmail-queue: Open
// makes the three pipes an exec'd qmail-queue would get (message,
// envelope, and one for its exit code) and hands their far ends to the
// worker over a Unix socket; the worker queues each message in a
// goroutine of its own, still as qmailq, started by the session's user,
// so the queue sees the same uids and files as with one qmail-queue per
// message. One process serves every session at once.
//
// A session whose environment names QMAILQUEUE (a qmail-scanner,
// simscan or spamdyke setup, possibly chosen per client by tcprules)
// gets its own qmail-queue per message as before: Open falls back to the
// exec path. So does every session while bin/qmail-queue is not
// goqmail's own program: a wrapper an administrator installs there, even
// while tcpserver runs, is exec'd for the next message, as under qmail,
// where qmail-smtpd execs bin/qmail-queue afresh for each one — never
// started as a worker with --worker. Open looks at bin/qmail-queue
// before each message (one stat); when the file is not the one last
// examined it asks prog.IsSelf again, and a worker started from the old
// file is retired (it queues what it holds and exits). The file is
// first examined by NewWorkers, which tcpserver calls before it drops
// to -u: a root-mode install's setuid copy is mode 04711, which qmaild
// may run but not read, so later a file of the same device, inode, size,
// mtime, mode and owner is taken as the one examined then (any write,
// rename, chmod or chown changes one of them; a hard link made elsewhere
// does not: see fileID). A changed file that cannot be read is not known
// to be ours and is exec'd.
//
// If the worker dies, the messages it had in hand fail as "qq crashed"
// (a temporary failure: their clients try again) and the next Open
// starts a new one.
//
// NewWorkers' value serves every caller alike; With gives the view of
// one session, whose messages are committed only when its Gate says yes.
type Workers struct {
	pool *pool
	gate Gate // nil: none
}

// pool is what the views of one Workers share.
type pool struct {
	home   string
	env    []string
	stderr io.Writer
	prog   string // HOME/bin/qmail-queue

	mu       sync.Mutex
	w        *worker
	seen     fileID // bin/qmail-queue as last examined (zero: missing)
	examined bool   // seen is set (a missing file at start is said too)
	ours     bool   // whether that file is goqmail's own
}

// Gate is how the long-lived process running a session learns when
// the session is committing a message, the part of queueing that must
// not be cut: once the envelope is handed over, qmail-queue may queue
// the message, and its client must then be told so. Close calls Commit
// before it hands over the envelope and, if that said yes, Committed
// once qmail-queue's answer is in. A Commit that says no (the process is
// stopping) makes Close abort the message instead, as if the envelope
// never came: qmail-queue removes what it wrote, and Close returns
// exit code 54 ("qq read error"), a temporary failure.
type Gate interface {
	Commit() bool
	Committed()
}

// worker is one running qmail-queue --worker.
type worker struct {
	cmd  *exec.Cmd
	sock *net.UnixConn // our end of its descriptor 0
	dead chan struct{} // closed once it has exited
}

// NewWorkers makes a pool for home; the worker starts on demand with env
// and stderr. It examines bin/qmail-queue at once (see Workers), so it
// is best called while the caller may still read that file.
func NewWorkers(home string, env []string, stderr io.Writer) *Workers {
	p := &pool{home: home, env: env, stderr: stderr, prog: filepath.Join(home, "bin", "qmail-queue")}
	p.mu.Lock()
	p.examine(statID(p.prog))
	p.mu.Unlock()
	return &Workers{pool: p}
}

// With is p as one session sees it: the same worker, with g asked
// before each of the session's messages is committed.
func (p *Workers) With(g Gate) *Workers {
	return &Workers{pool: p.pool, gate: g}
}

// OpenCtx starts a qmail-queue for a program's message: through the
// worker of ctx.Queue when the long-lived process running the program
// gave it one (and env does not name QMAILQUEUE), else a qmail-queue of
// its own.
func OpenCtx(ctx *prog.Context, env []string) (*QQ, error) {
	if w, ok := ctx.Queue.(*Workers); ok && w != nil {
		return w.Open(env, ctx.Stderr)
	}
	return Open(ctx.Home, env, ctx.Stderr)
}

// Open is qq.Open through the worker, or qq.Open itself when env names
// QMAILQUEUE or bin/qmail-queue is not goqmail's own.
func (p *Workers) Open(env []string, stderr io.Writer) (*QQ, error) {
	q, err := p.pool.open(env, stderr)
	if q != nil {
		q.gate = p.gate
	}
	return q, err
}

func (p *pool) open(env []string, stderr io.Writer) (*QQ, error) {
	if v, ok := prog.Lookup(env, "QMAILQUEUE"); ok && v != "" {
		return Open(p.home, env, stderr)
	}
	// The three pipes are made as raw descriptors, non-blocking from the
	// start: the worker's ends go to it as they are and are closed here,
	// never wrapped; only ours become *os.File (in the poller). os.Pipe
	// would put all six in the poller, and Fd() make the worker's
	// blocking again before sending: about twenty system calls more per
	// message (issue 8).
	ends := [6]int{-1, -1, -1, -1, -1, -1} // message r/w, envelope r/w, result r/w
	var err error
	for try := 0; try < 2; try++ {
		var w *worker
		if w, err = p.current(); err != nil {
			break
		}
		if w == nil {
			closeFDs(ends[:])
			return Open(p.home, env, stderr)
		}
		for i := 0; i < 6 && ends[i] < 0; i += 2 {
			if perr := unix.Pipe2(ends[i:i+2], unix.O_CLOEXEC|unix.O_NONBLOCK); perr != nil {
				closeFDs(ends[:])
				return nil, os.NewSyscallError("pipe2", perr)
			}
		}
		if err = w.send(ends[0], ends[2], ends[5]); err == nil {
			closeFDs([]int{ends[0], ends[2], ends[5]})
			msg := os.NewFile(uintptr(ends[1]), "message")
			return &QQ{wk: w, msg: msg, env: os.NewFile(uintptr(ends[3]), "envelope"),
				res: os.NewFile(uintptr(ends[4]), "result"), w: messageWriter(msg)}, nil
		}
		p.retire(w) // it died since it was last used: start another
	}
	closeFDs(ends[:])
	return nil, err
}

// closeFDs closes the descriptors that are not -1.
func closeFDs(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// current is the running worker, started if there is none; nil (and no
// error) when bin/qmail-queue is not goqmail's own, and a worker started
// from an earlier bin/qmail-queue is then retired.
func (p *pool) current() (*worker, error) {
	id, err := statID(p.prog) // outside the lock: every session's messages come here
	p.mu.Lock()
	defer p.mu.Unlock()
	changed := p.examine(id, err)
	if p.w != nil {
		select {
		case <-p.w.dead:
			p.w = nil
		default:
			if !changed {
				return p.w, nil
			}
			p.w.sock.Close() // see retire
			p.w = nil
		}
	}
	if !p.ours {
		return nil, nil
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "qmail-queue worker"), os.NewFile(uintptr(fds[1]), "qmail-queue worker")
	defer theirs.Close()
	c, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.prog, "--worker")
	cmd.Args[0] = "qmail-queue"
	cmd.Env = p.env
	cmd.Dir = p.home
	cmd.Stdin, cmd.Stderr = theirs, p.stderr
	// The worker is a daemon: it starts with a daemon's timer slack.
	if err := timerslack.Start(cmd); err != nil {
		c.Close()
		return nil, err
	}
	w := &worker{cmd: cmd, sock: c.(*net.UnixConn), dead: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(w.dead)
	}()
	p.w = w
	return w, nil
}

// examine takes what statID said of bin/qmail-queue and says whether it
// is another file than when last examined; p.ours then says whether it
// is goqmail's own. The caller holds p.mu.
func (p *pool) examine(id fileID, err error) (changed bool) {
	if err != nil {
		id = fileID{}
	}
	if id == p.seen && p.examined {
		return false
	}
	was := p.ours || !p.examined
	p.seen, p.examined = id, true
	p.ours = err == nil && prog.IsSelf(p.prog)
	if !p.ours && was && p.stderr != nil {
		// Say so once per change: an administrator wondering why the
		// queue got slower (a qmail-queue per message) learns why here.
		why := "is not this program's own qmail-queue (another program, or goqmail upgraded since start: restart to use the worker again)"
		if err != nil {
			why = "cannot be examined: " + err.Error()
		} else if r, rerr := os.Open(p.prog); rerr != nil {
			// A root-mode setuid copy replaced while tcpserver ran as
			// -u: it may well be goqmail's, but it cannot be read to
			// tell.
			why = "cannot be read to check that it is goqmail's own (restart tcpserver to use the worker again)"
		} else {
			r.Close()
		}
		fmt.Fprintf(p.stderr, "tcpserver: warning: %s %s: it is run once per message\n", p.prog, why)
	}
	return true
}

// fileID tells one version of a file from another without reading it:
// its inode, size and mtime (new contents), mode and owner (a setuid bit
// taken away). Not its ctime or link count: a hard link made elsewhere
// (perf's build-id cache under /root/.debug, a backup tool) changes those
// and nothing else, and a root-mode tcpserver running as -u, which cannot
// read the setuid copy to check it again, would then exec a qmail-queue
// per message until restarted.
type fileID struct {
	dev, ino uint64
	size     int64
	mtime    syscall.Timespec
	mode     uint32
	uid, gid uint32
}

func statID(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, errors.New("no stat")
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: st.Size, mtime: st.Mtim, mode: st.Mode, uid: st.Uid, gid: st.Gid}, nil
}

// retire forgets w, which a message could not be handed to, and closes
// its socket: a worker still alive then queues what it already holds and
// exits at the end of its input. Killing it would fail those messages
// too, and one killed after its todo/ link but before its answer would be
// retried by its client and arrive twice.
func (p *pool) retire(w *worker) {
	p.mu.Lock()
	if p.w == w {
		p.w = nil
	}
	p.mu.Unlock()
	w.sock.Close()
}

// send hands the worker one message's three descriptors.
func (w *worker) send(msg, env, res int) error {
	rights := syscall.UnixRights(msg, env, res)
	_, _, err := w.sock.WriteMsgUnix([]byte{1}, rights, nil)
	return err
}

// Close ends the worker once the messages in its hands are queued, and
// waits for it; an Open after Close starts a new one. It is for the
// owner of the pool: it ends the worker of every view.
func (p *Workers) Close() {
	p.pool.close()
}

func (p *pool) close() {
	p.mu.Lock()
	w := p.w
	p.w = nil
	p.mu.Unlock()
	if w != nil {
		w.sock.Close()
		<-w.dead
	}
}

// Pid is the worker's process id.
func (w *worker) Pid() int { return w.cmd.Process.Pid }

// result reads the worker's answer for one message: its exit code, or
// "qq crashed" when the worker died before giving one.
func (q *QQ) result() Result {
	var b [1]byte
	_, err := io.ReadFull(q.res, b[:])
	q.res.Close()
	if err != nil {
		return Result{Code: -1, Text: "Zqq crashed (#4.3.0)"}
	}
	code := int(b[0])
	if code == 0 && q.werr != nil {
		code = 54
	}
	return Result{Code: code, Text: Text(code)}
}
