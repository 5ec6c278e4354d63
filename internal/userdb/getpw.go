package userdb

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"syscall"

	"goqmail/internal/ids"
)

// Exit codes of qmail-getpw and qmail-lspawn's child (qmail's qlx.h), which
// qmail-lspawn turns into delivery reports (§6.1).
const (
	ExitNFS     = 115 // a home directory could not be checked: "NFS failure in qmail-local."
	ExitNoAlias = 116 // no user and no alias user: "Unable to find alias user!"
	ExitCDB     = 117 // users/cdb unreadable: "Trouble reading users/cdb in qmail-lspawn."
	ExitSys     = 118 // temporary failure: "Temporary failure in qmail-lspawn."
)

// Getpw's constants (qmail's conf-break, conf-users, GETPW_USERLEN).
const (
	Break       = '-'     // user-extension delimiter
	AliasUser   = "alias" // owner of the addresses no user owns
	MaxUserLen  = 32      // candidate names must be shorter than this
	aliasDash   = "-"
	userExtDash = "-"
)

// Passwd is what Getpw needs of an account.
type Passwd struct {
	Name     string
	UID, GID int
	Home     string
}

// ErrNoAccount is what a LookupFunc returns when the account does not
// exist.
var ErrNoAccount = errors.New("no such account")

// LookupFunc finds an account by name (getpwnam). It returns ErrNoAccount
// if there is none; any other error is a temporary failure.
type LookupFunc func(name string) (Passwd, error)

// StatFunc returns the owner of a home directory (stat's st_uid).
type StatFunc func(path string) (uid int, err error)

// GetpwError is a temporary failure of Getpw; Code is qmail-getpw's exit
// code (ExitSys or ExitNFS).
type GetpwError struct {
	Code int
	Err  error
}

func (e *GetpwError) Error() string { return e.Err.Error() }
func (e *GetpwError) Unwrap() error { return e.Err }

// Getpw is qmail-getpw's algorithm (§7.3). The candidate user names are
// the prefixes of local that end at its end or just before a Break
// character, longest first, each only if shorter than MaxUserLen bytes;
// each is lowercased and looked up. The first account with a non-zero uid
// whose home exists and is owned by that uid is the user: dash is "-" and
// ext the text after the break, or both empty when the candidate is the
// whole of local. With no such account the alias user takes the address
// with dash "-" and ext = local in its original case (its home is not
// checked, as in qmail). found is false when there is no alias user
// either (qmail-getpw's exit 116).
//
// A home whose stat fails because it does not exist or cannot be seen
// (ENOENT, ENOTDIR, EACCES, ELOOP, ENAMETOOLONG) disqualifies the account;
// any other stat failure is a *GetpwError with ExitNFS. qmail listed the
// temporary errors and skipped the rest; listing the skips instead means a
// failure nobody foresaw defers the mail rather than handing it to the
// alias user.
func Getpw(local string, lookup LookupFunc, stat StatFunc) (e Entry, found bool, err error) {
	for k := len(local); k >= 0; k-- {
		if k >= MaxUserLen || (k < len(local) && local[k] != Break) {
			continue
		}
		pw, err := lookup(lowerASCII(local[:k]))
		if errors.Is(err, ErrNoAccount) {
			continue
		}
		if err != nil {
			return Entry{}, false, &GetpwError{ExitSys, err}
		}
		if pw.UID == 0 {
			continue
		}
		owner, err := stat(pw.Home)
		if err != nil {
			if homeMissing(err) {
				continue
			}
			return Entry{}, false, &GetpwError{ExitNFS, fmt.Errorf("unable to stat %s: %w", pw.Home, err)}
		}
		if owner != pw.UID {
			continue
		}
		e = Entry{User: pw.Name, UID: pw.UID, GID: pw.GID, Home: pw.Home}
		if k < len(local) {
			e.Dash, e.Ext = userExtDash, local[k+1:]
		}
		return e, true, nil
	}
	pw, err := lookup(AliasUser)
	if errors.Is(err, ErrNoAccount) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, &GetpwError{ExitSys, err}
	}
	return Entry{User: pw.Name, UID: pw.UID, GID: pw.GID, Home: pw.Home, Dash: aliasDash, Ext: local}, true, nil
}

// homeMissing reports whether a stat error means "no such home (that we
// can see)" rather than a temporary failure.
func homeMissing(err error) bool {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
		return true
	}
	var no syscall.Errno
	if errors.As(err, &no) {
		switch no {
		case syscall.ENOTDIR, syscall.ELOOP, syscall.ENAMETOOLONG:
			return true
		}
	}
	return false
}

// GetpwInHome is qmail-getpw's whole answer for local in the install at
// home, as qmail-getpw computes it and qmail-lspawn's in-process path
// repeats it (so both give the same result): the entry, or an exit code
// (ExitSys, ExitNFS, ExitNoAlias) with the reason. In a user-mode install
// (home not owned by root) the only account is the home's owner, and
// alias is that owner with home HOME/alias (UserModeAccounts).
//
// read gives the password file's accounts: ReadPasswd's, or a
// PasswdCache's.
func GetpwInHome(home, local string, read func() ([]Passwd, error), stat StatFunc) (Entry, int, error) {
	list, err := read()
	if err != nil {
		return Entry{}, ExitSys, err
	}
	var st syscall.Stat_t
	if err := syscall.Stat(home, &st); err != nil {
		return Entry{}, ExitSys, fmt.Errorf("unable to stat %s: %v", home, err)
	}
	lookup := Accounts(list)
	if st.Uid != 0 {
		m := ids.UserMode(home, int(st.Uid), int(st.Gid))
		lookup = UserModeAccounts(list, m.Alias, m.GidQmail, filepath.Clean(m.AliasHome))
	}
	e, found, err := Getpw(local, lookup, stat)
	var ge *GetpwError
	switch {
	case errors.As(err, &ge):
		return Entry{}, ge.Code, ge.Err
	case err != nil:
		return Entry{}, ExitSys, err
	case !found:
		return Entry{}, ExitNoAlias, errors.New("unable to find alias user")
	}
	return e, 0, nil
}
