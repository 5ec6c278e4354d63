package send

import (
	"strings"

	"goqmail/internal/control"
)

// rewriter classifies recipients as qmail-send does (spec §3.3). Its
// tables are reread on HUP.
type rewriter struct {
	envnoathost string
	locals      control.Set
	percenthack control.Set
	vdoms       control.Map
}

// rewrite returns the address to deliver to and whether it is local.
// The address is never lowercased.
func (rw *rewriter) rewrite(a string) (string, bool) {
	if !strings.Contains(a, "@") {
		a = a + "@" + rw.envnoathost
	}
	for {
		at := strings.LastIndexByte(a, '@')
		if !rw.percenthack.Has(a[at+1:]) {
			break
		}
		pct := strings.LastIndexByte(a[:at], '%')
		if pct < 0 {
			break
		}
		a = a[:pct] + "@" + a[pct+1:at]
	}
	at := strings.LastIndexByte(a, '@')
	domain := a[at+1:]
	if rw.locals.Has(domain) {
		return a, true
	}
	if v, ok := rw.vdoms.Get(a); ok {
		return rw.virtual(a, v)
	}
	if v, ok := rw.lookupDomain(domain); ok {
		return rw.virtual(a, v)
	}
	return a, false
}

func (rw *rewriter) virtual(a, prepend string) (string, bool) {
	if prepend == "" {
		return a, false
	}
	return prepend + "-" + a, true
}

// lookupDomain tries domain, then each suffix starting at a '.', longest
// first, then the catch-all empty key.
func (rw *rewriter) lookupDomain(domain string) (string, bool) {
	if v, ok := rw.vdoms.Get(domain); ok {
		return v, true
	}
	for i := 0; i < len(domain); i++ {
		if domain[i] == '.' {
			if v, ok := rw.vdoms.Get(domain[i:]); ok {
				return v, true
			}
		}
	}
	return rw.vdoms.Get("")
}

// stripPrepend undoes a virtual-domain prepend for a bounce report:
// "P-rest" becomes "rest" when rest's domain maps to P through a domain,
// suffix or catch-all entry (not a user@domain entry).
func (rw *rewriter) stripPrepend(a string) string {
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a
	}
	v, ok := rw.lookupDomain(a[at+1:])
	if !ok || v == "" {
		return a
	}
	if strings.HasPrefix(a, v+"-") {
		return a[len(v)+1:]
	}
	return a
}
