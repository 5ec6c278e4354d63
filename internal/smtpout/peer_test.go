package smtpout

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePeer is a scripted SMTP server on 127.0.0.1. Replies maps a verb
// (GREET, EHLO, HELO, MAIL, RCPT, DATA, DOT, STARTTLS, AUTH, QUIT) to the
// replies it gives, one per use (the last repeats); "DROP" as a reply
// closes the connection instead. DropInData closes the connection as
// soon as the first body line arrives.
type fakePeer struct {
	Replies    map[string][]string
	TLS        *tls.Config // offer STARTTLS with this config
	DropInData bool

	ln net.Listener
	wg sync.WaitGroup

	mu       sync.Mutex
	Commands []string // every command line received, in order
	Data     [][]byte // the raw bytes of each DATA, terminator included
	TLSUsed  []bool   // per DATA: was the connection encrypted
	Conns    int
}

var defaultReplies = map[string]string{
	"GREET": "220 fake.example ESMTP", "HELO": "250 fake.example",
	"MAIL": "250 ok", "RCPT": "250 ok", "DATA": "354 go ahead", "DOT": "250 ok queued",
	"QUIT": "221 bye", "STARTTLS": "220 ready", "AUTH": "235 ok", "RSET": "250 ok",
}

func startPeer(t *testing.T, p *fakePeer) *fakePeer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			p.Conns++
			p.mu.Unlock()
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				p.serve(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *fakePeer) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *fakePeer) reply(used map[string]int, verb string) string {
	rs := p.Replies[verb]
	n := used[verb]
	used[verb]++
	if len(rs) == 0 {
		if verb == "EHLO" {
			r := "250-fake.example\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 PIPELINING"
			if p.TLS != nil {
				r = "250-fake.example\r\n250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME"
			}
			return r
		}
		if r, ok := defaultReplies[verb]; ok {
			return r
		}
		return "502 unimplemented"
	}
	if n >= len(rs) {
		n = len(rs) - 1
	}
	return rs[n]
}

func (p *fakePeer) serve(c net.Conn) {
	used := map[string]int{}
	var conn net.Conn = c
	r := bufio.NewReader(conn)
	say := func(verb string) bool {
		rep := p.reply(used, verb)
		if rep == "DROP" {
			return false
		}
		_, err := conn.Write([]byte(rep + "\r\n"))
		return err == nil
	}
	secure := false
	if !say("GREET") {
		return
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		p.mu.Lock()
		p.Commands = append(p.Commands, cmd)
		p.mu.Unlock()
		verb := strings.ToUpper(strings.SplitN(cmd, " ", 2)[0])
		if strings.HasPrefix(verb, "MAIL") {
			verb = "MAIL"
		}
		if strings.HasPrefix(verb, "RCPT") {
			verb = "RCPT"
		}
		switch verb {
		case "QUIT":
			say("QUIT")
			return
		case "STARTTLS":
			rep := p.reply(used, "STARTTLS")
			conn.Write([]byte(rep + "\r\n"))
			if !strings.HasPrefix(rep, "220") || p.TLS == nil {
				continue
			}
			tc := tls.Server(c, p.TLS)
			if tc.Handshake() != nil {
				return
			}
			conn, r, secure = tc, bufio.NewReader(tc), true
		case "DATA":
			rep := p.reply(used, "DATA")
			if rep == "DROP" {
				return
			}
			conn.Write([]byte(rep + "\r\n"))
			if rep[0] >= '4' {
				continue
			}
			var data []byte
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if p.DropInData {
					return
				}
				data = append(data, l...)
				if l == ".\r\n" && (len(data) == 3 || bytes.HasSuffix(data, []byte("\r\n.\r\n"))) {
					break
				}
			}
			p.mu.Lock()
			p.Data = append(p.Data, data)
			p.TLSUsed = append(p.TLSUsed, secure)
			p.mu.Unlock()
			if !say("DOT") {
				return
			}
		case "AUTH":
			rep := p.reply(used, "AUTH")
			if strings.HasPrefix(cmd, "AUTH LOGIN") {
				conn.Write([]byte("334 VXNlcm5hbWU6\r\n"))
				for i := 0; i < 2; i++ {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					p.mu.Lock()
					p.Commands = append(p.Commands, strings.TrimRight(l, "\r\n"))
					p.mu.Unlock()
					if i == 0 {
						conn.Write([]byte("334 UGFzc3dvcmQ6\r\n"))
					}
				}
			}
			conn.Write([]byte(rep + "\r\n"))
		default:
			if !say(verb) {
				return
			}
		}
	}
}

// wait stops the peer and waits until every connection is over.
func (p *fakePeer) wait() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *fakePeer) commands() []string {
	p.wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.Commands...)
}

func (p *fakePeer) data() [][]byte {
	p.wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.Data...)
}
