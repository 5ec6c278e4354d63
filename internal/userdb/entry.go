// Package userdb finds the user who controls a local address, as qmail's
// qmail-lspawn, qmail-getpw and qmail-newu do (spec §7):
//
//   - Lookup reads HOME/users/cdb the way qmail-lspawn does;
//   - Getpw is qmail-getpw's algorithm over a password-file lookup;
//   - ParseAssign and BuildCDB are qmail-newu: users/assign ⇒ users/cdb;
//   - ParseGetpw reads qmail-getpw's output.
//
// The result of every path is an Entry: the six values qmail-lspawn hands
// to qmail-local (user, uid, gid, home, dash, ext).
//
// Decisions where qmail 1.03 is silent or careless, all in the direction
// of "retry later" rather than "deliver somewhere unexpected":
//
//   - uid and gid are read strictly (decimal digits only, less than
//     2^32-1). qmail-lspawn read them with scan_ulong, so "5x" was 5 and
//     "x" was 0 (and then refused as root). A malformed number in
//     users/cdb is an error here (qmail-lspawn's 117, a deferral the
//     administrator sees in the log) instead of a delivery as some other
//     uid.
//   - A local part containing NUL is refused: qmail's C strings cut it
//     there, and the queue never lets one through anyway.
//   - Reading the password file failing is a temporary error (118), where
//     qmail's getpwnam would have said "no such user" and sent the mail to
//     the alias user.
package userdb

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Entry is one delivery identity: user, uid, gid, home, dash, ext
// (qmail-local's arguments).
type Entry struct {
	User     string
	UID, GID int
	Home     string
	Dash     string
	Ext      string
}

// Bytes is the entry in qmail-getpw's output format: six NUL-terminated
// fields, user\0uid\0gid\0home\0dash\0ext\0.
func (e Entry) Bytes() []byte {
	var b bytes.Buffer
	for _, f := range []string{e.User, strconv.Itoa(e.UID), strconv.Itoa(e.GID), e.Home, e.Dash, e.Ext} {
		b.WriteString(f)
		b.WriteByte(0)
	}
	return b.Bytes()
}

// ParseGetpw parses qmail-getpw's output: six NUL-terminated fields.
// Anything else (missing or extra fields, a missing final NUL, a uid or gid
// that is not a plain decimal number) is an error.
func ParseGetpw(out []byte) (Entry, error) {
	return parseFields(string(out))
}

// parseFields parses user\0uid\0gid\0home\0dash\0ext\0.
func parseFields(s string) (Entry, error) {
	if !strings.HasSuffix(s, "\x00") {
		return Entry{}, fmt.Errorf("record does not end with NUL")
	}
	f := strings.Split(s[:len(s)-1], "\x00")
	if len(f) != 6 {
		return Entry{}, fmt.Errorf("record has %d fields, want 6", len(f))
	}
	uid, err := parseID(f[1])
	if err != nil {
		return Entry{}, fmt.Errorf("bad uid %q", f[1])
	}
	gid, err := parseID(f[2])
	if err != nil {
		return Entry{}, fmt.Errorf("bad gid %q", f[2])
	}
	return Entry{User: f[0], UID: uid, GID: gid, Home: f[3], Dash: f[4], Ext: f[5]}, nil
}

// parseID reads a uid or gid: decimal digits, below 2^32-1 ((uid_t)-1 is
// not an id).
func parseID(s string) (int, error) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("not a number")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, fmt.Errorf("not an id")
	}
	return int(n), nil
}

// lowerASCII lowercases A-Z only, as qmail's case_lowerb does.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
