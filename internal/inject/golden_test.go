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

var fixedNow = time.Date(2024, 3, 5, 6, 7, 8, 0, time.UTC)

const (
	date  = "Date: 5 Mar 2024 06:07:08 -0000\n"
	msgID = "Message-ID: <20240305060708.4242.qmail@id.example>\n"
)

// testHome makes a home with qmail-inject's four control files.
func testHome(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	ctl := filepath.Join(home, "control")
	os.MkdirAll(ctl, 0o755)
	for name, v := range map[string]string{
		"me": "me.example", "defaulthost": "host", "defaultdomain": "example.com",
		"plusdomain": "plus.example", "idhost": "id.example",
	} {
		os.WriteFile(filepath.Join(ctl, name), []byte(v+"\n"), 0o644)
	}
	return home
}

type injectCase struct {
	name  string
	args  []string
	env   []string
	in    string
	out   string // -n output after the Return-Path line; "" with code != 0
	from  string // envelope sender
	rcpts []string
	code  int
	err   string // stderr
}

// runPrepared runs qmail-inject up to the envelope.
func runPrepared(t *testing.T, home string, tc injectCase) (string, *message, int, string) {
	t.Helper()
	var stderr bytes.Buffer
	ctx := &prog.Context{
		Args:   append([]string{"qmail-inject"}, tc.args...),
		Env:    append([]string{"USER=joe"}, tc.env...),
		Home:   home,
		Stdin:  strings.NewReader(tc.in),
		Stdout: &bytes.Buffer{},
		Stderr: &stderr,
	}
	p, code := prepare(ctx, Options{Now: func() time.Time { return fixedNow }, Pid: 4242})
	if p == nil {
		return "", nil, code, stderr.String()
	}
	var body bytes.Buffer
	copyBody(&body, p.body)
	return p.top + body.String(), p.msg, 0, stderr.String()
}

var goldenCases = []injectCase{
	{
		name: "minimal: Date, Message-ID, From added; addresses completed",
		in:   "To: djb\nSubject: hi\n\nbody\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: djb@host.example.com\nSubject: hi\n\nbody\n",
		from: "joe@host.example.com", rcpts: []string{"djb@host.example.com"},
	},
	{
		name: "no To or Cc: the recipient list is not shown",
		args: []string{"fred@x.example"},
		in:   "Subject: s\n\nb\n",
		out:  date + msgID + "From: joe@host.example.com\nCc: recipient list not shown: ;\nSubject: s\n\nb\n",
		from: "joe@host.example.com", rcpts: []string{"fred@x.example"},
	},
	{
		name: "adjacent words get a comma; plusdomain; trailing dot and at",
		in:   "To: djb fred\nCc: eric@mammoth.cs+, u@h., v@\n\n",
		out: date + msgID + "From: joe@host.example.com\n" +
			"To: djb@host.example.com, fred@host.example.com\n" +
			"Cc: eric@mammoth.cs.plus.example, u@h.example.com, v@host.example.com\n\n",
		from: "joe@host.example.com",
		// fields in order, addresses right to left within each field
		rcpts: []string{"fred@host.example.com", "djb@host.example.com",
			"v@host.example.com", "u@h.example.com", "eric@mammoth.cs.plus.example"},
	},
	{
		name: "Bcc is a recipient but never printed; Apparently-To is a recipient",
		in:   "To: a@b.example\nBcc: secret@c.example\nApparently-To: d@e.example\n\nx\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\nApparently-To: d@e.example\n\nx\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example", "secret@c.example", "d@e.example"},
	},
	{
		name: "Return-Path gives the sender (its rightmost address) and is removed; Content-Length removed",
		in:   "Return-Path: <first@x.example>, <bounce@lists.example>\nReturn-Path: <second@x.example>\nContent-Length: 99\nTo: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "bounce@lists.example", rcpts: []string{"a@b.example"},
	},
	{
		name: "QMAILINJECT=s ignores Return-Path",
		env:  []string{"QMAILINJECT=s"},
		in:   "Return-Path: <bounce@lists.example>\nTo: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "-f overrides Return-Path and is rewritten",
		args: []string{"-fbounces"},
		in:   "Return-Path: <x@y.example>\nTo: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "bounces@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "existing Date, Message-ID and From are kept",
		in:   "Date: yesterday\nMessage-ID: <x@y>\nFrom: Dan <djb>\nTo: a@b.example\n\n",
		out:  "Date: yesterday\nMessage-ID: <x@y>\nFrom: Dan <djb@host.example.com>\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "QMAILINJECT=f and i delete From and Message-ID, which are then added",
		env:  []string{"QMAILINJECT=fi"},
		in:   "Message-ID: <x@y>\nFrom: Dan <djb>\nTo: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "From with a name, from QMAILUSER, QMAILHOST and QMAILNAME",
		env:  []string{"QMAILUSER=dan", "QMAILHOST=cr.yp.to", "QMAILNAME=D. J. \"Dan\" Bernstein"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: \"D. J. \\\"Dan\\\" Bernstein\" <dan@cr.yp.to>\nTo: a@b.example\n\n",
		from: "dan@cr.yp.to", rcpts: []string{"a@b.example"},
	},
	{
		name: "MAILUSER, MAILHOST, NAME and QMAILINJECT=c: comment style",
		env:  []string{"MAILUSER=dan", "MAILHOST=cr.yp.to", "NAME=Dan (the man)", "QMAILINJECT=c"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: dan@cr.yp.to (Dan \\(the man\\))\nTo: a@b.example\n\n",
		from: "dan@cr.yp.to", rcpts: []string{"a@b.example"},
	},
	{
		name: "QMAILSUSER and QMAILSHOST set only the envelope sender",
		env:  []string{"QMAILSUSER=bounce", "QMAILSHOST=lists.example"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "bounce@lists.example", rcpts: []string{"a@b.example"},
	},
	{
		name: "a user name that needs quoting; LOGNAME when USER is unset is shadowed by USER",
		env:  []string{"USER=joe smith"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: \"joe smith\"@host.example.com\nTo: a@b.example\n\n",
		from: "joe smith@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "QMAILINJECT=r: per-recipient VERP",
		env:  []string{"QMAILINJECT=r", "QMAILHOST=host.example.com"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe-@host.example.com-@[]", rcpts: []string{"a@b.example"},
	},
	{
		name: "QMAILINJECT=m: per-message VERP",
		env:  []string{"QMAILINJECT=m"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe-1709618828.4242@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "-f switches VERP off",
		env:  []string{"QMAILINJECT=rm"},
		args: []string{"-f", "s@x.example"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "s@x.example", rcpts: []string{"a@b.example"},
	},
	{
		name: "resent message: Resent- fields added, only Resent- recipients",
		in:   "From: orig@x.example\nTo: orig-rcpt@x.example\nDate: old\nResent-To: new@y.example\nResent-Bcc: hidden@y.example\n\nb\n",
		out: "Resent-Date: 5 Mar 2024 06:07:08 -0000\nResent-Message-ID: <20240305060708.4242.qmail@id.example>\n" +
			"Resent-From: joe@host.example.com\n" +
			"From: orig@x.example\nTo: orig-rcpt@x.example\nDate: old\nResent-To: new@y.example\n\nb\n",
		from: "joe@host.example.com", rcpts: []string{"new@y.example", "hidden@y.example"},
	},
	{
		name: "resent without Resent-To or Resent-Cc",
		in:   "Resent-From: r@x.example\nTo: a@b.example\n\n",
		out: "Resent-Date: 5 Mar 2024 06:07:08 -0000\nResent-Message-ID: <20240305060708.4242.qmail@id.example>\n" +
			"Resent-Cc: recipient list not shown: ;\nResent-From: r@x.example\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: nil,
	},
	{
		name: "groups, route addresses, literals and the VERP forms are kept",
		in:   "To: friends: a, \"b c\"@d.example;, <@r1,@r2:x@y.example>, #@[], u@[10.0.0.1]\n\n",
		out: date + msgID + "From: joe@host.example.com\n" +
			"To: friends: a@host.example.com, \"b c\"@d.example;, <x@y.example>, #@[],\n  u@[10.0.0.1]\n\n",
		from:  "joe@host.example.com",
		rcpts: []string{"u@[10.0.0.1]", "#@[]", "x@y.example", "b c@d.example", "a@host.example.com"},
	},
	{
		name: "malformed forms are rewritten, not refused (§24.4)",
		in:   "To: <a@b\nCc: <<a>>, a@b@c, <a@b>>\nReply-To: w@@, x@+\nSender: @\n\n",
		out: date + msgID + "From: joe@host.example.com\n" +
			"To: <a@b.example.com\nCc: <<a@host.example.com>>, a@b@c.example.com, <a@b.example.com>>\n" +
			"Reply-To: w@.example.com, x@.plus.example\nSender:\n\n",
		from:  "joe@host.example.com",
		rcpts: []string{"a@b.example.com", "a@b.example.com", "a@b@c.example.com", "a@host.example.com"},
	},
	{
		name: "spaces before the colon dropped in address fields only; comment newline escaped",
		in:   "tO : a (first\n line)\nX-Other  : kept as is\n\n",
		out: date + msgID + "From: joe@host.example.com\n" +
			"tO: a@host.example.com (first\\\n line)\nX-Other  : kept as is\n\n",
		from: "joe@host.example.com", rcpts: []string{"a@host.example.com"},
	},
	{
		name: "long lists fold at 80 columns",
		in:   "To: aaaaaaaaaaaaaaaaaaaa@example.org, bbbbbbbbbbbbbbbbbbbb@example.org, cccccccccccccccccccc@example.org\n\n",
		out: date + msgID + "From: joe@host.example.com\n" +
			"To: aaaaaaaaaaaaaaaaaaaa@example.org, bbbbbbbbbbbbbbbbbbbb@example.org,\n  cccccccccccccccccccc@example.org\n\n",
		from:  "joe@host.example.com",
		rcpts: []string{"cccccccccccccccccccc@example.org", "bbbbbbbbbbbbbbbbbbbb@example.org", "aaaaaaaaaaaaaaaaaaaa@example.org"},
	},
	{
		name: "an mbox From_ line becomes MBOX-Line; a non-field line ends the header with a blank line",
		in:   "From joe Tue Mar  5 06:07:08 2024\nTo: a@b.example\nthis is body\nmore\n",
		out: date + msgID + "From: joe@host.example.com\n" +
			"MBOX-Line: From joe Tue Mar  5 06:07:08 2024\nTo: a@b.example\n\nthis is body\nmore\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "a message with no header and no body",
		args: []string{"a@b.example"},
		in:   "",
		out:  date + msgID + "From: joe@host.example.com\nCc: recipient list not shown: ;\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "final partial lines get a newline (header and body)",
		in:   "To: a@b.example\n\nno newline",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\nno newline\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "header ending at EOF without newline",
		in:   "To: a@b.example",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "-a: arguments only",
		args: []string{"-a", "x", "y@z.example"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"x@host.example.com", "y@z.example"},
	},
	{
		name: "-h: header only, arguments ignored",
		args: []string{"-h", "x"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "-H: arguments, then header",
		args: []string{"-H", "x"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"x@host.example.com", "a@b.example"},
	},
	{
		name: "-A (default): arguments win over the header",
		args: []string{"-A", "x@y.example"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"x@y.example"},
	},
	{
		name: "environment overrides the control files",
		env: []string{"QMAILDEFAULTHOST=dh", "QMAILDEFAULTDOMAIN=dd.example", "QMAILPLUSDOMAIN=pd.example",
			"QMAILIDHOST=ih.example"},
		in: "To: a, b@c+\n\n",
		out: date + "Message-ID: <20240305060708.4242.qmail@ih.example>\n" +
			"From: joe@dh.dd.example\nTo: a@dh.dd.example, b@c.pd.example\n\n",
		from: "joe@dh.dd.example", rcpts: []string{"b@c.pd.example", "a@dh.dd.example"},
	},
	{
		name: "an argument that needs quoting",
		args: []string{"joe smith@x.example"},
		in:   "To: a@b.example\n\n",
		out:  date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\n",
		from: "joe@host.example.com", rcpts: []string{"joe smith@x.example"},
	},
	{
		name: "an unterminated quote is fatal, and the line is shown",
		in:   "To: \"abc\nSubject: x\n\n",
		code: 100,
		err:  "qmail-inject: fatal: unable to parse this line:\nTo: \"abc\n",
	},
	{
		name: "an unterminated comment in a continued field",
		in:   "Cc: a@b.example,\n (oops\n\n",
		code: 100,
		err:  "qmail-inject: fatal: unable to parse this line:\nCc: a@b.example,\n (oops\n",
	},
	{
		name: "a bad option",
		args: []string{"-x"},
		code: 100,
		err:  "qmail-inject: usage: qmail-inject [ -nNaAhH ] [ -fsender ] [ recip ... ]\n",
	},
	{
		name: "-f without its argument",
		args: []string{"-f"},
		code: 100,
		err:  "qmail-inject: usage: qmail-inject [ -nNaAhH ] [ -fsender ] [ recip ... ]\n",
	},
	{
		name: "a message with no header: the first line is body, after a blank line",
		args: []string{"a@b.example"},
		in:   "hello there: not a field\nsecond line\n",
		out: date + msgID + "From: joe@host.example.com\nCc: recipient list not shown: ;\n" +
			"\nhello there: not a field\nsecond line\n",
		from: "joe@host.example.com", rcpts: []string{"a@b.example"},
	},
	{
		name: "a NUL in the header",
		in:   "To: a@b.example\x00T evil@x\n\n",
		code: 100,
		err:  "qmail-inject: fatal: the header contains a NUL byte\n",
	},
}

func TestGolden(t *testing.T) {
	home := testHome(t)
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			out, m, code, stderr := runPrepared(t, home, tc)
			if code != tc.code || stderr != tc.err {
				t.Fatalf("exit %d, stderr %q; want %d, %q", code, stderr, tc.code, tc.err)
			}
			if code != 0 {
				return
			}
			if out != tc.out {
				t.Errorf("output:\n%s\nwant:\n%s", out, tc.out)
			}
			if m.sender != tc.from {
				t.Errorf("sender %q, want %q", m.sender, tc.from)
			}
			if strings.Join(m.rcpts, "|") != strings.Join(tc.rcpts, "|") {
				t.Errorf("recipients %q, want %q", m.rcpts, tc.rcpts)
			}
		})
	}
}
