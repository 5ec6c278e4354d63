package smtpout

import (
	"strings"
	"testing"
)

const ip = "127.0.0.1"

// TestDialogueMatrix scripts a peer to fail at every stage with 4xx and
// 5xx, or to drop the connection, and checks qmail's report and that the
// peer got the message at most once (spec §9.3, hardening.md §3.8).
func TestDialogueMatrix(t *testing.T) {
	died := "ZConnected to " + ip + " but connection died. (#4.4.2)\n|"
	dup := "ZConnected to " + ip + " but connection died. Possible duplicate! (#4.4.2)\n|"
	tests := []struct {
		name    string
		replies map[string][]string
		want    string
		data    int // messages the peer must have received
	}{
		{"success", nil, "r|K" + ip + " accepted message.\nRemote host said: 250 ok queued\n|", 1},
		{"greeting 421", m("GREET", "421 busy"), "ZConnected to " + ip + " but greeting failed.\nRemote host said: 421 busy\n|", 0},
		{"greeting 554", m("GREET", "554 go away"), "ZConnected to " + ip + " but greeting failed.\nRemote host said: 554 go away\n|", 0},
		{"greeting garbage", m("GREET", "hello there"), "ZConnected to " + ip + " but greeting failed.\nRemote host said: hello there\n|", 0},
		{"greeting drop", m("GREET", "DROP"), died, 0},
		{"ehlo 421", m("EHLO", "421 later"), "ZConnected to " + ip + " but my name was rejected.\nRemote host said: 421 later\n|", 0},
		{"ehlo 500 helo 550", m("EHLO", "500 what", "HELO", "550 no"), "ZConnected to " + ip + " but my name was rejected.\nRemote host said: 550 no\n|", 0},
		{"ehlo 502 helo ok", m("EHLO", "502 what"), "r|K" + ip + " accepted message.\nRemote host said: 250 ok queued\n|", 1},
		{"ehlo drop", m("EHLO", "DROP"), died, 0},
		{"mail 421", m("MAIL", "421 closing"), "ZConnected to " + ip + " but sender was rejected.\nRemote host said: 421 closing\n|", 0},
		{"mail 450", m("MAIL", "450 greylisted"), "ZConnected to " + ip + " but sender was rejected.\nRemote host said: 450 greylisted\n|", 0},
		{"mail 550", m("MAIL", "550 no"), "DConnected to " + ip + " but sender was rejected.\nRemote host said: 550 no\n|", 0},
		{"mail 552", m("MAIL", "552 too big"), "DConnected to " + ip + " but sender was rejected.\nRemote host said: 552 too big\n|", 0},
		{"mail drop", m("MAIL", "DROP"), died, 0},
		{"rcpt 450", m("RCPT", "450 later"), "s" + ip + " does not like recipient.\nRemote host said: 450 later\n|DGiving up on " + ip + ".\n|", 0},
		{"rcpt 421", m("RCPT", "421 bye"), "s" + ip + " does not like recipient.\nRemote host said: 421 bye\n|DGiving up on " + ip + ".\n|", 0},
		{"rcpt 550", m("RCPT", "550 no such user"), "h" + ip + " does not like recipient.\nRemote host said: 550 no such user\n|DGiving up on " + ip + ".\n|", 0},
		{"rcpt 552", m("RCPT", "552 full"), "s" + ip + " does not like recipient.\nRemote host said: 552 full\n|DGiving up on " + ip + ".\n|", 0},
		{"rcpt drop", m("RCPT", "DROP"), died, 0},
		{"data 451", m("DATA", "451 later"), "r|Z" + ip + " failed on DATA command.\nRemote host said: 451 later\n|", 0},
		{"data 554", m("DATA", "554 no"), "r|D" + ip + " failed on DATA command.\nRemote host said: 554 no\n|", 0},
		{"data drop", m("DATA", "DROP"), "r|" + died, 0},
		{"data 250 is go-ahead", m("DATA", "250 whatever"), "r|K" + ip + " accepted message.\nRemote host said: 250 ok queued\n|", 1},
		{"dot 421", m("DOT", "421 bye"), "r|Z" + ip + " failed after I sent the message.\nRemote host said: 421 bye\n|", 1},
		{"dot 452", m("DOT", "452 full"), "r|Z" + ip + " failed after I sent the message.\nRemote host said: 452 full\n|", 1},
		{"dot 550", m("DOT", "550 spam"), "r|D" + ip + " failed after I sent the message.\nRemote host said: 550 spam\n|", 1},
		{"rcpt 550", m("RCPT", "550 no"), "h" + ip + " does not like recipient.\nRemote host said: 550 no\n|DGiving up on " + ip + ".\n|", 0},
		{"dot 552", m("DOT", "552 too big"), "r|D" + ip + " failed after I sent the message.\nRemote host said: 552 too big\n|", 1},
		{"dot drop", m("DOT", "DROP"), "r|" + dup, 1},
		{"multiline first line decides", m("DOT", "250-fine\r\n451 but"), "r|K" + ip + " accepted message.\nRemote host said: 250-fine\n451 but\n|", 1},
		{"multiline error text", m("MAIL", "550-first\r\n550 second"), "DConnected to " + ip + " but sender was rejected.\nRemote host said: 550-first\n550 second\n|", 0},
		{"nul in reply", m("MAIL", "550 a\x00b"), "DConnected to " + ip + " but sender was rejected.\nRemote host said: 550 a?b\n|", 0},
		{"bare lf reply", m("DOT", "250 ok\n"), "r|K" + ip + " accepted message.\nRemote host said: 250 ok\n|", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := startPeer(t, &fakePeer{Replies: tc.replies})
			home := routeTo(t, p, nil)
			got := run(t, home, &Sender{}, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test")
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if n := len(p.data()); n != tc.data {
				t.Errorf("peer received %d messages, want %d", n, tc.data)
			}
		})
	}
}

func m(kv ...string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = append(out[kv[i]], kv[i+1])
	}
	return out
}

// TestDropMidData: the peer closes while a large body is on its way; no
// "Possible duplicate", since the dot never went out.
func TestDropMidData(t *testing.T) {
	p := startPeer(t, &fakePeer{DropInData: true})
	home := routeTo(t, p, map[string]string{"timeoutremote": "5\n"})
	body := strings.Repeat(strings.Repeat("x", 999)+"\n", 8000)
	got := run(t, home, &Sender{}, body, "example.test", "a@sender.example", "b@example.test")
	want := "r|ZConnected to " + ip + " but connection died. (#4.4.2)\n|"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRecipients: several recipients, each with its own record, in
// argument order; one accepted is enough to send the message.
func TestRecipients(t *testing.T) {
	p := startPeer(t, &fakePeer{Replies: m("RCPT", "250 ok", "RCPT", "550 unknown", "RCPT", "451 later")})
	home := routeTo(t, p, nil)
	got := run(t, home, &Sender{}, "hi\n", "example.test", "", "a@example.test", "b@example.test", "c@example.test")
	want := "r|h" + ip + " does not like recipient.\nRemote host said: 550 unknown\n|s" + ip +
		" does not like recipient.\nRemote host said: 451 later\n|K" + ip + " accepted message.\nRemote host said: 250 ok queued\n|"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	cmds := p.commands()
	wantCmds := []string{"EHLO sender.example", "MAIL FROM:<>", "RCPT TO:<a@example.test>", "RCPT TO:<b@example.test>", "RCPT TO:<c@example.test>", "DATA", "QUIT"}
	if strings.Join(cmds, "\n") != strings.Join(wantCmds, "\n") {
		t.Errorf("commands %q, want %q", cmds, wantCmds)
	}
}

// TestCommandsAndBody checks the wire: HELO fallback name, quoting of
// local parts, dot-stuffing, CRLF and a partial last line sent
// terminated.
func TestCommandsAndBody(t *testing.T) {
	p := startPeer(t, &fakePeer{Replies: m("EHLO", "500 no ehlo")})
	home := routeTo(t, p, map[string]string{"helohost": "helo.example\n"})
	got := run(t, home, &Sender{}, "a\n.b\n..c\r\nd\re\n\x00.f\nlast", "example.test", "x y@sender.example", "b@example.test")
	if !strings.HasPrefix(got, "r|K") {
		t.Fatalf("got %q", got)
	}
	cmds := p.commands()
	want := []string{"EHLO helo.example", "HELO helo.example", `MAIL FROM:<"x y"@sender.example>`, "RCPT TO:<b@example.test>", "DATA", "QUIT"}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands %q, want %q", cmds, want)
	}
	wantData := "a\r\n..b\r\n...c\r\nd\r\ne\r\n.\x00.f\r\nlast\r\n.\r\n"
	if d := p.data(); len(d) != 1 || string(d[0]) != wantData {
		t.Errorf("data %q, want %q", d, wantData)
	}
}

// TestTimeout: a peer that never greets is a lost connection after
// timeoutremote.
func TestTimeout(t *testing.T) {
	p := startPeer(t, &fakePeer{Replies: m("GREET", "220-wait")})
	home := routeTo(t, p, map[string]string{"timeoutremote": "1\n"})
	got := run(t, home, &Sender{}, "x\n", "example.test", "a@b", "b@example.test")
	if got != "ZConnected to "+ip+" but connection died. (#4.4.2)\n|" {
		t.Errorf("got %q", got)
	}
}

// TestLocalFailures covers the reports that need no peer.
func TestLocalFailures(t *testing.T) {
	closed := startPeer(t, &fakePeer{})
	closed.ln.Close()
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{
		{"usage", nil, []string{"example.test", "a@b"}, "DI (qmail-remote) was invoked improperly. (#5.3.5)\n|"},
		{"no helohost no me", map[string]string{"me": ""}, []string{"example.test", "a@b", "c@example.test"}, "ZUnable to read control files. (#4.3.0)\n|"},
		{"bad timeoutremote", map[string]string{"timeoutremote": "abc\n"}, []string{"example.test", "a@b", "c@example.test"}, "ZUnable to read control files. (#4.3.0)\n|"},
		{"bad smtproutes port", map[string]string{"smtproutes": "example.test:127.0.0.1:0\n"}, []string{"example.test", "a@b", "c@example.test"}, "ZUnable to read control files. (#4.3.0)\n|"},
		{"CR in recipient", nil, []string{"example.test", "a@b", "c@example.test\r\nRSET"}, "DSorry, I won't put an address with NUL, CR or LF into SMTP. (#5.1.3)\n|"},
		{"LF in sender", nil, []string{"example.test", "a\n@b", "c@example.test"}, "DSorry, I won't put an address with NUL, CR or LF into SMTP. (#5.1.3)\n|"},
		{"refused", map[string]string{"smtproutes": "example.test:127.0.0.1:" + itoa(closed.port()) + "\n"}, []string{"example.test", "a@b", "c@example.test"}, "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n|"},
		{"bad tls policy", map[string]string{"tlsdestinations": "example.test:/etc/ca.pem\n"}, []string{"example.test", "a@b", "c@example.test"}, "Zcontrol/tlsdestinations: example.test: unknown policy \"/etc/ca.pem\" (want try, off, require or verify). (#4.3.0)\n|"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range tc.files {
				files[k] = v
			}
			home := testHome(t, files)
			if got := run(t, home, &Sender{}, "x\n", tc.args...); got != tc.want {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}
