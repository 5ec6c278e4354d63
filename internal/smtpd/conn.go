package smtpd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"goqmail/internal/prog"
)

// MaxCommandLine is the longest command line accepted, CR LF included.
// It leaves room for a 899-byte address with its brackets, verb and
// ESMTP parameters; RFC 5321 asks for at least 512.
const MaxCommandLine = 2048

// inBuffer is the size of the network read buffer.
const inBuffer = 8 << 10

// errLineTooLong is a command line longer than MaxCommandLine.
var errLineTooLong = errors.New("command line too long")

// Conn is one SMTP session. The transaction fields are what RSET, HELO,
// EHLO and a finished DATA reset (and what a STARTTLS would reset).
type Conn struct {
	ctx  *prog.Context
	cfg  *config
	peer peer
	opt  options

	rd  *timedReader
	wr  *timedWriter
	in  *bufio.Reader
	out *bufio.Writer

	ipme     []net.IP // this host's addresses, read on first need
	haveIPMe bool

	helo     string // the HELO/EHLO argument, at first TCPREMOTEHOST
	fakeHelo bool   // helo differs from TCPREMOTEHOST
	ehlo     bool   // the client said EHLO: enhanced status codes apply

	// TLS and AUTH (tls.go, auth.go)
	basePeer  peer     // the peer as tcpserver described it
	raw       net.Conn // the socket under TLS, nil before STARTTLS
	ownRaw    bool     // raw is our dup of fd 0, to be closed
	tlsConn   *tls.Conn
	tlsCipher string // the cipher suite's name, for the Received line
	authUser  string
	authFails int

	// the transaction
	seenMail bool
	mailFrom string
	barf     bool // the sender is in badmailfrom
	utf8     bool // MAIL carried SMTPUTF8
	rcpts    []string
}

func newConn(ctx *prog.Context, cfg *config, opt options) *Conn {
	c := &Conn{ctx: ctx, cfg: cfg, opt: opt, peer: newPeer(ctx.Getenv)}
	c.wr = newTimedWriter(ctx.Stdout, cfg.timeout)
	c.out = bufio.NewWriterSize(c.wr, 4096)
	c.rd = newTimedReader(ctx.Stdin, cfg.timeout, c.out.Flush)
	c.in = bufio.NewReaderSize(c.rd, inBuffer)
	c.helo = c.peer.remoteHost
	c.basePeer = c.peer
	return c
}

// stop leaves the caller's streams without our deadlines.
func (c *Conn) stop() {
	c.rd.stop()
	c.wr.stop()
	if c.tlsConn != nil {
		c.tlsConn.Close()
	} else if c.ownRaw && c.raw != nil {
		c.raw.Close()
	}
}

// reply buffers one reply; lines of a multi-line reply are separated
// by '\n' in msg.
func (c *Conn) reply(code int, msg string) {
	c.replyLines(code, msg, c.enhancedCode(code, msg))
}

// replyPlain buffers a reply that never carries an enhanced status code
// (the greeting, HELO and EHLO, as RFC 2034 says).
func (c *Conn) replyPlain(code int, msg string) {
	c.replyLines(code, msg, "")
}

func (c *Conn) replyLines(code int, msg, enh string) {
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		c.out.WriteString(strconv.Itoa(code))
		if i < len(lines)-1 {
			c.out.WriteByte('-')
		} else {
			c.out.WriteByte(' ')
		}
		if enh != "" {
			c.out.WriteString(enh)
			c.out.WriteByte(' ')
		}
		c.out.WriteString(l)
		c.out.WriteString("\r\n")
	}
}

// serve runs the session and returns the exit code.
func (c *Conn) serve() int {
	if c.cfg.ext.smtps {
		if err := c.startTLS(); err != nil {
			c.ctx.Warn("TLS handshake failed: %v", err)
			return 1
		}
	}
	c.replyPlain(220, c.cfg.greeting+" ESMTP")
	if c.out.Flush() != nil {
		return 1
	}
	for {
		line, err := c.readCommand()
		if err == errLineTooLong {
			c.reply(500, "line too long (#5.5.2)")
			if c.out.Flush() != nil {
				return 1
			}
			continue
		}
		if err != nil {
			return c.fail(err)
		}
		code, exit := c.command(line)
		if exit {
			return code
		}
	}
}

// fail ends the session after a read error or a fatal condition.
func (c *Conn) fail(err error) int {
	switch err {
	case errTimeout:
		c.reply(451, "timeout (#4.4.2)")
	case errBareLF:
		c.reply(451, "See http://pobox.com/~djb/docs/smtplf.html.")
	case errNoIPMe:
		c.reply(421, "unable to figure out my IP addresses (#4.3.0)")
	case errControl:
		c.reply(421, "unable to read controls (#4.3.0)")
	default:
		return 1 // EOF, a read or write error: silently
	}
	c.out.Flush()
	return 1
}

// readCommand reads one command line without its LF and without one
// trailing CR, in bounded memory.
//
// The whole line, from the moment the session waits for it, must arrive
// within timeoutsmtpd, not only each read: qmail's per-read timeout lets
// a client that sends one byte every 1199 seconds hold a process for
// days. A client that types slowly by hand still has the whole timeout
// (20 minutes by default) per command. DATA keeps qmail's per-read
// timeout: a large message on a slow link must not be cut, and
// databytes bounds how long such a trickle can go on.
func (c *Conn) readCommand() ([]byte, error) {
	c.rd.until = time.Now().Add(c.cfg.timeout)
	defer func() { c.rd.until = time.Time{} }()
	line, err := c.in.ReadSlice('\n')
	if err == bufio.ErrBufferFull || (err == nil && len(line) > MaxCommandLine) {
		for err == bufio.ErrBufferFull {
			_, err = c.in.ReadSlice('\n')
		}
		if err != nil {
			return nil, err
		}
		return nil, errLineTooLong
	}
	if err != nil {
		return nil, err // a partial last line is dropped, as in qmail
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// command runs one command line. exit says the session is over, with
// code as its exit code.
func (c *Conn) command(line []byte) (code int, exit bool) {
	if bytes.IndexByte(line, 0) >= 0 {
		c.reply(555, "syntax error (#5.5.4)")
		return 1, c.flushFailed()
	}
	verb, arg := string(line), ""
	if i := bytes.IndexByte(line, ' '); i >= 0 {
		verb = string(line[:i])
		arg = strings.TrimLeft(string(line[i:]), " ")
	}
	flush := true
	switch asciiLower(verb) {
	case "helo":
		c.replyPlain(c.heloCmd(arg))
	case "ehlo":
		c.replyPlain(c.ehloCmd(arg))
	case "starttls":
		return c.starttlsCmd(arg)
	case "auth":
		return c.authCmd(arg)
	case "rset":
		c.reply(c.rsetCmd())
		flush = false
	case "noop":
		c.reply(250, "ok")
	case "vrfy":
		c.reply(252, "send some mail, i'll try my best")
	case "help":
		c.reply(214, "qmail home page: http://pobox.com/~djb/qmail.html")
	case "quit":
		c.reply(221, c.cfg.greeting)
		if c.out.Flush() != nil {
			return 1, true
		}
		return 0, true
	case "mail":
		rc, msg, err := c.mailCmd(arg)
		if err != nil {
			return c.fail(err), true
		}
		c.reply(rc, msg)
		flush = false
	case "rcpt":
		rc, msg, err := c.rcptCmd(arg)
		if err != nil {
			return c.fail(err), true
		}
		c.reply(rc, msg)
		flush = false
	case "data":
		rc, msg, err := c.dataCmd()
		if err != nil {
			return c.fail(err), true
		}
		c.reply(rc, msg)
	default:
		c.reply(502, "unimplemented (#5.5.1)")
	}
	if flush {
		return 1, c.flushFailed()
	}
	return 0, false
}

// flushFailed flushes the replies and says whether that failed.
func (c *Conn) flushFailed() bool {
	return c.out.Flush() != nil
}
