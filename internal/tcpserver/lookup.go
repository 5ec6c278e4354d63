package tcpserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
)

// dnsTimeout bounds one name lookup; the resolver's own retries
// (resolv.conf) happen inside it.
const dnsTimeout = 30 * time.Second

// reverseName is the PTR name of ip, lowercased and without the final
// dot, as djb's dns library gives it. soft is set when the lookup failed
// for a temporary reason (tcp-env then says "softdnserror"). The
// standard resolver also reads /etc/hosts, so 127.0.0.1 is usually
// "localhost" where ucspi-tcp (DNS only) finds nothing.
func reverseName(ip netip.Addr) (name string, ok, soft bool) {
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, ip.String())
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && !de.IsNotFound && (de.IsTemporary || de.IsTimeout) {
			return "", false, true
		}
		return "", false, false
	}
	for _, n := range names {
		n = strings.ToLower(strings.TrimSuffix(n, "."))
		if n != "" {
			return n, true, false
		}
	}
	return "", false, false
}

// forwardConfirms is -p: does name have ip among its addresses?
func forwardConfirms(name string, ip netip.Addr) bool {
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", name)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a.Unmap() == ip {
			return true
		}
	}
	return false
}

// identMax bounds an ident answer; RFC 1413 user ids are short.
const identMax = 1024

// ident asks the client's RFC 1413 server (port 113) who owns the
// connection, from our local address, giving up after timeout. A refused
// connection fails at once. The answer "PORTS : USERID : OS : ID" gives
// ID with surrounding blanks removed; any other answer (ERROR, garbage,
// a NUL byte) gives nothing.
func ident(local, remote netip.AddrPort, timeout time.Duration) (string, bool) {
	if timeout <= 0 {
		return "", false
	}
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: local.Addr().AsSlice()}}
	c, err := d.Dial("tcp", netip.AddrPortFrom(remote.Addr(), 113).String())
	if err != nil {
		return "", false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(c, "%d , %d\r\n", remote.Port(), local.Port()); err != nil {
		return "", false
	}
	line, err := bufio.NewReaderSize(c, identMax).ReadSlice('\n')
	if err != nil && len(line) == 0 {
		return "", false
	}
	return parseIdent(string(line))
}

func parseIdent(line string) (string, bool) {
	parts := strings.SplitN(line, ":", 4)
	if len(parts) < 4 || strings.TrimSpace(parts[1]) != "USERID" {
		return "", false
	}
	id := strings.Trim(parts[3], " \t\r\n")
	if id == "" || strings.IndexByte(id, 0) >= 0 {
		return "", false
	}
	return id, true
}
