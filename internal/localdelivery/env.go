package localdelivery

import (
	"strings"
	"time"

	"goqmail/internal/addr"
	"goqmail/internal/datefmt"
	"goqmail/internal/prog"
)

// lines holds the three header lines qmail-local writes (spec §8.1).
type lines struct {
	dt, rp, uf string
}

// headerLines computes DTLINE, RPLINE and UFLINE for a delivery to
// local@domain from sender at time now.
func headerLines(local, domain, sender string, now time.Time) lines {
	nl := func(s string) string { return strings.ReplaceAll(s, "\n", "_") }
	var uf strings.Builder
	uf.WriteString("From ")
	if sender == "" {
		uf.WriteString("MAILER-DAEMON")
	}
	for i := 0; i < len(sender); i++ {
		switch c := sender[i]; c {
		case ' ', '\t', '\n':
			uf.WriteByte('-')
		default:
			uf.WriteByte(c)
		}
	}
	uf.WriteString(" " + datefmt.Mbox(now) + "\n")
	return lines{
		dt: "Delivered-To: " + nl(local+"@"+domain) + "\n",
		rp: "Return-Path: <" + nl(addr.Quote2(sender)) + ">\n",
		uf: uf.String(),
	}
}

// extN returns ext after its (n-1)th '-' (EXT2..EXT4), or "".
func extN(ext string, n int) string {
	for ; n > 1; n-- {
		i := strings.IndexByte(ext, '-')
		if i < 0 {
			return ""
		}
		ext = ext[i+1:]
	}
	return ext
}

// hostN returns host cut before its (n-1)th-last '.' (HOST2..HOST4);
// when the dots run out what is left is kept.
func hostN(host string, n int) string {
	for ; n > 1; n-- {
		if i := strings.LastIndexByte(host, '.'); i >= 0 {
			host = host[:i]
		}
	}
	return host
}

// environment is the delivery's environment (spec §8.1) on top of base.
// DEFAULT is set only when def is; an inherited DEFAULT is removed, since
// a user's program must be able to trust it to describe this delivery.
func (d *delivery) environment(base []string) []string {
	recipient := d.local + "@" + d.domain
	vars := [][2]string{
		{"HOST", d.domain}, {"HOME", d.home}, {"USER", d.user},
		{"LOCAL", d.local}, {"RECIPIENT", recipient}, {"SENDER", d.sender},
		{"NEWSENDER", d.newsender},
		{"DTLINE", d.lines.dt}, {"RPLINE", d.lines.rp}, {"UFLINE", d.lines.uf},
		{"EXT", d.ext},
		{"EXT2", extN(d.ext, 2)}, {"EXT3", extN(d.ext, 3)}, {"EXT4", extN(d.ext, 4)},
		{"HOST2", hostN(d.domain, 2)}, {"HOST3", hostN(d.domain, 3)}, {"HOST4", hostN(d.domain, 4)},
	}
	names := map[string]bool{"DEFAULT": true}
	for _, v := range vars {
		names[v[0]] = true
	}
	env := make([]string, 0, len(base)+len(vars)+1)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !names[k] {
			env = append(env, kv)
		}
	}
	for _, v := range vars {
		env = append(env, v[0]+"="+v[1])
	}
	if d.hasDefault {
		env = prog.SetEnv(env, "DEFAULT", d.defaultPart)
	}
	return env
}
