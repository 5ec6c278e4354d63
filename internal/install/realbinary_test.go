package install

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/cdb"
	"goqmail/internal/testutil"
)

// buildQmail builds the real multi-call binary into a folder every
// account can read. Other packages may be half-written while this one is
// tested, so a failed build skips (saying why) rather than fails.
func buildQmail(t *testing.T) string {
	t.Helper()
	out := openBase(t) + "/qmail"
	cmd := exec.Command("go", "build", "-o", out, "goqmail/cmd/qmail")
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build cmd/qmail now (another package may be mid-edit): %v\n%s", err, b)
	}
	return out
}

// TestRealBinaryUserMode installs with the real binary, as root would
// for nobody, and runs the installed instcheck and qmail-newu's result.
func TestRealBinaryUserMode(t *testing.T) {
	if !isRoot() {
		t.Skip("installs for nobody as root")
	}
	bin := buildQmail(t)
	home := openBase(t) + "/qmail"
	out, err := exec.Command(bin, "install", "--home", home, "--user-mode").CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	// every program the binary knows has a link
	help, _ := exec.Command(bin, "help").Output()
	n := 0
	for _, line := range strings.Split(string(help), "\n") {
		f := strings.Fields(line)
		if !strings.HasPrefix(line, "  ") || len(f) == 0 {
			continue
		}
		n++
		if tgt, err := os.Readlink(home + "/bin/" + f[0]); err != nil || tgt != "qmail" {
			t.Errorf("bin/%s -> %q, %v", f[0], tgt, err)
		}
	}
	if n < 4 {
		t.Errorf("qmail help listed %d programs", n)
	}
	_, haveNewu := os.Lstat(home + "/bin/qmail-newu")
	check, err := exec.Command(home + "/bin/instcheck").CombinedOutput()
	if haveNewu != nil {
		// the build has no qmail-newu yet: install said so, and
		// instcheck reports the missing users/cdb, nothing else.
		want := "instcheck: warning: " + home + "/users/cdb: missing\n"
		if string(check) != want || !strings.Contains(string(out), "qmail-newu is not in this build") {
			t.Errorf("without qmail-newu: install said %q; instcheck %q (%v)", out, check, err)
		}
		return
	}
	if err != nil || len(check) != 0 {
		t.Fatalf("instcheck: %v\n%s", err, check)
	}
	r, err := cdb.Open(home + "/users/cdb")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	nobody := testutil.Unprivileged(t)
	data, ok, err := r.Get([]byte("!"))
	want := nobody.Name + "\x00" + strconv.Itoa(nobody.UID) + "\x00" + strconv.Itoa(nobody.GID) + "\x00" + home + "/alias\x00-\x00"
	if err != nil || !ok || string(data) != want {
		t.Errorf("users/cdb catch-all = %q, %v, %v; want %q", data, ok, err, want)
	}
}

// TestRealBinaryRootMode checks the installed setuid copy is what runs
// qmail-queue and that the installed instcheck agrees with the tree.
func TestRealBinaryRootMode(t *testing.T) {
	if !isRoot() {
		t.Skip("root mode needs root")
	}
	bin := buildQmail(t)
	home := openBase(t) + "/qmail"
	if out, err := exec.Command(bin, "install", "--home", home).CombinedOutput(); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	check, _ := exec.Command(home + "/bin/instcheck").CombinedOutput()
	for _, line := range strings.Split(strings.TrimSuffix(string(check), "\n"), "\n") {
		if line != "" && !strings.Contains(line, "user alias has home") {
			t.Errorf("instcheck: %s", line)
		}
	}
	for _, name := range []string{"qmail-send", "qmail-lspawn", "qmail-queue"} {
		if _, err := os.Stat(home + "/bin/" + name); err != nil {
			t.Errorf("bin/%s: %v", name, err)
		}
	}
}
