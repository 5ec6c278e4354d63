package smtpd

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"goqmail/internal/testutil"
)

// baseControls is a typical install: me, rcpthosts for example.com and
// every subdomain of example.net.
func baseControls() map[string]string {
	return map[string]string{
		"me":        "mail.example.com\n",
		"rcpthosts": "example.com\n.example.net\n# comment\n",
	}
}

const greet = "220 mail.example.com ESMTP\r\n"

type transcript struct {
	name  string
	ctl   map[string]string // added to (or, with value "-", removed from) baseControls
	env   []string
	in    string // client lines; "\n" is sent as "\r\n" unless raw
	raw   bool
	want  string // server bytes after the greeting, "\n" as "\r\n"; {qp} = pid
	code  int
	msgs  []message // queued messages (pid ignored); nil = none
	noGre bool      // want includes the greeting line
}

func runTranscripts(t *testing.T, cases []transcript) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctl := baseControls()
			for k, v := range tc.ctl {
				if v == "-" {
					delete(ctl, k)
				} else {
					ctl[k] = v
				}
			}
			h := newHarness(t, ctl).setenv(tc.env...)
			in := tc.in
			if !tc.raw {
				in = crlf(in)
			}
			out, code, stderr := h.run(in)
			msgs := h.messages()
			want := crlf(tc.want)
			if !tc.noGre {
				want = greet + want
			}
			want = fillQP(want, msgs)
			if out != want {
				t.Errorf("replies:\n got %q\nwant %q\nstderr: %s", out, want, stderr)
			}
			if code != tc.code {
				t.Errorf("exit code %d, want %d", code, tc.code)
			}
			for i := range msgs {
				msgs[i].pid = 0
			}
			if len(msgs) != len(tc.msgs) || (len(msgs) > 0 && !reflect.DeepEqual(msgs, tc.msgs)) {
				t.Errorf("queued:\n got %#v\nwant %#v", msgs, tc.msgs)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "quit", in: "QUIT\n", want: "221 mail.example.com\n"},
		{name: "eof", in: "NOOP\n", want: "250 ok\n", code: 1},
		{name: "eof mid-line", in: "NOOP\nNOO", raw: true, want: "250 ok\n", code: 1},
		{name: "helo", in: "HELO client.example.org\nQUIT\n", want: "250 mail.example.com\n221 mail.example.com\n"},
		{name: "helo without argument", in: "HELO\nQUIT\n", want: "250 mail.example.com\n221 mail.example.com\n"},
		{name: "ehlo", in: "EHLO client.example.org\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250 8BITMIME\n221 mail.example.com\n"},
		{name: "verbs ignore case", in: "hElO x\nnoop\nQuit\n", want: "250 mail.example.com\n250 ok\n221 mail.example.com\n"},
		{name: "rset", in: "RSET\nQUIT\n", want: "250 flushed\n221 mail.example.com\n"},
		{name: "noop with argument", in: "NOOP whatever\n", want: "250 ok\n", code: 1},
		{name: "vrfy", in: "VRFY postmaster\nQUIT\n", want: "252 send some mail, i'll try my best\n221 mail.example.com\n"},
		{name: "help", in: "HELP\nQUIT\n", want: "214 qmail home page: http://pobox.com/~djb/qmail.html\n221 mail.example.com\n"},
		{name: "unknown verb", in: "EXPN list\nQUIT\n", want: "502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "empty line", in: "\nQUIT\n", want: "502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "tab is no separator", in: "HELO\tx\nQUIT\n", want: "502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "http", in: "GET / HTTP/1.1\nQUIT\n", want: "502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "bare LF terminators", in: "NOOP\nQUIT\n", raw: true, want: "250 ok\n221 mail.example.com\n"},
		{name: "mail without helo", in: "MAIL FROM:<a@b.example>\nQUIT\n", want: "250 ok\n221 mail.example.com\n"},
		{name: "rcpt before mail", in: "RCPT TO:<u@example.com>\nQUIT\n", want: "503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "data before mail", in: "DATA\nQUIT\n", want: "503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "data before rcpt", in: "MAIL FROM:<a@b.example>\nDATA\nQUIT\n",
			want: "250 ok\n503 RCPT first (#5.5.1)\n221 mail.example.com\n"},
		{name: "rset ends transaction", in: "MAIL FROM:<a@b.example>\nRSET\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n250 flushed\n503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "helo ends transaction", in: "MAIL FROM:<a@b.example>\nHELO x\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n250 mail.example.com\n503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "ehlo ends transaction", in: "MAIL FROM:<a@b.example>\nEHLO x\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n250-mail.example.com\n250-PIPELINING\n250 8BITMIME\n503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "rcpt syntax error", in: "MAIL FROM:<a@b.example>\nRCPT TO:<" + strings.Repeat("x", 890) + "@example.com>\nQUIT\n",
			want: "250 ok\n555 syntax error (#5.5.4)\n221 mail.example.com\n"},
		{name: "nul in command", in: "NOOP \x00\nRCPT\x00 TO:<u@example.com>\nQUIT\n",
			want: "555 syntax error (#5.5.4)\n555 syntax error (#5.5.4)\n221 mail.example.com\n"},
		{name: "nul in sender keeps the previous sender",
			in:   "MAIL FROM:<a@b.example>\nMAIL FROM:<x\x00T@evil>\nRCPT TO:<u@example.com>\nDATA\n.\nQUIT\n",
			want: "250 ok\n555 syntax error (#5.5.4)\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n221 mail.example.com\n",
			msgs: []message{{body: received, sender: "a@b.example", rcpts: []string{"u@example.com"}}}},
		{name: "cr inside an address", in: "MAIL FROM:<a\rb@c>\nMAIL FROM:<a@b>\rx\nQUIT\n",
			want: "555 syntax error (#5.5.4)\n250 ok\n221 mail.example.com\n"},
		{name: "overlong line", in: "HELO " + strings.Repeat("a", 3000) + "\nNOOP\nQUIT\n",
			want: "500 line too long (#5.5.2)\n250 ok\n221 mail.example.com\n"},
		{name: "overlong line beyond the buffer", in: "NOOP " + strings.Repeat("a", 100000) + "\nNOOP\nQUIT\n",
			want: "500 line too long (#5.5.2)\n250 ok\n221 mail.example.com\n"},
		{name: "longest line", in: "NOOP " + strings.Repeat("a", MaxCommandLine-7) + "\nQUIT\n",
			want: "250 ok\n221 mail.example.com\n"},
		{name: "one byte too long", in: "NOOP " + strings.Repeat("a", MaxCommandLine-6) + "\nQUIT\n",
			want: "500 line too long (#5.5.2)\n221 mail.example.com\n"},
		{name: "endless line", in: strings.Repeat("a", 1<<20), raw: true, want: "", code: 1},
	})
}

func TestControls(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "greeting from me", in: "QUIT\n", want: "221 mail.example.com\n"},
		{name: "smtpgreeting", ctl: map[string]string{"smtpgreeting": "mx.example.com welcome  \nsecond line\n"},
			in: "EHLO x\nQUIT\n", noGre: true,
			want: "220 mx.example.com welcome ESMTP\n250-mx.example.com welcome\n250-PIPELINING\n250 8BITMIME\n221 mx.example.com welcome\n"},
		{name: "no me no smtpgreeting", ctl: map[string]string{"me": "-"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "unreadable smtpgreeting", ctl: map[string]string{"smtpgreeting/x": "dir"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "unreadable rcpthosts", ctl: map[string]string{"rcpthosts": "-", "rcpthosts/x": ""}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "unreadable badmailfrom", ctl: map[string]string{"badmailfrom/x": ""}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "malformed timeoutsmtpd", ctl: map[string]string{"timeoutsmtpd": "20s\n"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "malformed databytes", ctl: map[string]string{"databytes": "10M\n"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "negative databytes", ctl: map[string]string{"databytes": "-5\n"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "malformed DATABYTES", env: []string{"DATABYTES=10M"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "corrupt morercpthosts.cdb", ctl: map[string]string{"morercpthosts.cdb": "short"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "zero timeoutsmtpd means one second", ctl: map[string]string{"timeoutsmtpd": "0\n"}, in: "QUIT\n",
			want: "221 mail.example.com\n"},
	})
}

func TestControlErrorsAreLogged(t *testing.T) {
	h := newHarness(t, map[string]string{"me": "x\n", "databytes": "abc\n"})
	_, _, stderr := h.run("QUIT\r\n")
	want := "qmail-smtpd: warning: unable to read controls: control/databytes line 1: not a decimal number: \"abc\"\n"
	if stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	h = newHarness(t, map[string]string{"me": "x\n"})
	h.home += "-missing"
	out, code, stderr := h.run("QUIT\r\n")
	if out != "421 unable to read controls (#4.3.0)\r\n" || code != 1 || !strings.Contains(stderr, "unable to switch to") {
		t.Errorf("missing home: %q %d %q", out, code, stderr)
	}
}

func TestOpenRelayWarning(t *testing.T) {
	h := newHarness(t, map[string]string{"me": "mail.example.com\n"})
	out, _, stderr := h.run("MAIL FROM:<>\r\nRCPT TO:<x@anywhere.example>\r\nQUIT\r\n")
	if want := greet + "250 ok\r\n250 ok\r\n221 mail.example.com\r\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
	if !strings.Contains(stderr, "qmail-smtpd: warning: control/rcpthosts is missing") || !strings.Contains(stderr, "OPEN RELAY") {
		t.Errorf("no open-relay warning on stderr: %q", stderr)
	}
	h = newHarness(t, baseControls())
	if _, _, stderr := h.run("QUIT\r\n"); stderr != "" {
		t.Errorf("unexpected stderr with rcpthosts: %q", stderr)
	}
}

// TestUnreadableControl needs an account that cannot read a mode-000
// file (root reads everything).
func TestUnreadableControl(t *testing.T) {
	if !testutil.AsUnprivileged(t) {
		return
	}
	ctl := baseControls()
	ctl["rcpthosts"] = "example.com\n"
	h := newHarness(t, ctl)
	if err := os.Chmod(h.home+"/control/rcpthosts", 0); err != nil {
		t.Fatal(err)
	}
	out, code, stderr := h.run("QUIT\r\n")
	if out != "421 unable to read controls (#4.3.0)\r\n" || code != 1 {
		t.Errorf("got %q %d", out, code)
	}
	if !strings.Contains(stderr, "control/rcpthosts: unable to read: permission denied") {
		t.Errorf("stderr %q", stderr)
	}
}
