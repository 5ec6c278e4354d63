// Package queuefixture writes queues the way qmail 1.03 left them on disk,
// for tests that start goqmail on a queue taken over from qmail (spec
// §1.1, hardening.md G17). It is a test helper: only tests import it.
//
// Every file is written from the spec, byte for byte, without using
// goqmail's own queue code, so that a test built on it checks goqmail
// against qmail's format rather than against itself:
//
//   - mess/S/N: qmail-queue's Received line, then the message; N is the
//     file's inode, so the file is created under pid/ and renamed to
//     mess/N%23/N once its inode is known; mode 0644, owned by qmailq;
//   - intd/N and todo/N (one inode, two names): u<uid>\0p<pid>\0F<sender>\0
//     then T<rcpt>\0 per recipient, no extra NUL; mode 0644, qmailq;
//   - info/S/N: F<sender>\0, mtime = the message's birth; mode 0600, qmails;
//   - local/S/N, remote/S/N: T<addr>\0 (to do) or D<addr>\0 (done) records,
//     mtime = next retry time; mode 0600, qmails;
//   - bounce/N: the failure paragraphs accumulated so far; mode 0600, qmails.
package queuefixture

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Split is qmail's conf-split.
const Split = 23

// Queue writes fixture files into one queue folder (HOME/queue).
type Queue struct {
	t   testing.TB
	Dir string
	// QUID and SUID own the files qmail-queue (qmailq) and qmail-send
	// (qmails) would have written; GID is their group. A negative value
	// leaves the owner of the writing process.
	QUID, SUID, GID int
}

// New returns a fixture writer for the queue folder dir whose files
// belong to the writing process.
func New(t testing.TB, dir string) *Queue {
	return &Queue{t: t, Dir: dir, QUID: -1, SUID: -1, GID: -1}
}

// Rec is one recipient record of a local or remote file.
type Rec struct {
	Addr string
	Done bool
}

// T and D build records.
func T(a string) Rec { return Rec{Addr: a} }

// D is a recipient qmail had already delivered (or bounced).
func D(a string) Rec { return Rec{Addr: a, Done: true} }

// Received is qmail-queue's line for a message injected by uid.
func Received(qp, uid int, date string) string {
	return "Received: (qmail " + strconv.Itoa(qp) + " invoked by uid " + strconv.Itoa(uid) + "); " + date + "\n"
}

func num(n uint64) string { return strconv.FormatUint(n, 10) }

// SplitPath is queue/KIND/S/N.
func (q *Queue) SplitPath(kind string, n uint64) string {
	return filepath.Join(q.Dir, kind, num(n%Split), num(n))
}

// FlatPath is queue/KIND/N.
func (q *Queue) FlatPath(kind string, n uint64) string {
	return filepath.Join(q.Dir, kind, num(n))
}

func (q *Queue) own(p string, uid int, mode os.FileMode) {
	q.t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		q.t.Fatal(err)
	}
	if uid >= 0 || q.GID >= 0 {
		if err := os.Lchown(p, uid, q.GID); err != nil {
			q.t.Fatal(err)
		}
	}
}

func (q *Queue) write(p string, data []byte, uid int, mode os.FileMode) {
	q.t.Helper()
	if err := os.WriteFile(p, data, mode); err != nil {
		q.t.Fatal(err)
	}
	q.own(p, uid, mode)
}

// Mess writes a message file and returns its number: the content is
// qmail-queue's Received line followed by body.
func (q *Queue) Mess(received, body string) uint64 {
	q.t.Helper()
	tmp := filepath.Join(q.Dir, "pid", "fixture."+strconv.Itoa(os.Getpid()))
	q.write(tmp, []byte(received+body), q.QUID, 0o644)
	fi, err := os.Stat(tmp)
	if err != nil {
		q.t.Fatal(err)
	}
	n := fi.Sys().(*syscall.Stat_t).Ino
	if err := os.Rename(tmp, q.SplitPath("mess", n)); err != nil {
		q.t.Fatal(err)
	}
	return n
}

// Envelope is the content of intd/N and todo/N.
func Envelope(uid, pid int, sender string, rcpts ...string) []byte {
	b := []byte("u" + strconv.Itoa(uid) + "\x00p" + strconv.Itoa(pid) + "\x00F" + sender + "\x00")
	for _, r := range rcpts {
		b = append(b, 'T')
		b = append(b, r...)
		b = append(b, 0)
	}
	return b
}

// Intd writes intd/N only: qmail-queue died before its commit point (S3).
func (q *Queue) Intd(n uint64, env []byte) {
	q.t.Helper()
	q.write(q.FlatPath("intd", n), env, q.QUID, 0o644)
}

// Todo writes intd/N and links it to todo/N: a queued message (S4).
func (q *Queue) Todo(n uint64, env []byte) {
	q.t.Helper()
	q.Intd(n, env)
	if err := os.Link(q.FlatPath("intd", n), q.FlatPath("todo", n)); err != nil {
		q.t.Fatal(err)
	}
}

// Info writes info/S/N for a message born at birth.
func (q *Queue) Info(n uint64, sender string, birth time.Time) {
	q.t.Helper()
	p := q.SplitPath("info", n)
	q.write(p, []byte("F"+sender+"\x00"), q.SUID, 0o600)
	q.touch(p, birth)
}

// Chan writes local/S/N (remote false) or remote/S/N with its next retry
// time as mtime.
func (q *Queue) Chan(n uint64, remote bool, retry time.Time, recs ...Rec) {
	q.t.Helper()
	kind := "local"
	if remote {
		kind = "remote"
	}
	var b []byte
	for _, r := range recs {
		c := byte('T')
		if r.Done {
			c = 'D'
		}
		b = append(b, c)
		b = append(b, r.Addr...)
		b = append(b, 0)
	}
	p := q.SplitPath(kind, n)
	q.write(p, b, q.SUID, 0o600)
	q.touch(p, retry)
}

// Bounce writes bounce/N with failure paragraphs already recorded.
func (q *Queue) Bounce(n uint64, text string) {
	q.t.Helper()
	q.write(q.FlatPath("bounce", n), []byte(text), q.SUID, 0o600)
}

// Paragraph is one recorded failure as qmail-send appends it to bounce/N
// (spec §3.8), for a report without empty lines.
func Paragraph(rcpt, report string) string {
	if report == "" || report[len(report)-1] != '\n' {
		report += "\n"
	}
	return "<" + rcpt + ">:\n" + report + "\n"
}

// Age sets a file's access and modification times.
func (q *Queue) Age(p string, atime, mtime time.Time) {
	q.t.Helper()
	if err := os.Chtimes(p, atime, mtime); err != nil {
		q.t.Fatal(err)
	}
}

func (q *Queue) touch(p string, t time.Time) {
	q.t.Helper()
	q.Age(p, t, t)
}
