package install

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
)

// fsys does install's file operations inside one home, through an
// os.Root so that no path, whatever links someone planted in the tree,
// leads outside it. Owners and modes are set through a descriptor opened
// without following a final symbolic link (fchown, fchmod), never by
// path: install runs as root over folders that qmail's other accounts
// (or a user-mode install's owner) can change while it runs, and a chmod
// by path could be steered onto one of root's files.
type fsys struct {
	root *os.Root
	home string // for messages
}

func openFsys(home string) (*fsys, error) {
	r, err := os.OpenRoot(home)
	if err != nil {
		return nil, fmt.Errorf("unable to open %s: %w", home, err)
	}
	return &fsys{root: r, home: home}, nil
}

func (f *fsys) close() { f.root.Close() }

// abs is rel as a full path, for messages.
func (f *fsys) abs(rel string) string {
	if rel == "" || rel == "." {
		return f.home
	}
	return f.home + "/" + rel
}

func clean(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// openNoFollow opens rel without following it if it is a symbolic link.
func (f *fsys) openNoFollow(rel string, flags int) (*os.File, error) {
	rel = clean(rel)
	dir, base := path.Split(rel)
	if rel == "." {
		dir, base = ".", "."
	}
	pd, err := f.root.OpenFile(clean(path.Clean(dir)), os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer pd.Close()
	fd, err := syscall.Openat(int(pd.Fd()), base, flags|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: f.abs(rel), Err: err}
	}
	return os.NewFile(uintptr(fd), f.abs(rel)), nil
}

// setOwnerMode chowns then chmods an open file (chown clears setuid and
// setgid bits, so the mode comes second).
func setOwnerMode(fl *os.File, uid, gid int, mode uint32) error {
	if err := fl.Chown(uid, gid); err != nil {
		return fmt.Errorf("unable to chown %s: %w", fl.Name(), err)
	}
	if err := syscall.Fchmod(int(fl.Fd()), mode); err != nil {
		return fmt.Errorf("unable to chmod %s: %w", fl.Name(), err)
	}
	return nil
}

// fix opens rel (not following a link), checks its type with want and
// sets owner and mode.
func (f *fsys) fix(rel string, flags int, want func(fs.FileMode) bool, what string, uid, gid int, mode uint32) error {
	fl, err := f.openNoFollow(rel, flags)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("%s exists and is not %s", f.abs(rel), what)
		}
		return fmt.Errorf("unable to open %s: %w", f.abs(rel), err)
	}
	defer fl.Close()
	fi, err := fl.Stat()
	if err != nil {
		return fmt.Errorf("unable to stat %s: %w", f.abs(rel), err)
	}
	if !want(fi.Mode()) {
		return fmt.Errorf("%s exists and is not %s", f.abs(rel), what)
	}
	return setOwnerMode(fl, uid, gid, mode)
}

// makeDir makes a folder or puts an existing one's owner and mode right.
func (f *fsys) makeDir(rel string, uid, gid int, mode uint32) error {
	if rel != "" {
		err := f.root.Mkdir(rel, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("unable to create %s: %w", f.abs(rel), err)
		}
	}
	return f.fix(rel, os.O_RDONLY|syscall.O_DIRECTORY, fs.FileMode.IsDir, "a folder", uid, gid, mode)
}

// writeAtomic writes rel from r through a temporary file in the same
// folder: write, fsync, chown, chmod, rename, fsync the folder. A running
// program or a reader sees the old file or the new, never half of one.
func (f *fsys) writeAtomic(rel string, r io.Reader, uid, gid int, mode uint32) error {
	dir, base := path.Split(rel)
	tmp := dir + "." + base + ".tmp"
	f.root.Remove(tmp)
	fl, err := f.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("unable to create %s: %w", f.abs(tmp), err)
	}
	_, err = io.Copy(fl, r)
	if err == nil {
		err = setOwnerMode(fl, uid, gid, mode)
	}
	if err == nil {
		err = fl.Sync()
	}
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		f.root.Remove(tmp)
		return fmt.Errorf("unable to write %s: %w", f.abs(tmp), err)
	}
	if fi, err := f.root.Lstat(rel); err == nil && fi.IsDir() {
		f.root.Remove(tmp)
		return fmt.Errorf("%s exists and is a folder", f.abs(rel))
	}
	if err := f.root.Rename(tmp, rel); err != nil {
		f.root.Remove(tmp)
		return fmt.Errorf("unable to move %s to %s: %w", f.abs(tmp), f.abs(rel), err)
	}
	return f.syncDir(dir)
}

func (f *fsys) syncDir(dir string) error {
	d, err := f.root.Open(clean(path.Clean(dir)))
	if err != nil {
		return fmt.Errorf("unable to open %s: %w", f.abs(dir), err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("unable to fsync %s: %w", f.abs(dir), err)
	}
	return nil
}

// makeFIFO makes a named pipe, replacing a file or link that stands there.
func (f *fsys) makeFIFO(rel string, uid, gid int, mode uint32) error {
	fi, err := f.root.Lstat(rel)
	if err == nil && fi.Mode()&fs.ModeNamedPipe == 0 {
		if fi.IsDir() {
			return fmt.Errorf("%s exists and is a folder", f.abs(rel))
		}
		if err := f.root.Remove(rel); err != nil {
			return fmt.Errorf("unable to remove %s: %w", f.abs(rel), err)
		}
		err = fs.ErrNotExist
	}
	if err != nil {
		dir, base := path.Split(rel)
		pd, err := f.root.OpenFile(clean(path.Clean(dir)), os.O_RDONLY|syscall.O_DIRECTORY, 0)
		if err != nil {
			return fmt.Errorf("unable to open %s: %w", f.abs(dir), err)
		}
		// mkfifo relative to the folder's descriptor, which no rename moves
		err = syscall.Mkfifo("/proc/self/fd/"+strconv.Itoa(int(pd.Fd()))+"/"+base, 0o600)
		pd.Close()
		if err != nil {
			return fmt.Errorf("unable to make the named pipe %s: %w", f.abs(rel), err)
		}
	}
	isFIFO := func(m fs.FileMode) bool { return m&fs.ModeNamedPipe != 0 }
	return f.fix(rel, os.O_RDONLY|syscall.O_NONBLOCK, isFIFO, "a named pipe", uid, gid, mode)
}

// makeLink points rel at target (relative), replacing an old link or
// file by rename so that the name never disappears.
func (f *fsys) makeLink(rel, target string, uid, gid int) error {
	if t, err := f.root.Readlink(rel); err == nil && t == target {
		return f.lchown(rel, uid, gid)
	}
	if fi, err := f.root.Lstat(rel); err == nil && fi.IsDir() {
		return fmt.Errorf("%s exists and is a folder", f.abs(rel))
	}
	dir, base := path.Split(rel)
	tmp := dir + "." + base + ".tmp"
	f.root.Remove(tmp)
	if err := f.root.Symlink(target, tmp); err != nil {
		return fmt.Errorf("unable to link %s: %w", f.abs(tmp), err)
	}
	if err := f.lchown(tmp, uid, gid); err != nil {
		f.root.Remove(tmp)
		return err
	}
	if err := f.root.Rename(tmp, rel); err != nil {
		f.root.Remove(tmp)
		return fmt.Errorf("unable to move %s to %s: %w", f.abs(tmp), f.abs(rel), err)
	}
	return nil
}

func (f *fsys) lchown(rel string, uid, gid int) error {
	if err := f.root.Lchown(rel, uid, gid); err != nil {
		return fmt.Errorf("unable to chown %s: %w", f.abs(rel), err)
	}
	return nil
}
