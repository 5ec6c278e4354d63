package spawn

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"

	"goqmail/internal/addr"
	"goqmail/internal/durable"
	"goqmail/internal/prog"
	"goqmail/internal/spawnproto"
	"goqmail/internal/userdb"
)

// LMain is qmail-lspawn DEFAULTDELIVERY: for each local delivery it finds
// the user (users/cdb, else qmail-getpw run as qmailp), and runs
// qmail-local as that user (spec §6.1, §7.1).
//
// In a user-mode install it can deliver only as the install's owner; a
// lookup naming anybody else is deferred, never bounced, so a mistake in
// users/assign cannot lose mail.
//
// When bin/qmail-local is goqmail's own, the deliveries run in this
// process on threads that become the recipient (lspawn_here.go).
func LMain(ctx *prog.Context) int {
	if len(ctx.Args) < 2 {
		return ctx.Usage("qmail-lspawn defaultdelivery")
	}
	e, err := newEngine(ctx)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	l := &lspawn{e: e, dd: ctx.Args[1], here: isOurs(ctx, "qmail-local"), herePw: isOurs(ctx, "qmail-getpw"), threads: &userThreads{},
		passwd: userdb.PasswdCache{Path: userdb.PasswdFile}}
	return e.serve(func(c spawnproto.Command, msg *os.File) []spawnproto.Report {
		if len(c.Also) > 0 { // qmail-send batches remote deliveries only
			return nil
		}
		return []spawnproto.Report{l.deliver(c, msg)}
	})
}

type lspawn struct {
	e      *engine
	dd     string
	here   bool // run qmail-local's work in-process (lspawn_here.go)
	herePw bool // and qmail-getpw's
	passwd userdb.PasswdCache
	// dirs shares the Maildir new/ fsyncs of in-process deliveries, one
	// durable.Group per uid, so that a round of fsyncs is only ever run
	// by a thread of the user whose deliveries it serves.
	dirsMu sync.Mutex
	dirs   map[int]*durable.Group
	// files makes the in-process deliveries' Maildir files durable with
	// syncfs rounds shared by all users on a file system (durable.FS):
	// a round writes everyone's files at once and reveals nothing.
	files durable.FSSet
	// threads keeps the threads of in-process work for the same user's
	// next work (threads.go).
	threads *userThreads
}

// dirGroup is the durable.Group of uid's in-process deliveries.
func (l *lspawn) dirGroup(uid int) *durable.Group {
	l.dirsMu.Lock()
	defer l.dirsMu.Unlock()
	if l.dirs == nil {
		l.dirs = map[int]*durable.Group{}
	}
	g := l.dirs[uid]
	if g == nil {
		g = &durable.Group{FS: &l.files}
		l.dirs[uid] = g
	}
	return g
}

func z(text string) spawnproto.Report { return spawnproto.Report{Status: 'Z', Text: text} }

func (l *lspawn) deliver(c spawnproto.Command, msg *os.File) spawnproto.Report {
	local, domain, _ := addr.Split(c.Recipient)
	if local == "" {
		return spawnproto.Report{Status: 'K'}
	}
	home := l.e.ctx.Home
	ent, found, err := userdb.Lookup(home, local)
	if err != nil {
		return z("Trouble reading users/cdb in qmail-lspawn.\n")
	}
	if !found {
		var r *spawnproto.Report
		ent, r = l.getpw(local)
		if r != nil {
			return *r
		}
	}
	if ent.UID == 0 {
		return z("Not allowed to perform deliveries as root.\n")
	}
	args := []string{"--", ent.User, ent.Home, local, ent.Dash, ent.Ext, domain, c.Sender, l.dd}
	if l.here {
		return l.deliverHere(ent.UID, ent.GID, args, msg)
	}
	return l.deliverExec(ent.UID, ent.GID, args, msg)
}

// deliverExec runs bin/qmail-local as uid:gid, as qmail does.
func (l *lspawn) deliverExec(uid, gid int, args []string, msg *os.File) spawnproto.Report {
	home := l.e.ctx.Home
	cmd := exec.Command(filepath.Join(home, "bin", "qmail-local"), args...)
	cmd.Args[0] = "qmail-local"
	cmd.Dir = home
	cmd.Env = l.e.ctx.Env
	cmd.Stdin = msg
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if r := l.credentials(cmd, uid, gid); r != nil {
		return *r
	}
	err := cmd.Run()
	code, crashed, runErr := exitStatus(err)
	if runErr {
		return z("Unable to run qmail-local.\n")
	}
	if crashed {
		return z("qmail-local crashed.\n")
	}
	return localReport(code, cutReport(out.Bytes()))
}

// credentials makes cmd run as uid:gid, or refuses when that is not
// possible (a user-mode install run by its owner).
func (l *lspawn) credentials(cmd *exec.Cmd, uid, gid int) *spawnproto.Report {
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)},
		}}
		return nil
	}
	if uid != os.Geteuid() {
		r := z("This install runs without root and can deliver only as its owner. (#4.3.0)\n")
		return &r
	}
	return nil
}

// getpw asks qmail-getpw, as qmailp, who local is: in-process when
// qmail-lspawn delivers in-process and bin/qmail-getpw is ours, else by
// running it.
func (l *lspawn) getpw(local string) (userdb.Entry, *spawnproto.Report) {
	if l.herePw {
		return l.getpwHere(local)
	}
	return l.getpwExec(local)
}

// getpwExec runs qmail-getpw as qmailp and parses its answer.
func (l *lspawn) getpwExec(local string) (userdb.Entry, *spawnproto.Report) {
	home := l.e.ctx.Home
	cmd := exec.Command(filepath.Join(home, "bin", "qmail-getpw"), local)
	cmd.Args[0] = "qmail-getpw"
	cmd.Dir = home
	cmd.Env = l.e.ctx.Env
	if os.Geteuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
			Uid: uint32(l.e.ids.Qmailp), Gid: uint32(l.e.ids.GidNofiles),
			Groups: []uint32{uint32(l.e.ids.GidNofiles)},
		}}
	}
	out, err := cmd.Output()
	code, crashed, runErr := exitStatus(err)
	if runErr || crashed {
		r := z("Unable to run qmail-getpw.\n")
		return userdb.Entry{}, &r
	}
	if code != 0 {
		r := localReport(code, nil)
		return userdb.Entry{}, &r
	}
	ent, perr := userdb.ParseGetpw(out)
	if perr != nil {
		r := z("Internal qmail-lspawn bug.\n")
		return userdb.Entry{}, &r
	}
	return ent, nil
}

// exitStatus decodes a finished command: its exit code, whether it was
// killed by a signal, and whether it could not be run at all.
func exitStatus(err error) (code int, crashed, notRun bool) {
	if err == nil {
		return 0, false, false
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return 0, false, true
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 0, true, false
	}
	return ee.ExitCode(), false, false
}

// localReport maps qmail-local's (or qmail-getpw's) exit code to a
// report, as the table of spec §6.1.
func localReport(code int, out []byte) spawnproto.Report {
	fixed := map[int]string{
		117: "Trouble reading users/cdb in qmail-lspawn.\n",
		119: "Out of memory in qmail-lspawn.\n",
		118: "Temporary failure in qmail-lspawn.\n",
		116: "Unable to find alias user!\n",
		113: "Not allowed to perform deliveries as root.\n",
		112: "Internal qmail-lspawn bug.\n",
		115: "NFS failure in qmail-local.\n",
		121: "Unable to run qmail-getpw.\n",
		120: "Unable to run qmail-local.\n",
	}
	switch {
	case code == 0:
		return spawnproto.Report{Status: 'K', Text: string(out)}
	case code == 111 || code == 71 || code == 74 || code == 75:
		return spawnproto.Report{Status: 'Z', Text: string(out)}
	case code == 126:
		return spawnproto.Report{Status: 'D', Text: "Unable to run qmail-local.\n"}
	}
	if t, ok := fixed[code]; ok {
		return z(t)
	}
	return spawnproto.Report{Status: 'D', Text: string(out)}
}
