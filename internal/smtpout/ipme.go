package smtpout

import (
	"net"
	"net/netip"
)

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
