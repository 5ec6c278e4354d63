package qq

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestText(t *testing.T) {
	tests := []struct {
		code int
		want string
	}{
		{0, ""},
		{11, "Denvelope address too long for qq (#5.1.3)"},
		{115, "Denvelope address too long for qq (#5.1.3)"},
		{31, "Dmail server permanently rejected message (#5.3.0)"},
		{51, "Zqq out of memory (#4.3.0)"},
		{52, "Zqq timeout (#4.3.0)"},
		{53, "Zqq write error or disk full (#4.3.0)"},
		{54, "Zqq read error (#4.3.0)"},
		{55, "Zqq unable to read configuration (#4.3.0)"},
		{56, "Zqq trouble making network connection (#4.3.0)"},
		{61, "Zqq trouble in home directory (#4.3.0)"},
		{62, "Zqq trouble creating files in queue (#4.3.0)"},
		{63, "Zqq trouble creating files in queue (#4.3.0)"},
		{64, "Zqq trouble creating files in queue (#4.3.0)"},
		{65, "Zqq trouble creating files in queue (#4.3.0)"},
		{66, "Zqq trouble creating files in queue (#4.3.0)"},
		{71, "Zmail server temporarily rejected message (#4.3.0)"},
		{72, "Zconnection to mail server timed out (#4.4.1)"},
		{73, "Zconnection to mail server rejected (#4.4.1)"},
		{74, "Zcommunication with mail server failed (#4.4.2)"},
		{81, "Zqq internal bug (#4.3.0)"},
		{91, "Zqq internal bug (#4.3.0)"},
		{120, "Zunable to exec qq (#4.3.0)"},
		// other 11-40: permanent
		{12, "Dqq permanent problem (#5.3.0)"},
		{30, "Dqq permanent problem (#5.3.0)"},
		{32, "Dqq permanent problem (#5.3.0)"},
		{40, "Dqq permanent problem (#5.3.0)"},
		// anything else: temporary
		{1, "Zqq temporary problem (#4.3.0)"},
		{10, "Zqq temporary problem (#4.3.0)"},
		{41, "Zqq temporary problem (#4.3.0)"},
		{57, "Zqq temporary problem (#4.3.0)"},
		{67, "Zqq temporary problem (#4.3.0)"},
		{82, "Zqq temporary problem (#4.3.0)"},
		{100, "Zqq temporary problem (#4.3.0)"},
		{111, "Zqq temporary problem (#4.3.0)"},
		{114, "Zqq temporary problem (#4.3.0)"},
		{116, "Zqq temporary problem (#4.3.0)"},
		{255, "Zqq temporary problem (#4.3.0)"},
	}
	for _, tt := range tests {
		if got := Text(tt.code); got != tt.want {
			t.Errorf("Text(%d) = %q, want %q", tt.code, got, tt.want)
		}
	}
	// Every code gives "" (0 only) or one line starting with D or Z that
	// ends in an enhanced status code.
	for code := 0; code < 256; code++ {
		s := Text(code)
		if code == 0 {
			continue
		}
		r := Result{Code: code, Text: s}
		if r.OK() || (s[0] != 'D' && s[0] != 'Z') || !strings.HasSuffix(s, ")") || strings.ContainsAny(s, "\r\n") {
			t.Errorf("Text(%d) = %q", code, s)
		}
		if r.Permanent() != (s[0] == 'D') {
			t.Errorf("Permanent(%d) wrong", code)
		}
	}
}

func TestProgram(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{nil, "/var/qmail/bin/qmail-queue"},
		{[]string{"QMAILQUEUE="}, "/var/qmail/bin/qmail-queue"},
		{[]string{"QMAILQUEUE=/usr/bin/simscan"}, "/usr/bin/simscan"},
		{[]string{"QMAILQUEUE=/a", "QMAILQUEUE=/b"}, "/b"},
		{[]string{"QMAILQUEUEX=/a"}, "/var/qmail/bin/qmail-queue"},
	}
	for _, tt := range tests {
		if got := Program("/var/qmail", tt.env); got != tt.want {
			t.Errorf("Program(%q) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// fake is a QMAILQUEUE program written as a shell script. It records
// its message (fd 0), its envelope (fd 1), its pid and its working
// folder in dir.
type fake struct {
	dir, script string
}

func newFake(t *testing.T, body string) *fake {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "fake-qmail-queue")
	text := "#!/bin/sh\necho $$ > \"$OUT/pid\"\npwd > \"$OUT/cwd\"\n" + body + "\n"
	if err := os.WriteFile(script, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return &fake{dir: dir, script: script}
}

// recording reads the whole message, then the whole envelope, then exits.
const recording = `cat > "$OUT/msg"
cat <&1 > "$OUT/env"
exit ${CODE:-0}`

func (f *fake) env(code int) []string {
	return []string{
		"PATH=/usr/bin:/bin",
		"QMAILQUEUE=" + f.script,
		"OUT=" + f.dir,
		"CODE=" + strconv.Itoa(code),
	}
}

func (f *fake) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// closeBounded runs q.Close, killing the fake if it takes too long.
func closeBounded(t *testing.T, q *QQ, sender string, rcpts []string) Result {
	t.Helper()
	done := make(chan Result, 1)
	go func() { done <- q.Close(sender, rcpts) }()
	select {
	case r := <-done:
		return r
	case <-time.After(30 * time.Second):
		syscall.Kill(q.Pid(), syscall.SIGKILL)
		t.Fatal("qmail-queue did not finish in 30s")
		return Result{}
	}
}

func TestRunExitCodes(t *testing.T) {
	for _, code := range []int{0, 11, 31, 53, 54, 81, 91, 115, 120, 33, 99} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			f := newFake(t, recording)
			home := t.TempDir()
			var stderr bytes.Buffer
			q, err := Open(home, f.env(code), &stderr)
			if err != nil {
				t.Fatal(err)
			}
			msg := "Subject: hi\n\nbody\n"
			q.WriteString(msg[:5])
			q.Write([]byte(msg[5:]))
			res := closeBounded(t, q, "joe@example.com", []string{"bob@example.org", "ann@x"})
			if res.Code != code || res.Text != Text(code) {
				t.Errorf("result %v, want %d %q", res, code, Text(code))
			}
			if res.OK() != (code == 0) {
				t.Errorf("OK() = %v for code %d", res.OK(), code)
			}
			if got := f.read(t, "msg"); got != msg {
				t.Errorf("message = %q, want %q", got, msg)
			}
			if got, want := f.read(t, "env"), "Fjoe@example.com\x00Tbob@example.org\x00Tann@x\x00\x00"; got != want {
				t.Errorf("envelope = %q, want %q", got, want)
			}
			if got := strings.TrimSpace(f.read(t, "pid")); got != strconv.Itoa(q.Pid()) {
				t.Errorf("Pid() = %d, the program's pid was %s", q.Pid(), got)
			}
			if got := strings.TrimSpace(f.read(t, "cwd")); got != home {
				t.Errorf("working folder %q, want home %q", got, home)
			}
		})
	}
}

func TestRunEmptyEnvelope(t *testing.T) {
	f := newFake(t, recording)
	q, err := Open(t.TempDir(), f.env(0), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	res := closeBounded(t, q, "", nil)
	if !res.OK() {
		t.Fatalf("result %v", res)
	}
	if got := f.read(t, "env"); got != "F\x00\x00" {
		t.Errorf("envelope = %q, want %q", got, "F\x00\x00")
	}
	if got := f.read(t, "msg"); got != "" {
		t.Errorf("message = %q, want empty", got)
	}
}

func TestRunCrash(t *testing.T) {
	f := newFake(t, `cat > "$OUT/msg"
kill -9 $$`)
	q, err := Open(t.TempDir(), f.env(0), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	q.WriteString("x\n")
	res := closeBounded(t, q, "a@b", []string{"c@d"})
	if res.Text != "Zqq crashed (#4.3.0)" || res.OK() || res.Permanent() {
		t.Errorf("result %v, want Zqq crashed (#4.3.0)", res)
	}
}

func TestAbort(t *testing.T) {
	f := newFake(t, recording+"\n")
	// The fake exits 54 itself when it sees no envelope, as qmail-queue does.
	f2 := newFake(t, `cat > "$OUT/msg"
cat <&1 > "$OUT/env"
[ -s "$OUT/env" ] || exit 54
exit 0`)
	for _, ff := range []*fake{f, f2} {
		q, err := Open(t.TempDir(), ff.env(0), os.Stderr)
		if err != nil {
			t.Fatal(err)
		}
		q.WriteString("Subject: x\n\nunfinished")
		done := make(chan struct{})
		go func() { q.Abort(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(q.Pid(), syscall.SIGKILL)
			t.Fatal("Abort did not return in 30s")
		}
		q.Abort() // a second Abort is harmless
		if got := ff.read(t, "env"); got != "" {
			t.Errorf("after Abort the program read an envelope %q", got)
		}
		res := q.Close("a@b", []string{"c@d"}) // after Abort: nothing is sent
		if res.OK() || res.Text != "Zqq read error (#4.3.0)" {
			t.Errorf("Close after Abort = %v", res)
		}
		if got := ff.read(t, "env"); got != "" {
			t.Errorf("Close after Abort sent an envelope %q", got)
		}
	}
}

func TestBadAddressNeverSent(t *testing.T) {
	tests := []struct {
		name   string
		sender string
		rcpts  []string
	}{
		{"NUL in sender", "a\x00b@x", []string{"c@d"}},
		{"CR in sender", "a\r@x", []string{"c@d"}},
		{"LF in sender", "a\n@x", []string{"c@d"}},
		{"NUL in recipient", "a@b", []string{"c@d", "e\x00Tevil@x"}},
		{"CR in recipient", "a@b", []string{"c\r@d"}},
		{"LF in recipient", "a@b", []string{"c@d", "e@f\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, recording)
			q, err := Open(t.TempDir(), f.env(0), os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			q.WriteString("x\n")
			res := closeBounded(t, q, tt.sender, tt.rcpts)
			if res.Text != ErrBadAddress || res.OK() || !res.Permanent() {
				t.Errorf("result %v, want %q", res, ErrBadAddress)
			}
			if got := f.read(t, "env"); got != "" {
				t.Errorf("the program read an envelope %q", got)
			}
		})
	}
}

// TestWriteErrorIsFailure: a program that exits 0 without reading its
// message has not queued it; the caller's write error turns 0 into 54.
func TestWriteErrorIsFailure(t *testing.T) {
	f := newFake(t, "exit 0")
	q, err := Open(t.TempDir(), f.env(0), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	// More than any pipe buffer holds, so the write must fail once the
	// program has gone.
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for i := 0; i < 64; i++ {
		if n, err := q.Write(chunk); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v; errors are for Close to report", n, err)
		}
	}
	res := closeBounded(t, q, "a@b", []string{"c@d"})
	if res.OK() || res.Code != 54 || res.Text != "Zqq read error (#4.3.0)" {
		t.Errorf("result %v, want 54 Zqq read error (#4.3.0)", res)
	}
}

// TestWriteErrorKeepsCode: a program that fails without reading keeps
// its own exit code.
func TestWriteErrorKeepsCode(t *testing.T) {
	f := newFake(t, "exit 31")
	q, err := Open(t.TempDir(), f.env(0), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	q.Write(bytes.Repeat([]byte("x"), 1<<20))
	res := closeBounded(t, q, "a@b", []string{"c@d"})
	if res.Code != 31 || !res.Permanent() {
		t.Errorf("result %v, want 31", res)
	}
}

func TestOpenMissingProgram(t *testing.T) {
	home := t.TempDir()
	if q, err := Open(home, []string{"QMAILQUEUE=" + filepath.Join(home, "nonexistent")}, os.Stderr); err == nil {
		q.Abort()
		t.Fatal("Open of a missing program succeeded")
	}
	// Without QMAILQUEUE: HOME/bin/qmail-queue, missing here.
	if q, err := Open(home, nil, os.Stderr); err == nil {
		q.Abort()
		t.Fatal("Open without bin/qmail-queue succeeded")
	}
}
