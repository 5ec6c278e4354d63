package userdb

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"goqmail/internal/cdb"
)

// NewuError is a failure of BuildCDB. What is qmail-newu's text ("bad
// format in users/assign", "unable to open users/assign", ...); Err, when
// set, says why (the line and fault, or the system error).
type NewuError struct {
	What string
	Err  error
}

// Error is qmail-newu's text followed by ": " and the reason. qmail 1.03
// printed the text alone; the reason (the line number of a bad line, the
// system error) is what an administrator needs next, and appending it
// keeps the text a script may grep for.
func (e *NewuError) Error() string {
	if e.Err == nil {
		return e.What
	}
	return e.What + ": " + e.Err.Error()
}

func (e *NewuError) Unwrap() error { return e.Err }

// BuildCDB is qmail-newu: it reads HOME/users/assign and writes
// HOME/users/cdb through HOME/users/cdb.tmp (created with mode 0644 less
// the umask, fsynced, renamed over users/cdb, and the folder fsynced).
// Records are added in file order (so for a repeated key the first line
// wins) and the wildcard set last, under the empty key, byte for byte as
// qmail-newu does. On any error users/cdb is left as it was and the error
// is a *NewuError.
func BuildCDB(home string) error {
	if fi, err := os.Stat(home); err != nil {
		return &NewuError{"unable to chdir", sysErr(err)}
	} else if !fi.IsDir() {
		return &NewuError{"unable to chdir", errors.New("not a directory")}
	}
	in, err := os.Open(filepath.Join(home, AssignPath))
	if err != nil {
		return &NewuError{"unable to open users/assign", sysErr(err)}
	}
	defer in.Close()
	tmp := filepath.Join(home, CDBPath+".tmp")
	err = cdb.Make(filepath.Join(home, CDBPath), tmp, func(w *cdb.Writer) error {
		var wild WildChars
		err := ParseAssign(in, func(a Assignment) error {
			wild.Add(a)
			if err := w.Add(a.Key(), a.Data()); err != nil {
				return &NewuError{"unable to write users/cdb.tmp", err}
			}
			return nil
		})
		var fe *FormatError
		var re *ReadError
		switch {
		case errors.As(err, &fe):
			return &NewuError{"bad format in users/assign", fe}
		case errors.As(err, &re):
			return &NewuError{"unable to read users/assign", sysErr(re.Err)}
		case err != nil:
			return err
		}
		if err := w.Add(nil, wild); err != nil {
			return &NewuError{"unable to write users/cdb.tmp", err}
		}
		return nil
	})
	return newuMakeError(err, tmp)
}

// newuMakeError turns cdb.Make's errors into qmail-newu's texts.
func newuMakeError(err error, tmp string) error {
	if err == nil {
		return nil
	}
	var ne *NewuError
	if errors.As(err, &ne) {
		return ne
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return &NewuError{"unable to move users/cdb.tmp to users/cdb", le.Err}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		switch {
		case pe.Path == tmp && pe.Op == "open":
			return &NewuError{"unable to open users/cdb.tmp", pe.Err}
		case pe.Path != tmp:
			// the rename is done; only the folder's fsync failed
			return &NewuError{"unable to sync users", pe.Err}
		}
		return &NewuError{"unable to write users/cdb.tmp", pe.Err}
	}
	return &NewuError{"unable to write users/cdb.tmp", err}
}

// sysErr strips the path from a *fs.PathError, leaving the system's
// reason ("no such file or directory"): the message already names the file
// relative to qmail's home, as qmail's do.
func sysErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
