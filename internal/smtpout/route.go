package smtpout

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"goqmail/internal/control"
)

// route is where smtproutes sends a host's mail: Relay "" means "look
// up the MX records as usual".
type route struct {
	Relay string
	Port  int
}

// findRoute applies smtproutes (spec §9.2): the whole host, then each
// suffix starting at a dot, longest first, then the empty key; the first
// line that matches decides. A line that names a port that is not a
// number from 1 to 65535 is an error, where qmail read the digits it
// could find: a typo must not send mail to port 0.
func findRoute(routes control.Map, host string) (route, bool, error) {
	if routes == nil {
		return route{}, false, nil
	}
	keys := []string{host}
	for i := 0; i < len(host); i++ {
		if host[i] == '.' {
			keys = append(keys, host[i:])
		}
	}
	keys = append(keys, "")
	for _, k := range keys {
		v, ok := routes.Get(k)
		if !ok {
			continue
		}
		r, err := parseRelay(v)
		if err != nil {
			return route{}, false, fmt.Errorf("control/smtproutes: %s:%s: %v", k, v, err)
		}
		return r, true, nil
	}
	return route{}, false, nil
}

// parseRelay reads "relay", "relay:port", "[IP]:port" (IPv6 inside the
// brackets) or "" (use MX).
func parseRelay(v string) (route, error) {
	r := route{Port: 25}
	rest := ""
	if strings.HasPrefix(v, "[") {
		end := strings.IndexByte(v, ']')
		if end < 0 {
			return r, fmt.Errorf("unterminated [")
		}
		r.Relay, rest = v[:end+1], v[end+1:]
		if rest != "" && rest[0] != ':' {
			return r, fmt.Errorf("junk after ]")
		}
		rest = strings.TrimPrefix(rest, ":")
	} else if i := strings.IndexByte(v, ':'); i >= 0 {
		r.Relay, rest = v[:i], v[i+1:]
	} else {
		r.Relay = v
	}
	if rest != "" {
		p, err := strconv.Atoi(rest)
		if err != nil || p < 1 || p > 65535 {
			return r, fmt.Errorf("bad port %q", rest)
		}
		r.Port = p
	}
	return r, nil
}

// literal reads a host given as an address: [1.2.3.4], [IPv6:2001:db8::1],
// [2001:db8::1] or a bare dotted quad (qmail's ip_scanbracket/ip_scan).
func literal(host string) (netip.Addr, bool) {
	h := host
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
		if len(h) > 5 && strings.EqualFold(h[:5], "IPv6:") {
			h = h[5:]
		}
		a, err := netip.ParseAddr(h)
		return a.Unmap(), err == nil && a.Zone() == ""
	}
	a, err := netip.ParseAddr(h)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// safeHost is a host name as it may be echoed in a report: bytes below
// 33 or above 126 become '?'.
func safeHost(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 33 || c > 126 {
			b[i] = '?'
		}
	}
	return string(b)
}
