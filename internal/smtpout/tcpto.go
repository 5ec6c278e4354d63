package smtpout

import (
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"goqmail/internal/errtext"
)

// tcpto is queue/lock/tcpto (spec §10): 64 records of 16 bytes, bytes
// 0-3 an IPv4 address, byte 4 the count of recent timeouts, bytes 8-11
// the time of the last one, little-endian. qmail-rspawn zeroes it at
// start. Only IPv4 fits; IPv6 peers are never recorded.
const (
	tcptoSize    = 1024
	tcptoRecords = 64
	tcptoMaxErrs = 10
)

type tcptoFile struct {
	Path string
	Now  func() time.Time
	Pid  int
}

func tcptoPath(home string) string { return filepath.Join(home, "queue", "lock", "tcpto") }

func (t *tcptoFile) read() ([]byte, error) {
	f, err := os.Open(t.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, tcptoSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return buf[:n-n%16], nil
}

// Dead reports whether ip timed out at least twice and the last time
// less than (60 + pid%32) × 64 seconds ago. Any trouble reading the file
// means "not dead": the file only saves time.
func (t *tcptoFile) Dead(ip netip.Addr) bool {
	if !ip.Is4() {
		return false
	}
	buf, err := t.read()
	if err != nil {
		return false
	}
	a := ip.As4()
	now := t.Now().Unix()
	for i := 0; i+16 <= len(buf); i += 16 {
		r := buf[i : i+16]
		if [4]byte(r[0:4]) != a || r[4] < 2 {
			continue
		}
		when := int64(binary.LittleEndian.Uint32(r[8:12]))
		if now-when < int64((60+(t.Pid&31))<<6) {
			return true
		}
	}
	return false
}

// Record notes the outcome of a connection attempt: timedOut true for a
// connect timeout, false for a connection made or refused (spec §10).
func (t *tcptoFile) Record(ip netip.Addr, timedOut bool) {
	if !ip.Is4() {
		return
	}
	f, err := os.OpenFile(t.Path, os.O_RDWR, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX) != nil {
		return
	}
	buf := make([]byte, tcptoSize)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		return
	}
	n -= n % 16
	if n == 0 {
		return
	}
	buf = buf[:n]
	if updateTcpto(buf, ip.As4(), timedOut, uint32(t.Now().Unix())) {
		f.WriteAt(buf, 0)
	}
}

// updateTcpto changes the records in buf; it reports whether it did.
func updateTcpto(buf []byte, a [4]byte, timedOut bool, now uint32) bool {
	found := -1
	for i := 0; i+16 <= len(buf); i += 16 {
		if [4]byte(buf[i:i+4]) == a {
			found = i
			break
		}
	}
	if !timedOut {
		if found < 0 || buf[found+4] == 0 {
			return false
		}
		buf[found+4] = 0
		return true
	}
	if found >= 0 {
		r := buf[found : found+16]
		when := binary.LittleEndian.Uint32(r[8:12])
		if r[4] > 0 && now-when < 120 {
			return false
		}
		if r[4] < tcptoMaxErrs {
			r[4]++
		}
		binary.LittleEndian.PutUint32(r[8:12], now)
		return true
	}
	best, bestScore := -1, uint64(0)
	for i := 0; i+16 <= len(buf); i += 16 {
		r := buf[i : i+16]
		if r[4] == 0 {
			best = i
			break
		}
		score := uint64(binary.LittleEndian.Uint32(r[8:12])) + uint64(r[4])*1024
		if best < 0 || score < bestScore {
			best, bestScore = i, score
		}
	}
	r := buf[best : best+16]
	clear(r)
	copy(r[0:4], a[:])
	r[4] = 1
	binary.LittleEndian.PutUint32(r[8:12], now)
	return true
}

// TcptoEntry is one remote host's record in queue/lock/tcpto.
type TcptoEntry struct {
	IP    netip.Addr
	When  time.Time // the last timeout
	Count int       // recent timeouts
}

// TcptoEntries reads the records of home's tcpto that hold a timeout,
// for qmail-tcpto.
func TcptoEntries(home string) ([]TcptoEntry, error) {
	t := &tcptoFile{Path: tcptoPath(home), Now: time.Now}
	buf, err := t.read()
	if err != nil {
		return nil, fmt.Errorf("unable to read tcpto: %s", errtext.Text(err))
	}
	var out []TcptoEntry
	for i := 0; i+16 <= len(buf); i += 16 {
		r := buf[i : i+16]
		if r[4] == 0 {
			continue
		}
		when := int64(binary.LittleEndian.Uint32(r[8:12]))
		out = append(out, TcptoEntry{IP: netip.AddrFrom4([4]byte(r[0:4])), When: time.Unix(when, 0), Count: int(r[4])})
	}
	return out, nil
}

// ClearTcpto forgets every remote host's timeouts (qmail-tcpok), under
// the file's lock.
func ClearTcpto(home string) error {
	f, err := os.OpenFile(tcptoPath(home), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("unable to open tcpto: %s", errtext.Text(err))
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("unable to lock tcpto: %s", errtext.Text(err))
	}
	if _, err := f.WriteAt(make([]byte, tcptoSize), 0); err != nil {
		return fmt.Errorf("unable to clear tcpto: %s", errtext.Text(err))
	}
	return nil
}
