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
)

// child is a tcpserver run as a process of its own with -1 (ucspi-tcp's,
// or this test binary as TestHelperTcpserver), for what a server running
// inside the test cannot show: signals, -u and -g, interop.
type child struct {
	cmd  *exec.Cmd
	port int           // as printed by -1
	done chan struct{} // closed once the process has been waited for
	err  error         // Wait's result, once done is closed
}

// startChild starts cmd in a process group of its own and reads the port
// it prints. When the test ends the group (the server and whatever it
// started) is killed and waited for.
func startChild(t *testing.T, cmd *exec.Cmd) *child {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	})
	// The port line is all the tests read of stdout: Wait may then
	// close the pipe.
	line, rerr := bufio.NewReader(out).ReadString('\n')
	go func() { c.err = cmd.Wait(); close(c.done) }()
	port, perr := strconv.Atoi(strings.TrimSpace(line))
	if rerr != nil || perr != nil {
		t.Fatalf("port line %q: %v %v", line, rerr, perr)
	}
	c.port = port
	return c
}

// helperCmd is this test binary run again as TestHelperTcpserver: a
// tcpserver with args (qmail's names for them joined by "|" in the
// environment) and env added to the environment.
func helperCmd(t *testing.T, args []string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperTcpserver$")
	cmd.Env = append(append(os.Environ(), "GOQMAIL_TCPSERVER_HELPER=1",
		"GOQMAIL_TCPSERVER_ARGS="+strings.Join(args, "|")), env...)
	cmd.Stderr = os.Stderr
	return cmd
}

// terminate sends SIGTERM and waits, at most 20 s, for exit 0.
func (c *child) terminate(t *testing.T) {
	t.Helper()
	c.cmd.Process.Signal(syscall.SIGTERM)
	c.exit(t)
}

// exit waits, at most 20 s, for exit 0.
func (c *child) exit(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
		if c.err != nil {
			t.Fatalf("exit: %v", c.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("tcpserver did not exit on SIGTERM")
	}
}
