package smtpd

import (
	"fmt"
	"strings"
	"testing"
)

const envelopeIn = "MAIL FROM:<a@b.example>\r\nRCPT TO:<u@example.com>\r\nDATA\r\n"
const envelopeOut = "250 ok\n250 ok\n354 go ahead\n"

func queuedAs(body string) []message {
	return []message{{body: received + body, sender: "a@b.example", rcpts: []string{"u@example.com"}}}
}

func TestData(t *testing.T) {
	const bye = "221 mail.example.com\n"
	const accepted = "250 ok 1700000000 qp {qp}\n"
	const bareCR = "554 bare CR in message (#5.6.2)\n"
	const smtplf = "451 See http://pobox.com/~djb/docs/smtplf.html.\n"
	runTranscripts(t, []transcript{
		{name: "accepted", in: envelopeIn + "Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + bye, msgs: queuedAs("Subject: hi\n\nbody\n.dot\n")},
		{name: "empty message", in: envelopeIn + ".\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + bye, msgs: queuedAs("")},
		{name: "two messages", raw: true,
			in:   envelopeIn + "one\r\n.\r\nMAIL FROM:<c@d>\r\nRCPT TO:<v@example.com>\r\nDATA\r\ntwo\r\n.\r\nQUIT\r\n",
			want: envelopeOut + accepted + envelopeOut + accepted + bye,
			msgs: []message{
				{body: received + "one\n", sender: "a@b.example", rcpts: []string{"u@example.com"}},
				{body: received + "two\n", sender: "c@d", rcpts: []string{"v@example.com"}}}},
		{name: "data twice", in: envelopeIn + ".\r\nDATA\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + "503 MAIL first (#5.5.1)\n" + bye, msgs: queuedAs("")},
		{name: "rcpt after data", in: envelopeIn + ".\r\nRCPT TO:<u@example.com>\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + "503 MAIL first (#5.5.1)\n" + bye, msgs: queuedAs("")},
		{name: "bare LF drops the connection", in: envelopeIn + "a\nb\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + smtplf, code: 1},
		{name: "bare CR is refused", in: envelopeIn + "a\rb\r\n.\r\nNOOP\r\nQUIT\r\n", raw: true,
			want: envelopeOut + bareCR + "250 ok\n" + bye},
		{name: "eof in data", in: envelopeIn + "abc\r\n", raw: true, want: envelopeOut, code: 1},
		{name: "commands after a failed DATA are commands", in: "MAIL FROM:<a@b>\r\nDATA\r\nNOOP\r\n.\r\nQUIT\r\n", raw: true,
			want: "250 ok\n503 RCPT first (#5.5.1)\n250 ok\n502 unimplemented (#5.5.1)\n" + bye},
		{name: "databytes exact", ctl: map[string]string{"databytes": "10\n"},
			in: envelopeIn + "123456789\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + bye, msgs: queuedAs("123456789\n")},
		{name: "databytes plus one", ctl: map[string]string{"databytes": "10\n"},
			in: envelopeIn + "1234567890\r\n.\r\nNOOP\r\nQUIT\r\n", raw: true,
			want: envelopeOut + "552 sorry, that message size exceeds my databytes limit (#5.3.4)\n250 ok\n" + bye},
		{name: "databytes counts unstuffed bytes", ctl: map[string]string{"databytes": "4\n"},
			in: envelopeIn + "..ab\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + bye, msgs: queuedAs(".ab\n")},
		{name: "DATABYTES overrides", ctl: map[string]string{"databytes": "1000\n"}, env: []string{"DATABYTES=3"},
			in: envelopeIn + "abc\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + "552 sorry, that message size exceeds my databytes limit (#5.3.4)\n" + bye},
		{name: "empty DATABYTES means no limit", ctl: map[string]string{"databytes": "1\n"}, env: []string{"DATABYTES="},
			in: envelopeIn + "abc\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + bye, msgs: queuedAs("abc\n")},
		{name: "hops 99", in: envelopeIn + hopHeader(99) + "\r\nbody\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + accepted + bye, msgs: queuedAs(strings.ReplaceAll(hopHeader(99), "\r\n", "\n") + "\nbody\n")},
		{name: "hops 100", in: envelopeIn + hopHeader(100) + "\r\nbody\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + "554 too many hops, this message is looping (#5.4.6)\n" + bye},
		{name: "bare CR before hops and size", ctl: map[string]string{"databytes": "10\n"},
			in: envelopeIn + hopHeader(100) + "\r\nx\ry\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + bareCR + bye},
		{name: "hops before size", ctl: map[string]string{"databytes": "10\n"},
			in: envelopeIn + hopHeader(100) + "\r\n.\r\nQUIT\r\n", raw: true,
			want: envelopeOut + "554 too many hops, this message is looping (#5.4.6)\n" + bye},
	})
}

// hopHeader is n alternating Received and Delivered-To lines.
func hopHeader(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			fmt.Fprintf(&b, "Received: hop %d\r\n", i)
		} else {
			fmt.Fprintf(&b, "Delivered-To: hop%d@example.com\r\n", i)
		}
	}
	return b.String()
}

func TestQueueExitCodes(t *testing.T) {
	cases := []struct {
		exit  string
		reply string
	}{
		{"0", "250 ok 1700000000 qp {qp}"},
		{"11", "554 envelope address too long for qq (#5.1.3)"},
		{"31", "554 mail server permanently rejected message (#5.3.0)"},
		{"51", "451 qq out of memory (#4.3.0)"},
		{"52", "451 qq timeout (#4.3.0)"},
		{"53", "451 qq write error or disk full (#4.3.0)"},
		{"54", "451 qq read error (#4.3.0)"},
		{"81", "451 qq internal bug (#4.3.0)"},
		{"91", "451 qq internal bug (#4.3.0)"},
		{"20", "554 qq permanent problem (#5.3.0)"},
		{"100", "451 qq temporary problem (#4.3.0)"},
		{"crash", "451 qq crashed (#4.3.0)"},
	}
	for _, tc := range cases {
		t.Run(tc.exit, func(t *testing.T) {
			h := newHarness(t, baseControls()).setenv("FAKEQQ_EXIT=" + tc.exit)
			out, code, stderr := h.run(envelopeIn + "x\r\n.\r\nQUIT\r\n")
			want := fillQP(greet+crlf(envelopeOut+tc.reply+"\n221 mail.example.com\n"), h.messages())
			if out != want || code != 0 {
				t.Errorf("got %q %d\nwant %q 0\nstderr %q", out, code, want, stderr)
			}
		})
	}
}

func TestQueueCannotStart(t *testing.T) {
	h := newHarness(t, baseControls()).setenv("QMAILQUEUE=/nonexistent/qmail-queue")
	out, code, stderr := h.run(envelopeIn + "MAIL FROM:<c@d>\r\nQUIT\r\n")
	want := greet + crlf("250 ok\n250 ok\n451 qqt failure (#4.3.0)\n250 ok\n221 mail.example.com\n")
	if out != want || code != 0 {
		t.Errorf("got %q %d, want %q 0", out, code, want)
	}
	if !strings.Contains(stderr, "unable to start qmail-queue") {
		t.Errorf("stderr %q", stderr)
	}
	// Without QMAILQUEUE, HOME/bin/qmail-queue is run (here: missing).
	h = newHarness(t, baseControls())
	h.env = h.env[1:]
	out, _, _ = h.run(envelopeIn + "QUIT\r\n")
	if out != want[:len(want)-len("250 ok\r\n221 mail.example.com\r\n")]+"221 mail.example.com\r\n" {
		t.Errorf("default qmail-queue: got %q", out)
	}
}

// smuggle is the hardening.md §1.6 probe: a message whose body holds a
// fake end of data followed by a second, smuggled transaction.
func smuggle(seq string) string {
	return envelopeIn + "Subject: t\r\n\r\nhello" + seq +
		"MAIL FROM:<x@evil.example>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\nsmuggled\r\n.\r\n" +
		"QUIT\r\n"
}

func TestSmuggling(t *testing.T) {
	const smtplf = "451 See http://pobox.com/~djb/docs/smtplf.html.\r\n"
	const bareCR = "554 bare CR in message (#5.6.2)\r\n221 mail.example.com\r\n"
	const accepted = "250 ok 1700000000 qp {qp}\r\n221 mail.example.com\r\n"
	cases := []struct {
		name, seq string
		reply     string
		body      string // the one message queued, "" = none
	}{
		{"lflf", "\n.\n", smtplf, ""},
		{"crcr", "\r.\r", bareCR, ""},
		{"crlf", "\r.\n", smtplf, ""},
		{"lfcr", "\n.\r", smtplf, ""},
		{"lfcrlf", "\n.\r\n", smtplf, ""},
		{"crlflf", "\r\n.\n", smtplf, ""},
		{"crcrlf", "\r.\r\n", bareCR, ""},
		{"crlfcr", "\r\n.\r", bareCR, ""},
		{"crlf-crcrlf", "\r\n.\r\r\n", bareCR, ""},
		{"crcrlf-crcrlf", "\r\r\n.\r\r\n", bareCR, ""},
		{"nul-before", "\r\n\x00.\r\n", "", "hello\n\x00.\n"},
		{"nul-after", "\r\n.\x00\r\n", "", "hello\n\x00\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, baseControls())
			out, _, _ := h.run(smuggle(tc.seq))
			msgs := h.messages()
			reply := tc.reply
			wantN := 0
			if tc.body != "" {
				reply = accepted
				wantN = 1
			}
			want := fillQP(greet+crlf(envelopeOut)+reply, msgs)
			if out != want {
				t.Errorf("replies %q\nwant    %q", out, want)
			}
			if len(msgs) != wantN {
				t.Fatalf("%d messages queued, want %d", len(msgs), wantN)
			}
			if wantN == 1 {
				want := received + "Subject: t\n\n" + tc.body +
					"MAIL FROM:<x@evil.example>\nRCPT TO:<victim@example.com>\nDATA\nsmuggled\n"
				if msgs[0].body != want || msgs[0].sender != "a@b.example" ||
					len(msgs[0].rcpts) != 1 || msgs[0].rcpts[0] != "u@example.com" {
					t.Errorf("queued %#v\nwant body %q", msgs[0], want)
				}
			}
		})
	}
}
