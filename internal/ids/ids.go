// Package ids knows which accounts qmail's programs run as.
//
// qmail 1.03 compiled its uids in; goqmail looks them up when a program
// starts, as notqmail 1.07+ does, so an install keeps working when the
// accounts are renumbered.
//
// There are two modes of install, told apart by who owns the home folder:
//
//   - root mode (home owned by uid 0, as /var/qmail is): every role is its
//     own account, qmail's alias qmaild qmaill qmailp qmailq qmailr qmails
//     and groups qmail and nofiles, looked up by name in the password and
//     group files;
//   - user mode (home owned by anybody else): every role is the owner of
//     the home folder, for a developer's machine, the demo and the tests.
//     Nothing needs root and nothing outside the home is touched.
//
// The mode is read from the file system rather than from a setting so that
// the setuid qmail-queue, which must trust nothing in its environment,
// reaches the same answer as everyone else.
package ids

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// User names of qmail's roles (conf-users), in qmail's order.
const (
	AliasUser    = "alias"
	DaemonUser   = "qmaild"
	LogUser      = "qmaill"
	PasswdUser   = "qmailp"
	QueueUser    = "qmailq"
	RemoteUser   = "qmailr"
	SendUser     = "qmails"
	QmailGroup   = "qmail"
	NofilesGroup = "nofiles"
)

// Users lists the accounts root mode needs, with the home each gets.
var Users = []string{AliasUser, DaemonUser, LogUser, PasswdUser, QueueUser, RemoteUser, SendUser}

// Groups lists the groups root mode needs.
var Groups = []string{QmailGroup, NofilesGroup}

// IDs are the numeric accounts of one install.
type IDs struct {
	UserMode   bool
	Alias      int // owns ~alias; delivers what no user takes
	Qmaild     int // qmail-smtpd, qmail-qmtpd, qmail-qmqpd
	Qmaill     int // the logger
	Qmailp     int // qmail-getpw
	Qmailq     int // qmail-queue (setuid), qmail-clean
	Qmailr     int // qmail-rspawn, qmail-remote
	Qmails     int // qmail-send
	Root       int // owner of binaries and control files
	GidQmail   int
	GidNofiles int
	AliasHome  string // home directory of the alias user
}

// Load finds the ids for the install at home.
func Load(home string) (*IDs, error) {
	fi, err := os.Stat(home)
	if err != nil {
		return nil, fmt.Errorf("unable to stat %s: %w", home, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, fmt.Errorf("unable to stat %s: no owner information", home)
	}
	if st.Uid != 0 {
		return UserMode(home, int(st.Uid), int(st.Gid)), nil
	}
	return RootMode(home)
}

// UserMode returns the ids of a user-mode install owned by uid:gid.
func UserMode(home string, uid, gid int) *IDs {
	return &IDs{
		UserMode: true,
		Alias:    uid, Qmaild: uid, Qmaill: uid, Qmailp: uid, Qmailq: uid,
		Qmailr: uid, Qmails: uid, Root: uid,
		GidQmail: gid, GidNofiles: gid,
		AliasHome: home + "/alias",
	}
}

// RootMode looks up qmail's accounts by name.
func RootMode(home string) (*IDs, error) {
	ids := &IDs{Root: 0}
	for _, u := range []struct {
		name string
		p    *int
	}{
		{AliasUser, &ids.Alias}, {DaemonUser, &ids.Qmaild}, {LogUser, &ids.Qmaill},
		{PasswdUser, &ids.Qmailp}, {QueueUser, &ids.Qmailq}, {RemoteUser, &ids.Qmailr},
		{SendUser, &ids.Qmails},
	} {
		pw, err := user.Lookup(u.name)
		if err != nil {
			return nil, fmt.Errorf("unable to find user %s: %w", u.name, err)
		}
		n, err := strconv.Atoi(pw.Uid)
		if err != nil {
			return nil, fmt.Errorf("user %s has a bad uid %q", u.name, pw.Uid)
		}
		*u.p = n
		if u.name == AliasUser {
			ids.AliasHome = pw.HomeDir
		}
	}
	for _, g := range []struct {
		name string
		p    *int
	}{{QmailGroup, &ids.GidQmail}, {NofilesGroup, &ids.GidNofiles}} {
		gr, err := user.LookupGroup(g.name)
		if err != nil {
			return nil, fmt.Errorf("unable to find group %s: %w", g.name, err)
		}
		n, err := strconv.Atoi(gr.Gid)
		if err != nil {
			return nil, fmt.Errorf("group %s has a bad gid %q", g.name, gr.Gid)
		}
		*g.p = n
	}
	return ids, nil
}
