package send

import (
	"container/heap"
	"strconv"
	"time"

	"goqmail/internal/queuefs"
	"goqmail/internal/rewrite"
)

// Direct delivery (goqmail; issue 8). qmail-send turns every todo/N into
// an info file and a local and/or remote file, makes them durable, and
// only then removes todo/N and starts the deliveries; a message is four
// files in the queue, each created, synced and removed. A message to one
// recipient is instead delivered straight from todo/N: its one record is
// kept in memory, and todo/N (with intd/N) stays its durable record until
// the message is finished. That is two fewer files created, synced and
// removed per message; measured on W1 and W2 (A/B, bench/README.md): a
// sixth to a quarter less CPU, a quarter to 40 % fewer disk writes.
//
// Nothing a crash could lose: todo/N and mess/N were durable before
// qmail-queue answered, and they are removed only after the delivery's
// report, in qmail's order (todo/N and intd/N by qmail-clean, then the
// message itself). A crash or kill in between leaves todo/N. Its D mark
// is where qmail's would be safe from a killed process, in the page cache:
// one record in lock/directdone (donemarks.go), written as the report is
// read. A next qmail-send that finds it finishes the message without
// delivering it again; one that does not (a crash of the machine lost the
// write, or the delivery was still in flight) preprocesses todo/N afresh
// and delivers again, as qmail redelivers a delivery whose D mark a crash
// lost. Only single-recipient messages go direct, so no other recipient's
// finished delivery is ever repeated.
//
// Every log line is qmail's, in qmail's order ("new msg", "info msg",
// "starting delivery", "delivery", "end msg"). What an administrator can
// see differs: a direct message is counted by qmail-qstat among the
// messages "not yet preprocessed", and qmail-qread does not list it. So a
// direct message exists only for its first attempt: deferred, it is
// handed back at once, preprocessed as qmail does (info, local or remote
// file), keeps the retry time its attempt earned, and from then on is an
// ordinary queued message, listed and retried; and one that waits
// directWait for a free slot (a busy channel) is handed back the same
// way. A permanent failure is bounced as any other (bounce/N, then the
// bounce, then the message's files).

// directWait is how long a direct message may wait for a free slot: one
// still waiting then is handed back to preprocessing, so that qmail-qread
// lists every message that waits longer. Half a minute covers the bursts
// that fill a channel for seconds (W1 here: hundreds of messages waiting
// a second or two for a local slot) and still lists a real backlog soon;
// handing them back after 5 s instead kept a third of W1's savings away
// (A/B, bench/README.md).
const directWait = 30 * time.Second

// prepareDirect returns message n as a direct message, with its record in
// memory, if it has one recipient; nil if it is to be preprocessed as
// qmail does.
func prepareDirect(n uint64, env *queuefs.Envelope, rw *rewrite.Rewriter, now time.Time) *message {
	if len(env.Recipients) != 1 {
		return nil
	}
	a, local := rw.Rewrite(env.Recipients[0])
	c := 1
	if local {
		c = 0
	}
	rec := make([]byte, 0, len(a)+2)
	rec = append(append(append(rec, 'T'), a...), 0)
	// Its age counts from now, as a preprocessed message's counts from
	// its info file, written now: qmail 1.03 gives a message that waited
	// in todo/ (qmail-send stopped) its whole queuelifetime from then.
	m := &message{num: n, sender: env.Sender, birth: now, direct: true}
	m.chans[c] = &msgChan{retry: now, mem: rec}
	return m
}

// directChan is the channel of a direct message's one recipient.
func directChan(m *message) int {
	if m.chans[0] != nil {
		return 0
	}
	return 1
}

// waitingDirect says whether m is a direct message still waiting in its
// channel's line for a first slot.
func (s *sender) waitingDirect(m *message) bool {
	if !m.direct || s.msgs[m.num] != m {
		return false
	}
	mc := m.chans[directChan(m)]
	return mc != nil && !mc.inPass
}

// handBackWaiting hands back the direct messages that have waited
// directWait for a slot, oldest first; s.directLine holds the direct
// messages in the order they were taken in, and those that started (or
// ended, or were handed back after a deferral) are dropped from its
// front as it is read.
func (s *sender) handBackWaiting(now time.Time) {
	for len(s.directLine) > 0 {
		m := s.directLine[0]
		if s.waitingDirect(m) {
			if now.Sub(m.birth) < s.directWait {
				return
			}
			c := directChan(m)
			heap.Remove(&s.ch[c].waiting, m.chans[c].heapIndex)
			s.handBack(c, m)
		}
		s.directLine[0] = nil
		s.directLine = s.directLine[1:]
	}
}

// directDue is when the oldest waiting direct message is to be handed
// back; false if none waits.
func (s *sender) directDue() (time.Time, bool) {
	for _, m := range s.directLine {
		if s.waitingDirect(m) {
			return m.birth.Add(s.directWait), true
		}
	}
	return time.Time{}, false
}

// handBack gives a direct message whose delivery was deferred, or that
// waited too long for a slot, back to todo/ processing: it is
// preprocessed as qmail does by the next batch, which schedules its retry
// at the time this attempt earned (at once if it made none). Its birth is
// then its new info file's: its queuelifetime starts after the direct
// attempt, seconds later than it would have (minutes at most, with a
// slow remote host), as qmail's starts when the message is preprocessed.
func (s *sender) handBack(c int, m *message) {
	delete(s.msgs, m.num)
	if s.directRetry == nil {
		s.directRetry = map[uint64]time.Time{}
	}
	s.directRetry[m.num] = m.chans[c].retry
	s.todoPending = append(s.todoPending, m.num)
	s.todoAt = s.now()
}

// take puts a preprocessed or direct message in the schedule. A message
// handed back keeps the retry time of its direct attempt; its entry in
// directRetry goes only now, so that a preprocessing that failed and is
// tried again later does not announce it again.
func (s *sender) take(n uint64, m *message) {
	if retry, handedBack := s.directRetry[n]; handedBack {
		delete(s.directRetry, n)
		for _, mc := range m.chans {
			if mc != nil {
				mc.retry = retry
			}
		}
	}
	s.msgs[n] = m
	if m.direct {
		s.directLine = append(s.directLine, m)
	}
	for c := 0; c < 2; c++ {
		if m.chans[c] != nil {
			s.ch[c].schedule(m)
		}
	}
	s.messageMaybeDone(m)
}

// finishMessages bounces and removes messages with no recipients left
// whose time has come; when exiting, only the direct ones, whatever their
// time (qmail-send's last act: see shutdown). A direct message's
// todo/N goes first, by qmail-clean, one request for all of this turn's;
// until it is gone the message is not ended, or the next reading of
// todo/ would deliver it again.
func (s *sender) finishMessages(now time.Time, exiting bool) {
	keep := s.finishing[:0]
	var direct []*message
	for _, n := range s.finishing {
		m := s.msgs[n]
		if m == nil {
			continue
		}
		if exiting && !m.direct || !exiting && !m.finishAt.IsZero() && m.finishAt.After(now) {
			keep = append(keep, n)
			continue
		}
		if !s.injectBounce(m) {
			m.finishAt = now.Add(retryTrouble)
			keep = append(keep, n)
			continue
		}
		if m.direct {
			direct = append(direct, m)
			continue
		}
		s.end(m)
	}
	if len(direct) > 0 {
		reqs := make([]string, len(direct))
		for i, m := range direct {
			reqs[i] = "todo/" + strconv.FormatUint(m.num, 10)
		}
		cleaned := s.cleanRequests(reqs...)
		for i, m := range direct {
			if cleaned[i] {
				s.end(m)
				continue
			}
			m.finishAt = now.Add(retryTrouble)
			keep = append(keep, m.num)
		}
	}
	s.finishing = keep
}

// end logs a finished message's end and hands its files to the retirer:
// info/S/N (a preprocessed message's), then the message by qmail-clean.
func (s *sender) end(m *message) {
	s.logf("end msg %d\n", m.num)
	delete(s.msgs, m.num)
	info := ""
	if !m.direct {
		info = s.q.Info(m.num)
	} else {
		s.marks.clear(m.num) // its todo/N is gone
	}
	s.retire(m.num, info, true)
}
