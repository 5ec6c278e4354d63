package localdelivery

import (
	"bufio"
	"io"
)

// loopCheck bounces a message whose header already holds this delivery's
// Delivered-To line, byte for byte (spec §8.2 step 3).
func (d *delivery) loopCheck() *exit {
	found, err := hasLine(d.message(), d.lines.dt)
	if err != nil {
		return tempf("Unable to read message: %s. (#4.3.0)", errText(err))
	}
	if found {
		return perm("This message is looping: it already has my Delivered-To line. (#5.4.6)")
	}
	return nil
}

// hasLine reports whether one of the header lines of msg (the lines
// before the first line of at most one byte) is exactly line, which ends
// in "\n". It streams: of each line only the first len(line)+1 bytes are
// kept, so a gigantic header line costs no memory (hardening.md D5).
func hasLine(msg io.Reader, line string) (bool, error) {
	br := bufio.NewReaderSize(msg, 16<<10)
	head := make([]byte, 0, len(line)+1)
	for {
		head = head[:0]
		total, eof := 0, false
		for {
			chunk, err := br.ReadSlice('\n')
			total += len(chunk)
			if room := cap(head) - len(head); room > 0 {
				head = append(head, chunk[:min(room, len(chunk))]...)
			}
			if err == bufio.ErrBufferFull {
				continue
			}
			if err == io.EOF {
				eof = true
			} else if err != nil {
				return false, err
			}
			break
		}
		if total <= 1 {
			return false, nil
		}
		if total == len(line) && string(head) == line {
			return true, nil
		}
		if eof {
			return false, nil
		}
	}
}
