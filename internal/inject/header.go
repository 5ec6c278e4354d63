package inject

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxHeader is the most header bytes qmail-inject holds in memory.
const MaxHeader = 1 << 20

// MaxRecipients is the most envelope recipients qmail-inject accepts.
const MaxRecipients = 10240

// field is one header field with its continuation lines.
type field struct {
	text  string // as read, every line ending in "\n"
	name  string // before the colon, trailing spaces and tabs removed
	value string // after the colon, continuation lines included
}

// header is the message's header as read.
type header struct {
	fields []field
	// sep is "\n" when a blank line follows the header in the output
	// (read, or inserted before a line that is not a field), "" when the
	// message ended inside the header.
	sep string
	// first is the body's first line when it ended the header without a
	// blank line.
	first string
}

var (
	errHeaderTooLong = fmt.Errorf("the header is longer than %d bytes", MaxHeader)
	errHeaderNUL     = errors.New("the header contains a NUL byte")
)

// fieldName returns the name of a header line that starts a field.
func fieldName(line string) (string, bool) {
	i := 0
	for i < len(line) && line[i] > 32 && line[i] < 127 && line[i] != ':' {
		i++
	}
	if i == 0 {
		return "", false
	}
	j := i
	for j < len(line) && (line[j] == ' ' || line[j] == '\t') {
		j++
	}
	if j >= len(line) || line[j] != ':' {
		return "", false
	}
	return line[:i], true
}

// readLine reads one line, keeping the header bound; a final partial
// line gets its "\n".
func readLine(br *bufio.Reader, total *int) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*total += len(chunk)
		if *total > MaxHeader {
			return "", errHeaderTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(buf) == 0 {
				return "", io.EOF
			}
			if bytes.IndexByte(buf, 0) >= 0 {
				return "", errHeaderNUL
			}
			return string(buf) + "\n", nil
		case err != nil:
			return "", err
		}
		if bytes.IndexByte(buf, 0) >= 0 {
			return "", errHeaderNUL
		}
		return string(buf), nil
	}
}

// readHeader reads the header from br, leaving br at the body.
func readHeader(br *bufio.Reader) (*header, error) {
	h := &header{}
	total := 0
	for {
		line, err := readLine(br, &total)
		if err == io.EOF {
			return h, nil
		}
		if err != nil {
			return nil, err
		}
		if line == "\n" {
			h.sep = "\n"
			return h, nil
		}
		if strings.HasPrefix(line, "From ") {
			line = "MBOX-Line: " + line
		}
		if (line[0] == ' ' || line[0] == '\t') && len(h.fields) > 0 {
			f := &h.fields[len(h.fields)-1]
			f.text += line
			f.value += line
			continue
		}
		name, ok := fieldName(line)
		if !ok {
			h.sep, h.first = "\n", line
			return h, nil
		}
		colon := strings.IndexByte(line, ':')
		h.fields = append(h.fields, field{text: line, name: name, value: line[colon+1:]})
	}
}

// fieldKind classifies header fields by lower-case name.
var addressFields = map[string]bool{
	"sender": true, "from": true, "reply-to": true, "to": true, "cc": true, "bcc": true,
	"apparently-to": true, "return-path": true, "return-receipt-to": true, "errors-to": true,
	"resent-sender": true, "resent-from": true, "resent-reply-to": true, "resent-to": true,
	"resent-cc": true, "resent-bcc": true,
}

// resentFields make a message "resent".
var resentFields = map[string]bool{
	"resent-sender": true, "resent-from": true, "resent-reply-to": true, "resent-to": true,
	"resent-cc": true, "resent-bcc": true, "resent-date": true, "resent-message-id": true,
}
