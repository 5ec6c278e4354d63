// Package addr holds the small address rules every qmail program shares:
// splitting at the last '@', qmail's quote/quote2 (spec §0.4), and the
// checks that keep NUL, CR and LF out of envelope fields, where they
// would inject records into qmail's NUL-separated files and pipes
// (hardening.md finding 5).
package addr

import "strings"

// Split splits an address at its last '@'. If there is no '@', domain is
// "" and hasAt is false.
func Split(a string) (local, domain string, hasAt bool) {
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return a, "", false
	}
	return a[:i], a[i+1:], true
}

// Domain returns the part after the last '@', or "".
func Domain(a string) string {
	_, d, _ := Split(a)
	return d
}

func isAtomChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// atomOK says whether a local part can be written without quotes: it is
// non-empty, ASCII atom characters and dots, with no leading, trailing or
// doubled dot.
func atomOK(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if s[i+1] == '.' {
				return false
			}
			continue
		}
		if c >= 128 || !isAtomChar(c) {
			return false
		}
	}
	return true
}

// Quote writes a local part as qmail writes it into headers and SMTP:
// bare if it is a dot-atom, else in double quotes with '\' before CR, LF,
// '"' and '\'.
func Quote(box string) string {
	if atomOK(box) {
		return box
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(box); i++ {
		c := box[i]
		if c == '\r' || c == '\n' || c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}

// Quote2 quotes the part before the last '@' and keeps "@domain" as it
// is; the empty address stays empty.
func Quote2(a string) string {
	if a == "" {
		return ""
	}
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return Quote(a)
	}
	return Quote(a[:i]) + a[i:]
}

// LogSafe makes text safe for one qmail-send log line: LF becomes '/',
// and any byte below 33 or above 126, and '%', becomes '_'.
func LogSafe(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c == '\n':
			b[i] = '/'
		case c < 33 || c > 126 || c == '%':
			b[i] = '_'
		}
	}
	return string(b)
}

// EnvelopeSafe reports whether an address may travel in an envelope:
// it holds no NUL, CR or LF.
func EnvelopeSafe(a string) bool {
	return !strings.ContainsAny(a, "\x00\r\n")
}
