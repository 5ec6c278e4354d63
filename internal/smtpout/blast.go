package smtpout

import (
	"bufio"
	"io"
)

// dotWriter turns a stored message into SMTP DATA (RFC 5321 §4.5.2):
// LF, CR LF and a bare CR each end a line and go out as CRLF; a line
// that starts with '.', or with NUL bytes and then '.', gets one more
// '.' in front (so that a receiver that drops NULs does not see a line
// "." either). Close ends a last line that had no line end and writes
// the terminator ".\r\n". The wire therefore never holds a bare CR or
// LF, and the only CRLF.CRLF is the terminator (hardening.md §1.6).
type dotWriter struct {
	w         *bufio.Writer
	lineStart bool
	nuls      int  // NULs at the start of the line, not yet written
	cr        bool // a CR was read and not yet written
}

func newDotWriter(w *bufio.Writer) *dotWriter { return &dotWriter{w: w, lineStart: true} }

func (d *dotWriter) flushNULs() {
	for ; d.nuls > 0; d.nuls-- {
		d.w.WriteByte(0)
	}
}

func (d *dotWriter) eol() {
	d.flushNULs()
	d.w.WriteString("\r\n")
	d.lineStart = true
}

func (d *dotWriter) Write(p []byte) (int, error) {
	for _, c := range p {
		switch {
		case c == '\n':
			d.cr = false
			d.eol()
			continue
		case d.cr:
			d.cr = false
			d.eol()
		}
		switch {
		case c == '\r':
			d.cr = true
			continue
		case d.lineStart && c == 0:
			d.nuls++
			continue
		case d.lineStart && c == '.':
			d.w.WriteByte('.')
		}
		d.flushNULs()
		d.w.WriteByte(c)
		d.lineStart = false
	}
	return len(p), nil
}

// Close terminates the data; the caller flushes the bufio.Writer.
func (d *dotWriter) Close() error {
	if d.cr || !d.lineStart || d.nuls > 0 {
		d.eol()
	}
	d.cr = false
	_, err := d.w.WriteString(".\r\n")
	return err
}

// blast copies the message from r into w as DATA. A read error is
// returned as errReadMessage; write errors surface when w is flushed.
func blast(w *bufio.Writer, r io.Reader) error {
	d := newDotWriter(w)
	buf := make([]byte, 32*1024)
	for {
		n, err := r.Read(buf)
		d.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			return errReadMessage
		}
		if _, werr := w.Write(nil); werr != nil { // w keeps its first error
			return werr
		}
	}
	return d.Close()
}
