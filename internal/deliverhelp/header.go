package deliverhelp

import (
	"bufio"
	"bytes"
	"io"
	"strings"
)

// maxField bounds one header field as the helpers keep it (a hostile
// message can have a field of any length; a longer one is cut there).
const maxField = 64 << 10

// maxHeader bounds how much of a header the helpers read.
const maxHeader = 8 << 20

// field is one header field: its name as written and its value with the
// continuation lines joined (newlines kept).
type field struct {
	name, value string
}

// readHeader reads the header of the message in r (up to the first empty
// line, the end, or maxHeader bytes) and returns the fields whose names
// (case-insensitively) are in want, in order. A line that is not a field
// and not a continuation ends nothing: it is skipped, as a mail reader
// would.
func readHeader(r io.Reader, want ...string) ([]field, error) {
	br := bufio.NewReader(io.LimitReader(r, maxHeader))
	var out []field
	var cur *field
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: keep what fits, skip the rest.
			rest := line
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			line = rest
		}
		if err != nil && err != io.EOF {
			return out, err
		}
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(line) > 0 && len(trimmed) == 0 && len(line) <= 2 {
			return out, nil // the empty line
		}
		switch {
		case len(trimmed) > 0 && (trimmed[0] == ' ' || trimmed[0] == '\t'):
			if cur != nil && len(cur.value) < maxField {
				cur.value += "\n" + string(trimmed)
			}
		default:
			cur = nil
			if i := bytes.IndexByte(trimmed, ':'); i > 0 {
				name := string(trimmed[:i])
				for _, w := range want {
					if strings.EqualFold(name, w) {
						out = append(out, field{name: name, value: string(trimmed[i+1:])})
						cur = &out[len(out)-1]
					}
				}
			}
		}
		if err == io.EOF {
			return out, nil
		}
	}
}
