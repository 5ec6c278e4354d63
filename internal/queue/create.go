package queue

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"goqmail/internal/plainfile"
	"goqmail/internal/queuefs"
)

// Where the inodes come from.
//
// qmail makes the message file as pid/PID.TIME.K and the envelope as
// intd/N, so every message allocates its two inodes in the block groups
// of two fixed folders. On ext4 without a journal that is costly under
// load: allocating in a group walks past every inode freed there in the
// last minutes, and a queue frees two per message in each of those
// folders (perf on W1: qmail-queue's file creations took 12 % of the
// machine's CPU; issue 8). install marks mess/ +T, so its 23 hashed
// folders sit in different groups; goqmail allocates both inodes there
// instead, as unnamed files (O_TMPFILE) in mess/K, K varying from message
// to message, and then gives them their names: the message file becomes
// mess/S/N (N its inode, S = N mod 23) exactly where qmail's pid/ file
// would have been linked, and the envelope becomes intd/N once it is
// written and fsynced, where qmail created intd/N first.
//
// What other programs see is qmail's: the same names at the same steps,
// and a message file named before it is written (the partial mess/S/N a
// killed qmail-queue leaves is qmail's debris, swept after 36 hours).
// The differences: no pid/ name at all, and an envelope that never exists
// half-written. An unnamed file of a killed qmail-queue is freed by the
// file system (at mount, from the journal's orphan list; by fsck without
// a journal). Where O_TMPFILE or /proc/self/fd is missing, the pid/ and
// intd/ files are made as qmail makes them.

// spreadFolder is the mess/K folder a job allocates in: a different one
// for each process and each of a worker's messages.
func (j *job) spreadFolder() string {
	k := (j.pid + j.k0/9) % queuefs.Split
	if k < 0 {
		k = -k
	}
	return j.q.Path("mess", strconv.Itoa(k))
}

// newUnnamed opens an unnamed file in dir for writing, or nil if the
// file system or the kernel cannot.
func newUnnamed(dir string) *os.File {
	f, err := plainfile.Open(dir, os.O_WRONLY|unix.O_TMPFILE, 0o644)
	if err != nil {
		return nil
	}
	return f
}

// name gives the unnamed file f the name path (linkat through
// /proc/self/fd, the way that needs no privilege).
func name(f *os.File, path string) error {
	proc := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	return unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
}

// inode is the inode number of an open file.
func inode(f *os.File) (uint64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, errors.New("no inode number")
	}
	return st.Ino, nil
}

// newMess makes the message file, named mess/S/N with N its inode
// number, and returns it open for writing (its fsync, after the message
// is written, writes the inode with its link; see newIntd): unnamed in a
// spread folder and then named, or else as qmail does, pid/PID.TIME.K linked to
// mess/S/N and the pid/ name removed.
//
// Either way the file is locked as being written (queuefs.LockWriting)
// from before it has its name until the job closes it, so that no sweep
// takes it for debris after a forward jump of the clock. A file system
// that refuses the lock (flock on NFS without a lock daemon: ENOLCK) does
// not stop the message: its file is judged by age alone, as qmail 1.03
// judges every one.
func (j *job) newMess() (*os.File, int) {
	if f := newUnnamed(j.spreadFolder()); f != nil {
		n, err := inode(f)
		if err != nil {
			f.Close()
			return nil, ExitPid
		}
		j.num = n
		f.Chmod(0o644)
		queuefs.LockWriting(f) // refused: judged by age alone (newMess)
		mess := j.q.Mess(n)
		err = name(f, mess)
		if err == nil {
			j.mess, j.unnamed = mess, true
			return f, ExitOK
		}
		f.Close()
		if errors.Is(err, syscall.EEXIST) {
			return nil, ExitMess
		}
		// No /proc/self/fd, or a kernel that will not link it: qmail's way.
	}
	return j.newMessPid()
}

// newMessPid is qmail's step 1 and 2: pid/PID.TIME.K created exclusively,
// linked to mess/S/N, the pid/ name removed.
func (j *job) newMessPid() (*os.File, int) {
	var pf *os.File
	var pidPath string
	for k := j.k0 + 1; k <= j.k0+9 && pf == nil; k++ {
		pidPath = j.q.Path("pid", fmt.Sprintf("%d.%d.%d", j.pid, j.now.Unix(), k))
		f, err := plainfile.Open(pidPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			pf = f
		}
	}
	if pf == nil {
		return nil, ExitPid
	}
	n, err := inode(pf)
	if err != nil {
		pf.Close()
		os.Remove(pidPath)
		return nil, ExitPid
	}
	j.num = n
	pf.Chmod(0o644)
	queuefs.LockWriting(pf) // refused: judged by age alone (newMess)
	mess := j.q.Mess(n)
	if err := os.Link(pidPath, mess); err != nil {
		pf.Close()
		os.Remove(pidPath)
		return nil, ExitMess
	}
	j.mess = mess
	if err := os.Remove(pidPath); err != nil {
		pf.Close()
		return nil, ExitPid
	}
	return pf, ExitOK
}

// newIntd writes the envelope (u and p records, then the caller's) to
// intd/N and fsyncs it: as an unnamed file named intd/N once written
// (and before its fsync) when the message file was made that way, else
// created as intd/N first, as qmail does. A taken intd/N is qmail's failure to create it (65).
func (j *job) newIntd(envIn io.Reader) int {
	intd := j.q.Intd(j.num)
	var f *os.File
	if j.unnamed {
		f = newUnnamed(j.spreadFolder())
	}
	if f == nil {
		var err error
		if f, err = plainfile.Open(intd, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
			return ExitIntd
		}
		j.intd = intd
	}
	defer f.Close()
	f.Chmod(0o644)
	iw := bufio.NewWriter(f)
	fmt.Fprintf(iw, "u%d\x00p%d\x00", j.uid, j.pid)
	if code := copyEnvelope(iw, envIn); code != ExitOK {
		j.cleanup()
		return code
	}
	if err := iw.Flush(); err != nil {
		j.cleanup()
		return ExitWrite
	}
	// Named before the fsync, never after: the fsync must write the
	// inode with its link count of 1. Written with the count of 0 an
	// unnamed file has, and the names added later made durable only by
	// the fsync of todo/, a power cut before the inode reached the disk
	// would leave todo/N naming an inode that fsck takes for deleted
	// (ext4 without a journal writes the inode only at its own fsync or
	// at writeback); fsck then removes todo/N and the message is lost.
	if j.intd == "" {
		// As when qmail cannot create intd/N: the mess file stays for
		// the sweep.
		if err := name(f, intd); err != nil {
			return ExitIntd
		}
		j.intd = intd
	}
	if j.fs == nil {
		if err := f.Sync(); err != nil {
			j.cleanup()
			return ExitWrite
		}
	}
	return ExitOK
}
