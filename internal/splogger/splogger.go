// Package splogger is qmail's splogger: it reads log lines on standard
// input and hands each to syslog (spec §17). qmail-start runs it as
// "splogger qmail" to log qmail-send.
//
//	splogger [tag [facility]]
//
// Each line goes out as "STAMP TEXT", STAMP being the time it was read as
// seconds.microseconds (six digits). A line that starts "alert:" is logged
// at LOG_ALERT, one that starts "warning:" at LOG_WARNING, any other at
// LOG_INFO. Bytes outside printable ASCII become '?'. A line longer than
// 799 bytes is cut into pieces of 799; each continuation piece is sent as
// "STAMP+TEXT" with the first piece's stamp and priority. Empty lines are
// not logged. The tag defaults to "splogger", the facility (a number, as
// syslog.h defines them) to LOG_MAIL, 16.
//
// Where qmail is silent or where goqmail decides otherwise:
//   - The datagram is written by this package, not by log/syslog: the
//     standard library's local format always adds "[pid]" after the tag,
//     which qmail's splogger (openlog without LOG_PID) never did, and it
//     switches to another format when given a socket path. The bytes are
//     what glibc's syslog(3) sends: "<PRI>Mmm dd hh:mm:ss TAG: MSG",
//     local time, to /dev/log as a datagram, or on a stream socket
//     followed by a NUL when /dev/log is a stream socket.
//   - A facility that is not a syslog facility number (a multiple of 8 up
//     to LOG_LOCAL7, 184) is refused at start with exit 100: qmail passed
//     any number to openlog, where glibc silently ignored a bad one and
//     logged as LOG_USER. Facility 0 (LOG_KERN, which a process cannot
//     log as) means LOG_USER, as glibc made it. Extra arguments are a
//     usage error.
//   - When syslog cannot be reached (no /dev/log, as in many containers,
//     or syslogd stopped), the lines go to standard error instead, as
//     "TAG: STAMP TEXT", and splogger says once per outage why. qmail's
//     splogger lost them without a word; a logger must not lose logs.
//     Each later line tries syslog again first.
//   - A last line without its newline is logged at end of input (qmail
//     lost it).
//   - Exit 0 at end of input; 111 if standard input cannot be read.
package splogger

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"goqmail/internal/errtext"
	"goqmail/internal/prog"
)

// Syslog severities and facilities (syslog.h).
const (
	logAlert   = 1
	logWarning = 4
	logInfo    = 6
	logUser    = 1 << 3
	logMail    = 2 << 3
	logLocal7  = 23 << 3
)

// pieceLen is the longest piece of a line sent in one message.
const pieceLen = 799

// DefaultSocket is where syslogd listens.
const DefaultSocket = "/dev/log"

const usage = "splogger [tag [facility]]"

// Options adjust a run for tests.
type Options struct {
	// Socket replaces /dev/log.
	Socket string
	// Now replaces the clock.
	Now func() time.Time
}

// Main is splogger.
func Main(ctx *prog.Context) int {
	return Run(ctx, Options{})
}

// Run is splogger with options.
func Run(ctx *prog.Context, opt Options) int {
	if opt.Socket == "" {
		opt.Socket = DefaultSocket
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	tag := "splogger"
	facility := logMail
	args := ctx.Args
	if len(args) > 3 {
		return ctx.Usage(usage)
	}
	if len(args) > 1 {
		tag = args[1]
	}
	if len(args) > 2 {
		f, ok := parseFacility(args[2])
		if !ok {
			return ctx.Fatal(100, "facility %q is not a syslog facility number (16 is LOG_MAIL, 128 to 184 LOG_LOCAL0 to LOG_LOCAL7)", args[2])
		}
		facility = f
	}
	l := &logger{ctx: ctx, opt: opt, tag: tag, facility: facility}
	defer l.close()
	return l.copy(bufio.NewReaderSize(ctx.Stdin, 4096))
}

// parseFacility reads a facility number; 0 means LOG_USER as in glibc.
func parseFacility(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n%8 != 0 || n > logLocal7 {
		return 0, false
	}
	if n == 0 {
		n = logUser
	}
	return n, true
}

// severity picks the priority of a line by its start.
func severity(line []byte) int {
	s := string(line)
	switch {
	case strings.HasPrefix(s, "alert:"):
		return logAlert
	case strings.HasPrefix(s, "warning:"):
		return logWarning
	}
	return logInfo
}

// stamp is "sec.usec" with six digits of microseconds.
func stamp(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

// copy reads lines and logs them until end of input.
func (l *logger) copy(r *bufio.Reader) int {
	buf := make([]byte, 0, pieceLen)
	cont := false // the next piece continues a line
	var st string
	var sev int
	flush := func() {
		if len(buf) == 0 {
			return
		}
		if cont {
			l.send(sev, st+"+"+string(buf))
		} else {
			st = stamp(l.opt.Now())
			sev = severity(buf)
			l.send(sev, st+" "+string(buf))
			cont = true
		}
		buf = buf[:0]
	}
	for {
		c, err := r.ReadByte()
		if err != nil {
			flush()
			if err == io.EOF {
				return 0
			}
			return l.ctx.Fatal(111, "unable to read input: %s", errtext.Text(err))
		}
		if c == '\n' {
			flush()
			cont = false
			continue
		}
		if len(buf) == pieceLen {
			flush()
		}
		if c < 32 || c > 126 {
			c = '?'
		}
		buf = append(buf, c)
	}
}

// logger sends messages to syslog, or to stderr while syslog is away.
type logger struct {
	ctx      *prog.Context
	opt      Options
	tag      string
	facility int
	conn     net.Conn
	stream   bool // conn is a stream socket: messages end in NUL
	down     bool // syslog unreachable; the outage has been reported
}

// send logs one message at severity sev.
func (l *logger) send(sev int, msg string) {
	var err error
	for try := 0; try < 2; try++ {
		if l.conn == nil {
			if err = l.connect(); err != nil {
				break
			}
		}
		pkt := l.packet(sev, msg)
		if _, err = l.conn.Write(pkt); err == nil {
			l.down = false
			return
		}
		l.close() // syslogd restarted, perhaps: reconnect once
	}
	if !l.down {
		l.down = true
		fmt.Fprintf(l.ctx.Stderr, "%s: warning: unable to log to syslog at %s: %s; logging to standard error\n",
			l.ctx.Name(), l.opt.Socket, errtext.Text(err))
	}
	fmt.Fprintf(l.ctx.Stderr, "%s: %s\n", l.tag, msg)
}

// packet is the message as glibc's syslog(3) writes it.
func (l *logger) packet(sev int, msg string) []byte {
	p := fmt.Appendf(nil, "<%d>%s %s: %s", l.facility|sev, l.opt.Now().Format(time.Stamp), l.tag, msg)
	if l.stream {
		p = append(p, 0)
	}
	return p
}

// connect opens the syslog socket: a datagram socket first, then a
// stream socket, as glibc does.
func (l *logger) connect() error {
	c, err := net.Dial("unixgram", l.opt.Socket)
	if err == nil {
		l.conn, l.stream = c, false
		return nil
	}
	c, serr := net.Dial("unix", l.opt.Socket)
	if serr == nil {
		l.conn, l.stream = c, true
		return nil
	}
	return err
}

func (l *logger) close() {
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}
