package smtpout

import (
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"time"

	"goqmail/internal/prog"
)

// delivery is one run of qmail-remote: one message, its recipients and
// the addresses to try.
type delivery struct {
	r        *Sender
	cfg      *config
	ctx      *prog.Context
	out      *reports
	host     string
	sender   string
	rcpts    []string
	relay    string
	policy   tlsPolicy
	creds    string
	hasCreds bool

	key  string  // the destination's name in r.Pool
	conn *pooled // the kept connection in use, nil for a new one
	kept bool    // the connection went back to r.Pool: do not close it
}

// rsetTimeout bounds the wait for the RSET that lets a connection be
// kept after a refused transaction.
const rsetTimeout = 30 * time.Second

// errStale: a kept connection turned out dead, or closing, before the
// new transaction sent anything; the delivery goes on without it.
var errStale = errors.New("kept connection is stale")

// errPlainRetry: an opportunistic TLS handshake failed; try the same
// address again without STARTTLS.
var errPlainRetry = errors.New("retry without TLS")

// attempt connects to t and, if that works, holds the whole SMTP
// dialogue; it reports whether the delivery is over (a final record was
// written). A connection that fails is recorded in tcpto and the next
// address is tried, as qmail does.
func (d *delivery) attempt(t target, port int, to *tcptoFile) bool {
	conn, err := d.r.Dial("tcp", hostPort(t.Addr, port), d.cfg.timeoutConnect)
	if err != nil {
		var ne net.Error
		to.Record(t.Addr, errors.As(err, &ne) && ne.Timeout())
		return false
	}
	to.Record(t.Addr, false)
	d.conn, d.kept = nil, false
	err = d.closing(conn, func() error { return d.talk(newSession(conn, t.Addr, d.cfg.timeoutRemote), t, true) })
	if err == errPlainRetry {
		conn, err = d.r.Dial("tcp", hostPort(t.Addr, port), d.cfg.timeoutConnect)
		if err != nil {
			return false
		}
		d.closing(conn, func() error { return d.talk(newSession(conn, t.Addr, d.cfg.timeoutRemote), t, false) })
	}
	return true
}

// closing runs a dialogue on conn and closes conn after it unless the
// dialogue kept it in r.Pool — also when the dialogue panics: qmail-rspawn
// runs deliveries in-process and reports a panic as a crash of
// qmail-remote, whose exit would have closed the connection; left open, it
// would hold a descriptor (and the peer) until the garbage collector came.
func (d *delivery) closing(conn net.Conn, talk func() error) error {
	defer func() {
		if !d.kept {
			conn.Close()
		}
	}()
	return talk()
}

// reuse delivers over a kept connection to the destination, if r.Pool
// has one that still works; it reports whether the delivery is over.
// Bounded: at most three kept connections are tried.
func (d *delivery) reuse() bool {
	if d.r.Pool == nil {
		return false
	}
	for range 3 {
		c := d.r.Pool.get(d.key)
		if c == nil {
			return false
		}
		s := c.s
		if !s.quiet() {
			s.conn.Close() // the peer spoke or left while it was idle
			continue
		}
		d.conn, d.kept = c, false
		err := d.closing(s.conn, func() error { return d.transaction(s) })
		if err != errStale {
			return true
		}
	}
	d.conn = nil
	return false
}

// quit sends QUIT without waiting for its reply and writes the message
// record letter + prefix + IP + suffix + ".\n" + the peer's last reply.
func (d *delivery) quit(s *session, letter byte, prefix, suffix string) error {
	return d.end(s, endQuit, letter, prefix, suffix)
}

// ending says what may become of a connection after its transaction.
type ending int

const (
	endQuit  ending = iota // say goodbye
	endRset                // may be kept once RSET has ended the transaction
	endClean               // may be kept as it is: the transaction is complete
)

// end writes the message record as quit does, then keeps the connection
// in r.Pool where how allows it, or sends QUIT. After a refusal the RSET
// goes at once, not when the connection is used again, so that the peer
// never holds a half-made transaction (smtp-sink -d even keeps a file for
// it) while the connection is idle.
func (d *delivery) end(s *session, how ending, letter byte, prefix, suffix string) error {
	d.out.final(letter, prefix+ipText(s.ip)+suffix+".\n"+remoteText(s.text))
	if how == endQuit || d.r.Pool == nil || s.closing || !s.quiet() {
		s.send("QUIT")
		return nil
	}
	if how == endRset {
		// The report is written but not yet handed back: a peer slow to
		// answer RSET costs it 30 s at most, not timeoutremote.
		s.setTimeout(min(s.timeout, rsetTimeout))
		if code, err := s.cmd("RSET"); err != nil || code != 250 || !s.quiet() {
			s.send("QUIT")
			return nil
		}
	}
	c := d.conn
	if c == nil {
		c = &pooled{s: s, born: d.r.Now()}
	}
	d.kept = true
	d.r.Pool.put(d.key, c, d.r.Now())
	return nil
}

// died reports a lost connection (or a read or write timeout); critical
// says the final dot was sent, so the peer may have the message.
func (d *delivery) died(s *session, critical bool) error {
	dup := ""
	if critical {
		dup = "Possible duplicate! "
	}
	d.out.final('Z', "Connected to "+ipText(s.ip)+" but connection died. "+dup+"(#4.4.2)\n")
	return nil
}

// extensions reads the keywords of an EHLO reply (upper case) with
// their parameters.
func extensions(text []byte) map[string]string {
	ext := map[string]string{}
	lines := strings.Split(string(text), "\n")
	for _, l := range lines[1:] {
		if len(l) < 5 {
			continue
		}
		f := strings.Fields(l[4:])
		if len(f) == 0 {
			continue
		}
		ext[strings.ToUpper(f[0])] = strings.ToUpper(strings.Join(f[1:], " "))
	}
	return ext
}

// hello sends EHLO, or HELO when the peer does not know EHLO.
func (d *delivery) hello(s *session) (ext map[string]string, ok bool, err error) {
	code, err := s.cmd("EHLO " + d.cfg.helo)
	if err != nil {
		return nil, false, err
	}
	if code >= 500 {
		if code, err = s.cmd("HELO " + d.cfg.helo); err != nil {
			return nil, false, err
		}
		if code != 250 {
			return nil, false, nil
		}
		return map[string]string{}, true, nil
	}
	if code != 250 {
		return nil, false, nil
	}
	return extensions(s.text), true, nil
}

// talk is the dialogue of spec §9.3, with STARTTLS and AUTH in between.
func (d *delivery) talk(s *session, t target, tryTLS bool) error {
	code, err := s.reply()
	if err != nil {
		return d.died(s, false)
	}
	if code != 220 {
		return d.quit(s, 'Z', "Connected to ", " but greeting failed")
	}
	ext, ok, err := d.hello(s)
	if err != nil {
		return d.died(s, false)
	}
	if !ok {
		return d.quit(s, 'Z', "Connected to ", " but my name was rejected")
	}
	secure := false
	if _, offered := ext["STARTTLS"]; offered && tryTLS && d.policy != tlsOff {
		code, err := s.cmd("STARTTLS")
		if err != nil {
			return d.died(s, false)
		}
		switch {
		case code == 220:
			tc := tls.Client(s.raw, d.tlsConfig(t))
			tc.SetDeadline(time.Now().Add(s.timeout))
			if err := tc.Handshake(); err != nil {
				if d.policy == tlsTry {
					return errPlainRetry
				}
				d.out.final('Z', "Connected to "+ipText(s.ip)+" but the TLS handshake failed: "+oneLine(err.Error())+" (#4.7.0)\n")
				return nil
			}
			s.use(tc)
			secure = true
			if ext, ok, err = d.hello(s); err != nil {
				return d.died(s, false)
			}
			if !ok {
				return d.quit(s, 'Z', "Connected to ", " but my name was rejected")
			}
		case d.policy >= tlsRequire:
			return d.quit(s, 'Z', "Connected to ", " but STARTTLS was refused")
		}
	}
	if !secure && d.policy >= tlsRequire {
		s.send("QUIT")
		d.out.final('Z', "Connected to "+ipText(s.ip)+" but it does not offer STARTTLS, which control/tlsdestinations requires for "+safeHost(d.host)+". (#4.7.0)\n")
		return nil
	}
	if d.hasCreds {
		if done, err := d.authenticate(s, ext, secure, t); done || err != nil {
			return err
		}
	}
	return d.transaction(s)
}

// transaction is MAIL, RCPT, DATA, the message and the final reply.
func (d *delivery) transaction(s *session) error {
	if d.conn != nil {
		// On a kept connection, a peer that vanished without a word would
		// hold MAIL's reply for timeoutremote: wait rsetTimeout at most,
		// then take a new connection (nothing was sent yet).
		s.setTimeout(min(d.cfg.timeoutRemote, rsetTimeout))
	}
	code, err := s.cmd("MAIL FROM:<" + d.sender + ">")
	if d.conn != nil {
		if err != nil || code == 421 {
			return errStale
		}
		s.setTimeout(d.cfg.timeoutRemote)
	}
	if err != nil {
		return d.died(s, false)
	}
	if code >= 500 {
		return d.quit(s, 'D', "Connected to ", " but sender was rejected")
	}
	if code >= 400 {
		return d.quit(s, 'Z', "Connected to ", " but sender was rejected")
	}
	accepted := false
	for _, rc := range d.rcpts {
		code, err := s.cmd("RCPT TO:<" + rc + ">")
		if err != nil {
			return d.died(s, false)
		}
		switch {
		case code == 552:
			// RFC 5321 §4.5.3.1.10: a 552 to RCPT means "too many
			// recipients" from older servers and must be treated as 452.
			// goqmail sends several recipients per transaction (qmail sent
			// one), so this now happens; the recipient is retried later.
			d.out.add('s', ipText(s.ip)+" does not like recipient.\n"+remoteText(s.text))
		case code >= 500:
			d.out.add('h', ipText(s.ip)+" does not like recipient.\n"+remoteText(s.text))
		case code >= 400:
			d.out.add('s', ipText(s.ip)+" does not like recipient.\n"+remoteText(s.text))
		default:
			d.out.add('r', "")
			accepted = true
		}
		s.text = s.text[:0]
	}
	if !accepted {
		return d.end(s, endRset, 'D', "Giving up on ", "")
	}
	code, err = s.cmd("DATA")
	if err != nil {
		return d.died(s, false)
	}
	if code >= 500 {
		return d.end(s, endRset, 'D', "", " failed on DATA command")
	}
	if code >= 400 {
		return d.end(s, endRset, 'Z', "", " failed on DATA command")
	}
	if err := blast(s.w, d.ctx.Stdin); err != nil {
		if err == errReadMessage {
			d.out.final('Z', "Unable to read message. (#4.3.0)\n")
			return nil
		}
		return d.died(s, false)
	}
	if err := s.w.Flush(); err != nil {
		return d.died(s, false)
	}
	code, err = s.reply()
	if err != nil {
		return d.died(s, true)
	}
	switch {
	case code >= 500:
		return d.end(s, endClean, 'D', "", " failed after I sent the message")
	case code >= 400:
		return d.end(s, endClean, 'Z', "", " failed after I sent the message")
	}
	return d.end(s, endClean, 'K', "", " accepted message")
}

// oneLine makes an error text safe for a report line.
func oneLine(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 32 || c > 126 {
			b[i] = '?'
		}
	}
	return string(b)
}
