package smtpd

import (
	"goqmail/internal/rewrite"
	"net"
	"strings"
)

// MaxAddress is qmail's limit: an address of this many bytes or more is
// a syntax error (§24 item 1: 899 bytes pass, 900 fail).
const MaxAddress = 900

// parseAddress takes the address out of a MAIL or RCPT argument the way
// qmail 1.03 does (spec §11.4):
//
//   - with a '<', the address is what follows the first '<' up to the
//     first unquoted '>' (or the end: an unterminated "<a@b" is accepted);
//   - without one, it follows the first ':' and any spaces, up to the
//     first unquoted space ("partner should go read rfc 821");
//   - a leading source route "@a,@b:" is dropped;
//   - '"' toggles quoting and is dropped, '\' takes the next byte as is.
//
// Anything after the terminator (ESMTP parameters) is ignored.
func parseAddress(arg string) string {
	a, _ := parseAddressRest(arg)
	return a
}

// parseAddressRest is parseAddress that also returns what follows the
// terminator: the ESMTP parameters.
func parseAddressRest(arg string) (string, string) {
	term := byte('>')
	if i := strings.IndexByte(arg, '<'); i >= 0 {
		arg = arg[i+1:]
	} else {
		term = ' '
		if i := strings.IndexByte(arg, ':'); i >= 0 {
			arg = arg[i+1:]
		} else {
			arg = ""
		}
		arg = strings.TrimLeft(arg, " ")
	}
	if strings.HasPrefix(arg, "@") {
		if i := strings.IndexByte(arg, ':'); i >= 0 {
			arg = arg[i+1:]
		} else {
			arg = ""
		}
	}
	var b strings.Builder
	quoted, escaped := false, false
	for i := 0; i < len(arg); i++ {
		c := arg[i]
		switch {
		case escaped:
			b.WriteByte(c)
			escaped = false
		case c == term && !quoted:
			return b.String(), arg[i+1:]
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// ipLiteral returns the IPv4 address of a domain "[d.d.d.d]": four
// decimal octets, each 0-255, and nothing else.
func ipLiteral(domain string) (net.IP, bool) {
	if len(domain) < 2 || domain[0] != '[' || domain[len(domain)-1] != ']' {
		return nil, false
	}
	parts := strings.Split(domain[1:len(domain)-1], ".")
	if len(parts) != 4 {
		return nil, false
	}
	ip := make(net.IP, 4)
	for i, p := range parts {
		if len(p) == 0 || len(p) > 3 {
			return nil, false
		}
		v := 0
		for j := 0; j < len(p); j++ {
			if p[j] < '0' || p[j] > '9' {
				return nil, false
			}
			v = v*10 + int(p[j]-'0')
		}
		if v > 255 {
			return nil, false
		}
		ip[i] = byte(v)
	}
	return ip, true
}

// interfaceIPs lists the addresses of this host's interfaces ("ipme").
func interfaceIPs() ([]net.IP, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var ips []net.IP
	for _, a := range addrs {
		switch v := a.(type) {
		case *net.IPNet:
			ips = append(ips, v.IP)
		case *net.IPAddr:
			ips = append(ips, v.IP)
		}
	}
	return ips, nil
}

// badMailFrom reports whether sender is in badmailfrom: the whole
// address, or "@domain" from its last '@', ignoring ASCII case.
func badMailFrom(set asciiSet, sender string) bool {
	if len(set) == 0 {
		return false
	}
	if set.has(sender) {
		return true
	}
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		return set.has(sender[i:])
	}
	return false
}

// rcptAllowed reports whether rcpt may be accepted under rcpthosts and
// morercpthosts.cdb (spec §11.4). An error is an unreadable cdb.
//
// Beyond qmail 1.03: qmail-send rewrites user%host@domain to user@host
// when domain is in control/percenthack, so a percenthack domain listed in
// rcpthosts made qmail an open relay for user%anywhere@domain. The
// address qmail-send will deliver to must be allowed too. An address
// without '@' counts as ours, as in qmail, but qmail-send first appends
// @envnoathost, which may itself be a percenthack domain: the hack is
// applied to that form.
func (c *config) rcptAllowed(rcpt string) (bool, error) {
	ok, err := c.rcptHostAllowed(rcpt)
	if !ok || err != nil {
		return ok, err
	}
	full := rcpt
	if !strings.Contains(full, "@") {
		full += "@" + c.envNoAtHost
	}
	if hacked := rewrite.PercentHack(c.percentHack.has, full); hacked != full {
		return c.rcptHostAllowed(hacked)
	}
	return true, nil
}

// rcptHostAllowed is qmail's rcpthosts check of one address.
func (c *config) rcptHostAllowed(rcpt string) (bool, error) {
	if c.rcptHosts == nil {
		return true, nil
	}
	at := strings.LastIndexByte(rcpt, '@')
	if at < 0 {
		return true, nil // envnoathost is ours
	}
	host := asciiLower(rcpt[at+1:])
	for j := 0; j < len(host); j++ {
		if j == 0 || host[j] == '.' {
			if _, ok := c.rcptHosts[host[j:]]; ok {
				return true, nil
			}
		}
	}
	if c.moreRcptHosts == nil {
		return false, nil
	}
	for j := 0; j < len(host); j++ {
		if j == 0 || host[j] == '.' {
			_, ok, err := c.moreRcptHosts.Get([]byte(host[j:]))
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}
