package tcpserver

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// syncBuffer is a goroutine-safe stderr for in-process servers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var baseEnv = []string{"PATH=/usr/bin:/bin", "A=1"}

// startOurs runs our tcpserver in-process on 127.0.0.1 (or the host in
// args) and returns its port and stderr; it is stopped at cleanup.
func startOurs(t *testing.T, env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	return startOursIn(t, nil, env, args...)
}

// startOursIn is startOurs with ctx.InProcess set to inProc.
func startOursIn(t *testing.T, inProc func(string) (prog.Main, bool), env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	ctx := &prog.Context{Args: append([]string{"tcpserver"}, args...), Env: env,
		Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: stderr, InProcess: inProc}
	o, msg := parseOptions(ctx)
	if o == nil {
		t.Fatalf("options: %s", msg)
	}
	s := &server{ctx: ctx, o: o}
	s.here = s.inProcessMain()
	if code := s.listen(); code != 0 {
		t.Fatalf("listen: %d %s", code, stderr)
	}
	stop := make(chan struct{})
	done := make(chan int, 1)
	go func() { done <- s.serve(stop) }()
	t.Cleanup(func() {
		close(stop)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
		s.wg.Wait()
	})
	return s.ln.Addr().(*net.TCPAddr).Port, stderr
}

// startTheirs runs ucspi-tcp's tcpserver with -1 and returns its port.
func startTheirs(t *testing.T, env []string, args ...string) (int, *syncBuffer) {
	t.Helper()
	needUcspi(t, "tcpserver")
	stderr := &syncBuffer{}
	cmd := exec.Command("tcpserver", append([]string{"-1"}, args...)...)
	cmd.Env = env
	cmd.Stderr = stderr
	return startChild(t, cmd).port, stderr
}

// talk connects from the address from (to host:port), sends input and
// returns all it reads until the server closes.
func talk(t *testing.T, from, host string, port int, input string) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if input != "" {
		c.Write([]byte(input))
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

// normalize replaces the port numbers, which differ between runs.
func normalize(s string) string {
	re := regexp.MustCompile(`(?m)^(TCP6?(LOCAL|REMOTE)PORT)=\d+$`)
	return re.ReplaceAllString(s, "$1=N")
}

func makeRules(t *testing.T, rules string, theirs bool) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.cdb")
	if theirs {
		needUcspi(t, "tcprules")
		cmd := exec.Command("tcprules", path, path+".tmp")
		cmd.Stdin = strings.NewReader(rules)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	} else if code, _, e := runProg(Tcprules, []string{"tcprules", path, path + ".tmp"}, nil, rules); code != 0 {
		t.Fatal(e)
	}
	return path
}

const interopRules = "127.0.0.1:allow,RELAYCLIENT=\"\",X=\"one\"\n127.0.0.2:deny\n127.0.0.:allow,X='net'\n:deny\n"

// TestInteropWithUcspi: ours and ucspi-tcp's tcpserver, each with a
// rules cdb made by the other's tcprules, make the same decisions and
// give /usr/bin/env the same environment, in the same order (stale
// TCPREMOTEHOST/TCPREMOTEINFO from the server's own environment removed).
func TestInteropWithUcspi(t *testing.T) {
	needUcspi(t, "tcpserver")
	env := append(baseEnv, "TCPREMOTEHOST=stale", "TCPREMOTEINFO=stale", "PROTO=old", "X=inherited", "Z=2")
	theirCDB := makeRules(t, interopRules, true)
	ourCDB := makeRules(t, interopRules, false)
	args := func(cdb string) []string {
		return []string{"-R", "-H", "-l", "lname", "-x", cdb, "127.0.0.1", "0", "env"}
	}
	ourPort, _ := startOurs(t, env, args(theirCDB)...)
	theirPort, _ := startTheirs(t, env, args(ourCDB)...)
	for _, from := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		ours := normalize(talk(t, from, "127.0.0.1", ourPort, ""))
		theirs := normalize(talk(t, from, "127.0.0.1", theirPort, ""))
		if ours != theirs {
			t.Errorf("from %s:\nours:\n%s\ntheirs:\n%s", from, ours, theirs)
		}
		deny := from == "127.0.0.2"
		if deny != (ours == "") {
			t.Errorf("from %s: deny %v but output %q", from, deny, ours)
		}
	}
	out := talk(t, "127.0.0.3", "127.0.0.1", ourPort, "")
	for _, want := range []string{"PROTO=TCP\n", "TCPREMOTEIP=127.0.0.3\n", "TCPLOCALHOST=lname\n", "X=net\n", "Z=2\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	for _, bad := range []string{"stale", "PROTO=old", "inherited"} {
		if strings.Contains(out, bad) {
			t.Errorf("%q leaked into\n%s", bad, out)
		}
	}
}

// TestRulesFileFaults: missing rules drop the connection unless -X;
// a corrupt file drops it (fail closed); a new tcprules takes effect at
// the next connection.
func TestRulesFileFaults(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.cdb")
	corrupt := filepath.Join(dir, "corrupt.cdb")
	os.WriteFile(corrupt, bytes.Repeat([]byte{0xff}, 4096), 0o644)
	cases := []struct {
		name    string
		args    []string
		output  bool
		warning string
	}{
		{"missing", []string{"-x", missing}, false, "tcpserver: warning: dropping connection, unable to read " + missing + ": file does not exist\n"},
		{"missing -X", []string{"-X", "-x", missing}, true, ""},
		{"corrupt", []string{"-x", corrupt}, false, "tcpserver: warning: dropping connection, unable to read " + corrupt + ": protocol error\n"},
		{"corrupt -X", []string{"-X", "-x", corrupt}, false, "tcpserver: warning: dropping connection, unable to read " + corrupt + ": protocol error\n"},
		{"no program", []string{"-X", "-x", missing, "127.0.0.1", "0", "/nonexistent/prog"}, false,
			"tcpserver: warning: dropping connection, unable to run /nonexistent/prog: file does not exist\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-R", "-H", "-l", "0"}, c.args...)
			if len(c.args) < 4 {
				args = append(args, "127.0.0.1", "0", "echo", "hello")
			}
			port, stderr := startOurs(t, baseEnv, args...)
			out := talk(t, "", "127.0.0.1", port, "")
			if (out != "") != c.output {
				t.Errorf("output %q", out)
			}
			waitFor(t, func() bool { return stderr.String() == c.warning }, func() string { return stderr.String() })
		})
	}
	t.Run("rules reread", func(t *testing.T) {
		path := makeRules(t, ":deny\n", false)
		port, _ := startOurs(t, baseEnv, "-R", "-H", "-l", "0", "-x", path, "127.0.0.1", "0", "echo", "hello")
		if out := talk(t, "", "127.0.0.1", port, ""); out != "" {
			t.Fatalf("denied but got %q", out)
		}
		if code, _, e := runProg(Tcprules, []string{"tcprules", path, path + ".tmp"}, nil, ":allow\n"); code != 0 {
			t.Fatal(e)
		}
		if out := talk(t, "", "127.0.0.1", port, ""); out != "hello\n" {
			t.Fatalf("allowed but got %q", out)
		}
	})
}

func waitFor(t *testing.T, ok func() bool, show func() string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if ok() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Errorf("condition not met; have %q", show())
}

// TestVerboseLines: -v writes ucspi-tcp's status lines; deny exits 100
// (status 25600).
func TestVerboseLines(t *testing.T) {
	path := makeRules(t, "127.0.0.2:deny\n", false)
	port, stderr := startOurs(t, baseEnv, "-v", "-R", "-H", "-l", "lname", "-c", "3", "-x", path, "127.0.0.1", "0", "sh", "-c", "exit 3")
	talk(t, "127.0.0.1", "127.0.0.1", port, "")
	waitFor(t, func() bool { return strings.Count(stderr.String(), "\n") >= 6 }, stderr.String)
	talk(t, "127.0.0.2", "127.0.0.1", port, "")
	waitFor(t, func() bool { return strings.Count(stderr.String(), "\n") >= 11 }, stderr.String)
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	pats := []string{
		`^tcpserver: status: 0/3$`,
		`^tcpserver: status: 1/3$`,
		`^tcpserver: pid (\d+) from 127\.0\.0\.1$`,
		`^tcpserver: ok (\d+) lname:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+$`,
		`^tcpserver: end (\d+) status 768$`,
		`^tcpserver: status: 0/3$`,
		`^tcpserver: status: 1/3$`,
		`^tcpserver: pid (\d+) from 127\.0\.0\.2$`,
		`^tcpserver: deny (\d+) lname:127\.0\.0\.1:\d+ :127\.0\.0\.2::\d+$`,
		`^tcpserver: end (\d+) status 25600$`,
		`^tcpserver: status: 0/3$`,
	}
	if len(lines) != len(pats) {
		t.Fatalf("lines:\n%s", stderr)
	}
	pids := map[int]string{}
	for i, p := range pats {
		m := regexp.MustCompile(p).FindStringSubmatch(lines[i])
		if m == nil {
			t.Fatalf("line %d %q does not match %s", i, lines[i], p)
		}
		if len(m) > 1 {
			pids[i] = m[1]
		}
	}
	if pids[2] != pids[3] || pids[3] != pids[4] || pids[7] != pids[8] || pids[8] != pids[9] {
		t.Errorf("pids differ within a connection: %v", pids)
	}
}

func TestSafeField(t *testing.T) {
	long := strings.Repeat("a", 100)
	cases := map[string]string{
		"":                "",
		"mx.example.com":  "mx.example.com",
		"a:b%c d\x01\x7f": "a?b?c?d??",
		"é":               "??",
		long:              long + "...",
		long + "b":        long + "...",
		long[:99]:         long[:99],
	}
	for in, want := range cases {
		if got := safeField(in); got != want {
			t.Errorf("safeField(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrencyLimit: with -c 1 a second client waits until the first
// program ends.
func TestConcurrencyLimit(t *testing.T) {
	port, _ := startOurs(t, baseEnv, "-R", "-H", "-l", "0", "-c", "1", "127.0.0.1", "0",
		"sh", "-c", "echo start; read x; echo done")
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	a, ra := dial()
	a.SetDeadline(time.Now().Add(10 * time.Second))
	if l, err := ra.ReadString('\n'); l != "start\n" {
		t.Fatalf("first: %q %v", l, err)
	}
	b, rb := dial()
	b.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if l, err := rb.ReadString('\n'); err == nil {
		t.Fatalf("second client served while the first runs: %q", l)
	}
	a.Write([]byte("go\n"))
	if l, _ := ra.ReadString('\n'); l != "done\n" {
		t.Fatalf("first end: %q", l)
	}
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if l, err := rb.ReadString('\n'); l != "start\n" {
		t.Fatalf("second after the first ended: %q %v", l, err)
	}
}

// TestIPv6: on ::1 the client is IPv6 (PROTO=TCP6, TCP6* copies); on a
// dual-stack "-6 0" an IPv4 client is plain IPv4.
func TestIPv6(t *testing.T) {
	if l, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skip("no IPv6 loopback")
	} else {
		l.Close()
	}
	port, _ := startOurs(t, baseEnv, "-R", "-H", "-l", "0", "::1", "0", "env")
	out := talk(t, "", "::1", port, "")
	for _, want := range []string{"PROTO=TCP6\n", "TCPREMOTEIP=::1\n", "TCP6REMOTEIP=::1\n", "TCPLOCALIP=::1\n", "TCP6LOCALHOST=0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	path := makeRules(t, "127.0.0.1:allow,V4RULE=\"yes\"\n::1:allow,V6RULE=\"yes\"\n:deny\n", false)
	port, _ = startOurs(t, append(baseEnv, "TCP6REMOTEIP=stale"), "-6", "-R", "-H", "-l", "0", "-x", path, "0", "0", "env")
	out = talk(t, "", "127.0.0.1", port, "")
	for _, want := range []string{"PROTO=TCP\n", "TCPREMOTEIP=127.0.0.1\n", "V4RULE=yes\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "TCP6") || strings.Contains(out, "::ffff") {
		t.Errorf("IPv4 client looks like IPv6:\n%s", out)
	}
	if out := talk(t, "", "::1", port, ""); !strings.Contains(out, "V6RULE=yes\n") {
		t.Errorf("IPv6 rule not applied:\n%s", out)
	}
}

// TestRemoteHost: -h looks the client's name up (only if 127.0.0.1 has
// a name here); -H removes TCPREMOTEHOST.
func TestRemoteHost(t *testing.T) {
	names, err := net.LookupAddr("127.0.0.1")
	if err != nil || len(names) == 0 {
		t.Skip("127.0.0.1 has no name here")
	}
	want := strings.ToLower(strings.TrimSuffix(names[0], "."))
	port, _ := startOurs(t, baseEnv, "-R", "-h", "-p", "127.0.0.1", "0", "env")
	out := talk(t, "", "127.0.0.1", port, "")
	if !strings.Contains(out, "TCPREMOTEHOST="+want+"\n") || !strings.Contains(out, "TCPLOCALHOST="+want+"\n") {
		t.Errorf("want TCPREMOTEHOST=%s in\n%s", want, out)
	}
}

// TestIdent: with -r and nothing on port 113 the session starts at once
// and TCPREMOTEINFO is unset; an ident server's answer is used.
func TestIdent(t *testing.T) {
	if c, err := net.DialTimeout("tcp", "127.0.0.1:113", time.Second); err == nil {
		c.Close()
		t.Skip("something listens on port 113")
	}
	port, _ := startOurs(t, append(baseEnv, "TCPREMOTEINFO=stale"), "-r", "-t", "26", "-H", "-l", "0", "127.0.0.1", "0", "env")
	start := time.Now()
	out := talk(t, "", "127.0.0.1", port, "")
	if time.Since(start) > 5*time.Second {
		t.Errorf("a refused ident query delayed the session %v", time.Since(start))
	}
	if strings.Contains(out, "TCPREMOTEINFO") || !strings.Contains(out, "PROTO=TCP\n") {
		t.Errorf("output:\n%s", out)
	}
}

func TestParseIdent(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"6193, 23 : USERID : UNIX : stjohns\r\n", "stjohns", true},
		{"6193,23:USERID:UNIX:a:b \r\n", "a:b", true},
		{"6195, 23 : ERROR : NO-USER\r\n", "", false},
		{"garbage\r\n", "", false},
		{"1,2:USERID:UNIX:\r\n", "", false},
		{"1,2:USERID:UNIX:a\x00b\r\n", "", false},
	}
	for _, c := range cases {
		got, ok := parseIdent(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("parseIdent(%q) = %q %v", c.in, got, ok)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	// the order ucspi-tcp's tcpserver gave /usr/bin/env for this case
	env := []string{"PATH=/usr/bin", "A=1", "PROTO=old", "TCPREMOTEHOST=stale", "X=old", "Z=2"}
	edits := []string{"PROTO=TCP", "TCPLOCALIP=127.0.0.1", "TCPLOCALPORT=45183", "TCPLOCALHOST=lname",
		"TCPREMOTEIP=127.0.0.1", "TCPREMOTEPORT=59128", "TCPREMOTEHOST", "TCPREMOTEINFO", "X=y"}
	want := []string{"PATH=/usr/bin", "A=1", "Z=2", "TCPREMOTEPORT=59128", "TCPREMOTEIP=127.0.0.1", "PROTO=TCP",
		"TCPLOCALIP=127.0.0.1", "TCPLOCALPORT=45183", "TCPLOCALHOST=lname", "X=y"}
	if got := applyEnv(env, edits); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q", got)
	}
}

func TestOptionErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"0", "0"},
		{"-Z", "0", "0", "true"},
		{"-c", "0", "0", "0", "true"},
		{"-c", "abc", "0", "0", "true"},
		{"-t", "-1", "0", "0", "true"},
		{"-u", "x", "0", "0", "true"},
		{"-U", "0", "0", "true"}, // no $UID
		{"-c"},
	}
	for _, args := range cases {
		code, _, stderr := runProg(Tcpserver, append([]string{"tcpserver"}, args...), nil, "")
		if code != 100 || !strings.Contains(stderr, "tcpserver: usage: tcpserver [") {
			t.Errorf("%q: %d %q", args, code, stderr)
		}
	}
	fatal := []struct {
		args []string
		msg  string
	}{
		{[]string{"0", "nosuchport", "true"}, "tcpserver: fatal: unable to figure out port number for nosuchport\n"},
		{[]string{"0", "70000", "true"}, "tcpserver: fatal: unable to figure out port number for 70000\n"},
		{[]string{"nosuch.invalid", "0", "true"}, "tcpserver: fatal: no IP address for nosuch.invalid\n"},
		{[]string{"192.0.2.1", "0", "true"}, "tcpserver: fatal: unable to bind: address not available\n"},
		{[]string{"-4", "::1", "0", "true"}, "tcpserver: fatal: no IP address for ::1\n"},
	}
	for _, c := range fatal {
		code, _, stderr := runProg(Tcpserver, append([]string{"tcpserver"}, c.args...), nil, "")
		if code != 111 || stderr != c.msg {
			t.Errorf("%q: %d %q, want %q", c.args, code, stderr, c.msg)
		}
	}
}

func TestOptionParsing(t *testing.T) {
	ctx := &prog.Context{Args: strings.Fields("tcpserver -vDoRp -c10 -x r.cdb -B hi -b 5 -t 3 -U -l me -- 0 smtp prog a"),
		Env: []string{"UID=7", "GID=8"}}
	o, msg := parseOptions(ctx)
	if o == nil {
		t.Fatal(msg)
	}
	got := fmt.Sprintln(o.verbosity, o.noDelay, o.keepIPOpts, o.remoteInfo, o.paranoid, o.limit, o.rules, o.banner,
		o.backlog, o.infoTimeout, o.uid, o.gid, o.localName, o.host, o.port, o.argv)
	if want := "2 true true false true 10 r.cdb hi 5 3s 7 8 me 0 smtp [prog a]\n"; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if p, err := parsePort("smtp"); err != nil || p != 25 {
		t.Errorf("smtp = %d %v", p, err)
	}
}

// TestTcpEnv: tcp-env sets the TCP* variables from the socket on fd 0,
// and leaves the environment alone when PROTO is already TCP.
func TestTcpEnv(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := sc.(*net.TCPConn).File()
	sc.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	run := func(env []string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		ctx := &prog.Context{Args: append([]string{"tcp-env"}, args...), Env: env, Stdin: strings.NewReader(""),
			Stdout: &out, Stderr: &errb, Files: []*os.File{f}}
		return TcpEnv(ctx), out.String(), errb.String()
	}
	code, out, errs := run(append(baseEnv, "TCPREMOTEHOST=stale"), "-R", "env")
	lport := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	rport := strconv.Itoa(client.LocalAddr().(*net.TCPAddr).Port)
	for _, want := range []string{"PROTO=TCP", "TCPLOCALIP=127.0.0.1", "TCPLOCALPORT=" + lport,
		"TCPREMOTEIP=127.0.0.1", "TCPREMOTEPORT=" + rport} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s%s", want, out, errs)
		}
	}
	if code != 0 || strings.Contains(out, "stale") || strings.Contains(out, "TCPREMOTEINFO") {
		t.Errorf("code %d, output\n%s", code, out)
	}
	code, out, _ = run([]string{"PATH=/usr/bin:/bin", "PROTO=TCP", "TCPREMOTEIP=9.9.9.9"}, "env")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	if code != 0 || strings.Join(lines, " ") != "PATH=/usr/bin:/bin PROTO=TCP TCPREMOTEIP=9.9.9.9" {
		t.Errorf("PROTO=TCP: %d %q", code, out)
	}
	if code, _, _ := run(baseEnv, "-R", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	for _, c := range []struct {
		args []string
		code int
	}{{nil, 100}, {[]string{"-Z", "env"}, 100}, {[]string{"-t"}, 100}, {[]string{"-R", "/nonexistent"}, 111}} {
		if code, _, errs := run(baseEnv, c.args...); code != c.code || errs == "" {
			t.Errorf("%q: %d %q", c.args, code, errs)
		}
	}
	// not a socket on fd 0
	var out2, err2 bytes.Buffer
	ctx := &prog.Context{Args: []string{"tcp-env", "env"}, Env: baseEnv, Stdin: strings.NewReader(""),
		Stdout: &out2, Stderr: &err2, Files: []*os.File{os.Stdin}}
	if code := TcpEnv(ctx); code != 111 {
		t.Errorf("not a socket: %d %s", code, err2.String())
	}
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "noexec"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\n"), 0o755)
	cases := []struct {
		name string
		env  []string
		want string
		err  string
	}{
		{"prog", []string{"PATH=/nonexistent:" + dir}, dir + "/prog", ""},
		{"sh", nil, "/bin/sh", ""}, // PATH unset: /bin:/usr/bin
		{"noexec", []string{"PATH=" + dir}, "", "access denied"},
		{"nothere", []string{"PATH=" + dir}, "", "file does not exist"},
		{"./rel/x", []string{"PATH=" + dir}, "./rel/x", ""},
	}
	for _, c := range cases {
		got, err := lookPath(c.name, c.env)
		if got != c.want || (err == nil) != (c.err == "") || (err != nil && errText(err) != c.err) {
			t.Errorf("lookPath(%q) = %q, %v", c.name, got, err)
		}
	}
}

// TestBanner: -B is written before the rules are read, so a denied
// client still sees it.
func TestBanner(t *testing.T) {
	path := makeRules(t, ":deny\n", false)
	port, _ := startOurs(t, baseEnv, "-R", "-H", "-l", "0", "-B", "220 hi\r\n", "-x", path, "127.0.0.1", "0", "echo", "x")
	if got := talk(t, "", "127.0.0.1", port, ""); got != "220 hi\r\n" {
		t.Errorf("got %q", got)
	}
}

// TestIdentAnswer: with a fake ident server on 127.0.0.1:113 (root
// only, and only if the port is free) TCPREMOTEINFO is its answer and
// INFO@IP rules apply.
func TestIdentAnswer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:113")
	if err != nil {
		t.Skipf("cannot listen on port 113: %v", err)
	}
	defer ln.Close()
	go func() {
		for i := 0; i < 10; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			q, _ := bufio.NewReader(c).ReadString('\n')
			fmt.Fprintf(c, "%s : USERID : UNIX : alice\r\n", strings.TrimSpace(q))
			c.Close()
		}
	}()
	path := makeRules(t, "alice@127.0.0.1:allow,WHO=\"alice\"\n:allow\n", false)
	port, _ := startOurs(t, baseEnv, "-r", "-t", "5", "-H", "-l", "0", "-x", path, "127.0.0.1", "0", "env")
	out := talk(t, "", "127.0.0.1", port, "")
	if !strings.Contains(out, "TCPREMOTEINFO=alice\n") || !strings.Contains(out, "WHO=alice\n") {
		t.Errorf("output:\n%s", out)
	}
}
