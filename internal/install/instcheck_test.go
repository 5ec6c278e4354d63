package install

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

// TestInstcheckNamesEachProblem breaks one thing at a time in a fresh
// user-mode install (made by root for nobody, so that owners can be
// broken too) and checks instcheck names exactly that problem.
func TestInstcheckNamesEachProblem(t *testing.T) {
	if !isRoot() {
		t.Skip("needs root to install for nobody and to break owners")
	}
	bin := writeFake(t, "")
	nobody := testutil.Unprivileged(t)
	cases := []struct {
		name    string
		breakIt func(home string) error
		want    string // the one warning, after "instcheck: warning: HOME/"
		keep    bool   // install must refuse to repair it (it may hold data)
	}{
		{"folder mode", func(h string) error { return os.Chmod(h+"/queue/todo", 0o755) },
			"queue/todo: wrong mode 0755, want 0750", false},
		{"setgid lost on alias", func(h string) error { return os.Chmod(h+"/alias", 0o755) },
			"alias: wrong mode 0755, want 2755", false},
		{"fifo deleted", func(h string) error { return os.Remove(h + "/queue/lock/trigger") },
			"queue/lock/trigger: missing", false},
		{"fifo replaced by a file", func(h string) error {
			os.Remove(h + "/queue/lock/trigger")
			return os.WriteFile(h+"/queue/lock/trigger", nil, 0o622)
		}, "queue/lock/trigger: is a file, want a named pipe", false},
		{"tcpto replaced", func(h string) error {
			if err := os.WriteFile(h+"/queue/lock/tcpto.new", []byte("short"), 0o644); err != nil {
				return err
			}
			os.Chown(h+"/queue/lock/tcpto.new", nobody.UID, nobody.GID)
			return os.Rename(h+"/queue/lock/tcpto.new", h+"/queue/lock/tcpto")
		}, "queue/lock/tcpto: size 5, want 1024", false},
		{"owner", func(h string) error { return os.Chown(h+"/queue/mess/5", 0, -1) },
			"queue/mess/5: wrong owner 0 (root), want " + idName(nobody.UID), false},
		{"group", func(h string) error { return os.Chown(h+"/control", -1, 0) },
			"control: wrong group " + gidName(0) + ", want " + gidName(nobody.GID), false},
		{"link retargeted", func(h string) error {
			os.Remove(h + "/bin/qmail-send")
			return os.Symlink("/bin/true", h+"/bin/qmail-send")
		}, "bin/qmail-send: points to /bin/true, want qmail", false},
		{"link replaced by a file", func(h string) error {
			os.Remove(h + "/bin/qmail-smtpd")
			return os.WriteFile(h+"/bin/qmail-smtpd", nil, 0o755)
		}, "bin/qmail-smtpd: is a file, want a symbolic link", false},
		{"maildir folder gone", func(h string) error { return os.Remove(h + "/alias/Maildir/new") },
			"alias/Maildir/new: missing", false},
		{"users/cdb missing", func(h string) error { return os.Remove(h + "/users/cdb") },
			"users/cdb: missing", false},
		{"queue subfolder is a file", func(h string) error {
			os.Remove(h + "/queue/info/22")
			return os.WriteFile(h+"/queue/info/22", nil, 0o700)
		}, "queue/info/22: is a file, want a folder", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			home := openBase(t) + "/qmail"
			mustInstall(t, bin, "--home", home, "--user-mode")
			mustClean(t, home)
			if err := tc.breakIt(home); err != nil {
				t.Fatal(err)
			}
			r := runCheck(home)
			want := "instcheck: warning: " + home + "/" + tc.want + "\n"
			if r.code != 111 || r.stderr != want || r.stdout != "" {
				t.Errorf("exit %d, stderr %q; want 111 and %q", r.code, r.stderr, want)
			}
			// install again repairs it, or refuses to touch what may be data
			if tc.keep {
				r := runInstall(bin, "--home", home, "--user-mode")
				want := "install: fatal: " + home + "/queue/info/22 exists and is not a folder\n"
				if r.code != 111 || r.stderr != want {
					t.Errorf("reinstall: exit %d, %q; want 111 and %q", r.code, r.stderr, want)
				}
				return
			}
			mustInstall(t, bin, "--home", home, "--user-mode")
			mustClean(t, home)
		})
	}
}

func TestInstcheckBadInputs(t *testing.T) {
	r := runProg(func(c *prog.Context) int { return Check(c, testPrograms) }, "/nonexistent/qmail", "instcheck")
	if r.code != 111 || !strings.HasPrefix(r.stderr, "instcheck: fatal: unable to stat /nonexistent/qmail") {
		t.Errorf("missing home: exit %d, %q", r.code, r.stderr)
	}
	r = runProg(func(c *prog.Context) int { return Check(c, testPrograms) }, t.TempDir(), "instcheck", "extra")
	if r.code != 100 || r.stderr != "instcheck: usage: instcheck\n" {
		t.Errorf("extra argument: exit %d, %q", r.code, r.stderr)
	}
}

// TestBootScriptsParse runs sh -n on every generated shell script.
func TestBootScriptsParse(t *testing.T) {
	for _, userMode := range []bool{false, true} {
		p := params{home: "/var/qmail", userMode: userMode, user: "joe", uid: 1000, gid: 1000, programs: testPrograms}
		n := 0
		for _, nd := range layout(p) {
			if nd.kind != kFile || !strings.HasPrefix(nd.content, "#!/bin/sh") {
				continue
			}
			n++
			cmd := exec.Command("/bin/sh", "-n")
			cmd.Stdin = strings.NewReader(nd.content)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s (user mode %v): sh -n: %v\n%s", nd.path, userMode, err, out)
			}
			if strings.Contains(nd.content, "softlimit") && !strings.Contains(nd.content, "No \"softlimit -m\" here") {
				t.Errorf("%s uses softlimit", nd.path)
			}
		}
		if n != 16 {
			t.Errorf("user mode %v: %d shell scripts, want 10 boot + 6 run", userMode, n)
		}
	}
}
