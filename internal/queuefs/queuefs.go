// Package queuefs is qmail's queue on disk (spec §1): where each file of a
// message lives, the envelope records of intd/todo files, and the
// directory fsync that makes a link, rename or unlink durable on Linux
// file systems (hardening.md §3.2).
//
// A message is numbered by the inode of its mess file. Split folders
// (conf-split, 23) spread mess, info, local and remote files over
// subfolders named N%23.
package queuefs

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"goqmail/internal/durable"
)

// Split is conf-split: the number of hashed subfolders.
const Split = 23

// Queue is the queue folder of one install (HOME/queue).
type Queue struct {
	Dir string
}

// New returns the queue of the install at home.
func New(home string) Queue { return Queue{Dir: filepath.Join(home, "queue")} }

// Sub is "S/N", the path of message n inside a split folder.
func Sub(n uint64) string {
	return strconv.FormatUint(n%Split, 10) + "/" + strconv.FormatUint(n, 10)
}

func (q Queue) split(kind string, n uint64) string {
	return filepath.Join(q.Dir, kind, Sub(n))
}

func (q Queue) flat(kind string, n uint64) string {
	return filepath.Join(q.Dir, kind, strconv.FormatUint(n, 10))
}

// Mess is queue/mess/S/N.
func (q Queue) Mess(n uint64) string { return q.split("mess", n) }

// Info is queue/info/S/N.
func (q Queue) Info(n uint64) string { return q.split("info", n) }

// Local is queue/local/S/N.
func (q Queue) Local(n uint64) string { return q.split("local", n) }

// Remote is queue/remote/S/N.
func (q Queue) Remote(n uint64) string { return q.split("remote", n) }

// Chan is the local (remote=false) or remote channel file.
func (q Queue) Chan(remote bool, n uint64) string {
	if remote {
		return q.Remote(n)
	}
	return q.Local(n)
}

// Intd is queue/intd/N.
func (q Queue) Intd(n uint64) string { return q.flat("intd", n) }

// Todo is queue/todo/N.
func (q Queue) Todo(n uint64) string { return q.flat("todo", n) }

// Bounce is queue/bounce/N.
func (q Queue) Bounce(n uint64) string { return q.flat("bounce", n) }

// Path joins a path inside the queue folder.
func (q Queue) Path(elem ...string) string {
	return filepath.Join(append([]string{q.Dir}, elem...)...)
}

// Trigger is the FIFO that wakes qmail-send.
func (q Queue) Trigger() string { return q.Path("lock", "trigger") }

// ParseNumber parses a queue file name: all decimal digits, no sign.
func ParseNumber(name string) (uint64, bool) {
	if name == "" || len(name) > 20 {
		return 0, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(name, 10, 64)
	return n, err == nil
}

// SyncDir fsyncs a folder, making the names created, renamed or removed
// in it durable.
func SyncDir(dir string) error { return durable.SyncDir(dir) }

// Envelope is what an intd/todo file holds.
type Envelope struct {
	UID, PID   string // the u and p records, as written
	Sender     string
	Recipients []string
}

// ErrBadRecord is returned for a todo file that does not parse.
var ErrBadRecord = errors.New("unknown record type")

// ParseTodo parses an intd/todo file: u<uid>\0 p<pid>\0 F<sender>\0
// T<rcpt>\0 ... . Records other than u, p, F and T are an error, as is a
// record without its terminating NUL.
func ParseTodo(data []byte) (*Envelope, error) {
	e := &Envelope{}
	sawF := false
	for len(data) > 0 {
		i := bytes.IndexByte(data, 0)
		if i < 0 {
			return nil, fmt.Errorf("record without its terminating NUL")
		}
		rec := data[:i]
		data = data[i+1:]
		if len(rec) == 0 {
			return nil, ErrBadRecord
		}
		v := string(rec[1:])
		switch rec[0] {
		case 'u':
			e.UID = v
		case 'p':
			e.PID = v
		case 'F':
			e.Sender = v
			sawF = true
		case 'T':
			e.Recipients = append(e.Recipients, v)
		default:
			return nil, ErrBadRecord
		}
	}
	if !sawF {
		return nil, fmt.Errorf("no sender record")
	}
	return e, nil
}

// Record is one recipient record of a local or remote file.
type Record struct {
	Offset int64  // of the T/D byte
	Done   bool   // 'D': delivered or bounced
	Addr   string // without the letter and the NUL
}

// ParseChan parses a local/remote file: a sequence of T<addr>\0 and
// D<addr>\0 records. A final record without its NUL is ignored (a crash
// while qmail-send was writing it; the todo file is still there then).
func ParseChan(data []byte) ([]Record, error) {
	var out []Record
	off := int64(0)
	for len(data) > 0 {
		i := bytes.IndexByte(data, 0)
		if i < 0 {
			break
		}
		rec := data[:i]
		switch {
		case len(rec) > 0 && rec[0] == 'T':
			out = append(out, Record{Offset: off, Addr: string(rec[1:])})
		case len(rec) > 0 && rec[0] == 'D':
			out = append(out, Record{Offset: off, Done: true, Addr: string(rec[1:])})
		default:
			return out, ErrBadRecord
		}
		off += int64(i + 1)
		data = data[i+1:]
	}
	return out, nil
}
