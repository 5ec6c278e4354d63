package tcpserver

import (
	"fmt"
	"strconv"
	"time"

	"goqmail/internal/prog"
)

const tcpserverUsage = "tcpserver [ -1UXpPhHrRoOdDqQv46 ] [ -c limit ] [ -C perip ] [ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] [ -I interface ] host port program"

// options are tcpserver's command-line settings (man tcpserver, and
// ucspi-tcp-ipv6's -4, -6 and -I).
type options struct {
	verbosity   int // 0 -q, 1 -Q (default), 2 -v
	limit       int // -c, default 40
	perIP       int // -C, 0 (default) = no per-client limit
	rules       string
	rulesOpt    bool // -X: a missing rules file allows
	banner      string
	uid, gid    int // -1 when not given
	printPort   bool
	backlog     int
	localName   string
	hasLocal    bool
	remoteHost  bool // -h (default) / -H
	paranoid    bool // -p / -P (default)
	remoteInfo  bool // -r (default) / -R
	infoTimeout time.Duration
	keepIPOpts  bool // -o / -O (default)
	noDelay     bool // -D / -d (default)
	only4       bool // -4
	force6      bool // -6
	iface       string
	host, port  string
	argv        []string // the program and its arguments
}

// parseOptions reads tcpserver's arguments getopt-style: flags may be
// grouped ("-vR"), an option's value may be attached ("-c10") or the
// next argument, "--" ends the options.
//
// Where ucspi-tcp reads a malformed number as 0 (or whatever prefix is
// digits), we refuse it with the usage message: "-c abc" meaning
// "accept nothing" is never what an administrator meant.
//
// Accepted and ignored: -I interface (Go's listener takes the zone from
// the host, "fe80::1%eth0", and so do we).
func parseOptions(ctx *prog.Context) (*options, string) {
	o := &options{verbosity: 1, limit: 40, uid: -1, gid: -1, backlog: 20,
		remoteHost: true, remoteInfo: true, infoTimeout: 26 * time.Second}
	args := ctx.Args[1:]
	for len(args) > 0 {
		a := args[0]
		if a == "--" {
			args = args[1:]
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		args = args[1:]
		for i := 1; i < len(a); i++ {
			c := a[i]
			if c == 'U' {
				if msg := applyU(ctx, o); msg != "" {
					return nil, msg
				}
				continue
			}
			if !flag(o, c) {
				if !needsValue(c) {
					return nil, fmt.Sprintf("illegal option -- %c", c)
				}
				v := a[i+1:]
				if v == "" {
					if len(args) == 0 {
						return nil, fmt.Sprintf("option requires an argument -- %c", c)
					}
					v, args = args[0], args[1:]
				}
				if msg := value(ctx, o, c, v); msg != "" {
					return nil, msg
				}
				break
			}
		}
	}
	if len(args) < 3 {
		return nil, "need host, port and program"
	}
	o.host, o.port, o.argv = args[0], args[1], args[2:]
	return o, ""
}

func needsValue(c byte) bool {
	switch c {
	case 'c', 'C', 'x', 'B', 'g', 'u', 'b', 'l', 't', 'I':
		return true
	}
	return false
}

// flag applies a flag without a value; false means c is not one.
func flag(o *options, c byte) bool {
	switch c {
	case 'q':
		o.verbosity = 0
	case 'Q':
		o.verbosity = 1
	case 'v':
		o.verbosity = 2
	case 'X':
		o.rulesOpt = true
	case '1':
		o.printPort = true
	case 'h':
		o.remoteHost = true
	case 'H':
		o.remoteHost = false
	case 'p':
		o.paranoid = true
	case 'P':
		o.paranoid = false
	case 'r':
		o.remoteInfo = true
	case 'R':
		o.remoteInfo = false
	case 'o':
		o.keepIPOpts = true
	case 'O':
		o.keepIPOpts = false
	case 'd':
		o.noDelay = false
	case 'D':
		o.noDelay = true
	case '4':
		o.only4, o.force6 = true, false
	case '6':
		o.force6, o.only4 = true, false
	default:
		return false
	}
	return true
}

// value applies an option with a value; it returns a message on error.
func value(ctx *prog.Context, o *options, c byte, v string) string {
	num := func(min int) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= min
	}
	var ok bool
	switch c {
	case 'c':
		o.limit, ok = num(1)
	case 'C':
		o.perIP, ok = num(0)
	case 'b':
		o.backlog, ok = num(0)
	case 't':
		var n int
		n, ok = num(0)
		o.infoTimeout = time.Duration(n) * time.Second
	case 'u':
		o.uid, ok = num(0)
	case 'g':
		o.gid, ok = num(0)
	case 'x':
		o.rules, ok = v, true
	case 'B':
		o.banner, ok = v, true
	case 'l':
		o.localName, o.hasLocal, ok = v, true, true
	case 'I':
		o.iface, ok = v, true
	}
	if !ok {
		return fmt.Sprintf("-%c needs a number, not %q", c, v)
	}
	return ""
}

// applyU is -U: -g $GID -u $UID (as envuidgid sets them), read when
// the option is seen. A missing or malformed variable is an error, where
// ucspi-tcp would quietly keep running as root.
func applyU(ctx *prog.Context, o *options) string {
	for _, p := range []struct {
		name string
		dst  *int
	}{{"UID", &o.uid}, {"GID", &o.gid}} {
		s, ok := ctx.Getenv(p.name)
		if !ok {
			return "-U needs $" + p.name
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return fmt.Sprintf("-U: $%s is not a number: %q", p.name, s)
		}
		*p.dst = n
	}
	return ""
}
