package e2e

// The crash tests' harness: a supervisor that restarts qmail-start after
// every death, as supervise(8) would, a /proc scanner that finds this
// test's processes by process group, and an SMTP client that reports
// errors instead of failing the test (it runs in goroutines).

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is one line of /proc/PID/stat, the fields the crash tests use.
type proc struct {
	pid, ppid, pgrp int
	comm            string
	state           byte
}

// readProc reads /proc/PID/stat.
func readProc(pid int) (proc, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	s := string(data)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open {
		return proc{}, false
	}
	f := strings.Fields(s[close+1:])
	if len(f) < 3 || len(f[0]) != 1 {
		return proc{}, false
	}
	p := proc{pid: pid, comm: s[open+1 : close], state: f[0][0]}
	p.ppid, _ = strconv.Atoi(f[1])
	p.pgrp, _ = strconv.Atoi(f[2])
	return p, true
}

// groupProcs lists the live (not zombie) processes of process group
// pgid. Every process a qmail-start generation makes stays in the group
// qmail-start was started in, even after it is orphaned, so this finds
// exactly this test's processes and nobody else's.
func groupProcs(pgid int) []proc {
	var out []proc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(n)
		if ok && p.pgrp == pgid && p.state != 'Z' && p.state != 'X' {
			out = append(out, p)
		}
	}
	return out
}

// waitGroupGone waits until process group pgid has no live process; if
// it still has one after d, it kills them and reports false.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(groupProcs(pgid)) == 0 {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, p := range groupProcs(pgid) {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
	return false
}

// generation is one run of qmail-start (which becomes qmail-send) and the
// children it starts, all in the process group pgid.
type generation struct {
	n     int
	cmd   *exec.Cmd
	pgid  int
	ready chan struct{} // closed at qmail-send's first log line
	done  chan struct{} // closed once qmail-send exited and was reaped
}

func (g *generation) running() bool {
	select {
	case <-g.done:
		return false
	default:
	}
	select {
	case <-g.ready:
		return true
	default:
		return false
	}
}

// supervisor restarts qmail-start whenever qmail-send dies, with one rule
// that supervise(8) does not have: the next generation starts only when
// every process of the previous one is gone and lock/sendmutex is free.
//
// Why wait: when qmail-send dies, qmail-lspawn sees its input close, lets
// the qmail-local processes in flight finish and exits; their results are
// lost, so the next qmail-send delivers those recipients again (qmail's
// documented duplicate window). Were the next qmail-send to start at once,
// an old qmail-local and a new one could deliver the same recipient at
// the same moment and the test could not bound the duplicates by the
// deliveries in flight at each kill; waiting also keeps the concurrency
// limits true. An old process that does not finish within 30 seconds is
// a hang and fails the test. (supervise(8) itself restarts qmail-start at
// once, in qmail as in goqmail; the overlap can only add duplicates of
// the same kind, never lose mail, because every old qmail-local already
// holds its message open and the new qmail-send redelivers whatever the
// old one did not mark done.)
type supervisor struct {
	t    *testing.T
	home string
	log  *os.File // every generation's log lines and standard error

	mu       sync.Mutex
	gen      *generation
	gens     int
	maxGens  int
	stopping bool
	pgids    []int
	lines    map[string]int // log line kinds counted
	unheard  map[int]int    // per generation: deliveries started, minus those reported
	wg       sync.WaitGroup
}

// startSupervisor starts the first generation and returns once it is
// ready. Everything it starts is stopped at the end of the test.
func startSupervisor(t *testing.T, home string, log *os.File, maxGens int) *supervisor {
	t.Helper()
	s := &supervisor{t: t, home: home, log: log, maxGens: maxGens, lines: map[string]int{}, unheard: map[int]int{}}
	s.wg.Add(1)
	go s.loop()
	t.Cleanup(s.stop)
	if s.waitRunning(1, 20*time.Second) == nil {
		t.Fatal("qmail-start did not start; see the log")
	}
	return s
}

func (s *supervisor) loop() {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			return
		}
		if s.gens >= s.maxGens {
			s.mu.Unlock()
			s.t.Errorf("qmail-send died %d times; not restarting it again", s.gens)
			return
		}
		g, err := s.launch()
		if err != nil {
			s.mu.Unlock()
			s.t.Errorf("starting qmail-start: %v", err)
			return
		}
		s.gen = g
		s.mu.Unlock()

		<-g.done
		s.note("generation %d: waiting for its processes to end", g.n)
		if !waitGroupGone(g.pgid, 30*time.Second) {
			s.t.Errorf("generation %d: processes still running 30 s after qmail-send died", g.n)
		}
		if err := waitLockFree(filepath.Join(s.home, "queue", "lock", "sendmutex"), 10*time.Second); err != nil {
			s.t.Errorf("generation %d: %v", g.n, err)
		}
	}
}

// launch starts one generation; s.mu is held.
func (s *supervisor) launch() (*generation, error) {
	s.gens++
	g := &generation{n: s.gens, ready: make(chan struct{}), done: make(chan struct{})}
	bin := filepath.Join(s.home, "bin")
	g.cmd = exec.Command(filepath.Join(bin, "qmail-start"), "./Maildir/")
	g.cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	g.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	g.cmd.Stderr = s.log
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := g.cmd.Start(); err != nil {
		return nil, err
	}
	g.pgid = g.cmd.Process.Pid
	s.pgids = append(s.pgids, g.pgid)
	s.note("generation %d: qmail-start pid %d", g.n, g.pgid)
	go func() {
		sc := bufio.NewScanner(out)
		first := true
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintf(s.log, "%d: %s\n", g.n, line)
			s.count(g.n, line)
			if first {
				first = false
				close(g.ready)
			}
		}
		err := g.cmd.Wait()
		s.note("generation %d: qmail-send ended: %v", g.n, err)
		s.mu.Lock()
		s.lines[fmt.Sprintf("qmail-send ended: %v", err)]++
		s.mu.Unlock()
		if first {
			close(g.ready)
		}
		close(g.done)
	}()
	return g, nil
}

// note writes a time-stamped line of the test's own into the log.
func (s *supervisor) note(format string, a ...any) {
	fmt.Fprintf(s.log, "=== %s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, a...)...)
}

// count tallies the log lines the crash tests report on.
func (s *supervisor) count(gen int, line string) {
	kind := ""
	switch {
	case strings.HasPrefix(line, "starting delivery "):
		s.mu.Lock()
		s.unheard[gen]++
		s.mu.Unlock()
		return
	case strings.HasPrefix(line, "delivery ") && strings.Contains(line, ": deferral: qmail-local_crashed./"):
		kind = "crashed"
	case strings.HasPrefix(line, "delivery ") && strings.Contains(line, ": success: "):
		kind = "success"
	case strings.HasPrefix(line, "delivery ") && strings.Contains(line, ": deferral: "):
		kind = "deferral"
	case strings.HasPrefix(line, "delivery ") && strings.Contains(line, ": failure: "):
		kind = "failure"
	case strings.HasPrefix(line, "alert: "), strings.HasPrefix(line, "warning: "):
		kind = line
	case strings.HasPrefix(line, "bounce msg "):
		kind = "bounce"
	case strings.HasPrefix(line, "delivery "):
		kind = "other report"
	default:
		return
	}
	s.mu.Lock()
	s.lines[kind]++
	if strings.HasPrefix(line, "delivery ") {
		s.unheard[gen]--
	}
	s.mu.Unlock()
}

// inFlight is the number of deliveries generation gen has started and
// not yet seen reported.
func (s *supervisor) inFlight(gen int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unheard[gen]
}

// unreported is the number of deliveries that were started and never
// reported, over every generation: those in flight when a generation
// died.
func (s *supervisor) unreported() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.unheard {
		n += v
	}
	return n
}

// counts returns a copy of the log line tallies.
func (s *supervisor) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.lines {
		out[k] = v
	}
	return out
}

// waitRunning waits for a ready, still running generation numbered at
// least min.
func (s *supervisor) waitRunning(min int, d time.Duration) *generation {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		g, stopping := s.gen, s.stopping
		s.mu.Unlock()
		if stopping {
			return nil
		}
		if g != nil && g.n >= min && g.running() {
			return g
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// current returns the latest generation (nil before the first).
func (s *supervisor) current() *generation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen
}

// signal sends sig to the running qmail-send, if one runs.
func (s *supervisor) signal(sig syscall.Signal) {
	if g := s.current(); g != nil && g.running() {
		g.cmd.Process.Signal(sig)
	}
}

// stop ends the supervision: TERM to qmail-send (it waits for its
// deliveries), KILL after 20 seconds, then every process left in any
// generation's group is waited for or killed.
func (s *supervisor) stop() {
	s.mu.Lock()
	s.stopping = true
	g := s.gen
	pgids := append([]int(nil), s.pgids...)
	s.mu.Unlock()
	if g != nil {
		g.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-g.done:
		case <-time.After(20 * time.Second):
			s.t.Errorf("qmail-send did not stop on TERM")
			g.cmd.Process.Kill()
			<-g.done
		}
	}
	s.wg.Wait()
	for _, pgid := range pgids {
		if !waitGroupGone(pgid, 10*time.Second) {
			s.t.Errorf("process group %d still had processes at the end; killed", pgid)
		}
	}
}

// waitLockFree waits until nobody holds lock/sendmutex (qmail-send holds
// it for its whole life).
func waitLockFree(path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		}
		f.Close()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lock/sendmutex still held after %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startSMTPOnly runs tcpserver with qmail-smtpd (as uid:gid when uid >=
// 0) in its own process group and returns it and its port; at the end of
// the test it and every process of its group are stopped.
func startSMTPOnly(t *testing.T, home string, uid, gid int, log *os.File) (*exec.Cmd, string) {
	t.Helper()
	bin := filepath.Join(home, "bin")
	rules := filepath.Join(home, "control", "tcp.smtp.cdb")
	run(t, "127.0.0.1:allow\n:deny\n", filepath.Join(bin, "tcprules"), rules, rules+".tmp")
	args := []string{"-1", "-R", "-H", "-l", "localhost", "-x", rules}
	if uid >= 0 {
		args = append(args, "-u", strconv.Itoa(uid), "-g", strconv.Itoa(gid))
	}
	args = append(args, "127.0.0.1", "0", filepath.Join(bin, "qmail-smtpd"))
	cmd := exec.Command(filepath.Join(bin, "tcpserver"), args...)
	cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin"}
	cmd.Stderr = log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	waited := make(chan struct{})
	portc := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		portc <- strings.TrimSpace(line)
		cmd.Wait()
		close(waited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-waited
		}
		if !waitGroupGone(pgid, 10*time.Second) {
			t.Errorf("tcpserver's process group still had processes at the end; killed")
		}
	})
	select {
	case port := <-portc:
		if port == "" {
			t.Fatal("tcpserver printed no port")
		}
		return cmd, port
	case <-time.After(10 * time.Second):
		t.Fatal("tcpserver did not print its port")
	}
	return nil, ""
}

// client is an SMTP client for goroutines: it returns errors.
type client struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialClient(port string) (*client, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		return nil, err
	}
	cl := &client{conn: c, r: bufio.NewReader(c)}
	if g, err := cl.reply(); err != nil || !strings.HasPrefix(g, "220 ") {
		c.Close()
		return nil, fmt.Errorf("greeting %q: %v", g, err)
	}
	return cl, nil
}

// reply reads one reply; a multi-line reply is joined by "\n".
func (c *client) reply() (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	var lines []string
	for len(lines) < 100 {
		l, err := c.r.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		l = strings.TrimRight(l, "\r\n")
		lines = append(lines, l)
		if len(l) < 4 || l[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
	return strings.Join(lines, "\n"), errors.New("reply too long")
}

func (c *client) write(s string) error {
	c.conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
	_, err := c.conn.Write([]byte(s))
	return err
}

// cmd sends one command and checks its reply starts with want.
func (c *client) cmd(line, want string) (string, error) {
	if err := c.write(line + "\r\n"); err != nil {
		return "", err
	}
	r, err := c.reply()
	if err == nil && !strings.HasPrefix(r, want) {
		err = fmt.Errorf("%s: reply %q, want %q", line, r, want)
	}
	return r, err
}

// send runs one transaction and returns the reply to the final dot; msg
// uses "\n" line ends and no line starts with '.'.
func (c *client) send(from, to, msg string) (string, error) {
	for _, step := range [][2]string{{"MAIL FROM:<" + from + ">", "250 "}, {"RCPT TO:<" + to + ">", "250 "}, {"DATA", "354 "}} {
		if _, err := c.cmd(step[0], step[1]); err != nil {
			return "", err
		}
	}
	if err := c.write(strings.ReplaceAll(msg, "\n", "\r\n") + ".\r\n"); err != nil {
		return "", err
	}
	return c.reply()
}

func (c *client) close() {
	c.cmd("QUIT", "221 ")
	c.conn.Close()
}
