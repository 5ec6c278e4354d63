package queue

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestUnnamedAndPidWays: both ways of making the message and envelope
// files give the same queue: mess/S/N whose inode is N, intd/N holding
// the envelope, todo/N the same inode, pid/ empty. The unnamed way is
// taken where the file system has O_TMPFILE (ext4, tmpfs); the pid/ way
// is qmail's and the fallback. A taken intd/N fails with qmail's 65
// either way.
func TestUnnamedAndPidWays(t *testing.T) {
	for _, way := range []string{"unnamed", "pid"} {
		t.Run(way, func(t *testing.T) {
			_, q := newHome(t)
			if way == "unnamed" {
				if f := newUnnamed(q.Path("mess", "0")); f == nil {
					t.Skip("no O_TMPFILE here")
				} else {
					f.Close()
				}
			}
			j := &job{q: q, now: fixed, pid: 4242, uid: 7, ids: rootIDs()}
			var code int
			var f *os.File
			if way == "unnamed" {
				f, code = j.newMess()
				if !j.unnamed {
					t.Fatal("O_TMPFILE works here but the pid/ way was taken")
				}
			} else {
				f, code = j.newMessPid()
			}
			if f != nil {
				defer f.Close()
			}
			if code != ExitOK {
				t.Fatalf("message file: exit %d", code)
			}
			fi, err := os.Stat(q.Mess(j.num))
			if err != nil {
				t.Fatal(err)
			}
			if ino := fi.Sys().(*syscall.Stat_t).Ino; ino != j.num {
				t.Fatalf("mess file inode %d, number %d", ino, j.num)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("mess file mode %v", fi.Mode().Perm())
			}
			if code := j.newIntd(strings.NewReader("Fa@b\x00Tc@d\x00\x00")); code != ExitOK {
				t.Fatalf("intd: exit %d", code)
			}
			b, err := os.ReadFile(q.Intd(j.num))
			if err != nil {
				t.Fatal(err)
			}
			if want := "u7\x00p4242\x00Fa@b\x00Tc@d\x00"; string(b) != want {
				t.Errorf("intd holds %q, want %q", b, want)
			}
			if ents, _ := os.ReadDir(q.Path("pid")); len(ents) != 0 {
				t.Errorf("pid/ holds %d files", len(ents))
			}

			// A second job given the same number finds intd/N taken.
			k := &job{q: q, now: fixed, pid: 4243, uid: 7, ids: rootIDs(), num: j.num, unnamed: way == "unnamed"}
			if code := k.newIntd(strings.NewReader("Fa@b\x00Tc@d\x00\x00")); code != ExitIntd {
				t.Errorf("taken intd/N: exit %d, want %d", code, ExitIntd)
			}
			if b2, _ := os.ReadFile(q.Intd(j.num)); string(b2) != string(b) {
				t.Errorf("taken intd/N was changed to %q", b2)
			}
		})
	}
}
