package inject

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// fakeBin makes HOME/bin/NAME scripts that print their argv[0],
// arguments, selected variables and stdin.
func fakeBin(t *testing.T) string {
	home := t.TempDir()
	bin := filepath.Join(home, "bin")
	os.MkdirAll(bin, 0o755)
	script := "#!/bin/sh\necho \"$(basename \"$0\") $*\"\n" +
		"for v in QMAILUSER QMAILHOST QMAILNAME MAILNAME NAME RELAYCLIENT DATABYTES PROTO TCPREMOTEINFO; do\n" +
		"  eval \"x=\\${$v-unset}\"; echo \"$v=$x\"; done\ncat\nexit 3\n"
	for _, n := range []string{"qmail-inject", "qmail-smtpd", "qmail-qread", "sendmail"} {
		os.WriteFile(filepath.Join(bin, n), []byte(script), 0o755)
	}
	return home
}

func runWrapper(t *testing.T, f prog.Main, home string, argv, env []string, in string) (int, string, string) {
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: argv, Env: append([]string{"PATH=/usr/bin:/bin"}, env...), Home: home,
		Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb}
	return f(ctx), out.String(), errb.String()
}

func TestSendmail(t *testing.T) {
	home := fakeBin(t)
	vars := func(kv ...string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		var b strings.Builder
		for _, v := range []string{"QMAILUSER", "QMAILHOST", "QMAILNAME", "MAILNAME", "NAME", "RELAYCLIENT", "DATABYTES", "PROTO", "TCPREMOTEINFO"} {
			x, ok := m[v]
			if !ok {
				x = "unset"
			}
			b.WriteString(v + "=" + x + "\n")
		}
		return b.String()
	}
	tests := []struct {
		name string
		argv []string
		env  []string
		code int
		out  string
		err  string
	}{
		{"plain", []string{"sendmail", "a@b", "c"}, nil, 3, "qmail-inject -a -- a@b c\n" + vars() + "msg\n", ""},
		{"-t and ignored options", []string{"sendmail", "-oi", "-odi", "-oem", "-i", "-v", "-t", "-B8BITMIME", "-x", "-m", "-e", "x", "-p", "y"}, nil, 3,
			"qmail-inject -H --\n" + vars() + "msg\n", ""},
		{"-f sets the From user and host, -F the name", []string{"sendmail", "-f", "bob@x.example", "-FBob B", "r"},
			[]string{"NAME=old", "QMAILNAME=old"}, 3,
			"qmail-inject -a -fbob@x.example -- r\n" + vars("QMAILUSER", "bob", "QMAILHOST", "x.example", "MAILNAME", "Bob B") + "msg\n", ""},
		{"-f without @", []string{"sendmail", "-fbob", "r"}, nil, 3, "qmail-inject -a -fbob -- r\n" + vars() + "msg\n", ""},
		{"-E and -J swallow what is attached", []string{"sendmail", "-Exyz", "-J", "r"}, nil, 3, "qmail-inject -a -- r\n" + vars() + "msg\n", ""},
		{"-bm", []string{"sendmail", "-bm", "r"}, nil, 3, "qmail-inject -a -- r\n" + vars() + "msg\n", ""},
		{"-bp", []string{"sendmail", "-bp"}, nil, 3, "qmail-qread \n" + vars() + "msg\n", ""},
		{"-bs", []string{"sendmail", "-bs"}, nil, 3, "qmail-smtpd \n" +
			vars("RELAYCLIENT", "", "DATABYTES", "0", "PROTO", "TCP", "TCPREMOTEINFO", "sendmail-bs") + "msg\n", ""},
		{"-bs with PROTO set keeps the environment", []string{"sendmail", "-bs"}, []string{"PROTO=TCP"}, 3,
			"qmail-smtpd \n" + vars("PROTO", "TCP") + "msg\n", ""},
		{"mailq", []string{"/usr/bin/mailq"}, nil, 3, "qmail-qread \n" + vars() + "msg\n", ""},
		{"newaliases", []string{"newaliases"}, nil, 100, "", "newaliases: fatal: please use fastforward/newaliases instead\n"},
		{"-q does nothing", []string{"sendmail", "-q15m"}, nil, 0, "", ""},
		{"other -b", []string{"sendmail", "-bd"}, nil, 100, "", "sendmail: usage: " + sendmailUsage + "\n"},
		{"unknown option", []string{"sendmail", "-Z"}, nil, 100, "", "sendmail: usage: " + sendmailUsage + "\n"},
		{"missing argument", []string{"sendmail", "-f"}, nil, 100, "", "sendmail: usage: " + sendmailUsage + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runWrapper(t, Sendmail, home, tt.argv, tt.env, "msg\n")
			if code != tt.code || out != tt.out || stderr != tt.err {
				t.Errorf("exit %d out %q err %q\nwant %d %q %q", code, out, stderr, tt.code, tt.out, tt.err)
			}
		})
	}
	code, _, stderr := runWrapper(t, Sendmail, t.TempDir(), []string{"sendmail", "r"}, nil, "")
	if code != 111 || !strings.HasPrefix(stderr, "sendmail: fatal: unable to run ") {
		t.Errorf("no qmail-inject: exit %d %q", code, stderr)
	}
}

func TestDateField(t *testing.T) {
	loc := time.FixedZone("X", 3600+30*60)
	if got := dateField(fixedNow, loc); got != "Date: 5 Mar 2024 07:37:08 +0130\n" {
		t.Errorf("got %q", got)
	}
	if got := dateField(fixedNow, time.FixedZone("Y", -5*3600)); got != "Date: 5 Mar 2024 01:07:08 -0500\n" {
		t.Errorf("got %q", got)
	}
}

func TestPredateDatemailMailsubj(t *testing.T) {
	home := fakeBin(t)
	code, out, _ := runWrapper(t, Predate, home, []string{"predate", "/bin/cat"}, []string{"TZ=UTC"}, "body\n")
	if code != 0 || !strings.HasPrefix(out, "Date: ") || !strings.HasSuffix(out, " +0000\nbody\n") {
		t.Errorf("predate: %d %q", code, out)
	}
	code, out, _ = runWrapper(t, Predate, home, []string{"predate", "/bin/sh", "-c", "exit 7"}, nil, "")
	if code != 7 || out != "" {
		t.Errorf("predate: exit %d, output %q; want the child's 7 and nothing", code, out)
	}
	code, _, stderr := runWrapper(t, Predate, home, []string{"predate"}, nil, "")
	if code != 100 || stderr != "predate: usage: predate child\n" {
		t.Errorf("predate usage: %d %q", code, stderr)
	}
	code, out, _ = runWrapper(t, Datemail, home, []string{"datemail", "-t"}, []string{"TZ=UTC"}, "To: a\n\nb\n")
	if code != 3 || !strings.HasPrefix(out, "sendmail -t\n") || !strings.Contains(out, "\nDate: ") || !strings.HasSuffix(out, " +0000\nTo: a\n\nb\n") {
		t.Errorf("datemail: %d %q", code, out)
	}
	code, out, _ = runWrapper(t, Mailsubj, home, []string{"mailsubj", "hello there", "a@b", "c"}, nil, "text\n")
	if code != 3 || !strings.HasPrefix(out, "qmail-inject \n") || !strings.HasSuffix(out, "Subject: hello there\nTo: a@b c\n\ntext\n") {
		t.Errorf("mailsubj: %d %q", code, out)
	}
	for _, argv := range [][]string{{"mailsubj", "s"}, {"mailsubj"}} {
		if code, _, stderr := runWrapper(t, Mailsubj, home, argv, nil, ""); code != 100 || stderr != "mailsubj: usage: mailsubj subject recip ...\n" {
			t.Errorf("%v: %d %q", argv, code, stderr)
		}
	}
	if code, _, stderr := runWrapper(t, Mailsubj, home, []string{"mailsubj", "a\nBcc: x", "r"}, nil, ""); code != 100 || stderr == "" {
		t.Errorf("line break in the subject: %d %q", code, stderr)
	}
}

func TestMailFollowupTo(t *testing.T) {
	home := testHome(t)
	mft := filepath.Join(t.TempDir(), "lists")
	os.WriteFile(mft, []byte("# lists\nList@Lists.Example\n"), 0o644)
	env := []string{"QMAILMFTFILE=" + mft}
	code, out, _ := runInject(t, home, []string{"-n"}, env, "To: a@b.example, list@lists.example\nCc: c@d.example\n\n")
	want := "Return-Path: <joe@host.example.com>\n" + date + msgID + "From: joe@host.example.com\n" +
		"Mail-Followup-To: c@d.example,\n  a@b.example,\n  list@lists.example\n" +
		"To: a@b.example, list@lists.example\nCc: c@d.example\n\n"
	if code != 0 || out != want {
		t.Errorf("got %q\nwant %q", out, want)
	}
	for _, in := range []string{"To: a@b.example\n\n", "To: list@lists.example\nMail-Followup-To: x@y\n\n"} {
		_, out, _ = runInject(t, home, []string{"-n"}, env, in)
		if strings.Count(out, "Mail-Followup-To:") != strings.Count(in, "Mail-Followup-To:") {
			t.Errorf("%q: %q", in, out)
		}
	}
}
