package smtpout

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// Pool keeps the SMTP connections of finished transactions, so that the
// next message to the same destination goes over the same connection
// instead of a new connect, greeting, EHLO, STARTTLS and AUTH. qmail 1.03
// opened one connection per message; Postfix keeps them as goqmail does
// (its connection cache), and a busy destination's log then shows the
// same IP, the same result texts and one line per recipient as before.
//
// A destination is a domain delivered by MX, or a relay host and port
// from smtproutes (so a smart host serves every domain over one
// connection); the TLS policy and HELO name are part of it, so an
// encrypted or authenticated session is only reused where a new one
// would have been made the same way.
//
// A connection is kept only when its last reply was not 421 and the
// peer's state is known: after the reply to the message (a new
// transaction may start at once), or after a refusal of the recipients or
// of DATA once an RSET has been answered 250. A kept connection that has
// died, or answers the next MAIL with 421, is closed and the message goes out over a new connection
// as if there had been none: nothing was sent, so nothing can arrive
// twice.
//
// The zero Pool is not usable; make one with NewPool. Its methods are
// safe for concurrent use by the deliveries of qmail-rspawn.
type Pool struct {
	IdleTime time.Duration // how long an unused connection is kept (5 s)
	MaxAge   time.Duration // no reuse of a connection older than this (300 s)
	MaxUses  int           // transactions per connection (100)
	MaxIdle  int           // idle connections in all (100); the oldest goes first

	mu     sync.Mutex
	idle   map[string][]*pooled
	count  int
	closed bool
}

// pooled is one idle connection.
type pooled struct {
	s     *session
	born  time.Time
	uses  int
	timer *time.Timer
}

// NewPool makes a pool with the default limits.
func NewPool() *Pool {
	return &Pool{IdleTime: 5 * time.Second, MaxAge: 300 * time.Second, MaxUses: 100, MaxIdle: 100,
		idle: map[string][]*pooled{}}
}

// poolKey names a destination (see Pool).
func poolKey(host, relay string, port int, policy tlsPolicy, helo string) string {
	dest := "mx " + strings.ToLower(host)
	if relay != "" {
		dest = "relay " + strings.ToLower(relay) + ":" + strconv.Itoa(port)
	}
	return dest + " tls " + strconv.Itoa(int(policy)) + " helo " + helo
}

// get takes an idle connection to key, or nil.
func (p *Pool) get(key string) *pooled {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.idle[key]
	if len(l) == 0 {
		return nil
	}
	c := l[len(l)-1] // the most recently used: the least likely to have timed out
	p.remove(key, c)
	return c
}

// remove drops c from the idle lists; p.mu is held.
func (p *Pool) remove(key string, c *pooled) bool {
	l := p.idle[key]
	for i, x := range l {
		if x == c {
			p.idle[key] = append(l[:i:i], l[i+1:]...)
			if len(p.idle[key]) == 0 {
				delete(p.idle, key)
			}
			p.count--
			c.timer.Stop()
			return true
		}
	}
	return false
}

// put keeps c for key, or says goodbye when it may not be kept.
func (p *Pool) put(key string, c *pooled, now time.Time) {
	c.uses++
	if c.s.closing || c.uses >= p.MaxUses || now.Sub(c.born) >= p.MaxAge {
		goodbye(c)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		goodbye(c)
		return
	}
	var oldest *pooled
	var oldestKey string
	if p.count >= p.MaxIdle {
		for k, l := range p.idle {
			if len(l) > 0 && (oldest == nil || l[0].born.Before(oldest.born)) {
				oldest, oldestKey = l[0], k
			}
		}
		p.remove(oldestKey, oldest)
	}
	c.timer = time.AfterFunc(p.IdleTime, func() {
		p.mu.Lock()
		ok := p.remove(key, c)
		p.mu.Unlock()
		if ok {
			goodbye(c)
		}
	})
	p.idle[key] = append(p.idle[key], c)
	p.count++
	p.mu.Unlock()
	if oldest != nil {
		goodbye(oldest)
	}
}

// Close says goodbye to every idle connection; later puts close theirs.
func (p *Pool) Close() {
	p.mu.Lock()
	var all []*pooled
	for k, l := range p.idle {
		for _, c := range l {
			c.timer.Stop()
			all = append(all, c)
		}
		delete(p.idle, k)
	}
	p.count = 0
	p.closed = true
	p.mu.Unlock()
	for _, c := range all {
		goodbye(c)
	}
}

// goodbye sends QUIT without waiting for the reply, and closes.
func goodbye(c *pooled) {
	c.s.raw.timeout = 5 * time.Second
	c.s.send("QUIT")
	c.s.conn.Close()
}
