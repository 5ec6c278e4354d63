package install

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"goqmail/internal/ids"
)

// maker applies the layout to a home.
type maker struct {
	fs     *fsys
	id     *ids.IDs
	binary string // the file bin/qmail and its copies are made from
}

// make brings one node to what it must be.
func (m *maker) make(n node) error {
	uid, gid := uidOf(n.owner, m.id), gidOf(n.group, m.id)
	switch n.kind {
	case kDir:
		if err := m.fs.makeDir(n.path, uid, gid, n.mode); err != nil {
			return err
		}
		if n.spread {
			m.fs.spreadSubdirs(n.path)
		}
		return nil
	case kFile:
		if n.keep {
			if _, err := m.fs.root.Lstat(n.path); err == nil {
				return nil
			}
		}
		return m.fs.writeAtomic(n.path, strings.NewReader(n.content), uid, gid, n.mode)
	case kTcpto:
		regular1024 := func(fm fs.FileMode) bool { return fm.IsRegular() }
		if fi, err := m.fs.root.Lstat(n.path); err == nil && fi.Mode().IsRegular() && fi.Size() == 1024 {
			return m.fs.fix(n.path, os.O_RDONLY, regular1024, "a file", uid, gid, n.mode)
		}
		return m.fs.writeAtomic(n.path, bytes.NewReader(make([]byte, 1024)), uid, gid, n.mode)
	case kFIFO:
		return m.fs.makeFIFO(n.path, uid, gid, n.mode)
	case kCopy:
		f, err := os.Open(m.binary)
		if err != nil {
			return fmt.Errorf("unable to read %s: %w", m.binary, err)
		}
		defer f.Close()
		return m.fs.writeAtomic(n.path, f, uid, gid, n.mode)
	case kLink:
		return m.fs.makeLink(n.path, n.target, uid, gid)
	}
	return nil // kBuilt: made by another program
}

// removeStaleLinks removes links in bin/ to our copies whose program this
// binary no longer has (an upgrade that drops or renames a program).
func (m *maker) removeStaleLinks(want map[string]bool) error {
	bin := m.fs.abs("bin")
	d, err := m.fs.root.Open("bin")
	if err != nil {
		return fmt.Errorf("unable to open %s: %w", bin, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("unable to read %s: %w", bin, err)
	}
	for _, e := range entries {
		if e.Type()&fs.ModeSymlink == 0 || want[e.Name()] {
			continue
		}
		t, err := m.fs.root.Readlink("bin/" + e.Name())
		if err != nil || !isOurTarget(t) {
			continue
		}
		if err := m.fs.root.Remove("bin/" + e.Name()); err != nil {
			return fmt.Errorf("unable to remove %s/%s: %w", bin, e.Name(), err)
		}
	}
	return nil
}
