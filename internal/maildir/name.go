package maildir

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"
)

// UniqueName returns a new Maildir file name in the modern form of
// maildir(5): TIME.M<usec>P<pid>R<random>.HOST.
//
// qmail 1.03 used TIME.PID.HOST, which is unique only while one process
// delivers at most one message per second; goqmail delivers from
// long-lived processes in many goroutines at once (hardening.md §3.2,
// spec §22 item 12). The microseconds and 64 random bits make a collision
// practically impossible without any counter shared between goroutines,
// and the O_EXCL create catches the impossible case. Mail readers treat
// the name as opaque, so the form is free to change.
func UniqueName() (string, error) {
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	now := time.Now()
	return fmt.Sprintf("%d.M%dP%dR%s.%s", now.Unix(), now.Nanosecond()/1000,
		os.Getpid(), hex.EncodeToString(rnd[:]), Host()), nil
}

// Host is the host part of a Maildir name: the host name with '/'
// written as \057 and ':' as \072, as maildir(5) asks, since '/' cannot
// be in a file name and ':' starts the info part.
func Host() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		h = "localhost"
	}
	return EscapeHost(h)
}

// EscapeHost escapes '/' and ':' (and '\', so the escape is unambiguous)
// in a host name for a Maildir file name.
func EscapeHost(h string) string {
	if !strings.ContainsAny(h, "/:\\") {
		return h
	}
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		switch h[i] {
		case '/':
			b.WriteString(`\057`)
		case ':':
			b.WriteString(`\072`)
		case '\\':
			b.WriteString(`\134`)
		default:
			b.WriteByte(h[i])
		}
	}
	return b.String()
}
