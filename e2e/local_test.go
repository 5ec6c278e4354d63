package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Local delivery in root mode (issue 4's seed scenarios): real accounts
// made with useradd, qmail-lspawn finding them through qmail-getpw, and
// qmail-local running as each of them.

// testUser is an account made for one test.
type testUser struct {
	name     string
	uid, gid int
	home     string
}

// addUser makes the account name with its home under base (removing a
// leftover of a killed earlier run first) and deletes it when the test
// ends, whatever happens.
func addUser(t *testing.T, name, base string) testUser {
	t.Helper()
	if _, err := user.Lookup(name); err == nil {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run()
	}
	home := filepath.Join(base, name)
	run(t, "", "useradd", "-m", "-d", home, "-s", "/bin/sh", "-U", name)
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run()
	})
	os.Chmod(home, 0o755)
	uid, gid := lookupID(t, name)
	return testUser{name, uid, gid, home}
}

// asUser runs a program as u and fails the test if it fails.
func asUser(t *testing.T, u testUser, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = u.home
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{uint32(u.gid)},
	}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %q as %s: %v\n%s", name, args, u.name, err, out)
	}
}

// writeOwned writes a file in a home, owned by uid:gid.
func writeOwned(t *testing.T, path, content string, uid, gid int) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

// messagesIn returns the paths and contents of the files in dir that
// contain every one of subs.
func messagesIn(dir string, subs ...string) (paths, msgs []string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(string(data), s)
		}
		if ok {
			paths = append(paths, p)
			msgs = append(msgs, string(data))
		}
	}
	return paths, msgs
}

// waitMessage waits (bounded) for a message in dir holding every one of
// subs and returns the path of its file and its contents.
func waitMessage(t *testing.T, dir string, subs ...string) (string, string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if paths, msgs := messagesIn(dir, subs...); len(paths) > 0 {
			return paths[0], msgs[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no message holding %q in %s", subs, dir)
	return "", ""
}

// rootModeLocal installs in root mode with the localhost configuration,
// points alias at the install, makes two accounts with Maildirs, and
// starts the daemons.
func rootModeLocal(t *testing.T, env ...string) (home string, s *server, u1, u2 testUser) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("root-mode local delivery needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("useradd"); err != nil {
		t.Skip("useradd not found")
	}
	bin := binary(t)
	home = tempHome(t)
	run(t, "", bin, "install", "--home", home)
	if u, err := user.Lookup("alias"); err == nil && u.HomeDir != filepath.Join(home, "alias") {
		run(t, "", "usermod", "-d", filepath.Join(home, "alias"), "alias")
		t.Cleanup(func() { exec.Command("usermod", "-d", u.HomeDir, "alias").Run() })
	}
	run(t, "", filepath.Join(home, "bin", "config-fast"), "localhost")
	base := filepath.Join(filepath.Dir(home), "homes")
	if err := os.Mkdir(base, 0o755); err != nil {
		t.Fatal(err)
	}
	u1 = addUser(t, "gqtest1", base)
	u2 = addUser(t, "gqtest2", base)
	for _, u := range []testUser{u1, u2} {
		asUser(t, u, filepath.Join(home, "bin", "maildirmake"), filepath.Join(u.home, "Maildir"))
	}
	aliasUID, _ := lookupID(t, "alias")
	nofiles := groupID(t, "nofiles")
	writeOwned(t, filepath.Join(home, "alias", ".qmail-postmaster"), "./Maildir/\n", aliasUID, nofiles)
	md := filepath.Join(home, "alias", "Maildir")
	for _, d := range []string{md, md + "/tmp", md + "/new", md + "/cur"} {
		os.Mkdir(d, 0o700)
		os.Chown(d, aliasUID, nofiles)
	}
	qmaild, _ := lookupID(t, "qmaild")
	s = startEnv(t, home, qmaild, nofiles, env...)
	return home, s, u1, u2
}

// TestRootModeLocalDelivery runs issue 4's seed scenarios against real
// accounts: a user's Maildir, a nonexistent user, POSTmaster to ~alias,
// a program run as the user, a forward, a double bounce and a forwarding
// loop stopped by Delivered-To. It runs them twice: with qmail-lspawn
// delivering in-process on threads that become the user, and with
// GOQMAIL_FORCE_EXEC=1, exec'ing qmail-local as qmail does; a program
// line shows which (its parent is qmail-lspawn or qmail-local).
func TestRootModeLocalDelivery(t *testing.T) {
	t.Run("in-process", func(t *testing.T) { testRootModeLocalDelivery(t, nil, "qmail-lspawn\n") })
	t.Run("exec", func(t *testing.T) { testRootModeLocalDelivery(t, []string{"GOQMAIL_FORCE_EXEC=1"}, "qmail-local\n") })
}

func testRootModeLocalDelivery(t *testing.T, env []string, parent string) {
	home, s, u1, u2 := rootModeLocal(t, env...)
	writeOwned(t, filepath.Join(u1.home, ".qmail-groups"), "|groups >> MYGROUPS; cat /proc/$PPID/comm > PARENT; exit 0\n", u1.uid, u1.gid)
	writeOwned(t, filepath.Join(u1.home, ".qmail-fwd"), "&foo@example.org\n", u1.uid, u1.gid)
	writeOwned(t, filepath.Join(u1.home, ".qmail-loopa"), "&gqtest1-loopb@localhost\n", u1.uid, u1.gid)
	writeOwned(t, filepath.Join(u1.home, ".qmail-loopb"), "&gqtest1-loopa@localhost\n", u1.uid, u1.gid)
	writeOwned(t, filepath.Join(u1.home, ".qmail-hang"), "|sleep 300 & sleep 300\n", u1.uid, u1.gid)
	writeOwned(t, filepath.Join(home, "control", "timeoutlocal"), "1\n", 0, 0)
	// The forward must not leave the machine: whatever qmail-remote
	// exists tries a closed port on loopback and defers.
	writeOwned(t, filepath.Join(home, "control", "smtproutes"), "example.org:[127.0.0.1]:1\n", 0, 0)

	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.send("sender@example.org", "gqtest1@localhost", "Subject: to a user\n\nHello gqtest1.\n")
	c.send("gqtest2@localhost", "gqnosuchuser@localhost", "Subject: to nobody\n\nNo one reads this.\n")
	c.send("sender@example.org", "POSTmaster@localhost", "Subject: to postmaster\n\nHello alias.\n")
	c.send("sender@example.org", "gqtest1-groups@localhost", "Subject: groups\n\nRun groups.\n")
	c.send("sender@example.org", "gqtest1-fwd@localhost", "Subject: forward me\n\nOff you go.\n")
	c.send("gqnosender@localhost", "gqnosuchuser@localhost", "Subject: double\n\nBounce twice.\n")
	c.send("gqtest2@localhost", "gqtest1-loopa@localhost", "Subject: loop\n\nRound and round.\n")
	c.send("gqtest2@localhost", "gqtest1-hang@localhost", "Subject: hang\n\nNever done.\n")
	c.expect("QUIT", "221 localhost")

	s.collect(nil,
		"starting delivery *: msg * to local gqtest1@localhost",
		"delivery *: success: did_1+0+0/",
		"delivery *: failure: Sorry,_no_mailbox_here_by_that_name._(#5.1.1)/",
		"delivery *: success: did_0+0+1/",
		"delivery *: success: did_0+1+0/qp_*",
		"starting delivery *: msg * to remote foo@example.org",
		"delivery *: failure: This_message_is_looping:_it_already_has_my_Delivered-To_line._(#5.4.6)/",
		"delivery *: deferral: Timeout_on_program_delivery:_killed_after_1_seconds._(#4.3.0)/",
	)

	t.Run("hanging program killed", func(t *testing.T) {
		// Both sleeps (the line's process group) are gone.
		deadline := time.Now().Add(5 * time.Second)
		for {
			left := 0
			for pid, comm := range allProcs() {
				if uid, err := procUID(pid); err == nil && uid == u1.uid && comm == "sleep" {
					left++
				}
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d sleep processes of %s still run after the timeout", left, u1.name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("user Maildir", func(t *testing.T) {
		p, msg := waitMessage(t, filepath.Join(u1.home, "Maildir", "new"), "Hello gqtest1.")
		if !strings.HasPrefix(msg, "Return-Path: <sender@example.org>\nDelivered-To: gqtest1@localhost\n") {
			t.Errorf("message:\n%s", msg)
		}
		fi, _ := os.Stat(p)
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != u1.uid || int(st.Gid) != u1.gid || fi.Mode().Perm() != 0o600 {
			t.Errorf("delivered file %d:%d %v, want %d:%d 0600", st.Uid, st.Gid, fi.Mode().Perm(), u1.uid, u1.gid)
		}
	})
	t.Run("nonexistent user bounces", func(t *testing.T) {
		_, msg := waitMessage(t, filepath.Join(u2.home, "Maildir", "new"), "No one reads this.")
		for _, want := range []string{"Return-Path: <>\n", "Sorry, no mailbox here by that name. (#5.1.1)", "<gqnosuchuser@localhost>:"} {
			if !strings.Contains(msg, want) {
				t.Errorf("bounce lacks %q:\n%s", want, msg)
			}
		}
	})
	t.Run("POSTmaster reaches alias", func(t *testing.T) {
		_, msg := waitMessage(t, filepath.Join(home, "alias", "Maildir", "new"), "Hello alias.")
		if !strings.Contains(msg, "\nDelivered-To: ") || !strings.Contains(strings.ToLower(msg), "delivered-to: postmaster@localhost\n") {
			t.Errorf("message:\n%s", msg)
		}
	})
	t.Run("program runs as the user", func(t *testing.T) {
		p := filepath.Join(u1.home, "MYGROUPS")
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != u1.name+"\n" {
			t.Errorf("MYGROUPS holds %q, want %q", data, u1.name+"\n")
		}
		if got, _ := os.ReadFile(filepath.Join(u1.home, "PARENT")); string(got) != parent {
			t.Errorf("the program's parent is %q, want %q", got, parent)
		}
		fi, _ := os.Stat(p)
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != u1.uid || fi.Mode().Perm() != 0o600 {
			t.Errorf("MYGROUPS owned by %d mode %v, want %d 0600 (umask 077)", st.Uid, fi.Mode().Perm(), u1.uid)
		}
	})
	t.Run("forward is queued for remote delivery", func(t *testing.T) {
		var newMsg string
		for _, l := range s.lines {
			if strings.HasSuffix(l, " to remote foo@example.org") {
				newMsg = l
			}
		}
		re := regexp.MustCompile(`^starting delivery \d+: msg (\d+) to remote foo@example.org$`)
		m := re.FindStringSubmatch(newMsg)
		if m == nil {
			t.Fatalf("no remote delivery line: %q", s.lines)
		}
		found := false
		for _, l := range s.lines {
			if strings.HasPrefix(l, "info msg "+m[1]+": bytes ") && strings.Contains(l, " from <sender@example.org> qp ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no info line for msg %s from the original sender: %q", m[1], s.lines)
		}
		// qmail-queue saw the user's uid, as when qmail-local ran it.
		n, _ := strconv.Atoi(m[1])
		mess, err := os.ReadFile(filepath.Join(home, "queue", "mess", strconv.Itoa(n%23), m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(" invoked by uid %d);", u1.uid); !strings.Contains(string(mess), want) {
			t.Errorf("forwarded message lacks %q:\n%s", want, mess)
		}
	})
	t.Run("double bounce to postmaster", func(t *testing.T) {
		_, msg := waitMessage(t, filepath.Join(home, "alias", "Maildir", "new"), "Bounce twice.", "Return-Path: <#@[]>")
		for _, want := range []string{"<gqnosender@localhost>:", "Sorry, no mailbox here by that name. (#5.1.1)"} {
			if !strings.Contains(msg, want) {
				t.Errorf("double bounce lacks %q:\n%s", want, msg)
			}
		}
	})
	t.Run("forwarding loop bounced once", func(t *testing.T) {
		_, msg := waitMessage(t, filepath.Join(u2.home, "Maildir", "new"), "Round and round.")
		for _, want := range []string{"<gqtest1-loopa@localhost>:", "This message is looping: it already has my Delivered-To line. (#5.4.6)",
			"\nDelivered-To: gqtest1-loopb@localhost\n", "\nDelivered-To: gqtest1-loopa@localhost\n"} {
			if !strings.Contains(msg, want) {
				t.Errorf("loop bounce lacks %q:\n%s", want, msg)
			}
		}
		time.Sleep(500 * time.Millisecond) // a second bounce would show now
		if _, msgs := messagesIn(filepath.Join(u2.home, "Maildir", "new"), "Round and round."); len(msgs) != 1 {
			n := len(msgs)
			t.Errorf("%d loop bounces, want 1", n)
		}
		loops := 0
		for _, l := range s.lines {
			if strings.Contains(l, "This_message_is_looping") {
				loops++
			}
		}
		if loops != 1 {
			t.Errorf("%d looping failures logged, want 1", loops)
		}
	})
}

// allProcs lists every running process (zombies left out: when they
// are reaped depends on the machine's init) with its command name.
func allProcs() map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 || close+2 >= len(s) || s[close+2] == 'Z' {
			continue
		}
		out[pid] = s[open+1 : close]
	}
	return out
}
