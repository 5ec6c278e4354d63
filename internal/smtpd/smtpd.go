package smtpd

import (
	"net"
	"time"

	"goqmail/internal/prog"
)

// options are the parts of the world a test may replace.
type options struct {
	now   func() time.Time
	myIPs func() ([]net.IP, error)
	// authDelay is the pause after a failed AUTH.
	authDelay time.Duration
}

// Main is qmail-smtpd. Like the smtp-auth patch it takes optional
// arguments "hostname checkpassword-program [its arguments...]", which
// switch AUTH on; it reads SMTP commands on ctx.Stdin, writes replies on ctx.Stdout, reads control/ under
// ctx.Home and the tcpserver variables from ctx.Env, and returns 0 after
// QUIT, 1 otherwise.
func Main(ctx *prog.Context) int {
	return run(ctx, options{now: time.Now, myIPs: interfaceIPs, authDelay: 2 * time.Second})
}

func run(ctx *prog.Context, opt options) int {
	cfg, err := loadConfig(ctx)
	if err != nil {
		ctx.Warn("unable to read controls: %v", err)
		// No timeout is known yet; qmail's default applies to this write.
		w := newTimedWriter(ctx.Stdout, 1200*time.Second)
		w.Write([]byte("421 unable to read controls (#4.3.0)\r\n"))
		w.stop()
		return 1
	}
	defer cfg.close()
	if cfg.rcptHosts == nil {
		ctx.Warn("control/rcpthosts is missing: accepting mail for every domain, an OPEN RELAY; " +
			"list the domains this host receives mail for in control/rcpthosts")
	}
	c := newConn(ctx, cfg, opt)
	defer c.stop()
	return c.serve()
}
