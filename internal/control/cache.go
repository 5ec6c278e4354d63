package control

import (
	"os"
	"sync"
	"syscall"
	"time"

	"goqmail/internal/plainfile"
)

// The control files are read again for every SMTP connection, as
// qmail-smtpd does when tcpserver starts it; but goqmail's tcpserver runs
// its sessions in one long-lived process (issue 8), where reading some
// twenty files (most of them absent) per connection cost about a hundred
// system calls. So the bytes of each file are kept, and a later read
// that finds, by one stat, the same file (device, inode) with the same
// size, mtime and ctime uses them. An edit, a replacement by rename, a
// chmod or chown (ctime) are all seen at the next read, as in qmail.
//
// A file changed less than settle ago is always read: within one tick of
// the kernel's clock two writes of the same size can leave the same
// timestamps, and the second would go unseen (the "racy git" problem).

// settle is how recent a change must be for the cache not to be trusted
// (a variable for the tests, which set it to 0 to see the stamp alone
// tell changes apart).
var settle = 2 * time.Second

// maxCached bounds the bytes kept per file: a bigger file (a long
// badmailfrom) is read every time rather than held.
const maxCached = 1 << 20

type fileStamp struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

type cachedFile struct {
	stamp fileStamp
	data  []byte
}

var fileCache struct {
	sync.Mutex
	m map[string]cachedFile
}

func stampOf(st *syscall.Stat_t) fileStamp {
	return fileStamp{
		dev: st.Dev, ino: st.Ino, size: st.Size,
		mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec,
		ctime: st.Ctim.Sec*1e9 + st.Ctim.Nsec,
	}
}

// readFile returns the bytes of path as os.ReadFile would, from the
// cache when one stat shows the file unchanged. Errors are os.ReadFile's
// (or os.Stat's), so callers tell a missing file the same way. The bytes
// returned are shared: callers must not change them.
func readFile(path string) ([]byte, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		if err == syscall.ENOENT {
			return nil, &os.PathError{Op: "stat", Path: path, Err: err}
		}
		// Anything else: let the read report it as qmail would.
		return plainfile.ReadFile(path)
	}
	stamp := stampOf(&st)
	fileCache.Lock()
	c, hit := fileCache.m[path]
	fileCache.Unlock()
	recent := time.Now().UnixNano()-max(stamp.mtime, stamp.ctime) < int64(settle)
	if hit && c.stamp == stamp && !recent {
		return c.data, nil
	}
	data, err := plainfile.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// Kept under the stamp taken before the read: a change during or
	// after it moves the timestamps, and the next read misses.
	if !recent && len(data) <= maxCached && int64(len(data)) == stamp.size && !onNFS(path) {
		fileCache.Lock()
		if fileCache.m == nil {
			fileCache.m = map[string]cachedFile{}
		}
		fileCache.m[path] = cachedFile{stamp: stamp, data: data[:len(data):len(data)]}
		fileCache.Unlock()
	}
	return data, nil
}

// onNFS says whether path is on NFS, whose stat answers from a cache of
// attributes (for up to a minute) where an open asks the server: a file
// there is read every time, as before the cache.
func onNFS(path string) bool {
	var st syscall.Statfs_t
	return syscall.Statfs(path, &st) != nil || st.Type == 0x6969 // NFS_SUPER_MAGIC
}
