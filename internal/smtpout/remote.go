package smtpout

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"

	"goqmail/internal/addr"
	"goqmail/internal/control"
	"goqmail/internal/prog"
)

// Sender holds what qmail-remote takes from the world outside its
// arguments; tests replace it. Zero fields mean the real thing.
type Sender struct {
	Resolver   Resolver                                                               // default: SystemResolver of ResolvConf
	ResolvConf string                                                                 // default /etc/resolv.conf
	IPMe       func() (map[netip.Addr]bool, error)                                    // default: the interfaces' addresses
	Dial       func(network, address string, timeout time.Duration) (net.Conn, error) // default net.DialTimeout
	Port       int                                                                    // port of MX and A deliveries, default 25
	Shuffle    func([]MX)                                                             // order among equal preferences, default random
	Now        func() time.Time
	Pid        int   // for tcpto's skip interval, default os.Getpid()
	Pool       *Pool // kept connections (qmail-rspawn's); nil: QUIT after every message
}

func secs(n int) time.Duration { return time.Duration(n) * time.Second }

const (
	textUsage    = "DI (qmail-remote) was invoked improperly. (#5.3.5)\n"
	textControls = "ZUnable to read control files. (#4.3.0)\n"
	textResource = "ZSystem resources temporarily unavailable. (#4.3.0)\n"
	textNoConn   = "ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"
	textSoftDNS  = "ZSorry, I couldn't find any host by that name. (#4.1.2)\n"
	textNoAddr   = "DSorry, I couldn't find a mail exchanger or IP address. (#5.4.4)\n"
	textNullMX   = "DSorry, that domain says it accepts no mail (null MX). (#5.1.10)\n"
	textBadAddr  = "DSorry, I won't put an address with NUL, CR or LF into SMTP. (#5.1.3)\n"
	textAmbigMX  = "DSorry. Although I'm listed as a best-preference MX or A for that host,\nit isn't in my control/locals file, so I don't treat it as local. (#5.4.6)\n"
)

func hardDNS(host string) string {
	return "DSorry, I couldn't find any host named " + safeHost(host) + ". (#5.1.2)\n"
}

// config is what the control files say.
type config struct {
	helo           string
	timeoutConnect time.Duration
	timeoutRemote  time.Duration
	routes         control.Map
	tls            tlsPolicies
	auth           control.Map
	roots          *certPool
	moreIPMe       []netip.Addr
}

func readConfig(home string) (*config, string) {
	d := control.New(home)
	c := &config{}
	var err error
	if c.helo, err = d.LineMe("helohost", ""); err != nil || c.helo == "" {
		return nil, textControls
	}
	tc, err := d.Int("timeoutconnect", 60)
	if err != nil {
		return nil, textControls
	}
	tr, err := d.Int("timeoutremote", 1200)
	if err != nil {
		return nil, textControls
	}
	c.timeoutConnect, c.timeoutRemote = secs(tc), secs(tr)
	if c.routes, _, err = d.ReadMap("smtproutes"); err != nil {
		return nil, textControls
	}
	var msg string
	if c.tls, msg = readTLSPolicies(d); msg != "" {
		return nil, msg
	}
	if c.roots, msg = readRoots(d); msg != "" {
		return nil, msg
	}
	if c.auth, msg = readAuth(d); msg != "" {
		return nil, msg
	}
	if c.moreIPMe, msg = readMoreIPMe(d); msg != "" {
		return nil, msg
	}
	return c, ""
}

// Run runs qmail-remote with ctx; it always returns 0.
func (r *Sender) Run(ctx *prog.Context) int {
	var out reports
	r.run(ctx, &out)
	ctx.Stdout.Write(out.buf.Bytes())
	return 0
}

func (r *Sender) defaults() {
	if r.IPMe == nil {
		r.IPMe = ipme
	}
	if r.Dial == nil {
		r.Dial = net.DialTimeout
	}
	if r.Port == 0 {
		r.Port = 25
	}
	if r.Shuffle == nil {
		r.Shuffle = func(m []MX) { rand.Shuffle(len(m), func(i, j int) { m[i], m[j] = m[j], m[i] }) }
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Pid == 0 {
		r.Pid = os.Getpid()
	}
	if r.ResolvConf == "" {
		r.ResolvConf = "/etc/resolv.conf"
	}
}

func (r *Sender) run(ctx *prog.Context, out *reports) {
	if len(ctx.Args) < 4 {
		out.final('D', textUsage[1:])
		return
	}
	r.defaults()
	host, sender, rcpts := ctx.Args[1], ctx.Args[2], ctx.Args[3:]
	for _, a := range append([]string{host, sender}, rcpts...) {
		if !addr.EnvelopeSafe(a) {
			out.final('D', textBadAddr[1:])
			return
		}
	}
	cfg, msg := readConfig(ctx.Home)
	if msg != "" {
		out.final(msg[0], msg[1:])
		return
	}
	rt, hasRoute, err := findRoute(cfg.routes, host)
	if err != nil {
		out.final('Z', textControls[1:])
		return
	}
	relay := hasRoute && rt.Relay != ""
	port := r.Port
	if relay {
		port = rt.Port
	}
	d := &delivery{
		r: r, cfg: cfg, ctx: ctx, out: out, host: host,
		sender: addr.Quote2(sender), relay: rt.Relay,
		policy: cfg.tls.lookup(host),
	}
	for _, rc := range rcpts {
		d.rcpts = append(d.rcpts, addr.Quote2(rc))
	}
	if relay {
		d.creds, d.hasCreds = cfg.auth.Get(rt.Relay)
	}
	d.key = poolKey(host, rt.Relay, port, d.policy, cfg.helo)
	if d.reuse() {
		return
	}
	if r.Resolver == nil {
		res, err := NewSystemResolver(r.ResolvConf)
		if err != nil {
			out.final('Z', textSoftDNS[1:])
			return
		}
		r.Resolver = res
	}
	bg := context.Background()
	var ts []target
	if relay {
		if a, ok := literal(rt.Relay); ok {
			ts = []target{{Addr: a, Name: ""}}
		} else {
			addrs, err := hostAddrs(bg, r.Resolver, rt.Relay)
			switch {
			case IsHard(err):
				out.final('D', hardDNS(rt.Relay)[1:])
				return
			case err != nil:
				out.final('Z', textSoftDNS[1:])
				return
			case len(addrs) == 0:
				out.final('D', textNoAddr[1:])
				return
			}
			for _, a := range addrs {
				ts = append(ts, target{Addr: a, Name: rt.Relay})
			}
		}
	} else {
		ts, err = mxTargets(bg, r.Resolver, host, r.Shuffle)
		switch {
		case err == errSoft:
			out.final('Z', textSoftDNS[1:])
			return
		case IsHard(err):
			out.final('D', hardDNS(host)[1:])
			return
		case err == errNullMX:
			out.final('D', textNullMX[1:])
			return
		case err != nil:
			out.final('D', textNoAddr[1:])
			return
		}
	}
	me, err := r.IPMe()
	if err != nil {
		out.final('Z', textResource[1:])
		return
	}
	for _, a := range cfg.moreIPMe {
		me[a] = true
	}
	ts = eligible(ts, me, relay)
	if len(ts) == 0 {
		out.final('D', textAmbigMX[1:])
		return
	}
	to := &tcptoFile{Path: tcptoPath(ctx.Home), Now: r.Now, Pid: r.Pid}
	for _, t := range ts {
		if to.Dead(t.Addr) {
			continue
		}
		if d.attempt(t, port, to) {
			return
		}
	}
	out.final('Z', textNoConn[1:])
}

func hostPort(a netip.Addr, port int) string {
	return net.JoinHostPort(a.String(), strconv.Itoa(port))
}
