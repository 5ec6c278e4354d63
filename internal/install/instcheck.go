package install

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"goqmail/internal/ids"
	"goqmail/internal/prog"
)

// Check is `instcheck`: it verifies the install at ctx.Home against the
// layout for its mode and prints one warning line per problem. Exit 0
// when clean, 111 otherwise.
func Check(ctx *prog.Context, programs []string) int {
	if len(ctx.Args) > 1 {
		return ctx.Usage("instcheck")
	}
	home := ctx.Home
	fi, err := os.Stat(home)
	if err != nil {
		return ctx.Fatal(111, "unable to stat %s: %v", home, err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	p := params{home: home, userMode: st.Uid != 0, programs: programs}
	var problems []string
	var id *ids.IDs
	if p.userMode {
		id = ids.UserMode(home, int(st.Uid), int(st.Gid))
		p.uid, p.gid = int(st.Uid), int(st.Gid)
		p.user = strconv.Itoa(p.uid)
		if u, err := user.LookupId(p.user); err == nil {
			p.user = u.Username
		}
	} else {
		problems = accountProblems(home)
		if id, err = ids.RootMode(home); err != nil && len(problems) == 0 {
			problems = append(problems, err.Error())
		}
	}
	if id != nil {
		for _, n := range layout(p) {
			if msg := checkNode(home, n, id); msg != "" {
				problems = append(problems, msg)
			}
		}
	}
	for _, msg := range problems {
		ctx.Warn("%s", msg)
	}
	if len(problems) > 0 {
		return 111
	}
	return 0
}

// accountProblems lists qmail's users and groups that are missing, and an
// alias user whose home is not this install's alias folder.
func accountProblems(home string) []string {
	var out []string
	for _, g := range ids.Groups {
		if _, err := user.LookupGroup(g); err != nil {
			out = append(out, fmt.Sprintf("group %s does not exist", g))
		}
	}
	for _, u := range ids.Users {
		pw, err := user.Lookup(u)
		if err != nil {
			out = append(out, fmt.Sprintf("user %s does not exist", u))
			continue
		}
		if u == ids.AliasUser && filepath.Clean(pw.HomeDir) != home+"/alias" {
			out = append(out, fmt.Sprintf("user alias has home %s, want %s/alias", pw.HomeDir, home))
		}
	}
	return out
}

func typeName(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m.IsRegular():
		return "a file"
	}
	return "a special file"
}

func wantType(k kind) fs.FileMode {
	switch k {
	case kDir:
		return fs.ModeDir
	case kFIFO:
		return fs.ModeNamedPipe
	case kLink:
		return fs.ModeSymlink
	}
	return 0
}

func idName(uid int) string {
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return fmt.Sprintf("%d (%s)", uid, u.Username)
	}
	return strconv.Itoa(uid)
}

func gidName(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return fmt.Sprintf("%d (%s)", gid, g.Name)
	}
	return strconv.Itoa(gid)
}

// checkNode returns what is wrong with one path, or "".
func checkNode(home string, n node, id *ids.IDs) string {
	path := home
	if n.path != "" {
		path = home + "/" + n.path
	}
	fi, err := os.Lstat(path)
	if err != nil {
		if os.IsNotExist(err) {
			return path + ": missing"
		}
		return fmt.Sprintf("%s: %v", path, err)
	}
	if fi.Mode().Type() != wantType(n.kind) {
		return fmt.Sprintf("%s: is %s, want %s", path, typeName(fi.Mode()), typeName(wantType(n.kind)))
	}
	if n.kind == kLink {
		t, err := os.Readlink(path)
		if err != nil {
			return fmt.Sprintf("%s: %v", path, err)
		}
		if t != n.target {
			return fmt.Sprintf("%s: points to %s, want %s", path, t, n.target)
		}
		return ""
	}
	st := fi.Sys().(*syscall.Stat_t)
	if want := uidOf(n.owner, id); int(st.Uid) != want {
		return fmt.Sprintf("%s: wrong owner %s, want %s", path, idName(int(st.Uid)), idName(want))
	}
	if want := gidOf(n.group, id); int(st.Gid) != want {
		return fmt.Sprintf("%s: wrong group %s, want %s", path, gidName(int(st.Gid)), gidName(want))
	}
	if mode := st.Mode & 0o7777; mode != n.mode {
		return fmt.Sprintf("%s: wrong mode %04o, want %04o", path, mode, n.mode)
	}
	switch n.kind {
	case kTcpto:
		if fi.Size() != 1024 {
			return fmt.Sprintf("%s: size %d, want 1024", path, fi.Size())
		}
	case kCopy:
		if main := home + "/bin/" + binMain; path != main {
			if same, err := sameContent(path, main); err != nil {
				return fmt.Sprintf("%s: %v", path, err)
			} else if !same {
				return fmt.Sprintf("%s: differs from %s (an unfinished upgrade? install again)", path, main)
			}
		}
	}
	return ""
}

// sameContent compares two files byte for byte.
func sameContent(a, b string) (bool, error) {
	fa, err := os.Open(a)
	if err != nil {
		return false, err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return false, err
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<16), make([]byte, 1<<16)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false, nil
		}
		if ea != nil || eb != nil {
			if (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF) {
				return true, nil
			}
			if ea != nil && ea != io.EOF && ea != io.ErrUnexpectedEOF {
				return false, ea
			}
			if eb != nil && eb != io.EOF && eb != io.ErrUnexpectedEOF {
				return false, eb
			}
			return false, nil
		}
	}
}
