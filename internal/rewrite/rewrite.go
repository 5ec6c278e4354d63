// Package rewrite is how qmail-send decides where a recipient goes (spec
// §3.3): envnoathost for addresses without '@', the percent hack, locals,
// and virtualdomains (user@domain entries, the domain, each '.suffix' and
// the catch-all). qmail-send uses it to route every recipient;
// qmail-smtpd's RCPT-time check (internal/rcptcheck) uses the same rules
// so that it never disagrees with delivery.
package rewrite

import (
	"strings"

	"goqmail/internal/control"
)

// Rewriter holds the control files the rewriting reads.
type Rewriter struct {
	EnvNoAtHost string
	Locals      control.Set
	PercentHack control.Set
	VirtualDoms control.Map
}

// Load reads envnoathost, locals, percenthack and virtualdomains.
func Load(d *control.Dir) (*Rewriter, error) {
	rw := &Rewriter{}
	var err error
	if rw.EnvNoAtHost, err = d.LineMe("envnoathost", "envnoathost"); err != nil {
		return nil, err
	}
	if rw.PercentHack, _, err = d.ReadSet("percenthack"); err != nil {
		return nil, err
	}
	if err := rw.LoadLocals(d); err != nil {
		return nil, err
	}
	return rw, nil
}

// LoadLocals rereads the two files qmail-send rereads on HUP: locals and
// virtualdomains. On error rw is unchanged.
func (rw *Rewriter) LoadLocals(d *control.Dir) error {
	locals, err := d.Locals()
	if err != nil {
		return err
	}
	vdoms, _, err := d.ReadMap("virtualdomains")
	if err != nil {
		return err
	}
	rw.Locals = control.NewSet(locals)
	rw.VirtualDoms = vdoms
	return nil
}

// Rewrite returns the address to deliver to and whether it is local. The
// address is never lowercased.
func (rw *Rewriter) Rewrite(a string) (string, bool) {
	if !strings.Contains(a, "@") {
		a = a + "@" + rw.EnvNoAtHost
	}
	a = PercentHack(rw.PercentHack.Has, a)
	at := strings.LastIndexByte(a, '@')
	domain := a[at+1:]
	if rw.Locals.Has(domain) {
		return a, true
	}
	if v, ok := rw.VirtualDoms.Get(a); ok {
		return virtual(a, v)
	}
	if v, ok := rw.lookupDomain(domain); ok {
		return virtual(a, v)
	}
	return a, false
}

// PercentHack applies qmail-send's percent hack: while the domain is one
// for which isHack is true and the local part holds a '%', the last '%'
// becomes the '@' and the old domain is dropped.
func PercentHack(isHack func(domain string) bool, a string) string {
	for {
		at := strings.LastIndexByte(a, '@')
		if at < 0 || !isHack(a[at+1:]) {
			return a
		}
		pct := strings.LastIndexByte(a[:at], '%')
		if pct < 0 {
			return a
		}
		a = a[:pct] + "@" + a[pct+1:at]
	}
}

func virtual(a, prepend string) (string, bool) {
	if prepend == "" {
		return a, false
	}
	return prepend + "-" + a, true
}

// lookupDomain tries domain, then each suffix starting at a '.', longest
// first, then the catch-all empty key.
func (rw *Rewriter) lookupDomain(domain string) (string, bool) {
	if v, ok := rw.VirtualDoms.Get(domain); ok {
		return v, true
	}
	for i := 0; i < len(domain); i++ {
		if domain[i] == '.' {
			if v, ok := rw.VirtualDoms.Get(domain[i:]); ok {
				return v, true
			}
		}
	}
	return rw.VirtualDoms.Get("")
}

// StripPrepend undoes a virtual-domain prepend for a bounce report:
// "P-rest" becomes "rest" when rest's domain maps to P through a domain,
// suffix or catch-all entry (not a user@domain entry).
func (rw *Rewriter) StripPrepend(a string) string {
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
