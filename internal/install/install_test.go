package install

import (
	"os"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

func TestInstallBadInputs(t *testing.T) {
	if !isRoot() {
		t.Skip("the root-only refusals are tested in TestUserModeUnprivileged")
	}
	bin := writeFake(t, "")
	foreign := openBase(t)
	os.WriteFile(foreign+"/notes.txt", []byte("mine\n"), 0o644)
	partial := openBase(t)
	os.Mkdir(partial+"/bin", 0o755)
	os.Mkdir(partial+"/control", 0o755)
	file := openBase(t) + "/afile"
	os.WriteFile(file, nil, 0o644)
	closed := t.TempDir() + "/qmail" // t.TempDir's parent is 0700: nobody cannot reach it
	userHome := openBase(t) + "/q"
	mustInstall(t, bin, "--home", userHome, "--user-mode")
	cases := []struct {
		name string
		args []string
		code int
		want string // the whole of stderr
	}{
		{"no home", nil, 100, "install: usage: " + usage + "\n"},
		{"stray argument", []string{"--home", "/x", "y"}, 100, "install: usage: " + usage + "\n"},
		{"unknown flag", []string{"--home", "/x", "--frobnicate"}, 100, "install: usage: " + usage + "\n"},
		{"--user without --user-mode", []string{"--home", "/x", "--user", "nobody"}, 100, "install: usage: " + usage + "\n"},
		{"relative home", []string{"--home", "var/qmail"}, 100, "install: fatal: --home must be an absolute path, not var/qmail\n"},
		{"home with a space", []string{"--home", "/tmp/a b"}, 100,
			"install: fatal: --home /tmp/a b: use only letters, digits and / . _ - + , = @ in qmail's home\n"},
		{"home with a colon", []string{"--home", "/tmp/a:b"}, 100,
			"install: fatal: --home /tmp/a:b: use only letters, digits and / . _ - + , = @ in qmail's home\n"},
		{"home is /", []string{"--home", "/"}, 100,
			"install: fatal: --home /: use only letters, digits and / . _ - + , = @ in qmail's home\n"},
		{"foreign folder", []string{"--home", foreign, "--user-mode"}, 111,
			"install: fatal: " + foreign + " is not empty and is not a qmail home (no bin/ folder); refusing to install into it\n"},
		{"partial tree", []string{"--home", partial, "--user-mode"}, 111,
			"install: fatal: " + partial + " is not empty and is not a qmail home (no queue/ folder); refusing to install into it\n"},
		{"home is a file", []string{"--home", file, "--user-mode"}, 111, "install: fatal: " + file + " exists and is not a folder\n"},
		{"missing account", []string{"--home", "/tmp/x", "--user-mode", "--user", "no-such-user-h3"}, 100,
			"install: fatal: no account named no-such-user-h3 (--user)\n"},
		{"root account", []string{"--home", "/tmp/x", "--user-mode", "--user", "root"}, 100,
			"install: fatal: --user root is root: qmail never delivers as root; name an ordinary account\n"},
		{"unreachable home", []string{"--home", closed, "--user-mode"}, 100, ""},
		{"user mode over root mode owner", []string{"--home", userHome}, 100,
			"install: fatal: " + userHome + " is a user-mode install (owned by uid " + strconv.Itoa(testutil.Unprivileged(t).UID) + "); upgrade it with --user-mode\n"},
		{"another user's install", []string{"--home", userHome, "--user-mode", "--user", "daemon"}, 100, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runInstall(bin, tc.args...)
			if r.code != tc.code || strings.Count(r.stderr, "\n") != 1 {
				t.Fatalf("exit %d, stderr %q; want exit %d and one line", r.code, r.stderr, tc.code)
			}
			if tc.want != "" && r.stderr != tc.want {
				t.Errorf("stderr %q, want %q", r.stderr, tc.want)
			}
		})
	}
	// nothing was written into the refused folders
	if entries, _ := os.ReadDir(foreign); len(entries) != 1 {
		t.Errorf("foreign folder now has %d entries", len(entries))
	}
	if _, err := os.Stat(closed); err == nil {
		t.Errorf("unreachable home was created")
	}
	// a binary that cannot be read: nothing is made
	missing := openBase(t) + "/q"
	r := runInstall(missing+"-no-binary", "--home", missing, "--user-mode")
	if r.code != 111 || !strings.HasPrefix(r.stderr, "install: fatal: unable to read the binary to install, "+missing+"-no-binary: ") {
		t.Errorf("missing binary: exit %d, %q", r.code, r.stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("home made although the binary is missing")
	}
	// an existing empty folder is fine
	empty := openBase(t)
	mustInstall(t, bin, "--home", empty, "--user-mode")
	mustClean(t, empty)
}

// TestReinstallKeepsData upgrades an install and checks that the new
// binary and scripts are in, the admin's files and the queue are kept,
// and links of programs the new binary lacks are gone.
func TestReinstallKeepsData(t *testing.T) {
	if !isRoot() {
		t.Skip("installs for nobody as root")
	}
	old, neu := writeFake(t, "# version 1\n"), writeFake(t, "# version 2\n")
	home := openBase(t) + "/qmail"
	r := runProg(func(c *prog.Context) int { return mainBinary(c, append(testPrograms, "qmail-gone"), old) },
		"", "install", "--home", home, "--user-mode", "--config-localhost")
	if r.code != 0 {
		t.Fatalf("first install: %d %s", r.code, r.stderr)
	}
	if _, err := os.Lstat(home + "/bin/qmail-gone"); err != nil {
		t.Fatalf("no link for qmail-gone: %v", err)
	}
	keep := map[string]string{
		"control/me":                "mail.example.com\n",
		"control/concurrencyremote": "5\n",
		"queue/mess/3/12345":        "Received: test\n\nbody\n",
		"queue/todo/12345":          "u0\x00p0\x00Fa@b\x00Tc@d\x00\x00",
		"users/assign":              "=joe:nobody:65534:65534:/tmp:-::\n.\n",
		"alias/.qmail-default":      "|cat\n",
		"alias/Maildir/new/1.2.h":   "a message\n",
	}
	for f, c := range keep {
		if err := os.WriteFile(home+"/"+f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(home+"/boot/home", []byte("stale\n"), 0o755)
	mustInstall(t, neu, "--home", home, "--user-mode", "--config-localhost")
	for f, c := range keep {
		if got := readFile(t, home+"/"+f); got != c {
			t.Errorf("%s: %q after reinstall, want %q", f, got, c)
		}
	}
	if got := readFile(t, home+"/bin/qmail"); !strings.HasSuffix(got, "# version 2\n") {
		t.Errorf("bin/qmail not upgraded")
	}
	if got := readFile(t, home+"/boot/home"); got == "stale\n" {
		t.Errorf("boot/home not rewritten")
	}
	if _, err := os.Lstat(home + "/bin/qmail-gone"); err == nil {
		t.Errorf("stale link bin/qmail-gone kept")
	}
	if got := readFile(t, home+"/users/cdb"); got != keep["users/assign"] {
		t.Errorf("users/cdb not rebuilt from the kept users/assign: %q", got)
	}
	// leave no temporary files behind
	entries, _ := os.ReadDir(home + "/bin")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("left bin/%s", e.Name())
		}
	}
}

// TestRootMode installs in root mode: qmail's accounts are created when
// missing (as CI does), owners and modes follow hier.c, and the setuid
// qmail-queue is a copy owned by qmailq.
func TestRootMode(t *testing.T) {
	if !isRoot() {
		t.Skip("root mode needs root")
	}
	bin := writeFake(t, "")
	home := openBase(t) + "/qmail"
	r := runInstall(bin, "--home", home)
	if r.code != 0 {
		t.Fatalf("install: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, u := range ids.Users {
		if _, err := user.Lookup(u); err != nil {
			t.Errorf("user %s: %v", u, err)
		}
	}
	id, err := ids.Load(home)
	if err != nil || id.UserMode {
		t.Fatalf("ids.Load: %+v, %v; want root mode", id, err)
	}
	// instcheck is clean, except when an alias account made by an earlier
	// run points elsewhere (accounts are never changed).
	check := runCheck(home)
	wantErr := ""
	if id.AliasHome != home+"/alias" {
		wantErr = "instcheck: warning: user alias has home " + id.AliasHome + ", want " + home + "/alias\n"
	}
	if check.stderr != wantErr || (wantErr == "") != (check.code == 0) {
		t.Errorf("instcheck: exit %d, %q; want %q", check.code, check.stderr, wantErr)
	}
	for _, c := range []struct {
		path       string
		uid, gid   int
		mode       uint32
		linkTarget string
	}{
		{"bin/qmail-queue", id.Qmailq, id.GidQmail, 0o4711, ""},
		{"bin/qmail", 0, id.GidQmail, 0o755, ""},
		{"bin/qmail.0711", 0, id.GidQmail, 0o711, ""},
		{"bin/qmail.0700", 0, id.GidQmail, 0o700, ""},
		{"bin/qmail-send", 0, 0, 0, "qmail.0711"},
		{"bin/qmail-local", 0, 0, 0, "qmail.0711"},
		{"bin/qmail-lspawn", 0, 0, 0, "qmail.0700"},
		{"bin/qmail-newu", 0, 0, 0, "qmail.0700"},
		{"bin/qmail-smtpd", 0, 0, 0, "qmail"},
		{"alias", id.Alias, id.GidQmail, 0o2755, ""},
		{"queue/lock/tcpto", id.Qmailr, id.GidQmail, 0o644, ""},
		{"queue/lock/trigger", id.Qmails, id.GidQmail, 0o622, ""},
		{"queue/lock/directdone", id.Qmails, id.GidQmail, 0o600, ""},
		{"queue/info/7", id.Qmails, id.GidQmail, 0o700, ""},
		{"queue/mess/7", id.Qmailq, id.GidQmail, 0o750, ""},
		{"boot/supervise/qmail-send/log/main", id.Qmaill, id.GidNofiles, 0o755, ""},
	} {
		p := home + "/" + c.path
		if c.linkTarget != "" {
			if tgt, err := os.Readlink(p); err != nil || tgt != c.linkTarget {
				t.Errorf("%s -> %q (%v), want %s", c.path, tgt, err, c.linkTarget)
			}
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", c.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != c.uid || int(st.Gid) != c.gid || st.Mode&0o7777 != c.mode {
			t.Errorf("%s: %d:%d %04o, want %d:%d %04o", c.path, st.Uid, st.Gid, st.Mode&0o7777, c.uid, c.gid, c.mode)
		}
	}
	// user-mode files are not part of a root-mode install
	for _, f := range []string{"users/assign", "alias/.qmail-default", "alias/Maildir"} {
		if _, err := os.Lstat(home + "/" + f); err == nil {
			t.Errorf("%s exists in root mode", f)
		}
	}
	// a broken setuid copy is reported
	os.Chmod(home+"/bin/qmail-queue", 0o755)
	os.WriteFile(home+"/bin/qmail.0711", []byte("other"), 0o711)
	check = runCheck(home)
	for _, want := range []string{
		home + "/bin/qmail-queue: wrong mode 0755, want 4711",
		home + "/bin/qmail.0711: differs from " + home + "/bin/qmail",
	} {
		if !strings.Contains(check.stderr, "instcheck: warning: "+want) || check.code != 111 {
			t.Errorf("instcheck: exit %d, %q; want a line %q", check.code, check.stderr, want)
		}
	}
	// switching to user mode is refused
	r = runInstall(bin, "--home", home, "--user-mode")
	if want := "install: fatal: " + home + " is a root-mode install; upgrade it without --user-mode\n"; r.code != 100 || r.stderr != want {
		t.Errorf("mode switch: exit %d, %q", r.code, r.stderr)
	}
	// and reinstalling repairs it
	mustInstall(t, bin, "--home", home)
	// (Compared to the alias warning, not to wantErr: e2e's root-mode
	// tests, which go test may run meanwhile, point alias's home at their
	// own install for a while.)
	if check = runCheck(home); !onlyAliasHomeWarning(check.stderr, home) {
		t.Errorf("after reinstall: %q", check.stderr)
	}
	// a root-mode home the daemons cannot reach is refused
	closed := t.TempDir() + "/qmail"
	r = runInstall(bin, "--home", closed)
	if r.code != 100 || !strings.Contains(r.stderr, "cannot reach "+closed) {
		t.Errorf("unreachable root-mode home: exit %d, %q", r.code, r.stderr)
	}
}

// onlyAliasHomeWarning says whether instcheck's output for home is
// nothing, or only the warning that user alias's home is elsewhere
// (accounts are never changed, and another test may move it).
func onlyAliasHomeWarning(stderr, home string) bool {
	if stderr == "" {
		return true
	}
	line, rest, _ := strings.Cut(stderr, "\n")
	return rest == "" && strings.HasPrefix(line, "instcheck: warning: user alias has home ") &&
		strings.HasSuffix(line, ", want "+home+"/alias")
}
