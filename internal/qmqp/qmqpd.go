package qmqp

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"goqmail/internal/netstring"
	"goqmail/internal/prog"
	"goqmail/internal/qq"
)

// Qmqpd is qmail-qmqpd: one message by QMQP on stdin, one answer on
// stdout. It relays to any address: only tcpserver's rules decide who
// may use it.
func Qmqpd(ctx *prog.Context) int { return qmqpd(ctx, defaultOptions()) }

// limited is a byte reader that may read only n more bytes (the rest of
// the outer netstring).
type limited struct {
	r *bufio.Reader
	n int64
}

var errOuter = errors.New("item runs past the end of the outer netstring")

func (l *limited) ReadByte() (byte, error) {
	if l.n <= 0 {
		return 0, errOuter
	}
	c, err := l.r.ReadByte()
	if err == nil {
		l.n--
	}
	return c, err
}

func (l *limited) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errOuter
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// readAddress reads one netstring address, keeping at most maxAddress
// bytes; bad is true when it is refused.
func readAddress(r interface {
	io.Reader
	io.ByteReader
}, max int64) (a []byte, bad bool, err error) {
	n, err := netstring.ReadLength(r, max)
	if err != nil {
		// An address is always mid-message: even an EOF before its
		// first byte is the client gone, not a clean end.
		return nil, false, unexpected(err)
	}
	keep := n
	if keep > maxAddress {
		keep = maxAddress
	}
	a = make([]byte, keep)
	if _, err := io.ReadFull(r, a); err != nil {
		return nil, false, unexpected(err)
	}
	if _, err := io.CopyN(io.Discard, r, n-keep); err != nil {
		return nil, false, unexpected(err)
	}
	return a, badAddress(a, n > keep), netstring.ReadEnd(r)
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fail reports a broken session: 100 for a protocol error, 111 for
// everything else (a dropped connection, a timeout, a length over the
// limit).
func fail(ctx *prog.Context, err error) int {
	switch {
	case errors.Is(err, errAlarm):
		return ctx.Fatal(111, "timeout")
	case errors.Is(err, netstring.ErrMalformed), errors.Is(err, errOuter):
		return ctx.Fatal(100, "protocol error: %v", err)
	case errors.Is(err, netstring.ErrTooLong):
		return ctx.Fatal(111, "%v", err)
	}
	return ctx.Fatal(111, "read error: %v", err)
}

func qmqpd(ctx *prog.Context, opt options) int {
	br := bufio.NewReaderSize(newSessionReader(ctx.Stdin, opt.alarm), 64<<10)
	outer, err := netstring.ReadLength(br, maxMessage)
	if err != nil {
		return fail(ctx, err)
	}
	in := &limited{r: br, n: outer}
	msgLen, err := netstring.ReadLength(in, in.n)
	if err != nil {
		if errors.Is(err, netstring.ErrTooLong) {
			err = errOuter
		}
		return fail(ctx, err)
	}
	q, err := qq.OpenCtx(ctx, ctx.Env)
	if err != nil {
		return answer(ctx, "Zqqt failure (#4.3.0)")
	}
	q.WriteString(received(newPeer(ctx), "QMQP", opt.now()))
	if _, err := io.CopyN(q, in, msgLen); err != nil {
		q.Abort()
		return fail(ctx, unexpected(err))
	}
	if err := netstring.ReadEnd(in); err != nil {
		q.Abort()
		return fail(ctx, err)
	}
	var addrs []string
	bad := false
	for in.n > 0 {
		a, refused, err := readAddress(in, in.n)
		if err != nil {
			q.Abort()
			if errors.Is(err, netstring.ErrTooLong) {
				err = errOuter
			}
			return fail(ctx, err)
		}
		bad = bad || refused
		addrs = append(addrs, string(a))
	}
	if err := netstring.ReadEnd(br); err != nil {
		q.Abort()
		return fail(ctx, err)
	}
	if len(addrs) == 0 {
		q.Abort()
		return fail(ctx, errNoSender)
	}
	if bad {
		q.Abort()
		return answer(ctx, "Dsorry, I can't accept addresses like that (#5.1.3)")
	}
	res := q.Close(addrs[0], addrs[1:])
	if !res.OK() {
		return answer(ctx, res.Text)
	}
	return answer(ctx, okText(opt.now(), q.Pid()))
}

// errNoSender is a QMQP envelope without even a sender.
var errNoSender = fmt.Errorf("%w: no envelope sender", netstring.ErrMalformed)

// answer writes qmail-qmqpd's one netstring reply.
func answer(ctx *prog.Context, text string) int {
	if _, err := io.WriteString(ctx.Stdout, netstring.Encode(text)); err != nil {
		return 111
	}
	return 0
}
