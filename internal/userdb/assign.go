package userdb

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
)

// AssignPath is users/assign relative to qmail's home.
const AssignPath = "users/assign"

// Assignment is one line of users/assign as qmail-newu reads it (§7.2):
//
//	=local:user:uid:gid:homedir:dash:ext:
//	+loc:user:uid:gid:homedir:dash:pre:
//
// A line whose first character is neither + nor = is an exact assignment
// too, and loses that first character (qmail-newu's behaviour, §24.6):
// "jane:..." assigns the address "ane". Fields after the sixth colon that
// follows the key are dropped.
type Assignment struct {
	Line   int       // line number in users/assign, from 1
	Wild   bool      // a + line
	Local  string    // the address (or prefix) as written, without its first character
	Fields [6]string // user, uid, gid, homedir, dash, ext (or pre)
}

// Key is the users/cdb key: "!" + lowercase(local), followed by NUL for
// an exact assignment.
func (a Assignment) Key() []byte {
	k := "!" + lowerASCII(a.Local)
	if !a.Wild {
		k += "\x00"
	}
	return []byte(k)
}

// Data is the users/cdb data: the six fields joined by NUL, with no
// trailing NUL (qmail-lspawn adds it).
func (a Assignment) Data() []byte {
	return []byte(strings.Join(a.Fields[:], "\x00"))
}

// FormatError is a users/assign line qmail-newu refuses.
type FormatError struct {
	Line int
	Msg  string
}

func (e *FormatError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ReadError is a failure to read users/assign itself.
type ReadError struct{ Err error }

func (e *ReadError) Error() string { return e.Err.Error() }
func (e *ReadError) Unwrap() error { return e.Err }

// ParseAssign reads users/assign from r and calls fn for each assignment
// in file order, stopping at the first line that starts with '.'
// (whatever follows it, on that line or after, is ignored, and that line
// needs no newline). Every other line must end with a newline, contain no
// NUL, have a non-empty key before its first colon and at least six more
// colons; otherwise ParseAssign returns a *FormatError naming the line.
// Read failures are a *ReadError; fn's errors are returned as they are.
func ParseAssign(r io.Reader, fn func(Assignment) error) error {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return &ReadError{err}
		}
		if len(line) > 0 && line[0] == '.' {
			return nil
		}
		if err == io.EOF {
			if len(line) == 0 {
				return &FormatError{n, "end of file without the final \".\" line"}
			}
			return &FormatError{n, "line does not end with a newline (and no final \".\" line)"}
		}
		a, ferr := parseAssignLine(line, n)
		if ferr != nil {
			return ferr
		}
		if err := fn(a); err != nil {
			return err
		}
	}
}

// parseAssignLine parses one newline-terminated line.
func parseAssignLine(line []byte, n int) (Assignment, error) {
	if bytes.IndexByte(line, 0) >= 0 {
		return Assignment{}, &FormatError{n, "line contains NUL"}
	}
	i := bytes.IndexByte(line, ':')
	if i < 0 {
		return Assignment{}, &FormatError{n, "no colon"}
	}
	if i == 0 {
		return Assignment{}, &FormatError{n, "line starts with a colon"}
	}
	a := Assignment{Line: n, Wild: line[0] == '+', Local: string(line[1:i])}
	rest := string(line[i+1:])
	f := strings.SplitN(rest, ":", 7)
	if len(f) < 7 {
		return Assignment{}, &FormatError{n, fmt.Sprintf("%d colons after the address, need 6", len(f)-1)}
	}
	copy(a.Fields[:], f[:6])
	return a, nil
}

// WildChars collects the wildcard set qmail-newu stores under the empty
// key: the last character, as written, of each non-empty + prefix, each
// once, in order of first appearance.
//
// As in qmail-newu the character is not lowercased while qmail-lspawn
// compares it with the lowercased address, so a + prefix ending in an
// uppercase letter ("+Joe:") never matches unless another prefix ends in
// the same letter in lowercase. Kept for byte-identical users/cdb files;
// write prefixes in lowercase.
type WildChars []byte

// Add notes a's last character if a is a non-empty + assignment.
func (w *WildChars) Add(a Assignment) {
	if !a.Wild || a.Local == "" {
		return
	}
	c := a.Local[len(a.Local)-1]
	if bytes.IndexByte(*w, c) < 0 {
		*w = append(*w, c)
	}
}
