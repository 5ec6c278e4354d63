package userdb

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// PasswdFile is the system's password file. goqmail reads it itself
// (there is no cgo, so no NSS): accounts that exist only in LDAP or NIS
// need users/assign, which is qmail's recommended setup anyway.
const PasswdFile = "/etc/passwd"

// ParsePasswd reads a V7 password file (name:pw:uid:gid:gecos:home:shell).
// Lines that cannot be an account are skipped, as getpwnam skips them:
// fewer than seven fields, an empty name, a name starting with '#', '+'
// or '-' (comments and NIS escapes), a uid or gid that is not a decimal
// number.
func ParsePasswd(data []byte) []Passwd {
	var out []Passwd
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		f := bytes.Split(line, []byte(":"))
		if len(f) < 7 || len(f[0]) == 0 || bytes.IndexByte(line, 0) >= 0 {
			continue
		}
		switch f[0][0] {
		case '#', '+', '-':
			continue
		}
		uid, err1 := parseID(string(f[2]))
		gid, err2 := parseID(string(f[3]))
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, Passwd{Name: string(f[0]), UID: uid, GID: gid, Home: string(f[5])})
	}
	return out
}

// ReadPasswd reads and parses a password file.
func ReadPasswd(path string) ([]Passwd, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", path, sysErr(err))
	}
	return ParsePasswd(data), nil
}

// Accounts looks names up in a parsed password file; the first account of
// a name wins, as with getpwnam.
func Accounts(list []Passwd) LookupFunc {
	return func(name string) (Passwd, error) {
		for _, pw := range list {
			if pw.Name == name {
				return pw, nil
			}
		}
		return Passwd{}, ErrNoAccount
	}
}

// UserModeAccounts is the account table of a user-mode install (one whose
// home is owned by an ordinary account, see package ids): there the only
// account qmail may deliver as is the home's owner, so it is the only
// account Getpw may find:
//
//   - the owner's own name (the first password-file account with the
//     home's owner uid, if there is one) is a user like any other, with
//     its own home and the usual checks;
//   - the name "alias" is the owner again, with home aliasHome
//     (HOME/alias): the addresses nobody owns go to ~alias/.qmail-* as in
//     a root-mode install. Its name stays "alias" so that USER and the
//     .qmail files in ~alias read as they do in root mode; its gid is the
//     owner's primary group, or homeGID when the owner has no entry;
//   - every other name does not exist.
func UserModeAccounts(list []Passwd, ownerUID, homeGID int, aliasHome string) LookupFunc {
	var owner *Passwd
	for i := range list {
		if list[i].UID == ownerUID {
			owner = &list[i]
			break
		}
	}
	alias := Passwd{Name: AliasUser, UID: ownerUID, GID: homeGID, Home: aliasHome}
	if owner != nil {
		alias.GID = owner.GID
	}
	return func(name string) (Passwd, error) {
		switch {
		case owner != nil && name == owner.Name:
			return *owner, nil
		case name == AliasUser:
			return alias, nil
		}
		return Passwd{}, ErrNoAccount
	}
}

// StatOwner is the StatFunc of the real file system: the owner uid of
// path (following symbolic links, as stat does).
func StatOwner(path string) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return int(st.Uid), nil
}

// PasswdCache is a password file parsed once and parsed again only when
// the file changes (another inode, size or modification time), for a
// long-lived reader: qmail-lspawn asks qmail-getpw's question for every
// delivery, and a password file of thousands of accounts costs far more
// to parse than to search. A one-shot qmail-getpw reads the file each
// time, as getpwnam does.
type PasswdCache struct {
	Path string

	mu   sync.Mutex
	key  [5]int64 // dev, inode, size, mtime and ctime in ns (ctime: an edit that keeps size and mtime)
	list []Passwd
}

// Read returns the file's accounts.
func (c *PasswdCache) Read() ([]Passwd, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(c.Path, &st); err != nil {
		return nil, fmt.Errorf("unable to read %s: %w", c.Path, sysErr(err))
	}
	key := [5]int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Nano(), st.Ctim.Nano()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && key == c.key {
		return c.list, nil
	}
	list, err := ReadPasswd(c.Path)
	if err != nil {
		return nil, err
	}
	c.key, c.list = key, list
	return list, nil
}
