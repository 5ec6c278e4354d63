package inject

import (
	"strings"
	"time"
)

// Options are the parts of the world a test fixes: the clock and the
// process id that Date, Message-ID and the per-message VERP use.
type Options struct {
	Now func() time.Time
	Pid int
}

// recipient modes (§13.1)
const (
	modeA = 'A' // args if any, else header (default)
	modea = 'a' // args only
	modeh = 'h' // header only
	modeH = 'H' // header and args
)

type args struct {
	mode   byte
	print  bool // -n
	sender string
	haveF  bool
	rcpts  []string
}

const injectUsage = "qmail-inject [ -nNaAhH ] [ -fsender ] [ recip ... ]"

// parseArgs reads qmail-inject's options the way djb's getopt does:
// clustered letters, -fADDR or -f ADDR, "--" ends the options.
func parseArgs(argv []string) (args, bool) {
	a := args{mode: modeA}
	i := 1
	for ; i < len(argv); i++ {
		s := argv[i]
		if s == "--" {
			i++
			break
		}
		if len(s) < 2 || s[0] != '-' {
			break
		}
		for j := 1; j < len(s); j++ {
			switch c := s[j]; c {
			case 'a', 'A', 'h', 'H':
				a.mode = c
			case 'n':
				a.print = true
			case 'N':
				a.print = false
			case 'f':
				if j+1 < len(s) {
					a.sender = s[j+1:]
				} else if i+1 < len(argv) {
					i++
					a.sender = argv[i]
				} else {
					return a, false
				}
				a.haveF = true
				j = len(s)
			default:
				return a, false
			}
		}
	}
	a.rcpts = argv[i:]
	return a, true
}

// injectLetters is $QMAILINJECT.
type injectLetters struct {
	comment    bool // c: From as user@host (Name)
	ignoreRP   bool // s: ignore and delete Return-Path
	deleteFrom bool // f
	deleteMID  bool // i
	verpRcpt   bool // r
	verpMsg    bool // m
}

func parseLetters(s string) injectLetters {
	return injectLetters{
		comment:    strings.ContainsRune(s, 'c'),
		ignoreRP:   strings.ContainsRune(s, 's'),
		deleteFrom: strings.ContainsRune(s, 'f'),
		deleteMID:  strings.ContainsRune(s, 'i'),
		verpRcpt:   strings.ContainsRune(s, 'r'),
		verpMsg:    strings.ContainsRune(s, 'm'),
	}
}
