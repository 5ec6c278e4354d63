package smtpd

import (
	"strings"
	"time"

	"goqmail/internal/datefmt"
)

// peer is what tcpserver tells qmail-smtpd about the connection
// (spec §11.1), with qmail's defaults filled in.
type peer struct {
	remoteIP   string // TCPREMOTEIP, else "unknown"
	remoteHost string // TCPREMOTEHOST, else "unknown"
	remoteInfo string // TCPREMOTEINFO
	haveInfo   bool
	local      string // TCPLOCALHOST, else TCPLOCALIP, else "unknown"

	relayClient string // RELAYCLIENT: appended to every recipient
	relay       bool   // RELAYCLIENT is set, even to ""
}

func envOr(get func(string) (string, bool), keys ...string) string {
	for _, k := range keys {
		if v, ok := get(k); ok {
			return v
		}
	}
	return "unknown"
}

// newPeer reads the connection's environment.
func newPeer(get func(string) (string, bool)) peer {
	p := peer{
		remoteIP:   envOr(get, "TCPREMOTEIP"),
		remoteHost: envOr(get, "TCPREMOTEHOST"),
		local:      envOr(get, "TCPLOCALHOST", "TCPLOCALIP"),
	}
	p.remoteInfo, p.haveInfo = get("TCPREMOTEINFO")
	p.relayClient, p.relay = get("RELAYCLIENT")
	return p
}

// safeChar is qmail's set of bytes a Received line may carry from the
// network; every other byte is written as '?'.
func safeChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte(".@%+/=:-", c) >= 0
}

func writeSafe(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		if safeChar(s[i]) {
			b.WriteByte(s[i])
		} else {
			b.WriteByte('?')
		}
	}
}

// receivedLine is the line qmail-smtpd puts on top of each message:
//
//	Received: from REMOTEHOST (HELO HELO) (INFO@REMOTEIP)
//	  by LOCAL with SMTP; DATE
//
// The HELO part is there only when fakeHelo (the HELO/EHLO argument is
// not the remote host name), INFO@ only when TCPREMOTEINFO is set (or a
// client authenticated: then INFO is its user name). proto is "SMTP",
// or "(CIPHER encrypted) SMTP" under TLS, as the qmail-tls patch
// writes it.
func receivedLine(p peer, helo string, fakeHelo bool, proto string, t time.Time) string {
	var b strings.Builder
	b.WriteString("Received: from ")
	writeSafe(&b, p.remoteHost)
	if fakeHelo {
		b.WriteString(" (HELO ")
		writeSafe(&b, helo)
		b.WriteString(")")
	}
	b.WriteString(" (")
	if p.haveInfo {
		writeSafe(&b, p.remoteInfo)
		b.WriteString("@")
	}
	writeSafe(&b, p.remoteIP)
	b.WriteString(")\n  by ")
	writeSafe(&b, p.local)
	b.WriteString(" with ")
	b.WriteString(proto)
	b.WriteString("; ")
	b.WriteString(datefmt.RFC822(t))
	b.WriteString("\n")
	return b.String()
}
