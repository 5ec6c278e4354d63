package userdb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/testutil"
)

func TestParsePasswd(t *testing.T) {
	in := strings.Join([]string{
		"root:x:0:0:root:/root:/bin/bash",
		"joe:x:507:100:Joe:/home/joe:/bin/sh",
		"noshell:x:1:1::/h",         // six fields: skipped
		":x:2:2::/h:/bin/sh",        // no name
		"#c:x:3:3::/h:/bin/sh",      // comment
		"+nis:x:4:4::/h:/bin/sh",    // NIS
		"-nis:x:5:5::/h:/bin/sh",    // NIS
		"baduid:x:u:6::/h:/bin/sh",  // uid not a number
		"badgid:x:7:-1::/h:/bin/sh", // gid not a number
		"nul\x00:x:8:8::/h:/bin/sh", // NUL
		"joe:x:999:999::/other:/bin/sh",
		"",
		"last:x:9:9:g:/home/last:", // no newline at the end
	}, "\n")
	got := ParsePasswd([]byte(in))
	want := []Passwd{
		{"root", 0, 0, "/root"}, {"joe", 507, 100, "/home/joe"},
		{"joe", 999, 999, "/other"}, {"last", 9, 9, "/home/last"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	// getpwnam: the first entry of a name wins
	pw, err := Accounts(got)("joe")
	if err != nil || pw.UID != 507 {
		t.Fatalf("Accounts(joe) = %v %v", pw, err)
	}
	if _, err := Accounts(got)("JOE"); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("names are case-sensitive: %v", err)
	}
	if _, err := Accounts(got)(""); !errors.Is(err, ErrNoAccount) {
		t.Fatalf("empty name: %v", err)
	}
}

func TestReadPasswd(t *testing.T) {
	p := filepath.Join(t.TempDir(), "passwd")
	testutil.MustWrite(t, p, "joe:x:507:100:Joe:/home/joe:/bin/sh\n", 0o644)
	list, err := ReadPasswd(p)
	if err != nil || len(list) != 1 || list[0].Name != "joe" {
		t.Fatalf("ReadPasswd = %v %v", list, err)
	}
	_, err = ReadPasswd(p + ".missing")
	if err == nil || err.Error() != "unable to read "+p+".missing: no such file or directory" {
		t.Fatalf("missing file: %v", err)
	}
}

func TestUserModeAccounts(t *testing.T) {
	list := []Passwd{{"root", 0, 0, "/root"}, {"dev", 1000, 1000, "/home/dev"}, {"dev2", 1000, 5, "/x"}, {"other", 1001, 1001, "/home/other"}}
	tests := []struct {
		name  string
		list  []Passwd
		ask   string
		want  Passwd
		found bool
	}{
		{"owner by name", list, "dev", Passwd{"dev", 1000, 1000, "/home/dev"}, true},
		{"second name of the owner uid", list, "dev2", Passwd{}, false},
		{"another account", list, "other", Passwd{}, false},
		{"root", list, "root", Passwd{}, false},
		{"alias is the owner with HOME/alias", list, "alias", Passwd{"alias", 1000, 1000, "/q/alias"}, true},
		{"alias without a passwd entry for the owner", list[3:], "alias", Passwd{"alias", 1000, 77, "/q/alias"}, true},
		{"owner without a passwd entry", list[3:], "dev", Passwd{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pw, err := UserModeAccounts(tc.list, 1000, 77, "/q/alias")(tc.ask)
			if !tc.found {
				if !errors.Is(err, ErrNoAccount) {
					t.Fatalf("got %v %v, want ErrNoAccount", pw, err)
				}
				return
			}
			if err != nil || pw != tc.want {
				t.Fatalf("got %v %v, want %v", pw, err, tc.want)
			}
		})
	}
}

func TestUserModeGetpw(t *testing.T) {
	list := []Passwd{{"root", 0, 0, "/root"}, {"dev", 1000, 1000, "/home/dev"}, {"joe", 1001, 1001, "/home/joe"}}
	homes := map[string]int{"/home/dev": 1000, "/home/joe": 1001, "/q/alias": 1000}
	stat := func(h string) (int, error) {
		if uid, ok := homes[h]; ok {
			return uid, nil
		}
		return 0, os.ErrNotExist
	}
	lookup := UserModeAccounts(list, 1000, 1000, "/q/alias")
	tests := []struct {
		local string
		want  Entry
	}{
		{"dev-x", Entry{"dev", 1000, 1000, "/home/dev", "-", "x"}},
		{"joe", Entry{"alias", 1000, 1000, "/q/alias", "-", "joe"}}, // joe is not the owner
		{"root", Entry{"alias", 1000, 1000, "/q/alias", "-", "root"}},
		{"alias", Entry{"alias", 1000, 1000, "/q/alias", "", ""}}, // ~alias/.qmail, as in root mode
	}
	for _, tc := range tests {
		got, ok, err := Getpw(tc.local, lookup, stat)
		if err != nil || !ok || got != tc.want {
			t.Errorf("Getpw(%q) = %+v %v %v, want %+v", tc.local, got, ok, err, tc.want)
		}
	}
}

func TestStatOwner(t *testing.T) {
	dir := t.TempDir()
	uid, err := StatOwner(dir)
	if err != nil || uid != os.Getuid() {
		t.Fatalf("StatOwner = %d %v, want %d", uid, err, os.Getuid())
	}
	if _, err := StatOwner(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

// TestPasswdCache: the cache parses once, and again when the file is
// changed in place or replaced; a missing file is an error.
func TestPasswdCache(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "passwd")
	os.WriteFile(path, []byte("joe:x:1001:1001::/home/joe:/bin/sh\n"), 0o644)
	c := &PasswdCache{Path: path}
	l1, err := c.Read()
	if err != nil || len(l1) != 1 || l1[0].Name != "joe" {
		t.Fatalf("%v %v", l1, err)
	}
	l2, _ := c.Read()
	if &l1[0] != &l2[0] {
		t.Error("read twice without a change")
	}
	os.WriteFile(path, []byte("joe:x:1001:1001::/home/joe:/bin/sh\nann:x:1002:1002::/home/ann:/bin/sh\n"), 0o644)
	if l, _ := c.Read(); len(l) != 2 {
		t.Errorf("after a change in place: %v", l)
	}
	tmp := filepath.Join(dir, "passwd.new")
	os.WriteFile(tmp, []byte("bob:x:1003:1003::/home/bob:/bin/sh\nann:x:1002:1002::/home/ann:/bin/sh\n"), 0o644)
	os.Rename(tmp, path)
	if l, _ := c.Read(); len(l) != 2 || l[0].Name != "bob" {
		t.Errorf("after a replacement: %v", l)
	}
	os.Remove(path)
	if _, err := c.Read(); err == nil {
		t.Error("no error for a missing file")
	}
}
