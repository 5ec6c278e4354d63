package e2e

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestRootModeDaemonsRunAsQmailUsers installs in root mode, as on a real
// server, and checks that every daemon runs as its own qmail account,
// that instcheck is clean, and that mail flows from SMTP into the alias
// user's Maildir with the Received line of a network injection.
func TestRootModeDaemonsRunAsQmailUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("root mode needs root (CI runs as root)")
	}
	bin := binary(t)
	home := tempHome(t)
	run(t, "", bin, "install", "--home", home)

	// qmail's accounts may predate this install (an earlier install put
	// alias's home elsewhere); point alias at this install for the test,
	// as an administrator moving qmail would, and put it back afterwards.
	if u, err := user.Lookup("alias"); err == nil && u.HomeDir != filepath.Join(home, "alias") {
		run(t, "", "usermod", "-d", filepath.Join(home, "alias"), "alias")
		t.Cleanup(func() { exec.Command("usermod", "-d", u.HomeDir, "alias").Run() })
	}
	run(t, "", filepath.Join(home, "bin", "config-fast"), "localhost")
	if out, err := exec.Command(filepath.Join(home, "bin", "instcheck")).CombinedOutput(); err != nil || len(out) != 0 {
		t.Fatalf("instcheck: %v\n%s", err, out)
	}

	aliasUID, _ := lookupID(t, "alias")
	nofiles := groupID(t, "nofiles")
	qmaild, _ := lookupID(t, "qmaild")
	// Mail for any local address goes to ~alias/.qmail-default.
	os.WriteFile(filepath.Join(home, "alias", ".qmail-default"), []byte("./Maildir/\n"), 0o644)
	os.Chown(filepath.Join(home, "alias", ".qmail-default"), aliasUID, nofiles)
	md := filepath.Join(home, "alias", "Maildir")
	for _, d := range []string{md, md + "/tmp", md + "/new", md + "/cur"} {
		os.Mkdir(d, 0o700)
		os.Chown(d, aliasUID, nofiles)
	}

	s := start(t, home, qmaild, nofiles)
	c := dial(t, s.port)
	c.reply()
	c.expect("HELO client.example", "250 localhost")
	c.send("root@example.org", "postmaster@localhost", "Subject: root mode\n\nHi.\n")
	c.expect("QUIT", "221 localhost")
	n := strings.TrimPrefix(s.expectLog("new msg *"), "new msg ")
	s.expectLog("info msg " + n + ": bytes *")
	s.expectLog("starting delivery 1: msg " + n + " to local postmaster@localhost")
	s.expectLog("delivery 1: success: did_1+0+0/")
	s.expectLog("end msg " + n)

	path, msg := waitFile(t, filepath.Join(md, "new"))
	if !strings.HasPrefix(msg, "Return-Path: <root@example.org>\nDelivered-To: postmaster@localhost\nReceived: (qmail ") ||
		!strings.Contains(msg, " invoked from network); ") {
		t.Errorf("message:\n%s", msg)
	}
	fi, _ := os.Stat(path)
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != aliasUID {
		t.Errorf("delivered as uid %d, want alias (%d)", st.Uid, aliasUID)
	}

	// Who runs what: qmail-start became qmail-send (qmails); its children
	// are qmail-lspawn (root), qmail-rspawn (qmailr), qmail-clean (qmailq).
	want := map[string]string{"qmail-lspawn": "root", "qmail-rspawn": "qmailr", "qmail-clean": "qmailq"}
	sendPid := s.send.Process.Pid
	if uid, err := procUID(sendPid); err != nil || uid != mustUID(t, "qmails") {
		t.Errorf("qmail-send runs as uid %d (%v), want qmails", uid, err)
	}
	kids := children(sendPid)
	for name, acct := range want {
		found := false
		for pid, comm := range kids {
			if comm != name {
				continue
			}
			found = true
			if uid, err := procUID(pid); err != nil || uid != mustUID(t, acct) {
				t.Errorf("%s runs as uid %d (%v), want %s", name, uid, err, acct)
			}
		}
		if !found {
			t.Errorf("no %s among qmail-send's children %v", name, kids)
		}
	}
	// tcpserver dropped to qmaild; so does the qmail-smtpd it runs.
	if uid, err := procUID(s.tcp.Process.Pid); err != nil || uid != qmaild {
		t.Errorf("tcpserver runs as uid %d (%v), want qmaild", uid, err)
	}
}

func mustUID(t *testing.T, name string) int {
	uid, _ := lookupID(t, name)
	return uid
}

func groupID(t *testing.T, name string) int {
	t.Helper()
	g, err := user.LookupGroup(name)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(g.Gid)
	return n
}
