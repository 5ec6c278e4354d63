package admin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// quarantineAction moves one file into quarantine/.
func (f *fsck) quarantineAction(p string) action {
	return action{would: "-f would move it to quarantine/", fn: func() (string, error) {
		dest, err := f.quarantine(p)
		if err != nil {
			return "", err
		}
		return "moved to " + safe(f.rel(dest), '?'), nil
	}}
}

// quarantineMessage moves every file of message n into quarantine/.
func (f *fsck) quarantineMessage(n uint64, m *fsckMsg) action {
	return action{would: fmt.Sprintf("-f would move message %d to quarantine/", n), fn: func() (string, error) {
		var moved []string
		for k := 0; k < nKinds; k++ {
			if m[k] == nil {
				continue
			}
			if _, err := f.quarantine(m[k].path); err != nil {
				return "", err
			}
			moved = append(moved, f.rel(m[k].path))
			m[k] = nil
		}
		return fmt.Sprintf("moved message %d (%s) to quarantine/", n, strings.Join(moved, " ")), nil
	}}
}

// quarantine moves p (inside the queue) to the same path under
// queue/quarantine/, making the folders it needs with queue/'s owner
// and mode 0700. It never replaces a file: if the name is taken it
// tries NAME.1 to NAME.9.
func (f *fsck) quarantine(p string) (string, error) {
	rel := f.rel(p)
	if filepath.IsAbs(rel) {
		return "", fmt.Errorf("%s is outside the queue", p)
	}
	qfi, err := os.Stat(f.q.Dir)
	if err != nil {
		return "", f.pathErr(err)
	}
	st := qfi.Sys().(*syscall.Stat_t)
	dir := f.q.Path("quarantine")
	for _, elem := range append([]string{""}, strings.Split(filepath.Dir(rel), "/")...) {
		if elem == "." {
			continue
		}
		dir = filepath.Join(dir, elem)
		fi, ok, err := lstat(dir)
		if err != nil {
			return "", f.pathErr(err)
		}
		if ok && !fi.IsDir() {
			return "", fmt.Errorf("%s is not a folder", f.rel(dir))
		}
		if !ok {
			if err := f.mkdir(dir, int(st.Uid), int(st.Gid), 0o700); err != nil {
				return "", err
			}
		}
	}
	base := filepath.Join(dir, filepath.Base(p))
	for i := 0; i < 10; i++ {
		dest := base
		if i > 0 {
			dest = fmt.Sprintf("%s.%d", base, i)
		}
		if _, ok, err := lstat(dest); err != nil {
			return "", f.pathErr(err)
		} else if ok {
			continue
		}
		if err := f.move(p, dest); err != nil {
			return "", err
		}
		return dest, nil
	}
	return "", fmt.Errorf("%s to %s.9 are all taken", f.rel(base), f.rel(base))
}

// move renames a file inside the queue, durably. A regular file is moved
// with link and unlink, so that a name that appeared meanwhile is never
// replaced; anything else (a folder where a message file belongs) with
// rename, after checking the target is free.
func (f *fsck) move(from, to string) error {
	fi, err := os.Lstat(from)
	if err != nil {
		return f.pathErr(err)
	}
	if fi.Mode().IsRegular() {
		if err := os.Link(from, to); err != nil {
			return f.pathErr(err)
		}
		if err := f.syncDir(filepath.Dir(to)); err != nil {
			return err
		}
		return f.remove(from)
	}
	if _, ok, err := lstat(to); err != nil {
		return f.pathErr(err)
	} else if ok {
		return f.pathErr(&fs.PathError{Op: "rename", Path: to, Err: fs.ErrExist})
	}
	if err := os.Rename(from, to); err != nil {
		return f.pathErr(err)
	}
	if err := f.syncDir(filepath.Dir(to)); err != nil {
		return err
	}
	return f.syncDir(filepath.Dir(from))
}

// remove unlinks a file, durably; a file already gone is fine.
func (f *fsck) remove(p string) error {
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return f.pathErr(err)
	}
	return f.syncDir(filepath.Dir(p))
}
