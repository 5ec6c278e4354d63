package tcpserver

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
)

// ParseError is a rules line tcprules cannot parse. Its text is
// tcprules' own: "unable to parse this line: LINE".
type ParseError struct {
	Line []byte // the line, trailing newline, spaces and tabs removed
}

func (e *ParseError) Error() string {
	return "unable to parse this line: " + string(e.Line)
}

// CompileRules reads a rules file as tcprules does (spec §19.2) and calls
// add with each cdb record, in the order tcprules writes them. It returns
// a *ParseError for the first bad line, or the read error.
//
// Lines starting with '#' are comments; trailing newlines, spaces and
// tabs are removed; a line without ':' is ignored; the address before the
// first ':' is kept byte for byte. A final line without a newline counts.
func CompileRules(r io.Reader, add func(key, data []byte) error) error {
	br := bufio.NewReader(r)
	for {
		line, rerr := br.ReadBytes('\n')
		if rerr != nil && rerr != io.EOF {
			return rerr
		}
		if len(line) == 0 {
			return nil
		}
		if err := compileLine(line, add); err != nil {
			return err
		}
		if rerr == io.EOF {
			return nil
		}
	}
}

func compileLine(line []byte, add func(key, data []byte) error) error {
	if line[0] == '#' {
		return nil
	}
	line = bytes.TrimRight(line, "\n \t")
	colon := bytes.IndexByte(line, ':')
	if colon < 0 {
		return nil
	}
	data, ok := parseInstructions(line[colon+1:])
	if !ok {
		colon, data, ok = ipv6Split(line)
	}
	if !ok {
		return &ParseError{Line: line}
	}
	keys, ok := expandAddress(line[:colon])
	if !ok {
		return &ParseError{Line: line}
	}
	for _, k := range keys {
		if err := add(k, data); err != nil {
			return err
		}
	}
	return nil
}

// parseInstructions turns "allow" or "deny" followed by ,NAME=QvalueQ
// items (Q any byte) into the stored value: "D\0" for deny, then
// "+NAME=value\0" per variable.
func parseInstructions(s []byte) ([]byte, bool) {
	var data []byte
	switch {
	case bytes.HasPrefix(s, []byte("allow")):
		s = s[len("allow"):]
	case bytes.HasPrefix(s, []byte("deny")):
		data = append(data, 'D', 0)
		s = s[len("deny"):]
	default:
		return nil, false
	}
	for len(s) > 0 {
		if s[0] != ',' {
			return nil, false
		}
		eq := bytes.IndexByte(s, '=')
		if eq < 0 {
			return nil, false
		}
		name := s[1:eq]
		s = s[eq+1:]
		if len(s) == 0 {
			return nil, false
		}
		delim := s[0]
		s = s[1:]
		end := bytes.IndexByte(s, delim)
		if end < 0 {
			return nil, false
		}
		data = append(data, '+')
		data = append(data, name...)
		data = append(data, '=')
		data = append(data, s[:end]...)
		data = append(data, 0)
		s = s[end+1:]
	}
	return data, true
}

// expandAddress returns the keys for one address. An address with no '='
// and no '@' but with a '-' is a range: the dot-separated piece holding
// the first '-' is "LOW-HIGH" (decimal, either may be empty for 0, HIGH
// capped at 255) and stands for one key per number, written without
// leading zeros: "1.2.3.37-43", "10.2-3.". Anything else is one key.
func expandAddress(a []byte) ([][]byte, bool) {
	dash := bytes.IndexByte(a, '-')
	if dash < 0 || bytes.IndexByte(a, '=') >= 0 || bytes.IndexByte(a, '@') >= 0 {
		return [][]byte{a}, true
	}
	start := bytes.LastIndexByte(a[:dash], '.') + 1
	end := len(a)
	if i := bytes.IndexByte(a[dash+1:], '.'); i >= 0 {
		end = dash + 1 + i
	}
	low, ok1 := decimal(a[start:dash])
	high, ok2 := decimal(a[dash+1 : end])
	if !ok1 || !ok2 {
		return nil, false
	}
	if high > 255 {
		high = 255
	}
	var keys [][]byte
	for n := low; n <= high; n++ {
		k := append([]byte{}, a[:start]...)
		k = strconv.AppendUint(k, n, 10)
		k = append(k, a[end:]...)
		keys = append(keys, k)
	}
	return keys, true
}

// decimal reads digits as tcprules does: every byte must be a digit, the
// empty string is 0, and an overlong number wraps around modulo 2^64
// (as C's unsigned long does), which tests against tcprules confirm.
func decimal(s []byte) (uint64, bool) {
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// ipv6Split is our one extension to tcprules' syntax, for IPv6 rules:
// a line that does not parse at its first ':' ("::1:allow",
// "2001:db8::deny") is tried again at the first ":allow" or ":deny",
// which no IPv6 address contains. Lines ucspi-tcp accepts are untouched,
// so files stay byte-compatible; only lines it rejects gain a meaning.
func ipv6Split(line []byte) (int, []byte, bool) {
	i := bytes.Index(line, []byte(":allow"))
	if j := bytes.Index(line, []byte(":deny")); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 || bytes.IndexByte(line[:i], ':') < 0 {
		return 0, nil, false
	}
	data, ok := parseInstructions(line[i+1:])
	return i, data, ok
}
