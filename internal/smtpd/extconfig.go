package smtpd

import (
	"errors"
	"io/fs"
	"os"

	"goqmail/internal/control"
	"goqmail/internal/prog"
	"goqmail/internal/rcptcheck"
)

// extConfig holds the switches of the parts qmail 1.03 never had. Every
// one is off in a plain qmail install, so that such an install answers
// byte for byte as qmail 1.03 does.
type extConfig struct {
	certPath string // control/servercert.pem when it exists: STARTTLS on
	smtps    bool   // $SMTPS set: TLS from the first byte (port 465)

	enhanced bool // control/enhancedstatuscodes nonzero
	smtputf8 bool // control/smtputf8 nonzero
	maxRcpt  int  // control/maxrcpt (default defaultMaxRcpt); 0 = no limit

	// rcptCheck is set when control/rcptcheck is nonzero and the
	// controls it needs could be read: unknown local recipients get 550.
	rcptCheck *rcptcheck.Checker

	// auth is the checkpassword command line (program and its
	// arguments) from qmail-smtpd's own arguments; nil = no AUTH.
	auth     []string
	authHost string // qmail-smtpd's first argument
	// authNoTLS is $FORCETLS="0": AUTH is offered without TLS too.
	authNoTLS bool
}

// defaultMaxRcpt bounds the recipients of one transaction when
// control/maxrcpt does not exist. qmail 1.03 has no bound: a client may
// send RCPT after RCPT, each one kept in memory until DATA, until the
// session's memory runs out (a million cost about 90 MB here).
// hardening.md G7 asks that no input make a session grow without bound;
// 100000 keeps one transaction's recipients to about 10 MB and is far
// above what RFC 5321 asks a server to take (100) and what other MTAs
// allow by default (Postfix 1000, Exim 50000). An administrator who wants
// qmail's behaviour writes 0 into control/maxrcpt.
const defaultMaxRcpt = 100000

// loadExt reads the extension switches (doc.go says what each does).
func (c *config) loadExt(d *control.Dir, ctx *prog.Context) error {
	p := d.Path("servercert.pem")
	if _, err := os.Stat(p); err == nil {
		c.ext.certPath = p
	} else if !errors.Is(err, fs.ErrNotExist) {
		return &control.Error{File: "control/servercert.pem", Msg: "unable to stat", Err: err}
	}
	_, c.ext.smtps = ctx.Getenv("SMTPS")
	var err error
	var n int
	if n, err = d.Int("enhancedstatuscodes", 0); err != nil {
		return err
	}
	c.ext.enhanced = n != 0
	if n, err = d.Int("smtputf8", 0); err != nil {
		return err
	}
	c.ext.smtputf8 = n != 0
	if c.ext.maxRcpt, err = d.Int("maxrcpt", defaultMaxRcpt); err != nil {
		return err
	}
	if c.ext.maxRcpt < 0 {
		return &control.Error{File: "control/maxrcpt", Line: 1, Msg: "negative number"}
	}
	if n, err = d.Int("rcptcheck", 0); err != nil {
		return err
	}
	if n != 0 {
		if c.ext.rcptCheck, err = rcptcheck.New(ctx.Home); err != nil {
			ctx.Warn("control/rcptcheck is on but cannot be used, accepting every recipient: %v", err)
		}
	}
	if len(ctx.Args) >= 3 {
		c.ext.authHost = ctx.Args[1]
		c.ext.auth = ctx.Args[2:]
	}
	if v, ok := ctx.Getenv("FORCETLS"); ok && v == "0" {
		c.ext.authNoTLS = true
	}
	return nil
}
