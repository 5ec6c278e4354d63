package smtpd

import (
	"strings"
	"testing"
)

// relayControls: this host is mail.example.com, receiving for
// example.com and itself; example.org is a percenthack domain.
func relayControls() map[string]string {
	return map[string]string{
		"me":          "mail.example.com\n",
		"rcpthosts":   "example.com\nmail.example.com\nexample.org\n",
		"percenthack": "example.org\n",
	}
}

const (
	r553 = "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)\n"
	r250 = "250 ok\n"
)

// relayForms are the probes of nmap's smtp-open-relay script and the
// further forms of hardening.md §2.3, for the target
// relaytest@nmap.scanme.org. want is the RCPT reply without
// RELAYCLIENT; local is the envelope recipient an accepted probe
// becomes: always an address in a local domain (qmail-send delivers it
// locally, where it bounces as an unknown user), never a relay.
var relayForms = []struct{ rcpt, want, local string }{
	{"<relaytest@nmap.scanme.org>", r553, ""},
	{"<relaytest%nmap.scanme.org@[127.0.0.1]>", r250, "relaytest%nmap.scanme.org@mail.example.com"},
	{"<relaytest%nmap.scanme.org@mail.example.com>", r250, "relaytest%nmap.scanme.org@mail.example.com"},
	{"<\"relaytest@nmap.scanme.org\">", r553, ""},
	{"<\"relaytest%nmap.scanme.org\">", r250, "relaytest%nmap.scanme.org"},
	{"<relaytest@nmap.scanme.org@[127.0.0.1]>", r250, "relaytest@nmap.scanme.org@mail.example.com"},
	{"<\"relaytest@nmap.scanme.org\"@[127.0.0.1]>", r250, "relaytest@nmap.scanme.org@mail.example.com"},
	{"<relaytest@nmap.scanme.org@mail.example.com>", r250, "relaytest@nmap.scanme.org@mail.example.com"},
	{"<@[127.0.0.1]:relaytest@nmap.scanme.org>", r553, ""},
	{"<@mail.example.com:relaytest@nmap.scanme.org>", r553, ""},
	{"<@mail.example.com,@other.example:relaytest@nmap.scanme.org>", r553, ""},
	{"<nmap.scanme.org!relaytest>", r250, "nmap.scanme.org!relaytest"},
	{"<nmap.scanme.org!relaytest@[127.0.0.1]>", r250, "nmap.scanme.org!relaytest@mail.example.com"},
	{"<nmap.scanme.org!relaytest@mail.example.com>", r250, "nmap.scanme.org!relaytest@mail.example.com"},
	{"<relaytest!nmap.scanme.org@example.com>", r250, "relaytest!nmap.scanme.org@example.com"},
	{"<a%b%nmap.scanme.org@example.com>", r250, "a%b%nmap.scanme.org@example.com"},
	{"<relaytest@nmap.scanme.org.>", r553, ""},
	{"<relaytest@example.com.>", r553, ""},
	{"<RELAYTEST@NMAP.SCANME.ORG>", r553, ""},
	{"<relaytest@NMAP.scanme.org@EXAMPLE.COM>", r250, "relaytest@NMAP.scanme.org@EXAMPLE.COM"},
	{"<relaytest@[127.0.0.2]>", r553, ""},
	{"<relaytest@[0.0.0.0]>", r553, ""},
	{"<relaytest@[IPv6:::1]>", r553, ""},
	{"<relaytest@[127.0.0.257]>", r553, ""},
	{"<relaytest\\@nmap.scanme.org@example.com>", r250, "relaytest@nmap.scanme.org@example.com"},
	{"<relaytest@nmap.scanme.org >", r553, ""},
	{"relaytest@nmap.scanme.org", r553, ""},
	{" <relaytest@nmap.scanme.org>", r553, ""},
	{"<relaytest@nmap.scanme.org> <u@example.com>", r553, ""},
	{"<relaytest@example.com@nmap.scanme.org>", r553, ""},
	{"<relaytest@sub.example.com>", r553, ""},
	{"<relaytest@example.com.nmap.scanme.org>", r553, ""},
	{"<relaytest@nmap.scanme.org\\>@example.com>", r250, "relaytest@nmap.scanme.org>@example.com"},
	// percenthack domain: qmail-send would turn these into a relay.
	{"<relaytest%nmap.scanme.org@example.org>", r553, ""},
	{"<a%relaytest%nmap.scanme.org@example.org>", r553, ""},
	{"<relaytest%example.com@example.org>", r250, "relaytest%example.com@example.org"},
}

// TestOpenRelayForms: without RELAYCLIENT or AUTH no probe is relayed:
// each is refused, or accepted for a local domain only. With
// RELAYCLIENT every probe is accepted as written (the test can tell).
func TestOpenRelayForms(t *testing.T) {
	local := newASCIISet([]string{"example.com", "mail.example.com", "example.org"})
	for _, tc := range relayForms {
		t.Run(tc.rcpt, func(t *testing.T) {
			for _, relay := range []bool{false, true} {
				h := newHarness(t, relayControls())
				if relay {
					h.setenv("RELAYCLIENT=")
				}
				out, _, stderr := h.run(crlf("MAIL FROM:<antispam@[127.0.0.1]>\nRCPT TO:" + tc.rcpt + "\nDATA\n.\nQUIT\n"))
				want := tc.want
				if relay {
					want = r250
				}
				lines := strings.SplitAfter(strings.ReplaceAll(out, "\r\n", "\n"), "\n")
				if len(lines) < 3 || lines[2] != want {
					t.Fatalf("relay=%v: replies %q, want RCPT %q; stderr %s", relay, out, want, stderr)
				}
				msgs := h.messages()
				if relay || tc.want == r553 {
					if !relay && len(msgs) != 0 {
						t.Errorf("queued %#v", msgs)
					}
					continue
				}
				if len(msgs) != 1 || len(msgs[0].rcpts) != 1 || msgs[0].rcpts[0] != tc.local {
					t.Fatalf("queued %#v, want recipient %q", msgs, tc.local)
				}
				r := msgs[0].rcpts[0]
				if at := strings.LastIndexByte(r, '@'); at >= 0 && !local.has(r[at+1:]) {
					t.Errorf("recipient %q is not in a local domain", r)
				}
			}
		})
	}
}
