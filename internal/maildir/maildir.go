// Package maildir delivers one message into a Maildir the way maildir(5)
// prescribes and qmail-local does it, with the durability goqmail adds
// (hardening.md §3.2): create a file with a unique name in tmp/, write
// and fsync it, close it (checking the error), link it into new/, fsync
// new/ so the link survives a power cut, and unlink the tmp/ name. At the
// moment the link exists the message has been delivered.
//
// Every failure removes the tmp/ file and is temporary: a full disk or an
// exceeded quota defers the delivery, it never bounces it, and a reader
// never sees half a message in new/.
//
// The package never changes the working directory (qmail-local chdirs
// into the Maildir; goqmail's deliveries may run in a long-lived process
// where the working directory is shared by every goroutine).
package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"goqmail/internal/durable"
	"goqmail/internal/plainfile"
)

// Error is a failed delivery. Every Error is temporary.
type Error struct {
	// Op is the step that failed: "chdir" (the Maildir is not a
	// reachable directory), "read" (reading the message), "create",
	// "write", "sync", "close", "link" or "syncdir".
	Op   string
	Path string
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("maildir %s %s: %v (temporary)", e.Op, e.Path, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary is always true: no Maildir failure is a reason to bounce.
func (e *Error) Temporary() bool { return true }

// IsRead says whether err came from reading the message rather than from
// the Maildir.
func IsRead(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == "read"
}

// IsNoDir says whether err means the Maildir itself could not be reached
// (qmail-local's "Unable to chdir to maildir.").
func IsNoDir(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Op == "chdir"
}

// fs is the file system as Deliver uses it; tests replace it to inject
// faults (ENOSPC at write, fsync or close; a failing link).
type fs interface {
	Create(path string) (file, error)
	Link(oldname, newname string) error
	Remove(path string) error
	SyncDir(path string) error
}

// file is the part of *os.File that Deliver writes through.
type file interface {
	io.Writer
	Sync() error
	Close() error
	Stat() (os.FileInfo, error)
}

type osFS struct{}

func (osFS) Create(p string) (file, error) {
	return plainfile.Open(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}
func (osFS) Link(o, n string) error { return os.Link(o, n) }
func (osFS) Remove(p string) error  { return os.Remove(p) }
func (osFS) SyncDir(p string) error { return durable.SyncDir(p) }

// Deliver writes prefix and then msg, verbatim, as a new message in the
// Maildir dir and returns its file name (without tmp/ or new/).
func Deliver(dir string, prefix []byte, msg io.Reader) (string, error) {
	return deliver(osFS{}, nil, dir, prefix, msg)
}

// DeliverGroup is Deliver with the fsync of new/ shared with the
// deliveries into the same Maildir that run at the same time (see
// durable.Group): a process delivering many messages at once to one
// mailbox fsyncs its new/ once per round instead of once per message.
// A nil group is Deliver. When the group has an FSSet (g.FS), the
// message file is made durable by a syncfs round shared with every
// delivery on the same file system instead of by its own fsync, and so
// is its link in new/ (durable.FS): two rounds per delivery, each serving
// all the deliveries waiting at that moment.
func DeliverGroup(g *durable.Group, dir string, prefix []byte, msg io.Reader) (string, error) {
	if g == nil {
		return Deliver(dir, prefix, msg)
	}
	var rounds roundsFor
	if g.FS != nil {
		rounds = func(dir string, dev uint64) *durable.FS {
			f, _ := g.FS.ForDev(dir, dev) // nil: fsync each file
			return f
		}
	}
	return deliver(groupFS{g: g}, rounds, dir, prefix, msg)
}

// roundsFor returns the syncfs rounds of the file system dev, which
// holds the Maildir dir, or nil where each file is fsynced instead.
type roundsFor func(dir string, dev uint64) *durable.FS

// groupFS is osFS with folder fsyncs coalesced by a durable.Group.
type groupFS struct {
	osFS
	g *durable.Group
}

func (f groupFS) SyncDir(p string) error { return f.g.SyncDir(p) }

// createTries bounds the attempts at an unused name; a collision needs
// the same microsecond, pid and 64 random bits, so a second try is
// already paranoia.
const createTries = 5

// deliver is Deliver through fsys; where rounds gives the Maildir's file
// system, the file's data and its new/ name are made durable by its
// rounds, not by fsyncs.
//
// The folder is stat'ed once, by the check that it is one, and that stat
// also picks the rounds; the message file, once open, is asked (fstat)
// whether it is on that file system too. Three path lookups per
// delivery had been one for the check, one for the set and one for the
// file.
func deliver(fsys fs, rounds roundsFor, dir string, prefix []byte, msg io.Reader) (string, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir+"/.", &st); err != nil {
		return "", &Error{"chdir", dir, err}
	} else if st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		return "", &Error{"chdir", dir, errors.New("not a directory")}
	}
	var (
		files *durable.FS
		tok   durable.Token
	)
	if rounds != nil {
		files = rounds(dir, uint64(st.Dev))
	}
	if files != nil {
		tok = files.Begin()
	}
	var (
		name, tmp string
		f         file
		err       error
	)
	for try := 0; try < createTries; try++ {
		name, err = UniqueName()
		if err != nil {
			return "", &Error{"create", dir, err}
		}
		tmp = filepath.Join(dir, "tmp", name)
		f, err = fsys.Create(tmp)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return "", &Error{"create", tmp, err}
	}
	if files != nil && !onDevice(f, files.Dev()) {
		files = nil // tmp/ is another file system: fsync it, as Deliver does
	}
	fail := func(op string, err error) (string, error) {
		if f != nil {
			f.Close()
		}
		fsys.Remove(tmp)
		return "", &Error{op, tmp, err}
	}
	if _, err := f.Write(prefix); err != nil {
		return fail("write", err)
	}
	if err := copyMessage(f, msg); err != nil {
		var re readError
		if errors.As(err, &re) {
			return fail("read", re.err)
		}
		return fail("write", err)
	}
	if files == nil {
		if err := f.Sync(); err != nil {
			return fail("sync", err)
		}
	}
	err = f.Close()
	f = nil
	if err != nil {
		return fail("close", err)
	}
	if files != nil {
		// The whole message on disk before its name appears in new/.
		if err := files.Sync(tok); err != nil {
			return fail("sync", err)
		}
	}
	newdir := filepath.Join(dir, "new")
	if err := fsys.Link(tmp, filepath.Join(newdir, name)); err != nil {
		return fail("link", err)
	}
	syncNew := fsys.SyncDir
	if files != nil {
		syncNew = func(string) error { return files.Sync(tok) }
	}
	if err := syncNew(newdir); err != nil {
		// The link may not be durable: take it back, so that a retry
		// does not leave two copies, and report the failure.
		fsys.Remove(filepath.Join(newdir, name))
		return fail("syncdir", err)
	}
	// Delivered. A tmp/ name left behind by a failing unlink is
	// harmless debris that mail readers clean up after 36 hours.
	fsys.Remove(tmp)
	return name, nil
}

// onDevice says whether the open file f is on the file system dev.
func onDevice(f file, dev uint64) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev
}

// readError marks an error of the message reader.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

// copyBufs are copyMessage's buffers, shared by the deliveries of one
// process: qmail-lspawn runs up to concurrencylocal of them at once, and
// a buffer each, made and dropped per delivery, was memory and garbage
// that one per running delivery serves as well.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// copyMessage copies msg into w, telling read errors from write errors.
func copyMessage(w io.Writer, msg io.Reader) error {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := *bp
	for {
		n, rerr := msg.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return readError{rerr}
		}
	}
}

// Make creates a Maildir as maildirmake does: dir, dir/tmp, dir/new and
// dir/cur, each mode 0700. An existing dir is an error (os.ErrExist).
func Make(dir string) error {
	for _, d := range []string{dir, dir + "/tmp", dir + "/new", dir + "/cur"} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}
