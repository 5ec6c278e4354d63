package smtpd

import (
	"strings"
	"testing"
)

func TestESMTPExtensions(t *testing.T) {
	db := map[string]string{"databytes": "1000\n"}
	enh := map[string]string{"enhancedstatuscodes": "1\n"}
	u8 := map[string]string{"smtputf8": "1\n"}
	runTranscripts(t, []transcript{
		{name: "size advertised", ctl: db, in: "EHLO x\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250 SIZE 1000\n221 mail.example.com\n"},
		{name: "size from DATABYTES", env: []string{"DATABYTES=5000"}, in: "EHLO x\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250 SIZE 5000\n221 mail.example.com\n"},
		{name: "size within the limit", ctl: db, in: "MAIL FROM:<a@b> SIZE=1000\nQUIT\n",
			want: "250 ok\n221 mail.example.com\n"},
		{name: "size over the limit", ctl: db, in: "MAIL FROM:<a@b> SIZE=1001\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "552 sorry, that message size exceeds my databytes limit (#5.3.4)\n503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "size keyword in any case", ctl: db, in: "MAIL FROM:<a@b> BODY=8BITMIME size=99999\nQUIT\n",
			want: "552 sorry, that message size exceeds my databytes limit (#5.3.4)\n221 mail.example.com\n"},
		{name: "malformed size", ctl: db, in: "MAIL FROM:<a@b> SIZE=12k\nMAIL FROM:<a@b> SIZE=\nMAIL FROM:<a@b> SIZE=+5\nQUIT\n",
			want: strings.Repeat("501 malformed SIZE parameter (#5.5.4)\n", 3) + "221 mail.example.com\n"},
		{name: "size ignored without databytes", in: "MAIL FROM:<a@b> SIZE=99999999999 SIZE=x\nQUIT\n",
			want: "250 ok\n221 mail.example.com\n"},
		{name: "size over limit keeps the old transaction", ctl: db,
			in:   "MAIL FROM:<a@b>\nMAIL FROM:<c@d> SIZE=2000\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n552 sorry, that message size exceeds my databytes limit (#5.3.4)\n250 ok\n221 mail.example.com\n"},
		{name: "enhanced codes after EHLO", ctl: enh,
			in: "EHLO x\nMAIL FROM:<a@b>\nRCPT TO:<u@far.example>\nRCPT TO:<u@example.com>\nDATA\nhi\n.\nFOO\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250 ENHANCEDSTATUSCODES\n250 2.0.0 ok\n" +
				"553 5.7.1 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n250 2.0.0 ok\n354 go ahead\n" +
				"250 2.0.0 ok 1700000000 qp {qp}\n502 5.5.1 unimplemented (#5.5.1)\n221 2.0.0 mail.example.com\n",
			msgs: []message{{body: "Received: from unknown (HELO x) (unknown)\n  by unknown with SMTP; 14 Nov 2023 22:13:20 -0000\nhi\n",
				sender: "a@b", rcpts: []string{"u@example.com"}}}},
		{name: "no enhanced codes after HELO", ctl: enh, in: "HELO x\nFOO\nQUIT\n",
			want: "250 mail.example.com\n502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "smtputf8 advertised", ctl: u8, in: "EHLO x\nQUIT\n",
			want: "250-mail.example.com\n250-PIPELINING\n250-8BITMIME\n250 SMTPUTF8\n221 mail.example.com\n"},
		{name: "8-bit sender needs SMTPUTF8", ctl: u8, in: "MAIL FROM:<jöran@b.example>\nQUIT\n",
			want: "553 sorry, 8-bit addresses need SMTPUTF8 (#5.6.7)\n221 mail.example.com\n"},
		{name: "8-bit recipient needs SMTPUTF8", ctl: u8, in: "MAIL FROM:<a@b>\nRCPT TO:<ü@example.com>\nQUIT\n",
			want: "250 ok\n553 sorry, 8-bit addresses need SMTPUTF8 (#5.6.7)\n221 mail.example.com\n"},
		{name: "smtputf8 accepted", ctl: u8,
			in:   "MAIL FROM:<jöran@b.example> SMTPUTF8\nRCPT TO:<ü@example.com>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n221 mail.example.com\n",
			msgs: []message{{body: received, sender: "jöran@b.example", rcpts: []string{"ü@example.com"}}}},
		{name: "smtputf8 invalid UTF-8", ctl: u8, in: "MAIL FROM:<a\xff@b> SMTPUTF8\nQUIT\n",
			want: "553 sorry, that address is not valid UTF-8 (#5.6.7)\n221 mail.example.com\n"},
		{name: "8-bit without control/smtputf8: as qmail", in: "MAIL FROM:<a\xff@b>\nQUIT\n",
			want: "250 ok\n221 mail.example.com\n"},
		{name: "maxrcpt", ctl: map[string]string{"maxrcpt": "2\n"},
			in:   "MAIL FROM:<a@b>\nRCPT TO:<1@example.com>\nRCPT TO:<2@example.com>\nRCPT TO:<3@example.com>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n250 ok\n452 sorry, too many recipients (#4.5.3)\n354 go ahead\n250 ok 1700000000 qp {qp}\n221 mail.example.com\n",
			msgs: []message{{body: received, sender: "a@b", rcpts: []string{"1@example.com", "2@example.com"}}}},
		{name: "malformed maxrcpt", ctl: map[string]string{"maxrcpt": "many\n"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
		{name: "malformed enhancedstatuscodes", ctl: map[string]string{"enhancedstatuscodes": "yes\n"}, in: "QUIT\n", noGre: true,
			want: "421 unable to read controls (#4.3.0)\n", code: 1},
	})
}

func TestQmailStatus(t *testing.T) {
	cases := []struct {
		in   string
		want string
		ok   bool
	}{
		{"syntax error (#5.5.4)", "5.5.4", true},
		{"ok", "", false},
		{"x (#5.5)", "", false},
		{"x (#55.5.4)", "", false},
		{"x (#5.a.4)", "", false},
		{"x (#5.5.4", "", false},
		{"x (#4.3.0) y (#5.1.1)", "5.1.1", true},
	}
	for _, tc := range cases {
		got, ok := qmailStatus(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("qmailStatus(%q) = %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
