package send

import (
	"bufio"
	"container/heap"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"strings"
	"time"

	"goqmail/internal/addr"
	"goqmail/internal/plainfile"
	"goqmail/internal/queuefs"
	"goqmail/internal/spawnproto"
)

var chanNames = [2]string{"local", "remote"}

// skip is the retry schedule's step: attempts at birth + (k*skip)^2
// seconds, 10 for local and 20 for remote deliveries (spec §3.6).
var skip = [2]float64{10, 20}

// msgChan is the state of one message's local or remote file.
type msgChan struct {
	retry       time.Time // when the next pass may start
	inPass      bool
	recs        []queuefs.Record
	batched     []bool // records started early, in another record's batch
	next        int    // next record to start
	outstanding int    // deliveries in flight
	numtodo     int    // records not yet marked done in this pass
	dying       bool
	heapIndex   int
	// mem holds a direct message's one record (direct.go): it has no
	// channel file, and its D mark is made here.
	mem []byte
}

// delivery is one recipient handed to a spawner.
type delivery struct {
	m     *message
	rec   int
	recip string
	num   int
}

// channel is the local or the remote side of the scheduler.
type channel struct {
	idx     int
	w       io.Writer // commands to the spawner
	r       *bufio.Reader
	limit   int
	used    int
	slots   []*delivery
	free    []int
	waiting msgHeap
	active  []*message
	buf     []byte
}

func newChannel(idx, limit int, w io.Writer, r *bufio.Reader) *channel {
	ch := &channel{idx: idx, w: w, r: r, limit: limit, slots: make([]*delivery, limit)}
	for i := limit - 1; i >= 0; i-- {
		ch.free = append(ch.free, i)
	}
	ch.waiting.idx = idx
	return ch
}

// schedule puts a message's channel file in line for its next pass.
func (ch *channel) schedule(m *message) {
	heap.Push(&ch.waiting, m)
}

// resort restores heap order after retry times changed (ALRM).
func (ch *channel) resort() { heap.Init(&ch.waiting) }

// nextDue is when the channel's next pass is due. A channel with every
// slot taken has nothing due before a report frees one, and the report
// wakes the loop: reporting the head's past retry time instead had the
// loop spin at full CPU whenever the channel was at its concurrency limit.
func (ch *channel) nextDue() (time.Time, bool) {
	if ch.limit == 0 || ch.used >= ch.limit || len(ch.waiting.m) == 0 {
		return time.Time{}, false
	}
	return ch.waiting.m[0].chans[ch.idx].retry, true
}

// nextRetry is qmail's schedule: birth + (isqrt(now-birth) + skip)^2.
//
// A birth in the future means the clock went back since the message was
// queued. qmail then schedules birth + skip², so the message waits until
// the clock has caught up with its birth and then some: an hour set back
// stalls the queue for an hour. goqmail counts such a message as born now
// (hardening.md §3.11, as Postfix corrects file times from the future):
// its next attempt is skip² seconds away, as a new message's second.
// A forward jump is left as qmail has it: attempts come due sooner, and a
// jump past queuelifetime makes messages give up after one more attempt,
// which is what a clock that really moved on means.
func nextRetry(birth, now time.Time, c int) time.Time {
	if birth.After(now) {
		birth = now
	}
	age := now.Sub(birth).Seconds()
	n := math.Floor(math.Sqrt(math.Floor(age))) + skip[c]
	return birth.Add(time.Duration(n*n) * time.Second)
}

// startDeliveries fills free slots of channel c.
func (s *sender) startDeliveries(c int, now time.Time) {
	ch := s.ch[c]
	for ch.used < ch.limit && !s.lostConn {
		if m := ch.nextActive(); m != nil {
			s.startDelivery(c, m)
			continue
		}
		if len(ch.waiting.m) == 0 || ch.waiting.m[0].chans[c].retry.After(now) {
			return
		}
		m := heap.Pop(&ch.waiting).(*message)
		s.startPass(c, m, now)
	}
}

// nextActive returns a message in a pass with a record left to start.
func (ch *channel) nextActive() *message {
	for _, m := range ch.active {
		mc := m.chans[ch.idx]
		for mc.next < len(mc.recs) && (mc.recs[mc.next].Done || mc.batched[mc.next]) {
			mc.next++
		}
		if mc.next < len(mc.recs) {
			return m
		}
	}
	return nil
}

// startPass reads a channel file and starts walking it.
func (s *sender) startPass(c int, m *message, now time.Time) {
	mc := m.chans[c]
	p := s.q.Chan(c == 1, m.num)
	data, err := mc.mem, error(nil)
	if data == nil {
		data, err = plainfile.ReadFile(p)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			m.chans[c] = nil
			s.messageMaybeDone(m)
			return
		}
		s.logf("warning: unable to open %s\n", s.rel(p))
		mc.retry = now.Add(retryTrouble)
		s.ch[c].schedule(m)
		return
	}
	recs, err := queuefs.ParseChan(data)
	if err != nil {
		s.logf("warning: unknown record type in %s!\n", s.rel(p))
	}
	mc.recs = recs
	mc.batched = make([]bool, len(recs))
	mc.next = 0
	mc.numtodo = 0
	for _, r := range recs {
		if !r.Done {
			mc.numtodo++
		}
	}
	mc.retry = nextRetry(m.birth, now, c)
	mc.dying = now.Sub(m.birth) > s.lifetime
	if err != nil {
		// Keep what parsed; try the file again later rather than lose it.
		mc.numtodo++
	}
	mc.inPass = true
	s.ch[c].active = append(s.ch[c].active, m)
	s.maybeEndPass(c, m)
}

func (s *sender) startDelivery(c int, m *message) {
	ch := s.ch[c]
	mc := m.chans[c]
	first := s.claim(c, m, mc.next)
	mc.next++
	cmd := spawnproto.Command{Slot: first.slot, Message: queuefs.Sub(m.num),
		Sender: verp(m.sender, first.d.recip), Recipient: first.d.recip}
	started := []claimed{first}
	if c == 1 && !strings.HasSuffix(m.sender, "-@[]") {
		// One SMTP transaction for the recipients of this message at the
		// same domain (goqmail; qmail ran one qmail-remote per recipient).
		// Each keeps its own delivery number, slot, log lines and result.
		// A batch takes at most a quarter of the channel's slots (two at
		// least, or a small concurrencyremote would end batching), so that
		// a message to many domains has several transactions going at
		// once: with all 100 slots, one domain's batch ran while the
		// other 49 of W3R5000 waited for it (issue 8).
		domain := addr.Domain(first.d.recip)
		most := min(spawnproto.MaxBatch, max(2, ch.limit/4))
		for i := mc.next; i < len(mc.recs) && len(cmd.Also)+1 < most && ch.used < ch.limit; i++ {
			if mc.recs[i].Done || mc.batched[i] || !strings.EqualFold(addr.Domain(mc.recs[i].Addr), domain) {
				continue
			}
			mc.batched[i] = true
			cl := s.claim(c, m, i)
			cmd.Also = append(cmd.Also, spawnproto.Also{Slot: cl.slot, Recipient: cl.d.recip})
			started = append(started, cl)
		}
	}
	for _, cl := range started {
		s.logf("starting delivery %d: msg %d to %s %s\n", cl.d.num, m.num, chanNames[c], addr.LogSafe(cl.d.recip))
		s.logStatus()
	}
	ch.buf = spawnproto.AppendCommand(ch.buf[:0], cmd)
	if _, err := ch.w.Write(ch.buf); err != nil {
		s.lostSpawn()
	}
}

type claimed struct {
	slot int
	d    *delivery
}

// claim takes a free slot and a delivery number for record rec of m.
func (s *sender) claim(c int, m *message, rec int) claimed {
	ch := s.ch[c]
	mc := m.chans[c]
	slot := ch.free[len(ch.free)-1]
	ch.free = ch.free[:len(ch.free)-1]
	s.delnum++
	d := &delivery{m: m, rec: rec, recip: mc.recs[rec].Addr, num: s.delnum}
	ch.slots[slot] = d
	ch.used++
	mc.outstanding++
	return claimed{slot, d}
}

func (s *sender) lostSpawn() {
	if !s.lostConn {
		s.logf("alert: oh no! lost spawn connection! dying...\n")
	}
	s.lostConn = true
	s.exitasap = true
}

// verp expands a "-@[]" sender for one recipient (spec §3.4).
func verp(sender, recip string) string {
	if !strings.HasSuffix(sender, "-@[]") {
		return sender
	}
	rl, rd, ok := addr.Split(recip)
	if !ok {
		return sender
	}
	base := strings.TrimSuffix(sender, "-@[]")
	sl, sd, ok := addr.Split(base)
	if !ok {
		return sender
	}
	return sl + rl + "=" + rd + "@" + sd
}

const dyingText = "I'm not going to try again; this message has been in the queue too long.\n"

func (s *sender) handleReport(r report) {
	if r.lost {
		s.lostSpawn()
		return
	}
	ch := s.ch[r.ch]
	if r.rep.Slot < 0 || r.rep.Slot >= len(ch.slots) || ch.slots[r.rep.Slot] == nil {
		s.logf("warning: internal error: delivery report out of range\n")
		return
	}
	d := ch.slots[r.rep.Slot]
	ch.slots[r.rep.Slot] = nil
	ch.free = append(ch.free, r.rep.Slot)
	ch.used--
	m := d.m
	mc := m.chans[r.ch]
	mc.outstanding--
	status, text := r.rep.Status, r.rep.Text
	if status == 'Z' && mc.dying {
		status = 'D'
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		text += dyingText
	}
	// The D mark is made before the result's line, the line logged
	// before any warning of the mark, as qmail logs them: a qmail-send
	// killed in between has logged no success it would repeat, so its
	// log shows every delivery it could repeat as one in flight.
	switch status {
	case 'K':
		warn := s.markDone(r.ch, m, d.rec)
		s.logf("delivery %d: success: %s\n", d.num, addr.LogSafe(text))
		s.logWarning(warn)
	case 'Z':
		s.logf("delivery %d: deferral: %s\n", d.num, addr.LogSafe(text))
	case 'D':
		err := s.appendBounce(m, d.recip, text)
		warn := ""
		if err == nil {
			warn = s.markDone(r.ch, m, d.rec)
		}
		s.logf("delivery %d: failure: %s\n", d.num, addr.LogSafe(text))
		if err != nil {
			s.logf("alert: unable to append to bounce message; HELP! will try again later\n")
		}
		s.logWarning(warn)
	default:
		s.logf("delivery %d: report mangled, will defer\n", d.num)
	}
	s.logStatus()
	s.maybeEndPass(r.ch, m)
}

// logWarning logs a warning line if there is one.
func (s *sender) logWarning(w string) {
	if w != "" {
		s.logf("%s", w)
	}
}

// markDone overwrites a record's T with D; for a direct message, whose
// one record is in memory, it also writes the message's mark in
// lock/directdone (donemarks.go). It returns the warning to log if the
// mark could not be made, or "".
func (s *sender) markDone(c int, m *message, rec int) string {
	mc := m.chans[c]
	mc.numtodo--
	mc.recs[rec].Done = true
	if mc.mem != nil {
		mc.mem[mc.recs[rec].Offset] = 'D'
		if s.marks.mark(m.num, m.ident) != nil {
			return "warning: trouble marking " + s.rel(s.q.Path("lock", doneMarksName)) + "; message will be delivered twice!\n"
		}
		return ""
	}
	p := s.q.Chan(c == 1, m.num)
	f, err := plainfile.Open(p, os.O_WRONLY, 0)
	if err == nil {
		_, err = f.WriteAt([]byte{'D'}, mc.recs[rec].Offset)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return "warning: trouble marking " + s.rel(p) + "; message will be delivered twice!\n"
	}
	return ""
}

// maybeEndPass ends a pass once every record was started and answered.
func (s *sender) maybeEndPass(c int, m *message) {
	mc := m.chans[c]
	if mc == nil || !mc.inPass || mc.outstanding > 0 {
		return
	}
	for mc.next < len(mc.recs) && (mc.recs[mc.next].Done || mc.batched[mc.next]) {
		mc.next++
	}
	if mc.next < len(mc.recs) {
		return
	}
	ch := s.ch[c]
	for i, a := range ch.active {
		if a == m {
			ch.active = append(ch.active[:i], ch.active[i+1:]...)
			break
		}
	}
	mc.inPass = false
	mc.recs = nil
	mc.batched = nil
	// A direct message deferred is handed back; done, it goes on to be
	// finished even when qmail-send is exiting after a lost spawner
	// (shutdown finishes it): its todo/N goes now rather than after the
	// next qmail-send has read its mark.
	if mc.numtodo > 0 || s.lostConn && !m.direct {
		if m.direct {
			s.handBack(c, m)
			return
		}
		ch.schedule(m)
		return
	}
	if !m.direct {
		s.retire(m.num, s.q.Chan(c == 1, m.num), false)
	}
	m.chans[c] = nil
	s.messageMaybeDone(m)
}

func (s *sender) messageMaybeDone(m *message) {
	if m.done() {
		m.finishAt = time.Time{}
		s.finishing = append(s.finishing, m.num)
	}
}

// msgHeap orders messages by one channel's retry time.
type msgHeap struct {
	idx int
	m   []*message
}

func (h *msgHeap) Len() int { return len(h.m) }
func (h *msgHeap) Less(i, j int) bool {
	return h.m[i].chans[h.idx].retry.Before(h.m[j].chans[h.idx].retry)
}
func (h *msgHeap) Swap(i, j int) {
	h.m[i], h.m[j] = h.m[j], h.m[i]
	h.m[i].chans[h.idx].heapIndex = i
	h.m[j].chans[h.idx].heapIndex = j
}
func (h *msgHeap) Push(x any) {
	m := x.(*message)
	m.chans[h.idx].heapIndex = len(h.m)
	h.m = append(h.m, m)
}
func (h *msgHeap) Pop() any {
	n := len(h.m) - 1
	m := h.m[n]
	h.m = h.m[:n]
	return m
}
