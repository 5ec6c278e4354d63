package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// FS makes many files' data and names on one file system durable
// together, with one syncfs(2) per round instead of an fsync of each file
// and each folder, as a journal commits many transactions at once.
//
// Why: on ext4 without a journal (this project's benchmark machine) an
// fsync of a new file writes its data block, its inode's block, the
// bitmaps and its folder, and flushes the disk cache: five or more disk
// writes for a 1 KiB message, and a message needs several such files. A
// round of syncfs writes what all the waiting messages changed in one
// sweep, merged into fewer, larger writes, and flushes once (issue 8).
// A round is syncfs and then an fsync of the FS's folder, whose closing
// cache flush covers the metadata syncfs writes after its own flush
// (see run). It gives every guarantee the fsyncs of hardening.md §3.2
// give, and more: everything written on the file system before the round
// began is on disk after it.
//
// The price is that a round also writes what other programs left unsynced
// on the same file system: a queue on a file system of its own keeps
// their writes (a backup, a big download) out of its rounds.
//
// Errors: syncfs reports a writeback error of any file on the file system
// once to each descriptor open at the time (Linux 5.8 and later), and FS
// keeps one descriptor open for its whole life. A caller takes a Token
// before it writes; Sync fails if any round that ended after the token was
// taken saw an error, so an error reported to an earlier caller's round
// can never be missed by a later caller whose data it hit.
type FS struct {
	mu  sync.Mutex
	f   *os.File
	dev uint64
	// flushAfter: the file system needs an fsync after syncfs for the
	// metadata syncfs writes after its flush (flushAfterSyncfs).
	flushAfter bool
	failed     uint64 // rounds that failed so far
	rounds     rounds
	sync       func() error // tests count and hold rounds; nil is syncfs(f)
}

// Token marks the moment a caller started writing (FS.Begin).
type Token struct{ failed uint64 }

// OpenFS returns an FS for the file system holding dir, which stays open
// for the FS's life. It refuses (ErrNoSyncfs) a file system not known to
// write everything on syncfs: there the caller fsyncs each file, as
// before. On FUSE, for one, syncfs reaches the server only if it asks
// for it, where every fsync does.
func OpenFS(dir string) (*FS, error) {
	// The descriptor first, then what it is: the path may change under
	// us (a user's Maildir), the descriptor does not.
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	var sfs unix.Statfs_t
	var st unix.Stat_t
	if err := unix.Fstatfs(int(f.Fd()), &sfs); err != nil {
		f.Close()
		return nil, err
	}
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, err
	}
	if !syncfsWhole[int64(sfs.Type)] || !syncfsReportsErrors() {
		f.Close()
		return nil, ErrNoSyncfs
	}
	return &FS{f: f, dev: st.Dev, flushAfter: flushAfterSyncfs(int64(sfs.Type), st.Dev)}, nil
}

// flushAfterSyncfs says whether a round needs the fsync of its folder
// after syncfs (see run): on ext2/3/4 unless the file system has a
// journal, whose commit syncfs waits for and which holds the metadata
// written after; xfs and btrfs always have one, tmpfs has no disk. When
// in doubt, yes.
func flushAfterSyncfs(fstype int64, dev uint64) bool {
	if fstype != unix.EXT4_SUPER_MAGIC {
		return false
	}
	uevent, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/uevent", unix.Major(dev), unix.Minor(dev)))
	if err != nil {
		return true
	}
	for _, l := range strings.Split(string(uevent), "\n") {
		if name, ok := strings.CutPrefix(l, "DEVNAME="); ok && name != "" {
			// jbd2 lists the journals it runs as NAME-INODE.
			m, _ := filepath.Glob("/proc/fs/jbd2/" + name + "-*")
			return len(m) == 0
		}
	}
	return true
}

// Dev is the device number of the FS's file system: a file made durable
// by its rounds must be on it (FSSet callers check).
func (s *FS) Dev() uint64 { return s.dev }

// OpenFSFor is OpenFS for dir, refused (ErrNoSyncfs) unless every folder
// in also is on the same file system: a long-lived writer whose files go
// into several folders (the queue's mess/S, intd/, info/S...) checks them
// once at start, since a folder mounted elsewhere, or a symlink to
// another disk, would never be written by the rounds.
func OpenFSFor(dir string, also []string) (*FS, error) {
	fs, err := OpenFS(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range also {
		var st unix.Stat_t
		if unix.Stat(d, &st) != nil || st.Dev != fs.dev {
			fs.Close()
			return nil, ErrNoSyncfs
		}
	}
	return fs, nil
}

// syncfsWhole are the file systems whose syncfs writes all their files'
// data and names and flushes the disk: ext2/3/4, xfs, btrfs (and tmpfs,
// which has nothing to write).
var syncfsWhole = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true,
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.TMPFS_MAGIC:       true,
}

// syncfsReportsErrors says whether the kernel is Linux 5.17 or later:
// before 5.8 syncfs returned 0 even when writing a file had failed, and
// before 5.17 it ignored the file system's own failure (a journal commit,
// a cache flush); FS could not have told its callers.
func syncfsReportsErrors() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 17)
}

// kernelAtLeast compares a release string such as "6.18.44-fc" with
// major.minor.
func kernelAtLeast(release string, major, minor int) bool {
	var a, b int
	if n, _ := fmt.Sscanf(release, "%d.%d", &a, &b); n != 2 {
		return false
	}
	return a > major || a == major && b >= minor
}

// ErrNoSyncfs: the file system is not one whose syncfs FS trusts.
const ErrNoSyncfs = fsError("file system not known to sync everything on syncfs")

// Close releases the descriptor; the FS must not be used after.
func (s *FS) Close() error { return s.f.Close() }

// Begin is called before writing the files that a later Sync must make
// durable.
func (s *FS) Begin() Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Token{failed: s.failed}
}

// Sync returns once a round of syncfs that began after this call has
// ended: everything written before the call, data and names, is then on
// disk. It returns an error if that round failed or any round did since
// t was taken (see FS); the caller then treats its files as a failed
// fsync would have it (hardening.md §3.2: delete and retry later).
func (s *FS) Sync(t Token) error {
	s.mu.Lock()
	err := s.rounds.join(&s.mu, s.run, nil)
	s.mu.Lock()
	failed := s.failed
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if failed != t.failed {
		return errEarlierRound
	}
	return nil
}

// run is one round: a syncfs, its failure counted for later callers.
func (s *FS) run() error {
	var err error
	if s.sync != nil {
		err = s.sync()
	} else {
		err = unix.Syncfs(int(s.f.Fd()))
		if err == nil {
			// A file system remounted read-only after an error
			// (ext4's errors=remount-ro) makes syncfs return at once
			// with nothing written and no error: the round fails.
			var sfs unix.Statfs_t
			if unix.Fstatfs(int(s.f.Fd()), &sfs) != nil || sfs.Flags&unix.ST_RDONLY != 0 {
				err = errReadOnly
			}
		}
		if err == nil && s.flushAfter {
			// syncfs flushes the disk's cache before it writes the
			// last metadata buffers (fs/sync.c: ->sync_fs, then
			// sync_blockdev), so on ext4 without a journal and on
			// ext2 those writes could sit in the cache. An fsync of
			// the folder ends with a flush that covers them.
			err = s.f.Sync()
		}
	}
	if err != nil {
		s.mu.Lock()
		s.failed++
		s.mu.Unlock()
	}
	return err
}

type fsError string

func (e fsError) Error() string { return string(e) }

// errEarlierRound: a round that ended after the caller began writing
// reported a write error on the file system, which may have been in the
// caller's own files.
const errEarlierRound = fsError("a write error was reported on the file system")

// errReadOnly: the file system is read-only now; what was written before
// may never reach the disk.
const errReadOnly = fsError("the file system is read-only")

// FSSet keeps one FS per file system (device), opened on the first
// folder asked for on it: for a process that writes on file systems it
// does not know beforehand (qmail-lspawn into users' Maildirs). Each FS
// keeps its descriptor for the set's life, so while the process runs the
// file system cannot be unmounted (umount says it is busy), as with any
// program that holds a file open there.
type FSSet struct {
	mu  sync.Mutex
	fss map[uint64]*FS
}

// For returns the FS of the file system holding dir.
func (s *FSSet) For(dir string) (*FS, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return nil, err
	}
	return s.ForDev(dir, st.Dev)
}

// ForDev is For for a caller that has just stat'ed dir and found it on
// the file system dev: a delivery stats its Maildir anyway, and a second
// stat for the set would be one more system call per message. dev only
// finds a known FS; an unknown one is opened through dir and filed under
// the device of what was opened.
func (s *FSSet) ForDev(dir string, dev uint64) (*FS, error) {
	s.mu.Lock()
	f, known := s.fss[dev]
	full := len(s.fss) >= maxFSSet
	s.mu.Unlock()
	if known {
		if f == nil {
			return nil, ErrNoSyncfs
		}
		return f, nil
	}
	if full {
		return nil, ErrNoSyncfs
	}
	// Opened outside the lock (a hung mount stalls only its caller), and
	// filed under the device of what was opened, not of what the path
	// named a moment before: a path swapped in between (a symlink in a
	// user's Maildir) cannot file one file system's FS under another's.
	f, err := OpenFS(dir)
	if err != nil && !errors.Is(err, ErrNoSyncfs) {
		return nil, err
	}
	if f != nil {
		dev = f.dev
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fss == nil {
		s.fss = map[uint64]*FS{}
	}
	if old, ok := s.fss[dev]; ok && old != nil {
		if f != nil {
			f.Close()
		}
		return old, nil
	}
	if f == nil && len(s.fss) < maxFSSet {
		s.fss[dev] = nil // refused: asked once
		return nil, err
	}
	if f != nil {
		s.fss[dev] = f
	}
	return f, err
}

// maxFSSet bounds the file systems an FSSet keeps a descriptor for (a
// btrfs subvolume has a device number of its own, and users can make
// them); beyond it, callers fsync each file.
const maxFSSet = 64

// NewFSForTest is an FS on device dev whose rounds call sync instead of
// syncfs: for the fault tests of the packages that use FS.
func NewFSForTest(dev uint64, sync func() error) *FS { return &FS{dev: dev, sync: sync} }
