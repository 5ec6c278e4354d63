package smtpd

import (
	"io"
	"os"
	"testing"
	"time"
)

// trickle writes s to w one byte at a time, gap apart, then leaves w
// open; it stops at the first write error (the session ended).
func trickle(w io.Writer, s string, gap time.Duration) {
	for i := 0; i < len(s); i++ {
		if _, err := w.Write([]byte{s[i]}); err != nil {
			return
		}
		time.Sleep(gap)
	}
}

// TestTrickle: a client that sends a command one byte at a time, each
// byte well within timeoutsmtpd, is cut off when the whole line has taken
// longer than timeoutsmtpd; a message body may trickle (per-read
// timeout, as in qmail).
func TestTrickle(t *testing.T) {
	ctl := baseControls()
	ctl["timeoutsmtpd"] = "1\n"
	const gap = 250 * time.Millisecond
	cases := []struct {
		name     string
		fast     string // sent at once
		slow     string // sent a byte per gap
		want     string // replies after the greeting
		code     int
		min, max time.Duration
		queued   int
	}{
		{name: "command", slow: "NOOP\r\n", want: "451 timeout (#4.4.2)\r\n", code: 1,
			min: 900 * time.Millisecond, max: 1400 * time.Millisecond},
		{name: "command after others", fast: "NOOP\r\nNOOP\r\n", slow: "HELO x\r\n",
			want: "250 ok\r\n250 ok\r\n451 timeout (#4.4.2)\r\n", code: 1,
			min: 900 * time.Millisecond, max: 1400 * time.Millisecond},
		// 11 bytes take 2.75 s, then the session is idle for 1 s.
		{name: "body", fast: envelopeIn, slow: "abcdef\r\n.\r\n",
			want: crlf(envelopeOut) + "250 ok 1700000000 qp {qp}\r\n451 timeout (#4.4.2)\r\n", code: 1,
			min: 3 * time.Second, max: 8 * time.Second, queued: 1},
	}
	streams := []struct {
		name string
		make func() (client io.WriteCloser, server io.Reader, cleanup func())
	}{
		{"os.Pipe (deadlines)", func() (io.WriteCloser, io.Reader, func()) {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			return w, r, func() { r.Close() }
		}},
		{"io.Pipe (timer)", func() (io.WriteCloser, io.Reader, func()) {
			r, w := io.Pipe()
			return w, r, func() { r.Close() }
		}},
	}
	for _, s := range streams {
		for _, tc := range cases {
			t.Run(s.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				h := newHarness(t, ctl)
				client, server, cleanup := s.make()
				defer cleanup()
				defer client.Close()
				out := newWriteLog()
				done, _ := h.start(server, out)
				if tc.fast != "" {
					if _, err := client.Write([]byte(tc.fast)); err != nil {
						t.Fatal(err)
					}
				}
				start := time.Now()
				go trickle(client, tc.slow, gap)
				code := waitExit(t, done)
				el := time.Since(start)
				msgs := h.messages()
				if got, want := out.String(), fillQP(greet+tc.want, msgs); got != want || code != tc.code {
					t.Errorf("got %q %d, want %q %d", got, code, want, tc.code)
				}
				if el < tc.min || el > tc.max {
					t.Errorf("session ended after %v, want between %v and %v", el, tc.min, tc.max)
				}
				if len(msgs) != tc.queued {
					t.Errorf("queued %d messages, want %d", len(msgs), tc.queued)
				}
			})
		}
	}
}
