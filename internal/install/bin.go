package install

import (
	"sort"
	"strings"
)

// The copies of the binary in bin/, by mode (see the package doc).
const (
	binMain  = "qmail"       // 0755
	bin0711  = "qmail.0711"  // 0711
	bin0700  = "qmail.0700"  // 0700
	binQueue = "qmail-queue" // 04711 qmailq in root mode
)

// progMode is the mode qmail 1.03 gives a program's binary; programs not
// listed are 0755.
var progMode = map[string]uint32{
	"qmail-lspawn": 0o700, "qmail-start": 0o700, "qmail-newu": 0o700, "qmail-newmrh": 0o700,
	"qmail-getpw": 0o711, "qmail-local": 0o711, "qmail-remote": 0o711, "qmail-rspawn": 0o711,
	"qmail-clean": 0o711, "qmail-send": 0o711, "splogger": 0o711, "qmail-pw2u": 0o711,
	"qmail-popup": 0o711,
}

// modeOf is the mode of program name's binary.
func modeOf(name string) uint32 {
	if m, ok := progMode[name]; ok {
		return m
	}
	return 0o755
}

// copyFor is the copy in bin/ that program name's link points to.
func copyFor(name string, userMode bool) string {
	if userMode {
		return binMain
	}
	switch modeOf(name) {
	case 0o700:
		return bin0700
	case 0o711:
		return bin0711
	}
	return binMain
}

// linkable reports whether name can be a link in bin/: not one of the
// copies' own names, no slash, no leading dot.
func linkable(name string) bool {
	if name == "" || strings.ContainsRune(name, '/') || strings.HasPrefix(name, ".") {
		return false
	}
	switch name {
	case binMain, bin0711, bin0700:
		return false
	}
	return true
}

// programNames is the sorted set of names that get a link (qmail-queue
// always, since the binary's setuid copy runs it).
func programNames(programs []string) []string {
	set := map[string]bool{binQueue: true}
	for _, n := range programs {
		if linkable(n) {
			set[n] = true
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// binNodes lists bin/'s copies and links.
func binNodes(p params) []node {
	names := programNames(p.programs)
	n := []node{{path: "bin/" + binMain, kind: kCopy, owner: roleRoot, mode: 0o755}}
	if !p.userMode {
		need := map[string]bool{}
		for _, name := range names {
			need[copyFor(name, false)] = true
		}
		if need[bin0711] {
			n = append(n, node{path: "bin/" + bin0711, kind: kCopy, owner: roleRoot, mode: 0o711})
		}
		if need[bin0700] {
			n = append(n, node{path: "bin/" + bin0700, kind: kCopy, owner: roleRoot, mode: 0o700})
		}
	}
	for _, name := range names {
		if name == binQueue && !p.userMode {
			n = append(n, node{path: "bin/" + binQueue, kind: kCopy, owner: roleQmailq, mode: 0o4711})
			continue
		}
		n = append(n, node{path: "bin/" + name, kind: kLink, owner: roleRoot, target: copyFor(name, p.userMode)})
	}
	return n
}

// isOurTarget reports whether a link target is one of our copies (a link
// install made and may remove when its program is gone).
func isOurTarget(t string) bool {
	return t == binMain || t == bin0711 || t == bin0700
}
