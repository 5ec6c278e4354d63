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
)

const samplePasswd = "root:x:0:0:root:/root:/bin/bash\n" +
	"alias:x:7790:2108::/var/qmail/alias:/bin/false\n" +
	"joe:x:507:100:Joe Shmoe:/home/joe:/bin/sh\n" +
	"Upper:x:508:100::/home/upper:/bin/sh\n" +
	"nohome:x:509:100::/home/nohome:/bin/sh\n" +
	"notowned:x:510:100::/home/shared:/bin/sh\n" +
	"short:x:511:100::/home/short\n" + // no shell field: skipped
	"nul\x00:x:512:100::/home/nul:/bin/sh\n" +
	"zero:x:x0:100::/home/zero:/bin/sh\n" + // scan_ulong("x0") = 0: skipped as root
	"bob:x:0513:100::/home/bob:/bin/sh" // verbatim uid, no final newline

// fakeHomes is the stat the tests use: home ⇒ owner.
func fakeHomes(path string) (uint64, error) {
	owners := map[string]uint64{
		"/root": 0, "/var/qmail/alias": 7790, "/home/joe": 507, "/home/upper": 508,
		"/home/shared": 507, "/home/short": 511, "/home/nul": 512, "/home/zero": 0, "/home/bob": 513,
	}
	if path == "/home/hidden" {
		return 0, syscall.EACCES
	}
	if uid, ok := owners[path]; ok {
		return uid, nil
	}
	return 0, syscall.ENOENT
}

const (
	aliasLines = "+:alias:7790:2108:/var/qmail/alias:-::\n" +
		"=alias:alias:7790:2108:/var/qmail/alias:::\n" +
		"+alias-:alias:7790:2108:/var/qmail/alias:-::\n"
	joeLines = "=joe:joe:507:100:/home/joe:::\n+joe-:joe:507:100:/home/joe:-::\n"
	bobLines = "=bob:bob:0513:100:/home/bob:::\n+bob-:bob:0513:100:/home/bob:-::\n"
)

func pw2uRun(t *testing.T, home, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: append([]string{"qmail-pw2u"}, args...), Home: home,
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb}
	code := pw2uMain(ctx, fakeHomes)
	return code, out.String(), errb.String()
}

const pw2uUsageErr = "qmail-pw2u: usage: qmail-pw2u [ -/ohHuUC ] [ -cchar ] < passwd\n"

func TestPw2uOptions(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		stdout string
		stderr string
	}{
		{"default", nil, samplePasswd, 0, aliasLines + joeLines + bobLines + ".\n", ""},
		{"-o is the default", []string{"-o"}, samplePasswd, 0, aliasLines + joeLines + bobLines + ".\n", ""},
		{"-u allows uppercase", []string{"-u"}, samplePasswd, 0, aliasLines + joeLines +
			"=Upper:Upper:508:100:/home/upper:::\n+Upper-:Upper:508:100:/home/upper:-::\n" + bobLines + ".\n", ""},
		{"-U after -u", []string{"-uU"}, samplePasswd, 0, aliasLines + joeLines + bobLines + ".\n", ""},
		{"-H skips the home checks", []string{"-H"}, samplePasswd, 0, aliasLines + joeLines +
			"=nohome:nohome:509:100:/home/nohome:::\n+nohome-:nohome:509:100:/home/nohome:-::\n" +
			"=notowned:notowned:510:100:/home/shared:::\n+notowned-:notowned:510:100:/home/shared:-::\n" +
			bobLines + ".\n", ""},
		{"-h stops at a missing home", []string{"-h"}, samplePasswd, 111, "",
			"qmail-pw2u: fatal: unable to stat /home/nohome: no such file or directory\n"},
		{"-h skips a home not owned", []string{"-h"}, strings.Replace(samplePasswd, "nohome:", "NOHOME:", 1), 0,
			aliasLines + joeLines + bobLines + ".\n", ""},
		{"a hidden home is fatal even with -o", nil, "alias:x:7790:2108::/var/qmail/alias:/bin/false\nh:x:5:5::/home/hidden:/bin/sh\n",
			111, "", "qmail-pw2u: fatal: unable to stat /home/hidden: permission denied\n"},
		{"-/", []string{"-/"}, samplePasswd, 0, strings.NewReplacer(":-::", ":-/::").Replace(aliasLines+joeLines+bobLines) + ".\n", ""},
		{"-c.", []string{"-c."}, samplePasswd, 0, strings.NewReplacer("alias-:", "alias.:", "joe-:", "joe.:", "bob-:", "bob.:").
			Replace(aliasLines+joeLines+bobLines) + ".\n", ""},
		{"-c +x uses the first character", []string{"-c", "+x"}, samplePasswd, 0, strings.NewReplacer("alias-:", "alias+:", "joe-:", "joe+:", "bob-:", "bob+:").
			Replace(aliasLines+joeLines+bobLines) + ".\n", ""},
		{"-C disables the break", []string{"-C"}, samplePasswd, 0, "+:alias:7790:2108:/var/qmail/alias:-::\n" +
			"=alias:alias:7790:2108:/var/qmail/alias:::\n=joe:joe:507:100:/home/joe:::\n=bob:bob:0513:100:/home/bob:::\n.\n", ""},
		{"-c with an empty argument is -C", []string{"-c", ""}, samplePasswd, 0, "+:alias:7790:2108:/var/qmail/alias:-::\n" +
			"=alias:alias:7790:2108:/var/qmail/alias:::\n=joe:joe:507:100:/home/joe:::\n=bob:bob:0513:100:/home/bob:::\n.\n", ""},
		{"grouped, -c last takes the rest", []string{"-/Cc-"}, "alias:x:7790:2108::/var/qmail/alias:/bin/false\n", 0,
			"+:alias:7790:2108:/var/qmail/alias:-/::\n=alias:alias:7790:2108:/var/qmail/alias:::\n" +
				"+alias-:alias:7790:2108:/var/qmail/alias:-/::\n.\n", ""},
		{"no alias user", nil, "joe:x:507:100::/home/joe:/bin/sh\n", 111, "", "qmail-pw2u: fatal: unable to find alias user\n"},
		{"empty input", nil, "", 111, "", "qmail-pw2u: fatal: unable to find alias user\n"},
		{"-- ends the options", []string{"--"}, samplePasswd, 0, aliasLines + joeLines + bobLines + ".\n", ""},
		{"bad option", []string{"-x"}, samplePasswd, 100, "", pw2uUsageErr},
		{"-c without argument", []string{"-c"}, samplePasswd, 100, "", pw2uUsageErr},
		{"argument after the options", []string{"/etc/passwd"}, samplePasswd, 100, "", pw2uUsageErr},
		{"lone dash", []string{"-"}, samplePasswd, 100, "", pw2uUsageErr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			code, out, errs := pw2uRun(t, home, tc.stdin, tc.args...)
			if code != tc.code || out != tc.stdout || errs != tc.stderr {
				t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant exit %d\nstdout %q\nstderr %q", code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestPw2uFiles(t *testing.T) {
	const pw = "alias:x:7790:2108::/var/qmail/alias:/bin/false\njoe:x:507:100::/home/joe:/bin/sh\nbob:x:0513:100::/home/bob:/bin/sh\n"
	tests := []struct {
		name   string
		files  map[string]string
		code   int
		stdout string
		stderr string
	}{
		{"include", map[string]string{"include": "joe  \n# a comment\n\nALIAS\n"}, 0, aliasLines + joeLines + ".\n", ""},
		{"include without alias", map[string]string{"include": "joe\n"}, 111, "", "qmail-pw2u: fatal: unable to find alias user\n"},
		{"empty include keeps nobody", map[string]string{"include": ""}, 111, "", "qmail-pw2u: fatal: unable to find alias user\n"},
		{"exclude", map[string]string{"exclude": "JOE\t\n"}, 0, aliasLines + bobLines + ".\n", ""},
		{"mailnames", map[string]string{"mailnames": "Joe:joe.shmoe::js:\nbob:\nnocolon\n"}, 0, aliasLines +
			"=joe.shmoe:joe:507:100:/home/joe:::\n+joe.shmoe-:joe:507:100:/home/joe:-::\n" +
			"=js:joe:507:100:/home/joe:::\n+js-:joe:507:100:/home/joe:-::\n.\n", ""},
		{"mailnames, last line wins", map[string]string{"mailnames": "joe:a\njoe:b\n"}, 0, aliasLines +
			"=b:joe:507:100:/home/joe:::\n+b-:joe:507:100:/home/joe:-::\n" + bobLines + ".\n", ""},
		{"subusers", map[string]string{"subusers": "sub:joe:pre:\nnocolon\nx:joe\nlist:JOE:l:extra\nnopre:joe:p"}, 0,
			aliasLines + joeLines + bobLines +
				"=sub:joe:507:100:/home/joe:-:pre:\n+sub-:joe:507:100:/home/joe:-:pre-:\n" +
				"=list:joe:507:100:/home/joe:-:l:\n+list-:joe:507:100:/home/joe:-:l-:\n.\n", ""},
		{"subuser of an unknown user", map[string]string{"subusers": "sub:joe:pre:\nx:Nobody:p:\n"}, 111, "",
			"qmail-pw2u: fatal: unable to find Nobody user for subuser\n"},
		{"subuser of an excluded user", map[string]string{"exclude": "joe\n", "subusers": "sub:joe:pre:\n"}, 111, "",
			"qmail-pw2u: fatal: unable to find joe user for subuser\n"},
		{"append", map[string]string{"append": "=extra:joe:507:100:/home/joe:::\n"}, 0,
			aliasLines + joeLines + bobLines + "=extra:joe:507:100:/home/joe:::\n.\n", ""},
		{"append without final newline", map[string]string{"append": "# kept verbatim\n=extra:joe:507:100:/home/joe:::"}, 0,
			aliasLines + joeLines + bobLines + "# kept verbatim\n=extra:joe:507:100:/home/joe:::\n.\n", ""},
		{"subusers come before append", map[string]string{"append": "=z:joe:507:100:/home/joe:::\n", "subusers": "s:bob:p:\n"}, 0,
			aliasLines + joeLines + bobLines + "=s:bob:0513:100:/home/bob:-:p:\n+s-:bob:0513:100:/home/bob:-:p-:\n" +
				"=z:joe:507:100:/home/joe:::\n.\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			for name, content := range tc.files {
				testutil.MustWrite(t, filepath.Join(home, "users", name), content, 0o644)
			}
			code, out, errs := pw2uRun(t, home, pw)
			if code != tc.code || out != tc.stdout || errs != tc.stderr {
				t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant exit %d\nstdout %q\nstderr %q", code, out, errs, tc.code, tc.stdout, tc.stderr)
			}
		})
	}
}

func TestPw2uUnreadableFiles(t *testing.T) {
	for _, name := range []string{"include", "exclude", "mailnames", "subusers", "append"} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			os.MkdirAll(filepath.Join(home, "users", name), 0o755)
			code, out, errs := pw2uRun(t, home, samplePasswd)
			want := "qmail-pw2u: fatal: unable to read controls: users/" + name + ": is a directory\n"
			if code != 111 || out != "" || errs != want {
				t.Fatalf("exit %d stdout %q stderr %q, want %q", code, out, errs, want)
			}
		})
	}
	t.Run("no home", func(t *testing.T) {
		code, out, errs := pw2uRun(t, filepath.Join(t.TempDir(), "missing"), samplePasswd)
		if code != 111 || out != "" || errs != "qmail-pw2u: fatal: unable to chdir: no such file or directory\n" {
			t.Fatalf("exit %d stdout %q stderr %q", code, out, errs)
		}
	})
}

// TestPw2uRealStat runs Pw2uMain with the real stat on homes owned by
// different uids (chown needs root), and feeds the result to qmail-newu.
func TestPw2uRealStat(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to give homes to other uids")
	}
	home := t.TempDir()
	dir := t.TempDir()
	mk := func(name string, uid int) string {
		p := filepath.Join(dir, name)
		os.Mkdir(p, 0o755)
		if err := os.Chown(p, uid, 100); err != nil {
			t.Fatal(err)
		}
		return p
	}
	aliasHome, joeHome, other := mk("alias", 7790), mk("joe", 507), mk("other", 600)
	pw := "alias:x:7790:2108::" + aliasHome + ":/bin/false\njoe:x:507:100::" + joeHome + ":/bin/sh\n" +
		"bill:x:508:100::" + other + ":/bin/sh\nmissing:x:509:100::" + dir + "/none:/bin/sh\n"
	code, out, errs := run(Pw2uMain, home, pw, "qmail-pw2u")
	want := "+:alias:7790:2108:" + aliasHome + ":-::\n=alias:alias:7790:2108:" + aliasHome + ":::\n" +
		"+alias-:alias:7790:2108:" + aliasHome + ":-::\n=joe:joe:507:100:" + joeHome + ":::\n" +
		"+joe-:joe:507:100:" + joeHome + ":-::\n.\n"
	if code != 0 || out != want || errs != "" {
		t.Fatalf("exit %d\nstdout %q\nstderr %q\nwant %q", code, out, errs, want)
	}
	testutil.MustWrite(t, filepath.Join(home, "users/assign"), out, 0o644)
	if code, _, errs := run(NewuMain, home, "", "qmail-newu"); code != 0 {
		t.Fatalf("qmail-newu: exit %d %s", code, errs)
	}
}
