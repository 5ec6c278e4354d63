package tcpserver

import "sync"

// sessionNumbers hands out the P of the -v lines ("pid P from IP", "ok P
// ...", "end P status S") for connections that get no process of their
// own: in-process sessions, and connections denied or dropped before a
// program ran. ucspi-tcp's P is its child's pid, unique among live
// processes; these numbers are unique among live sessions and lie above
// the largest pid the kernel allows (PID_MAX_LIMIT), so that no process
// ever has one: an administrator who runs kill on P gets "no such
// process" instead of signalling someone else — an OS thread id, the
// earlier choice, signals the whole tcpserver. A number is reused once
// its session has ended, so they stay small.
//
// (The thread id also needed the session's goroutine locked to its
// thread for the whole connection, and every wait then cost two thread
// switches: on W1, with a connection per message, perf showed the
// switches among the machine's largest costs; issue 8.)
type sessionNumbers struct {
	mu   sync.Mutex
	base int   // pidMax(): numbers are base+1, base+2, ...
	next int   // the next never-used number
	free []int // numbers of ended sessions
}

// pidMax is the largest pid Linux allows on 64-bit systems.
func pidMax() int {
	// PID_MAX_LIMIT, the most an administrator can set pid_max to at any
	// time, rather than today's pid_max: a number above it is never a pid.
	return 4194304
}

func (s *sessionNumbers) get() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.base == 0 {
		s.base = pidMax()
	}
	if n := len(s.free); n > 0 {
		p := s.free[n-1]
		s.free = s.free[:n-1]
		return p
	}
	s.next++
	return s.base + s.next
}

func (s *sessionNumbers) put(p int) {
	s.mu.Lock()
	s.free = append(s.free, p)
	s.mu.Unlock()
}
