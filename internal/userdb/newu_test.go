package userdb

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"goqmail/internal/cdb"
	"goqmail/internal/testutil"
)

// newHome makes a qmail home with users/assign holding assign.
func newHome(t *testing.T, assign string) string {
	t.Helper()
	home := t.TempDir()
	testutil.MustWrite(t, filepath.Join(home, AssignPath), assign, 0o644)
	return home
}

// dump returns the records of a cdb in file order.
func dump(t *testing.T, path string) []rec {
	t.Helper()
	r, err := cdb.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var out []rec
	if err := r.ForEach(func(k, d []byte) error {
		out = append(out, rec{string(k), string(d)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// sampleAssign exercises every kind of line.
const sampleAssign = `=joe.shmoe:joe:503:78:/home/joe:::
+:alias:7790:2108:/var/qmail/alias:-::
+joe-:joe:507:100:/home/joe:-::
=joe:joe:507:100:/home/joe:::
+Info.:info:600:600:/home/info:-:Pre-:
jane:jane:508:100:/home/jane:::ignored:too
=JOE:second:1:1:/nowhere:::
+x:x:1:1:/x:-::
.
=after:the:dot:is:ignored:::
`

var sampleRecords = []rec{
	{"!joe.shmoe\x00", "joe\x00503\x0078\x00/home/joe\x00\x00"},
	{"!", "alias\x007790\x002108\x00/var/qmail/alias\x00-\x00"},
	{"!joe-", "joe\x00507\x00100\x00/home/joe\x00-\x00"},
	{"!joe\x00", "joe\x00507\x00100\x00/home/joe\x00\x00"},
	{"!info.", "info\x00600\x00600\x00/home/info\x00-\x00Pre-"},
	{"!ane\x00", "jane\x00508\x00100\x00/home/jane\x00\x00"},
	{"!joe\x00", "second\x001\x001\x00/nowhere\x00\x00"},
	{"!x", "x\x001\x001\x00/x\x00-\x00"},
	{"", "-.x"},
}

func TestBuildCDBRecords(t *testing.T) {
	home := newHome(t, sampleAssign)
	if err := BuildCDB(home); err != nil {
		t.Fatal(err)
	}
	got := dump(t, filepath.Join(home, CDBPath))
	if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", sampleRecords) {
		t.Fatalf("records:\n got %q\nwant %q", got, sampleRecords)
	}
	if _, err := os.Stat(filepath.Join(home, CDBPath+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("users/cdb.tmp left behind: %v", err)
	}
	fi, err := os.Stat(filepath.Join(home, CDBPath))
	if err != nil {
		t.Fatal(err)
	}
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	if want := os.FileMode(0o644 &^ mask); fi.Mode().Perm() != want {
		t.Errorf("mode %v, want %v", fi.Mode().Perm(), want)
	}
	// the first of two equal keys is the one found
	e, ok, err := Lookup(home, "Joe")
	if err != nil || !ok || e.User != "joe" {
		t.Errorf("Lookup(Joe) = %+v %v %v, want the first =joe line", e, ok, err)
	}
}

// TestBuildCDBMatchesTinycdb compares users/cdb byte for byte with the cdb
// tinycdb's cdb(1) makes from the records qmail-newu must write.
func TestBuildCDBMatchesTinycdb(t *testing.T) {
	tool, err := exec.LookPath("cdb")
	if err != nil {
		t.Skip("tinycdb's cdb is not installed")
	}
	home := newHome(t, sampleAssign)
	if err := BuildCDB(home); err != nil {
		t.Fatal(err)
	}
	var in bytes.Buffer
	for _, r := range sampleRecords {
		fmt.Fprintf(&in, "+%d,%d:%s->%s\n", len(r.key), len(r.data), r.key, r.data)
	}
	in.WriteString("\n")
	want := filepath.Join(t.TempDir(), "want.cdb")
	cmd := exec.Command(tool, "-c", want)
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cdb -c: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(home, CDBPath))
	b, _ := os.ReadFile(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("users/cdb (%d bytes) differs from tinycdb's (%d bytes)", len(a), len(b))
	}
}

func TestBuildCDBErrors(t *testing.T) {
	tests := []struct {
		name   string
		assign string // "" = no users/assign at all
		setup  func(t *testing.T, home string)
		want   string
	}{
		{"no assign", "", nil, "unable to open users/assign: no such file or directory"},
		{"no final dot", "=a:u:1:2:/h:::\n", nil,
			`bad format in users/assign: line 2: end of file without the final "." line`},
		{"empty assign", "", func(t *testing.T, home string) {
			testutil.MustWrite(t, filepath.Join(home, AssignPath), "", 0o644)
		}, `bad format in users/assign: line 1: end of file without the final "." line`},
		{"NUL", "=a:u:1:2:/h:::\n=b\x00:u:1:2:/h:::\n.\n", nil,
			"bad format in users/assign: line 2: line contains NUL"},
		{"too few colons", "=a:u:1:2:/h::\n.\n", nil,
			"bad format in users/assign: line 1: 5 colons after the address, need 6"},
		{"no trailing newline", "=a:u:1:2:/h:::", nil,
			"bad format in users/assign: line 1: line does not end with a newline (and no final \".\" line)"},
		{"assign is a directory", "", func(t *testing.T, home string) {
			os.MkdirAll(filepath.Join(home, AssignPath), 0o755)
		}, "unable to read users/assign: is a directory"},
		{"cdb is a full directory", ".\n", func(t *testing.T, home string) {
			testutil.MustWrite(t, filepath.Join(home, CDBPath, "x"), "", 0o644)
		}, "unable to move users/cdb.tmp to users/cdb: file exists"},
		{"tmp is a directory", ".\n", func(t *testing.T, home string) {
			os.MkdirAll(filepath.Join(home, CDBPath+".tmp"), 0o755)
		}, "unable to open users/cdb.tmp: is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			os.Mkdir(filepath.Join(home, "users"), 0o755)
			if tc.assign != "" {
				testutil.MustWrite(t, filepath.Join(home, AssignPath), tc.assign, 0o644)
			}
			if tc.setup != nil {
				tc.setup(t, home)
			}
			err := BuildCDB(home)
			var ne *NewuError
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want a *NewuError", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("err = %q\nwant  %q", err.Error(), tc.want)
			}
		})
	}
}

func TestBuildCDBKeepsOldCDBOnError(t *testing.T) {
	home := newHome(t, "=a:u:1:2:/h:::\n.\n")
	if err := BuildCDB(home); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(home, CDBPath))
	testutil.MustWrite(t, filepath.Join(home, AssignPath), "=b:u:1:2:/h:::\n", 0o644)
	if err := BuildCDB(home); err == nil || !strings.HasPrefix(err.Error(), "bad format in users/assign") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(home, CDBPath))
	if !bytes.Equal(before, after) {
		t.Fatal("users/cdb changed by a failed run")
	}
	if _, err := os.Stat(filepath.Join(home, CDBPath+".tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("users/cdb.tmp left behind: %v", err)
	}
}

func TestBuildCDBNoHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "missing")
	err := BuildCDB(home)
	if err == nil || err.Error() != "unable to chdir: no such file or directory" {
		t.Fatalf("err = %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	testutil.MustWrite(t, file, "", 0o644)
	if err := BuildCDB(file); err == nil || err.Error() != "unable to chdir: not a directory" {
		t.Fatalf("err = %v", err)
	}
}

// TestBuildCDBPermissions needs an account that permissions apply to.
func TestBuildCDBPermissions(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	home := t.TempDir()
	users := filepath.Join(home, "users")
	testutil.MustWrite(t, filepath.Join(users, "assign"), ".\n", 0o000)
	if err := BuildCDB(home); err == nil || err.Error() != "unable to open users/assign: permission denied" {
		t.Fatalf("unreadable assign: %v", err)
	}
	os.Chmod(filepath.Join(users, "assign"), 0o644)
	os.Chmod(users, 0o555)
	defer os.Chmod(users, 0o755)
	if err := BuildCDB(home); err == nil || err.Error() != "unable to open users/cdb.tmp: permission denied" {
		t.Fatalf("read-only users: %v", err)
	}
}
