// Package e2e runs goqmail as an administrator would: the real binary,
// installed into a temporary home, its daemons started as processes,
// mail sent over SMTP on loopback, and the mailboxes and log lines read.
package e2e

import (
	"bufio"
	"fmt"
	"goqmail/internal/testutil"
	"goqmail/internal/testutil/accounts"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds cmd/qmail once for the whole test run, in a folder every
// account can read (deliveries run as unprivileged accounts).
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "goqmail-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		os.Chmod(dir, 0o755)
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		binPath = filepath.Join(dir, "qmail")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/qmail")
		cmd.Dir = root
		// As shipped: pure Go, static (the Makefile's build).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// tempHome makes an empty folder for an install that every account can
// reach (t.TempDir is private to root).
func tempHome(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "goqmail-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Getuid() == 0 {
		accounts.Release(t, dir) // a root-mode install may make them here
	}
	return filepath.Join(dir, "qmail")
}

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// server is a running goqmail: qmail-start (which became qmail-send)
// and tcpserver running qmail-smtpd.
type server struct {
	t     *testing.T
	home  string
	send  *exec.Cmd
	tcp   *exec.Cmd
	port  string
	log   chan string
	lines []string
}

// start runs the daemons of the install at home, as a run script would.
// tcpserverUser, if not empty, is the -u/-g account of qmail-smtpd.
func start(t *testing.T, home string, uid, gid int) *server {
	t.Helper()
	return startEnv(t, home, uid, gid)
}

// startEnv is start with more environment for qmail-start (and so for
// qmail-send and its spawners).
func startEnv(t *testing.T, home string, uid, gid int, extra ...string) *server {
	t.Helper()
	s := &server{t: t, home: home, log: make(chan string, 1000)}
	bin := filepath.Join(home, "bin")
	env := append([]string{"PATH=" + bin + ":/usr/bin:/bin"}, extra...)

	s.send = exec.Command(filepath.Join(bin, "qmail-start"), "./Maildir/")
	s.send.Env = env
	s.send.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logR, err := s.send.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.send.Stderr = os.Stderr
	if err := s.send.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(logR)
		for sc.Scan() {
			s.log <- sc.Text()
		}
		close(s.log)
	}()

	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	run(t, "127.0.0.1:allow\n:deny\n", filepath.Join(bin, "tcprules"), rules, rules+".tmp")
	s.tcp, s.port = startTCPServer(t, home, uid, gid, []string{"-x", rules}, filepath.Join(bin, "qmail-smtpd"))
	t.Cleanup(s.stop)
	return s
}

// stop sends TERM to qmail-send and tcpserver and waits for both.
func (s *server) stop() {
	for _, c := range []*exec.Cmd{s.send} { // tcpserver: startTCPServer's cleanup
		if c == nil || c.Process == nil || c.ProcessState != nil {
			continue
		}
		c.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { c.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
			<-done
			s.t.Errorf("%s did not stop on TERM", c.Path)
		}
	}
}

// expectLog waits for a qmail-send log line matching want (a prefix if
// it ends in "*"), skipping status lines; other lines in between fail.
func (s *server) expectLog(want string) string {
	s.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case line, ok := <-s.log:
			if !ok {
				s.t.Fatalf("log ended (%s) waiting for %q; saw %q", s.sendExit(), want, s.lines)
			}
			s.lines = append(s.lines, line)
			if strings.HasPrefix(line, "status: ") {
				continue
			}
			if strings.HasSuffix(want, "*") && strings.HasPrefix(line, strings.TrimSuffix(want, "*")) || line == want {
				return line
			}
			s.t.Fatalf("log line %q, want %q; saw %q", line, want, s.lines)
		case <-deadline:
			s.t.Fatalf("timed out waiting for %q; saw %q", want, s.lines)
		}
	}
}

// smtp is a minimal client that checks every reply exactly.
type smtp struct {
	t    *testing.T
	conn net.Conn
	tp   *textproto.Conn
}

func dial(t *testing.T, port string) *smtp {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &smtp{t: t, conn: c, tp: textproto.NewConn(c)}
}

// reply reads one reply (all its lines) and returns it joined by "\n".
func (c *smtp) reply() string {
	c.t.Helper()
	var lines []string
	for {
		l, err := c.tp.ReadLine()
		if err != nil {
			c.t.Fatalf("reading reply: %v (so far %q)", err, lines)
		}
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n")
		}
	}
}

func (c *smtp) cmd(line string) string {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatal(err)
	}
	return c.reply()
}

func (c *smtp) expect(line, want string) string {
	c.t.Helper()
	got := c.cmd(line)
	if strings.HasSuffix(want, "*") && strings.HasPrefix(got, strings.TrimSuffix(want, "*")) || got == want {
		return got
	}
	c.t.Fatalf("%s: got %q, want %q", line, got, want)
	return ""
}

// send delivers one message and returns qmail-smtpd's 250 reply.
func (c *smtp) send(from, to, body string) string {
	c.t.Helper()
	c.expect("MAIL FROM:<"+from+">", "250 ok")
	c.expect("RCPT TO:<"+to+">", "250 ok")
	c.expect("DATA", "354 go ahead")
	return c.expect(strings.ReplaceAll(body, "\n", "\r\n")+".", "250 ok *")
}

// waitFile waits for exactly one file in dir and returns its contents.
func waitFile(t *testing.T, dir string) (string, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ents, _ := os.ReadDir(dir)
		if len(ents) == 1 {
			p := filepath.Join(dir, ents[0].Name())
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			return p, string(data)
		}
		if len(ents) > 1 {
			t.Fatalf("%d files in %s, want 1", len(ents), dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no file appeared in %s", dir)
	return "", ""
}

func lookupID(t *testing.T, name string) (int, int) {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return uid, gid
}

// procUID returns the real uid of a process from /proc.
func procUID(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "Uid:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no Uid line")
}

// children lists the pids whose parent is pid, with their names.
func children(pid int) map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		s := string(data)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out[n] = s[open+1 : close]
		}
	}
	return out
}

// userModeInstall installs a user-mode home with the localhost
// configuration and returns it with the uid and gid its daemons run as
// (-1 when the test is not root and everything runs as the caller).
func userModeInstall(t *testing.T) (home string, uid, gid int) {
	t.Helper()
	bin := binary(t)
	home = tempHome(t)
	args := []string{"install", "--home", home, "--user-mode", "--config-localhost"}
	uid, gid = -1, -1
	if os.Getuid() == 0 {
		acct := testutil.Unprivileged(t)
		args = append(args, "--user", acct.Name)
		uid, gid = acct.UID, acct.GID
	}
	run(t, "", bin, args...)
	return home, uid, gid
}

// startTCPServer runs the install's tcpserver on 127.0.0.1 and a free
// port (-1 -R -H -l localhost, then opts, then -u/-g when uid >= 0),
// serving prog; it stops it (TERM, then KILL of its process group) when
// the test ends and returns it with its port.
func startTCPServer(t *testing.T, home string, uid, gid int, opts []string, prog ...string) (*exec.Cmd, string) {
	t.Helper()
	return startTCPServerEnv(t, home, uid, gid, nil, opts, prog...)
}

// startTCPServerEnv is startTCPServer with more environment for tcpserver.
func startTCPServerEnv(t *testing.T, home string, uid, gid int, env, opts []string, prog ...string) (*exec.Cmd, string) {
	t.Helper()
	args := append([]string{"-1", "-R", "-H", "-l", "localhost"}, opts...)
	if uid >= 0 {
		args = append(args, "-u", strconv.Itoa(uid), "-g", strconv.Itoa(gid))
	}
	args = append(append(args, "127.0.0.1", "0"), prog...)
	tcp := exec.Command(filepath.Join(home, "bin", "tcpserver"), args...)
	tcp.Env = append([]string{"PATH=" + filepath.Join(home, "bin") + ":/usr/bin:/bin"}, env...)
	tcp.Stderr = os.Stderr
	tcp.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := tcp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := tcp.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tcp.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { tcp.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-tcp.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("tcpserver did not stop on TERM")
		}
	})
	portc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		portc <- strings.TrimSpace(line)
	}()
	select {
	case port := <-portc:
		if port == "" {
			t.Fatal("tcpserver printed no port")
		}
		return tcp, port
	case <-time.After(10 * time.Second):
		t.Fatal("tcpserver did not print its port")
	}
	return nil, ""
}
