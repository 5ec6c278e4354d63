package tcpserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/qq"
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
	if home := os.Getenv("GOQMAIL_TCPSERVER_HOME"); home != "" {
		// This test binary, named as the program, runs queueMain
		// in-process, with home's bin/qmail-queue.
		ctx.Home = home
		ctx.InProcess = func(string) (prog.Main, bool) { return queueMain, true }
	}
	os.Stdout.Sync()
	code := Tcpserver(ctx)
	os.Exit(code)
}

// TestSIGTERM: SIGTERM makes tcpserver stop accepting and exit 0.
func TestSIGTERM(t *testing.T) {
	c := startChild(t, helperCmd(t, []string{"-1", "-R", "-H", "-l", "0", "127.0.0.1", "0", "echo", "hi"}))
	if got := talk(t, "", "127.0.0.1", c.port, ""); got != "hi\n" {
		t.Fatalf("got %q", got)
	}
	c.terminate(t)
}

// TestDropPrivileges: -u and -g take effect after binding (root only;
// run in a helper process, since they change the whole process).
func TestDropPrivileges(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to switch users")
	}
	c := startChild(t, helperCmd(t, []string{"-1", "-R", "-H", "-l", "0", "-u", "65534", "-g", "65533",
		"127.0.0.1", "0", "sh", "-c", "id -u; id -g; id -G"}))
	if got := talk(t, "", "127.0.0.1", c.port, ""); got != "65534\n65533\n65533\n" {
		t.Fatalf("uid, gid, groups: %q", got)
	}
}

// queueMain is an in-process stand-in for qmail-smtpd, queueing as it
// does (qq.OpenCtx; 354; the body into qmail-queue; Close; the answer)
// and with no timeout of its own: "DATA" takes a body ended by ".",
// "QUIT" ends the session.
func queueMain(ctx *prog.Context) int {
	in := bufio.NewReader(ctx.Stdin)
	fmt.Fprint(ctx.Stdout, "220 ready\r\n")
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return 1
		}
		switch strings.TrimSpace(line) {
		case "DATA":
			q, err := qq.OpenCtx(ctx, ctx.Env)
			if err != nil {
				fmt.Fprint(ctx.Stdout, "451 qqt failure\r\n")
				continue
			}
			fmt.Fprint(ctx.Stdout, "354 go ahead\r\n")
			for {
				l, err := in.ReadString('\n')
				if err != nil {
					q.Abort()
					return 1
				}
				if l == ".\r\n" {
					break
				}
				q.WriteString(l)
			}
			if r := q.Close("a@example.org", []string{"b@example.net"}); r.OK() {
				fmt.Fprint(ctx.Stdout, "250 ok\r\n")
			} else {
				fmt.Fprintf(ctx.Stdout, "451 %s\r\n", r.Text[1:])
			}
		case "QUIT":
			fmt.Fprint(ctx.Stdout, "221 bye\r\n")
			return 0
		default:
			fmt.Fprint(ctx.Stdout, "502 unimplemented\r\n")
		}
	}
}

// fakeQueue is bin/qmail-queue for queueMain: it copies the message to
// DIR/tmp.PID, reads the envelope; without one it removes the copy,
// makes DIR/aborted and exits 54, as qmail-queue does. With one it makes
// DIR/committing, waits (at most 20 s) for DIR/go, moves the copy into
// DIR/queue and exits 0.
const fakeQueue = `#!/bin/sh
d=DIR
cat > $d/tmp.$$
cat <&1 > $d/env.$$
if [ ! -s $d/env.$$ ]; then rm -f $d/tmp.$$ $d/env.$$; touch $d/aborted; exit 54; fi
touch $d/committing
i=0
while [ ! -e $d/go ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done
mv $d/tmp.$$ $d/queue/msg.$$
rm -f $d/env.$$
exit 0
`

// termServer is a tcpserver process running queueMain in-process on
// loopback with fakeQueue as bin/qmail-queue (its files in dir); it and
// its children are killed at cleanup if still running.
type termServer struct {
	*child
	dir string
}

func startTermServer(t *testing.T) *termServer {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	home, dir := t.TempDir(), t.TempDir()
	os.Mkdir(filepath.Join(home, "bin"), 0o755)
	os.Mkdir(filepath.Join(dir, "queue"), 0o755)
	script := strings.Replace(fakeQueue, "DIR", dir, 1)
	if err := os.WriteFile(filepath.Join(home, "bin", "qmail-queue"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(t, []string{"-1", "-R", "-H", "-l", "0", "127.0.0.1", "0", exe}, "GOQMAIL_TCPSERVER_HOME="+home)
	return &termServer{child: startChild(t, cmd), dir: dir}
}

// data dials and starts a message: DATA answered 354.
func (ts *termServer) data(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, r := ts.dial(t)
	fmt.Fprint(c, "DATA\r\n")
	if l, _ := r.ReadString('\n'); l != "354 go ahead\r\n" {
		t.Fatalf("DATA: %q", l)
	}
	return c, r
}

// dial connects to the server and reads its greeting; every read or
// write on the connection has 20 s at most.
func (ts *termServer) dial(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ts.port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if l, err := r.ReadString('\n'); l != "220 ready\r\n" {
		t.Fatalf("greeting %q, %v", l, err)
	}
	return c, r
}

// waitFile waits, at most 20 s, for path to exist.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for i := 0; i < 400; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never came", path)
}

// rest is what the client gets until the server closes the connection.
func rest(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read: %v (after %q)", err, b)
	}
	return string(b)
}

func queued(t *testing.T, dir string) []string {
	t.Helper()
	var bodies []string
	ents, _ := os.ReadDir(filepath.Join(dir, "queue"))
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(dir, "queue", e.Name()))
		bodies = append(bodies, string(b))
	}
	return bodies
}

// TestSIGTERMIdleSession: an in-process session waiting for its
// client's next command (for ever: queueMain has no timeout) does not
// hold tcpserver up: on SIGTERM the connection is closed without a word
// and tcpserver exits 0.
func TestSIGTERMIdleSession(t *testing.T) {
	ts := startTermServer(t)
	_, r := ts.dial(t)
	ts.terminate(t)
	if got := rest(t, r); got != "" {
		t.Errorf("the idle client got %q", got)
	}
}

// TestSIGTERMCommitting: a message whose envelope qmail-queue has when
// SIGTERM comes is queued and answered 250 before the connection is
// closed, while an idle session is closed at once and no new client is
// accepted.
func TestSIGTERMCommitting(t *testing.T) {
	ts := startTermServer(t)
	_, idle := ts.dial(t)
	c, r := ts.data(t)
	fmt.Fprint(c, "Subject: hi\r\n\r\nbody\r\n.\r\n")
	waitFile(t, filepath.Join(ts.dir, "committing"))
	ts.cmd.Process.Signal(syscall.SIGTERM)
	// The idle session ends: tcpserver is stopping, the message is
	// still being committed.
	if got := rest(t, idle); got != "" {
		t.Errorf("the idle client got %q", got)
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(ts.port)), 5*time.Second); err == nil {
		t.Error("a new client was accepted after SIGTERM")
	}
	os.WriteFile(filepath.Join(ts.dir, "go"), nil, 0o644)
	if got := rest(t, r); got != "250 ok\r\n" {
		t.Errorf("the committing client got %q, want the 250 and the end", got)
	}
	ts.exit(t)
	if q := queued(t, ts.dir); len(q) != 1 || q[0] != "Subject: hi\r\n\r\nbody\r\n" {
		t.Errorf("queued: %q", q)
	}
}

// TestSIGTERMCommittingPipelined: a client that sent its next command
// before the answer to its message (pipelining, as QMTP clients do) gets
// the 250 and then a clean end of the connection, not a reset, which
// could destroy the 250 before the client read it and make it send the
// message again.
func TestSIGTERMCommittingPipelined(t *testing.T) {
	ts := startTermServer(t)
	_, idle := ts.dial(t)
	c, r := ts.data(t)
	fmt.Fprint(c, "Subject: hi\r\n\r\nbody\r\n.\r\n")
	waitFile(t, filepath.Join(ts.dir, "committing"))
	// The next command comes while the message is committed: it waits
	// unread in the socket when the session ends.
	fmt.Fprint(c, "MAIL FROM:<next@example.org>\r\n")
	ts.cmd.Process.Signal(syscall.SIGTERM)
	// The idle session's end says the stop has reached every session.
	if got := rest(t, idle); got != "" {
		t.Errorf("the idle client got %q", got)
	}
	os.WriteFile(filepath.Join(ts.dir, "go"), nil, 0o644)
	b, err := io.ReadAll(r)
	if err != nil {
		t.Errorf("read: %v after %q: the connection was reset", err, b)
	}
	if !strings.HasPrefix(string(b), "250 ok\r\n") {
		t.Errorf("the client got %q, want the 250 first", b)
	}
	c.Close()
	ts.exit(t)
}

// TestSIGTERMInData: a message still being received when SIGTERM comes
// is dropped whole: the client gets no 250 (the connection is closed),
// qmail-queue gets no envelope and leaves nothing, and tcpserver exits
// 0 at once.
func TestSIGTERMInData(t *testing.T) {
	ts := startTermServer(t)
	c, r := ts.data(t)
	fmt.Fprint(c, "Subject: half\r\n\r\nthe first half\r\n")
	ts.terminate(t)
	if got := rest(t, r); got != "" {
		t.Errorf("the client got %q", got)
	}
	waitFile(t, filepath.Join(ts.dir, "aborted"))
	if q := queued(t, ts.dir); len(q) != 0 {
		t.Errorf("queued: %q", q)
	}
	if ents, _ := os.ReadDir(ts.dir); len(ents) != 2 {
		t.Errorf("left behind: %v", ents)
	}
}
