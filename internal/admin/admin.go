// Package admin holds qmail's administration tools: qmail-showctl
// (what the control files say), qmail-newmrh (compile morercpthosts),
// qmail-qread (list the queued messages) and qmail-qstat (count them),
// spec §16; and goqmail's own qmail-qfsck (check and repair the queue).
//
// They read the install at ctx.Home and never change the process's
// working folder, so they can run in-process.
package admin

import (
	"strconv"
)

// Compiled settings qmail-showctl reports (spec §0.1). goqmail reads the
// user and group ids at run time (package ids) rather than compiling
// them in.
const (
	userExtDelimiter = "-"
	paternalism      = 2 // conf-patrn: mode bits forbidden on ~ and .qmail files
	// concurrencyLimit is goqmail's silent concurrency limit: qmail 1.03
	// compiled in 120 (at most 255, one byte on the spawner pipe);
	// goqmail's spawner protocol allows 1000.
	concurrencyLimit = 1000
	split            = 23 // conf-split
)

// safe replaces bytes outside printable ASCII by sub, as qmail-showctl
// ('?') and qmail-qread ('_') do, so that a control file or an address
// cannot write escape sequences to the administrator's terminal.
func safe(s string, sub byte) string {
	for i := 0; i < len(s); i++ {
		if s[i] < 32 || s[i] > 126 {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 32 || b[j] > 126 {
					b[j] = sub
				}
			}
			return string(b)
		}
	}
	return s
}

// splitDirs are the names of the split subfolders, "0" to "22".
func splitDirs() []string {
	out := make([]string, split)
	for i := range out {
		out[i] = strconv.Itoa(i)
	}
	return out
}
