package qmqp

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"goqmail/internal/datefmt"
	"goqmail/internal/prog"
)

// Alarm is qmail's whole-session limit for qmail-qmqpd and qmail-qmtpd.
const Alarm = 3600 * time.Second

// maxMessage is qmail 1.03's limit on a netstring length.
const maxMessage = 200000000

// maxAddress: addresses of this length or more are refused.
const maxAddress = 1000

// errAlarm is the session running past its alarm.
var errAlarm = errors.New("session alarm")

// options are what tests replace.
type options struct {
	now   func() time.Time
	alarm time.Duration
}

func defaultOptions() options { return options{now: time.Now, alarm: Alarm} }

type readResult struct {
	n   int
	err error
}

// sessionReader ends every read at the session's end: through the
// stream's deadline when it has one, else with a timer.
type sessionReader struct {
	r   io.Reader
	end time.Time
	dl  bool
	err error
}

func newSessionReader(r io.Reader, d time.Duration) *sessionReader {
	s := &sessionReader{r: r, end: time.Now().Add(d)}
	if f, ok := r.(interface{ SetReadDeadline(time.Time) error }); ok && f.SetReadDeadline(s.end) == nil {
		s.dl = true
	}
	return s
}

func (s *sessionReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.dl {
		n, err := s.r.Read(p)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = errAlarm
		}
		s.err = err
		return n, err
	}
	left := time.Until(s.end)
	if left <= 0 {
		s.err = errAlarm
		return 0, errAlarm
	}
	buf := make([]byte, len(p))
	done := make(chan readResult, 1)
	go func() {
		n, err := s.r.Read(buf)
		done <- readResult{n, err}
	}()
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case res := <-done:
		copy(p, buf[:res.n])
		s.err = res.err
		return res.n, res.err
	case <-t.C:
		s.err = errAlarm
		return 0, errAlarm
	}
}

// peer is the connection as tcpserver describes it.
type peer struct {
	remoteIP, remoteHost, remoteInfo, local string
	haveInfo                                bool
	relayClient                             string
	relay                                   bool
}

func newPeer(ctx *prog.Context) peer {
	or := func(keys ...string) string {
		for _, k := range keys {
			if v, ok := ctx.Getenv(k); ok {
				return v
			}
		}
		return "unknown"
	}
	p := peer{remoteIP: or("TCPREMOTEIP"), remoteHost: or("TCPREMOTEHOST"), local: or("TCPLOCALHOST", "TCPLOCALIP")}
	p.remoteInfo, p.haveInfo = ctx.Getenv("TCPREMOTEINFO")
	p.relayClient, p.relay = ctx.Getenv("RELAYCLIENT")
	return p
}

func safe(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".@%+/=:-", c) >= 0
		if !ok {
			b[i] = '?'
		}
	}
	return string(b)
}

// received is qmail's Received line for proto (QMQP or QMTP), which
// never has a HELO part.
func received(p peer, proto string, t time.Time) string {
	info := ""
	if p.haveInfo {
		info = safe(p.remoteInfo) + "@"
	}
	return "Received: from " + safe(p.remoteHost) + " (" + info + safe(p.remoteIP) + ")\n  by " +
		safe(p.local) + " with " + proto + "; " + datefmt.RFC822(t) + "\n"
}

// okText is the success answer "Kok TIME qp PID".
func okText(t time.Time, qp int) string {
	return "Kok " + strconv.FormatInt(t.Unix(), 10) + " qp " + strconv.Itoa(qp)
}

// badAddress reports an address qmail refuses: too long, or holding
// NUL (or, in goqmail, CR or LF).
func badAddress(a []byte, tooLong bool) bool {
	return tooLong || len(a) >= maxAddress || strings.ContainsAny(string(a), "\x00\r\n")
}
