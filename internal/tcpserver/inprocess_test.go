package tcpserver

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/prog"
)

// envMain is an in-process stand-in for a program: it prints its
// arguments and environment like env(1), reads a line and answers it;
// "boom" makes it panic, "three" makes it exit 3.
func envMain(ctx *prog.Context) int {
	for _, kv := range ctx.Env {
		fmt.Fprintln(ctx.Stdout, kv)
	}
	fmt.Fprintf(ctx.Stdout, "args=%q\n", ctx.Args)
	line, _ := bufio.NewReader(ctx.Stdin).ReadString('\n')
	switch strings.TrimSpace(line) {
	case "boom":
		panic("boom")
	case "three":
		return 3
	}
	return 0
}

// self is the test binary's path and name, which the in-process lookup
// must find under that name.
func self(t *testing.T) (string, func(string) (prog.Main, bool)) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe, func(name string) (prog.Main, bool) {
		if name == filepath.Base(exe) {
			return envMain, true
		}
		return nil, false
	}
}

// TestInProcessSameEnvironment: a program run in-process gets the
// environment an exec'd one gets (env(1) through the exec path), in the
// same order, with its arguments and argv[0]'s base name.
func TestInProcessSameEnvironment(t *testing.T) {
	exe, inProc := self(t)
	env := append(baseEnv, "TCPREMOTEHOST=stale", "X=inherited")
	rules := makeRules(t, "127.0.0.3:allow,X=\"net\",RELAYCLIENT=\"\"\n", false)
	opts := []string{"-R", "-H", "-l", "lname", "-x", rules, "127.0.0.1", "0"}
	herePort, _ := startOursIn(t, inProc, env, append(opts, exe, "arg1")...)
	execPort, _ := startOurs(t, env, append(opts, "env")...)
	here := normalize(talk(t, "127.0.0.3", "127.0.0.1", herePort, "bye\n"))
	there := normalize(talk(t, "127.0.0.3", "127.0.0.1", execPort, ""))
	wantArgs := fmt.Sprintf("args=%q\n", []string{filepath.Base(exe), "arg1"})
	if !strings.HasSuffix(here, wantArgs) {
		t.Fatalf("in-process output lacks %q:\n%s", wantArgs, here)
	}
	if got := strings.TrimSuffix(here, wantArgs); got != there {
		t.Errorf("in-process environment:\n%s\nexec'd:\n%s", got, there)
	}
	if !strings.Contains(there, "RELAYCLIENT=\n") || !strings.Contains(there, "X=net\n") {
		t.Errorf("rule environment missing:\n%s", there)
	}
}

// TestInProcessStatusAndCrash: the -v lines of an in-process session
// are those of an exec'd one (a session number above pid_max as its pid,
// the same in its three lines; the exit code as
// a wait status), and a panic ends that session only, reported as a
// crash, while the server goes on.
func TestInProcessStatusAndCrash(t *testing.T) {
	exe, inProc := self(t)
	port, stderr := startOursIn(t, inProc, baseEnv, "-v", "-R", "-H", "-l", "lname", "127.0.0.1", "0", exe)
	talk(t, "127.0.0.1", "127.0.0.1", port, "three\n")
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "status 768") }, stderr.String)
	talk(t, "127.0.0.1", "127.0.0.1", port, "boom\n")
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "status 28416") }, stderr.String)
	if out := talk(t, "127.0.0.1", "127.0.0.1", port, "bye\n"); !strings.Contains(out, "args=") {
		t.Errorf("no session after the crash: %q", out)
	}
	waitFor(t, func() bool { return strings.Count(stderr.String(), "end ") == 3 }, stderr.String)
	log := stderr.String()
	three := regexp.MustCompile(`(?m)^tcpserver: pid (\d+) from 127\.0\.0\.1\ntcpserver: ok (\d+) lname:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+\ntcpserver: end (\d+) status 768$`)
	if m := three.FindStringSubmatch(log); m != nil {
		p, _ := strconv.Atoi(m[1])
		if m[2] != m[1] || m[3] != m[1] || p <= pidMax() {
			t.Errorf("session number %s/%s/%s: want one number above pid_max %d", m[1], m[2], m[3], pidMax())
		}
	}
	for _, p := range []string{
		`(?m)^tcpserver: pid (\d+) from 127\.0\.0\.1\ntcpserver: ok (\d+) lname:127\.0\.0\.1:\d+ :127\.0\.0\.1::\d+\ntcpserver: end (\d+) status 768$`,
		`(?m)^tcpserver: warning: .* crashed: boom$`,
		`(?m)^tcpserver: end \d+ status 0$`,
	} {
		if !regexp.MustCompile(p).MatchString(log) {
			t.Errorf("log lacks %s:\n%s", p, log)
		}
	}
}

// TestInProcessOnlyOurs: a program of the same name that is not this
// executable (here /bin/sh standing for rblsmtpd or a wrapper), or
// GOQMAIL_FORCE_EXEC=1, means exec, as ucspi-tcp does.
func TestInProcessOnlyOurs(t *testing.T) {
	_, inProc := self(t)
	anyName := func(string) (prog.Main, bool) { return envMain, true }
	port, _ := startOursIn(t, anyName, baseEnv, "-R", "-H", "-l", "lname", "127.0.0.1", "0", "sh", "-c", "echo exec")
	if out := talk(t, "127.0.0.1", "127.0.0.1", port, ""); out != "exec\n" {
		t.Errorf("/bin/sh run in-process: %q", out)
	}
	exe, _ := os.Executable()
	env := append(baseEnv, "GOQMAIL_FORCE_EXEC=1")
	port, _ = startOursIn(t, inProc, env, "-R", "-H", "-l", "lname", "127.0.0.1", "0", exe, "-test.run=^$")
	// Exec'd, the test binary runs no test and says PASS.
	if out := talk(t, "127.0.0.1", "127.0.0.1", port, ""); strings.Contains(out, "args=") || !strings.Contains(out, "PASS") {
		t.Errorf("GOQMAIL_FORCE_EXEC=1: %q, want the exec'd test binary's PASS", out)
	}
}
