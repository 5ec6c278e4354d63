package tcpserver

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// TestPerIPLimit: -C 2 lets each client address have two connections
// handled at once; a third from the same address is closed at once
// without running the program, while other addresses are still served,
// and a slot freed by an ended connection is used again.
func TestPerIPLimit(t *testing.T) {
	port, stderr := startOurs(t, baseEnv, "-v", "-R", "-H", "-l", "0", "-c", "10", "-C", "2", "127.0.0.1", "0",
		"sh", "-c", "echo start; read x; echo done")
	type client struct {
		c net.Conn
		r *bufio.Reader
	}
	// tryDial may fail: a connection tcpserver drops at once can be reset
	// before the client's connect returns.
	tryDial := func(from string) (client, error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return client{}, err
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return client{c, bufio.NewReader(c)}, nil
	}
	dial := func(from string) client {
		t.Helper()
		cl, err := tryDial(from)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	first := func(cl client) (string, error) {
		if cl.c == nil {
			return "", io.EOF
		}
		return cl.r.ReadString('\n')
	}

	a, b := dial("127.0.0.1"), dial("127.0.0.1")
	for i, cl := range []client{a, b} {
		if l, err := first(cl); l != "start\n" {
			t.Fatalf("client %d: %q %v", i, l, err)
		}
	}
	over, _ := tryDial("127.0.0.1")
	if l, err := first(over); err == nil {
		t.Fatalf("third connection from one address served: %q", l)
	}
	other := dial("127.0.0.2")
	if l, err := first(other); l != "start\n" {
		t.Fatalf("another address: %q %v", l, err)
	}
	a.c.Write([]byte("go\n"))
	if l, _ := first(a); l != "done\n" {
		t.Fatalf("first end: %q", l)
	}
	// The program has ended; its slot comes free once tcpserver has
	// reaped it: try again for at most 5 s.
	served := false
	for i := 0; i < 50 && !served; i++ {
		cl, _ := tryDial("127.0.0.1")
		if l, _ := first(cl); l == "start\n" {
			served = true
			cl.c.Write([]byte("go\n"))
		} else {
			time.Sleep(100 * time.Millisecond)
		}
		if cl.c != nil {
			cl.c.Close()
		}
	}
	if !served {
		t.Error("no connection served after one of the two ended")
	}
	if !strings.Contains(stderr.String(), "tcpserver: per-ip limit reached, dropping connection from 127.0.0.1\n") {
		t.Errorf("no -v line for the dropped connection:\n%s", stderr)
	}
}

func TestPerIPOption(t *testing.T) {
	for _, tt := range []struct {
		args string
		want int
		ok   bool
	}{
		{"tcpserver 0 0 true", 0, true},
		{"tcpserver -C 3 0 0 true", 3, true},
		{"tcpserver -C0 0 0 true", 0, true},
		{"tcpserver -C -1 0 0 true", 0, false},
		{"tcpserver -C x 0 0 true", 0, false},
	} {
		if !tt.ok {
			code, _, stderr := runProg(Tcpserver, strings.Fields(tt.args), nil, "")
			if code != 100 || !strings.Contains(stderr, "-C perip") {
				t.Errorf("%s: %d %q, want usage", tt.args, code, stderr)
			}
			continue
		}
		o, msg := parseOptions(&prog.Context{Args: strings.Fields(tt.args)})
		if o == nil || o.perIP != tt.want {
			t.Errorf("%s: %v %q, want -C %d", tt.args, o, msg, tt.want)
		}
	}
}
