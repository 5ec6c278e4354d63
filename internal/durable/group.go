package durable

import "sync"

// Group coalesces concurrent SyncDir calls for the same folder, as a
// database coalesces commits: while one fsync of a folder runs, everyone
// else who asks for that folder waits for the next fsync, which starts as
// soon as the running one ends and serves all of them at once. Each caller
// still returns only after an fsync that began after it called SyncDir, so
// the names it changed before the call are durable; what is saved is one
// fsync (and one disk flush) per concurrent caller. A long-lived process
// that commits many messages at once (the qmail-queue worker, qmail-lspawn
// delivering to one Maildir) keeps one Group; a nil *Group fsyncs every
// time, as a one-message process does.
type Group struct {
	mu   sync.Mutex
	dirs map[string]*dirRounds
	sync func(string) error // SyncDir; tests count and hold the fsyncs
}

// dirRounds is one folder's fsync in progress (cur) and the one that will
// follow it (next), which late callers join.
type dirRounds struct {
	cur, next *round
}

type round struct {
	done chan struct{}
	err  error
}

// SyncDir fsyncs dir, or waits for an fsync of dir that starts after this
// call, and returns its error.
func (g *Group) SyncDir(dir string) error {
	if g == nil {
		return SyncDir(dir)
	}
	g.mu.Lock()
	if g.dirs == nil {
		g.dirs = map[string]*dirRounds{}
	}
	d := g.dirs[dir]
	if d == nil {
		d = &dirRounds{}
		g.dirs[dir] = d
	}
	if d.cur == nil {
		r := &round{done: make(chan struct{})}
		d.cur = r
		g.mu.Unlock()
		return g.run(dir, d, r)
	}
	if d.next != nil {
		r := d.next
		g.mu.Unlock()
		<-r.done
		return r.err
	}
	// Lead the next round once the running one is over.
	r := &round{done: make(chan struct{})}
	d.next = r
	prev := d.cur
	g.mu.Unlock()
	<-prev.done
	g.mu.Lock()
	d.cur, d.next = r, nil
	g.mu.Unlock()
	return g.run(dir, d, r)
}

// run performs round r's fsync and releases its waiters. The folder's
// entry is dropped when nobody waits, so the map holds only busy folders;
// while a next round is queued, cur stays set so that new callers join it.
func (g *Group) run(dir string, d *dirRounds, r *round) error {
	if g.sync != nil {
		r.err = g.sync(dir)
	} else {
		r.err = SyncDir(dir)
	}
	g.mu.Lock()
	if d.next == nil {
		d.cur = nil
		delete(g.dirs, dir)
	}
	g.mu.Unlock()
	close(r.done)
	return r.err
}
