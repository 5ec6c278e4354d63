// Package clean is qmail-clean: it removes queue files on qmail-send's
// behalf, running as the queue's owner so qmail-send need not (spec §4).
//
// Requests are NUL-terminated on descriptor 0, one reply byte each on
// descriptor 1: "foop/N" removes intd/N and mess/S/N, "todo/N" removes
// intd/N and todo/N; '+' done, '!' an unlink failed, 'x' a bad request.
// Every 30 requests (and at start) pid/ files left by a crashed
// qmail-queue more than 36 hours ago are removed. Unlike qmail 1.03 the
// message number is checked to be all digits.
package clean

import (
	"bufio"
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"goqmail/internal/plainfile"
	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
)

// staleAge is how old a pid/ file must be before it is removed.
const staleAge = 36 * time.Hour

// Main is qmail-clean.
func Main(ctx *prog.Context) int {
	// A vanished qmail-send must make a reply fail with EPIPE (exit 111),
	// not kill us by signal at a write to descriptor 1.
	signal.Ignore(syscall.SIGPIPE)
	q := queuefs.New(ctx.Home)
	r := bufio.NewReader(ctx.Stdin)
	w := ctx.Stdout
	count := 0
	gone := false // qmail-send stopped reading the answers
	sweepPid(q, time.Now())
	for {
		req, err := r.ReadString(0)
		if err != nil {
			if gone {
				return 111
			}
			return 0
		}
		count++
		if count%30 == 0 {
			sweepPid(q, time.Now())
		}
		reply := handle(q, req[:len(req)-1])
		if gone {
			continue
		}
		if _, err := w.Write([]byte{reply}); err != nil {
			// qmail-send is gone. The requests it wrote before it went
			// are still carried out, up to the end of the pipe: it writes
			// several before it reads the answers, and a finished
			// message's mess file would otherwise stay behind its removed
			// info file until the 36-hour sweep.
			gone = true
		}
	}
}

func handle(q queuefs.Queue, req string) byte {
	if len(req)+1 < 7 || len(req)+1 > 100 {
		return 'x'
	}
	var kind string
	switch {
	case strings.HasPrefix(req, "foop/"):
		kind = "foop"
	case strings.HasPrefix(req, "todo/"):
		kind = "todo"
	default:
		return 'x'
	}
	n, ok := queuefs.ParseNumber(req[5:])
	if !ok {
		return 'x'
	}
	if !unlink(q.Intd(n)) {
		return '!'
	}
	if kind == "foop" {
		if !unlink(q.Mess(n)) {
			return '!'
		}
	} else if !unlink(q.Todo(n)) {
		return '!'
	}
	return '+'
}

func unlink(path string) bool {
	err := plainfile.Remove(path)
	return err == nil || errors.Is(err, fs.ErrNotExist)
}

// sweepPid removes pid/ files whose atime is older than 36 hours.
func sweepPid(q queuefs.Queue, now time.Time) {
	dir := q.Path("pid")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := dir + "/" + e.Name()
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		atime := time.Unix(st.Atim.Sec, st.Atim.Nsec)
		if now.Sub(atime) > staleAge {
			os.Remove(p)
		}
	}
}
