package testutil

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountNSEnv marks a test process that is already the re-run in a
// private mount namespace.
const mountNSEnv = "GOQMAIL_TEST_MOUNTNS"

// InMountNamespace makes the calling test run in a private mount
// namespace of its own, for tests that mount small file systems (a full
// tmpfs, an ext4 on a loop device): its mounts vanish with it even if it
// is killed, and nothing else on the machine sees them. Mounting needs
// root; without it the test is skipped.
//
// The first call re-runs just this test in a child process unshared from
// the machine's mounts (os/exec makes the child's mounts private), with
// the environment that env returns added (env may be nil; it runs only
// here, in the parent: a test builds what the child needs once), reports
// the child's output and result, and returns false: the caller must
// return at once. In the child it returns true.
//
//	func TestX(t *testing.T) {
//		if !testutil.InMountNamespace(t, nil) {
//			return
//		}
//		... mount, test; t.Cleanup unmounts
//	}
func InMountNamespace(t *testing.T, env func() []string) bool {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("mounting a small file system needs root (CI runs as root)")
	}
	if os.Getenv(mountNSEnv) != "" {
		return true
	}
	var extra []string
	if env != nil {
		extra = env()
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	cmd := exec.Command(exe, "-test.run=^"+regexpQuote(t.Name())+"$", "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Dir = wd
	cmd.Env = append(append(os.Environ(), mountNSEnv+"=1"), extra...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS, Setpgid: true}
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(6 * time.Minute): // -test.timeout should have ended it
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		err = <-done
	}
	t.Logf("in a private mount namespace:\n%s", out.String())
	if err != nil || !strings.Contains(out.String(), "--- PASS: "+t.Name()) {
		t.Fatalf("in a private mount namespace: %v", err)
	}
	return false
}
