package qmqp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"time"

	"goqmail/internal/control"
	"goqmail/internal/netstring"
	"goqmail/internal/prog"
)

// DefaultPort is QMQP's port.
const DefaultPort = "628"

// The client's timeouts (qmail-qmqpc: 10 s to connect, 60 s per read or
// write).
const (
	connectTimeout = 10 * time.Second
	ioTimeout      = 60 * time.Second
)

// maxEnvelopeAddr is qmail-queue's envelope address limit (exit 11).
const maxEnvelopeAddr = 1003

// Client is qmail-qmqpc: the qmail-queue interface (message on fd 0,
// envelope on fd 1, qmail-queue's exit codes), sending the message by
// QMQP to the first server in control/qmqpservers that takes it.
func Client(ctx *prog.Context) int {
	msg, err := io.ReadAll(ctx.Stdin)
	if err != nil {
		return 54
	}
	envFile := ctx.File(1)
	if envFile == nil {
		return 54
	}
	sender, rcpts, code := readEnvelope(bufio.NewReader(envFile))
	if code != 0 {
		return code
	}
	lines, ok, err := control.New(ctx.Home).List("qmqpservers")
	if err != nil || !ok {
		return 55
	}
	packet := encodePacket(msg, sender, rcpts)
	last := 55
	for _, l := range lines {
		addr, ok := serverAddr(l)
		if !ok {
			continue
		}
		code := sendTo(addr, packet)
		if code == 0 || code == 31 || code == 71 {
			return code
		}
		last = code
	}
	return last
}

// serverAddr turns a qmqpservers line into host:port (see the package
// doc for the goqmail port extension).
func serverAddr(line string) (string, bool) {
	if ip := net.ParseIP(line); ip != nil {
		return net.JoinHostPort(ip.String(), DefaultPort), true
	}
	host, port, err := net.SplitHostPort(line)
	if err != nil || net.ParseIP(host) == nil {
		return "", false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", false
	}
	return net.JoinHostPort(host, port), true
}

// readEnvelope reads qmail-queue's envelope: F addr NUL, T addr NUL...,
// NUL. It returns qmail-queue's exit code on failure.
func readEnvelope(r *bufio.Reader) (string, []string, int) {
	var sender string
	var rcpts []string
	first := true
	for {
		tag, err := r.ReadByte()
		if err != nil {
			return "", nil, 54
		}
		if tag == 0 && !first {
			return sender, rcpts, 0
		}
		if (first && tag != 'F') || (!first && tag != 'T') {
			return "", nil, 91
		}
		var a []byte
		for {
			c, err := r.ReadByte()
			if err != nil {
				return "", nil, 54
			}
			if c == 0 {
				break
			}
			if len(a) >= maxEnvelopeAddr {
				return "", nil, 11
			}
			a = append(a, c)
		}
		if first {
			sender, first = string(a), false
		} else {
			rcpts = append(rcpts, string(a))
		}
	}
}

// encodePacket is QMQP's one netstring holding the message, the sender
// and every recipient as netstrings.
func encodePacket(msg []byte, sender string, rcpts []string) []byte {
	var inner bytes.Buffer
	inner.Write(netstring.Append(nil, msg))
	inner.WriteString(netstring.Encode(sender))
	for _, r := range rcpts {
		inner.WriteString(netstring.Encode(r))
	}
	return netstring.Append(nil, inner.Bytes())
}

// sendTo sends the packet to one server: 0 K, 71 Z, 31 D; 72 connect
// timeout, 73 connection refused, 74 anything going wrong after that.
func sendTo(addr string, packet []byte) int {
	conn, err := net.DialTimeout("tcp", addr, connectTimeout)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return 72
		}
		return 73
	}
	defer conn.Close()
	for off := 0; off < len(packet); {
		end := min(off+64<<10, len(packet))
		conn.SetWriteDeadline(time.Now().Add(ioTimeout))
		n, err := conn.Write(packet[off:end])
		if err != nil {
			return 74
		}
		off += n
	}
	conn.SetReadDeadline(time.Now().Add(ioTimeout))
	br := bufio.NewReader(conn)
	if _, err := netstring.ReadLength(br, 1<<20); err != nil {
		return 74
	}
	c, err := br.ReadByte()
	if err != nil {
		return 74
	}
	switch c {
	case 'K':
		return 0
	case 'Z':
		return 71
	case 'D':
		return 31
	}
	return 74
}
