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
