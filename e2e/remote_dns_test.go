package e2e

import (
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// DNS faults of the hardening spec §3.9, served by real servers in the
// lab of remote_test.go: nsd answering SERVFAIL for a zone it has no
// zone file for, a server that reads queries and never answers, a host
// with nothing listening on 53/udp, answers larger than 512 and than
// 4096 bytes (so that the resolver must use EDNS0 and then TCP), and
// IPv6-only mail exchangers.

// longMX returns n MX records of preference 20 for owner, each target a
// name of about 185 bytes that no compression pointer can shorten (only
// "test." is shared) and that does not exist (NXDOMAIN for its A query).
func longMX(owner string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		var labels []string
		for _, c := range "abc" {
			labels = append(labels, fmt.Sprintf("%c%02d%s", c, i, strings.Repeat("x", 57)))
		}
		fmt.Fprintf(&b, "%s IN MX 20 %s.test.\n", owner, strings.Join(labels, "."))
	}
	return b.String()
}

const (
	mediumMX = 10 // answer of about 2 kB: EDNS0 over UDP suffices
	bigMX    = 30 // answer of about 6 kB: truncated over UDP, TCP needed
)

var dnsZone = `$ORIGIN test.
$TTL 60
@          IN SOA  ns.test. root.test. 1 3600 600 86400 60
@          IN NS   ns.test.
ns         IN A    10.77.0.53
src        IN A    10.77.0.1
mx2        IN A    10.77.0.20
mx6        IN AAAA fd77::20
v6mx       IN MX   10 mx6.test.
v6only     IN AAAA fd77::20
sfmx       IN MX   10 mx.broken.
sfmix      IN MX   10 mx.broken.
sfmix      IN MX   20 mx2.test.
sfgone     IN MX   10 mx.broken.
sfgone     IN MX   20 nosuch.test.
medium     IN MX   10 mx2.test.
` + longMX("medium", mediumMX) + `big        IN MX   10 mx2.test.
` + longMX("big", bigMX)

const softDNS = "ZSorry, I couldn't find any host by that name. (#4.1.2)\n|"

func TestRemoteDNSFaults(t *testing.T) {
	lab := newRemoteLab(t, "gqd", [][2]string{
		{"mx2", "10.77.0.20"}, {"mx6", "fd77::20"}, {"silent", "10.77.0.54"}, {"refused", "10.77.0.55"},
	}, []labZone{{"test", dnsZone}, {"broken", ""}})
	lab.ip("-n", lab.ns("src"), "addr", "add", "fd77::1/64", "dev", "eth0", "nodad")

	go sink(listenIn(t, lab.ns("mx2"), "10.77.0.20:25"), "mx2")
	go sink(listenIn(t, lab.ns("mx6"), "[fd77::20]:25"), "mx6")

	// "silent" reads DNS queries and never answers.
	var silent net.PacketConn
	var err error
	if e := inNetns(lab.ns("silent"), func() { silent, err = net.ListenPacket("udp", "10.77.0.54:53") }); e != nil {
		err = e
	}
	if err != nil {
		t.Fatalf("listen in silent: %v", err)
	}
	t.Cleanup(func() { silent.Close() })
	var swallowed atomic.Int32
	go func() {
		buf := make([]byte, 4096)
		for {
			if _, _, err := silent.ReadFrom(buf); err != nil {
				return
			}
			swallowed.Add(1)
		}
	}()

	// The servers really behave as the rows assume.
	{
		in, err := lab.query("10.77.0.53", "x.broken", dns.TypeMX, 4096, false)
		if err != nil {
			t.Fatalf("MX x.broken: %v", err)
		}
		if in.Rcode != dns.RcodeServerFailure {
			t.Fatalf("nsd answered %s, not SERVFAIL, for a zone without zone file (did nsd change?); the SERVFAIL rows prove nothing",
				dns.RcodeToString[in.Rcode])
		}
		// medium: more than 512 bytes, less than 4096
		in, err = lab.query("10.77.0.53", "medium.test", dns.TypeMX, 0, false)
		if err != nil || !in.Truncated {
			t.Errorf("medium.test over UDP without EDNS0 is not truncated (%v): the answer fits 512 bytes", err)
		}
		in, err = lab.query("10.77.0.53", "medium.test", dns.TypeMX, 4096, false)
		if err != nil || in.Truncated || len(in.Answer) != mediumMX+1 {
			t.Errorf("medium.test over UDP with EDNS0 4096: %v, want %d MX, not truncated; got %v", err, mediumMX+1, in)
		} else if n := in.Len(); n <= 512 || n > 4096 {
			t.Errorf("medium.test answer is %d bytes, want 512 < n <= 4096", n)
		} else {
			t.Logf("medium.test MX: %d bytes over UDP", n)
		}
		// big: truncated even with EDNS0 4096, complete over TCP
		in, err = lab.query("10.77.0.53", "big.test", dns.TypeMX, 4096, false)
		if err != nil || !in.Truncated {
			t.Errorf("big.test over UDP with EDNS0 4096 is not truncated (%v): the TCP fallback is not tested", err)
		} else {
			for _, rr := range in.Answer {
				if mx, ok := rr.(*dns.MX); ok && mx.Mx == "mx2.test." {
					t.Errorf("the truncated UDP answer for big.test names mx2.test: delivery does not prove the TCP fallback")
				}
			}
		}
		in, err = lab.query("10.77.0.53", "big.test", dns.TypeMX, 4096, true)
		if err != nil || len(in.Answer) != bigMX+1 {
			t.Errorf("big.test over TCP: %v, want %d MX; got %v", err, bigMX+1, in)
		} else if n := in.Len(); n <= 4096 {
			t.Errorf("big.test answer is %d bytes, want > 4096", n)
		} else {
			t.Logf("big.test MX: %d bytes over TCP", n)
		}
		// IPv6-only host: NOERROR without A, one AAAA
		in, err = lab.query("10.77.0.53", "mx6.test", dns.TypeA, 4096, false)
		if err != nil || in.Rcode != dns.RcodeSuccess || len(in.Answer) != 0 {
			t.Errorf("A mx6.test: want NOERROR/NODATA, got %v %v", in, err)
		}
	}

	ok2 := "r|K10.77.0.20 accepted message.\nRemote host said: 250 accepted by mx2\n|"
	ok6 := "r|Kfd77::20 accepted message.\nRemote host said: 250 accepted by mx6\n|"
	rows := []struct {
		name, resolv, host, want string
	}{
		// SERVFAIL on the MX query: a deferral, never a bounce
		{"servfail-mx", "", "x.broken", softDNS},
		// SERVFAIL on the only MX target's address query
		{"servfail-target", "", "sfmx.test", softDNS},
		// one target fails temporarily, the other has an address
		{"servfail-one-target", "", "sfmix.test", ok2},
		// one target fails temporarily, the other does not exist
		{"servfail-target-nxdomain", "", "sfgone.test", softDNS},
		// a server that never answers
		{"timeout", "nameserver 10.77.0.54\noptions timeout:1 attempts:1\n", "big.test", softDNS},
		// nothing listens on 53/udp (ICMP port unreachable)
		{"refused", "nameserver 10.77.0.55\noptions timeout:1 attempts:1\n", "big.test", softDNS},
		// the first server never answers, the second does: each of the
		// three queries (MX, A, AAAA) waits a second for the first
		{"first-server-silent", "nameserver 10.77.0.54\nnameserver 10.77.0.53\noptions timeout:1 attempts:1\n", "mx2.test", ok2},
		// 512 < answer <= 4096 bytes: EDNS0 over UDP
		{"medium-answer", "", "medium.test", ok2},
		// answer > 4096 bytes: truncated over UDP, repeated over TCP
		{"big-answer", "", "big.test", ok2},
		// the only MX has only an AAAA record
		{"ipv6-mx", "", "v6mx.test", ok6},
		// no MX, only an AAAA record: implicit MX
		{"ipv6-implicit-mx", "", "v6only.test", ok6},
	}
	// (no subtests: lab's helpers fail the test that made the lab)
	for _, r := range rows {
		if r.resolv != "" {
			lab.resolv(r.resolv)
		}
		before := swallowed.Load()
		start := time.Now()
		got := lab.remote(r.host)
		if got != r.want {
			t.Errorf("%s (%s): got %q\nwant %q", r.name, r.host, got, r.want)
		}
		d := time.Since(start)
		if d > 20*time.Second {
			t.Errorf("%s (%s) took %v", r.name, r.host, d)
		}
		t.Logf("%s (%s): %q in %v", r.name, r.host, got, d.Round(time.Millisecond))
		if (r.name == "timeout" || r.name == "first-server-silent") && swallowed.Load() == before {
			t.Errorf("%s: the silent server got no query, so the row did not test a timeout", r.name)
		}
		if r.resolv != "" {
			lab.resolv(nsdResolv)
		}
	}
}
