package smtpout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// MX is one mail exchanger of a domain.
type MX struct {
	Pref uint16
	Host string // without the trailing dot; "" for the null MX "."
}

// Resolver answers the three questions qmail-remote asks. A name that
// does not exist (NXDOMAIN) is an error for which IsHard is true; any
// other failure is temporary. An existing name without records of the
// type asked for is an empty answer and no error.
type Resolver interface {
	LookupMX(ctx context.Context, name string) ([]MX, error)
	LookupA(ctx context.Context, name string) ([]netip.Addr, error)
	LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error)
}

// ErrNoSuchHost is the hard DNS failure: the name does not exist.
var ErrNoSuchHost = errors.New("no such host")

// IsHard reports whether err says the name does not exist.
func IsHard(err error) bool { return errors.Is(err, ErrNoSuchHost) }

// SystemResolver asks the servers of a resolv.conf file, like qmail's
// res_query: the name as given (no search list), recursion desired. It
// sends EDNS0 with a 4096-byte buffer and repeats a truncated answer over
// TCP, so large answers (many MX, DNSSEC) work where qmail 1.03 failed.
type SystemResolver struct {
	Conf *dns.ClientConfig
}

// NewSystemResolver reads path (normally /etc/resolv.conf).
func NewSystemResolver(path string) (*SystemResolver, error) {
	c, err := dns.ClientConfigFromFile(path)
	if err != nil {
		return nil, err
	}
	if len(c.Servers) == 0 {
		return nil, fmt.Errorf("%s: no nameserver", path)
	}
	return &SystemResolver{Conf: c}, nil
}

func (r *SystemResolver) query(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	attempts := r.Conf.Attempts
	if attempts < 1 {
		attempts = 1
	}
	var last error = errors.New("no nameserver answered")
	for a := 0; a < attempts; a++ {
		for _, s := range r.Conf.Servers {
			addr := net.JoinHostPort(s, r.Conf.Port)
			in, err := exchange(ctx, r.Conf, m, addr)
			if err != nil {
				last = err
				continue
			}
			switch in.Rcode {
			case dns.RcodeSuccess:
				return in.Answer, nil
			case dns.RcodeNameError:
				return nil, ErrNoSuchHost
			default:
				last = fmt.Errorf("%s answered %s", s, dns.RcodeToString[in.Rcode])
			}
		}
	}
	return nil, last
}

func exchange(ctx context.Context, conf *dns.ClientConfig, m *dns.Msg, addr string) (*dns.Msg, error) {
	timeout := conf.Timeout
	if timeout < 1 {
		timeout = 5
	}
	c := &dns.Client{Timeout: secs(timeout)}
	in, _, err := c.ExchangeContext(ctx, m, addr)
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, addr)
	}
	return in, err
}

// LookupMX returns the MX records of name in answer order.
func (r *SystemResolver) LookupMX(ctx context.Context, name string) ([]MX, error) {
	rrs, err := r.query(ctx, name, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	var out []MX
	for _, rr := range rrs {
		if mx, ok := rr.(*dns.MX); ok {
			out = append(out, MX{Pref: mx.Preference, Host: strings.TrimSuffix(mx.Mx, ".")})
		}
	}
	return out, nil
}

// LookupA returns the IPv4 addresses of name in answer order.
func (r *SystemResolver) LookupA(ctx context.Context, name string) ([]netip.Addr, error) {
	rrs, err := r.query(ctx, name, dns.TypeA)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range rrs {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}

// LookupAAAA returns the IPv6 addresses of name in answer order.
func (r *SystemResolver) LookupAAAA(ctx context.Context, name string) ([]netip.Addr, error) {
	rrs, err := r.query(ctx, name, dns.TypeAAAA)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, rr := range rrs {
		if a, ok := rr.(*dns.AAAA); ok {
			if ip, ok := netip.AddrFromSlice(a.AAAA); ok {
				out = append(out, ip)
			}
		}
	}
	return out, nil
}
