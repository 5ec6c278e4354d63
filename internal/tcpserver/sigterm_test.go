package tcpserver

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// TestHelperTcpserver is not a test: it is the tcpserver process that
// TestSIGTERM starts (the test binary run again).
func TestHelperTcpserver(t *testing.T) {
	if os.Getenv("GOQMAIL_TCPSERVER_HELPER") == "" {
		t.Skip("helper process only")
	}
	args := append([]string{"tcpserver"}, strings.Split(os.Getenv("GOQMAIL_TCPSERVER_ARGS"), "|")...)
	ctx := &prog.Context{Args: args, Env: baseEnv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
	os.Stdout.Sync()
	code := Tcpserver(ctx)
	os.Exit(code)
}

// TestSIGTERM: SIGTERM makes tcpserver stop accepting and exit 0.
func TestSIGTERM(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperTcpserver$")
	cmd.Env = append(os.Environ(), "GOQMAIL_TCPSERVER_HELPER=1",
		"GOQMAIL_TCPSERVER_ARGS=-1|-R|-H|-l|0|127.0.0.1|0|echo|hi")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("port line %q: %v %v", line, err, perr)
	}
	if got := talk(t, "", "127.0.0.1", port, ""); got != "hi\n" {
		t.Fatalf("got %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("tcpserver did not exit on SIGTERM")
	}
}

// TestDropPrivileges: -u and -g take effect after binding (root only;
// run in a helper process, since they change the whole process).
func TestDropPrivileges(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to switch users")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperTcpserver$")
	cmd.Env = append(os.Environ(), "GOQMAIL_TCPSERVER_HELPER=1",
		"GOQMAIL_TCPSERVER_ARGS=-1|-R|-H|-l|0|-u|65534|-g|65533|127.0.0.1|0|sh|-c|id -u; id -g; id -G")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("port line %q: %v %v", line, err, perr)
	}
	if got := talk(t, "", "127.0.0.1", port, ""); got != "65534\n65533\n65533\n" {
		t.Fatalf("uid, gid, groups: %q", got)
	}
}
