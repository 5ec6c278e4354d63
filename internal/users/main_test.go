package users

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
	"goqmail/internal/userdb"
)

// run calls a program in-process.
func run(main func(*prog.Context) int, home, stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: args, Home: home, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code = main(ctx)
	return code, out.String(), errb.String()
}

func TestNewuMain(t *testing.T) {
	tests := []struct {
		name   string
		assign *string
		code   int
		stderr string
	}{
		{"ok", ptr("=joe:joe:507:100:/home/joe:::\n+:alias:7790:2108:/a:-::\n.\n"), 0, ""},
		{"missing assign", nil, 111, "qmail-newu: fatal: unable to open users/assign: no such file or directory\n"},
		{"no final dot", ptr("=joe:joe:507:100:/home/joe:::\n"), 111,
			"qmail-newu: fatal: bad format in users/assign: line 2: end of file without the final \".\" line\n"},
		{"NUL", ptr("=joe:joe:507:100:/home/joe:::\n=x\x00:u:1:1:/h:::\n.\n"), 111,
			"qmail-newu: fatal: bad format in users/assign: line 2: line contains NUL\n"},
		{"too few colons", ptr("=joe:joe:507:100:/home/joe::\n.\n"), 111,
			"qmail-newu: fatal: bad format in users/assign: line 1: 5 colons after the address, need 6\n"},
		{"no trailing newline", ptr("=joe:joe:507:100:/home/joe:::"), 111,
			"qmail-newu: fatal: bad format in users/assign: line 1: line does not end with a newline (and no final \".\" line)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			os.Mkdir(filepath.Join(home, "users"), 0o755)
			if tc.assign != nil {
				testutil.MustWrite(t, filepath.Join(home, "users/assign"), *tc.assign, 0o644)
			}
			code, out, errs := run(NewuMain, home, "", "qmail-newu")
			if code != tc.code || errs != tc.stderr || out != "" {
				t.Fatalf("exit %d stdout %q stderr %q\nwant exit %d stderr %q", code, out, errs, tc.code, tc.stderr)
			}
			_, err := os.Stat(filepath.Join(home, "users/cdb"))
			if (err == nil) != (tc.code == 0) {
				t.Fatalf("users/cdb exists: %v, want %v", err == nil, tc.code == 0)
			}
			if tc.code == 0 {
				e, ok, err := userdb.Lookup(home, "Joe")
				if err != nil || !ok || e.UID != 507 {
					t.Fatalf("Lookup after qmail-newu: %+v %v %v", e, ok, err)
				}
			}
		})
	}
}

func ptr(s string) *string { return &s }

// getpwHome makes a qmail home owned by uid:gid and a passwd file.
func getpwHome(t *testing.T, uid, gid int, passwd string) (home, passwdFile string) {
	t.Helper()
	dir := t.TempDir()
	home = filepath.Join(dir, "qmail")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	passwdFile = filepath.Join(dir, "passwd")
	testutil.MustWrite(t, passwdFile, passwd, 0o644)
	return home, passwdFile
}

func TestGetpwRootMode(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("a root-mode home must be owned by root")
	}
	homes := map[string]int{"/home/joe": 507, "/q/alias": 7790}
	stat := func(h string) (int, error) {
		if uid, ok := homes[h]; ok {
			return uid, nil
		}
		return 0, syscall.ENOENT
	}
	const passwd = "root:x:0:0::/root:/bin/sh\njoe:x:507:100::/home/joe:/bin/sh\nalias:x:7790:2108::/q/alias:/bin/false\n"
	home, pwfile := getpwHome(t, 0, 0, passwd)
	_, pwNoAlias := getpwHome(t, 0, 0, "joe:x:507:100::/home/joe:/bin/sh\n")
	tests := []struct {
		name   string
		pwfile string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"user", pwfile, []string{"Joe-Foo"}, 0, "joe\x00507\x00100\x00/home/joe\x00-\x00Foo\x00", ""},
		{"alias", pwfile, []string{"Root"}, 0, "alias\x007790\x002108\x00/q/alias\x00-\x00Root\x00", ""},
		{"no alias", pwNoAlias, []string{"bill"}, 116, "", "qmail-getpw: fatal: unable to find alias user\n"},
		{"no argument", pwfile, nil, 100, "", "qmail-getpw: usage: qmail-getpw local\n"},
		{"two arguments", pwfile, []string{"a", "b"}, 100, "", "qmail-getpw: usage: qmail-getpw local\n"},
		{"unreadable passwd", pwfile + ".missing", []string{"joe"}, 118, "",
			"qmail-getpw: fatal: unable to read " + pwfile + ".missing: no such file or directory\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			ctx := &prog.Context{Args: append([]string{"qmail-getpw"}, tc.args...), Home: home,
				Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb}
			code := getpw(ctx, tc.pwfile, stat)
			if code != tc.code || out.String() != tc.stdout || errb.String() != tc.stderr {
				t.Fatalf("exit %d stdout %q stderr %q\nwant exit %d stdout %q stderr %q",
					code, out.String(), errb.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}
	t.Run("home stat failure", func(t *testing.T) {
		failing := func(string) (int, error) { return 0, syscall.EIO }
		var out, errb bytes.Buffer
		ctx := &prog.Context{Args: []string{"qmail-getpw", "joe"}, Home: home, Stdout: &out, Stderr: &errb}
		if code := getpw(ctx, pwfile, failing); code != 115 || out.Len() != 0 ||
			errb.String() != "qmail-getpw: fatal: unable to stat /home/joe: input/output error\n" {
			t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errb.String())
		}
	})
	t.Run("missing home", func(t *testing.T) {
		var out, errb bytes.Buffer
		ctx := &prog.Context{Args: []string{"qmail-getpw", "joe"}, Home: home + "/missing", Stdout: &out, Stderr: &errb}
		if code := getpw(ctx, pwfile, stat); code != 118 || out.Len() != 0 {
			t.Fatalf("exit %d stdout %q stderr %q", code, out.String(), errb.String())
		}
	})
}

func TestGetpwUserMode(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give the home to another uid")
	}
	const passwd = "root:x:0:0::/root:/bin/sh\ndev:x:1000:1000::/home/dev:/bin/sh\njoe:x:1001:1001::/home/joe:/bin/sh\nalias:x:7790:2108::/q/alias:/bin/false\n"
	home, pwfile := getpwHome(t, 1000, 44, passwd)
	homes := map[string]int{"/home/dev": 1000, "/home/joe": 1001, "/q/alias": 7790}
	stat := func(h string) (int, error) {
		if uid, ok := homes[h]; ok {
			return uid, nil
		}
		return 0, syscall.ENOENT
	}
	tests := []struct{ local, stdout string }{
		{"dev-Box", "dev\x001000\x001000\x00/home/dev\x00-\x00Box\x00"},
		{"joe", "alias\x001000\x001000\x00" + home + "/alias\x00-\x00joe\x00"},
		{"Root", "alias\x001000\x001000\x00" + home + "/alias\x00-\x00Root\x00"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		ctx := &prog.Context{Args: []string{"qmail-getpw", tc.local}, Home: home, Stdout: &out, Stderr: &errb}
		if code := getpw(ctx, pwfile, stat); code != 0 || out.String() != tc.stdout {
			t.Errorf("%s: exit %d stdout %q stderr %q, want %q", tc.local, code, out.String(), errb.String(), tc.stdout)
		}
	}
}

// TestGetpwRealAccount runs the real lookup path (/etc/passwd, stat) in a
// user-mode home owned by the unprivileged test account.
func TestGetpwRealAccount(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	acct := testutil.Unprivileged(t)
	home := t.TempDir()
	// the account's own home: delivered to it if it owns that home, else
	// to HOME/alias (nobody's home is /nonexistent)
	code, out, errs := run(GetpwMain, home, "", "qmail-getpw", acct.Name+"-Ext")
	if code != 0 {
		t.Fatalf("exit %d stderr %q", code, errs)
	}
	e, err := userdb.ParseGetpw([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if e.UID != acct.UID {
		t.Fatalf("uid %d, want %d (%+v)", e.UID, acct.UID, e)
	}
	var st syscall.Stat_t
	owns := acct.Name != "" && syscall.Stat(homeOf(t, acct.Name), &st) == nil && int(st.Uid) == acct.UID
	switch {
	case owns && (e.User != acct.Name || e.Ext != "Ext"):
		t.Fatalf("got %+v, want the account itself", e)
	case !owns && (e.User != "alias" || e.Home != filepath.Join(home, "alias") || e.Ext != acct.Name+"-Ext"):
		t.Fatalf("got %+v, want the alias user in %s/alias", e, home)
	}
}

// homeOf reads an account's home from /etc/passwd.
func homeOf(t *testing.T, name string) string {
	list, err := userdb.ReadPasswd(userdb.PasswdFile)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := userdb.Accounts(list)(name)
	if err != nil {
		return "/nonexistent-" + name
	}
	return pw.Home
}
