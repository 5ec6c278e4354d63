package smtpout

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const accepted = "r|K" + ip + " accepted message.\nRemote host said: 250 ok queued\n|"

// count is how many of cmds start with prefix.
func count(cmds []string, prefix string) int {
	n := 0
	for _, c := range cmds {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

// deliverN runs n deliveries to example.test through pool and checks
// each report against want.
func deliverN(t *testing.T, home string, pool *Pool, n int, want ...string) {
	t.Helper()
	for i := 0; i < n; i++ {
		got := run(t, home, &Sender{Pool: pool}, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test")
		w := want[min(i, len(want)-1)]
		if got != w {
			t.Errorf("delivery %d: got %q\nwant %q", i+1, got, w)
		}
	}
}

// TestPoolReuse: three messages to one destination go over one
// connection with one greeting and EHLO; the reports are those of
// separate runs; Close says QUIT.
func TestPoolReuse(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home := routeTo(t, p, nil)
	pool := NewPool()
	deliverN(t, home, pool, 3, accepted)
	pool.Close()
	cmds := p.commands()
	if p.Conns != 1 || count(cmds, "EHLO") != 1 || count(cmds, "MAIL") != 3 || count(cmds, "QUIT") != 1 || count(cmds, "RSET") != 0 {
		t.Errorf("%d connections, commands %q", p.Conns, cmds)
	}
	if n := len(p.data()); n != 3 {
		t.Errorf("peer got %d messages, want 3", n)
	}
}

// TestPoolWithoutPool: qmail-remote's own runs (no pool) QUIT after every
// message, as qmail does.
func TestPoolWithoutPool(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home := routeTo(t, p, nil)
	deliverN(t, home, nil, 2, accepted)
	cmds := p.commands()
	if p.Conns != 2 || count(cmds, "QUIT") != 2 {
		t.Errorf("%d connections, commands %q", p.Conns, cmds)
	}
}

// TestPoolStale: a kept connection that died, or that answers MAIL with
// 421, is dropped and the message goes over a new one, delivered once.
func TestPoolStale(t *testing.T) {
	for _, second := range []string{"DROP", "421 too many messages on this connection"} {
		t.Run(second, func(t *testing.T) {
			p := startPeer(t, &fakePeer{Replies: m("MAIL", "250 ok", "MAIL", second)})
			home := routeTo(t, p, nil)
			pool := NewPool()
			deliverN(t, home, pool, 2, accepted)
			pool.Close()
			p.wait()
			if p.Conns != 2 {
				t.Errorf("%d connections, want 2", p.Conns)
			}
			if n := len(p.data()); n != 2 {
				t.Errorf("peer got %d messages, want 2", n)
			}
		})
	}
}

// TestPoolNotAfter421: a connection whose peer said 421 is never kept.
func TestPoolNotAfter421(t *testing.T) {
	p := startPeer(t, &fakePeer{Replies: m("DOT", "421 shutting down", "DOT", "250 ok queued")})
	home := routeTo(t, p, nil)
	pool := NewPool()
	deliverN(t, home, pool, 2, "r|Z"+ip+" failed after I sent the message.\nRemote host said: 421 shutting down\n|",
		"r|Z"+ip+" failed after I sent the message.\nRemote host said: 421 shutting down\n|")
	pool.Close()
	p.wait()
	if p.Conns != 2 {
		t.Errorf("%d connections, want 2", p.Conns)
	}
}

// TestPoolRsetAfterRefusal: after every recipient was refused, RSET ends
// the transaction and the connection is kept for the next; a refused
// RSET means QUIT and a new connection.
func TestPoolRsetAfterRefusal(t *testing.T) {
	refused := "h" + ip + " does not like recipient.\nRemote host said: 550 no such user\n|DGiving up on " + ip + ".\n|"
	p := startPeer(t, &fakePeer{Replies: m("RCPT", "550 no such user", "RCPT", "250 ok")})
	home := routeTo(t, p, nil)
	pool := NewPool()
	deliverN(t, home, pool, 2, refused, accepted)
	pool.Close()
	cmds := p.commands()
	if p.Conns != 1 || count(cmds, "RSET") != 1 || cmds[len(cmds)-1] != "QUIT" {
		t.Errorf("%d connections, commands %q", p.Conns, cmds)
	}
	for i, c := range cmds {
		if c == "RSET" && !strings.HasPrefix(cmds[i+1], "MAIL") {
			t.Errorf("RSET not followed by MAIL: %q", cmds)
		}
	}

	p = startPeer(t, &fakePeer{Replies: map[string][]string{"RCPT": {"550 no such user", "250 ok"}, "RSET": {"500 what"}}})
	home = routeTo(t, p, nil)
	pool = NewPool()
	deliverN(t, home, pool, 2, refused, refused)
	pool.Close()
	p.wait()
	if p.Conns != 2 {
		t.Errorf("refused RSET: %d connections, want 2", p.Conns)
	}
}

// TestPoolLimits: an idle connection is closed with QUIT after IdleTime,
// and one connection carries at most MaxUses transactions.
func TestPoolLimits(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home := routeTo(t, p, nil)
	pool := NewPool()
	pool.IdleTime = 50 * time.Millisecond
	deliverN(t, home, pool, 1, accepted)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		quit := count(p.Commands, "QUIT")
		p.mu.Unlock()
		if quit == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("idle connection never closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	deliverN(t, home, pool, 1, accepted)
	pool.Close()
	p.wait()
	if p.Conns != 2 {
		t.Errorf("after idle time: %d connections, want 2", p.Conns)
	}

	p = startPeer(t, &fakePeer{})
	home = routeTo(t, p, nil)
	pool = NewPool()
	pool.MaxUses = 2
	deliverN(t, home, pool, 5, accepted)
	pool.Close()
	p.wait()
	if p.Conns != 3 {
		t.Errorf("MaxUses 2, 5 messages: %d connections, want 3", p.Conns)
	}
}

// TestPoolDestinations: domains routed to one smart host share its
// connection; a domain with another TLS policy does not.
func TestPoolDestinations(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home := testHome(t, map[string]string{
		"smtproutes":      fmt.Sprintf(":127.0.0.1:%d\n", p.port()),
		"tlsdestinations": "c.test:off\n",
	})
	pool := NewPool()
	for _, dom := range []string{"a.test", "b.test", "a.test", "c.test"} {
		got := run(t, home, &Sender{Pool: pool}, "Subject: x\n\nhello\n", dom, "a@sender.example", "b@"+dom)
		if got != accepted {
			t.Errorf("%s: %q", dom, got)
		}
	}
	pool.Close()
	p.wait()
	if p.Conns != 2 {
		t.Errorf("%d connections, want 2 (a, b, a over one; c with its own policy)", p.Conns)
	}
}

// TestPoolConcurrent: many deliveries at once share a few connections;
// every message arrives once (run with -race).
func TestPoolConcurrent(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home := routeTo(t, p, nil)
	pool := NewPool()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliverN(t, home, pool, 5, accepted)
		}()
	}
	wg.Wait()
	pool.Close()
	p.wait()
	if n := len(p.data()); n != 40 {
		t.Errorf("peer got %d messages, want 40", n)
	}
	if p.Conns > 8 {
		t.Errorf("%d connections for 8 concurrent senders", p.Conns)
	}
}

// TestPool421MidBatch: a 421 to one RCPT of a batch, then a dropped
// connection, defers every recipient (none is reported delivered), and
// the next message gets a new connection (hardening.md §3.8).
func TestPool421MidBatch(t *testing.T) {
	p := startPeer(t, &fakePeer{Replies: m("RCPT", "250 ok", "RCPT", "421 bye", "DATA", "DROP")})
	home := routeTo(t, p, nil)
	pool := NewPool()
	want := "r|s" + ip + " does not like recipient.\nRemote host said: 421 bye\n|ZConnected to " + ip + " but connection died. (#4.4.2)\n|"
	for i := 0; i < 2; i++ {
		got := run(t, home, &Sender{Pool: pool}, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test", "c@example.test")
		if got != want {
			t.Errorf("delivery %d: got %q\nwant %q", i+1, got, want)
		}
	}
	pool.Close()
	p.wait()
	if p.Conns != 2 || len(p.data()) != 0 {
		t.Errorf("%d connections, %d messages; want 2 and 0", p.Conns, len(p.data()))
	}
}

// TestPoolStrayLineNotKept: a peer that sends a line more than its reply
// to the final dot is out of step; its connection must not carry the
// next message, whose replies would all be read one step late (a refused
// message reported delivered on the leftover "354").
func TestPoolStrayLineNotKept(t *testing.T) {
	// (The peer's script starts again on each connection.)
	p := startPeer(t, &fakePeer{Replies: m("DOT", "250 ok queued\r\n250 a line too many", "DOT", "554 rejected")})
	home := routeTo(t, p, nil)
	pool := NewPool()
	first := run(t, home, &Sender{Pool: pool}, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test")
	if !strings.HasPrefix(first, "r|K") {
		t.Fatalf("first delivery: %q", first)
	}
	second := run(t, home, &Sender{Pool: pool}, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test")
	if want := "r|K" + ip + " accepted message.\nRemote host said: 250 ok queued\n|"; second != want {
		t.Errorf("second delivery: %q, want %q (on a new connection)", second, want)
	}
	pool.Close()
	p.wait()
	if p.Conns != 2 {
		t.Errorf("%d connections, want 2 (the out-of-step one dropped)", p.Conns)
	}
}

// TestPool421NotKeptEvenIfGoingOn: after a 421 the connection is never
// kept, even when the peer goes on answering (here DATA and the dot
// succeed): only the 421 itself stops it.
func TestPool421NotKeptEvenIfGoingOn(t *testing.T) {
	p := startPeer(t, &fakePeer{Replies: m("RCPT", "250 ok", "RCPT", "421 bye")})
	home := routeTo(t, p, nil)
	pool := NewPool()
	for i := 0; i < 2; i++ {
		run(t, home, &Sender{Pool: pool}, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test", "c@example.test")
	}
	pool.Close()
	p.wait()
	if p.Conns != 2 {
		t.Errorf("%d connections, want 2", p.Conns)
	}
}

// panicConn panics on its Nth write (counting from 1) and records Close.
type panicConn struct {
	net.Conn
	n, writes int
	closed    *atomic.Bool
}

func (c *panicConn) Write(b []byte) (int, error) {
	c.writes++
	if c.writes == c.n {
		panic("injected")
	}
	return c.Conn.Write(b)
}

func (c *panicConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// TestPanicClosesConnection: a dialogue that panics (qmail-rspawn runs
// deliveries in-process and reports a panic as qmail-remote's crash)
// closes its connection, fresh or taken from the pool, as a crashed
// qmail-remote's exit would, and keeps none of them.
func TestPanicClosesConnection(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home := routeTo(t, p, nil)
	pool := NewPool()
	defer pool.Close()
	var closed [2]atomic.Bool
	var last *panicConn
	dial := func(i, n int) func(string, string, time.Duration) (net.Conn, error) {
		return func(network, address string, timeout time.Duration) (net.Conn, error) {
			c, err := net.DialTimeout(network, address, timeout)
			if err != nil {
				return nil, err
			}
			last = &panicConn{Conn: c, n: n, closed: &closed[i]}
			return last, nil
		}
	}
	runPanics := func(r *Sender) (panicked bool) {
		defer func() { panicked = recover() != nil }()
		run(t, home, r, "Subject: x\n\nhello\n", "example.test", "a@sender.example", "b@example.test")
		return false
	}
	// A fresh connection: the panic comes at the second write (MAIL).
	if !runPanics(&Sender{Pool: pool, Dial: dial(0, 2)}) {
		t.Fatal("no panic on the fresh connection")
	}
	if !closed[0].Load() {
		t.Error("fresh connection left open after the panic")
	}
	// One delivery that keeps its connection (no panic: writes never
	// reach 1000), then one that panics on that kept connection.
	if runPanics(&Sender{Pool: pool, Dial: dial(1, 1000)}) {
		t.Fatal("panic without injection")
	}
	if closed[1].Load() {
		t.Fatal("kept connection closed")
	}
	poolKeyForTest(t, pool)  // one is kept
	last.n = last.writes + 1 // its next write panics
	if !runPanics(&Sender{Pool: pool, Dial: dial(1, 1000)}) {
		t.Fatal("no panic on the kept connection")
	}
	if !closed[1].Load() {
		t.Error("kept connection left open after the panic")
	}
	pool.mu.Lock()
	kept := pool.count
	pool.mu.Unlock()
	if kept != 0 {
		t.Errorf("%d connections kept after the panic", kept)
	}
}

// poolKeyForTest is the key of the one destination p holds a connection
// to.
func poolKeyForTest(t *testing.T, p *Pool) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, cs := range p.idle {
		if len(cs) > 0 {
			return k
		}
	}
	t.Fatal("no connection kept")
	return ""
}
