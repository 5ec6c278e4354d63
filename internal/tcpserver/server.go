package tcpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"goqmail/internal/prog"
	"goqmail/internal/qq"
	"goqmail/internal/timerslack"
)

// Tcpserver is "tcpserver [opts] host port prog [args]" (spec §19.1):
// it listens, drops to -g/-u, and for each connection (at most -c at
// once) sets the TCP* environment, applies the -x rules and runs prog
// with the connection as its descriptors 0 and 1. SIGTERM stops it
// (exit 0): it accepts no more connections; programs exec'd and already
// running go on, as under ucspi-tcp; sessions run in-process end at once
// except while committing a message to the queue (stop.go).
func Tcpserver(ctx *prog.Context) int {
	o, msg := parseOptions(ctx)
	if o == nil {
		fmt.Fprintf(ctx.Stderr, "tcpserver: %s\n", msg)
		return ctx.Usage(tcpserverUsage)
	}
	// A daemon's timer slack, for all our threads while we are root
	// (before -u), and so for the programs we start (timerslack).
	timerslack.Raise()
	// Catch SIGTERM before -1 tells anyone we are listening.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	defer signal.Stop(sig)
	s := &server{ctx: ctx, o: o}
	s.here = s.inProcessMain() // before -u drops the right to look at ourselves
	s.queue = s.queueWorkers()
	if code := s.listen(); code != 0 {
		return code
	}
	stop := make(chan struct{})
	go func() {
		<-sig
		close(stop)
	}()
	code := s.serve(stop)
	if s.here != nil {
		// The sessions are goroutines of ours and end with us: not
		// before what they are committing to the queue is answered.
		s.shutdown(stopGrace, stopMost)
	}
	return code
}

// server is one running tcpserver.
type server struct {
	ctx *prog.Context
	o   *options
	ln  *net.TCPListener
	// here is the program to run in-process for each connection (see
	// inprocess.go); nil: exec o.argv.
	here prog.Main
	// queue is the qmail-queue worker of the in-process sessions, or
	// nil (see queueWorkers).
	queue *qq.Workers

	mu       sync.Mutex // guards active, perIP, stopping, sessions and orders the -v lines
	active   int
	perIP    map[netip.Addr]int // -C: connections being handled per client
	stopping bool               // SIGTERM came: no new in-process session
	sessions map[*session]bool  // in-process sessions running (stop.go)
	wg       sync.WaitGroup     // connections being handled
	nums     sessionNumbers     // P of the -v lines without a process
}

// warn prints an error line unless -q.
func (s *server) warn(format string, a ...any) {
	if s.o.verbosity >= 1 {
		s.line(format, a...)
	}
}

// status prints a status line if -v.
func (s *server) status(format string, a ...any) {
	if s.o.verbosity >= 2 {
		s.line(format, a...)
	}
}

func (s *server) line(format string, a ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.ctx.Stderr, "tcpserver: "+format+"\n", a...)
}

// listen binds, listens, drops privileges and prints -1's port.
func (s *server) listen() int {
	o := s.o
	addr, err := s.bindAddr()
	if err != nil {
		return s.ctx.Fatal(111, "%s", err)
	}
	port, err := parsePort(o.port)
	if err != nil {
		return s.ctx.Fatal(111, "%s", err)
	}
	ln, err := listenTCP(netip.AddrPortFrom(addr, port), o.backlog)
	if err != nil {
		return s.ctx.Fatal(111, "%s", err)
	}
	s.ln = ln
	if o.gid >= 0 {
		if err := syscall.Setgroups([]int{o.gid}); err != nil {
			ln.Close()
			return s.ctx.Fatal(111, "unable to set gid: %s", errText(err))
		}
		if err := syscall.Setgid(o.gid); err != nil {
			ln.Close()
			return s.ctx.Fatal(111, "unable to set gid: %s", errText(err))
		}
	}
	if o.uid >= 0 {
		if err := syscall.Setuid(o.uid); err != nil {
			ln.Close()
			return s.ctx.Fatal(111, "unable to set uid: %s", errText(err))
		}
	}
	if o.printPort {
		fmt.Fprintf(s.ctx.Stdout, "%d\n", ln.Addr().(*net.TCPAddr).Port)
	}
	return 0
}

// bindAddr is the address to listen on: "0" or "" is every address
// (0.0.0.0, or :: with -6, which also takes IPv4 clients); a literal is
// itself; a name is its first address (IPv4 first unless -6).
func (s *server) bindAddr() (netip.Addr, error) {
	o := s.o
	h := o.host
	if h == "" || h == "0" {
		if o.force6 {
			return netip.IPv6Unspecified(), nil
		}
		return netip.IPv4Unspecified(), nil
	}
	if a, err := netip.ParseAddr(h); err == nil {
		if o.only4 && !a.Unmap().Is4() {
			return netip.Addr{}, fmt.Errorf("no IP address for %s", h)
		}
		if a.Is6() && a.Zone() == "" && o.iface != "" {
			a = a.WithZone(o.iface)
		}
		return a, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return netip.Addr{}, fmt.Errorf("no IP address for %s", h)
		}
		return netip.Addr{}, fmt.Errorf("temporarily unable to figure out IP address for %s: %s", h, errText(err))
	}
	var first4, first6 netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.Is4() && !first4.IsValid() {
			first4 = a
		}
		if a.Is6() && !first6.IsValid() {
			first6 = a
		}
	}
	switch {
	case o.force6 && first6.IsValid():
		return first6, nil
	case first4.IsValid():
		return first4, nil
	case first6.IsValid() && !o.only4:
		return first6, nil
	}
	return netip.Addr{}, fmt.Errorf("no IP address for %s", h)
}

func parsePort(p string) (uint16, error) {
	if n, err := strconv.Atoi(p); err == nil {
		if n < 0 || n > 65535 {
			return 0, fmt.Errorf("unable to figure out port number for %s", p)
		}
		return uint16(n), nil
	}
	n, err := net.LookupPort("tcp", p)
	if err != nil || p == "" {
		return 0, fmt.Errorf("unable to figure out port number for %s", p)
	}
	return uint16(n), nil
}

// listenTCP makes the listening socket by hand, since Go's listener has
// no backlog setting: SO_REUSEADDR, bind, listen(backlog). The IPv6
// wildcard takes IPv4 clients too (IPV6_V6ONLY off).
func listenTCP(ap netip.AddrPort, backlog int) (*net.TCPListener, error) {
	fam := syscall.AF_INET
	var sa syscall.Sockaddr
	if ap.Addr().Is4() {
		sa = &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	} else {
		fam = syscall.AF_INET6
		sa6 := &syscall.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
		if z := ap.Addr().Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				return nil, fmt.Errorf("unable to bind: no interface %s", z)
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	}
	fd, err := syscall.Socket(fam, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("unable to create socket: %s", errText(err))
	}
	f := os.NewFile(uintptr(fd), "tcpserver-listen")
	defer f.Close()
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("unable to create socket: %s", errText(err))
	}
	if fam == syscall.AF_INET6 {
		v6only := 1
		if ap.Addr().IsUnspecified() {
			v6only = 0
		}
		syscall.SetsockoptInt(fd, syscall.IPPROTO_IPV6, syscall.IPV6_V6ONLY, v6only)
	}
	if err := syscall.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("unable to bind: %s", errText(err))
	}
	if err := syscall.Listen(fd, backlog); err != nil {
		return nil, fmt.Errorf("unable to listen: %s", errText(err))
	}
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("unable to listen: %s", errText(err))
	}
	return l.(*net.TCPListener), nil
}

// serve accepts connections until stop is closed, with at most -c of
// them being handled at once: when all slots are busy it does not accept
// (new clients wait in the kernel's backlog), as ucspi-tcp does.
func (s *server) serve(stop <-chan struct{}) int {
	s.status("status: 0/%d", s.o.limit)
	slots := make(chan struct{}, s.o.limit)
	go func() {
		<-stop
		s.ln.Close()
	}()
	for {
		select {
		case slots <- struct{}{}:
		case <-stop:
			return 0
		}
		c, err := s.ln.AcceptTCP()
		if err != nil {
			<-slots
			select {
			case <-stop:
				return 0
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return s.ctx.Fatal(111, "unable to accept: %s", errText(err))
			}
			time.Sleep(10 * time.Millisecond) // EMFILE and friends: do not spin
			continue
		}
		ip, ok := s.admit(c)
		if !ok {
			s.status("per-ip limit reached, dropping connection from %s", ip)
			c.SetLinger(0)
			c.Close()
			<-slots
			continue
		}
		s.mu.Lock()
		s.active++
		n := s.active
		s.mu.Unlock()
		s.status("status: %d/%d", n, s.o.limit)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			s.release(ip)
			s.active--
			n := s.active
			s.mu.Unlock()
			s.status("status: %d/%d", n, s.o.limit)
			<-slots
		}()
	}
}

// admit counts c against its client's -C limit; false means the client
// already has -C connections being handled and c must be dropped.
//
// -C is fehcom's ucspi-tcp6 option (ucspi-tcp 0.88 has no per-client
// limit; forks-and-demand.md lists it among what qmail's users patch
// in). A connection over the limit is closed at once, before the rules
// are read and before any banner: ucspi-style, a refusal costs nothing
// and says nothing, so a flood from one address cannot take the -c
// slots of everybody else. The client is the remote IP address (an
// IPv4-mapped IPv6 address counts as its IPv4 address).
func (s *server) admit(c *net.TCPConn) (netip.Addr, bool) {
	if s.o.perIP <= 0 {
		return netip.Addr{}, true
	}
	ip := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perIP == nil {
		s.perIP = make(map[netip.Addr]int)
	}
	if s.perIP[ip] >= s.o.perIP {
		return ip, false
	}
	s.perIP[ip]++
	return ip, true
}

// release undoes admit when the connection's program has ended; the
// caller holds s.mu.
func (s *server) release(ip netip.Addr) {
	if s.o.perIP <= 0 {
		return
	}
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}
