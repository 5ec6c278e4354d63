package ids

import (
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/testutil"
)

func TestLoadUserMode(t *testing.T) {
	home := t.TempDir()
	acct := testutil.Unprivileged(t)
	if os.Getuid() == 0 {
		if err := os.Chown(home, acct.UID, acct.GID); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Load(home)
	if err != nil {
		t.Fatal(err)
	}
	u, g := acct.UID, acct.GID
	want := IDs{
		UserMode: true,
		Alias:    u, Qmaild: u, Qmaill: u, Qmailp: u, Qmailq: u, Qmailr: u, Qmails: u, Root: u,
		GidQmail: g, GidNofiles: g,
		AliasHome: home + "/alias",
	}
	if *got != want {
		t.Errorf("Load(%s) = %+v, want %+v", home, *got, want)
	}
}

// TestLoadUserModeFollowsOwner: the group ids come from the home's
// group, not from the owner's primary group.
func TestLoadUserModeFollowsOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give a folder away")
	}
	home := t.TempDir()
	if err := os.Chown(home, 12345, 23456); err != nil {
		t.Fatal(err)
	}
	got, err := Load(home)
	if err != nil {
		t.Fatal(err)
	}
	if !got.UserMode || got.Qmails != 12345 || got.Alias != 12345 || got.Root != 12345 ||
		got.GidQmail != 23456 || got.GidNofiles != 23456 {
		t.Errorf("Load = %+v, want every role 12345:23456", *got)
	}
}

func TestLoadErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nonexistent")
	if _, err := Load(missing); err == nil || !strings.Contains(err.Error(), "unable to stat "+missing) {
		t.Errorf("Load(missing) err = %v, want unable to stat", err)
	}
}

// TestLoadRootMode looks qmail's accounts up as a home owned by root
// does. It needs the accounts (an install on this machine made them).
func TestLoadRootMode(t *testing.T) {
	want := IDs{}
	for _, u := range []struct {
		name string
		p    *int
	}{
		{"alias", &want.Alias}, {"qmaild", &want.Qmaild}, {"qmaill", &want.Qmaill},
		{"qmailp", &want.Qmailp}, {"qmailq", &want.Qmailq}, {"qmailr", &want.Qmailr},
		{"qmails", &want.Qmails},
	} {
		pw, err := user.Lookup(u.name)
		if err != nil {
			t.Skipf("qmail's account %s does not exist here: %v", u.name, err)
		}
		*u.p, _ = strconv.Atoi(pw.Uid)
		if u.name == "alias" {
			want.AliasHome = pw.HomeDir
		}
	}
	for _, g := range []struct {
		name string
		p    *int
	}{{"qmail", &want.GidQmail}, {"nofiles", &want.GidNofiles}} {
		gr, err := user.LookupGroup(g.name)
		if err != nil {
			t.Skipf("qmail's group %s does not exist here: %v", g.name, err)
		}
		*g.p, _ = strconv.Atoi(gr.Gid)
	}
	// "/" is owned by root on every system.
	got, err := Load("/")
	if err != nil {
		t.Fatal(err)
	}
	if *got != want {
		t.Errorf("Load(/) = %+v, want %+v", *got, want)
	}
	if got.UserMode || got.Root != 0 {
		t.Errorf("root mode expected: %+v", *got)
	}
	// Distinct accounts: root mode is not user mode in disguise.
	if got.Qmails == got.Qmailq && got.Qmailq == got.Qmailr {
		t.Errorf("qmails, qmailq and qmailr share uid %d", got.Qmails)
	}
}

func TestNames(t *testing.T) {
	if strings.Join(Users, " ") != "alias qmaild qmaill qmailp qmailq qmailr qmails" {
		t.Errorf("Users = %q", Users)
	}
	if strings.Join(Groups, " ") != "qmail nofiles" {
		t.Errorf("Groups = %q", Groups)
	}
}

// TestLoadUserModeUnprivileged: an ordinary account's own install is a
// user-mode install of that account.
func TestLoadUserModeUnprivileged(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	home := t.TempDir()
	got, err := Load(home)
	if err != nil {
		t.Fatal(err)
	}
	u := os.Getuid()
	if !got.UserMode || got.Alias != u || got.Qmaild != u || got.Qmaill != u || got.Qmailp != u ||
		got.Qmailq != u || got.Qmailr != u || got.Qmails != u || got.Root != u {
		t.Errorf("Load = %+v, want every role uid %d", *got, u)
	}
}
