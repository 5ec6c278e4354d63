package start

import (
	"bytes"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

// run calls Main for a failure path (Main never returns on success: it
// becomes qmail-send). It keeps the test process's umask.
func run(t *testing.T, home string, args []string, env []string, files []*os.File) (int, string) {
	t.Helper()
	old := syscall.Umask(0)
	syscall.Umask(old)
	defer syscall.Umask(old) // Main sets 077
	var stderr bytes.Buffer
	ctx := &prog.Context{Args: append([]string{"qmail-start"}, args...), Env: env, Home: home,
		Stdin: strings.NewReader(""), Stdout: &bytes.Buffer{}, Stderr: &stderr, Files: files}
	code := Main(ctx)
	return code, stderr.String()
}

// userHome is a user-mode home the test process may start.
func userHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	if os.Getuid() == 0 {
		acct := testutil.Unprivileged(t)
		if err := os.Chown(home, acct.UID, acct.GID); err != nil {
			t.Fatal(err)
		}
	}
	return home
}

func logFile(t *testing.T) []*os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return []*os.File{nil, f, nil}
}

func TestFailures(t *testing.T) {
	emptyDir := t.TempDir()
	tests := []struct {
		name  string
		home  string
		args  []string
		env   []string
		files bool
		want  string
	}{
		{
			name: "missing home",
			home: filepath.Join(emptyDir, "nonexistent"),
			want: "qmail-start: fatal: unable to stat " + filepath.Join(emptyDir, "nonexistent"),
		},
		{
			name: "no descriptor 1 for the log",
			want: "qmail-start: fatal: no standard output for the log\n",
		},
		{
			name:  "logger not in PATH",
			args:  []string{"./Maildir/", "no-such-logger", "qmail"},
			env:   []string{"PATH=" + emptyDir},
			files: true,
			want:  "qmail-start: fatal: unable to find logger no-such-logger: not found in PATH\n",
		},
		{
			name:  "no bin/qmail-lspawn",
			args:  []string{"./Maildir/"},
			files: true,
			want:  "qmail-start: fatal: unable to start qmail-lspawn: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := tt.home
			if home == "" {
				home = userHome(t)
			}
			var files []*os.File
			if tt.files {
				files = logFile(t)
			}
			code, stderr := run(t, home, tt.args, tt.env, files)
			if code != 111 {
				t.Errorf("exit %d, want 111", code)
			}
			if !strings.HasPrefix(stderr, tt.want) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr = %q, want one line starting %q", stderr, tt.want)
			}
		})
	}
}

// TestRootModeNeedsRoot: an ordinary account cannot start a root-mode
// install ("/" is owned by root).
func TestRootModeNeedsRoot(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	code, stderr := run(t, "/", nil, nil, nil)
	if code != 111 {
		t.Errorf("exit %d, want 111", code)
	}
	want := "qmail-start: fatal: a root-mode install must be started by root\n"
	if _, err := user.Lookup("qmails"); err != nil {
		want = "qmail-start: fatal: unable to find user "
	}
	if !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

// otherHomeEnv passes the test's foreign-owned home to its unprivileged
// re-run.
const otherHomeEnv = "GOQMAIL_TEST_START_OTHER_HOME"

// TestUserModeOfAnother: an ordinary account cannot start a user-mode
// install that belongs to someone else.
func TestUserModeOfAnother(t *testing.T) {
	if os.Getuid() == 0 {
		// Prepare a home owned by a third uid, reachable by every account,
		// then re-run as nobody.
		home, err := os.MkdirTemp("", "goqmail-start-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(home)
		if err := os.Chmod(home, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(home, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		t.Setenv(otherHomeEnv, home)
		testutil.AsUnprivileged(t)
		return
	}
	home := os.Getenv(otherHomeEnv)
	if home == "" {
		t.Skip("needs root to make a home owned by another account")
	}
	code, stderr := run(t, home, nil, nil, logFile(t))
	if code != 111 {
		t.Errorf("exit %d, want 111", code)
	}
	want := "qmail-start: fatal: this user-mode install belongs to uid 12345, not to uid " + strconv.Itoa(os.Geteuid()) + "\n"
	if stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "logger")
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	exe2 := filepath.Join(other, "logger")
	if err := os.WriteFile(exe2, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		env     []string
		prog    string
		want    string
		wantErr bool
	}{
		{"found", []string{"PATH=/nonexistent:" + dir}, "logger", exe, false},
		{"first in PATH wins", []string{"PATH=" + other + ":" + dir}, "logger", exe2, false},
		{"slash taken as is", nil, "/some/where/logger", "/some/where/logger", false},
		{"relative slash taken as is", nil, "./logger", "./logger", false},
		{"not executable", []string{"PATH=" + dir}, "plain", "", true},
		{"a folder", []string{"PATH=" + dir}, "sub", "", true},
		{"missing", []string{"PATH=" + dir}, "splogger", "", true},
		{"no PATH", nil, "logger", "", true},
		{"last PATH wins", []string{"PATH=" + dir, "PATH=/nonexistent"}, "logger", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lookPath(tt.env, tt.prog)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("lookPath = %q, %v; want %q, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestHoldLowFDs: while the low descriptors are held, whatever is opened
// (a pipe here; the runtime's epoll, the children's pidfds in qmail-start)
// gets a number above 9, so that becomeSend's moves onto 0-6 can only
// replace what holdLowFDs took.
func TestHoldLowFDs(t *testing.T) {
	held := holdLowFDs()
	defer func() {
		for _, n := range held {
			syscall.Close(n)
		}
	}()
	for fd := 3; fd <= 9; fd++ {
		if _, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0); errno != 0 {
			t.Errorf("descriptor %d not held: %v", fd, errno)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if r.Fd() <= 9 || w.Fd() <= 9 {
		t.Errorf("pipe opened on %d and %d while 3-9 were held", r.Fd(), w.Fd())
	}
}
