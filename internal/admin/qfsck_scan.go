package admin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"goqmail/internal/queuefs"
)

// The files one message may have, in the order a whole message is
// quarantined: its text first (see Qfsck).
const (
	kMess = iota
	kTodo
	kIntd
	kInfo
	kLocal
	kRemote
	kBounce
	nKinds
)

var kindNames = [nKinds]string{"mess", "todo", "intd", "info", "local", "remote", "bounce"}

func kindSplit(k int) bool { return k == kMess || k == kInfo || k == kLocal || k == kRemote }

// fsckFile is one file of a message.
type fsckFile struct {
	path  string // where it is now
	ino   uint64
	size  int64
	atime time.Time
}

// fsckMsg is what the queue holds for one message number.
type fsckMsg [nKinds]*fsckFile

type fsckMsgs map[uint64]*fsckMsg

func (m fsckMsgs) order() []uint64 {
	out := make([]uint64, 0, len(m))
	for n := range m {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (m fsckMsgs) add(n uint64, k int, file *fsckFile) {
	if m[n] == nil {
		m[n] = &fsckMsg{}
	}
	m[n][k] = file
}

// checkPid removes pid/ files older than 36 hours, as qmail-clean does.
func (f *fsck) checkPid() error {
	dir := f.q.Path("pid")
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return f.pathErr(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		file, err := statFile(p)
		if err != nil {
			return f.pathErr(err)
		}
		if file == nil {
			continue
		}
		age := f.now.Sub(file.atime)
		if age <= staleAge {
			continue
		}
		f.report(p, "left by a qmail-queue that died "+ageText(age)+" ago", action{
			would: "-f would remove it, as qmail-clean does after 36 hours",
			fn:    func() (string, error) { return "removed", f.remove(p) }})
	}
	return nil
}

// statFile describes a regular file; nil if p is something else.
func statFile(p string) (*fsckFile, error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("no inode information")
	}
	return &fsckFile{path: p, ino: st.Ino, size: fi.Size(), atime: time.Unix(st.Atim.Sec, st.Atim.Nsec)}, nil
}

// ageText is a duration to the second.
func ageText(d time.Duration) string { return d.Truncate(time.Second).String() }

// scan reads every message file, reporting (and under -f repairing)
// names that are not message numbers, things that are not regular files
// and files in the wrong split folder.
func (f *fsck) scan() (fsckMsgs, error) {
	msgs := fsckMsgs{}
	for k := 0; k < nKinds; k++ {
		if !kindSplit(k) {
			if err := f.scanDir(msgs, k, f.q.Path(kindNames[k]), -1); err != nil {
				return nil, err
			}
			continue
		}
		for sub := 0; sub < split; sub++ {
			dir := f.q.Path(kindNames[k], strconv.Itoa(sub))
			if err := f.scanDir(msgs, k, dir, sub); err != nil {
				return nil, err
			}
		}
		f.resolveSplit(msgs, k)
	}
	return msgs, nil
}

// misplaced collects files found in the wrong split folder until every
// folder of their kind has been read.
type misplaced struct {
	n    uint64
	file *fsckFile
}

// scanDir reads one folder of message files; sub is its split number,
// -1 for todo, intd and bounce.
func (f *fsck) scanDir(msgs fsckMsgs, k int, dir string, sub int) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // reported by checkLayout
	}
	if err != nil {
		return f.pathErr(err)
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		n, ok := queuefs.ParseNumber(e.Name())
		if !ok || strconv.FormatUint(n, 10) != e.Name() {
			f.report(p, "not a message number: qmail-send ignores it", f.quarantineAction(p))
			continue
		}
		file, err := statFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone meanwhile
		}
		if err != nil {
			return f.pathErr(err)
		}
		if file == nil {
			f.report(p, "not a regular file", f.quarantineAction(p))
			continue
		}
		if sub >= 0 && n%split != uint64(sub) {
			f.wrongSplit[k] = append(f.wrongSplit[k], misplaced{n, file})
			continue
		}
		msgs.add(n, k, file)
	}
	return nil
}

// resolveSplit moves each file found in the wrong split folder where
// qmail-send looks for it, unless a file is there already: then the
// misplaced one is quarantined.
func (f *fsck) resolveSplit(msgs fsckMsgs, k int) {
	for _, mp := range f.wrongSplit[k] {
		want := filepath.Join(f.q.Path(kindNames[k]), queuefs.Sub(mp.n))
		if m := msgs[mp.n]; m != nil && m[k] != nil {
			f.report(mp.file.path, "in the wrong split folder, and "+f.rel(want)+" exists", f.quarantineAction(mp.file.path))
			continue
		}
		file := mp.file
		if f.report(file.path, "in the wrong split folder: qmail looks for it in "+f.rel(want), action{
			would: "-f would move it there",
			fn: func() (string, error) {
				if err := f.move(file.path, want); err != nil {
					return "", err
				}
				return "moved there", nil
			}}) {
			file.path = want
		}
		msgs.add(mp.n, k, file)
	}
	f.wrongSplit[k] = nil
}
