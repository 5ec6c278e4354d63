// Package spawn holds qmail-lspawn and qmail-rspawn, which run one
// delivery program per recipient on qmail-send's behalf and turn each
// program's exit status and output into a report (spec §6).
//
// Both share one engine: announce the concurrency limit, read commands
// (internal/spawnproto), check the message file, run the delivery in a
// goroutine, write its report. On end of input the engine waits for the
// deliveries in flight and exits 0.
package spawn

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"

	"goqmail/internal/ids"
	"goqmail/internal/plainfile"
	"goqmail/internal/prog"
	"goqmail/internal/spawnproto"
)

// deliverFunc performs the deliveries of one command with the message
// open on msg, returning one report per recipient, in the command's order
// (cmd.Recipients()); the engine fills in the slots.
type deliverFunc func(cmd spawnproto.Command, msg *os.File) []spawnproto.Report

// engine is the shared loop.
type engine struct {
	ctx   *prog.Context
	ids   *ids.IDs
	mess  string // queue/mess
	out   io.Writer
	mu    sync.Mutex
	busy  map[int]bool
	wg    sync.WaitGroup
	write sync.Mutex
}

func (e *engine) report(r spawnproto.Report) {
	e.write.Lock()
	defer e.write.Unlock()
	e.out.Write(spawnproto.AppendReport(nil, r))
}

func (e *engine) serve(deliver deliverFunc) int {
	// Like qmail's spawners, survive SIGPIPE: when qmail-send dies, the
	// deliveries in flight still finish and their reports fail quietly,
	// instead of Go killing us at the first write to descriptor 1. Asked
	// for rather than ignored: an ignored signal stays ignored in the
	// |programs that in-process deliveries start, where qmail gives them
	// the default (a pipeline in a .qmail line must die of a closed pipe).
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if err := spawnproto.WriteLimit(e.out, spawnproto.Limit); err != nil {
		return 111
	}
	in := bufio.NewReader(e.ctx.Stdin)
	for {
		cmd, err := spawnproto.ReadCommand(in)
		if err != nil {
			e.wg.Wait()
			if err == io.EOF {
				return 0
			}
			return 111
		}
		if rep, ok := e.check(cmd); !ok {
			e.reportAll(cmd, rep)
			continue
		}
		msg, rep, ok := e.openMessage(cmd)
		if !ok {
			e.reportAll(cmd, rep)
			continue
		}
		slots := cmd.Slots()
		e.mu.Lock()
		for _, s := range slots {
			e.busy[s] = true
		}
		e.mu.Unlock()
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			reps := deliver(cmd, msg)
			msg.Close()
			e.mu.Lock()
			for _, s := range slots {
				delete(e.busy, s)
			}
			e.mu.Unlock()
			for i, s := range slots {
				r := z("Internal error: no report for this recipient. (#4.3.5)\n")
				if i < len(reps) {
					r = reps[i]
				}
				r.Slot = s
				e.report(r)
			}
		}()
	}
}

// reportAll gives every recipient of a command the same report.
func (e *engine) reportAll(c spawnproto.Command, r spawnproto.Report) {
	for _, s := range c.Slots() {
		r.Slot = s
		e.report(r)
	}
}

func rep(slot int, status byte, text string) spawnproto.Report {
	return spawnproto.Report{Slot: slot, Status: status, Text: text}
}

// check validates a command as qmail's spawn.c does.
func (e *engine) check(c spawnproto.Command) (spawnproto.Report, bool) {
	for _, slot := range c.Slots() {
		if slot >= spawnproto.Limit {
			return rep(c.Slot, 'Z', "Internal error: delnum too big. (#4.3.5)\n"), false
		}
		e.mu.Lock()
		inUse := e.busy[slot]
		e.mu.Unlock()
		if inUse {
			return rep(c.Slot, 'Z', "Internal error: delnum in use. (#4.3.5)\n"), false
		}
	}
	slashes := 0
	for i := 0; i < len(c.Message); i++ {
		ch := c.Message[i]
		if ch == '/' {
			slashes++
		}
		if ch == '/' && slashes == 1 || ch >= '0' && ch <= '9' {
			continue
		}
		return rep(c.Slot, 'D', "Internal error: messid has nonnumerics. (#5.3.5)\n"), false
	}
	if len(c.Message) > 100 {
		return rep(c.Slot, 'D', "Internal error: messid too long. (#5.3.5)\n"), false
	}
	if c.Message == "" {
		return rep(c.Slot, 'D', "Internal error: messid too short. (#5.3.5)\n"), false
	}
	for _, r := range c.Recipients() {
		if !bytes.Contains([]byte(r), []byte("@")) {
			return rep(c.Slot, 'D', "Sorry, address must include host name. (#5.1.3)\n"), false
		}
	}
	return spawnproto.Report{}, true
}

// openMessage opens queue/mess/S/N and checks it is a regular file owned
// by the queue's owner.
func (e *engine) openMessage(c spawnproto.Command) (*os.File, spawnproto.Report, bool) {
	f, err := plainfile.Open(filepath.Join(e.mess, c.Message), os.O_RDONLY, 0)
	if err != nil {
		return nil, rep(c.Slot, 'Z', "qmail-spawn unable to open message. (#4.3.0)\n"), false
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, rep(c.Slot, 'Z', "Sorry, message has wrong type. (#4.3.5)\n"), false
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != e.ids.Qmailq {
		f.Close()
		return nil, rep(c.Slot, 'Z', "Sorry, message has wrong owner. (#4.3.5)\n"), false
	}
	return f, spawnproto.Report{}, true
}

func newEngine(ctx *prog.Context) (*engine, error) {
	theIDs, err := ids.Load(ctx.Home)
	if err != nil {
		return nil, err
	}
	return &engine{
		ctx:  ctx,
		ids:  theIDs,
		mess: filepath.Join(ctx.Home, "queue", "mess"),
		out:  ctx.Stdout,
		busy: map[int]bool{},
	}, nil
}

// cutReport caps a delivery program's output as qmail-lspawn does.
func cutReport(out []byte) []byte {
	if i := bytes.IndexByte(out, 0); i >= 0 {
		out = out[:i]
	}
	const max = 3000
	const tail = "\nError report too long, sorry.\n"
	if len(out) > max {
		cut := max - 34
		out = append(out[:cut:cut], tail...)
	}
	return out
}
