package install

import (
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"goqmail/internal/testutil"
)

// checkUserModeTree checks what a user-mode install must contain beyond
// what instcheck verifies: the catch-all assignment and the delivery.
func checkUserModeTree(t *testing.T, home string, uid, gid int, name string) {
	t.Helper()
	wantAssign := "+:" + name + ":" + strconv.Itoa(uid) + ":" + strconv.Itoa(gid) + ":" + home + "/alias:-::\n.\n"
	if got := readFile(t, home+"/users/assign"); got != wantAssign {
		t.Errorf("users/assign = %q, want %q", got, wantAssign)
	}
	if got := readFile(t, home+"/users/cdb"); got != wantAssign {
		t.Errorf("users/cdb (made by the stand-in qmail-newu) = %q", got)
	}
	if got := readFile(t, home+"/alias/.qmail-default"); got != "./Maildir/\n" {
		t.Errorf("alias/.qmail-default = %q", got)
	}
	if tgt, err := os.Readlink(home + "/bin/qmail-queue"); err != nil || tgt != "qmail" {
		t.Errorf("bin/qmail-queue -> %q, %v; want a link to qmail", tgt, err)
	}
	for _, f := range []string{"bin/qmail.0711", "bin/qmail.0700"} {
		if _, err := os.Lstat(home + "/" + f); err == nil {
			t.Errorf("%s exists in user mode", f)
		}
	}
	fi, err := os.Stat(home)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != uid {
		t.Errorf("home owned by %d, want %d", st.Uid, uid)
	}
}

func TestUserModeUnprivileged(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	bin := writeFake(t, "")
	home := t.TempDir() + "/qmail"
	mustInstall(t, bin, "--home", home, "--user-mode", "--config-localhost")
	mustClean(t, home)
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	checkUserModeTree(t, home, os.Getuid(), os.Getgid(), u.Username)
	for f, want := range map[string]string{
		"me": "localhost\n", "locals": "localhost\nlocalhost.localdomain\n",
		"rcpthosts":     "localhost\nlocalhost.localdomain\n",
		"defaultdomain": "localdomain\n", "plusdomain": "localhost\n",
	} {
		if got := readFile(t, home+"/control/"+f); got != want {
			t.Errorf("control/%s = %q, want %q", f, got, want)
		}
	}

	// What an ordinary account may not do.
	for _, tc := range []struct {
		name string
		args []string
		want string
		code int
	}{
		{"root mode", []string{"--home", t.TempDir() + "/q"}, "install: fatal: a root-mode install must be run as root", 100},
		{"another account", []string{"--home", t.TempDir() + "/q", "--user-mode", "--user", "root"}, "install: fatal: only root can install for another account", 100},
	} {
		r := runInstall(bin, tc.args...)
		if r.code != tc.code || !strings.HasPrefix(r.stderr, tc.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tc.name, r.code, r.stderr, tc.code, tc.want)
		}
	}
}

func TestUserModeAsRootForNobody(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root: checks the tree goes to --user, not to the caller")
	}
	nobody := testutil.Unprivileged(t)
	bin := writeFake(t, "")
	for _, args := range [][]string{{"--user-mode"}, {"--user-mode", "--user", "nobody"}} {
		home := openBase(t) + "/qmail"
		r := runInstall(bin, append([]string{"--home", home}, args...)...)
		if r.code != 0 {
			t.Fatalf("install %v: exit %d: %s", args, r.code, r.stderr)
		}
		if !strings.Contains(r.stdout, "will belong to nobody (uid "+strconv.Itoa(nobody.UID)) {
			t.Errorf("install %v does not say which account it chose: %q", args, r.stdout)
		}
		if r.stderr != "" {
			t.Errorf("install %v: stderr %q", args, r.stderr)
		}
		mustClean(t, home)
		checkUserModeTree(t, home, nobody.UID, nobody.GID, nobody.Name)
		// every path belongs to nobody, links included
		err := walk(home, func(p string, st *syscall.Stat_t) {
			if int(st.Uid) != nobody.UID {
				t.Errorf("%s owned by %d, want nobody", p, st.Uid)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// walk calls fn with the owner of every path under root (links not
// followed).
func walk(root string, fn func(string, *syscall.Stat_t)) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		fn(p, fi.Sys().(*syscall.Stat_t))
		return nil
	})
}
