package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Multi-host tests of qmail-remote: network namespaces joined by a
// bridge, made by the test itself (addresses 10.77.0.x exist only inside
// them), nsd serving the zone "test." in one of them, Go SMTP sinks in
// others, and qmail-remote run with ip netns exec in its own namespace,
// which reads /etc/netns/NAME/resolv.conf as its /etc/resolv.conf.

const remoteZone = `$ORIGIN test.
$TTL 60
@        IN SOA ns.test. root.test. 1 3600 600 86400 60
@        IN NS  ns.test.
ns       IN A   10.77.0.53
src      IN A   10.77.0.1
mx1      IN A   10.77.0.10
mx2      IN A   10.77.0.20
mx3      IN A   10.77.0.21
failover IN MX  10 mx1.test.
failover IN MX  20 mx2.test.
equal    IN MX  10 mx2.test.
equal    IN MX  10 mx3.test.
arec     IN A   10.77.0.20
self     IN MX  10 src.test.
self     IN MX  20 mx2.test.
selfonly IN MX  10 src.test.
`

type netlab struct {
	t      *testing.T
	prefix string
}

func (l *netlab) ns(name string) string { return l.prefix + name }

func (l *netlab) ip(args ...string) {
	l.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		l.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// host makes namespace name with address addr/24 on eth0 (an IPv6 addr
// gets /64, usable at once: no duplicate address detection), linked to
// the hub's bridge.
func (l *netlab) host(name, addr string, i int) {
	ns := l.ns(name)
	l.ip("netns", "add", ns)
	l.t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	port := fmt.Sprintf("p%d", i)
	l.ip("-n", l.ns("hub"), "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.ip("-n", l.ns("hub"), "link", "set", port, "master", "br0", "up")
	if strings.Contains(addr, ":") {
		l.ip("-n", ns, "addr", "add", addr+"/64", "dev", "eth0", "nodad")
	} else {
		l.ip("-n", ns, "addr", "add", addr+"/24", "dev", "eth0")
	}
	l.ip("-n", ns, "link", "set", "eth0", "up")
	l.ip("-n", ns, "link", "set", "lo", "up")
}

// inNetns runs f on a thread that joins namespace ns and is then thrown
// away; sockets f opens belong to ns.
func inNetns(ns string, f func()) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		fh, err := os.Open("/var/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer fh.Close()
		if _, _, e := syscall.RawSyscall(sysSetns(), fh.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
			errc <- e
			return
		}
		f()
		errc <- nil
	}()
	return <-errc
}

// listenIn opens a TCP listener inside namespace ns.
func listenIn(t *testing.T, ns, addr string) net.Listener {
	var ln net.Listener
	var err error
	if e := inNetns(ns, func() { ln, err = net.Listen("tcp", addr) }); e != nil {
		err = e
	}
	if err != nil {
		t.Fatalf("listen in %s on %s: %v", ns, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// sysSetns is setns(2)'s number, which package syscall does not name.
func sysSetns() uintptr {
	if runtime.GOARCH == "arm64" {
		return 268
	}
	return 308 // amd64
}

// sink accepts every message, answering "250 accepted by NAME".
func sink(ln net.Listener, name string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(c)
			fmt.Fprintf(c, "220 %s ESMTP\r\n", name)
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch strings.ToUpper(strings.Fields(l + " x")[0]) {
				case "DATA":
					fmt.Fprintf(c, "354 go\r\n")
					for {
						d, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if d == ".\r\n" {
							break
						}
					}
					fmt.Fprintf(c, "250 accepted by %s\r\n", name)
				case "QUIT":
					fmt.Fprintf(c, "221 bye\r\n")
					return
				default:
					fmt.Fprintf(c, "250 ok\r\n")
				}
			}
		}()
	}
}

// nsdResolv is src's resolv.conf: nsd in "dns".
const nsdResolv = "nameserver 10.77.0.53\noptions timeout:2 attempts:2\n"

// labZone is a zone nsd serves: its name and its zone file's text; an
// empty text declares the zone without a zone file, which nsd answers
// with SERVFAIL.
type labZone struct{ name, text string }

// remoteLab is a user-mode install whose qmail-remote runs in namespace
// "src" (10.77.0.1), and nsd in namespace "dns" (10.77.0.53).
type remoteLab struct {
	*netlab
	home string
}

// newRemoteLab skips the test unless it is root with nsd and ip; else it
// installs goqmail, makes the namespaces src, dns and hosts (name and
// address each) on one bridge, starts nsd with zones in dns, points
// src's resolv.conf at it and waits until nsd answers for zones[0].
func newRemoteLab(t *testing.T, tag string, hosts [][2]string, zones []labZone) *remoteLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	nsd, err := exec.LookPath("nsd")
	if err != nil {
		nsd = "/usr/sbin/nsd"
		if _, err := os.Stat(nsd); err != nil {
			t.Skip("nsd is not installed (Debian package nsd)")
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip (iproute2) is not installed")
	}
	if runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64" {
		t.Skip("setns number known only for amd64 and arm64")
	}
	bin := binary(t)
	home := tempHome(t)
	args := []string{"install", "--home", home, "--user-mode", "--config-localhost", "--user", "nobody"}
	run(t, "", bin, args...)
	os.WriteFile(filepath.Join(home, "control", "timeoutconnect"), []byte("3\n"), 0o644)

	l := &netlab{t: t, prefix: fmt.Sprintf("%s%d", tag, os.Getpid()%100000)}
	l.ip("netns", "add", l.ns("hub"))
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.ns("hub")).Run() })
	l.ip("-n", l.ns("hub"), "link", "add", "br0", "type", "bridge")
	l.ip("-n", l.ns("hub"), "link", "set", "br0", "up")
	for i, h := range append([][2]string{{"src", "10.77.0.1"}, {"dns", "10.77.0.53"}}, hosts...) {
		l.host(h[0], h[1], i)
	}

	// nsd in "dns"; EDNS answers up to 4096 bytes (nsd's default is 1232)
	dir := t.TempDir()
	conf := fmt.Sprintf(`server:
  ip-address: 10.77.0.53
  port: 53
  username: ""
  chroot: ""
  zonesdir: %q
  database: ""
  zonelistfile: %q
  xfrdfile: %q
  pidfile: %q
  logfile: %q
  verbosity: 1
  ipv4-edns-size: 4096
remote-control:
  control-enable: no
`, dir, dir+"/zone.list", dir+"/xfrd.state", dir+"/nsd.pid", dir+"/nsd.log")
	for _, z := range zones {
		conf += fmt.Sprintf("zone:\n  name: %s\n  zonefile: %s.zone\n", z.name, z.name)
		if z.text != "" {
			os.WriteFile(filepath.Join(dir, z.name+".zone"), []byte(z.text), 0o644)
		}
	}
	os.WriteFile(filepath.Join(dir, "nsd.conf"), []byte(conf), 0o644)
	dnsd := exec.Command("ip", "netns", "exec", l.ns("dns"), nsd, "-d", "-c", filepath.Join(dir, "nsd.conf"))
	dnsd.Stdout, dnsd.Stderr = os.Stderr, os.Stderr
	if err := dnsd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dnsd.Process.Signal(syscall.SIGTERM) // nsd stops its server processes too
		done := make(chan struct{})
		go func() { dnsd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			dnsd.Process.Kill()
			<-done
		}
	})

	lab := &remoteLab{netlab: l, home: home}
	etc := filepath.Join("/etc/netns", l.ns("src"))
	os.MkdirAll(etc, 0o755)
	t.Cleanup(func() { os.RemoveAll(etc) })
	lab.resolv(nsdResolv)

	// wait (bounded) until nsd answers
	for i := 0; ; i++ {
		in, err := lab.query("10.77.0.53", zones[0].name, dns.TypeSOA, 0, false)
		if err == nil && in.Rcode == dns.RcodeSuccess {
			break
		}
		if i == 40 {
			t.Fatalf("nsd never answered for %s: %v %v", zones[0].name, in, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return lab
}

// resolv writes the resolv.conf that qmail-remote reads in src.
func (lab *remoteLab) resolv(text string) {
	lab.t.Helper()
	if err := os.WriteFile(filepath.Join("/etc/netns", lab.ns("src"), "resolv.conf"), []byte(text), 0o644); err != nil {
		lab.t.Fatal(err)
	}
}

// query asks server (from src) for name's records of type qtype: over
// TCP or over UDP, with EDNS0 and a buffer of edns bytes unless edns is 0.
func (lab *remoteLab) query(server, name string, qtype uint16, edns uint16, tcp bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Timeout: 2 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	var in *dns.Msg
	var err error
	if e := inNetns(lab.ns("src"), func() { in, _, err = c.Exchange(m, net.JoinHostPort(server, "53")) }); e != nil {
		err = e
	}
	return in, err
}

// remote runs qmail-remote in src (at most a minute) for b@host and
// returns its output, NUL shown as '|'.
func (lab *remoteLab) remote(host string) string {
	lab.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", lab.ns("src"), filepath.Join(lab.home, "bin", "qmail-remote"), host, "a@src.test", "b@"+host)
	cmd.Stdin = strings.NewReader("Subject: t\n\nhello\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		lab.t.Fatalf("qmail-remote %s: %v\n%s", host, err, out)
	}
	return strings.ReplaceAll(string(out), "\x00", "|")
}

func TestRemoteMultiHost(t *testing.T) {
	lab := newRemoteLab(t, "gqr", [][2]string{
		{"mx1", "10.77.0.10"}, {"mx2", "10.77.0.20"}, {"mx3", "10.77.0.21"},
	}, []labZone{{"test", remoteZone}})
	l, remote := lab.netlab, lab.remote

	// SMTP sinks on mx2 and mx3; mx1 is up but has no SMTP server.
	go sink(listenIn(t, l.ns("mx2"), "10.77.0.20:25"), "mx2")
	go sink(listenIn(t, l.ns("mx3"), "10.77.0.21:25"), "mx3")

	// wait (bounded) until the first delivery works
	for i := 0; ; i++ {
		out := remote("arec.test")
		if strings.HasPrefix(out, "r|K") {
			break
		}
		if i == 20 {
			t.Fatalf("nsd never answered: %q", out)
		}
		time.Sleep(250 * time.Millisecond)
	}

	tests := []struct{ host, want string }{
		{"failover.test", "r|K10.77.0.20 accepted message.\nRemote host said: 250 accepted by mx2\n|"},
		{"arec.test", "r|K10.77.0.20 accepted message.\nRemote host said: 250 accepted by mx2\n|"},
		{"selfonly.test", "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n|"},
		{"self.test", "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n|"},
		{"nosuch.test", "DSorry, I couldn't find any host named nosuch.test. (#5.1.2)\n|"},
	}
	for _, tc := range tests {
		if got := remote(tc.host); got != tc.want {
			t.Errorf("%s: got %q\nwant %q", tc.host, got, tc.want)
		}
	}
	// equal preferences share the load (bounded: 30 deliveries)
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		out := remote("equal.test")
		switch {
		case strings.Contains(out, "accepted by mx2"):
			seen["mx2"]++
		case strings.Contains(out, "accepted by mx3"):
			seen["mx3"]++
		default:
			t.Fatalf("equal.test: %q", out)
		}
	}
	if seen["mx2"] == 0 || seen["mx3"] == 0 {
		t.Errorf("equal preferences not shared: %v", seen)
	}
}
