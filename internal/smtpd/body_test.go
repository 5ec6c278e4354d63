package smtpd

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestReadBody(t *testing.T) {
	cases := []struct {
		name   string
		in     string
		stored string // what reaches the queue (when the message is good)
		rest   string // what is left for the command loop
		err    error
		bareCR bool
		bytes  int64
	}{
		{name: "empty message", in: ".\r\nQUIT\r\n", stored: "", rest: "QUIT\r\n"},
		{name: "one line", in: "hello\r\n.\r\n", stored: "hello\n", bytes: 6},
		{name: "dot stuffing", in: "..\r\n..x\r\n.y\r\n...\r\n.\r\n", stored: ".\n.x\ny\n..\n", bytes: 10},
		{name: "dot inside a line", in: "a.b\r\n a.\r\n.\r\n", stored: "a.b\n a.\n"},
		{name: "empty lines", in: "\r\n\r\nx\r\n\r\n.\r\n", stored: "\n\nx\n\n"},
		{name: "no final CRLF before the dot is data", in: "x.\r\n.\r\n", stored: "x.\n"},
		{name: "NUL kept", in: "a\x00b\r\n\x00.\r\n.\x00\r\n.\r\n", stored: "a\x00b\n\x00.\n\x00\n"},
		{name: "8 bit kept", in: "\xff\xfe\r\n.\r\n", stored: "\xff\xfe\n"},
		{name: "bare LF", in: "a\nb\r\n.\r\n", err: errBareLF},
		{name: "bare LF at line start", in: "a\r\n\n.\r\n", err: errBareLF},
		{name: "bare LF after dot", in: "a\r\n.\n", err: errBareLF},
		{name: "bare LF first", in: "\n.\r\n", err: errBareLF},
		{name: "bare CR", in: "a\rb\r\n.\r\n", bareCR: true, rest: ""},
		{name: "CR CR LF", in: "a\r\r\n.\r\nNOOP\r\n", bareCR: true, rest: "NOOP\r\n"},
		{name: "dot CR X", in: ".\rX\r\n.\r\nNOOP\r\n", bareCR: true, rest: "NOOP\r\n"},
		{name: "dot CR CR LF", in: "a\r\n.\r\r\n.\r\nNOOP\r\n", bareCR: true, rest: "NOOP\r\n"},
		{name: "CR dot CR", in: "a\r.\rb\r\n.\r\n", bareCR: true},
		{name: "trailing CR at the end", in: "a\r", err: io.EOF},
		{name: "eof", in: "abc", err: io.EOF},
		{name: "eof after dot", in: "abc\r\n.", err: io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w bytes.Buffer
			in := bufio.NewReader(strings.NewReader(tc.in))
			st, err := readBody(in, &w, 0)
			if err != tc.err {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			if st.bareCR != tc.bareCR {
				t.Errorf("bareCR %v, want %v", st.bareCR, tc.bareCR)
			}
			if !tc.bareCR && w.String() != tc.stored {
				t.Errorf("stored %q, want %q", w.String(), tc.stored)
			}
			if tc.bytes != 0 && st.bytes != tc.bytes {
				t.Errorf("bytes %d, want %d", st.bytes, tc.bytes)
			}
			rest, _ := io.ReadAll(in)
			if string(rest) != tc.rest {
				t.Errorf("left %q, want %q", rest, tc.rest)
			}
		})
	}
}

func TestReadBodyLarge(t *testing.T) {
	line := strings.Repeat("x", 999) + "\r\n"
	in := strings.Repeat(line, 100) + ".\r\n"
	var w bytes.Buffer
	st, err := readBody(bufio.NewReader(strings.NewReader(in)), &w, 0)
	if err != nil || st.bytes != 100000 || w.String() != strings.Repeat(strings.Repeat("x", 999)+"\n", 100) {
		t.Errorf("err %v bytes %d len %d", err, st.bytes, w.Len())
	}
	// Past the limit nothing more is written.
	w.Reset()
	st, err = readBody(bufio.NewReader(strings.NewReader(in)), &w, 50000)
	if err != nil || !st.tooBig || w.Len() >= 50000 {
		t.Errorf("limit: err %v tooBig %v written %d", err, st.tooBig, w.Len())
	}
}

func TestHops(t *testing.T) {
	cases := []struct {
		name   string
		header string
		hops   int
	}{
		{"none", "Subject: x\n\n", 0},
		{"received", "Received: a\nreceived: b\nRECEIVED\nReCeIvEd:\n\n", 4},
		{"delivered", "Delivered-To: a\nDELIVERED-TO: b\ndelivered\n\n", 3},
		{"prefixes only", "Receive: a\nDeliver: b\nX-Received: c\n Received: d\n\n", 0},
		{"body not counted", "Subject: x\n\nReceived: a\nDelivered-To: b\n", 0},
		{"no header", "\nReceived: a\n", 0},
		{"no empty line", "Received: a\nReceived: b", 2},
		{"received-ish words", "Receivedx\nDeliveredy\n\n", 2},
	}
	for _, tc := range cases {
		var h hopCounter
		for i := 0; i < len(tc.header); i++ {
			h.feed(tc.header[i])
		}
		if h.hops != tc.hops {
			t.Errorf("%s: %d hops, want %d", tc.name, h.hops, tc.hops)
		}
	}
}

func TestReceivedLine(t *testing.T) {
	const date = "14 Nov 2023 22:13:20 -0000\n"
	cases := []struct {
		name string
		env  []string
		helo string // "" = no HELO command
		want string
	}{
		{"nothing", nil, "",
			"Received: from unknown (unknown)\n  by unknown with SMTP; " + date},
		{"helo without remote host", nil, "foo",
			"Received: from unknown (HELO foo) (unknown)\n  by unknown with SMTP; " + date},
		{"helo unknown", nil, "UNKNOWN",
			"Received: from unknown (unknown)\n  by unknown with SMTP; " + date},
		{"full", []string{"TCPREMOTEIP=192.0.2.1", "TCPREMOTEHOST=client.example", "TCPREMOTEINFO=joe",
			"TCPLOCALHOST=mx.example", "TCPLOCALIP=192.0.2.2"}, "other.example",
			"Received: from client.example (HELO other.example) (joe@192.0.2.1)\n  by mx.example with SMTP; " + date},
		{"helo equals remote host", []string{"TCPREMOTEIP=192.0.2.1", "TCPREMOTEHOST=client.example"}, "Client.Example",
			"Received: from client.example (192.0.2.1)\n  by unknown with SMTP; " + date},
		{"local ip", []string{"TCPLOCALIP=192.0.2.2"}, "",
			"Received: from unknown (unknown)\n  by 192.0.2.2 with SMTP; " + date},
		{"empty info", []string{"TCPREMOTEINFO="}, "",
			"Received: from unknown (@unknown)\n  by unknown with SMTP; " + date},
		{"sanitised", []string{"TCPREMOTEHOST=a b(c)", "TCPREMOTEINFO=x<y>", "TCPREMOTEIP=::1",
			"TCPLOCALHOST=l;l"}, "h\x7fé\"\\_",
			"Received: from a?b?c? (HELO h??????) (x?y?@::1)\n  by l?l with SMTP; " + date},
		{"second CR kept in HELO", nil, "x\r",
			"Received: from unknown (HELO x?) (unknown)\n  by unknown with SMTP; " + date},
		{"safe bytes kept", nil, "a.@%+/=:-Z9",
			"Received: from unknown (HELO a.@%+/=:-Z9) (unknown)\n  by unknown with SMTP; " + date},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := "MAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\nDATA\r\nx\r\n.\r\nQUIT\r\n"
			if tc.helo != "" {
				in = "HELO " + tc.helo + "\r\n" + in
			}
			h := newHarness(t, baseControls()).setenv(tc.env...)
			out, _, stderr := h.run(in)
			msgs := h.messages()
			if len(msgs) != 1 {
				t.Fatalf("%d messages; replies %q, stderr %q", len(msgs), out, stderr)
			}
			if want := tc.want + "x\n"; msgs[0].body != want {
				t.Errorf("got  %q\nwant %q", msgs[0].body, want)
			}
		})
	}
}
