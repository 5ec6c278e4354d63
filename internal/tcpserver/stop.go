package tcpserver

import (
	"io"
	"net"
	"sync"
	"time"
)

// SIGTERM with sessions in-process.
//
// ucspi-tcp's tcpserver exits at once on SIGTERM, and its children, the
// qmail-smtpd processes, go on serving their clients; `svc -d` returns
// at once. Our in-process sessions are goroutines: they end when
// tcpserver does, so tcpserver cannot leave them to run on, and waiting
// for every one to end by itself (up to timeoutsmtpd, 1200 s, for a
// client that says nothing) would make `svc -d` and every restart hang.
// What a qmail administrator cannot lose is the one promise a session
// makes: a client told 250 has its message in the queue, and no message
// is ever half-queued. So tcpserver, on SIGTERM:
//
//   - stops accepting at once (the listener is closed; new clients get a
//     refusal and try another MX or later);
//   - closes, without a word, the connection of every in-process session
//     that is not committing a message: one idle between commands or in
//     the middle of DATA (a connection still in its name or ident
//     lookups never gets its program, and is dropped). Its program sees
//     its client gone, as when a client hangs up, and aborts an open
//     message: qmail-queue gets no envelope and removes what it wrote,
//     and the client, told nothing, sends the message again later.
//     qmail-smtpd says nothing either when it is killed or its client
//     vanishes ("421 closing connection" is not qmail's way);
//   - lets a session that is committing a message finish that: from the
//     moment the envelope is handed to qmail-queue (qq.Gate's Commit)
//     through the queue's answer and on until the program next reads
//     from its client, by which time it has sent its answer (qmail-smtpd
//     flushes its replies before every read). Its connection is closed
//     then. A session that reaches the envelope after SIGTERM is refused
//     the commit (its message is aborted and never answered 250);
//   - waits for the sessions to end: as long as messages are being
//     committed (at most stopMost: qmail-queue's answer normally takes
//     milliseconds) and stopGrace beyond the last answer, for the
//     sessions to send it. A session still running then (a reply stuck
//     on a client that does not read, a name lookup) has its connection
//     closed, and tcpserver exits 0. Even a message whose answer has not
//     come by then is not lost: its qmail-queue, exec'd or the worker,
//     is a process of its own and finishes it; its client, told nothing,
//     may send it again.
//
// Programs exec'd per connection are processes of their own and go on
// after tcpserver exits, as under ucspi-tcp.
const (
	stopGrace = 5 * time.Second
	stopMost  = 60 * time.Second
)

// session is the connection of one in-process session as its program
// sees it (standard input and output, and a net.Conn for STARTTLS and
// deadlines), and the qq.Gate of its messages.
type session struct {
	*net.TCPConn

	mu         sync.Mutex
	stopping   bool // SIGTERM: end at the next read, refuse to commit
	committing int  // messages handed to qmail-queue, answer not yet in
	answering  bool // an answer came in; no read from the client since
	drain      bool // ended by Read while stopping: drain before the close
}

// Read is the connection's, unless tcpserver is stopping and the
// session has no message to answer: then the program sees the end of its
// input, and only our side of the connection is shut (FIN after what was
// written); runHere reads what the client still sends and closes after
// (drain). Closed at once with unread bytes from a pipelining client,
// the connection would be reset, and a reset can destroy the 250 just
// written before the client has it: the client would send the message
// again.
func (c *session) Read(p []byte) (int, error) {
	c.mu.Lock()
	c.answering = false
	cut := c.stopping && c.committing == 0
	if cut {
		c.drain = true
	}
	c.mu.Unlock()
	if cut {
		c.TCPConn.CloseWrite()
		return 0, io.EOF
	}
	return c.TCPConn.Read(p)
}

// drainAfterStop is for runHere once the program is over: a session
// ended by SIGTERM after its answer has its client's remaining bytes read
// (at most stopGrace) before the close, so that the close sends no reset.
func (c *session) drainAfterStop() {
	c.mu.Lock()
	drain := c.drain
	c.mu.Unlock()
	if !drain {
		return
	}
	c.TCPConn.SetReadDeadline(time.Now().Add(stopGrace))
	io.Copy(io.Discard, c.TCPConn)
}

// WriteTo hides the connection's own, which would read past Read.
func (c *session) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{c})
}

// Commit is qq.Gate's: no once tcpserver is stopping.
func (c *session) Commit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping {
		return false
	}
	c.committing++
	return true
}

// Committed is qq.Gate's: the answer is in, to be sent before the next
// read.
func (c *session) Committed() {
	c.mu.Lock()
	c.committing--
	c.answering = true
	c.mu.Unlock()
}

// stop ends the session now, or after the answer it owes its client.
func (c *session) stop() {
	c.mu.Lock()
	c.stopping = true
	cut := c.committing == 0 && !c.answering
	c.mu.Unlock()
	if cut {
		c.TCPConn.Close()
	}
}

// busy says whether the session is committing a message.
func (c *session) busy() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committing > 0
}

// enter registers an in-process session; false means tcpserver is
// stopping and the session must not start.
func (s *server) enter(c *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	if s.sessions == nil {
		s.sessions = make(map[*session]bool)
	}
	s.sessions[c] = true
	return true
}

// leave forgets a session that has ended.
func (s *server) leave(c *session) {
	s.mu.Lock()
	delete(s.sessions, c)
	s.mu.Unlock()
}

// live is the sessions running now.
func (s *server) live() []*session {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := make([]*session, 0, len(s.sessions))
	for c := range s.sessions {
		l = append(l, c)
	}
	return l
}

// shutdown ends the in-process sessions once serve has stopped
// accepting, as the comment above says, waiting at most as long as
// messages are being committed (up to most) and grace beyond; then it
// closes the qmail-queue worker, waiting for it at most grace more.
func (s *server) shutdown(grace, most time.Duration) {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	for _, c := range s.live() {
		c.stop()
	}
	ended := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(ended)
	}()
	start := time.Now()
	deadline := start.Add(grace)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case <-ended:
			break wait
		case now := <-tick.C:
			for _, c := range s.live() {
				if c.busy() {
					deadline = now.Add(grace)
					break
				}
			}
			if last := start.Add(most); deadline.After(last) {
				deadline = last
			}
			if now.After(deadline) {
				for _, c := range s.live() {
					c.TCPConn.Close()
				}
				break wait
			}
		}
	}
	if s.queue != nil {
		closed := make(chan struct{})
		go func() {
			s.queue.Close()
			close(closed)
		}()
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-closed:
		case <-t.C:
		}
	}
}
