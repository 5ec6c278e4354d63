package tcpserver

import (
	"net/netip"
	"strconv"
	"strings"
)

// connInfo is what tcpserver and tcp-env learn about one connection.
type connInfo struct {
	local, remote netip.AddrPort // IPv4-mapped addresses already unmapped
	zone          string         // IPv6 scope of a link-local peer
	localHost     string
	hasLocalHost  bool
	remoteHost    string
	hasRemoteHost bool
	remoteInfo    string
	hasRemoteInfo bool
}

func newConnInfo(local, remote netip.AddrPort) *connInfo {
	ci := &connInfo{}
	ci.zone = remote.Addr().Zone()
	ci.local = netip.AddrPortFrom(local.Addr().Unmap().WithZone(""), local.Port())
	ci.remote = netip.AddrPortFrom(remote.Addr().Unmap().WithZone(""), remote.Port())
	return ci
}

// v6 says whether the client speaks IPv6 proper. An IPv4 client on a
// dual-stack socket is plain IPv4 (PROTO=TCP, TCPREMOTEIP=1.2.3.4), so
// IPv4 rules keep working.
func (ci *connInfo) v6() bool { return ci.remote.Addr().Is6() }

func (ci *connInfo) client() Client {
	return Client{IP: ci.remote.Addr().String(), Host: ci.remoteHost, HasHost: ci.hasRemoteHost,
		Info: ci.remoteInfo, HasInfo: ci.hasRemoteInfo}
}

// envEdits lists the environment changes for a connection, in the order
// ucspi-tcp makes them: "NAME=value" sets, a bare "NAME" removes (so a
// TCPREMOTEHOST inherited from tcpserver's own environment never leaks
// to a client it does not describe).
//
// An IPv6 client gets what ucspi-tcp6 gives it: the TCP* variables hold
// the compressed IPv6 text ("2001:db8::1", "::1"), PROTO is TCP6, and the
// same values are repeated as TCP6LOCALIP, TCP6REMOTEIP and so on, plus
// TCP6INTERFACE for a link-local peer. For an IPv4 client every TCP6*
// variable is removed.
func (ci *connInfo) envEdits() []string {
	opt := func(name, v string, ok bool) string {
		if ok {
			return name + "=" + v
		}
		return name
	}
	lip, lport := ci.local.Addr().String(), strconv.Itoa(int(ci.local.Port()))
	rip, rport := ci.remote.Addr().String(), strconv.Itoa(int(ci.remote.Port()))
	e := []string{
		"PROTO=TCP",
		"TCPLOCALIP=" + lip,
		"TCPLOCALPORT=" + lport,
		opt("TCPLOCALHOST", ci.localHost, ci.hasLocalHost),
		"TCPREMOTEIP=" + rip,
		"TCPREMOTEPORT=" + rport,
		opt("TCPREMOTEHOST", ci.remoteHost, ci.hasRemoteHost),
		opt("TCPREMOTEINFO", ci.remoteInfo, ci.hasRemoteInfo),
	}
	v6 := ci.v6()
	six := func(name, v string, ok bool) string { return opt(name, v, ok && v6) }
	if v6 {
		e = append(e, "PROTO=TCP6")
	}
	return append(e,
		six("TCP6LOCALIP", lip, true),
		six("TCP6LOCALHOST", ci.localHost, ci.hasLocalHost),
		six("TCP6LOCALPORT", lport, true),
		six("TCP6REMOTEIP", rip, true),
		six("TCP6REMOTEPORT", rport, true),
		six("TCP6REMOTEHOST", ci.remoteHost, ci.hasRemoteHost),
		six("TCP6INTERFACE", ci.zone, ci.zone != ""),
	)
}

// applyEnv applies edits to env the way djb's pathexec does, so that a
// program sees its variables in the same order under our tcpserver as
// under ucspi-tcp's: for each edit the first variable of that name is
// removed (the last variable moves into its place) and a "NAME=value"
// edit is appended.
func applyEnv(env []string, edits []string) []string {
	e := append([]string(nil), env...)
	for _, ed := range edits {
		name, _, set := strings.Cut(ed, "=")
		for t := range e {
			if n, _, _ := strings.Cut(e[t], "="); n == name {
				e[t] = e[len(e)-1]
				e = e[:len(e)-1]
				break
			}
		}
		if set {
			e = append(e, ed)
		}
	}
	return e
}

// safeField is a field of a -v line as ucspi-tcp writes it: bytes below
// 33 or above 126, '%' and ':' become '?', and at most 100 bytes are
// kept, "..." marking the cut.
func safeField(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && i < 100; i++ {
		c := s[i]
		if c < 33 || c > 126 || c == '%' || c == ':' {
			c = '?'
		}
		b.WriteByte(c)
	}
	if len(s) >= 100 { // ucspi-tcp marks a field of exactly 100 bytes too
		b.WriteString("...")
	}
	return b.String()
}
