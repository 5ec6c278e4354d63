package smtpout

import (
	"bufio"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// maxReplyText is how much of a reply qmail-remote remembers for its
// report, as qmail does.
const maxReplyText = 5000

var errReadMessage = errors.New("unable to read message")

// timedConn gives every Write its own deadline of timeoutremote, as
// qmail's timeoutwrite does.
type timedConn struct {
	net.Conn
	timeout time.Duration
}

func (c *timedConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	return c.Conn.Write(p)
}

// session is one SMTP connection.
type session struct {
	conn    net.Conn // the raw connection, or the TLS connection over it
	raw     *timedConn
	r       *bufio.Reader
	w       *bufio.Writer
	timeout time.Duration
	ip      netip.Addr
	text    []byte // the last reply, CRs dropped, at most maxReplyText bytes
	closing bool   // the peer answered 421: it is closing the connection
}

func newSession(c net.Conn, ip netip.Addr, timeout time.Duration) *session {
	tc := &timedConn{Conn: c, timeout: timeout}
	return &session{conn: tc, raw: tc, r: bufio.NewReader(tc), w: bufio.NewWriter(tc), timeout: timeout, ip: ip}
}

// setTimeout makes d the limit for each reply and each write.
func (s *session) setTimeout(d time.Duration) {
	s.timeout, s.raw.timeout = d, d
}

// quiet says whether the peer has sent nothing that was not read: no
// unread reply in the buffer and, on the socket, neither data nor its
// end (looked at without waiting and without taking it). A kept
// connection must be quiet before it is used again and when it is kept:
// a line too many from the peer would otherwise be read as the reply to
// the next command, every reply one step late, and a message the peer
// refused reported as delivered. Where the socket cannot be looked at,
// only the buffer counts.
func (s *session) quiet() bool {
	if s.r.Buffered() > 0 {
		return false
	}
	sc, ok := s.raw.Conn.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	pending := false
	rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Data (n > 0), or the peer's end (n == 0 without error), or a
		// broken connection: anything but "nothing yet".
		pending = n > 0 || (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN)
		return true // never wait
	})
	return !pending
}

// use switches to conn (after STARTTLS), dropping anything the peer sent
// before the handshake (hardening.md §1.7).
func (s *session) use(conn net.Conn) {
	s.conn = conn
	s.r = bufio.NewReader(conn)
	s.w = bufio.NewWriter(conn)
}

func (s *session) send(line string) error {
	s.w.WriteString(line)
	s.w.WriteString("\r\n")
	return s.w.Flush()
}

// cmd sends line and reads the reply.
func (s *session) cmd(line string) (int, error) {
	if err := s.send(line); err != nil {
		return 0, err
	}
	return s.reply()
}

func (s *session) keep(b []byte) {
	for _, c := range b {
		if c == '\r' || len(s.text) >= maxReplyText {
			continue
		}
		s.text = append(s.text, c)
	}
}

// reply reads one reply, which must be complete within timeoutremote.
// Its code is that of its first line (qmail: "250-x" then "451 y" is a
// success); a first line that does not start with three digits gives
// 400. Lines may end in LF or CRLF.
func (s *session) reply() (int, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	s.text = s.text[:0]
	code := -1
	for {
		var head []byte // the first 4 bytes of the line, CRs dropped
		for {
			chunk, err := s.r.ReadSlice('\n')
			for _, c := range chunk {
				if c != '\r' && c != '\n' && len(head) < 4 {
					head = append(head, c)
				}
			}
			s.keep(chunk)
			if err == nil {
				break
			}
			if err != bufio.ErrBufferFull {
				return 0, err
			}
		}
		if code < 0 {
			code = 400
			if len(head) >= 3 && isDigit(head[0]) && isDigit(head[1]) && isDigit(head[2]) {
				code = int(head[0]-'0')*100 + int(head[1]-'0')*10 + int(head[2]-'0')
			}
		}
		if len(head) < 4 || head[3] != '-' {
			if code == 421 {
				s.closing = true
			}
			return code, nil
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
