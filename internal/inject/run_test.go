package inject

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"goqmail/internal/prog"
)

// TestMain lets the test binary stand in for qmail-queue: with
// FAKEQQ_DIR set it stores the message (fd 0) and envelope (fd 1) there
// and exits with FAKEQQ_EXIT.
func TestMain(m *testing.M) {
	if dir := os.Getenv("FAKEQQ_DIR"); dir != "" {
		msg, _ := io.ReadAll(os.Stdin)
		env, _ := io.ReadAll(os.Stdout)
		os.WriteFile(filepath.Join(dir, "msg"), msg, 0o644)
		os.WriteFile(filepath.Join(dir, "env"), env, 0o644)
		code := 0
		fmt.Sscan(os.Getenv("FAKEQQ_EXIT"), &code)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func runInject(t *testing.T, home string, args, env []string, in string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := &prog.Context{
		Args: append([]string{"qmail-inject"}, args...), Env: append([]string{"USER=joe"}, env...),
		Home: home, Stdin: strings.NewReader(in), Stdout: &out, Stderr: &errb,
	}
	code := Run(ctx, Options{Now: func() time.Time { return fixedNow }, Pid: 4242})
	return code, out.String(), errb.String()
}

func fakeQQ(t *testing.T, exit int) (dir string, env []string) {
	dir = t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return dir, []string{"QMAILQUEUE=" + self, "FAKEQQ_DIR=" + dir, fmt.Sprintf("FAKEQQ_EXIT=%d", exit)}
}

func TestPrintShowsReturnPath(t *testing.T) {
	home := testHome(t)
	tests := []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"plain", []string{"-n", "arg@x.example"}, nil, "Return-Path: <joe@host.example.com>\n"},
		{"VERP form (§24.4)", []string{"-n"}, []string{"QMAILINJECT=r", "QMAILHOST=host.example.com"},
			"Return-Path: <\"joe-@host.example.com-\"@[]>\n"},
		{"empty sender", []string{"-n", "-f", ""}, nil, "Return-Path: <>\n"},
	}
	for _, tt := range tests {
		code, out, stderr := runInject(t, home, tt.args, tt.env, "To: a@b.example\n\nbody\n")
		want := tt.want + date + msgID + "From: joe@host.example.com\nTo: a@b.example\n\nbody\n"
		if code != 0 || out != want || stderr != "" {
			t.Errorf("%s: exit %d out %q stderr %q; want %q", tt.name, code, out, stderr, want)
		}
		if strings.Contains(out, "arg@x.example") {
			t.Errorf("%s: -n shows an argument recipient", tt.name)
		}
	}
}

func TestQueue(t *testing.T) {
	home := testHome(t)
	tests := []struct {
		name   string
		exit   int
		code   int
		stderr string
	}{
		{"queued", 0, 0, ""},
		{"permanent", 31, 100, "qmail-inject: fatal: mail server permanently rejected message (#5.3.0)\n"},
		{"temporary", 71, 111, "qmail-inject: fatal: mail server temporarily rejected message (#4.3.0)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := fakeQQ(t, tt.exit)
			code, out, stderr := runInject(t, home, []string{"-H", "arg"}, env, "To: a@b.example, c\n\nbody\x00with NUL")
			if code != tt.code || stderr != tt.stderr || out != "" {
				t.Fatalf("exit %d stderr %q out %q; want %d %q", code, stderr, out, tt.code, tt.stderr)
			}
			msg, _ := os.ReadFile(filepath.Join(dir, "msg"))
			envl, _ := os.ReadFile(filepath.Join(dir, "env"))
			wantMsg := date + msgID + "From: joe@host.example.com\nTo: a@b.example, c@host.example.com\n\nbody\x00with NUL\n"
			wantEnv := "Fjoe@host.example.com\x00Targ@host.example.com\x00Tc@host.example.com\x00Ta@b.example\x00\x00"
			if string(msg) != wantMsg || string(envl) != wantEnv {
				t.Errorf("message %q envelope %q\nwant %q %q", msg, envl, wantMsg, wantEnv)
			}
		})
	}
}

// TestRefusedBeforeQueueing: bad input never starts qmail-queue.
func TestRefusedBeforeQueueing(t *testing.T) {
	home := testHome(t)
	big := "To: a@b.example\n" + strings.Repeat("X-Filler: "+strings.Repeat("y", 90)+"\n", 12000) + "\nbody\n"
	many := "To: " + strings.Repeat("a@b.example, ", MaxRecipients) + "last@b.example\n\n"
	tests := []struct {
		name, in, stderr string
	}{
		{"header over 1 MiB", big, "qmail-inject: fatal: the header is longer than 1048576 bytes\n"},
		{"NUL in the header", "Subject: a\x00b\n\n", "qmail-inject: fatal: the header contains a NUL byte\n"},
		{"too many recipients", many, "qmail-inject: fatal: too many recipients (more than 10240)\n"},
		{"lexical error", "To: [1.2.3.4\n\n", "qmail-inject: fatal: unable to parse this line:\nTo: [1.2.3.4\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, env := fakeQQ(t, 0)
			code, _, stderr := runInject(t, home, nil, env, tt.in)
			if code != 100 || stderr != tt.stderr {
				t.Fatalf("exit %d stderr %q; want 100 %q", code, stderr, tt.stderr)
			}
			if _, err := os.Stat(filepath.Join(dir, "msg")); err == nil {
				t.Error("qmail-queue was run")
			}
		})
	}
}

// TestLargeHeaderAccepted: a header just under a megabyte goes through
// whole.
func TestLargeHeaderAccepted(t *testing.T) {
	home := testHome(t)
	hdr := strings.Repeat("X-Filler: "+strings.Repeat("y", 90)+"\n", 10000) // 1,010,000 bytes
	dir, env := fakeQQ(t, 0)
	code, _, stderr := runInject(t, home, []string{"a@b.example"}, env, hdr+"\nbody\n")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	msg, _ := os.ReadFile(filepath.Join(dir, "msg"))
	if !strings.HasSuffix(string(msg), hdr+"\nbody\n") {
		t.Errorf("message of %d bytes does not end with the header and body", len(msg))
	}
}

// TestBodyReadErrorQueuesNothing: a read error in the body aborts
// qmail-queue.
func TestBodyReadErrorQueuesNothing(t *testing.T) {
	home := testHome(t)
	dir, env := fakeQQ(t, 0)
	var errb bytes.Buffer
	ctx := &prog.Context{
		Args: []string{"qmail-inject", "a@b.example"}, Env: append([]string{"USER=joe"}, env...), Home: home,
		Stdin:  io.MultiReader(strings.NewReader("To: a@b.example\n\npart"), errReader{}),
		Stdout: io.Discard, Stderr: &errb,
	}
	code := Run(ctx, Options{Now: func() time.Time { return fixedNow }, Pid: 1})
	if code != 111 || !strings.HasPrefix(errb.String(), "qmail-inject: fatal: read error: ") {
		t.Fatalf("exit %d stderr %q", code, errb.String())
	}
	envl, _ := os.ReadFile(filepath.Join(dir, "env"))
	if len(envl) != 0 {
		t.Errorf("qmail-queue got an envelope %q", envl)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }
