package qmqp

import (
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"goqmail/internal/cdb"
	"goqmail/internal/control"
	"goqmail/internal/prog"
)

// rcptHosts is control/rcpthosts and morercpthosts.cdb as qmail-smtpd
// and qmail-qmtpd read them (spec §11.4).
type rcptHosts struct {
	set  map[string]bool // nil: no rcpthosts, every domain accepted
	more *cdb.Reader
}

func loadRcptHosts(d *control.Dir) (*rcptHosts, error) {
	r := &rcptHosts{}
	lines, ok, err := d.List("rcpthosts")
	if err != nil || !ok {
		return r, err
	}
	r.set = map[string]bool{}
	for _, l := range lines {
		r.set[lower(l)] = true
	}
	c, err := cdb.Open(d.Path("morercpthosts.cdb"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return r, nil
		}
		return nil, &control.Error{File: "control/morercpthosts.cdb", Msg: "unable to open", Err: err}
	}
	r.more = c
	return r, nil
}

func (r *rcptHosts) close() {
	if r.more != nil {
		r.more.Close()
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

// allowed: an address without '@' always; else its domain or a suffix
// of it starting with '.' must be listed.
func (r *rcptHosts) allowed(a string) (bool, error) {
	if r.set == nil {
		return true, nil
	}
	i := strings.LastIndexByte(a, '@')
	if i < 0 {
		return true, nil
	}
	dom := lower(a[i+1:])
	for j := 0; j < len(dom) || j == 0; j++ {
		if j > 0 && dom[j] != '.' {
			continue
		}
		key := dom[j:]
		if r.set[key] {
			return true, nil
		}
		if r.more != nil {
			_, ok, err := r.more.Get([]byte(key))
			if err != nil {
				return false, err
			}
			if ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// databytes is control/databytes overridden by $DATABYTES (0: none).
func databytes(ctx *prog.Context, d *control.Dir) (int64, error) {
	n, err := d.Int("databytes", 0)
	if err != nil {
		return 0, err
	}
	if v, ok := ctx.Getenv("DATABYTES"); ok {
		u, perr := strconv.ParseUint(v, 10, 63)
		if perr != nil {
			return 0, nil // qmail: a non-numeric DATABYTES means no limit
		}
		return int64(u), nil
	}
	if n < 0 {
		n = 0
	}
	return int64(n), nil
}
