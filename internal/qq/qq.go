// Package qq hands a message to qmail-queue, as qmail's qmail.c does for
// every injector (qmail-smtpd, qmail-inject, qmail-local forwards,
// qmail-send bounces): start qmail-queue with the message on its fd 0 and
// the envelope on its fd 1, write the message, then the envelope, and turn
// its exit code into qmail's one-line result.
//
// If QMAILQUEUE is set in the caller's environment, that program is run
// instead of HOME/bin/qmail-queue, as netqmail and every qmail-scanner,
// simscan or spamdyke setup expect.
package qq

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"goqmail/internal/addr"
	"goqmail/internal/prog"
)

// QQ is one running qmail-queue.
type QQ struct {
	cmd  *exec.Cmd
	msg  *os.File // our end of the message pipe
	env  *os.File // our end of the envelope pipe
	w    *bufio.Writer
	werr error
	done bool

	// Through a worker (workers.go) instead of cmd: the worker, and the
	// pipe its answer comes on.
	wk  *worker
	res *os.File

	// gate, if set, is asked before the envelope is handed over
	// (Workers.With).
	gate Gate
}

// Program returns the path of the qmail-queue to run for env.
func Program(home string, env []string) string {
	if p, ok := prog.Lookup(env, "QMAILQUEUE"); ok && p != "" {
		return p
	}
	return filepath.Join(home, "bin", "qmail-queue")
}

// Open starts qmail-queue. An error means it could not be started; qmail
// callers answer that with "qqt failure".
func Open(home string, env []string, stderr io.Writer) (*QQ, error) {
	return OpenAs(home, env, stderr, nil)
}

// OpenAs is Open with the qmail-queue started as cred (nil: as this
// process), for a caller whose own real ids are not the sender's
// (prog.Context.Cred).
func OpenAs(home string, env []string, stderr io.Writer, cred *syscall.Credential) (*QQ, error) {
	mr, mw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	er, ew, err := os.Pipe()
	if err != nil {
		mr.Close()
		mw.Close()
		return nil, err
	}
	cmd := exec.Command(Program(home, env))
	// argv[0] is the program's own name: a QMAILQUEUE naming one of our
	// links (bin/qmail-qmqpc) must run that program, not qmail-queue.
	cmd.Args[0] = filepath.Base(cmd.Path)
	cmd.Env = env
	cmd.Dir = home
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	cmd.Stdin = mr
	cmd.Stdout = er // qmail-queue reads its envelope from fd 1
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		mr.Close()
		mw.Close()
		er.Close()
		ew.Close()
		return nil, err
	}
	mr.Close()
	er.Close()
	return &QQ{cmd: cmd, msg: mw, env: ew, w: messageWriter(mw)}, nil
}

// messageWriters are the 64 KiB buffers between a session and its
// qmail-queue's message pipe, reused from message to message: a fresh one
// per message was a 64 KiB allocation to clear and collect for every
// 1 KiB message (issue 8).
var messageWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

func messageWriter(w io.Writer) *bufio.Writer {
	bw := messageWriters.Get().(*bufio.Writer)
	bw.Reset(w)
	return bw
}

// release gives the message buffer back once the message is sent or
// aborted; a Write after that is dropped, as after a write error.
func (q *QQ) release() {
	if q.w != nil {
		q.w.Reset(nil)
		messageWriters.Put(q.w)
		q.w = nil
	}
}

// Pid is qmail-queue's process id, the "qp" of qmail's replies and logs.
func (q *QQ) Pid() int {
	if q.wk != nil {
		return q.wk.Pid()
	}
	return q.cmd.Process.Pid
}

// Write adds message bytes. Errors are remembered and reported by Close.
func (q *QQ) Write(p []byte) (int, error) {
	if q.werr != nil || q.w == nil {
		return len(p), nil
	}

	if _, err := q.w.Write(p); err != nil {
		q.werr = err
	}
	return len(p), nil
}

// WriteString adds message text.
func (q *QQ) WriteString(s string) (int, error) {
	return q.Write([]byte(s))
}

// Abort cancels the message: the envelope is never sent, so qmail-queue
// sees EOF, removes what it wrote and exits 54.
func (q *QQ) Abort() {
	if q.done {
		return
	}
	q.done = true
	q.release()
	q.msg.Close()
	q.env.Close()
	if q.wk != nil {
		q.result() // 54, once it has removed what it wrote
		return
	}
	q.cmd.Wait()
}

// Result is qmail-queue's verdict: Text is "" when the message was
// queued, else qmail's text starting with 'Z' (temporary) or 'D'
// (permanent), e.g. "Zqq write error or disk full (#4.3.0)".
type Result struct {
	Code int // qmail-queue's exit code, -1 if it crashed
	Text string
}

// OK says whether the message was queued.
func (r Result) OK() bool { return r.Text == "" }

// Permanent says whether the failure is permanent.
func (r Result) Permanent() bool { return len(r.Text) > 0 && r.Text[0] == 'D' }

// ErrBadAddress is the text for an envelope address that holds NUL, CR
// or LF; such an address never reaches qmail-queue.
const ErrBadAddress = "Dthe envelope holds an address with NUL, CR or LF (#5.1.3)"

// Close sends the envelope (sender, recipients) and waits for qmail-queue.
// With a Gate (Workers.With) it asks the gate first, and aborts the
// message if the gate says no.
func (q *QQ) Close(sender string, rcpts []string) Result {
	if q.done {
		return Result{Code: 54, Text: Text(54)}
	}
	ok := addr.EnvelopeSafe(sender)
	for _, r := range rcpts {
		ok = ok && addr.EnvelopeSafe(r)
	}
	if !ok {
		q.Abort()
		return Result{Code: -1, Text: ErrBadAddress}
	}
	if err := q.w.Flush(); err != nil && q.werr == nil {
		q.werr = err
	}
	// The gate is asked once the body is handed over, right before the
	// envelope that commits it: a slow qmail-queue taking the last 64
	// KiB does not count as committing (and hold up a SIGTERM).
	if q.gate != nil {
		if !q.gate.Commit() {
			q.Abort()
			return Result{Code: 54, Text: Text(54)}
		}
		defer q.gate.Committed()
	}
	q.done = true
	q.release()
	q.msg.Close()
	n := len(sender) + 3
	for _, r := range rcpts {
		n += len(r) + 2
	}
	env := make([]byte, 0, n)
	env = append(append(append(env, 'F'), sender...), 0)
	for _, r := range rcpts {
		env = append(append(append(env, 'T'), r...), 0)
	}
	env = append(env, 0)
	if _, err := q.env.Write(env); err != nil && q.werr == nil {
		q.werr = err
	}
	q.env.Close()
	if q.wk != nil {
		return q.result()
	}
	err := q.cmd.Wait()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return Result{Code: -1, Text: "Zqq waitpid surprise (#4.3.0)"}
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return Result{Code: -1, Text: "Zqq crashed (#4.3.0)"}
		}
		code = ee.ExitCode()
	}
	if code == 0 && q.werr != nil {
		code = 54
	}
	return Result{Code: code, Text: Text(code)}
}

// Text maps a qmail-queue exit code to qmail's result text (spec §2).
func Text(code int) string {
	switch code {
	case 0:
		return ""
	case 115, 11:
		return "Denvelope address too long for qq (#5.1.3)"
	case 31:
		return "Dmail server permanently rejected message (#5.3.0)"
	case 51:
		return "Zqq out of memory (#4.3.0)"
	case 52:
		return "Zqq timeout (#4.3.0)"
	case 53:
		return "Zqq write error or disk full (#4.3.0)"
	case 54:
		return "Zqq read error (#4.3.0)"
	case 55:
		return "Zqq unable to read configuration (#4.3.0)"
	case 56:
		return "Zqq trouble making network connection (#4.3.0)"
	case 61:
		return "Zqq trouble in home directory (#4.3.0)"
	case 62, 63, 64, 65, 66:
		return "Zqq trouble creating files in queue (#4.3.0)"
	case 71:
		return "Zmail server temporarily rejected message (#4.3.0)"
	case 72:
		return "Zconnection to mail server timed out (#4.4.1)"
	case 73:
		return "Zconnection to mail server rejected (#4.4.1)"
	case 74:
		return "Zcommunication with mail server failed (#4.4.2)"
	case 81, 91:
		return "Zqq internal bug (#4.3.0)"
	case 120:
		return "Zunable to exec qq (#4.3.0)"
	}
	if code >= 11 && code <= 40 {
		return "Dqq permanent problem (#5.3.0)"
	}
	return "Zqq temporary problem (#4.3.0)"
}

// String is for debugging.
func (r Result) String() string { return fmt.Sprintf("%d %q", r.Code, r.Text) }
