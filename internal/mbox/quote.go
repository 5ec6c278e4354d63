package mbox

import (
	"bufio"
	"bytes"
	"io"
)

// readError marks an error of the message reader.
type readError struct{ err error }

func (e readError) Error() string { return e.err.Error() }

var fromPrefix = []byte("From ")

// tracker remembers the last byte written through it.
type tracker struct {
	w     *bufio.Writer
	last  byte
	wrote bool
}

func (t *tracker) write(p []byte) {
	if len(p) > 0 {
		t.w.Write(p)
		t.last, t.wrote = p[len(p)-1], true
	}
}

func (t *tracker) writeByte(c byte) {
	t.w.WriteByte(c)
	t.last, t.wrote = c, true
}

// copyQuoted copies msg to w, writing '>' before every line that, after
// zero or more '>', starts with "From " (exact case): the quoting of
// qmail-local, which mboxrd readers undo. It streams: a line is never
// held in memory, however long, so the decision at the start of a line
// only counts the '>' bytes and matches "From " byte by byte. It returns
// the last byte written and whether any was.
func copyQuoted(w *bufio.Writer, msg io.Reader) (last byte, wrote bool, err error) {
	t := &tracker{w: w}
	buf := make([]byte, 64<<10)
	deciding := true // at the start of a line, not yet decided
	gt, k := 0, 0    // '>' bytes held back, bytes of "From " matched
	release := func(quote bool) {
		if quote {
			t.writeByte('>')
		}
		for ; gt > 0; gt-- {
			t.writeByte('>')
		}
		t.write(fromPrefix[:k])
		k = 0
		deciding = false
	}
	for {
		n, rerr := msg.Read(buf)
		p := buf[:n]
		for len(p) > 0 {
			if !deciding {
				i := bytes.IndexByte(p, '\n')
				if i < 0 {
					t.write(p)
					break
				}
				t.write(p[:i+1])
				p = p[i+1:]
				deciding = true
				continue
			}
			c := p[0]
			p = p[1:]
			switch {
			case k == 0 && c == '>':
				gt++
			case c == fromPrefix[k]:
				k++
				if k == len(fromPrefix) {
					release(true)
				}
			default:
				release(false)
				t.writeByte(c)
				deciding = c == '\n'
			}
		}
		if rerr == io.EOF {
			if deciding {
				release(false)
			}
			return t.last, t.wrote, nil
		}
		if rerr != nil {
			return t.last, t.wrote, readError{rerr}
		}
	}
}
