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
	// FS, if set, is where the users of this Group make their files'
	// data durable with syncfs rounds instead of an fsync of each file
	// (maildir.DeliverGroup; see FS).
	FS *FSSet

	mu   sync.Mutex
	dirs map[string]*rounds
	sync func(string) error // SyncDir; tests count and hold the fsyncs
}

// rounds is one operation in progress (cur: a folder's fsync, or an FS's
// syncfs) and the one that will follow it (next), which late callers
// join.
type rounds struct {
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
		g.dirs = map[string]*rounds{}
	}
	d := g.dirs[dir]
	if d == nil {
		d = &rounds{}
		g.dirs[dir] = d
	}
	return d.join(&g.mu, func() error {
		if g.sync != nil {
			return g.sync(dir)
		}
		return SyncDir(dir)
	}, func() { delete(g.dirs, dir) })
}

// join serves a caller, who holds mu, with a round of op that begins
// after the call: it leads a round at once when none runs, joins the
// round queued behind the running one, or queues that round and leads it
// once the running one is over. It returns with mu released, and the
// round's error. idle runs (under mu) when a round ends with none queued.
// While a next round is queued, cur stays set so that new callers join it.
func (d *rounds) join(mu *sync.Mutex, op func() error, idle func()) error {
	var r *round
	switch {
	case d.cur == nil:
		r = &round{done: make(chan struct{})}
		d.cur = r
		mu.Unlock()
	case d.next != nil:
		r = d.next
		mu.Unlock()
		<-r.done
		return r.err
	default:
		r = &round{done: make(chan struct{})}
		d.next = r
		prev := d.cur
		mu.Unlock()
		<-prev.done
		mu.Lock()
		d.cur, d.next = r, nil
		mu.Unlock()
	}
	r.err = op()
	mu.Lock()
	if d.next == nil {
		d.cur = nil
		if idle != nil {
			idle()
		}
	}
	mu.Unlock()
	close(r.done)
	return r.err
}
