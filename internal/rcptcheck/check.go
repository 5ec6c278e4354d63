package rcptcheck

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"goqmail/internal/control"
	"goqmail/internal/ids"
	"goqmail/internal/rewrite"
	"goqmail/internal/userdb"
)

// Checker answers whether recipients have a mailbox. It is made once per
// session; the password file is read the first time it is needed.
type Checker struct {
	Home string // qmail's home
	RW   *rewrite.Rewriter

	// Accounts finds accounts by name as qmail-getpw does; nil means the
	// system password file, read once (in a user-mode install only its
	// owner and the alias user exist, as for qmail-getpw).
	Accounts userdb.LookupFunc
	// Stat returns a home directory's owner; nil means userdb.StatOwner.
	Stat userdb.StatFunc

	once    sync.Once
	acctErr error
}

// New reads the control files the rewriting needs.
func New(home string) (*Checker, error) {
	rw, err := rewrite.Load(control.New(home))
	if err != nil {
		return nil, err
	}
	return &Checker{Home: home, RW: rw}, nil
}

// Verdict is the answer for one recipient.
type Verdict int

const (
	// Exists: the address is deliverable, or could not be checked.
	Exists Verdict = iota
	// Unknown: local delivery would bounce it with "no mailbox here".
	Unknown
)

// Check returns Unknown only when the address is local and local
// delivery would certainly find no mailbox for it; why says what was
// found, for the log (empty for Exists).
func (c *Checker) Check(rcpt string) (v Verdict, why error) {
	a, local := c.RW.Rewrite(rcpt)
	if !local {
		return Exists, nil
	}
	at := strings.LastIndexByte(a, '@')
	l := a[:at]
	if l == "" {
		return Exists, nil
	}
	e, found, err := userdb.Lookup(c.Home, l)
	if err != nil {
		return Exists, err
	}
	if !found {
		lookup, err := c.accounts()
		if err != nil {
			return Exists, err
		}
		e, found, err = userdb.Getpw(l, lookup, c.strictStat)
		if err != nil || !found {
			return Exists, err
		}
	}
	return qmailFileExists(e)
}

// accounts returns the account lookup qmail-getpw would use.
func (c *Checker) accounts() (userdb.LookupFunc, error) {
	if c.Accounts != nil {
		return c.Accounts, nil
	}
	c.once.Do(func() {
		list, err := userdb.ReadPasswd(userdb.PasswdFile)
		if err != nil {
			c.acctErr = err
			return
		}
		var st syscall.Stat_t
		if err := syscall.Stat(c.Home, &st); err != nil {
			c.acctErr = err
			return
		}
		lookup := userdb.Accounts(list)
		if st.Uid != 0 {
			m := ids.UserMode(c.Home, int(st.Uid), int(st.Gid))
			lookup = userdb.UserModeAccounts(list, m.Alias, m.GidQmail, filepath.Clean(m.AliasHome))
		}
		c.Accounts = lookup
	})
	if c.acctErr != nil {
		return nil, c.acctErr
	}
	return c.Accounts, nil
}

// errCannotSee is a home directory the checking account may not stat.
type errCannotSee struct{ err error }

func (e errCannotSee) Error() string { return e.err.Error() }

// strictStat is Stat, except that a home the checking account may not
// look at is an error rather than a missing home: qmail-getpw, running
// as qmailp, may well see it, and skipping the account would hand the
// address to the alias user and so reject a real user's mail.
func (c *Checker) strictStat(path string) (int, error) {
	stat := c.Stat
	if stat == nil {
		stat = userdb.StatOwner
	}
	uid, err := stat(path)
	if errors.Is(err, fs.ErrPermission) {
		return 0, errCannotSee{err}
	}
	return uid, err
}

// errNoMailbox is why an address is Unknown.
var errNoMailbox = errors.New("no .qmail file takes it")

// qmailFileExists runs qmail-local's .qmail search (spec §8.3) for the
// user's home, dash and ext, without opening anything: stat tells whether
// a candidate is a regular file. A dash of "" means the default delivery
// takes whatever no file takes.
func qmailFileExists(e userdb.Entry) (Verdict, error) {
	if e.Dash == "" {
		return Exists, nil
	}
	if fi, err := os.Stat(e.Home); err != nil || !fi.IsDir() {
		return Exists, err // qmail-local defers: "Unable to switch to ..."
	}
	for _, name := range Candidates(e.Dash, e.Ext) {
		fi, err := os.Stat(filepath.Join(e.Home, name))
		switch {
		case err == nil && fi.Mode().IsRegular():
			return Exists, nil
		case err == nil:
			continue // not a regular file: qmail-local skips it
		case errors.Is(err, fs.ErrNotExist):
			continue
		default:
			return Exists, err // EACCES and the like: cannot tell
		}
	}
	return Unknown, errNoMailbox
}

// Candidates lists the .qmail file names qmail-local tries for dash and
// ext, in its order (spec §8.3): the exact name, then each -default from
// the longest prefix of ext ending in '-' down to the bare default.
func Candidates(dash, ext string) []string {
	safe := []byte(ext)
	for i, b := range safe {
		switch {
		case b >= 'A' && b <= 'Z':
			safe[i] = b + 'a' - 'A'
		case b == '.':
			safe[i] = ':'
		}
	}
	s := string(safe)
	out := []string{".qmail" + dash + s}
	for i := len(s); i >= 0; i-- {
		if i == 0 || s[i-1] == '-' {
			out = append(out, ".qmail"+dash+s[:i]+"default")
		}
	}
	return out
}
