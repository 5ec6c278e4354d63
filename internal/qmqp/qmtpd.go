package qmqp

import (
	"bufio"
	"errors"
	"io"

	"goqmail/internal/control"
	"goqmail/internal/netstring"
	"goqmail/internal/prog"
	"goqmail/internal/qq"
)

// maxRcptList caps a QMTP recipient list netstring.
const maxRcptList = 10 << 20

// The QMTP refusals (spec §12.1).
const (
	textRcptHosts = "Dsorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"
	textBadRcpt   = "Dsorry, I can't handle that recipient (#5.1.3)"
	textBadSender = "Dunacceptable sender (#5.1.7)"
	textTooBig    = "Dsorry, that message size exceeds my databytes limit (#5.3.4)"
)

// Qmtpd is qmail-qmtpd: messages by QMTP on stdin, one answer per
// recipient on stdout, until the client closes the connection.
func Qmtpd(ctx *prog.Context) int { return qmtpd(ctx, defaultOptions()) }

type qmtpConfig struct {
	hosts     *rcptHosts
	databytes int64
}

func qmtpd(ctx *prog.Context, opt options) int {
	d := control.New(ctx.Home)
	hosts, err := loadRcptHosts(d)
	if err != nil {
		return ctx.Fatal(111, "unable to read controls: %v", err)
	}
	defer hosts.close()
	db, err := databytes(ctx, d)
	if err != nil {
		return ctx.Fatal(111, "unable to read controls: %v", err)
	}
	cfg := &qmtpConfig{hosts: hosts, databytes: db}
	p := newPeer(ctx)
	br := bufio.NewReaderSize(newSessionReader(ctx.Stdin, opt.alarm), 64<<10)
	w := bufio.NewWriter(ctx.Stdout)
	for {
		replies, err := qmtpMessage(ctx, cfg, p, br, opt)
		if err == io.EOF {
			return 0
		}
		if err != nil {
			return fail(ctx, err)
		}
		for _, r := range replies {
			w.WriteString(netstring.Encode(r))
		}
		if err := w.Flush(); err != nil {
			return 111
		}
	}
}

// copyMessage streams n message bytes to q (nil: discard), turning CRLF
// into LF when crlf, and returns the bytes stored.
func copyMessage(q io.Writer, r *bufio.Reader, n int64, crlf bool, limit int64) (stored int64, tooBig bool, err error) {
	out := bufio.NewWriterSize(io.Discard, 0)
	if q != nil {
		out = bufio.NewWriterSize(q, 32<<10)
	}
	put := func(c byte) {
		stored++
		if limit > 0 && stored > limit {
			tooBig = true
		}
		if !tooBig {
			out.WriteByte(c)
		}
	}
	pendingCR := false
	for ; n > 0; n-- {
		c, err := r.ReadByte()
		if err != nil {
			return stored, tooBig, unexpected(err)
		}
		if !crlf {
			put(c)
			continue
		}
		if pendingCR {
			pendingCR = false
			if c == '\n' {
				put('\n')
				continue
			}
			put('\r')
		}
		if c == '\r' {
			pendingCR = true
			continue
		}
		put(c)
	}
	if pendingCR {
		put('\r')
	}
	return stored, tooBig, out.Flush()
}

// qmtpMessage reads one message with its envelope and queues it; it
// returns the answers, one per recipient.
func qmtpMessage(ctx *prog.Context, cfg *qmtpConfig, p peer, br *bufio.Reader, opt options) ([]string, error) {
	n, err := netstring.ReadLength(br, maxMessage)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.Join(netstring.ErrMalformed, errors.New("empty message"))
	}
	mode, err := br.ReadByte()
	if err != nil {
		return nil, unexpected(err)
	}
	if mode != '\n' && mode != '\r' {
		return nil, errors.Join(netstring.ErrMalformed, errors.New("message starts with neither LF nor CR"))
	}
	q, qerr := qq.OpenCtx(ctx, ctx.Env)
	var sink io.Writer
	if qerr == nil {
		q.WriteString(received(p, "QMTP", opt.now()))
		sink = q
	}
	abort := func() {
		if q != nil {
			q.Abort()
		}
	}
	_, tooBig, err := copyMessage(sink, br, n-1, mode == '\r', cfg.databytes)
	if err == nil {
		err = netstring.ReadEnd(br)
	}
	if err != nil {
		abort()
		return nil, err
	}
	sender, badSender, err := readAddress(br, maxMessage)
	if err != nil {
		abort()
		return nil, err
	}
	listLen, err := netstring.ReadLength(br, maxRcptList)
	if err != nil {
		abort()
		return nil, err
	}
	in := &limited{r: br, n: listLen}
	var own []string // per recipient: its own refusal, or ""
	var accepted []string
	for in.n > 0 {
		a, bad, err := readAddress(in, in.n)
		if err != nil {
			abort()
			if errors.Is(err, netstring.ErrTooLong) {
				err = errOuter
			}
			return nil, err
		}
		rcpt := string(a)
		if p.relay {
			rcpt += p.relayClient
		}
		switch ok, err := cfg.hosts.allowed(rcpt); {
		case bad || badAddress([]byte(rcpt), false):
			own = append(own, textBadRcpt)
		case err != nil:
			own = append(own, "Zunable to read morercpthosts.cdb (#4.3.0)")
		case !ok && !p.relay:
			own = append(own, textRcptHosts)
		default:
			own = append(own, "")
			accepted = append(accepted, rcpt)
		}
	}
	if err := netstring.ReadEnd(br); err != nil {
		abort()
		return nil, err
	}
	var shared string
	switch {
	case tooBig:
		abort()
		shared = textTooBig
	case badSender:
		abort()
		shared = textBadSender
	case qerr != nil:
		shared = "Zqqt failure (#4.3.0)"
	case len(accepted) == 0:
		abort()
	default:
		res := q.Close(string(sender), accepted)
		shared = res.Text
		if res.OK() {
			shared = okText(opt.now(), q.Pid())
		}
	}
	replies := make([]string, len(own))
	for i, r := range own {
		switch {
		case tooBig || badSender:
			replies[i] = shared
		case r != "":
			replies[i] = r
		default:
			replies[i] = shared
		}
	}
	return replies, nil
}
