package smtpd

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"goqmail/internal/control"
)

// TestHostileInput: each hostile input gets a clear reply or a closed
// connection, and nothing is queued half-way (hardening.md §2.1, §2.2).
func TestHostileInput(t *testing.T) {
	runTranscripts(t, []transcript{
		{name: "8-bit verb", in: "M\xc4IL FROM:<a@b>\n\xff\xfe\nQUIT\n",
			want: "502 unimplemented (#5.5.1)\n502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
		{name: "8-bit and CR in HELO are masked in Received", in: "HELO h\xe9\rx\nMAIL FROM:<a@b>\nRCPT TO:<u@example.com>\nDATA\n.\nQUIT\n",
			want: "250 mail.example.com\n250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n221 mail.example.com\n",
			msgs: []message{{body: "Received: from unknown (HELO h??x) (unknown)\n  by unknown with SMTP; 14 Nov 2023 22:13:20 -0000\n",
				sender: "a@b", rcpts: []string{"u@example.com"}}}},
		{name: "overlong MAIL", in: "MAIL FROM:<" + strings.Repeat("a", 5000) + "@b>\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "500 line too long (#5.5.2)\n503 MAIL first (#5.5.1)\n221 mail.example.com\n"},
		{name: "pipelined garbage then a good transaction",
			in: strings.Repeat("\x01\x02garbage \x7f\n", 500) + "MAIL FROM:<a@b>\nRCPT TO:<u@example.com>\nDATA\nok\n.\nQUIT\n",
			want: strings.Repeat("502 unimplemented (#5.5.1)\n", 500) +
				"250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n221 mail.example.com\n",
			msgs: []message{{body: received + "ok\n", sender: "a@b", rcpts: []string{"u@example.com"}}}},
		{name: "data cut off: nothing queued", in: "MAIL FROM:<a@b>\nRCPT TO:<u@example.com>\nDATA\nhalf a message\n",
			want: "250 ok\n250 ok\n354 go ahead\n", code: 1},
		{name: "tls and auth verbs when not configured", in: "STARTTLS\nAUTH LOGIN\nQUIT\n",
			want: "502 unimplemented (#5.5.1)\n502 unimplemented (#5.5.1)\n221 mail.example.com\n"},
	})
}

// TestManyRecipients: recipients are answered one by one; beyond
// control/maxrcpt, or 100000 without it (hardening.md G7), each gets 452
// and the message goes to those accepted; 0 is qmail 1.03's no limit.
func TestManyRecipients(t *testing.T) {
	input := func(n int) string {
		var in strings.Builder
		in.WriteString("MAIL FROM:<a@b>\r\n")
		for i := range n {
			fmt.Fprintf(&in, "RCPT TO:<u%d@example.com>\r\n", i)
		}
		in.WriteString("DATA\r\nx\r\n.\r\nQUIT\r\n")
		return in.String()
	}
	for _, c := range []struct {
		name     string
		file     string // control/maxrcpt; "" = none
		n        int    // recipients sent
		accepted int
	}{
		{"no file: bound of 100000 not reached", "", 10000, 10000},
		{"no file: bound of 100000", "", defaultMaxRcpt + 5, defaultMaxRcpt},
		{"0: no limit, as qmail", "0\n", defaultMaxRcpt + 5, defaultMaxRcpt + 5},
		{"100", "100\n", 10000, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctl := baseControls()
			if c.file != "" {
				ctl["maxrcpt"] = c.file
			}
			h := newHarness(t, ctl)
			out, code, _ := h.run(input(c.n))
			if n := strings.Count(out, "250 ok\r\n"); n != c.accepted+1 { // MAIL's too
				t.Errorf("%d 250 ok replies, want %d", n, c.accepted+1)
			}
			if n := strings.Count(out, "452 sorry, too many recipients (#4.5.3)\r\n"); n != c.n-c.accepted {
				t.Errorf("%d 452 replies, want %d", n, c.n-c.accepted)
			}
			if code != 0 {
				t.Errorf("exit %d", code)
			}
			msgs := h.messages()
			if len(msgs) != 1 || len(msgs[0].rcpts) != c.accepted || msgs[0].rcpts[c.accepted-1] != fmt.Sprintf("u%d@example.com", c.accepted-1) {
				t.Errorf("queued %d messages", len(msgs))
			}
		})
	}
}

// TestMaxRcptDefaultShown: qmail-showctl's default for control/maxrcpt
// (control.Files) is the one qmail-smtpd applies.
func TestMaxRcptDefaultShown(t *testing.T) {
	for _, f := range control.Files {
		if f.Name == "maxrcpt" {
			if f.Default != strconv.Itoa(defaultMaxRcpt) {
				t.Errorf("control.Files says maxrcpt defaults to %q, qmail-smtpd applies %d", f.Default, defaultMaxRcpt)
			}
			return
		}
	}
	t.Error("control.Files has no maxrcpt")
}
