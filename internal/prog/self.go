package prog

import (
	"bytes"
	"crypto/sha256"
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
	a, err := os.Stat(self)
	if err != nil {
		// No /proc: the path it was started from.
		if self, err = os.Executable(); err != nil {
			return false
		}
		if a, err = os.Stat(self); err != nil {
			return false
		}
	}
	b, err := os.Stat(path)
	if err != nil || !b.Mode().IsRegular() {
		return false
	}
	if os.SameFile(a, b) {
		return true
	}
	if a.Size() != b.Size() {
		return false
	}
	ha, ok := fileHash(self)
	if !ok {
		return false
	}
	hb, ok := fileHash(path)
	return ok && bytes.Equal(ha, hb)
}

func fileHash(path string) ([]byte, bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, false
	}
	return h.Sum(nil), true
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
