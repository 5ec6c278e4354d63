// Package mbox appends one message to an mbox file with qmail-local's
// rules (spec §8.5): open for append (creating the file 0600), lock it,
// remember where it ends, write the "From " line, the Return-Path and
// Delivered-To lines and the message with ">From " quoting, end the last
// line if the message did not, add one blank line, and fsync. Any failure
// truncates the file back to where it ended, so no reader ever sees half
// a message, and is temporary: a full disk or an exceeded quota defers
// the delivery, it never bounces it (hardening.md §3.2, §3.5).
//
// Two decisions where qmail 1.03 is silent or weaker:
//
//   - Locking. qmail-local takes one lock (flock or lockf, depending on
//     the build). Mail readers differ: mutt and procmail on Debian use
//     fcntl locks (plus dot-locks), Dovecot is configurable. goqmail takes
//     both an flock lock and an fcntl lock on the whole file, so every one
//     of them sees the file locked. The fcntl lock is an "open file
//     description" lock (Linux F_OFD_SETLK): it conflicts with the classic
//     fcntl locks of other processes exactly as a classic lock would, but
//     belongs to this open file rather than to the whole process, so
//     goroutines delivering to one mbox from the same process exclude each
//     other and one closing the file cannot drop another's lock. Dot-locks
//     are not taken (qmail never took them; they need a writable spool
//     directory). If the file system supports neither lock, the delivery
//     proceeds unlocked, as qmail's does; then a failed write is not
//     truncated back, since the bytes after the saved end may be someone
//     else's.
//   - Repair. A message half-written by a delivery that was killed (kill
//     -9, power loss: nothing can truncate it then) leaves the file ending
//     in the middle of a line, and qmail's next "From " line would be
//     glued to it and not start a message. Before appending, goqmail looks
//     at the last two bytes and adds what is missing of "\n\n", so the new
//     message always starts on its own line after a blank line. The
//     partial message stays (nothing can tell it from a complete one), but
//     the new one is intact.
package mbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// DefaultLockWait is how long Append waits for the lock: qmail's 30
// seconds.
const DefaultLockWait = 30 * time.Second

// ErrLockTimeout means the file stayed locked for the whole wait.
var ErrLockTimeout = errors.New("file stayed locked")

// Options changes Append's defaults.
type Options struct {
	// LockWait bounds the wait for the lock; 0 means DefaultLockWait.
	LockWait time.Duration
}

// Error is a failed append. Every Error is temporary.
type Error struct {
	// Op is "open", "lock" (Err is then ErrLockTimeout), "read"
	// (reading the message), "write", "sync" or "close".
	Op   string
	Path string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("mbox %s %s: %v (temporary)", e.Op, e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary is always true: no mbox failure is a reason to bounce.
func (e *Error) Temporary() bool { return true }

// file is the part of *os.File that appending uses; tests replace it to
// inject write and fsync faults.
type file interface {
	io.Writer
	io.ReaderAt
	Seek(offset int64, whence int) (int64, error)
	Truncate(size int64) error
	Sync() error
}

// Append adds one message to the mbox at path: fromLine (the whole
// "From SENDER DATE\n" line), header (e.g. Return-Path and Delivered-To
// lines, written as they are) and msg, quoted.
func Append(path string, fromLine, header []byte, msg io.Reader, opt Options) error {
	f, readable, err := open(path)
	if err != nil {
		return &Error{"open", path, err}
	}
	wait := opt.LockWait
	if wait <= 0 {
		wait = DefaultLockWait
	}
	locked, err := lock(f, wait)
	if err != nil {
		f.Close()
		return &Error{"lock", path, err}
	}
	if err := appendTo(f, readable, locked, path, fromLine, header, msg); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		// The data were fsynced, but a close error (NFS) says they
		// may not be on the server. The lock is gone, so the bytes
		// cannot be taken back safely: report the failure and accept
		// that the retry may leave a duplicate rather than risk a
		// loss.
		return &Error{"close", path, err}
	}
	return nil
}

// open opens path for appending, creating it 0600. It asks for read
// access too, to look at the file's end; a file the user may write but
// not read is still appended to, without the repair.
func open(path string) (*os.File, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, os.ErrPermission) {
		return nil, false, err
	}
	f, err2 := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err2 != nil {
		return nil, false, err
	}
	return f, false, nil
}

// appendTo does the work on an open, locked file.
func appendTo(f file, readable, locked bool, path string, fromLine, header []byte, msg io.Reader) error {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return &Error{"write", path, err}
	}
	fail := func(op string, err error) error {
		if locked {
			if f.Truncate(end) == nil {
				f.Sync()
			}
		}
		return &Error{op, path, err}
	}
	w := bufio.NewWriterSize(f, 64<<10)
	if readable {
		sep, err := separator(f, end)
		if err != nil {
			return fail("write", err)
		}
		w.Write(sep)
	}
	w.Write(fromLine)
	w.Write(header)
	last, wrote, err := copyQuoted(w, msg)
	if err != nil {
		var re readError
		if errors.As(err, &re) {
			return fail("read", re.err)
		}
		return fail("write", err)
	}
	if wrote && last != '\n' {
		w.WriteByte('\n')
	}
	w.WriteByte('\n')
	if err := w.Flush(); err != nil {
		return fail("write", err)
	}
	if err := f.Sync(); err != nil {
		return fail("sync", err)
	}
	return nil
}

// separator returns what must be written before a new message so that
// the file ends in "\n\n" (nothing for an empty file).
func separator(f io.ReaderAt, end int64) ([]byte, error) {
	if end == 0 {
		return nil, nil
	}
	n := int64(2)
	if end < 2 {
		n = end
	}
	tail := make([]byte, n)
	if _, err := f.ReadAt(tail, end-n); err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case tail[len(tail)-1] != '\n':
		return []byte("\n\n"), nil
	case len(tail) == 2 && tail[0] == '\n':
		return nil, nil
	case len(tail) == 1:
		// The file is just "\n": an empty message separator; fine.
		return nil, nil
	}
	return []byte("\n"), nil
}
