// Package control reads qmail's control files the way qmail reads them.
//
// The rules (qmail-control(5), control.c):
//
//   - single-value files ("line" files) use their first line only;
//   - list files use every line, skipping empty lines and lines that start
//     with '#';
//   - map files are list files whose lines are split at the first ':';
//     a line without ':' is ignored; keys match case-insensitively and
//     when a key occurs twice the last line wins;
//   - every line loses its trailing spaces, tabs and line feed; leading
//     white space is kept;
//   - a missing file means "use the default" (often the first line of
//     control/me); an existing empty file is an empty value, not the
//     default;
//   - a file that exists but cannot be read is an error, never silently
//     the default: callers treat it as a temporary failure.
//
// Two decisions go beyond qmail 1.03, both because a silent misreading
// of a control file is how qmail sites become open relays or lose mail
// (hardening.md §3.6):
//
//   - a trailing carriage return is stripped like other trailing white
//     space, so a file edited on Windows means what it says;
//   - an integer file that does not hold a plain decimal number ("abc",
//     "10M", " 5") is an error naming the file, where qmail silently used
//     its default or the digits it could find. An empty integer file still
//     means the default, as in qmail.
//
// Case-insensitive matching (Set, Map) folds ASCII letters only, as
// qmail's case_lowerb does: no Unicode folding, and bytes that are not
// UTF-8 stay distinct.
//
// Files (files.go) describes every control file of qmail-control(5):
// kind, default, fall-back to me, and what it does; Dir.Value returns the
// value in force for any of them, and qmail-showctl prints from it.
package control

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
)

// Error describes a control file that exists but cannot be used.
type Error struct {
	File string // path relative to the home, e.g. "control/databytes"
	Line int    // 1-based line number, 0 if not about one line
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	where := e.File
	if e.Line > 0 {
		where = fmt.Sprintf("%s line %d", e.File, e.Line)
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", where, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", where, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// Dir reads the control files of one install.
type Dir struct {
	Home string // qmail's home; files are read from Home/control
	me   *string
}

// New returns a reader for the install at home.
func New(home string) *Dir { return &Dir{Home: home} }

// Path returns the full path of a control file.
func (d *Dir) Path(name string) string {
	return filepath.Join(d.Home, "control", name)
}

// rel is the name used in error messages.
func rel(name string) string { return "control/" + name }

// ReadRaw returns a control file's bytes, which the caller must not
// change (they may be shared: cache.go). ok is false if the file does
// not exist; any other failure is an *Error.
func (d *Dir) ReadRaw(name string) (data []byte, ok bool, err error) {
	data, err = readFile(d.Path(name))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, &Error{File: rel(name), Msg: "unable to read", Err: unwrapPath(err)}
	}
	return data, true, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// trimRight strips trailing line feeds, carriage returns, spaces and tabs.
func trimRight(s []byte) []byte {
	return bytes.TrimRight(s, "\n\r \t")
}

// Line reads a single-value file: its first line, right-trimmed.
// ok is false if the file does not exist.
func (d *Dir) Line(name string) (value string, ok bool, err error) {
	data, ok, err := d.ReadRaw(name)
	if !ok || err != nil {
		return "", ok, err
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	return string(trimRight(data)), true, nil
}

// Me returns the first line of control/me, or "" if it does not exist.
// It is read once per Dir.
func (d *Dir) Me() (string, error) {
	if d.me != nil {
		return *d.me, nil
	}
	v, _, err := d.Line("me")
	if err != nil {
		return "", err
	}
	d.me = &v
	return v, nil
}

// LineDefault reads a single-value file, using def if it does not exist.
func (d *Dir) LineDefault(name, def string) (string, error) {
	v, ok, err := d.Line(name)
	if err != nil {
		return "", err
	}
	if !ok {
		return def, nil
	}
	return v, nil
}

// LineMe reads a single-value file whose default is control/me, and
// literal if me does not exist either (qmail's "default: me, else
// LITERAL"). Pass literal "" for files that have no literal default.
func (d *Dir) LineMe(name, literal string) (string, error) {
	v, ok, err := d.Line(name)
	if err != nil || ok {
		return v, err
	}
	me, err := d.Me()
	if err != nil {
		return "", err
	}
	if me != "" {
		return me, nil
	}
	if _, ok, _ := d.ReadRaw("me"); ok {
		return me, nil // an empty me is a value, as in qmail
	}
	return literal, nil
}

// Int reads an integer file, using def if it does not exist or is empty.
// Anything but an optional '-' and decimal digits is an *Error.
func (d *Dir) Int(name string, def int) (int, error) {
	v, ok, err := d.Line(name)
	if err != nil {
		return 0, err
	}
	if !ok || v == "" {
		return def, nil
	}
	n, perr := strconv.Atoi(v)
	if perr != nil || strings.HasPrefix(v, "+") {
		return 0, &Error{File: rel(name), Line: 1, Msg: fmt.Sprintf("not a decimal number: %q", v)}
	}
	return n, nil
}

// List reads a list file. ok is false if it does not exist.
func (d *Dir) List(name string) (lines []string, ok bool, err error) {
	data, ok, err := d.ReadRaw(name)
	if !ok || err != nil {
		return nil, ok, err
	}
	return ParseList(data), true, nil
}

// ParseList splits a list file's contents into its significant lines.
func ParseList(data []byte) []string {
	var out []string
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			line, data = data, nil
		}
		line = trimRight(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		out = append(out, string(line))
	}
	return out
}

// Locals reads control/locals, whose default is control/me. It is an
// error for both to be missing: qmail-send cannot start without them.
func (d *Dir) Locals() ([]string, error) {
	l, ok, err := d.List("locals")
	if err != nil || ok {
		return l, err
	}
	me, err := d.Me()
	if err != nil {
		return nil, err
	}
	if _, ok, _ := d.ReadRaw("me"); !ok {
		return nil, &Error{File: "control/locals", Msg: "missing, and control/me is missing too"}
	}
	return []string{me}, nil
}

// lowerASCII lowers A-Z only, as qmail's case_lowerb. strings.ToLower
// would also fold non-ASCII letters (the Kelvin sign K becomes k) and
// turn every invalid UTF-8 byte into U+FFFD, so that "\xfe" and "\xff"
// would match each other: a domain a client makes up could then match
// an rcpthosts entry it differs from.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// Set is a case-insensitive (ASCII) set of strings, as qmail's constmap.
type Set map[string]struct{}

// NewSet builds a set from lines.
func NewSet(lines []string) Set {
	s := make(Set, len(lines))
	for _, l := range lines {
		s[lowerASCII(l)] = struct{}{}
	}
	return s
}

// Has reports whether s holds key, case-insensitively.
func (s Set) Has(key string) bool {
	_, ok := s[lowerASCII(key)]
	return ok
}

// Map is a case-insensitive map read from a map file.
type Map map[string]string

// ParseMap builds a map from a map file's lines: each is split at its
// first ':', lines without ':' are ignored, the last line for a key wins.
func ParseMap(lines []string) Map {
	m := make(Map, len(lines))
	for _, l := range lines {
		i := strings.IndexByte(l, ':')
		if i < 0 {
			continue
		}
		m[lowerASCII(l[:i])] = l[i+1:]
	}
	return m
}

// Get looks key up case-insensitively.
func (m Map) Get(key string) (string, bool) {
	v, ok := m[lowerASCII(key)]
	return v, ok
}

// ReadSet reads a list file as a set; a missing file is an empty set.
func (d *Dir) ReadSet(name string) (Set, bool, error) {
	l, ok, err := d.List(name)
	if err != nil {
		return nil, false, err
	}
	return NewSet(l), ok, nil
}

// ReadMap reads a map file; a missing file is an empty map.
func (d *Dir) ReadMap(name string) (Map, bool, error) {
	l, ok, err := d.List(name)
	if err != nil {
		return nil, false, err
	}
	return ParseMap(l), ok, nil
}
