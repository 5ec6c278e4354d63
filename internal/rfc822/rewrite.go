package rfc822

import "strings"

// Hosts are the names qmail-inject completes addresses with
// (control/defaulthost, defaultdomain, plusdomain or their variables).
type Hosts struct {
	DefaultHost, DefaultDomain, PlusDomain string
}

// hostTokens tokenises a configured host name; one that does not
// tokenise becomes a single atom.
func hostTokens(s string) []Token {
	t, err := Tokenize(s)
	if err != nil {
		return []Token{{Kind: Atom, Raw: s, Text: s}}
	}
	return t
}

func special(c byte) Token {
	s := string([]byte{c})
	return Token{Kind: Special, Raw: s, Text: s}
}

func lastAt(addr []Token) int {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i].is('@') {
			return i
		}
	}
	return -1
}

// Rewrite completes one address as qmail-inject does (spec §13.3):
// "<>" and anything ending in "@[]" unchanged; a source route removed;
// one trailing "." and then one trailing "@" dropped; "@defaulthost"
// added when there is no "@"; a host ending in "+" loses the "+" and
// gets ".plusdomain"; a host without a dot (and not a literal) gets
// ".defaultdomain". The input is not modified.
func (h Hosts) Rewrite(in []Token) []Token {
	addr := append([]Token(nil), in...)
	n := len(addr)
	if n == 0 {
		return addr
	}
	if n >= 2 && addr[n-1].Kind == Literal && addr[n-1].Text == "[]" && addr[n-2].is('@') {
		return addr
	}
	if addr[0].is('@') {
		for i, t := range addr {
			if t.is(':') {
				addr = addr[i+1:]
				break
			}
		}
	}
	if n := len(addr); n > 0 && addr[n-1].is('.') {
		addr = addr[:n-1]
	}
	if n := len(addr); n > 0 && addr[n-1].is('@') {
		addr = addr[:n-1]
	}
	if len(addr) == 0 {
		return addr
	}
	if lastAt(addr) < 0 {
		addr = append(addr, special('@'))
		addr = append(addr, hostTokens(h.DefaultHost)...)
	}
	if last := addr[len(addr)-1]; last.Kind == Atom && strings.HasSuffix(last.Text, "+") && lastAt(addr) < len(addr)-1 {
		s := strings.TrimSuffix(last.Text, "+")
		addr = addr[:len(addr)-1]
		if s != "" {
			addr = append(addr, Token{Kind: Atom, Raw: s, Text: s})
		}
		addr = append(addr, special('.'))
		addr = append(addr, hostTokens(h.PlusDomain)...)
	}
	host := addr[lastAt(addr)+1:]
	dotted := false
	for _, t := range host {
		dotted = dotted || t.is('.')
	}
	if !dotted && !(len(host) > 0 && host[len(host)-1].Kind == Literal) {
		addr = append(addr, special('.'))
		addr = append(addr, hostTokens(h.DefaultDomain)...)
	}
	return addr
}
