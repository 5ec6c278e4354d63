package smtpout

import (
	"bytes"
	"net/netip"
)

// reports collects qmail-remote's output: recipient records (r, h, s)
// and one message record (K, Z, D), each letter + text + NUL.
type reports struct {
	buf  bytes.Buffer
	done bool
}

func (r *reports) add(letter byte, text string) {
	r.buf.WriteByte(letter)
	r.buf.WriteString(text)
	r.buf.WriteByte(0)
}

// final writes the message record; only the first one counts.
func (r *reports) final(letter byte, text string) {
	if r.done {
		return
	}
	r.done = true
	r.add(letter, text)
}

// remoteText is "Remote host said: TEXT" for a reply's remembered text,
// with NULs turned into '?'; "" when there is no text.
func remoteText(text []byte) string {
	if len(text) == 0 {
		return ""
	}
	t := bytes.ReplaceAll(text, []byte{0}, []byte{'?'})
	return "Remote host said: " + string(t)
}

func ipText(a netip.Addr) string { return a.String() }
