package prog

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// A root-mode install holds four copies of the one binary, because
// qmail gives its programs four modes (see package install): bin/qmail
// (0755), bin/qmail.0711, bin/qmail.0700 and the setuid bin/qmail-queue.
// The kernel caches a file's pages per file, not per content, so daemons
// started from different copies each keep their own copy of the
// program's pages in memory: about 5.5 MB each on the benchmark machine,
// 16 MB of the 46 MB goqmail's daemons used on a 5000-recipient fan-out.
// A long-lived daemon therefore runs from bin/qmail, the one copy
// everybody may run, when the file it is installed as is the same
// program: the mode of bin/qmail-lspawn still says who may start
// qmail-lspawn (qmail-start, as root), and the daemon is the same bytes.

// SharedImage is the file qmail-start should exec daemon NAME from, for
// the programs folder bin: bin/qmail when bin/NAME is a different file
// with the same bytes (a copy of another mode), else bin/NAME itself: a
// wrapper or another program an administrator put there runs as before,
// and so does everything in a user-mode install, where every name already
// leads to bin/qmail. The exec'd process must be given NAME as argv[0]
// (cmd/qmail runs the program argv[0] names and names its main thread
// after it, for ps).
func SharedImage(bin, name string) string {
	own, shared := filepath.Join(bin, name), filepath.Join(bin, "qmail")
	a, err := os.Stat(own)
	if err != nil {
		return own
	}
	b, err := os.Stat(shared)
	if err != nil || os.SameFile(a, b) || b.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		return own
	}
	// Run as root (root mode), the daemons it starts (qmail-lspawn stays
	// root) must come from a file and folder only root can change between
	// the comparison and the exec.
	if os.Geteuid() == 0 && (!rootOnlyPath(bin, true) || !rootOnlyPath(shared, false)) {
		return own
	}
	if SameProgram(own, shared) {
		return shared
	}
	return own
}

// rootOnlyPath is rootOnly for the file or folder at p.
func rootOnlyPath(p string, dir bool) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	return rootOnly(f, dir)
}

// IsInstalledSelf is IsSelf(bin/NAME) for a daemon installed as bin/OWN:
// also true when bin/NAME is the very file bin/OWN leads to and this
// executable is bin/qmail. That is a daemon qmail-start ran from the
// shared image (SharedImage, which found bin/OWN to have bin/qmail's
// bytes) asking about a program installed as the same copy: qmail-rspawn,
// running as qmailr, about bin/qmail-remote, both leading to
// bin/qmail.0711, which qmailr may execute but not read to compare.
// That file must at least be a regular file of bin/qmail's size: one
// wrapper script that both names lead to (and that runs bin/qmail) is
// not taken for the program.
func IsInstalledSelf(bin, own, name string) bool {
	path := filepath.Join(bin, name)
	if IsSelf(path) {
		return true
	}
	mine, shared := filepath.Join(bin, own), filepath.Join(bin, "qmail")
	if mine == path || !sameFile(path, mine) || !IsSelf(shared) {
		return false
	}
	a, err := os.Stat(mine)
	b, err2 := os.Stat(shared)
	return err == nil && err2 == nil && a.Mode().IsRegular() && a.Size() == b.Size()
}

// ExecSharedQueue is for a setuid copy (bin/qmail-queue, setuid qmailq)
// started as a long-lived worker: it execs the same program from
// bin/qmail beside it, with the effective ids it has (an exec of a file
// without the setuid bit keeps them), args and env, so that the worker
// shares its pages with tcpserver's. It returns, without exec'ing, when
// this executable is not setuid or setgid (the exec'd worker comes back
// here and goes on) or when bin/qmail cannot be trusted as the same
// program (sharedQueueImage); the caller then simply goes on as it is.
//
// A setuid program must not run what its caller chooses, and the caller
// chooses the environment and could put a hard link to bin/qmail-queue
// in a folder of its own: so the path comes from the running image's
// own location, the folder and bin/qmail in it must belong to root and
// be writable by nobody else (only root put them there), bin/qmail must
// have this executable's bytes and no setuid or setgid bit, and the
// descriptor compared is the one exec'd.
func ExecSharedQueue(args, env []string) error {
	f, err := sharedQueueImage("/proc/self/exe")
	if err != nil {
		return err
	}
	defer f.Close()
	// The very file compared, through its descriptor: a new bin/qmail
	// renamed into place meanwhile (an upgrade) is not exec'd as this
	// version's worker.
	return syscall.Exec("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), args, env)
}

// ErrNotShared says that a setuid copy keeps running from its own file
// because it is not one that may run from bin/qmail (not setuid, or no
// trustworthy bin/qmail of the same bytes beside it): the expected case
// outside a root-mode install, not worth a warning.
var ErrNotShared = errors.New("not a setuid copy beside a root-owned bin/qmail of the same bytes")

// sharedQueueImage opens the bin/qmail a setuid copy at self (a path
// through which the running image can be read; its link target names
// its folder) may exec itself from, or says why it may not.
func sharedQueueImage(self string) (*os.File, error) {
	img, err := os.Open(self)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	fi, err := img.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Mode()&(os.ModeSetuid|os.ModeSetgid) == 0 {
		return nil, ErrNotShared
	}
	path, err := os.Readlink(self)
	if err != nil {
		return nil, err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	if !rootOnly(dir, true) {
		return nil, ErrNotShared
	}
	fd, err := syscall.Openat(int(dir.Fd()), "qmail", syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	shared := os.NewFile(uintptr(fd), filepath.Join(filepath.Dir(path), "qmail"))
	// Not setuid or setgid itself, and not this very file: either would
	// make the exec'd worker come back here and exec itself for ever (and
	// a setuid-root bin/qmail would give the worker root).
	sfi, err := shared.Stat()
	if err != nil || sfi.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || os.SameFile(fi, sfi) ||
		!rootOnly(shared, false) || !sameFileOrBytes(img, shared) {
		shared.Close()
		return nil, ErrNotShared
	}
	return shared, nil
}

// rootOnly says whether f is a folder (dir) or a regular file that
// belongs to root and that neither its group nor others may write.
func rootOnly(f *os.File, dir bool) bool {
	fi, err := f.Stat()
	if err != nil || fi.IsDir() != dir || (!dir && !fi.Mode().IsRegular()) {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Uid == 0 && fi.Mode().Perm()&0o022 == 0
}
