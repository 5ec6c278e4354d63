package smtpd

import (
	"errors"
	"io"
	"os"
	"time"
)

// errTimeout is a read or write that took longer than timeoutsmtpd.
var errTimeout = errors.New("timeout")

type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

type writeDeadliner interface {
	SetWriteDeadline(t time.Time) error
}

type ioResult struct {
	n   int
	err error
}

// timedReader gives every Read at most d. It uses the stream's read
// deadline when it has a working one, else a timer. Before each read it
// calls before (qmail flushes its replies before every read). Errors are
// sticky: after a timeout the stream is never touched again.
type timedReader struct {
	r      io.Reader
	d      time.Duration
	dl     readDeadliner // nil: use a timer
	before func() error
	buf    []byte // timer mode: what the reading goroutine fills
	err    error
	// until, when set, is a bound over several reads: no read may wait
	// beyond it (readCommand sets it for a whole command line).
	until time.Time
}

// deadline is when the next read must be done by: d from now, or until
// if that is sooner.
func (t *timedReader) deadline() time.Time {
	dl := time.Now().Add(t.d)
	if !t.until.IsZero() && t.until.Before(dl) {
		dl = t.until
	}
	return dl
}

func newTimedReader(r io.Reader, d time.Duration, before func() error) *timedReader {
	t := &timedReader{r: r, d: d, before: before}
	if dl, ok := r.(readDeadliner); ok && dl.SetReadDeadline(time.Time{}) == nil {
		t.dl = dl
	}
	return t
}

func (t *timedReader) Read(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	if t.before != nil {
		if err := t.before(); err != nil {
			t.err = err
			return 0, err
		}
	}
	var n int
	var err error
	dl := t.deadline()
	if !time.Now().Before(dl) {
		t.err = errTimeout
		return 0, errTimeout
	}
	if t.dl != nil {
		t.dl.SetReadDeadline(dl)
		n, err = t.r.Read(p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errTimeout
		}
	} else {
		n, err = t.readTimer(p, time.Until(dl))
	}
	if err != nil {
		t.err = err
	}
	return n, err
}

func (t *timedReader) readTimer(p []byte, d time.Duration) (int, error) {
	if cap(t.buf) < len(p) {
		t.buf = make([]byte, len(p))
	}
	buf := t.buf[:len(p)]
	done := make(chan ioResult, 1)
	r := t.r
	go func() {
		n, err := r.Read(buf)
		done <- ioResult{n, err}
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case res := <-done:
		copy(p, buf[:res.n])
		return res.n, res.err
	case <-timer.C:
		t.buf = nil // the goroutine still owns it
		return 0, errTimeout
	}
}

// stop clears the deadline it set, so a caller's stream is left as found.
func (t *timedReader) stop() {
	if t.dl != nil {
		t.dl.SetReadDeadline(time.Time{})
	}
}

// timedWriter gives every Write at most d, like timedReader.
type timedWriter struct {
	w   io.Writer
	d   time.Duration
	dl  writeDeadliner
	err error
}

func newTimedWriter(w io.Writer, d time.Duration) *timedWriter {
	t := &timedWriter{w: w, d: d}
	if dl, ok := w.(writeDeadliner); ok && dl.SetWriteDeadline(time.Time{}) == nil {
		t.dl = dl
	}
	return t
}

func (t *timedWriter) Write(p []byte) (int, error) {
	if t.err != nil {
		return 0, t.err
	}
	var n int
	var err error
	if t.dl != nil {
		t.dl.SetWriteDeadline(time.Now().Add(t.d))
		n, err = t.w.Write(p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errTimeout
		}
	} else {
		n, err = t.writeTimer(p)
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		t.err = err
	}
	return n, err
}

func (t *timedWriter) writeTimer(p []byte) (int, error) {
	buf := append([]byte(nil), p...) // the goroutine may outlive this call
	done := make(chan ioResult, 1)
	w := t.w
	go func() {
		n, err := w.Write(buf)
		done <- ioResult{n, err}
	}()
	timer := time.NewTimer(t.d)
	defer timer.Stop()
	select {
	case res := <-done:
		return res.n, res.err
	case <-timer.C:
		return 0, errTimeout
	}
}

func (t *timedWriter) stop() {
	if t.dl != nil {
		t.dl.SetWriteDeadline(time.Time{})
	}
}
