// Package testutil helps tests run the way qmail runs: never delivering
// as root. CI and these machines run as root, so a test that delivers
// mail, or that checks what an ordinary account cannot read, re-runs
// itself as an unprivileged account.
package testutil

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// Account is an unprivileged account for tests.
type Account struct {
	Name     string
	UID, GID int
}

// reexecEnv marks a test process that is already the unprivileged re-run.
const reexecEnv = "GOQMAIL_TEST_UNPRIVILEGED"

// Unprivileged returns the account tests deliver as: the caller itself
// when it is not root, else "nobody" (present on every Debian system).
func Unprivileged(t testing.TB) Account {
	t.Helper()
	if os.Getuid() != 0 {
		u, _ := user.Current()
		name := strconv.Itoa(os.Getuid())
		if u != nil {
			name = u.Username
		}
		return Account{Name: name, UID: os.Getuid(), GID: os.Getgid()}
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("no unprivileged account to test with: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return Account{Name: u.Username, UID: uid, GID: gid}
}

var (
	copyOnce sync.Once
	copyPath string
	copyErr  error
)

// testBinary copies the running test binary where any account can run it
// (go test builds it in a folder only root can enter).
func testBinary() (string, error) {
	copyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "goqmail-testbin-")
		if err != nil {
			copyErr = err
			return
		}
		os.Chmod(dir, 0o755)
		exe, err := os.Executable()
		if err != nil {
			copyErr = err
			return
		}
		src, err := os.Open(exe)
		if err != nil {
			copyErr = err
			return
		}
		defer src.Close()
		p := filepath.Join(dir, filepath.Base(exe))
		dst, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
		if err != nil {
			copyErr = err
			return
		}
		if _, err := io.Copy(dst, src); err != nil {
			copyErr = err
			return
		}
		copyErr = dst.Close()
		copyPath = p
	})
	return copyPath, copyErr
}

// AsUnprivileged makes the calling test run as an unprivileged account.
// When the test process is root, it re-runs just this test as "nobody" in
// a child process, reports the child's output and result, and returns
// false: the caller must return at once. Otherwise (already unprivileged)
// it returns true and the test goes on.
//
//	func TestX(t *testing.T) {
//		if !testutil.AsUnprivileged(t) {
//			return
//		}
//		...
//	}
func AsUnprivileged(t *testing.T) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return true
	}
	if os.Getenv(reexecEnv) != "" {
		t.Fatal("re-run as an unprivileged account but still root")
	}
	acct := Unprivileged(t)
	bin, err := testBinary()
	if err != nil {
		t.Fatalf("unable to copy the test binary: %v", err)
	}
	wd, _ := os.Getwd()
	cmd := exec.Command(bin, "-test.run=^"+regexpQuote(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), reexecEnv+"=1", "TMPDIR=/tmp", "HOME=/tmp")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(acct.UID), Gid: uint32(acct.GID), Groups: []uint32{},
	}}
	out, err := cmd.CombinedOutput()
	t.Logf("re-ran as %s (uid %d):\n%s", acct.Name, acct.UID, out)
	if err != nil {
		t.Fatalf("as %s: %v", acct.Name, err)
	}
	return false
}

func regexpQuote(s string) string {
	out := make([]byte, 0, len(s)*2)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\', '.', '+', '*', '?', '(', ')', '|', '[', ']', '{', '}', '^', '$':
			out = append(out, '\\')
		case '/':
			// subtests: go test splits -test.run on '/', keep it literal
		}
		out = append(out, c)
	}
	return string(out)
}

// Chown gives a folder tree to an account, for tests that prepare files
// as root and then run a program as that account.
func Chown(t testing.TB, root string, a Account) {
	t.Helper()
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, a.UID, a.GID)
	})
	if err != nil {
		t.Fatalf("chown %s: %v", root, err)
	}
}

// MustWrite writes a file, failing the test on error.
func MustWrite(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// Describe is for failure messages.
func (a Account) String() string { return fmt.Sprintf("%s(%d:%d)", a.Name, a.UID, a.GID) }
