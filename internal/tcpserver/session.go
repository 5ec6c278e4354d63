package tcpserver

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// sessionNumbers hands out the P of the -v lines ("pid P from IP", "ok P
// ...", "end P status S") for connections that get no process of their
// own: in-process sessions, and connections denied or dropped before a
// program ran. ucspi-tcp's P is its child's pid, unique among live
// processes; these numbers are unique among live sessions and lie above
// the kernel's largest pid (/proc/sys/kernel/pid_max), so that no process
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
	base int   // pid_max: numbers are base+1, base+2, ...
	next int   // the next never-used number
	free []int // numbers of ended sessions
}

// pidMax is the kernel's largest pid, or the 64-bit default if it
// cannot be read.
func pidMax() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			return n
		}
	}
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
