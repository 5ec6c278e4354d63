package smtpd

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/cdb"
	"goqmail/internal/testutil"
)

func TestParseAddress(t *testing.T) {
	cases := []struct{ arg, want string }{
		{"FROM:<a@b.example>", "a@b.example"},
		{"FROM: <a@b.example>", "a@b.example"},
		{"FROM:<a@b.example> SIZE=100 BODY=8BITMIME", "a@b.example"},
		{"FROM:<>", ""},
		{"FROM:<a@b", "a@b"},                     // unterminated: accepted
		{"FROM:a@b.example", "a@b.example"},      // lax
		{"FROM:   a@b.example x", "a@b.example"}, // lax: up to a space
		{"FROM x@y", ""},                         // no '<', no ':'
		{"TO:<@a,@b:user@c>", "user@c"},          // source route
		{"TO:<@a,@b>", ""},                       // a route and nothing else
		{"TO:@route:u@c", "u@c"},                 // lax with a route
		{`TO:<"a b"@c>`, "a b@c"},
		{`TO:<"a>b"@c>`, "a>b@c"},
		{`TO:<a\>b@c>`, "a>b@c"},
		{`TO:<a\@b@c>`, "a@b@c"},
		{`TO:<a\`, "a"},
		{`TO:"a b"@c d`, "a b@c"},
		{"TO:<a@b>>", "a@b"},
		{"TO:<<a@b>", "<a@b"},
		{"garbage<x@y>", "x@y"},
	}
	for _, tc := range cases {
		if got := parseAddress(tc.arg); got != tc.want {
			t.Errorf("parseAddress(%q) = %q, want %q", tc.arg, got, tc.want)
		}
	}
}

func TestIPLiteral(t *testing.T) {
	cases := []struct {
		in string
		ok bool
		ip string
	}{
		{"[127.0.0.1]", true, "127.0.0.1"},
		{"[192.0.2.255]", true, "192.0.2.255"},
		{"[127.0.0.257]", false, ""},
		{"[127.0.0]", false, ""},
		{"[127.0.0.1.2]", false, ""},
		{"[127.0.0.1", false, ""},
		{"[127..0.1]", false, ""},
		{"[ 127.0.0.1]", false, ""},
		{"[0127.0.0.1]", false, ""},
		{"[IPv6:::1]", false, ""},
		{"127.0.0.1", false, ""},
		{"[]", false, ""},
	}
	for _, tc := range cases {
		ip, ok := ipLiteral(tc.in)
		if ok != tc.ok || (ok && ip.String() != tc.ip) {
			t.Errorf("ipLiteral(%q) = %v %v, want %v %v", tc.in, ip, ok, tc.ip, tc.ok)
		}
	}
}

func TestInterfaceIPs(t *testing.T) {
	ips, err := interfaceIPs()
	if err != nil {
		t.Skipf("no interface list here: %v", err)
	}
	for _, ip := range ips {
		if ip.IsLoopback() {
			return
		}
	}
	t.Errorf("no loopback address among %v", ips)
}

// rcptTranscript is MAIL, then one RCPT per address, then QUIT.
func rcptTranscript(sender string, rcpts ...string) string {
	in := "MAIL FROM:<" + sender + ">\n"
	for _, r := range rcpts {
		in += "RCPT TO:<" + r + ">\n"
	}
	return in + "QUIT\n"
}

func TestRcpthosts(t *testing.T) {
	const ok, no = "250 ok\n", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n"
	cases := []struct {
		rcpt, reply string
	}{
		{"u@example.com", ok},
		{"u@EXAMPLE.com", ok},
		{"u@sub.example.com", no}, // "example.com" covers only itself
		{"u@example.net", no},     // ".example.net" covers only subdomains
		{"u@a.example.net", ok},
		{"u@a.b.EXAMPLE.NET", ok},
		{"u@example.com.", no},
		{"u@", no},
		{"postmaster", ok}, // no '@': ours
		{"", ok},           // RCPT TO:<> is accepted (§24 item 3)
		{"u@evil.example@example.com", ok},
		{"u@example.com@evil.example", no},
		{"u@more.example", ok},      // morercpthosts.cdb
		{"u@x.deep.example", ok},    // .deep.example in the cdb
		{"u@deep.example", no},      // only subdomains of deep.example
		{"u@notmore.example", no},   // suffix without a dot does not count
		{"u@[192.0.2.9]", no},       // a foreign literal
		{"u@[127.0.0.1]", ok},       // mine: becomes u@local.example
		{"u@[127.0.0.257]", no},     // not a literal qmail-style wrap
		{"@a,@b:u@example.com", ok}, // route stripped
		{"@example.com:u@evil.example", no},
		{`"u@evil.example"`, no},
		{`"u@evil.example"@example.com`, ok},
	}
	ctl := baseControls()
	ctl["localiphost"] = "example.com\n"
	h := newHarness(t, ctl)
	cdbPath := filepath.Join(h.home, "control", "morercpthosts.cdb")
	err := cdb.Make(cdbPath, cdbPath+".tmp", func(w *cdb.Writer) error {
		for _, k := range []string{"more.example", ".deep.example"} {
			if err := w.Add([]byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var rcpts []string
	want := "250 ok\n"
	for _, c := range cases {
		rcpts = append(rcpts, c.rcpt)
		want += c.reply
	}
	in := rcptTranscript("a@b.example", rcpts...)
	out, _, stderr := h.run(crlf(in))
	gotLines := strings.SplitAfter(out, "\r\n")[2:] // greeting, MAIL
	wantLines := strings.SplitAfter(crlf(want), "\r\n")[1:]
	for i, c := range cases {
		if i >= len(gotLines) || gotLines[i] != wantLines[i] {
			t.Errorf("RCPT TO:<%s>: got %q, want %q (stderr %q)", c.rcpt, at(gotLines, i), wantLines[i], stderr)
		}
	}
}

func at(l []string, i int) string {
	if i < len(l) {
		return l[i]
	}
	return "(nothing)"
}

func TestRcptPolicy(t *testing.T) {
	bmf := "553 sorry, your envelope sender is in my badmailfrom list (#5.7.1)\n"
	gate := "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n"
	bye := "221 mail.example.com\n"
	bmfCtl := map[string]string{"badmailfrom": "spam@bad.example\n@worse.example\n#@example.com\n"}
	runTranscripts(t, []transcript{
		{name: "badmailfrom address", ctl: bmfCtl,
			in:   "MAIL FROM:<SPAM@Bad.Example>\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n" + bmf + bye},
		{name: "badmailfrom domain", ctl: bmfCtl,
			in:   "MAIL FROM:<x@WORSE.example>\nRCPT TO:<u@example.com>\nRCPT TO:<v@example.com>\nQUIT\n",
			want: "250 ok\n" + bmf + bmf + bye},
		{name: "badmailfrom other sender", ctl: bmfCtl,
			in:   "MAIL FROM:<ok@bad.example>\nRCPT TO:<u@example.com>\nMAIL FROM:<x@sub.worse.example>\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n250 ok\n250 ok\n250 ok\n" + bye},
		{name: "badmailfrom comment", ctl: bmfCtl,
			in:   "MAIL FROM:<x@example.com>\nRCPT TO:<u@example.com>\nQUIT\n",
			want: "250 ok\n250 ok\n" + bye},
		{name: "badmailfrom checked before syntax? no: syntax first", ctl: bmfCtl,
			in:   "MAIL FROM:<x@worse.example>\nRCPT TO:<" + strings.Repeat("x", 900) + ">\nQUIT\n",
			want: "250 ok\n555 syntax error (#5.5.4)\n" + bye},
		{name: "badmailfrom before rcpthosts", ctl: bmfCtl,
			in:   "MAIL FROM:<x@worse.example>\nRCPT TO:<u@elsewhere.example>\nQUIT\n",
			want: "250 ok\n" + bmf + bye},
		{name: "relayclient empty", env: []string{"RELAYCLIENT="},
			in:   "MAIL FROM:<a@b.example>\nRCPT TO:<u@elsewhere.example>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "a@b.example", rcpts: []string{"u@elsewhere.example"}}}},
		{name: "relayclient appended", env: []string{"RELAYCLIENT=@relay.example"},
			in:   "MAIL FROM:<a@b.example>\nRCPT TO:<u@elsewhere.example>\nRCPT TO:<v>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "a@b.example",
				rcpts: []string{"u@elsewhere.example@relay.example", "v@relay.example"}}}},
		{name: "relayclient with a CR", env: []string{"RELAYCLIENT=\r"},
			in:   "MAIL FROM:<a@b.example>\nRCPT TO:<u@elsewhere.example>\nQUIT\n",
			want: "250 ok\n555 syntax error (#5.5.4)\n" + bye},
		{name: "no relayclient", in: "MAIL FROM:<a@b.example>\nRCPT TO:<u@elsewhere.example>\nQUIT\n",
			want: "250 ok\n" + gate + bye},
		{name: "localiphost from me", in: "MAIL FROM:<a@[192.0.2.7]>\nRCPT TO:<u@[127.0.0.1]>\nRCPT TO:<u@example.com>\nDATA\n.\nQUIT\n",
			ctl:  map[string]string{"rcpthosts": "mail.example.com\nexample.com\n"},
			want: "250 ok\n250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "a@mail.example.com",
				rcpts: []string{"u@mail.example.com", "u@example.com"}}}},
		{name: "address length", in: "MAIL FROM:<" + strings.Repeat("a", 899) + ">\nMAIL FROM:<" + strings.Repeat("a", 900) + ">\nQUIT\n",
			want: "250 ok\n555 syntax error (#5.5.4)\n" + bye},
		{name: "address length after localiphost", ctl: map[string]string{"localiphost": strings.Repeat("h", 880)},
			in:   "MAIL FROM:<u@[127.0.0.1]>\nMAIL FROM:<" + strings.Repeat("a", 19) + "@[127.0.0.1]>\nQUIT\n",
			want: "250 ok\n555 syntax error (#5.5.4)\n" + bye},
		{name: "lax sender forms", in: "MAIL FROM x@y\nRCPT TO:<>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "", rcpts: []string{""}}}},
		{name: "rejected mail keeps the transaction",
			in:   "MAIL FROM:<a@b>\nRCPT TO:<x@example.com>\nMAIL FROM:<" + strings.Repeat("a", 900) + ">\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n555 syntax error (#5.5.4)\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "a@b", rcpts: []string{"x@example.com"}}}},
		{name: "mail resets recipients", in: "MAIL FROM:<a@b>\nRCPT TO:<x@example.com>\nMAIL FROM:<c@d>\nRCPT TO:<y@example.com>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "c@d", rcpts: []string{"y@example.com"}}}},
		{name: "duplicate recipients kept", in: "MAIL FROM:<a@b>\nRCPT TO:<x@example.com>\nRCPT TO:<x@example.com>\nDATA\n.\nQUIT\n",
			want: "250 ok\n250 ok\n250 ok\n354 go ahead\n250 ok 1700000000 qp {qp}\n" + bye,
			msgs: []message{{body: received, sender: "a@b", rcpts: []string{"x@example.com", "x@example.com"}}}},
	})
}

func TestLocalIPHostFailure(t *testing.T) {
	h := newHarness(t, baseControls())
	h.myIPs = func() ([]net.IP, error) { return nil, errors.New("netlink says no") }
	out, code, stderr := h.run("MAIL FROM:<a@b>\r\nRCPT TO:<u@[127.0.0.1]>\r\nQUIT\r\n")
	if want := greet + "250 ok\r\n421 unable to figure out my IP addresses (#4.3.0)\r\n"; out != want || code != 1 {
		t.Errorf("got %q %d, want %q 1", out, code, want)
	}
	if !strings.Contains(stderr, "netlink says no") {
		t.Errorf("stderr %q", stderr)
	}
	// Without localiphost or me, literals are never looked at.
	h = newHarness(t, map[string]string{"smtpgreeting": "g\n"})
	h.myIPs = func() ([]net.IP, error) { return nil, errors.New("must not be called") }
	out, _, _ = h.run("MAIL FROM:<a@[127.0.0.1]>\r\nQUIT\r\n")
	if want := "220 g ESMTP\r\n250 ok\r\n221 g\r\n"; out != want {
		t.Errorf("got %q, want %q", out, want)
	}
}

func TestBrokenMoreRcpthosts(t *testing.T) {
	// A cdb whose header points past its end: found corrupt at lookup.
	h := newHarness(t, baseControls())
	bad := make([]byte, 2048)
	for i := 0; i < 2048; i += 8 {
		bad[i], bad[i+1], bad[i+4] = 0xff, 0xff, 1
	}
	testutil.MustWrite(t, filepath.Join(h.home, "control", "morercpthosts.cdb"), string(bad), 0o644)
	out, code, stderr := h.run("MAIL FROM:<a@b>\r\nRCPT TO:<u@example.com>\r\nRCPT TO:<u@other.example>\r\n")
	want := greet + "250 ok\r\n250 ok\r\n421 unable to read controls (#4.3.0)\r\n"
	if out != want || code != 1 {
		t.Errorf("got %q %d, want %q 1 (stderr %q)", out, code, want, stderr)
	}
}

// TestPercentHackIsNoRelay: a percenthack domain in rcpthosts must not
// let user%elsewhere@domain through, since qmail-send would deliver it to
// user@elsewhere (hardening.md finding 9).
func TestPercentHackIsNoRelay(t *testing.T) {
	const ok, no = "250 ok\n", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n"
	cases := []struct {
		rcpt, reply string
	}{
		{"u@example.com", ok},
		{"u%evil.example@example.com", no},
		{"u%sub.example.net@example.com", ok}, // ends at a domain we accept
		{"u%a%evil.example@example.com", no},
		{"u%evil.example%example.com@example.com", no},
		{"u%evil.example@a.example.net", ok}, // not a percenthack domain
		{"u%evil.example", no},               // qmail-send appends @envnoathost first
		{"u%sub.example.net", ok},
		{"plain", ok},
	}
	ctl := baseControls()
	ctl["percenthack"] = "example.com\n"
	ctl["envnoathost"] = "example.com\n"
	h := newHarness(t, ctl)
	var rcpts []string
	want := "250 ok\n"
	for _, c := range cases {
		rcpts = append(rcpts, c.rcpt)
		want += c.reply
	}
	out, _, stderr := h.run(crlf(rcptTranscript("a@b.example", rcpts...)))
	gotLines := strings.SplitAfter(out, "\r\n")[2:]
	wantLines := strings.SplitAfter(crlf(want), "\r\n")[1:]
	for i, c := range cases {
		if i >= len(gotLines) || gotLines[i] != wantLines[i] {
			t.Errorf("RCPT TO:<%s>: got %q, want %q (stderr %q)", c.rcpt, at(gotLines, i), wantLines[i], stderr)
		}
	}
}
