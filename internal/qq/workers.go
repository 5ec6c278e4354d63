package qq

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"goqmail/internal/prog"
)

// Workers keeps long-lived qmail-queue workers ("qmail-queue --worker",
// package queue) for the programs a long-lived process runs in-process:
// tcpserver's qmail-smtpd, qmail-qmtpd and qmail-qmqpd sessions. A
// message then costs no fork and exec of the setuid qmail-queue; the
// worker still runs as qmailq, started by the session's user, so the
// queue sees the same uids and files as with one qmail-queue per
// message.
//
// A session whose environment names QMAILQUEUE (a qmail-scanner,
// simscan or spamdyke setup, possibly chosen per client by tcprules)
// gets its own qmail-queue per message as before: Open falls back to the
// exec path. tcpserver makes Workers only when bin/qmail-queue is
// goqmail's own program; a wrapper installed in its place is exec'd.
//
// A worker that dies between messages makes the next message through it
// fail as "qq crashed" (a temporary failure: the client tries again); a
// new worker takes its place.
type Workers struct {
	// MaxIdle is how many idle workers are kept (8); more are told to
	// end. tcpserver sets its -c limit, the most sessions that can
	// hold a worker at once, so that a steady load starts none.
	MaxIdle int
	// IdleTime: a worker unused for longer ends at the next activity
	// of the pool (60 s), so a burst leaves no crowd behind for long.
	IdleTime time.Duration

	home   string
	env    []string
	stderr io.Writer

	mu     sync.Mutex
	idle   []*worker
	closed bool
}

// worker is one running qmail-queue --worker.
type worker struct {
	cmd  *exec.Cmd
	in   *os.File // our end of its descriptor 0
	out  *os.File // our end of its descriptor 1
	used time.Time
}

// NewWorkers makes an empty pool for home; workers start on demand with
// env and stderr.
func NewWorkers(home string, env []string, stderr io.Writer) *Workers {
	return &Workers{MaxIdle: 8, IdleTime: 60 * time.Second, home: home, env: env, stderr: stderr}
}

// OpenCtx starts a qmail-queue for a program's message: a worker of
// ctx.Queue when the long-lived process running the program gave it one
// (and env does not name QMAILQUEUE), else a qmail-queue of its own.
func OpenCtx(ctx *prog.Context, env []string) (*QQ, error) {
	if w, ok := ctx.Queue.(*Workers); ok && w != nil {
		return w.Open(env, ctx.Stderr)
	}
	return Open(ctx.Home, env, ctx.Stderr)
}

// Open is qq.Open through a worker, taken when the message outgrows
// maxPending or is complete (or Pid asks for it).
func (p *Workers) Open(env []string, stderr io.Writer) (*QQ, error) {
	if v, ok := prog.Lookup(env, "QMAILQUEUE"); ok && v != "" {
		return Open(p.home, env, stderr)
	}
	return &QQ{pool: p}, nil
}

// maxPending is how much of a message a QQ keeps in memory before it
// takes a worker. A message that fits (nearly all do) holds a worker
// only for the moments it takes to queue it, not while its client sends
// it, so a few workers serve many sessions; a larger one is streamed to
// a worker from then on, as to a qmail-queue of its own.
const maxPending = 128 << 10

// attach takes a worker for q, if it has none, and sends it what q
// holds so far.
func (q *QQ) attach() error {
	if q.wk != nil {
		return nil
	}
	w, err := q.pool.take()
	if err != nil {
		return err
	}
	q.wk = w
	q.w = bufio.NewWriterSize(frameWriter{w.in}, 64<<10)
	if len(q.pend) > 0 {
		if _, err := q.w.Write(q.pend); err != nil && q.werr == nil {
			q.werr = err
		}
		q.pend = nil
	}
	return nil
}

func (p *Workers) take() (*worker, error) {
	p.mu.Lock()
	p.prune()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return w, nil
	}
	p.mu.Unlock()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd := exec.Command(filepath.Join(p.home, "bin", "qmail-queue"), "--worker")
	cmd.Args[0] = "qmail-queue"
	cmd.Env = p.env
	cmd.Dir = p.home
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p.stderr
	if err := cmd.Start(); err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	inR.Close()
	outW.Close()
	return &worker{cmd: cmd, in: inW, out: outR}, nil
}

// give takes w back after a message, keeping it if there is room.
func (p *Workers) give(w *worker) {
	w.used = time.Now()
	p.mu.Lock()
	p.prune()
	if !p.closed && len(p.idle) < p.MaxIdle {
		p.idle = append(p.idle, w)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	w.end()
}

// prune ends the idle workers unused for longer than IdleTime (the
// oldest are first in p.idle); p.mu is held.
func (p *Workers) prune() {
	cut := time.Now().Add(-p.IdleTime)
	n := 0
	for n < len(p.idle) && p.idle[n].used.Before(cut) {
		p.idle[n].end()
		n++
	}
	p.idle = p.idle[n:]
}

// Close tells every idle worker to end and waits for them; workers in
// use end when their message is done.
func (p *Workers) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, w := range idle {
		w.in.Close()
		w.cmd.Wait()
		w.out.Close()
	}
}

// end closes w's input, which ends it, and reaps it in the background.
func (w *worker) end() {
	w.in.Close()
	go func() {
		w.cmd.Wait()
		w.out.Close()
	}()
}

// broken ends a worker that fell out of step and says what became of
// it, as qq.Close says it of a qmail-queue of its own.
func (w *worker) broken() Result {
	w.in.Close()
	w.cmd.Process.Kill()
	err := w.cmd.Wait()
	w.out.Close()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() != syscall.SIGKILL {
			return Result{Code: -1, Text: "Zqq crashed (#4.3.0)"}
		}
		if c := ee.ExitCode(); c > 0 {
			return Result{Code: c, Text: Text(c)}
		}
	}
	return Result{Code: -1, Text: "Zqq crashed (#4.3.0)"}
}

// frameWriter turns writes into message frames of at most 64 KiB.
type frameWriter struct{ w io.Writer }

func (f frameWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), 64<<10)
		if err := WriteFrame(f.w, FrameMessage, p[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// finishWorker ends a message sent to a worker: the end frame with the
// envelope (or an abort frame when envelope is nil), then the answer.
func (q *QQ) finishWorker(envelope []byte) Result {
	w := q.wk
	var err error
	if envelope == nil {
		// What is still buffered does not matter: the message is dropped.
		err = WriteFrame(w.in, FrameAbort, nil)
	} else if err = q.w.Flush(); err == nil {
		err = WriteFrame(w.in, FrameEnd, envelope)
	}
	var code [1]byte
	if err == nil {
		_, err = io.ReadFull(w.out, code[:])
	}
	if err != nil {
		return w.broken()
	}
	q.pool.give(w)
	c := int(code[0])
	if c == 0 && q.werr != nil {
		c = ExitReadCode
	}
	return Result{Code: c, Text: Text(c)}
}

// ExitReadCode is qmail-queue's "read error" (54).
const ExitReadCode = 54

// envelopeBytes is what qmail-queue reads from descriptor 1.
func envelopeBytes(sender string, rcpts []string) []byte {
	b := append([]byte{'F'}, sender...)
	b = append(b, 0)
	for _, r := range rcpts {
		b = append(b, 'T')
		b = append(b, r...)
		b = append(b, 0)
	}
	return append(b, 0)
}
