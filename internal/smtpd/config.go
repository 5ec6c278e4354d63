package smtpd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"goqmail/internal/cdb"
	"goqmail/internal/control"
	"goqmail/internal/prog"
)

// config is what qmail-smtpd reads from control/ at the start of a
// session (spec §11.2).
type config struct {
	greeting string

	localIPHost   string // replaces "[my ip]" domains
	haveLocalHost bool   // localiphost or me exists

	timeout time.Duration

	// rcptHosts is nil when control/rcpthosts does not exist: then every
	// domain is accepted, as in qmail 1.03.
	rcptHosts     asciiSet
	moreRcptHosts *cdb.Reader // nil unless rcpthosts and the cdb exist

	badMailFrom asciiSet
	databytes   int64 // 0 = no limit

	// percentHack is control/percenthack, which qmail-send applies to
	// recipients; qmail-smtpd applies it too before its rcpthosts check.
	percentHack asciiSet
	envNoAtHost string // what qmail-send appends to recipients without '@'

	ext extConfig
}

// errNoGreeting is neither control/smtpgreeting nor control/me existing.
var errNoGreeting = errors.New("control/smtpgreeting and control/me are both missing")

// loadConfig reads the control files and the DATABYTES variable. Any
// error means "421 unable to read controls (#4.3.0)".
func loadConfig(ctx *prog.Context) (*config, error) {
	if fi, err := os.Stat(ctx.Home); err != nil {
		return nil, fmt.Errorf("unable to switch to %s: %w", ctx.Home, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("unable to switch to %s: not a directory", ctx.Home)
	}
	d := control.New(ctx.Home)
	c := &config{}
	me, haveMe, err := d.Line("me")
	if err != nil {
		return nil, err
	}
	greeting, ok, err := d.Line("smtpgreeting")
	switch {
	case err != nil:
		return nil, err
	case ok:
		c.greeting = greeting
	case haveMe:
		c.greeting = me
	default:
		return nil, errNoGreeting
	}
	lip, ok, err := d.Line("localiphost")
	switch {
	case err != nil:
		return nil, err
	case ok:
		c.localIPHost, c.haveLocalHost = lip, true
	case haveMe:
		c.localIPHost, c.haveLocalHost = me, true
	}
	secs, err := d.Int("timeoutsmtpd", 1200)
	if err != nil {
		return nil, err
	}
	if secs <= 0 {
		secs = 1
	}
	c.timeout = time.Duration(secs) * time.Second
	if err := c.loadRcptHosts(d); err != nil {
		return nil, err
	}
	bmf, _, err := d.List("badmailfrom")
	if err != nil {
		c.close()
		return nil, err
	}
	c.badMailFrom = newASCIISet(bmf)
	ph, _, err := d.List("percenthack")
	if err != nil {
		c.close()
		return nil, err
	}
	c.percentHack = newASCIISet(ph)
	if c.envNoAtHost, err = d.LineMe("envnoathost", "envnoathost"); err != nil {
		c.close()
		return nil, err
	}
	if err := c.loadDatabytes(d, ctx); err != nil {
		c.close()
		return nil, err
	}
	if err := c.loadExt(d, ctx); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// loadRcptHosts reads rcpthosts and, only if it exists, opens
// morercpthosts.cdb (a missing cdb is fine, an unreadable one is not).
func (c *config) loadRcptHosts(d *control.Dir) error {
	rh, ok, err := d.List("rcpthosts")
	if err != nil || !ok {
		return err
	}
	c.rcptHosts = newASCIISet(rh)
	r, err := cdb.Open(d.Path("morercpthosts.cdb"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return &control.Error{File: "control/morercpthosts.cdb", Msg: "unable to open", Err: err}
	}
	c.moreRcptHosts = r
	return nil
}

// loadDatabytes reads control/databytes, overridden by $DATABYTES.
func (c *config) loadDatabytes(d *control.Dir, ctx *prog.Context) error {
	n, err := d.Int("databytes", 0)
	if err != nil {
		return err
	}
	if n < 0 {
		return &control.Error{File: "control/databytes", Line: 1, Msg: "negative size"}
	}
	c.databytes = int64(n)
	v, ok := ctx.Getenv("DATABYTES")
	if !ok {
		return nil
	}
	if v == "" {
		c.databytes = 0
		return nil
	}
	u, perr := strconv.ParseUint(v, 10, 63)
	if perr != nil || v[0] == '+' {
		return fmt.Errorf("$DATABYTES: not a decimal number: %q", v)
	}
	c.databytes = int64(u)
	return nil
}

// close releases the files the config holds open.
func (c *config) close() {
	if c.moreRcptHosts != nil {
		c.moreRcptHosts.Close()
		c.moreRcptHosts = nil
	}
}

// asciiSet is a set of strings matched ignoring ASCII case only, as
// qmail's constmap does (control.Set folds Unicode case too).
type asciiSet map[string]struct{}

func newASCIISet(lines []string) asciiSet {
	s := make(asciiSet, len(lines))
	for _, l := range lines {
		s[asciiLower(l)] = struct{}{}
	}
	return s
}

// has reports whether key is in the set, ignoring ASCII case.
func (s asciiSet) has(key string) bool {
	_, ok := s[asciiLower(key)]
	return ok
}

// asciiLower lower-cases A-Z only.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// asciiEqualFold compares ignoring ASCII case only (qmail's case_diffs).
func asciiEqualFold(a, b string) bool {
	return len(a) == len(b) && asciiLower(a) == asciiLower(b)
}
