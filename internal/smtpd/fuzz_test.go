package smtpd

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzSession runs whole sessions on arbitrary client bytes and checks
// that nothing panics and that what reaches qmail-queue is sound: every
// envelope is well formed with no NUL, CR or LF inside an address, no
// command produced more than one envelope record, and no queued message
// holds a CR. The first input byte chooses whether RELAYCLIENT is set.
func FuzzSession(f *testing.F) {
	seeds := []string{
		"QUIT\r\n",
		"EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n",
		"MAIL FROM:<a\x00Tb@c>\r\nRCPT TO:<u@example.com>\r\nRCPT TO:<x\x00Ty@example.com>\r\nDATA\r\n.\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nx\r.\rMAIL FROM:<e@v>\r\n.\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nx\n.\nMAIL FROM:<e@v>\r\n.\r\n",
		"MAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nReceived: x\r\n\r\n..\r\n.\r\n",
		"\x01MAIL FROM:<\"a\r\"@b>\r\nRCPT TO:<@r:u@[127.0.0.1]>\r\nDATA\r\n" + strings.Repeat("y", 300) + "\r\n.\r\n",
		"\x01MAIL FROM x\r\nRCPT TO:<>\r\nRCPT TO u\\\x00v\r\nDATA\r\n.\r\nDATA\r\n",
		"HELO " + strings.Repeat("h", 3000) + "\r\nRSET\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h := newHarness(t, map[string]string{
			"me":          "mail.example.com\n",
			"rcpthosts":   "example.com\n",
			"badmailfrom": "@bad.example\n",
			"databytes":   "200\n",
		})
		if len(in) > 0 && in[0]&1 == 1 {
			h.setenv("RELAYCLIENT=")
		}
		h.run(string(in))
		msgs := h.messages() // fails the test on a malformed envelope
		rcptLines, mailLines := 0, 0
		for _, line := range bytes.Split(in, []byte("\n")) {
			verb := line
			if i := bytes.IndexByte(line, ' '); i >= 0 {
				verb = line[:i]
			}
			switch strings.ToLower(string(bytes.TrimSuffix(verb, []byte("\r")))) {
			case "rcpt":
				rcptLines++
			case "mail":
				mailLines++
			}
		}
		rcpts := 0
		for _, m := range msgs {
			rcpts += len(m.rcpts)
			if strings.ContainsAny(m.sender, "\x00\r\n") {
				t.Errorf("sender %q", m.sender)
			}
			for _, r := range m.rcpts {
				if strings.ContainsAny(r, "\x00\r\n") {
					t.Errorf("recipient %q", r)
				}
			}
			if strings.Contains(m.body, "\r") {
				t.Errorf("queued a CR: %q", m.body)
			}
		}
		if len(msgs) > mailLines || rcpts > rcptLines {
			t.Errorf("%d messages and %d recipients from %d MAIL and %d RCPT lines",
				len(msgs), rcpts, mailLines, rcptLines)
		}
	})
}

// FuzzAddressRest checks the MAIL/RCPT argument parser with ESMTP
// parameters: the address never holds the parameters, and the rest is
// a suffix of the argument.
func FuzzAddressRest(f *testing.F) {
	for _, s := range []string{"FROM:<a@b> SIZE=10 SMTPUTF8", "TO:a@b x", "FROM:<\"a>b\"@c> BODY=8BITMIME",
		"FROM:<a\\>b@c> SIZE=1", "TO:<@r,@s:u@d>", "FROM:<a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		a, rest := parseAddressRest(arg)
		if !strings.HasSuffix(arg, rest) {
			t.Errorf("rest %q is not a suffix of %q", rest, arg)
		}
		if len(a) > len(arg) {
			t.Errorf("address %q longer than %q", a, arg)
		}
		if a != parseAddress(arg) {
			t.Errorf("parseAddressRest and parseAddress disagree on %q", arg)
		}
	})
}

// FuzzExtendedSession runs sessions with every extension switched on
// (SIZE, ENHANCEDSTATUSCODES, SMTPUTF8, maxrcpt, AUTH without TLS
// through a checkpassword that always refuses) and checks that every
// reply line is well formed and the queue sees sound envelopes.
func FuzzExtendedSession(f *testing.F) {
	for _, s := range []string{
		"EHLO x\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<a@b> SIZE=10 SMTPUTF8\r\nRCPT TO:<ü@example.com>\r\nDATA\r\n.\r\n",
		"AUTH LOGIN\r\n*\r\nAUTH LOGIN YQ==\r\nYg==\r\nAUTH PLAIN\r\n=\r\nAUTH X\r\n",
		"EHLO x\r\nMAIL FROM:<a@b> SIZE=99999\r\nMAIL FROM:<a\xff@b> SMTPUTF8\r\nSTARTTLS\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h := newHarness(t, map[string]string{
			"me": "mail.example.com\n", "rcpthosts": "example.com\n", "databytes": "200\n",
			"enhancedstatuscodes": "1\n", "smtputf8": "1\n", "maxrcpt": "3\n",
		})
		h.args = []string{"mail.example.com", "/bin/false"}
		h.setenv("FORCETLS=0")
		out, _, _ := h.run(string(in))
		for _, line := range strings.SplitAfter(out, "\r\n") {
			if line == "" {
				continue
			}
			if len(line) < 6 || !strings.HasSuffix(line, "\r\n") || (line[3] != ' ' && line[3] != '-') ||
				strings.Trim(line[:3], "0123456789") != "" || strings.ContainsAny(line[:len(line)-2], "\r\n\x00") {
				t.Fatalf("malformed reply line %q", line)
			}
		}
		for _, m := range h.messages() {
			if len(m.rcpts) > 3 {
				t.Errorf("%d recipients beyond maxrcpt", len(m.rcpts))
			}
		}
	})
}
