package smtpout

import (
	"net"
	"net/netip"

	"goqmail/internal/control"
)

// readMoreIPMe reads control/moreipme: addresses of this host that no
// interface holds (a public address behind NAT, a load balancer's), one
// per line, as the moreipme patch to qmail has them. An MX pointing at
// one of them is this host, so qmail-remote gives qmail's "listed as a
// best-preference MX" bounce instead of sending the message round
// through the NAT to itself until the hop count bounces it.
func readMoreIPMe(d *control.Dir) ([]netip.Addr, string) {
	lines, _, err := d.List("moreipme")
	if err != nil {
		return nil, textControls
	}
	var out []netip.Addr
	for _, l := range lines {
		a, err := netip.ParseAddr(l)
		if err != nil {
			return nil, "Zcontrol/moreipme: " + oneLine(l) + " is not an IP address. (#4.3.0)\n"
		}
		out = append(out, a.Unmap())
	}
	return out, ""
}

// unusable says whether an address from DNS can never be a mail
// exchanger: link-local (valid only on one link, so whichever host
// answers is an accident of where we are), multicast and broadcast.
// qmail 1.03 connected to them; goqmail skips them, so a domain that has
// only such addresses bounces as having no address (hardening.md §3.9).
// Routes in smtproutes are the administrator's and are never checked.
func unusable(a netip.Addr) bool {
	return a.IsLinkLocalUnicast() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// ipme returns the addresses of every interface that is up, and 0.0.0.0
// and :: (which reach this host too, RFC 1122).
func ipme() (map[netip.Addr]bool, error) {
	me := map[netip.Addr]bool{
		netip.IPv4Unspecified(): true,
		netip.IPv6Unspecified(): true,
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok {
					me[ip.Unmap()] = true
				}
			}
		}
	}
	return me, nil
}
