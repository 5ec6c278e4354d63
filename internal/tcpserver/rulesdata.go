package tcpserver

import (
	"bytes"
	"strings"
)

// Client is what a rules lookup knows about a connection: its address
// (TCPREMOTEIP), and if known its host name (TCPREMOTEHOST) and ident
// answer (TCPREMOTEINFO). A known but empty name still counts as known,
// as with tcprulescheck and an empty variable.
type Client struct {
	IP      string
	Host    string
	HasHost bool
	Info    string
	HasInfo bool
}

// RuleKeys lists the keys tcpserver tries for c, first match wins
// (spec §19.1): INFO@IP, INFO@=HOST, IP, =HOST, the prefixes of IP ending
// in '.' longest first, then "=.suffix" for each dot of HOST left to
// right, "=", and last the empty key.
//
// For an IPv6 address the prefixes ending in ':' are tried as well, so
// "2001:db8:" matches the whole 2001:db8::/32 written in the compressed
// form tcpserver gives TCPREMOTEIP; ucspi-tcp-ipv6 does the same.
func RuleKeys(c Client) []string {
	var keys []string
	if c.HasInfo {
		keys = append(keys, c.Info+"@"+c.IP)
		if c.HasHost {
			keys = append(keys, c.Info+"@="+c.Host)
		}
	}
	keys = append(keys, c.IP)
	if c.HasHost {
		keys = append(keys, "="+c.Host)
	}
	v6 := strings.IndexByte(c.IP, ':') >= 0
	for n := len(c.IP); n > 0; n-- {
		if ch := c.IP[n-1]; ch == '.' || (v6 && ch == ':' && n > 1) {
			keys = append(keys, c.IP[:n])
		}
	}
	if c.HasHost {
		for i := 0; i < len(c.Host); i++ {
			if c.Host[i] == '.' {
				keys = append(keys, "="+c.Host[i:])
			}
		}
		keys = append(keys, "=")
	}
	return append(keys, "")
}

// Getter is what a rules lookup needs of a cdb (*cdb.Reader has it).
type Getter interface {
	Get(key []byte) ([]byte, bool, error)
}

// LookupRule returns the first rule that applies to c: its key and its
// data. found is false when no key matched (the connection is allowed
// with nothing set). An error (a corrupt or unreadable cdb) must make the
// caller refuse the connection: rules fail closed.
func LookupRule(g Getter, c Client) (key string, data []byte, found bool, err error) {
	for _, k := range RuleKeys(c) {
		d, ok, err := g.Get([]byte(k))
		if err != nil {
			return "", nil, false, err
		}
		if ok {
			return k, d, true, nil
		}
	}
	return "", nil, false, nil
}

// Rule is a decoded rule value.
type Rule struct {
	Deny bool
	// Env holds the variables in file order as NAME=value strings.
	Env []string
}

// DecodeRule reads a stored rule value: NUL-terminated items, "D" for
// deny, "+NAME=value" for a variable. Unknown items, items without '='
// and an unterminated tail are ignored, as tcpserver ignores them.
func DecodeRule(data []byte) Rule {
	var r Rule
	for {
		i := bytes.IndexByte(data, 0)
		if i < 0 {
			return r
		}
		item := data[:i]
		data = data[i+1:]
		if len(item) == 0 {
			continue
		}
		switch item[0] {
		case 'D':
			r.Deny = true
		case '+':
			if bytes.IndexByte(item, '=') > 1 { // a name is needed
				r.Env = append(r.Env, string(item[1:]))
			}
		}
	}
}
