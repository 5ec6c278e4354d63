package install

import (
	"strconv"

	"goqmail/internal/ids"
	"goqmail/internal/queuefs"
)

// split is conf-split: the number of hashed queue subfolders.
const split = 23

// kind is what a path of the tree must be.
type kind int

const (
	kDir   kind = iota // a folder
	kFile              // a regular file install writes (content)
	kFIFO              // a named pipe (queue/lock/trigger)
	kTcpto             // queue/lock/tcpto: 1024 bytes, kept if that size
	kBuilt             // a regular file another program builds (users/cdb)
	kCopy              // a copy of the binary
	kLink              // a relative symbolic link (target)
)

// role is the account that owns a path.
type role int

const (
	roleRoot role = iota
	roleAlias
	roleQmaill
	roleQmailq
	roleQmailr
	roleQmails
)

// group is the group that owns a path.
type group int

const (
	groupQmail group = iota
	groupNofiles
)

// node is one path of the tree and what it must be.
type node struct {
	path    string // relative to the home; "" is the home itself
	kind    kind
	owner   role
	group   group
	mode    uint32 // permission bits with setuid/setgid, as chmod takes them
	target  string // kLink: where the link points
	content string // kFile: what install writes
	keep    bool   // kFile: written only when missing (the admin's data)
	spread  bool   // kDir: its subfolders go to block groups apart (spread)
}

// params are what the layout depends on.
type params struct {
	home     string
	userMode bool
	user     string   // the owning account in user mode
	uid, gid int      // its ids, for users/assign
	programs []string // program names the binary runs
}

func uidOf(r role, id *ids.IDs) int {
	switch r {
	case roleAlias:
		return id.Alias
	case roleQmaill:
		return id.Qmaill
	case roleQmailq:
		return id.Qmailq
	case roleQmailr:
		return id.Qmailr
	case roleQmails:
		return id.Qmails
	}
	return id.Root
}

func gidOf(g group, id *ids.IDs) int {
	if g == groupNofiles {
		return id.GidNofiles
	}
	return id.GidQmail
}

func dir(path string, owner role, mode uint32) node {
	return node{path: path, kind: kDir, owner: owner, mode: mode}
}

// spread marks a folder whose subfolders ext4 should place apart
// (fsys.spreadSubdirs): the queue and its hashed folders.
func spread(n node) node {
	n.spread = true
	return n
}

// layout lists every path of an install in the order install makes them
// (a folder before what it holds).
func layout(p params) []node {
	n := []node{
		dir("", roleRoot, 0o755),
		dir("bin", roleRoot, 0o755),
		dir("control", roleRoot, 0o755),
		spread(dir("queue", roleQmailq, 0o750)),
		dir("alias", roleAlias, 0o2755),
		dir("boot", roleRoot, 0o755),
		dir("doc", roleRoot, 0o755),
		dir("man", roleRoot, 0o755),
		dir("users", roleRoot, 0o755),
		dir("queue/pid", roleQmailq, 0o700),
		dir("queue/intd", roleQmailq, 0o700),
		dir("queue/todo", roleQmailq, 0o750),
		dir("queue/bounce", roleQmails, 0o700),
		spread(dir("queue/mess", roleQmailq, 0o750)),
		spread(dir("queue/info", roleQmails, 0o700)),
		spread(dir("queue/local", roleQmails, 0o700)),
		spread(dir("queue/remote", roleQmails, 0o700)),
		dir("queue/lock", roleQmailq, 0o750),
	}
	for i := 0; i < split; i++ {
		s := "/" + strconv.Itoa(i)
		n = append(n,
			dir("queue/mess"+s, roleQmailq, 0o750),
			dir("queue/info"+s, roleQmails, 0o700),
			dir("queue/local"+s, roleQmails, 0o700),
			dir("queue/remote"+s, roleQmails, 0o700))
	}
	n = append(n,
		node{path: "queue/lock/tcpto", kind: kTcpto, owner: roleQmailr, mode: 0o644},
		node{path: "queue/lock/sendmutex", kind: kFile, owner: roleQmails, mode: 0o600, keep: true},
		// The D marks of direct messages (qmail-send; goqmail), kept:
		// emptied, they would have those messages delivered again.
		node{path: "queue/lock/directdone", kind: kFile, owner: roleQmails, mode: 0o600, keep: true,
			content: string(make([]byte, queuefs.DoneMarksSize))},
		node{path: "queue/lock/trigger", kind: kFIFO, owner: roleQmails, mode: 0o622},
	)
	n = append(n, binNodes(p)...)
	n = append(n, bootNodes(p)...)
	n = append(n, docNodes(p)...)
	if p.userMode {
		n = append(n, userModeNodes(p)...)
	}
	return n
}

// userModeNodes are the files that deliver every local address into
// alias/Maildir/ in user mode.
func userModeNodes(p params) []node {
	assign := "+:" + p.user + ":" + strconv.Itoa(p.uid) + ":" + strconv.Itoa(p.gid) +
		":" + p.home + "/alias:-::\n.\n"
	return []node{
		{path: "users/assign", kind: kFile, owner: roleRoot, mode: 0o644, content: assign, keep: true},
		{path: "users/cdb", kind: kBuilt, owner: roleRoot, mode: 0o644},
		{path: "alias/.qmail-default", kind: kFile, owner: roleAlias, mode: 0o644, content: "./Maildir/\n", keep: true},
		dir("alias/Maildir", roleAlias, 0o700),
		dir("alias/Maildir/cur", roleAlias, 0o700),
		dir("alias/Maildir/new", roleAlias, 0o700),
		dir("alias/Maildir/tmp", roleAlias, 0o700),
	}
}
