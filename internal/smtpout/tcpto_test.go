package smtpout

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func tcptoHome(t *testing.T) (string, *tcptoFile, *time.Time) {
	home := testHome(t, map[string]string{})
	os.MkdirAll(filepath.Join(home, "queue", "lock"), 0o755)
	if err := os.WriteFile(tcptoPath(home), make([]byte, tcptoSize), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	return home, &tcptoFile{Path: tcptoPath(home), Now: func() time.Time { return now }, Pid: 0}, &now
}

func record(t *testing.T, path string, i int) (ip netip.Addr, count byte, when uint32) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := b[i*16 : i*16+16]
	return netip.AddrFrom4([4]byte(r[0:4])), r[4], binary.LittleEndian.Uint32(r[8:12])
}

func TestTcptoRecord(t *testing.T) {
	_, to, now := tcptoHome(t)
	a := netip.MustParseAddr("192.0.2.1")
	to.Record(a, false) // no record: nothing
	if _, c, _ := record(t, to.Path, 0); c != 0 {
		t.Fatal("refused without a record made one")
	}
	to.Record(a, true)
	if ip, c, w := record(t, to.Path, 0); ip != a || c != 1 || w != uint32(now.Unix()) {
		t.Fatalf("after one timeout: %v %d %d", ip, c, w)
	}
	if to.Dead(a) {
		t.Fatal("dead after one timeout")
	}
	to.Record(a, true) // within 120 s: unchanged
	if _, c, _ := record(t, to.Path, 0); c != 1 {
		t.Fatalf("count %d within 120 s", c)
	}
	*now = now.Add(121 * time.Second)
	to.Record(a, true)
	if _, c, _ := record(t, to.Path, 0); c != 2 {
		t.Fatalf("count %d after 121 s", c)
	}
	if !to.Dead(a) {
		t.Fatal("not dead after two timeouts")
	}
	*now = now.Add(60 * 64 * time.Second) // pid 0: skip interval 60×64 s
	if to.Dead(a) {
		t.Fatal("still dead after the skip interval")
	}
	for i := 0; i < 20; i++ {
		*now = now.Add(200 * time.Second)
		to.Record(a, true)
	}
	if _, c, _ := record(t, to.Path, 0); c != tcptoMaxErrs {
		t.Fatalf("count %d, want the cap %d", c, tcptoMaxErrs)
	}
	to.Record(a, false)
	if _, c, _ := record(t, to.Path, 0); c != 0 {
		t.Fatalf("count %d after a connection", c)
	}
	to.Record(netip.MustParseAddr("2001:db8::1"), true)
	if _, c, _ := record(t, to.Path, 1); c != 0 {
		t.Fatal("IPv6 recorded")
	}
}

// TestTcptoFull: with every slot taken, the one with the smallest
// time + count×1024 is replaced.
func TestTcptoFull(t *testing.T) {
	buf := make([]byte, tcptoSize)
	for i := 0; i < tcptoRecords; i++ {
		r := buf[i*16:]
		r[0], r[1], r[2], r[3] = 10, 0, 0, byte(i)
		r[4] = 1
		binary.LittleEndian.PutUint32(r[8:12], uint32(5000+i))
	}
	buf[7*16+4] = 0 + 1
	binary.LittleEndian.PutUint32(buf[7*16+8:], 100) // oldest
	updateTcpto(buf, [4]byte{192, 0, 2, 9}, true, 9000)
	if !bytes.Equal(buf[7*16:7*16+5], []byte{192, 0, 2, 9, 1}) {
		t.Errorf("slot 7 = %v", buf[7*16:7*16+16])
	}
}

// TestRemoteSkipsDeadHost: qmail-remote does not try an address that
// timed out twice recently, and records a refused one.
func TestRemoteSkipsDeadHost(t *testing.T) {
	p := startPeer(t, &fakePeer{})
	home, to, _ := tcptoHome(t)
	to.Now = time.Now
	a := netip.MustParseAddr("127.0.0.1")
	to.Record(a, true)
	b, _ := os.ReadFile(to.Path)
	b[4] = 2
	os.WriteFile(to.Path, b, 0o644)
	os.WriteFile(filepath.Join(home, "control", "smtproutes"), []byte("example.test:127.0.0.1:"+itoa(p.port())+"\n"), 0o644)
	got := run(t, home, &Sender{}, "x\n", "example.test", "a@b", "c@example.test")
	p.mu.Lock()
	conns := p.Conns
	p.mu.Unlock()
	if got != textNoConn[:len(textNoConn)-1]+"\n|" || conns != 0 {
		t.Errorf("dead host tried: %q, %d connections", got, conns)
	}
	os.WriteFile(to.Path, make([]byte, tcptoSize), 0o644)
	if got := run(t, home, &Sender{}, "x\n", "example.test", "a@b", "c@example.test"); !strings.HasPrefix(got, "r|K") {
		t.Errorf("after tcpok: %q", got)
	}
}
