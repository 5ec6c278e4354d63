package localdelivery

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"goqmail/internal/testutil"
)

// TestTimeoutLocal covers control/timeoutlocal: off by default (qmail
// waits), a program that outlives it is killed with everything it started
// and the delivery is deferred, a program that exits in time is not, even
// when a child it left holds its output past the limit, and a malformed
// file defers with its name.
func TestTimeoutLocal(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name    string
		control string // "" = no file
		line    string
		code    int
		out     string // prefix of the output
	}{
		{"no file: waits", "", "|sleep 1; echo done", 0, "done\ndid 0+0+1\n"},
		{"zero: waits", "0\n", "|sleep 1; echo done", 0, "done\ndid 0+0+1\n"},
		{"negative: off", "-3\n", "|sleep 1; echo done", 0, "done\ndid 0+0+1\n"},
		{"finishes in time", "5\n", "|echo quick", 0, "quick\ndid 0+0+1\n"},
		{"exit codes kept", "5\n", "|exit 100", 100, ""},
		{"hangs: killed, deferred", "1\n", "|echo start; sleep 60", 111,
			"start\nTimeout on program delivery: killed after 1 seconds. (#4.3.0)\n"},
		{"ignores TERM: killed anyway", "1\n", "|trap '' TERM; sleep 60", 111,
			"Timeout on program delivery: killed after 1 seconds. (#4.3.0)\n"},
		// The shell exits at once; the child it leaves holds the output
		// past the limit: delivered by the exit code, not deferred
		// (deferred, the program would run again: the message twice).
		{"exits in time, child holds output", "1\n", "|(sleep 3; echo late) & echo quick", 0,
			"quick\nlate\ndid 0+0+1\n"},
		{"malformed", "soon\n", "|echo never", 111,
			"Unable to read controls: control/timeoutlocal line 1: not a decimal number: \"soon\". (#4.3.0)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, testMsg)
			if tc.control != "" {
				dir := filepath.Join(filepath.Dir(f.home), "control")
				os.Mkdir(dir, 0o755)
				testutil.MustWrite(t, filepath.Join(dir, "timeoutlocal"), tc.control, 0o644)
			}
			f.write(".qmail-foo", tc.line+"\n", 0o600)
			start := time.Now()
			code, out := f.deliver("", "joe-foo", "-", "foo")
			if code != tc.code || !strings.HasPrefix(out, tc.out) || (tc.out == "" && out != "") {
				t.Errorf("got %d %q, want %d %q", code, out, tc.code, tc.out)
			}
			if took := time.Since(start); took > 20*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}

// TestTimeoutLocalKillsGroup: a background child of the program line is
// killed with it, so nothing of a timed-out delivery keeps running.
func TestTimeoutLocalKillsGroup(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	f := newFixture(t, testMsg)
	dir := filepath.Join(filepath.Dir(f.home), "control")
	os.Mkdir(dir, 0o755)
	testutil.MustWrite(t, filepath.Join(dir, "timeoutlocal"), "1\n", 0o644)
	f.write(".qmail-foo", "|sleep 60 </dev/null >/dev/null 2>&1 & echo $! >bgpid; wait\n", 0o600)
	code, out := f.deliver("", "joe-foo", "-", "foo")
	if code != 111 || !strings.Contains(out, "Timeout on program delivery") {
		t.Fatalf("got %d %q", code, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(f.read("bgpid")))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("background child %d still runs after the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive says whether pid is a running (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
