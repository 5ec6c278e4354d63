package smtpd

import (
	"errors"
	"fmt"
	"strings"

	"goqmail/internal/addr"
	"goqmail/internal/qq"
	"goqmail/internal/rcptcheck"
)

// Errors that end the session with a 421.
var (
	errNoIPMe  = errors.New("unable to figure out my IP addresses")
	errControl = errors.New("unable to read controls")
)

// Replies shared by several commands.
const (
	msgSyntax    = "syntax error (#5.5.4)"
	msgMailFirst = "MAIL first (#5.5.1)"
	// msgNoMailbox is control/rcptcheck's refusal: qmail-local's text for
	// the same address, with qmail-smtpd's lower-case first letter.
	msgNoMailbox = "sorry, no mailbox here by that name. (#5.1.1)"
)

// resetTransaction forgets the sender and the recipients.
func (c *Conn) resetTransaction() {
	c.seenMail = false
	c.mailFrom = ""
	c.barf = false
	c.utf8 = false
	c.rcpts = nil
}

// setHelo remembers the HELO/EHLO argument for the Received line.
func (c *Conn) setHelo(arg string) {
	c.helo = arg
	c.fakeHelo = !asciiEqualFold(c.peer.remoteHost, arg)
}

func (c *Conn) heloCmd(arg string) (int, string) {
	c.resetTransaction()
	c.setHelo(arg)
	c.ehlo = false
	return 250, c.cfg.greeting
}

func (c *Conn) ehloCmd(arg string) (int, string) {
	c.resetTransaction()
	c.setHelo(arg)
	c.ehlo = true
	lines := append([]string{c.cfg.greeting}, c.ehloKeywords()...)
	return 250, strings.Join(lines, "\n")
}

func (c *Conn) rsetCmd() (int, string) {
	c.resetTransaction()
	return 250, "flushed"
}

// address parses a MAIL or RCPT argument into an envelope address,
// rewriting "[my ip]" to localiphost. ok is false for a syntax error.
func (c *Conn) address(arg string) (a, rest string, ok bool, err error) {
	a, rest = parseAddressRest(arg)
	if a, err = c.rewriteLiteral(a); err != nil {
		return "", "", false, err
	}
	if len(a) >= MaxAddress || !addr.EnvelopeSafe(a) {
		return "", "", false, nil
	}
	return a, rest, true, nil
}

// rewriteLiteral replaces a domain "[d.d.d.d]" naming one of this host's
// addresses with localiphost.
func (c *Conn) rewriteLiteral(a string) (string, error) {
	if !c.cfg.haveLocalHost {
		return a, nil
	}
	at := strings.LastIndexByte(a, '@')
	if at < 0 {
		return a, nil
	}
	ip, ok := ipLiteral(a[at+1:])
	if !ok {
		return a, nil
	}
	if !c.haveIPMe {
		ips, err := c.opt.myIPs()
		if err != nil {
			c.ctx.Warn("unable to list this host's IP addresses: %v", err)
			return "", errNoIPMe
		}
		c.ipme, c.haveIPMe = ips, true
	}
	for _, me := range c.ipme {
		if me.Equal(ip) {
			return a[:at+1] + c.cfg.localIPHost, nil
		}
	}
	return a, nil
}

// mailCmd starts a transaction. HELO is not required; a rejected MAIL
// leaves the previous transaction as it was (§24 item 3).
func (c *Conn) mailCmd(arg string) (int, string, error) {
	a, rest, ok, err := c.address(arg)
	if err != nil {
		return 0, "", err
	}
	if !ok {
		return 555, msgSyntax, nil
	}
	code, msg, smtputf8 := c.mailParams(rest)
	if code == 0 {
		code, msg = c.check8bit(a, smtputf8)
	}
	if code != 0 {
		return code, msg, nil
	}
	c.resetTransaction()
	c.seenMail = true
	c.utf8 = smtputf8
	c.mailFrom = a
	c.barf = badMailFrom(c.cfg.badMailFrom, a)
	return 250, "ok", nil
}

func (c *Conn) rcptCmd(arg string) (int, string, error) {
	if !c.seenMail {
		return 503, msgMailFirst, nil
	}
	a, _, ok, err := c.address(arg)
	if err != nil {
		return 0, "", err
	}
	if !ok {
		return 555, msgSyntax, nil
	}
	if code, msg := c.check8bit(a, c.utf8); code != 0 {
		return code, msg, nil
	}
	if c.barf {
		return 553, "sorry, your envelope sender is in my badmailfrom list (#5.7.1)", nil
	}
	if c.peer.relay {
		a += c.peer.relayClient
		if !addr.EnvelopeSafe(a) {
			return 555, msgSyntax, nil
		}
	} else {
		allowed, err := c.cfg.rcptAllowed(a)
		if err != nil {
			c.ctx.Warn("unable to read controls: control/morercpthosts.cdb: %v", err)
			return 0, "", errControl
		}
		if !allowed {
			return 553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", nil
		}
	}
	if c.cfg.ext.rcptCheck != nil {
		if v, _ := c.cfg.ext.rcptCheck.Check(a); v == rcptcheck.Unknown {
			return 550, msgNoMailbox, nil
		}
	}
	if m := c.cfg.ext.maxRcpt; m > 0 && len(c.rcpts) >= m {
		return 452, msgTooManyRcpts, nil
	}
	c.rcpts = append(c.rcpts, a)
	return 250, "ok", nil
}

// dataCmd receives the message and queues it. An error ends the session
// (bare LF, timeout, EOF); nothing is queued then.
func (c *Conn) dataCmd() (int, string, error) {
	if !c.seenMail {
		return 503, msgMailFirst, nil
	}
	if len(c.rcpts) == 0 {
		return 503, "RCPT first (#5.5.1)", nil
	}
	sender, rcpts := c.mailFrom, c.rcpts
	c.resetTransaction()
	q, err := qq.OpenCtx(c.ctx, c.queueEnv())
	if err != nil {
		c.ctx.Warn("unable to start qmail-queue: %v", err)
		return 451, "qqt failure (#4.3.0)", nil
	}
	qp := q.Pid()
	c.reply(354, "go ahead")
	q.WriteString(receivedLine(c.peer, c.helo, c.fakeHelo, c.protocol(), c.opt.now()))
	st, err := readBody(c.in, q, c.cfg.databytes)
	if err != nil {
		q.Abort()
		return 0, "", err
	}
	switch {
	case st.bareCR:
		q.Abort()
		return 554, "bare CR in message (#5.6.2)", nil
	case st.hops >= MaxHops:
		q.Abort()
		return 554, "too many hops, this message is looping (#5.4.6)", nil
	case st.tooBig:
		q.Abort()
		return 552, msgTooBig, nil
	}
	res := q.Close(sender, rcpts)
	if res.OK() {
		return 250, fmt.Sprintf("ok %d qp %d", c.opt.now().Unix(), qp), nil
	}
	if res.Permanent() {
		return 554, res.Text[1:], nil
	}
	return 451, res.Text[1:], nil
}
