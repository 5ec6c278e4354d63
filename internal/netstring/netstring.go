// Package netstring reads and writes D. J. Bernstein's netstrings
// ("5:hello,"), the framing of QMQP and QMTP (qmail-spec §12).
//
// Reading is bounded (hardening §2.7): a length must be decimal digits
// only (qmail 1.03 accepted any byte; notqmail refuses them), and is
// compared with the caller's limit before anything is allocated.
package netstring

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// ErrMalformed is a netstring that breaks the syntax: no digits, a
// non-digit before ':', or no ',' at the end.
var ErrMalformed = errors.New("malformed netstring")

// ErrTooLong is a length over the caller's limit.
var ErrTooLong = errors.New("netstring too long")

// maxDigits bounds the digits of a length (10^15 is beyond any limit).
const maxDigits = 15

// ReadLength reads "LEN:" and returns LEN; LEN > max is ErrTooLong.
// EOF before the first byte is io.EOF; later it is io.ErrUnexpectedEOF.
func ReadLength(r io.ByteReader, max int64) (int64, error) {
	var n int64
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if err == io.EOF && digits > 0 {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		if c == ':' {
			if digits == 0 {
				return 0, fmt.Errorf("%w: no length", ErrMalformed)
			}
			if n > max {
				return 0, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLong, n, max)
			}
			return n, nil
		}
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: %q in the length", ErrMalformed, c)
		}
		if digits++; digits > maxDigits {
			return 0, fmt.Errorf("%w: more than %d digits", ErrTooLong, maxDigits)
		}
		n = n*10 + int64(c-'0')
	}
}

// ReadEnd reads the closing ','.
func ReadEnd(r io.ByteReader) error {
	c, err := r.ReadByte()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	if c != ',' {
		return fmt.Errorf("%w: %q instead of ','", ErrMalformed, c)
	}
	return nil
}

// Read reads one whole netstring of at most max bytes.
func Read(r *bufio.Reader, max int64) ([]byte, error) {
	n, err := ReadLength(r, max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return buf, ReadEnd(r)
}

// Append appends s as a netstring to dst.
func Append(dst, s []byte) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	dst = append(dst, s...)
	return append(dst, ',')
}

// Encode is s as a netstring.
func Encode(s string) string { return string(Append(nil, []byte(s))) }

// Len is the length of s encoded as a netstring.
func Len(n int) int { return len(strconv.Itoa(n)) + n + 2 }
