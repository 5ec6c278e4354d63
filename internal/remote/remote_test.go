package remote

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// TestTcptoTools: qmail-tcpto lists a recorded timeout, qmail-tcpok
// clears it, and both fail with qmail's wording without the file.
func TestTcptoTools(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, "queue", "lock", "tcpto")
	os.MkdirAll(filepath.Dir(path), 0o755)
	buf := make([]byte, 1024)
	copy(buf, []byte{192, 0, 2, 5, 1})
	binary.LittleEndian.PutUint32(buf[8:12], uint32(time.Now().Unix()-30))
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	ctx := &prog.Context{Args: []string{"qmail-tcpto"}, Home: home, Stdout: &out, Stderr: &errb}
	if code := TcptoMain(ctx); code != 0 {
		t.Fatalf("qmail-tcpto: %d %s", code, errb.String())
	}
	if s := out.String(); !strings.HasPrefix(s, "192.0.2.5 timed out ") || !strings.HasSuffix(s, " seconds ago; # recent timeouts: 1\n") {
		t.Errorf("qmail-tcpto: %q", s)
	}
	ctx.Args[0] = "qmail-tcpok"
	if code := TcpokMain(ctx); code != 0 {
		t.Fatalf("qmail-tcpok: %d %s", code, errb.String())
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, make([]byte, 1024)) {
		t.Error("qmail-tcpok left records")
	}
	out.Reset()
	ctx.Args[0] = "qmail-tcpto"
	TcptoMain(ctx)
	if out.Len() != 0 {
		t.Errorf("qmail-tcpto after tcpok: %q", out.String())
	}
	os.Remove(path)
	errb.Reset()
	ctx.Args[0] = "qmail-tcpok"
	if code := TcpokMain(ctx); code != 111 || errb.String() != "qmail-tcpok: fatal: unable to open tcpto: file does not exist\n" {
		t.Errorf("tcpok without file: %d %q", code, errb.String())
	}
	errb.Reset()
	ctx.Args[0] = "qmail-tcpto"
	if code := TcptoMain(ctx); code != 111 || !strings.Contains(errb.String(), "fatal: unable to read tcpto: file does not exist") {
		t.Errorf("tcpto without file: %d %q", code, errb.String())
	}
}
