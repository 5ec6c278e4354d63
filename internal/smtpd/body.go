package smtpd

import (
	"errors"
	"io"
)

// MaxHops is qmail's loop limit: a header with this many Received or
// Delivered-To lines (or more) means the message is looping.
const MaxHops = 100

// errBareLF is an LF in DATA that no CR came before.
var errBareLF = errors.New("bare LF in DATA")

// bodyStats is what reading one DATA body found.
type bodyStats struct {
	bytes  int64 // bytes stored: CRLF counted as one LF, stuffed dots not counted
	hops   int   // Received/Delivered-To lines in the header
	bareCR bool  // a CR not followed by LF
	tooBig bool  // more than databytes bytes
}

// States of the DATA reader. It starts in stLineStart, as if just after
// a CRLF, so that an immediate ".\r\n" is an empty message.
const (
	stLineStart = iota // after CRLF
	stDot              // "." at the start of a line
	stDotCR            // ".\r" at the start of a line
	stText             // inside a line
	stCR               // "\r" inside a line
)

// bodyReader turns SMTP DATA into qmail's stored form: only
// <CR><LF>.<CR><LF> ends it, a dot starting a line is removed, CRLF
// becomes LF. A bare LF stops it at once with errBareLF; a bare CR marks
// the message bad but reading goes on to the real end, so the session
// stays in step with the client. Stored bytes go to w in chunks until
// the message is known to fail.
type bodyReader struct {
	in    io.ByteReader
	w     io.Writer
	limit int64 // databytes; 0 = none
	st    int
	stats bodyStats
	hops  hopCounter
	buf   []byte
}

const bodyChunk = 16 << 10

// readBody reads one DATA body from in, writing what is stored to w.
// The error is errBareLF, or in's error (io.EOF, errTimeout, ...).
func readBody(in io.ByteReader, w io.Writer, limit int64) (bodyStats, error) {
	b := &bodyReader{in: in, w: w, limit: limit, buf: make([]byte, 0, bodyChunk)}
	for {
		ch, err := in.ReadByte()
		if err != nil {
			return b.stats, err
		}
		done, err := b.feed(ch)
		if err != nil {
			return b.stats, err
		}
		if done {
			b.flush()
			b.stats.hops = b.hops.hops
			return b.stats, nil
		}
	}
}

// feed moves the state machine by one byte.
func (b *bodyReader) feed(ch byte) (done bool, err error) {
	switch b.st {
	case stLineStart:
		switch ch {
		case '.':
			b.st = stDot
		case '\r':
			b.st = stCR
		case '\n':
			return false, errBareLF
		default:
			b.put(ch)
			b.st = stText
		}
	case stDot:
		switch ch {
		case '\r':
			b.st = stDotCR
		case '\n':
			return false, errBareLF
		default:
			b.put(ch) // the leading dot is dropped
			b.st = stText
		}
	case stDotCR:
		if ch == '\n' {
			return true, nil
		}
		b.stats.bareCR = true
		b.st = stText
		return b.feed(ch)
	case stText:
		switch ch {
		case '\r':
			b.st = stCR
		case '\n':
			return false, errBareLF
		default:
			b.put(ch)
		}
	case stCR:
		if ch == '\n' {
			b.put('\n')
			b.st = stLineStart
			return false, nil
		}
		b.stats.bareCR = true
		b.st = stText
		return b.feed(ch)
	}
	return false, nil
}

// failed says whether nothing more need be written.
func (b *bodyReader) failed() bool {
	return b.stats.bareCR || b.stats.tooBig
}

// put stores one byte.
func (b *bodyReader) put(ch byte) {
	b.stats.bytes++
	if b.limit > 0 && b.stats.bytes > b.limit {
		b.stats.tooBig = true
	}
	b.hops.feed(ch)
	if b.failed() {
		b.buf = b.buf[:0]
		return
	}
	b.buf = append(b.buf, ch)
	if len(b.buf) == cap(b.buf) {
		b.flush()
	}
}

func (b *bodyReader) flush() {
	if len(b.buf) > 0 && !b.failed() {
		b.w.Write(b.buf)
	}
	b.buf = b.buf[:0]
}

// hopCounter counts header lines that start with "received" or
// "delivered" in any mix of case, up to the first empty line, on the
// stored (LF-terminated) bytes, as qmail-smtpd does.
type hopCounter struct {
	pos        int // position in the current line, capped at 9
	notR, notD bool
	body       bool // past the header
	hops       int
}

func (h *hopCounter) feed(ch byte) {
	if h.body {
		return
	}
	if ch == '\n' {
		if h.pos == 0 {
			h.body = true
			return
		}
		h.pos, h.notR, h.notD = 0, false, false
		return
	}
	if h.pos < 9 {
		if !foldMatch(ch, "delivered"[h.pos]) {
			h.notD = true
		} else if h.pos == 8 && !h.notD {
			h.hops++
		}
		if h.pos < 8 {
			if !foldMatch(ch, "received"[h.pos]) {
				h.notR = true
			} else if h.pos == 7 && !h.notR {
				h.hops++
			}
		}
		h.pos++
	}
}

// foldMatch compares a byte with a lower-case letter in either case.
func foldMatch(ch, lower byte) bool {
	return ch == lower || ch == lower-('a'-'A')
}
