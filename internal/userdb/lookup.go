package userdb

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"goqmail/internal/cdb"
)

// CDBPath is users/cdb relative to qmail's home.
const CDBPath = "users/cdb"

// Lookup finds the whole local part local in HOME/users/cdb exactly as
// qmail-lspawn does (§7.1):
//
//  1. the wildcard set is the data of the empty key;
//  2. the key "!" + lowercase(local) + "\0" is an exact (=) entry;
//  3. then, for i from len("!"+local) down to 1, the prefix of that
//     length (no NUL) is a + entry, tried only when i is 1 (the "+:"
//     catch-all) or the prefix's last byte is in the wildcard set; the
//     ext of a + hit is the stored ext followed by the rest of local in
//     its original case.
//
// found is false (err nil) when users/cdb does not exist or has no entry
// for local: the caller then runs qmail-getpw. A users/cdb that exists but
// cannot be read, is corrupt, lacks the wildcard record or holds a
// malformed record is an error (qmail-lspawn's exit 117).
func Lookup(home, local string) (e Entry, found bool, err error) {
	if strings.IndexByte(local, 0) >= 0 {
		return Entry{}, false, fmt.Errorf("local part contains NUL")
	}
	path := filepath.Join(home, CDBPath)
	r, err := cdb.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Entry{}, false, nil
		}
		return Entry{}, false, fmt.Errorf("unable to read %s: %w", CDBPath, err)
	}
	defer r.Close()
	return lookupIn(r, local)
}

// getter is the part of a cdb reader Lookup needs.
type getter interface {
	Get(key []byte) (data []byte, ok bool, err error)
}

func lookupIn(r getter, local string) (Entry, bool, error) {
	bad := func(err error) (Entry, bool, error) {
		return Entry{}, false, fmt.Errorf("unable to read %s: %w", CDBPath, err)
	}
	wild, ok, err := r.Get(nil)
	if err != nil {
		return bad(err)
	}
	if !ok {
		return bad(errors.New("no wildcard record (not made by qmail-newu?)"))
	}
	lower := "!" + lowerASCII(local)
	data, ok, err := r.Get([]byte(lower + "\x00"))
	if err != nil {
		return bad(err)
	}
	if ok {
		return record(string(data) + "\x00")
	}
	for i := len(lower); i >= 1; i-- {
		if i != 1 && strings.IndexByte(string(wild), lower[i-1]) < 0 {
			continue
		}
		data, ok, err := r.Get([]byte(lower[:i]))
		if err != nil {
			return bad(err)
		}
		if ok {
			return record(string(data) + local[i-1:] + "\x00")
		}
	}
	return Entry{}, false, nil
}

// record parses a users/cdb record once qmail-lspawn has completed it.
func record(s string) (Entry, bool, error) {
	e, err := parseFields(s)
	if err != nil {
		return Entry{}, false, fmt.Errorf("unable to read %s: bad record: %w", CDBPath, err)
	}
	return e, true, nil
}
