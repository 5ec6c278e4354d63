package admin

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"goqmail/internal/cdb"
	"goqmail/internal/control"
	"goqmail/internal/ids"
	"goqmail/internal/prog"
)

// Showctl is qmail-showctl: the compiled settings, then every control
// file of control.Files with the value in force, then every other file
// in control/ (spec §16).
//
// Where the spec is silent, goqmail
//   - prints "user mode: ..." after the ids in a user-mode install, so
//     that nobody mistakes one for a root-mode install;
//   - prints an "ERROR: ..." line for a file that cannot be read or an
//     integer file that is not a number (qmail showed "(Default.)" for
//     the latter, §24.8, but goqmail's programs refuse such a file, so
//     showing the default would be a lie);
//   - prints "WARNING: ..." lines where qmail is dangerous: no rcpthosts
//     (an open relay), percenthack domains that qmail-smtpd accepts mail
//     for (a relay through user%elsewhere@domain), concurrency above the
//     silent limit, and a stale or missing morercpthosts.cdb;
//   - exits 111 when it printed an ERROR line (the same files would make
//     goqmail's programs fail), 0 otherwise, so scripts can check an
//     install with "qmail-showctl >/dev/null". Warnings do not change
//     the exit code: qmail's behaviour is what the file asks for.
func Showctl(ctx *prog.Context) int {
	w := bufio.NewWriter(ctx.Stdout)
	defer w.Flush()
	s := &showctl{w: w, d: control.New(ctx.Home)}
	s.settings(ctx.Home)

	entries, err := os.ReadDir(s.d.Path(""))
	if err != nil {
		w.Flush()
		return ctx.Fatal(111, "unable to read %s: %v", s.d.Path(""), unwrap(err))
	}
	for _, f := range control.Files {
		s.file(f)
	}
	for _, e := range entries {
		if _, known := control.LookupFile(e.Name()); !known {
			fmt.Fprintf(w, "\n%s: I have no idea what this file does.\n", safe(e.Name(), '?'))
		}
	}
	if s.errors > 0 {
		return 111
	}
	return 0
}

type showctl struct {
	w      io.Writer
	d      *control.Dir
	errors int
}

func (s *showctl) settings(home string) {
	fmt.Fprintf(s.w, "qmail home directory: %s.\n", safe(home, '?'))
	fmt.Fprintf(s.w, "user-ext delimiter: %s.\n", userExtDelimiter)
	fmt.Fprintf(s.w, "paternalism (in decimal): %d.\n", paternalism)
	fmt.Fprintf(s.w, "silent concurrency limit: %d.\n", concurrencyLimit)
	fmt.Fprintf(s.w, "subdirectory split: %d.\n", split)
	id, err := ids.Load(home)
	if err != nil {
		fmt.Fprintf(s.w, "user ids: ERROR: %s.\n", safe(err.Error(), '?'))
		s.errors++
		return
	}
	// conf-users order: alias qmaild qmaill root qmailp qmailq qmailr qmails.
	fmt.Fprintf(s.w, "user ids: %d, %d, %d, %d, %d, %d, %d, %d.\n",
		id.Alias, id.Qmaild, id.Qmaill, id.Root, id.Qmailp, id.Qmailq, id.Qmailr, id.Qmails)
	fmt.Fprintf(s.w, "group ids: %d, %d.\n", id.GidQmail, id.GidNofiles)
	if id.UserMode {
		fmt.Fprintf(s.w, "user mode: every role runs as uid %d, the owner of %s.\n", id.Root, safe(home, '?'))
	}
}

// file prints one "\nNAME: ..." block.
func (s *showctl) file(f control.FileInfo) {
	fmt.Fprintf(s.w, "\n%s: ", f.Name)
	if f.Kind == control.KindCDB {
		s.cdb(f)
		return
	}
	v, err := s.d.Value(f.Name)
	if err != nil {
		s.fail(err)
		return
	}
	if f.Kind == control.KindSecret {
		if v.Exists {
			fmt.Fprintf(s.w, "%s\n", f.Show)
		} else {
			fmt.Fprintf(s.w, "(Default.) %s\n", f.None)
		}
		return
	}
	switch {
	case v.Source == control.NoValue:
		fmt.Fprintf(s.w, "(Default.) %s\n", f.None)
	case f.Kind == control.KindLine || f.Kind == control.KindInt:
		fmt.Fprintf(s.w, "%s%s\n", defaultMark(v), fmt.Sprintf(f.Show, safe(v.Text, '?')))
	case v.Source == control.FromMe:
		fmt.Fprintf(s.w, "(Default.) %s\n", fmt.Sprintf(f.Show, safe(v.Lines[0], '?')))
	case !v.Exists:
		fmt.Fprintf(s.w, "(Default.) %s\n", f.None)
	default:
		fmt.Fprintf(s.w, "\n")
		for _, l := range v.Lines {
			fmt.Fprintf(s.w, "%s\n", fmt.Sprintf(f.Show, safe(l, '?')))
		}
	}
	s.warnings(f, v)
}

func defaultMark(v control.Value) string {
	if v.Source == control.FromFile {
		return ""
	}
	return "(Default.) "
}

func (s *showctl) fail(err error) {
	msg := strings.TrimSuffix(safe(err.Error(), '?'), ".")
	fmt.Fprintf(s.w, "ERROR: %s.\n", msg)
	s.errors++
}

// warnings adds goqmail's warning lines after a file's block.
func (s *showctl) warnings(f control.FileInfo, v control.Value) {
	switch f.Name {
	case "concurrencylocal", "concurrencyremote":
		if v.Int > concurrencyLimit {
			fmt.Fprintf(s.w, "WARNING: %d is above the silent concurrency limit: at most %d run at once.\n",
				v.Int, concurrencyLimit)
		}
	case "rcpthosts":
		if !v.Exists {
			fmt.Fprintf(s.w, "WARNING: control/rcpthosts is missing, so qmail-smtpd accepts mail for every domain from every client:\n")
			fmt.Fprintf(s.w, "WARNING: this host is an OPEN RELAY. List the domains it accepts mail for in control/rcpthosts.\n")
		}
	case "percenthack":
		accepts, ok := s.accepts()
		if !ok {
			return
		}
		for _, dom := range v.Lines {
			if accepts(dom) {
				fmt.Fprintf(s.w, "WARNING: qmail-smtpd accepts mail for %s, so anyone can relay through this host as user%%elsewhere@%s.\n",
					safe(dom, '?'), safe(dom, '?'))
			}
		}
	}
}

// accepts returns whether qmail-smtpd takes recipients at a domain from
// any client, by rcpthosts and the morercpthosts list (the source of
// morercpthosts.cdb, whose freshness is checked on its own). ok is false
// when rcpthosts cannot be read; that error is shown in its own block.
func (s *showctl) accepts() (func(string) bool, bool) {
	rh, exists, err := s.d.ReadSet("rcpthosts")
	if err != nil {
		return nil, false
	}
	if !exists {
		return func(string) bool { return true }, true
	}
	more, _, err := s.d.ReadSet("morercpthosts")
	if err != nil {
		more = control.Set{}
	}
	return func(dom string) bool {
		for i := 0; i < len(dom); i++ {
			if i == 0 || dom[i] == '.' {
				if rh.Has(dom[i:]) || more.Has(dom[i:]) {
					return true
				}
			}
		}
		return false
	}, true
}

// cdb prints morercpthosts.cdb's block: whether it is there, how many
// domains it holds, and whether it is older than morercpthosts.
func (s *showctl) cdb(f control.FileInfo) {
	srcName := strings.TrimSuffix(f.Name, ".cdb")
	srcInfo, srcErr := os.Stat(s.d.Path(srcName))
	v, err := s.d.Value(f.Name)
	if err != nil {
		s.fail(err)
		return
	}
	if !v.Exists {
		fmt.Fprintf(s.w, "(Default.) %s\n", f.None)
		if srcErr == nil {
			fmt.Fprintf(s.w, "WARNING: control/%s has not been compiled: run qmail-newmrh.\n", srcName)
		}
		return
	}
	r, err := cdb.Open(s.d.Path(f.Name))
	if errors.Is(err, cdb.ErrCorrupt) {
		err = cdb.ErrCorrupt // without the full path cdb.Open adds
	}
	if err != nil {
		s.fail(&control.Error{File: "control/" + f.Name, Msg: "unable to read", Err: unwrap(err)})
		return
	}
	defer r.Close()
	n := 0
	if err := r.ForEach(func(k, v []byte) error { n++; return nil }); err != nil {
		s.fail(&control.Error{File: "control/" + f.Name, Msg: "unable to read", Err: err})
		return
	}
	cdbInfo, err := os.Stat(s.d.Path(f.Name))
	if err != nil {
		s.fail(&control.Error{File: "control/" + f.Name, Msg: "unable to stat", Err: unwrap(err)})
		return
	}
	fmt.Fprintf(s.w, "Holds %d %s.", n, plural(n, "domain", "domains"))
	switch {
	case srcErr != nil:
		fmt.Fprintf(s.w, " There is no control/%s to compile it from.\n", srcName)
	case srcInfo.ModTime().After(cdbInfo.ModTime()):
		fmt.Fprintf(s.w, "\nWARNING: control/%s was changed after it was compiled: run qmail-newmrh.\n", srcName)
	default:
		fmt.Fprintf(s.w, " Compiled after control/%s was last changed, so probably up to date.\n", srcName)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// unwrap drops the path from an *fs.PathError, for messages that name
// the file themselves.
func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
