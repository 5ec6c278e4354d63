package smtpd

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Replies of the ESMTP extensions.
const (
	msgTooBig       = "sorry, that message size exceeds my databytes limit (#5.3.4)"
	msgBadSize      = "malformed SIZE parameter (#5.5.4)"
	msgNeedUTF8     = "sorry, 8-bit addresses need SMTPUTF8 (#5.6.7)"
	msgBadUTF8      = "sorry, that address is not valid UTF-8 (#5.6.7)"
	msgTooManyRcpts = "sorry, too many recipients (#4.5.3)"
)

// ehloKeywords are the extensions EHLO announces after the greeting.
// With no extension switched on this is qmail 1.03's list exactly.
func (c *Conn) ehloKeywords() []string {
	kw := []string{"PIPELINING", "8BITMIME"}
	if c.cfg.databytes > 0 {
		kw = append(kw, "SIZE "+strconv.FormatInt(c.cfg.databytes, 10))
	}
	if c.cfg.ext.enhanced {
		kw = append(kw, "ENHANCEDSTATUSCODES")
	}
	if c.cfg.ext.smtputf8 {
		kw = append(kw, "SMTPUTF8")
	}
	if c.tlsOffered() {
		kw = append(kw, "STARTTLS")
	}
	if c.authOffered() {
		// The second form is for old Outlook clients, as the patch does.
		kw = append(kw, "AUTH LOGIN PLAIN", "AUTH=LOGIN PLAIN")
	}
	return kw
}

// enhancedCode is the RFC 2034 code to put before a reply's text, or ""
// when none applies: only with control/enhancedstatuscodes, only after
// EHLO, only on 2xx, 4xx and 5xx replies. The code is the "(#x.y.z)"
// qmail already writes at the end of its texts when its class matches
// the reply's, else x.0.0. The "(#x.y.z)" stays, for log watchers.
func (c *Conn) enhancedCode(code int, msg string) string {
	class := code / 100
	if !c.cfg.ext.enhanced || !c.ehlo || (class != 2 && class != 4 && class != 5) {
		return ""
	}
	if e, ok := qmailStatus(msg); ok && int(e[0]-'0') == class {
		return e
	}
	return strconv.Itoa(class) + ".0.0"
}

// qmailStatus finds the "(#x.y.z)" in a reply text.
func qmailStatus(msg string) (string, bool) {
	i := strings.LastIndex(msg, "(#")
	if i < 0 {
		return "", false
	}
	rest := msg[i+2:]
	j := strings.IndexByte(rest, ')')
	if j < 0 {
		return "", false
	}
	e := rest[:j]
	parts := strings.Split(e, ".")
	if len(parts) != 3 {
		return "", false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || strings.Trim(p, "0123456789") != "" {
			return "", false
		}
	}
	if len(parts[0]) != 1 {
		return "", false
	}
	return e, true
}

// mailParams checks the ESMTP parameters of MAIL (RFC 1870 SIZE,
// RFC 6531 SMTPUTF8). Unknown parameters are ignored, as qmail ignored
// them all. code is 0 when the parameters are acceptable.
func (c *Conn) mailParams(rest string) (code int, msg string, smtputf8 bool) {
	for _, p := range strings.Fields(rest) {
		key, val, _ := strings.Cut(p, "=")
		switch asciiLower(key) {
		case "size":
			if c.cfg.databytes == 0 {
				continue // SIZE was not advertised: qmail ignored it
			}
			n, err := strconv.ParseUint(val, 10, 63)
			if err != nil || val[0] == '+' {
				return 501, msgBadSize, false
			}
			if int64(n) > c.cfg.databytes {
				return 552, msgTooBig, false
			}
		case "smtputf8":
			smtputf8 = c.cfg.ext.smtputf8
		}
	}
	return 0, "", smtputf8
}

// check8bit applies the SMTPUTF8 rule to an address: with control/smtputf8
// an address with 8-bit bytes needs SMTPUTF8 on MAIL and must be UTF-8.
// Without it, 8-bit addresses pass, as in qmail 1.03.
func (c *Conn) check8bit(a string, smtputf8 bool) (int, string) {
	if !c.cfg.ext.smtputf8 || !has8bit(a) {
		return 0, ""
	}
	if !smtputf8 {
		return 553, msgNeedUTF8
	}
	if !utf8.ValidString(a) {
		return 553, msgBadUTF8
	}
	return 0, ""
}

func has8bit(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}
