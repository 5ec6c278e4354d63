package smtpout

import (
	"context"
	"errors"
	"net/netip"
	"sort"
)

// target is one address to try, with the preference of the MX that gave
// it and the name to verify a certificate against.
type target struct {
	Addr netip.Addr
	Pref int
	Name string
}

// Errors of the lookup, each with qmail's report (see lookupFailure).
var (
	errSoft   = errors.New("temporary DNS failure")
	errNoAddr = errors.New("no mail exchanger or address")
	errNullMX = errors.New("null MX")
)

// hostAddrs looks up the A records of name, then (goqmail) its AAAA
// records. A name that does not exist is hard; a temporary failure of one
// query is tolerated if the other gave addresses.
func hostAddrs(ctx context.Context, r Resolver, name string) ([]netip.Addr, error) {
	v4, err4 := r.LookupA(ctx, name)
	if IsHard(err4) {
		return nil, ErrNoSuchHost
	}
	v6, err6 := r.LookupAAAA(ctx, name)
	addrs := append(v4, v6...)
	if len(addrs) == 0 {
		if err4 != nil || (err6 != nil && !IsHard(err6)) {
			return nil, errSoft
		}
		if IsHard(err6) {
			return nil, ErrNoSuchHost
		}
	}
	return addrs, nil
}

// mxTargets builds the address list for host (spec §9.2): MX records in
// increasing preference, equal preferences in random order (shuffle),
// each MX host's addresses in answer order; no MX (or a name without MX
// that answers NXDOMAIN) falls back to the host's own addresses with
// preference 0.
func mxTargets(ctx context.Context, r Resolver, host string, shuffle func([]MX)) ([]target, error) {
	if a, ok := literal(host); ok {
		return []target{{Addr: a, Pref: 0}}, nil
	}
	mxs, err := r.LookupMX(ctx, host)
	if err != nil && !IsHard(err) {
		return nil, errSoft
	}
	if len(mxs) == 0 {
		addrs, err := hostAddrs(ctx, r, host)
		if err != nil {
			return nil, err
		}
		var out []target
		for _, a := range addrs {
			if !unusable(a) {
				out = append(out, target{Addr: a, Name: host})
			}
		}
		if len(out) == 0 {
			return nil, errNoAddr
		}
		return out, nil
	}
	if len(mxs) == 1 && mxs[0].Host == "" {
		return nil, errNullMX
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	for i := 0; i < len(mxs); {
		j := i
		for j < len(mxs) && mxs[j].Pref == mxs[i].Pref {
			j++
		}
		if shuffle != nil {
			shuffle(mxs[i:j])
		}
		i = j
	}
	var out []target
	soft := false
	for _, mx := range mxs {
		if a, ok := literal(mx.Host); ok && a.Is4() {
			if !unusable(a) {
				out = append(out, target{Addr: a, Pref: int(mx.Pref), Name: mx.Host})
			}
			continue
		}
		if mx.Host == "" {
			continue
		}
		addrs, err := hostAddrs(ctx, r, mx.Host)
		if err != nil {
			if !IsHard(err) {
				soft = true
			}
			continue
		}
		for _, a := range addrs {
			if !unusable(a) {
				out = append(out, target{Addr: a, Pref: int(mx.Pref), Name: mx.Host})
			}
		}
	}
	if len(out) == 0 {
		if soft {
			return nil, errSoft
		}
		return nil, errNoAddr
	}
	return out, nil
}

// eligible drops the addresses qmail-remote must not use: those whose
// preference is not below prefme, the lowest preference at which one of
// my own addresses appears (100000 when none does; 300000 for a relay,
// so that a route to this very host is followed).
func eligible(ts []target, me map[netip.Addr]bool, relay bool) []target {
	prefme := 100000
	if relay {
		prefme = 300000
	} else {
		for _, t := range ts {
			if me[t.Addr] && t.Pref < prefme {
				prefme = t.Pref
			}
		}
	}
	var out []target
	for _, t := range ts {
		if t.Pref < prefme {
			out = append(out, t)
		}
	}
	return out
}
