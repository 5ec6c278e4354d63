package smtpd

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// Replies of STARTTLS (RFC 3207). "454 TLS not available due to
// temporary reason" is the qmail-tls patch's text.
const (
	msgTLSReady     = "ready to start TLS"
	msgTLSParams    = "Syntax error (no parameters allowed) (#5.5.4)"
	msgTLSAgain     = "TLS already active (#5.5.1)"
	msgTLSInMail    = "STARTTLS not allowed during mail transaction (#5.5.1)"
	msgTLSTemporary = "TLS not available due to temporary reason (#4.3.0)"
)

// errNoSocket is a session whose standard input is not a socket.
var errNoSocket = errors.New("standard input is not a socket")

// tlsOffered says whether EHLO announces STARTTLS.
func (c *Conn) tlsOffered() bool {
	return c.cfg.ext.certPath != "" && c.tlsConn == nil
}

// starttlsCmd runs STARTTLS. Whatever the client sent after the
// STARTTLS line before the handshake is thrown away, never run as if
// it had come over TLS (CVE-2011-0411).
func (c *Conn) starttlsCmd(arg string) (int, bool) {
	switch {
	case c.cfg.ext.certPath == "":
		c.reply(502, "unimplemented (#5.5.1)")
	case c.tlsConn != nil:
		c.reply(503, msgTLSAgain)
	case arg != "":
		c.reply(501, msgTLSParams)
	case c.seenMail:
		c.reply(503, msgTLSInMail)
	default:
		cfg, err := c.tlsConfig()
		if err != nil {
			c.ctx.Warn("STARTTLS: %v", err)
			c.reply(454, msgTLSTemporary)
			break
		}
		if err := c.rawConn(); err != nil {
			c.ctx.Warn("STARTTLS: %v", err)
			c.reply(454, msgTLSTemporary)
			break
		}
		c.reply(220, msgTLSReady)
		if c.out.Flush() != nil {
			return 1, true
		}
		if err := c.handshake(cfg); err != nil {
			c.ctx.Warn("TLS handshake failed: %v", err)
			return 1, true
		}
		return 0, false
	}
	return 1, c.flushFailed()
}

// tlsConfig loads control/servercert.pem (certificate chain and key in
// one PEM file, as the qmail-tls patch keeps them). Session tickets are
// off: some large receivers (Outlook.com) fail on resumed sessions.
func (c *Conn) tlsConfig() (*tls.Config, error) {
	if c.cfg.ext.certPath == "" {
		return nil, errors.New("control/servercert.pem does not exist")
	}
	cert, err := tls.LoadX509KeyPair(c.cfg.ext.certPath, c.cfg.ext.certPath)
	if err != nil {
		return nil, errors.New("control/servercert.pem: " + err.Error())
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: true}, nil
}

// rawConn finds the socket under the session: the standard input itself
// when it is a net.Conn (the in-process path), else descriptor 0 (under
// tcpserver descriptors 0 and 1 are the same socket).
func (c *Conn) rawConn() error {
	if c.raw != nil {
		return nil
	}
	if nc, ok := c.ctx.Stdin.(net.Conn); ok {
		c.raw = nc
		return nil
	}
	f := c.ctx.File(0)
	if f == nil {
		return errNoSocket
	}
	nc, err := net.FileConn(f)
	if err != nil {
		return errNoSocket
	}
	c.raw, c.ownRaw = nc, true
	return nil
}

// startTLS is SMTPS: TLS before the greeting.
func (c *Conn) startTLS() error {
	cfg, err := c.tlsConfig()
	if err != nil {
		return err
	}
	if err := c.rawConn(); err != nil {
		return err
	}
	return c.handshake(cfg)
}

// handshake runs the TLS handshake within timeoutsmtpd and moves the
// session onto the TLS connection. The buffered plaintext input is
// dropped with the old reader. The session starts over: no HELO, no
// transaction, no AUTH (RFC 3207 §4.2).
func (c *Conn) handshake(cfg *tls.Config) error {
	tc := tls.Server(c.raw, cfg)
	c.raw.SetDeadline(time.Now().Add(c.cfg.timeout))
	err := tc.Handshake()
	c.raw.SetDeadline(time.Time{})
	if err != nil {
		return err
	}
	c.rd.stop()
	c.wr.stop()
	c.tlsConn = tc
	c.tlsCipher = tls.CipherSuiteName(tc.ConnectionState().CipherSuite)
	c.wr = newTimedWriter(tc, c.cfg.timeout)
	c.out = bufio.NewWriterSize(c.wr, 4096)
	c.rd = newTimedReader(tc, c.cfg.timeout, c.out.Flush)
	c.in = bufio.NewReaderSize(c.rd, inBuffer)
	c.resetTransaction()
	c.peer = c.basePeer
	c.helo, c.fakeHelo, c.ehlo = c.peer.remoteHost, false, false
	c.authUser, c.authFails = "", 0
	return nil
}

// protocol is what the Received line says after "with".
func (c *Conn) protocol() string {
	if c.tlsConn != nil {
		return "(" + c.tlsCipher + " encrypted) SMTP"
	}
	return "SMTP"
}
