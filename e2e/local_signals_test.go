package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestRootModeProgramSignals: a |program line starts with SIGPIPE at its
// default disposition, as qmail's children do, whether qmail-lspawn runs
// qmail-local's work in-process or execs qmail-local. Both are Go
// programs, and a Go program that ignored SIGPIPE (to survive writes to a
// closed pipe) would hand SIG_IGN down to every program it starts; then a
// pipeline in a .qmail line no longer ends when its reader does. The line
// reads its own shell's ignored-signal mask (SigIgn in /proc/$$/status)
// and checks the behaviour too: "yes | head -c 1" must end with yes
// killed by SIGPIPE (status 141), not failing on EPIPE.
func TestRootModeProgramSignals(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { testProgramSignals(t, nil, "qmail-lspawn\n") })
	t.Run("exec", func(t *testing.T) { testProgramSignals(t, []string{"GOQMAIL_FORCE_EXEC=1"}, "qmail-local\n") })
}

func testProgramSignals(t *testing.T, env []string, parent string) {
	_, s, u1, _ := rootModeLocal(t, env...)
	writeOwned(t, filepath.Join(u1.home, ".qmail-sig"),
		"|sed -n 's/^SigIgn:[[:space:]]*//p' /proc/$$/status > SIGIGN; cat /proc/$PPID/comm > PARENT; "+
			"(yes; echo $? > YESRC) | head -c 1 > /dev/null; exit 0\n", u1.uid, u1.gid)

	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.send("sender@example.org", "gqtest1-sig@localhost", "Subject: signals\n\nLook at your signals.\n")
	c.expect("QUIT", "221 localhost")
	s.collect(nil,
		"starting delivery *: msg * to local gqtest1-sig@localhost",
		"delivery *: success: did_0+0+1/",
	)

	read := func(name string) string {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(u1.home, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	if got := read("PARENT"); got != parent {
		t.Errorf("the program's parent is %q, want %q", got, parent)
	}
	mask, err := strconv.ParseUint(strings.TrimSpace(read("SIGIGN")), 16, 64)
	if err != nil {
		t.Fatalf("SigIgn: %v", err)
	}
	const sigpipe = 1 << (13 - 1) // SIGPIPE is signal 13: bit 12, 0x1000
	if mask&sigpipe != 0 {
		t.Errorf("SIGPIPE is ignored in the program (SigIgn %016x)", mask)
	}
	if got := strings.TrimSpace(read("YESRC")); got != "141" {
		t.Errorf("yes | head -c 1: yes ended with status %s, want 141 (killed by SIGPIPE)", got)
	}
}
