package admin

import (
	"bytes"
	"errors"
	"os"

	"goqmail/internal/cdb"
	"goqmail/internal/control"
	"goqmail/internal/prog"
)

// Newmrh is qmail-newmrh: it compiles control/morercpthosts into
// control/morercpthosts.cdb (spec §16), writing control/morercpthosts.tmp
// first and renaming it into place, so qmail-smtpd sees either the old
// or the new database, never half of one.
//
// Each line is right-trimmed of spaces, tabs and CRs (a CR is stripped
// as everywhere in goqmail's control files, since a key ending in CR
// could never match a domain), lowercased in ASCII, and skipped if it is
// empty or starts with '#'; every other line becomes a key with empty
// data, duplicates included (§24.6). Leading white space is kept, as
// qmail keeps it.
//
// A missing control/morercpthosts is an error rather than an empty
// database: running qmail-newmrh without it is almost certainly a
// mistake, and an empty cdb would silently drop every domain the old one
// held. Arguments are ignored, as qmail-newmrh ignores them.
func Newmrh(ctx *prog.Context) int {
	d := control.New(ctx.Home)
	data, err := os.ReadFile(d.Path("morercpthosts"))
	if err != nil {
		return ctx.Fatal(111, "unable to read control/morercpthosts: %v", unwrap(err))
	}
	keys := control.ParseList(data)
	err = cdb.Make(d.Path("morercpthosts.cdb"), d.Path("morercpthosts.tmp"), func(w *cdb.Writer) error {
		for _, k := range keys {
			if err := w.Add(lowerASCII([]byte(k)), nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			return ctx.Fatal(111, "unable to move control/morercpthosts.tmp to control/morercpthosts.cdb: %v", le.Err)
		}
		return ctx.Fatal(111, "unable to write control/morercpthosts.tmp: %v", unwrap(err))
	}
	return 0
}

// lowerASCII lowers A-Z only, as qmail's case_lowerb.
func lowerASCII(b []byte) []byte {
	b = bytes.Clone(b)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return b
}
