package queuefs

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Folders are q's folders named, each hashed one (mess, info, local,
// remote) as its Split subfolders: for a writer that checks where they
// are (durable.OpenFSFor).
func (q Queue) Folders(names ...string) []string {
	var out []string
	for _, n := range names {
		switch n {
		case "mess", "info", "local", "remote":
			for i := 0; i < Split; i++ {
				out = append(out, q.Path(n, strconv.Itoa(i)))
			}
		default:
			out = append(out, q.Path(n))
		}
	}
	return out
}

// DoneMarksSize is the size of a new lock/directdone (qmail-send's
// donemarks.go): one page of free records.
const DoneMarksSize = 4096

// MakeTree creates an empty queue folder at dir with every subfolder and
// lock file, owned by the caller, with qmail's modes. install sets owners
// afterwards; tests use it as it is.
func MakeTree(dir string) error {
	mk := func(p string, mode os.FileMode) error {
		if err := os.MkdirAll(p, mode); err != nil {
			return err
		}
		return os.Chmod(p, mode)
	}
	if err := mk(dir, 0o750); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"pid", 0o700}, {"intd", 0o700}, {"todo", 0o750}, {"bounce", 0o700}, {"lock", 0o750}} {
		if err := mk(filepath.Join(dir, d.name), d.mode); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"mess", 0o750}, {"info", 0o700}, {"local", 0o700}, {"remote", 0o700}} {
		if err := mk(filepath.Join(dir, d.name), d.mode); err != nil {
			return err
		}
		for i := 0; i < Split; i++ {
			if err := mk(filepath.Join(dir, d.name, strconv.Itoa(i)), d.mode); err != nil {
				return err
			}
		}
	}
	lock := filepath.Join(dir, "lock")
	if _, err := os.Stat(filepath.Join(lock, "tcpto")); os.IsNotExist(err) {
		if err := os.WriteFile(filepath.Join(lock, "tcpto"), make([]byte, 1024), 0o644); err != nil {
			return err
		}
	}
	// sendmutex, and directdone: the D marks of the messages qmail-send
	// delivers straight from todo/ (goqmail), one page of zeros written
	// out so that a mark never needs a new block.
	for name, size := range map[string]int{"sendmutex": 0, "directdone": DoneMarksSize} {
		if _, err := os.Stat(filepath.Join(lock, name)); os.IsNotExist(err) {
			if err := os.WriteFile(filepath.Join(lock, name), make([]byte, size), 0o600); err != nil {
				return err
			}
		}
	}
	trig := filepath.Join(lock, "trigger")
	if _, err := os.Lstat(trig); os.IsNotExist(err) {
		if err := syscall.Mkfifo(trig, 0o622); err != nil {
			return err
		}
		return os.Chmod(trig, 0o622)
	}
	return nil
}
