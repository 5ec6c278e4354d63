package install

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestPlantedLinks: the owner of a user-mode install controls every entry
// of its tree. When root installs over it again, links planted there must
// not make root change or write anything outside the tree.
func TestPlantedLinks(t *testing.T) {
	if !isRoot() {
		t.Skip("the attack is on root re-installing over a tree nobody owns")
	}
	bin := writeFake(t, "")
	for _, tc := range []struct {
		name    string
		plant   string // path in the tree replaced by a link to outside
		outside string // "file" or "dir"
		fails   string // install must fail with this (after HOME/), or "" if it repairs
	}{
		{"trigger", "queue/lock/trigger", "file", ""},
		{"tcpto", "queue/lock/tcpto", "file", ""},
		{"a program link", "bin/qmail-send", "file", ""},
		{"the binary", "bin/qmail", "file", ""},
		{"a boot script", "boot/home", "file", ""},
		{"boot folder", "boot", "dir", "boot exists and is not a folder"},
		{"queue subfolder", "queue/mess/3", "dir", "queue/mess/3 exists and is not a folder"},
		{"maildir", "alias/Maildir", "dir", "alias/Maildir exists and is not a folder"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := openBase(t) + "/qmail"
			mustInstall(t, bin, "--home", home, "--user-mode")
			out := t.TempDir()
			target := out + "/secret"
			if tc.outside == "dir" {
				target = out
				os.WriteFile(out+"/home", []byte("root's\n"), 0o600)
				os.WriteFile(out+"/0", []byte("root's\n"), 0o600)
			} else {
				os.WriteFile(target, []byte("root's\n"), 0o600)
			}
			before := snapshot(t, out)
			p := home + "/" + tc.plant
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			r := runInstall(bin, "--home", home, "--user-mode")
			if tc.fails != "" {
				want := "install: fatal: " + home + "/" + tc.fails + "\n"
				if r.code != 111 || r.stderr != want {
					t.Errorf("exit %d, %q; want 111 and %q", r.code, r.stderr, want)
				}
			} else {
				if r.code != 0 {
					t.Fatalf("exit %d, %q", r.code, r.stderr)
				}
				mustClean(t, home)
			}
			if after := snapshot(t, out); after != before {
				t.Errorf("outside the tree changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshot describes every file in dir: name, owner, mode, content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := walk(dir, func(p string, st *syscall.Stat_t) {
		c, _ := os.ReadFile(p)
		b.WriteString(strings.TrimPrefix(p, dir) + " " + strconv.Itoa(int(st.Uid)) + " " + strconv.FormatUint(uint64(st.Mode), 8) + " " + string(c) + ";")
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
