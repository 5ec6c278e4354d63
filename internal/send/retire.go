package send

import (
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The retirer removes the files of finished work — a channel file whose
// recipients are all done, then a finished message's info file and, by
// qmail-clean, its mess file — in a goroutine beside the main loop, in
// the order the loop retired them. Each removal is a metadata write the
// loop used to wait for, several per message, while the same loop had to
// start deliveries and read their reports: under a steady stream of new
// mail it fell behind (issue 8).
//
// The loop's schedule moves on at once, as if the removal were done. Its
// order on disk is qmail's: a message's channel files go before its info
// file, and its mess file only after its info file is gone. A crash in
// between leaves what a crash in qmail-send leaves between the same
// steps: on restart, info/N with channel files whose recipients are all
// marked done (the D was written by the loop before), which is finished
// again without a delivery, or a mess file without info that the sweep
// of stray files removes. A removal that fails is logged as qmail logs it
// ("will try again later") and tried again after retryTrouble; the files
// behind it wait, so that the order holds.
type retireJob struct {
	path string // a file to remove
	foop uint64 // then, if not 0, qmail-clean removes message foop
}

type retirer struct {
	jobs chan retireJob
	stop chan struct{} // closed at exit: give up waiting to retry
	done chan struct{} // closed when the goroutine has ended
	// cleanGone is set when the retirer found qmail-clean gone; the loop
	// takes it in (lostClean) when it next wakes.
	cleanGone atomic.Bool
	once      sync.Once
}

// startRetirer starts the goroutine; without it (tests that drive parts
// of the loop) removals happen at once, in the caller.
func (s *sender) startRetirer() {
	s.ret = &retirer{jobs: make(chan retireJob, 4096), stop: make(chan struct{}), done: make(chan struct{})}
	go s.retireLoop()
}

// retire removes path and then, if foop is not 0, has qmail-clean remove
// that message; in the background when the retirer runs.
func (s *sender) retire(path string, foop uint64) {
	if s.ret == nil {
		s.retireNow([]retireJob{{path, foop}}, nil)
		return
	}
	s.ret.jobs <- retireJob{path, foop}
}

// stopRetirer lets the goroutine finish what was handed to it (giving up
// on a file that keeps failing) and waits for it.
func (s *sender) stopRetirer() {
	if s.ret == nil {
		return
	}
	s.ret.once.Do(func() {
		close(s.ret.stop)
		close(s.ret.jobs)
	})
	<-s.ret.done
}

func (s *sender) retireLoop() {
	defer close(s.ret.done)
	for j := range s.ret.jobs {
		batch := []retireJob{j}
	more:
		for len(batch) < 256 {
			select {
			case j, ok := <-s.ret.jobs:
				if !ok {
					break more
				}
				batch = append(batch, j)
			default:
				break more
			}
		}
		s.retireNow(batch, s.ret.stop)
	}
}

// retireNow removes the batch's files in order, and has qmail-clean remove
// the messages of those whose info file is gone, in one pipelined round.
func (s *sender) retireNow(batch []retireJob, stop chan struct{}) {
	var foop []string
	for _, j := range batch {
		for {
			err := os.Remove(j.path)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				break
			}
			s.logf("warning: unable to unlink %s; will try again later\n", s.rel(j.path))
			if stop == nil {
				return
			}
			select {
			case <-stop:
				return // the restart finishes the job (see retireJob)
			case <-time.After(retryTrouble):
			}
		}
		if j.foop != 0 {
			foop = append(foop, "foop/"+itoa(j.foop))
		}
	}
	// As in qmail, a mess file qmail-clean could not remove is left to
	// the sweep of stray files (sweepMess).
	if _, lost := s.askClean(foop); lost {
		if stop == nil {
			s.lostClean() // in the loop itself
			return
		}
		s.ret.cleanGone.Store(true)
		select {
		case s.trigger <- struct{}{}: // wake the loop to take it in
		default:
		}
	}
}
