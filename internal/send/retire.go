package send

import (
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"goqmail/internal/plainfile"
)

// The retirer removes the files of finished work — a channel file whose
// recipients are all done, then a finished message's info file and, by
// qmail-clean, its mess file — in a goroutine beside the main loop, in
// the order the loop retired them. Each removal is a metadata write the
// loop used to wait for, several per message, while the same loop had to
// start deliveries and read their reports: under a steady stream of new
// mail it fell behind (issue 8).
//
// The loop's schedule moves on at once, as if the removal were done. The
// order on disk is qmail's for each message: its channel files go before
// its info file, and its mess file only after its info file is gone. A
// crash in between leaves what a crash in qmail-send leaves between the
// same steps: on restart, info/N with channel files whose recipients are
// all marked done (the loop wrote the D before), which is finished again
// without a delivery, or a mess file without info that the sweep of stray
// files removes. A removal that fails is logged as qmail logs it ("will
// try again later") and tried again every retryTrouble; the message's
// later files wait behind it, other messages' files do not.
type retireJob struct {
	num  uint64 // the message
	path string // a file of it to remove; "" none
	foop bool   // then have qmail-clean remove the message itself
}

type retirer struct {
	jobs chan retireJob
	done chan struct{} // closed when the goroutine has ended
	// cleanGone is set when the retirer found qmail-clean gone; the loop
	// takes it in (lostClean) when it next wakes.
	cleanGone atomic.Bool
	once      sync.Once
	// held: messages whose removal failed, with their jobs in order;
	// heldOrder keeps the messages in the order they failed.
	held      map[uint64][]retireJob
	heldOrder []uint64
	every     time.Duration // how often held files are tried again
}

// startRetirer starts the goroutine; without it (tests that drive parts
// of the loop) removals happen at once, in the caller, tried once.
func (s *sender) startRetirer() {
	every := s.retireEvery
	if every == 0 {
		every = retryTrouble
	}
	s.ret = &retirer{jobs: make(chan retireJob, 4096), done: make(chan struct{}),
		held: map[uint64][]retireJob{}, every: every}
	go s.retireLoop()
}

// retire removes message num's file path and then, if foop, has
// qmail-clean remove the message; in the background when the retirer
// runs.
func (s *sender) retire(num uint64, path string, foop bool) {
	j := retireJob{num, path, foop}
	if s.ret == nil {
		if s.unlinkRetired(j) && foop {
			s.foop(num, false)
		}
		return
	}
	s.ret.jobs <- j
}

// stopRetirer lets the goroutine finish what was handed to it and waits
// for it. Files still held after a failure stay for the next qmail-send,
// which finishes their messages again (see retireJob).
func (s *sender) stopRetirer() {
	if s.ret == nil {
		return
	}
	s.ret.once.Do(func() { close(s.ret.jobs) })
	<-s.ret.done
}

func (s *sender) retireLoop() {
	r := s.ret
	defer close(r.done)
	retry := time.NewTimer(r.every)
	retry.Stop()
	for {
		select {
		case j, ok := <-r.jobs:
			if !ok {
				return
			}
			wasHeld := len(r.heldOrder) > 0
			s.retireOne(j)
			if !wasHeld && len(r.heldOrder) > 0 {
				retry.Reset(r.every)
			}
		case <-retry.C:
			s.retryHeld()
			if len(r.heldOrder) > 0 {
				retry.Reset(r.every)
			}
		}
	}
}

// retireOne removes a file, or holds it (and its message's later files)
// if that fails or an earlier file of its message is held.
func (s *sender) retireOne(j retireJob) {
	r := s.ret
	if _, held := r.held[j.num]; held {
		r.held[j.num] = append(r.held[j.num], j)
		return
	}
	if !s.unlinkRetired(j) {
		r.held[j.num] = []retireJob{j}
		r.heldOrder = append(r.heldOrder, j.num)
		return
	}
	if j.foop {
		s.foop(j.num, true)
	}
}

// retryHeld tries the held messages' files again, each message's in order.
func (s *sender) retryHeld() {
	r := s.ret
	keep := r.heldOrder[:0]
	for _, num := range r.heldOrder {
		jobs := r.held[num]
		for len(jobs) > 0 && s.unlinkRetired(jobs[0]) {
			if jobs[0].foop {
				s.foop(num, true)
			}
			jobs = jobs[1:]
		}
		if len(jobs) == 0 {
			delete(r.held, num)
			continue
		}
		r.held[num] = jobs
		keep = append(keep, num)
	}
	r.heldOrder = keep
}

// unlinkRetired removes one file; a failure is logged as qmail logs it.
func (s *sender) unlinkRetired(j retireJob) bool {
	if j.path == "" {
		return true // a direct message: no info file (direct.go)
	}
	err := plainfile.Remove(j.path)
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return true
	}
	s.logf("warning: unable to unlink %s; will try again later\n", s.rel(j.path))
	return false
}

// foop has qmail-clean remove finished message num, right after its info
// file is gone, and waits for the answer before the retirer goes on: with
// several requests in qmail-clean's pipe, a SIGKILL of the whole group
// left that many mess files behind their removed info files, for the
// 36-hour sweep (e2e TestCrashNoLoss, "kill all": 18 against 2). As in
// qmail, a mess file qmail-clean could not remove is left to that sweep
// (sweepMess). A lost qmail-clean is the loop's to take in: at once when
// called from it, else through cleanGone and a wake-up.
func (s *sender) foop(num uint64, background bool) {
	req := []string{"foop/" + itoa(num)}
	if _, lost := s.awaitClean(req, s.clean.ask(req)); !lost {
		return
	}
	if !background {
		s.lostClean()
		return
	}
	s.ret.cleanGone.Store(true)
	select {
	case s.trigger <- struct{}{}:
	default:
	}
}
