package prog

import (
	"bytes"
	"io"
	"os"
)

// IsSelf says whether the program file at path is this very executable:
// the same file, or a copy of it with the same bytes. A root-mode
// install keeps copies of the binary with other modes (bin/qmail.0700
// for the daemons qmail keeps private, bin/qmail.0711 for qmail-local
// and friends), so identity alone would miss them. Long-lived programs
// ask once at start whether a program they would exec (qmail-smtpd,
// qmail-local, qmail-remote) is goqmail's own and may run in-process;
// a wrapper script or another binary there is not.
//
// "This executable" is the running image, read through /proc/self/exe,
// not the file now at its path: after an upgrade renamed a new binary
// over it, the path names the new version, and a long-lived tcpserver
// must not take that for itself (it would start the new version's
// qmail-queue worker and speak the old one's protocol to it). Then the
// new bin/qmail-queue is not "self" and is exec'd per message, through
// qmail-queue's own interface, until the program is restarted.
func IsSelf(path string) bool {
	self := "/proc/self/exe"
	if _, err := os.Stat(self); err != nil {
		// No /proc: the path it was started from.
		if self, err = os.Executable(); err != nil {
			return false
		}
	}
	return SameProgram(self, path)
}

// SameProgram says whether the program files at a and b are one file or
// two regular files with the same bytes (symbolic links followed). One
// file is known without reading it: a daemon may run a program it may
// execute but not read (mode 0711).
func SameProgram(a, b string) bool {
	if sameFile(a, b) {
		return true
	}
	fa, err := os.Open(a)
	if err != nil {
		return false
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false
	}
	defer fb.Close()
	return sameFileOrBytes(fa, fb)
}

// sameFile says whether paths a and b lead to one regular file.
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil || !fa.Mode().IsRegular() {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// sameFileOrBytes compares two open files: the same file, or regular
// files of one size whose bytes are equal.
func sameFileOrBytes(fa, fb *os.File) bool {
	a, err := fa.Stat()
	if err != nil || !a.Mode().IsRegular() {
		return false
	}
	b, err := fb.Stat()
	if err != nil || !b.Mode().IsRegular() {
		return false
	}
	if os.SameFile(a, b) {
		return true
	}
	if a.Size() != b.Size() {
		return false
	}
	ba, bb := make([]byte, 256<<10), make([]byte, 256<<10)
	for off := int64(0); off < a.Size(); {
		na, ea := io.ReadFull(io.NewSectionReader(fa, off, int64(len(ba))), ba)
		nb, eb := io.ReadFull(io.NewSectionReader(fb, off, int64(len(bb))), bb)
		if na != nb || na == 0 || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if (ea != nil && ea != io.ErrUnexpectedEOF) || (eb != nil && eb != io.ErrUnexpectedEOF) {
			return false
		}
		off += int64(na)
	}
	return true
}

// ForceExec says whether the environment holds GOQMAIL_FORCE_EXEC=1,
// which makes every long-lived program exec the programs it would
// otherwise run in-process (tcpserver's qmail-smtpd, qmail-lspawn's
// qmail-local, qmail-rspawn's qmail-remote), as qmail does: for tests
// that run both paths and compare, and for an administrator who wants
// qmail's process per connection, message and delivery back.
func (c *Context) ForceExec() bool {
	v, _ := c.Getenv("GOQMAIL_FORCE_EXEC")
	return v == "1"
}
