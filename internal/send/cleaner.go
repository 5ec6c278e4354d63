package send

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
)

// cleaner is qmail-send's end of the qmail-clean pipes. qmail-clean
// answers each request with one byte, in order; here a request is written
// the moment it is asked for, and its answer arrives on a channel of its
// own. So the main loop (the todo/ files of a preprocessed batch, all at
// once) and the retirer (one finished message at a time) share the pipes
// without either reading the other's answers, and neither holds a lock
// while it waits.
//
// The reader never waits for a writer (pending has its own lock), so a
// writer blocked on a full pipe cannot keep qmail-clean's answers from
// being read.
type cleaner struct {
	wmu     sync.Mutex // one writer at a time
	w       io.Writer
	pmu     sync.Mutex  // guards pending
	pending []chan byte // one per request written and not yet answered, oldest first
	lost    atomic.Bool // the pipes failed: every answer is 0
}

func newCleaner(w io.Writer, r *bufio.Reader) *cleaner {
	c := &cleaner{w: w}
	go c.read(r)
	return c
}

// ask writes the requests and returns, for each, a channel that gets
// qmail-clean's answer ('+' done, '!' or 'x' not), or 0 if the pipes are
// lost.
func (c *cleaner) ask(reqs []string) []chan byte {
	chans := make([]chan byte, len(reqs))
	for i := range chans {
		chans[i] = make(chan byte, 1)
	}
	if len(reqs) == 0 {
		return chans
	}
	if c.lost.Load() {
		for _, ch := range chans {
			ch <- 0
		}
		return chans
	}
	var buf []byte
	for _, r := range reqs {
		buf = append(append(buf, r...), 0)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.pmu.Lock()
	if c.lost.Load() {
		// The reader has ended (it sets lost under pmu before failing
		// what is pending): nobody would answer these.
		c.pmu.Unlock()
		for _, ch := range chans {
			ch <- 0
		}
		return chans
	}
	c.pending = append(c.pending, chans...)
	c.pmu.Unlock()
	if _, err := c.w.Write(buf); err != nil {
		// qmail-clean is gone; its end of the answer pipe closes too, and
		// read fails every pending request.
		c.lost.Store(true)
	}
	return chans
}

// read hands each answer to the oldest request, and 0 to every pending
// one when the pipe ends.
func (c *cleaner) read(r *bufio.Reader) {
	for {
		b, err := r.ReadByte()
		c.pmu.Lock()
		if err != nil {
			c.lost.Store(true)
			for _, ch := range c.pending {
				ch <- 0
			}
			c.pending = nil
			c.pmu.Unlock()
			return
		}
		if len(c.pending) == 0 {
			c.pmu.Unlock()
			continue // an answer to nothing: ignore it
		}
		ch := c.pending[0]
		c.pending = c.pending[1:]
		c.pmu.Unlock()
		ch <- b
	}
}
