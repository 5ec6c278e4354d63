// Package spawnproto is the pipe protocol between qmail-send and its
// spawners, qmail-lspawn and qmail-rspawn.
//
// It is qmail's protocol (spec §3.5) with one change: qmail sent the
// delivery slot as one byte, which capped concurrency at 255 (qmail
// compiled in 120). goqmail allows up to Limit simultaneous deliveries per
// channel, so slots travel as two bytes, big-endian. No program outside
// goqmail speaks this protocol.
//
//   - at start, the spawner writes its concurrency limit (two bytes);
//   - command, qmail-send to spawner: slot (two bytes), the message's
//     "S/N" path under queue/mess, NUL, the envelope sender, NUL, the
//     recipient, NUL;
//   - a batch (remote deliveries only): several recipients of one message
//     at one domain, delivered in one SMTP transaction, each with its own
//     slot: the first slot has its high bit (0x8000) set, and after the
//     first recipient's NUL come a count (two bytes) and, for each further
//     recipient, its slot (two bytes), the recipient and a NUL. A command
//     for one recipient is exactly as above;
//   - report, spawner to qmail-send: slot (two bytes), a status byte 'K'
//     (delivered), 'Z' (temporary failure) or 'D' (permanent failure), the
//     human text, NUL. Reports may come in any order.
package spawnproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// Limit is goqmail's silent concurrency limit (qmail's conf-spawn, 120).
const Limit = 1000

// MaxBatch bounds the recipients of one batched command.
const MaxBatch = 100

// batchBit marks the first slot of a batched command.
const batchBit = 0x8000

// MaxReport caps a report's text, as qmail-send does.
const MaxReport = 10000

// Command is one delivery request.
type Command struct {
	Slot      int
	Message   string // "S/N"
	Sender    string
	Recipient string
	// Also lists further recipients of a batch, each with its own slot.
	Also []Also
}

// Also is one further recipient of a batched command.
type Also struct {
	Slot      int
	Recipient string
}

// Report is the outcome of one delivery.
type Report struct {
	Slot   int
	Status byte // 'K', 'Z' or 'D'
	Text   string
}

// ErrBadCommand is returned for a command with NUL-less fields or a
// record that is too long.
var ErrBadCommand = errors.New("spawnproto: malformed command")

// WriteLimit announces a spawner's limit.
func WriteLimit(w io.Writer, n int) error {
	_, err := w.Write([]byte{byte(n >> 8), byte(n)})
	return err
}

// ReadLimit reads a spawner's announced limit.
func ReadLimit(r io.Reader) (int, error) {
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return int(b[0])<<8 | int(b[1]), nil
}

// AppendCommand encodes c.
func AppendCommand(buf []byte, c Command) []byte {
	slot := c.Slot
	if len(c.Also) > 0 {
		slot |= batchBit
	}
	buf = append(buf, byte(slot>>8), byte(slot))
	buf = append(buf, c.Message...)
	buf = append(buf, 0)
	buf = append(buf, c.Sender...)
	buf = append(buf, 0)
	buf = append(buf, c.Recipient...)
	buf = append(buf, 0)
	if len(c.Also) == 0 {
		return buf
	}
	buf = append(buf, byte(len(c.Also)>>8), byte(len(c.Also)))
	for _, a := range c.Also {
		buf = append(buf, byte(a.Slot>>8), byte(a.Slot))
		buf = append(buf, a.Recipient...)
		buf = append(buf, 0)
	}
	return buf
}

// maxField bounds one field of a command.
const maxField = 64 << 10

// ReadCommand reads one command. io.EOF means the peer closed cleanly.
func ReadCommand(r *bufio.Reader) (Command, error) {
	var c Command
	var b [2]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return c, ErrBadCommand
		}
		return c, err
	}
	c.Slot = int(b[0])<<8 | int(b[1])
	fields := make([]string, 3)
	for i := range fields {
		f, err := readField(r)
		if err != nil {
			return c, err
		}
		fields[i] = f
	}
	c.Message, c.Sender, c.Recipient = fields[0], fields[1], fields[2]
	if c.Slot&batchBit == 0 {
		return c, nil
	}
	c.Slot &^= batchBit
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return c, ErrBadCommand
	}
	n := int(b[0])<<8 | int(b[1])
	if n == 0 || n >= MaxBatch {
		return c, ErrBadCommand
	}
	for range n {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return c, ErrBadCommand
		}
		rcpt, err := readField(r)
		if err != nil {
			return c, err
		}
		c.Also = append(c.Also, Also{Slot: int(b[0])<<8 | int(b[1]), Recipient: rcpt})
	}
	return c, nil
}

// Slots lists every slot of a command, the first recipient's first.
func (c Command) Slots() []int {
	out := []int{c.Slot}
	for _, a := range c.Also {
		out = append(out, a.Slot)
	}
	return out
}

// Recipients lists every recipient of a command, in slot order.
func (c Command) Recipients() []string {
	out := []string{c.Recipient}
	for _, a := range c.Also {
		out = append(out, a.Recipient)
	}
	return out
}

func readField(r *bufio.Reader) (string, error) {
	var out []byte
	for {
		chunk, err := r.ReadSlice(0)
		out = append(out, chunk...)
		if len(out) > maxField {
			return "", ErrBadCommand
		}
		if err == nil {
			return string(out[:len(out)-1]), nil
		}
		if err != bufio.ErrBufferFull {
			return "", ErrBadCommand
		}
	}
}

// AppendReport encodes r; a NUL in the text ends it there.
func AppendReport(buf []byte, r Report) []byte {
	text := r.Text
	if i := bytes.IndexByte([]byte(text), 0); i >= 0 {
		text = text[:i]
	}
	buf = append(buf, byte(r.Slot>>8), byte(r.Slot), r.Status)
	buf = append(buf, text...)
	return append(buf, 0)
}

// ReadReport reads one report. Text beyond MaxReport is dropped.
func ReadReport(r *bufio.Reader) (Report, error) {
	var rep Report
	var b [3]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return rep, err
	}
	rep.Slot = int(b[0])<<8 | int(b[1])
	rep.Status = b[2]
	var text []byte
	for {
		chunk, err := r.ReadSlice(0)
		if len(text) < MaxReport {
			text = append(text, chunk...)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return rep, io.ErrUnexpectedEOF
		}
	}
	if n := len(text); n > 0 && text[n-1] == 0 {
		text = text[:n-1]
	}
	if len(text) > MaxReport {
		text = text[:MaxReport]
	}
	rep.Text = string(text)
	return rep, nil
}
