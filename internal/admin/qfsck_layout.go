package admin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"goqmail/internal/durable"
	"goqmail/internal/ids"
	"goqmail/internal/queuefs"
)

// queueFolder is one folder of queue/ as qmail's install makes it
// (spec §0.2): owned by qmailq or, for qmail-send's own, qmails; group
// qmail.
type queueFolder struct {
	name  string
	send  bool // owned by qmails
	mode  os.FileMode
	split bool // has the subfolders 0..22
}

var queueFolders = []queueFolder{
	{"pid", false, 0o700, false},
	{"intd", false, 0o700, false},
	{"todo", false, 0o750, false},
	{"bounce", true, 0o700, false},
	{"mess", false, 0o750, true},
	{"info", true, 0o700, true},
	{"local", true, 0o700, true},
	{"remote", true, 0o700, true},
}

// roles are the install's accounts, looked up when a repair first needs
// an owner.
func (f *fsck) roles() (*ids.IDs, error) {
	if f.ids == nil {
		r, err := ids.Load(f.ctx.Home)
		if err != nil {
			return nil, err
		}
		f.ids = r
	}
	return f.ids, nil
}

// owner is the uid of qmailq or qmails and group qmail.
func (f *fsck) owner(send bool) (uid, gid int, err error) {
	r, err := f.roles()
	if err != nil {
		return 0, 0, err
	}
	if send {
		return r.Qmails, r.GidQmail, nil
	}
	return r.Qmailq, r.GidQmail, nil
}

// lstat is os.Lstat with "missing" told apart from an error.
func lstat(p string) (fs.FileInfo, bool, error) {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return fi, true, nil
}

// checkLockDir checks lock/ and lock/sendmutex, which -f needs before
// it may change anything else.
func (f *fsck) checkLockDir() error {
	lock := f.q.Path("lock")
	if err := f.checkFolder(queueFolder{"lock", false, 0o750, false}); err != nil {
		return err
	}
	p := filepath.Join(lock, "sendmutex")
	fi, ok, err := lstat(p)
	switch {
	case err != nil:
		return f.pathErr(err)
	case !ok:
		f.report(p, "missing: qmail-send cannot start", action{would: "-f would create it",
			fn: func() (string, error) { return "created", f.makeFile(p, true, 0o600, nil) }})
	case !fi.Mode().IsRegular():
		f.report(p, "not a regular file: qmail-send cannot lock it", action{would: "-f cannot repair this: replace it by hand with an empty file", human: true})
	}
	return nil
}

// checkLayout checks every folder and the other lock files.
func (f *fsck) checkLayout() error {
	for _, d := range queueFolders {
		if err := f.checkFolder(d); err != nil {
			return err
		}
	}
	trig := f.q.Trigger()
	fi, ok, err := lstat(trig)
	switch {
	case err != nil:
		return f.pathErr(err)
	case !ok:
		f.report(trig, "missing: qmail-send cannot start", action{would: "-f would create it",
			fn: func() (string, error) { return "created", f.makeFIFO(trig) }})
	case fi.IsDir():
		f.report(trig, "a folder, not a named pipe: qmail-send cannot start", action{would: "-f cannot repair this: remove it by hand", human: true})
	case fi.Mode()&fs.ModeNamedPipe == 0:
		f.report(trig, "not a named pipe: new mail waits for qmail-send's rescan of todo every 25 minutes", action{would: "-f would replace it with a named pipe",
			fn: func() (string, error) {
				if err := os.Remove(trig); err != nil {
					return "", f.pathErr(err)
				}
				return "replaced by a named pipe", f.makeFIFO(trig)
			}})
	}
	done := f.q.Path("lock", "directdone")
	fi, ok, err = lstat(done)
	switch {
	case err != nil:
		return f.pathErr(err)
	case !ok:
		f.report(done, "missing: qmail-send delivers no message straight from todo (slower)", action{would: "-f would create it",
			fn: func() (string, error) {
				return "created", f.makeFile(done, true, 0o600, make([]byte, queuefs.DoneMarksSize))
			}})
	case !fi.Mode().IsRegular():
		f.report(done, "not a regular file: qmail-send delivers no message straight from todo (slower)", action{would: "-f cannot repair this: remove it by hand", human: true})
	}
	tcpto := f.q.Path("lock", "tcpto")
	fi, ok, err = lstat(tcpto)
	zero := make([]byte, 1024)
	switch {
	case err != nil:
		return f.pathErr(err)
	case !ok:
		f.report(tcpto, "missing: qmail-remote cannot remember unreachable hosts", action{would: "-f would create it",
			fn: func() (string, error) { return "created", f.makeTcpto(tcpto, zero) }})
	case !fi.Mode().IsRegular():
		f.report(tcpto, "not a regular file", action{would: "-f cannot repair this: remove it by hand", human: true})
	case fi.Size() != 1024:
		f.report(tcpto, strconv.FormatInt(fi.Size(), 10)+" bytes, not 1024", action{would: "-f would reset it to 1024 zero bytes (forgetting unreachable hosts)",
			fn: func() (string, error) {
				if err := os.WriteFile(tcpto, zero, 0o644); err != nil {
					return "", f.pathErr(err)
				}
				return "reset to 1024 zero bytes", nil
			}})
	}
	return nil
}

// checkFolder checks one folder of queue/ and its split subfolders.
func (f *fsck) checkFolder(d queueFolder) error {
	p := f.q.Path(d.name)
	fi, ok, err := lstat(p)
	switch {
	case err != nil:
		return f.pathErr(err)
	case !ok:
		what := "-f would create it"
		if d.split {
			what = "-f would create it and its 23 split folders"
		}
		f.report(p, "missing", action{would: what, fn: func() (string, error) {
			uid, gid, err := f.owner(d.send)
			if err != nil {
				return "", err
			}
			if err := f.mkdir(p, uid, gid, d.mode); err != nil {
				return "", err
			}
			if d.split {
				for i := 0; i < split; i++ {
					if err := f.mkdir(filepath.Join(p, strconv.Itoa(i)), uid, gid, d.mode); err != nil {
						return "", err
					}
				}
			}
			return "created", nil
		}})
		return nil
	case !fi.IsDir():
		f.report(p, "not a folder", action{would: "-f cannot repair this: move it away by hand", human: true})
		return nil
	}
	if !d.split {
		return nil
	}
	for _, sub := range splitDirs() {
		sp := filepath.Join(p, sub)
		sfi, ok, err := lstat(sp)
		switch {
		case err != nil:
			return f.pathErr(err)
		case !ok:
			f.report(sp, "missing split folder", action{would: "-f would create it", fn: func() (string, error) {
				st := fi.Sys().(*syscall.Stat_t)
				return "created", f.mkdir(sp, int(st.Uid), int(st.Gid), fi.Mode().Perm())
			}})
		case !sfi.IsDir():
			f.report(sp, "not a folder", action{would: "-f cannot repair this: move it away by hand", human: true})
		}
	}
	return nil
}

// mkdir makes a folder with an owner and mode, durably.
func (f *fsck) mkdir(p string, uid, gid int, mode os.FileMode) error {
	if err := os.Mkdir(p, mode); err != nil {
		return f.pathErr(err)
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		return f.pathErr(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		return f.pathErr(err)
	}
	return f.syncDir(filepath.Dir(p))
}

// makeFile creates a file owned by qmails (send) or qmailq with content.
func (f *fsck) makeFile(p string, send bool, mode os.FileMode, content []byte) error {
	uid, gid, err := f.owner(send)
	if err != nil {
		return err
	}
	return f.makeOwned(p, uid, gid, mode, content)
}

func (f *fsck) makeOwned(p string, uid, gid int, mode os.FileMode, content []byte) error {
	fl, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return f.pathErr(err)
	}
	_, err = fl.Write(content)
	if err == nil {
		err = fl.Sync()
	}
	if cerr := fl.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Lchown(p, uid, gid)
	}
	if err == nil {
		err = os.Chmod(p, mode)
	}
	if err != nil {
		return f.pathErr(err)
	}
	return f.syncDir(filepath.Dir(p))
}

// makeTcpto creates lock/tcpto, owned by qmailr as qmail-remote writes it.
func (f *fsck) makeTcpto(p string, zero []byte) error {
	r, err := f.roles()
	if err != nil {
		return err
	}
	return f.makeOwned(p, r.Qmailr, r.GidQmail, 0o644, zero)
}

// makeFIFO creates lock/trigger: a named pipe, qmails, 0622.
func (f *fsck) makeFIFO(p string) error {
	uid, gid, err := f.owner(true)
	if err != nil {
		return err
	}
	if err := syscall.Mkfifo(p, 0o622); err != nil {
		return f.pathErr(&fs.PathError{Op: "mkfifo", Path: p, Err: err})
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		return f.pathErr(err)
	}
	if err := os.Chmod(p, 0o622); err != nil {
		return f.pathErr(err)
	}
	return f.syncDir(filepath.Dir(p))
}

func (f *fsck) syncDir(dir string) error {
	if err := durable.SyncDir(dir); err != nil {
		return f.pathErr(err)
	}
	return nil
}
