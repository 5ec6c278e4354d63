package deliverhelp

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

const (
	msg    = "Subject: x\n\nbody\n"
	ufline = "From s@x Thu Jan 01 00:00:00 1970\n"
	rpline = "Return-Path: <s@x>\n"
	dtline = "Delivered-To: joe@example.com\n"
)

var baseEnv = []string{"PATH=/usr/bin:/bin", "UFLINE=" + ufline, "RPLINE=" + rpline, "DTLINE=" + dtline,
	"SENDER=s@x", "NEWSENDER=owner@x"}

// call runs one helper with the message as a seekable standard input.
func call(t *testing.T, main prog.Main, env []string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "msg")
	os.WriteFile(p, []byte(msg), 0o600)
	m, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: args, Env: env, Home: dir, Stdin: m, Stdout: &out, Stderr: &errb, Files: []*os.File{m}}
	code := main(ctx)
	return code, out.String(), errb.String()
}

// fakeQueue returns an environment with QMAILQUEUE recording into dir.
func fakeQueue(t *testing.T, exit int) ([]string, string) {
	dir := t.TempDir()
	script := "#!/bin/sh\ncat >" + dir + "/msg\ncat <&1 >" + dir + "/env\nexit " + strconv.Itoa(exit) + "\n"
	os.WriteFile(dir+"/qq", []byte(script), 0o700)
	return append(append([]string{}, baseEnv...), "QMAILQUEUE="+dir+"/qq"), dir
}

func TestPreline(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		args []string
		env  []string
		code int
		out  string
		err  string
	}{
		{[]string{"cat"}, baseEnv, 0, ufline + rpline + dtline + msg, ""},
		{[]string{"-f", "cat"}, baseEnv, 0, rpline + dtline + msg, ""},
		{[]string{"-frd", "cat"}, baseEnv, 0, msg, ""},
		{[]string{"-fF", "-d", "cat"}, baseEnv, 0, ufline + rpline + msg, ""},
		{[]string{"-r", "--", "cat"}, baseEnv, 0, ufline + dtline + msg, ""},
		{[]string{"sh", "-c", "cat >/dev/null; exit 7"}, baseEnv, 7, "", ""},
		{[]string{"sh", "-c", "exit 0"}, baseEnv, 0, "", ""}, // does not read its input
		{[]string{"sh", "-c", "kill -9 $$"}, baseEnv, 111, "", "preline: fatal: child crashed\n"},
		{[]string{"/nonexistent/prog"}, baseEnv, 100, "", "preline: fatal: unable to run /nonexistent/prog: file does not exist\n"},
		{[]string{"no-such-program-anywhere"}, baseEnv, 100, "", "preline: fatal: unable to run no-such-program-anywhere: file does not exist\n"},
		{[]string{"cat"}, baseEnv[:3], 100, "", "preline: usage: preline [ -frdFRD ] command\n"},
		{nil, baseEnv, 100, "", "preline: usage: preline [ -frdFRD ] command\n"},
		{[]string{"-x", "cat"}, baseEnv, 100, "", "preline: usage: preline [ -frdFRD ] command\n"},
	}
	for _, tc := range tests {
		code, out, errs := call(t, Preline, tc.env, append([]string{"preline"}, tc.args...)...)
		if code != tc.code || out != tc.out || errs != tc.err {
			t.Errorf("preline %q: got %d %q %q, want %d %q %q", tc.args, code, out, errs, tc.code, tc.out, tc.err)
		}
	}
}

func TestExceptBouncesaying(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		main prog.Main
		args []string
		code int
		err  string
	}{
		{Except, []string{"except", "true"}, 100, ""},
		{Except, []string{"except", "false"}, 0, ""},
		{Except, []string{"except", "sh", "-c", "exit 111"}, 111, ""},
		{Except, []string{"except", "sh", "-c", "exit 100"}, 0, ""},
		{Except, []string{"except", "sh", "-c", "kill -9 $$"}, 111, "except: fatal: child crashed\n"},
		{Except, []string{"except"}, 100, "except: usage: except program [ arg ... ]\n"},
		{Bouncesaying, []string{"bouncesaying", "Go away."}, 100, "Go away.\n"},
		{Bouncesaying, []string{"bouncesaying", "Go away.", "true"}, 100, "Go away.\n"},
		{Bouncesaying, []string{"bouncesaying", "Go away.", "false"}, 0, ""},
		{Bouncesaying, []string{"bouncesaying", "Go away.", "sh", "-c", "exit 111"}, 111, ""},
		{Bouncesaying, []string{"bouncesaying", "Go away.", "sh", "-c", "kill -9 $$"}, 111, "bouncesaying: fatal: child crashed\n"},
		{Bouncesaying, []string{"bouncesaying"}, 100, "bouncesaying: usage: bouncesaying error [ program [ arg ... ] ]\n"},
		{Bouncesaying, []string{"bouncesaying", "x", "/nonexistent"}, 100, "bouncesaying: fatal: unable to run /nonexistent: file does not exist\n"},
	}
	for _, tc := range tests {
		code, _, errs := call(t, tc.main, baseEnv, tc.args...)
		if code != tc.code || errs != tc.err {
			t.Errorf("%q: got %d %q, want %d %q", tc.args, code, errs, tc.code, tc.err)
		}
	}
}

func TestMaildirmake(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	dir := filepath.Join(t.TempDir(), "Maildir")
	if code, _, errs := call(t, Maildirmake, nil, "maildirmake", dir); code != 0 {
		t.Fatalf("exit %d %s", code, errs)
	}
	for _, d := range []string{"tmp", "new", "cur"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v", d, fi, err)
		}
	}
	code, _, errs := call(t, Maildirmake, nil, "maildirmake", dir)
	if code != 111 || !strings.HasPrefix(errs, "maildirmake: fatal: unable to mkdir ") || !strings.Contains(errs, "file exists") {
		t.Errorf("existing: %d %q", code, errs)
	}
	for _, args := range [][]string{{"maildirmake"}, {"maildirmake", "a", "b"}, {"maildirmake", ""}} {
		if code, _, _ := call(t, Maildirmake, nil, args...); code != 100 {
			t.Errorf("%q: exit %d, want 100", args, code)
		}
	}
}

func TestForward(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	qp := regexp.MustCompile(`^forward: qp [0-9]+\n$`)
	env, dir := fakeQueue(t, 0)
	code, _, errs := call(t, Forward, env, "forward", "a@b", "c@d")
	if code != 0 || !qp.MatchString(errs) {
		t.Fatalf("got %d %q", code, errs)
	}
	if b, _ := os.ReadFile(dir + "/msg"); string(b) != dtline+msg {
		t.Errorf("message %q", b)
	}
	if b, _ := os.ReadFile(dir + "/env"); string(b) != "Fowner@x\x00Ta@b\x00Tc@d\x00\x00" {
		t.Errorf("envelope %q", b)
	}
	failures := []struct {
		exit int
		env  []string
		args []string
		code int
		err  string
	}{
		{31, nil, []string{"forward", "a@b"}, 100, "forward: fatal: mail server permanently rejected message (#5.3.0)\n"},
		{71, nil, []string{"forward", "a@b"}, 111, "forward: fatal: mail server temporarily rejected message (#4.3.0)\n"},
		{0, []string{"DTLINE=x"}, []string{"forward", "a@b"}, 100, "forward: fatal: NEWSENDER not set\n"},
		{0, []string{"NEWSENDER=x"}, []string{"forward", "a@b"}, 100, "forward: fatal: DTLINE not set\n"},
		{0, nil, []string{"forward"}, 100, "forward: usage: forward address [ address ... ]\n"},
	}
	for _, tc := range failures {
		env, _ := fakeQueue(t, tc.exit)
		if tc.env != nil {
			env = append(tc.env, env[len(env)-1])
		}
		if code, _, errs := call(t, Forward, env, tc.args...); code != tc.code || errs != tc.err {
			t.Errorf("%d %q: got %d %q, want %d %q", tc.exit, tc.env, code, errs, tc.code, tc.err)
		}
	}
}

func TestCondredirect(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		prog []string
		code int
		err  string // regexp
		sent bool
	}{
		{[]string{"sh", "-c", "cat >/dev/null; exit 0"}, 99, `^condredirect: qp [0-9]+\n$`, true},
		{[]string{"true"}, 99, `^condredirect: qp [0-9]+\n$`, true},
		{[]string{"false"}, 0, `^$`, false},
		{[]string{"sh", "-c", "exit 100"}, 0, `^$`, false},
		{[]string{"sh", "-c", "exit 111"}, 111, `^$`, false},
		{[]string{"sh", "-c", "kill -9 $$"}, 111, `^condredirect: fatal: child crashed\n$`, false},
		{[]string{"/nonexistent"}, 100, `^condredirect: fatal: unable to run /nonexistent: `, false},
	}
	for _, tc := range tests {
		env, dir := fakeQueue(t, 0)
		code, _, errs := call(t, Condredirect, env, append([]string{"condredirect", "new@addr"}, tc.prog...)...)
		if code != tc.code || !regexp.MustCompile(tc.err).MatchString(errs) {
			t.Errorf("%q: got %d %q, want %d %s", tc.prog, code, errs, tc.code, tc.err)
		}
		b, err := os.ReadFile(dir + "/env")
		if tc.sent != (err == nil) {
			t.Errorf("%q: queued = %v", tc.prog, err == nil)
		}
		if tc.sent && string(b) != "Fs@x\x00Tnew@addr\x00\x00" {
			t.Errorf("%q: envelope %q", tc.prog, b)
		}
		if m, _ := os.ReadFile(dir + "/msg"); tc.sent && string(m) != dtline+msg {
			t.Errorf("%q: message %q (not rewound?)", tc.prog, m)
		}
	}
	if code, _, _ := call(t, Condredirect, baseEnv, "condredirect", "a@b"); code != 100 {
		t.Errorf("usage: exit %d", code)
	}
}
