package deliverhelp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/testutil"
)

// callMsg runs one helper with message as a seekable standard input.
func callMsg(t *testing.T, main prog.Main, message string, env []string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "msg")
	os.WriteFile(p, []byte(message), 0o600)
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

func withEnv(env []string, kv ...string) []string {
	out := append([]string{}, env...)
	for i := 0; i+1 < len(kv); i += 2 {
		out = prog.SetEnv(out, kv[i], kv[i+1])
	}
	return out
}

func TestQreceipt(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	const ask = "Notice-Requested-Upon-Delivery-To: joe@Example.COM\nMessage-ID: <1@x>\nSubject: hi\n\nbody\n"
	tests := []struct {
		name    string
		message string
		sender  string // "-" = unset
		args    []string
		qqExit  int
		code    int
		queued  bool
		errOut  string
	}{
		{"asked", ask, "s@x", []string{"joe@example.com"}, 0, 0, true, "qreceipt: qp *"},
		{"asked in a list with names", "Notice-Requested-Upon-Delivery-To: Ann <ann@x>,\n Joe <joe@example.com>\n\nb\n", "s@x", []string{"joe@example.com"}, 0, 0, true, "qreceipt: qp *"},
		{"asked in a broken list", "notice-requested-upon-delivery-to: <joe@example.com>, (\n\nb\n", "s@x", []string{"joe@example.com"}, 0, 0, true, "qreceipt: qp *"},
		{"someone else asked", ask, "s@x", []string{"ann@example.com"}, 0, 0, false, ""},
		{"local part case matters", ask, "s@x", []string{"JOE@example.com"}, 0, 0, false, ""},
		{"field in the body only", "Subject: x\n\nNotice-Requested-Upon-Delivery-To: joe@example.com\n", "s@x", []string{"joe@example.com"}, 0, 0, false, ""},
		{"no header at all", "", "s@x", []string{"joe@example.com"}, 0, 0, false, ""},
		{"bounce: no notice", ask, "", []string{"joe@example.com"}, 0, 0, false, ""},
		{"double bounce: no notice", ask, "#@[]", []string{"joe@example.com"}, 0, 0, false, ""},
		{"sender with LF: no notice", ask, "s@x\nTo: evil", []string{"joe@example.com"}, 0, 0, false, ""},
		{"queue fails temporarily", ask, "s@x", []string{"joe@example.com"}, 111, 111, false, "qreceipt: fatal: *"},
		{"queue refuses", ask, "s@x", []string{"joe@example.com"}, 31, 100, false, "qreceipt: fatal: *"},
		{"SENDER unset", ask, "-", []string{"joe@example.com"}, 0, 100, false, "qreceipt: fatal: SENDER not set\n"},
		{"no address", ask, "s@x", nil, 0, 100, false, "qreceipt: usage: qreceipt deliveryaddress\n"},
		{"two addresses", ask, "s@x", []string{"a@b", "c@d"}, 0, 100, false, "qreceipt: usage: *"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, dir := fakeQueue(t, tc.qqExit)
			if tc.sender == "-" {
				env = prog.UnsetEnv(env, "SENDER")
			} else {
				env = withEnv(env, "SENDER", tc.sender)
			}
			code, out, errs := callMsg(t, Qreceipt, tc.message, env, append([]string{"qreceipt"}, tc.args...)...)
			okErr := errs == tc.errOut || strings.HasSuffix(tc.errOut, "*") && strings.HasPrefix(errs, strings.TrimSuffix(tc.errOut, "*"))
			if code != tc.code || out != "" || !okErr {
				t.Errorf("got %d %q %q, want %d %q", code, out, errs, tc.code, tc.errOut)
			}
			env2, err := os.ReadFile(dir + "/env")
			queued := err == nil && tc.qqExit == 0
			if queued != tc.queued {
				t.Fatalf("queued %v, want %v", queued, tc.queued)
			}
			if !queued {
				return
			}
			if want := "F\x00T" + tc.sender + "\x00\x00"; string(env2) != want {
				t.Errorf("envelope %q, want %q", env2, want)
			}
			body, _ := os.ReadFile(dir + "/msg")
			wantTop := "From: DELIVERY NOTICE SYSTEM <s@x>\nTo: <s@x>\nSubject: success notice\n\n"
			if !strings.HasPrefix(string(body), wantTop) || !strings.Contains(string(body), "delivered to "+tc.args[0]+".\n") {
				t.Errorf("notice:\n%s", body)
			}
			if strings.Contains(tc.message, "Message-ID") != strings.Contains(string(body), "Message-ID: <1@x>\n") {
				t.Errorf("notice and Message-ID:\n%s", body)
			}
		})
	}
}

// maildirWith makes a Maildir holding the given messages in new/ (or
// cur/ for names starting "cur/"), with modification times one minute
// apart in the order given.
func maildirWith(t *testing.T, msgs [][2]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "Maildir")
	for _, d := range []string{"", "/tmp", "/new", "/cur"} {
		if err := os.Mkdir(dir+d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC)
	for i, m := range msgs {
		name := m[0]
		if !strings.Contains(name, "/") {
			name = "new/" + name
		}
		p := filepath.Join(dir, name)
		testutil.MustWrite(t, p, m[1], 0o600)
		mt := base.Add(time.Duration(i) * time.Minute)
		os.Chtimes(p, mt, mt)
	}
	return dir
}

func TestMaildir2mbox(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	msgs := [][2]string{
		{"cur/1.b:2,S", "Return-Path: <a@x>\nSubject: one\n\nFrom me\n>From you\n"},
		{"2.a", "Return-Path: <>\nSubject: two\n\nno newline at the end"},
		{"3.c", "Subject: three\n\nbody\n"},
	}
	const want = "old\n\n" +
		"From a@x Sat Feb 03 04:05:06 2024\nReturn-Path: <a@x>\nSubject: one\n\n>From me\n>>From you\n\n" +
		"From MAILER-DAEMON Sat Feb 03 04:06:06 2024\nReturn-Path: <>\nSubject: two\n\nno newline at the end\n\n" +
		"From XXX Sat Feb 03 04:07:06 2024\nSubject: three\n\nbody\n\n"
	md := maildirWith(t, msgs)
	mail := filepath.Join(filepath.Dir(md), "mbox")
	testutil.MustWrite(t, mail, "old\n\n", 0o600)
	stale := filepath.Join(md, "tmp", "stale")
	fresh := filepath.Join(md, "tmp", "fresh")
	testutil.MustWrite(t, stale, "x", 0o600)
	testutil.MustWrite(t, fresh, "x", 0o600)
	old := time.Now().Add(-40 * time.Hour)
	os.Chtimes(stale, old, old)
	env := []string{"MAILDIR=" + md, "MAIL=" + mail, "MAILTMP=" + mail + ".tmp"}

	code, out, errs := callMsg(t, Maildir2mbox, "", env, "maildir2mbox")
	if code != 0 || out != "" || errs != "" {
		t.Fatalf("got %d %q %q", code, out, errs)
	}
	got, _ := os.ReadFile(mail)
	if string(got) != want {
		t.Errorf("mbox:\n%q\nwant\n%q", got, want)
	}
	for _, sub := range []string{"new", "cur"} {
		if ents, _ := os.ReadDir(filepath.Join(md, sub)); len(ents) != 0 {
			t.Errorf("%s/ still holds %d files", sub, len(ents))
		}
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale tmp file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh tmp file removed: %v", err)
	}
	if _, err := os.Stat(mail + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("MAILTMP left behind: %v", err)
	}

	// Nothing more to move: exit 0 and the mbox untouched.
	code, _, errs = callMsg(t, Maildir2mbox, "", env, "maildir2mbox")
	if again, _ := os.ReadFile(mail); code != 0 || errs != "" || string(again) != want {
		t.Errorf("second run: %d %q, mbox changed: %v", code, errs, string(again) != want)
	}
}

func TestMaildir2mboxFailures(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	tests := []struct {
		name string
		env  func(md, mail string) []string
		err  string
	}{
		{"MAILDIR unset", func(md, mail string) []string { return []string{"MAIL=" + mail, "MAILTMP=" + mail + ".tmp"} },
			"maildir2mbox: fatal: MAILDIR not set\n"},
		{"MAIL unset", func(md, mail string) []string { return []string{"MAILDIR=" + md, "MAILTMP=" + mail + ".tmp"} },
			"maildir2mbox: fatal: MAIL not set\n"},
		{"MAILTMP empty", func(md, mail string) []string { return []string{"MAILDIR=" + md, "MAIL=" + mail, "MAILTMP="} },
			"maildir2mbox: fatal: MAILTMP not set\n"},
		{"no Maildir", func(md, mail string) []string {
			return []string{"MAILDIR=" + md + "/nope", "MAIL=" + mail, "MAILTMP=" + mail + ".tmp"}
		}, "maildir2mbox: fatal: unable to clean *"},
		{"MAILTMP not writable", func(md, mail string) []string {
			return []string{"MAILDIR=" + md, "MAIL=" + mail, "MAILTMP=/nonexistent/dir/tmp"}
		}, "maildir2mbox: fatal: unable to copy *"},
		{"MAIL in a missing folder", func(md, mail string) []string {
			return []string{"MAILDIR=" + md, "MAIL=/nonexistent/mbox", "MAILTMP=" + mail + ".tmp"}
		}, "maildir2mbox: fatal: unable to open /nonexistent/mbox: *"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			md := maildirWith(t, [][2]string{{"1.x", "Subject: keep me\n\nbody\n"}})
			mail := filepath.Join(filepath.Dir(md), "mbox")
			testutil.MustWrite(t, mail, "old\n\n", 0o600)
			code, _, errs := callMsg(t, Maildir2mbox, "", tc.env(md, mail), "maildir2mbox")
			if code != 111 || !(errs == tc.err || strings.HasSuffix(tc.err, "*") && strings.HasPrefix(errs, strings.TrimSuffix(tc.err, "*"))) {
				t.Errorf("got %d %q, want 111 %q", code, errs, tc.err)
			}
			if got, _ := os.ReadFile(mail); string(got) != "old\n\n" {
				t.Errorf("mbox changed to %q", got)
			}
			if ents, _ := os.ReadDir(filepath.Join(md, "new")); len(ents) != 1 {
				t.Errorf("the message left the Maildir")
			}
		})
	}
	code, _, errs := callMsg(t, Maildir2mbox, "", nil, "maildir2mbox", "extra")
	if code != 100 || errs != "maildir2mbox: usage: maildir2mbox\n" {
		t.Errorf("with an argument: %d %q", code, errs)
	}
}

// failAfter is a writer whose writes fail after n successful ones.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

func (w *failAfter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("terminal gone")
	}
	w.n--
	return w.buf.Write(p)
}

func TestMaildirwatch(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	md := maildirWith(t, [][2]string{
		{"cur/1.a:2,S", "From: Ann <ann@x>\nSubject: seen\n\nbody\n"},
		{"2.b", "Subject: =?utf-8?q?x?=\n  folded\nFrom: evil\x1b[2J@x\n\nbody\n"},
	})
	want := clearScreen +
		"    From:    Ann <ann@x>\n    Subject: seen\n\n" +
		"new From:    evil?[2J@x\n    Subject: =?utf-8?q?x?= folded\n\n"
	w := &failAfter{n: 2}
	ctx := &prog.Context{Args: []string{"maildirwatch"}, Env: []string{"MAILDIR=" + md}, Stdout: w, Stderr: &bytes.Buffer{}}
	code := watch(ctx, time.Millisecond, 5)
	if code != 111 || w.buf.String() != want+want {
		t.Errorf("got %d %q, want 111 and two screens %q", code, w.buf.String(), want)
	}
	if e := ctx.Stderr.(*bytes.Buffer).String(); e != "maildirwatch: fatal: unable to write output: terminal gone\n" {
		t.Errorf("stderr %q", e)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		err  string
	}{
		{nil, []string{"maildirwatch"}, 111, "maildirwatch: fatal: MAILDIR not set\n"},
		{[]string{"MAILDIR=/nonexistent"}, []string{"maildirwatch"}, 111, "maildirwatch: fatal: unable to scan /nonexistent: *"},
		{[]string{"MAILDIR=" + md}, []string{"maildirwatch", "x"}, 100, "maildirwatch: usage: maildirwatch\n"},
	} {
		var errb bytes.Buffer
		ctx := &prog.Context{Args: tc.args, Env: tc.env, Stdout: &bytes.Buffer{}, Stderr: &errb}
		code := watch(ctx, time.Millisecond, 1)
		e := errb.String()
		if code != tc.code || !(e == tc.err || strings.HasSuffix(tc.err, "*") && strings.HasPrefix(e, strings.TrimSuffix(tc.err, "*"))) {
			t.Errorf("%q %q: got %d %q, want %d %q", tc.env, tc.args, code, e, tc.code, tc.err)
		}
	}
}
