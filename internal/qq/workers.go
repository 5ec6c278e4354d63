package qq

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"goqmail/internal/prog"
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
// exec path. tcpserver makes Workers only when bin/qmail-queue is
// goqmail's own program; a wrapper installed in its place is exec'd.
//
// If the worker dies, the messages it had in hand fail as "qq crashed"
// (a temporary failure: their clients try again) and the next Open
// starts a new one.
type Workers struct {
	home   string
	env    []string
	stderr io.Writer

	mu sync.Mutex
	w  *worker
}

// worker is one running qmail-queue --worker.
type worker struct {
	cmd  *exec.Cmd
	sock *net.UnixConn // our end of its descriptor 0
	dead chan struct{} // closed once it has exited
}

// NewWorkers makes a pool for home; the worker starts on demand with env
// and stderr.
func NewWorkers(home string, env []string, stderr io.Writer) *Workers {
	return &Workers{home: home, env: env, stderr: stderr}
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

// Open is qq.Open through the worker.
func (p *Workers) Open(env []string, stderr io.Writer) (*QQ, error) {
	if v, ok := prog.Lookup(env, "QMAILQUEUE"); ok && v != "" {
		return Open(p.home, env, stderr)
	}
	var ends [6]*os.File // message r/w, envelope r/w, result r/w
	for i := 0; i < 6; i += 2 {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(ends[:i])
			return nil, err
		}
		ends[i], ends[i+1] = r, w
	}
	var err error
	for try := 0; try < 2; try++ {
		var w *worker
		if w, err = p.current(); err != nil {
			break
		}
		if err = w.send(ends[0], ends[2], ends[5]); err == nil {
			closeAll([]*os.File{ends[0], ends[2], ends[5]})
			return &QQ{wk: w, msg: ends[1], env: ends[3], res: ends[4], w: bufio.NewWriterSize(ends[1], 64<<10)}, nil
		}
		p.retire(w) // it died since it was last used: start another
	}
	closeAll(ends[:])
	return nil, err
}

// current is the running worker, started if there is none.
func (p *Workers) current() (*worker, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil {
		select {
		case <-p.w.dead:
			p.w = nil
		default:
			return p.w, nil
		}
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
	cmd := exec.Command(filepath.Join(p.home, "bin", "qmail-queue"), "--worker")
	cmd.Args[0] = "qmail-queue"
	cmd.Env = p.env
	cmd.Dir = p.home
	cmd.Stdin, cmd.Stderr = theirs, p.stderr
	if err := cmd.Start(); err != nil {
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

// retire forgets w, which a message could not be handed to, and closes
// its socket: a worker still alive then queues what it already holds and
// exits at the end of its input. Killing it would fail those messages
// too, and one killed after its todo/ link but before its answer would be
// retried by its client and arrive twice.
func (p *Workers) retire(w *worker) {
	p.mu.Lock()
	if p.w == w {
		p.w = nil
	}
	p.mu.Unlock()
	w.sock.Close()
}

// send hands the worker one message's three descriptors.
func (w *worker) send(msg, env, res *os.File) error {
	rights := syscall.UnixRights(int(msg.Fd()), int(env.Fd()), int(res.Fd()))
	_, _, err := w.sock.WriteMsgUnix([]byte{1}, rights, nil)
	return err
}

// Close ends the worker once the messages in its hands are queued, and
// waits for it; an Open after Close starts a new one.
func (p *Workers) Close() {
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

func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}
