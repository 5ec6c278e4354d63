package smtpd

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"goqmail/internal/testutil"
	"goqmail/internal/userdb"
)

// rcptCheckHarness is a home whose users/cdb gives every local address
// to one account whose home holds .qmail-known only.
func rcptCheckHarness(t *testing.T, ctl map[string]string) *harness {
	t.Helper()
	c := baseControls()
	c["locals"] = "example.com\n"
	for k, v := range ctl {
		c[k] = v
	}
	h := newHarness(t, c)
	mbox := filepath.Join(t.TempDir(), "mbox")
	if err := os.Mkdir(mbox, 0o755); err != nil {
		t.Fatal(err)
	}
	testutil.MustWrite(t, filepath.Join(mbox, ".qmail-known"), "./Maildir/\n", 0o644)
	testutil.MustWrite(t, filepath.Join(h.home, "users", "assign"), "+:someone:1000:1000:"+mbox+":-::\n.\n", 0o644)
	if err := userdb.BuildCDB(h.home); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRcptCheck(t *testing.T) {
	const in = "MAIL FROM:<a@b>\nRCPT TO:<known@example.com>\nRCPT TO:<unknown@example.com>\n" +
		"RCPT TO:<Known@EXAMPLE.COM>\nRCPT TO:<u@x.example.net>\nRCPT TO:<u@far.example>\nDATA\n.\nQUIT\n"
	tests := []struct {
		name   string
		ctl    map[string]string
		env    []string
		want   []string // the five RCPT replies
		rcpts  []string
		stderr string
	}{
		{name: "off by default",
			want:  []string{"250 ok", "250 ok", "250 ok", "250 ok", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
			rcpts: []string{"known@example.com", "unknown@example.com", "Known@EXAMPLE.COM", "u@x.example.net"}},
		{name: "explicitly off", ctl: map[string]string{"rcptcheck": "0\n"},
			want:  []string{"250 ok", "250 ok", "250 ok", "250 ok", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
			rcpts: []string{"known@example.com", "unknown@example.com", "Known@EXAMPLE.COM", "u@x.example.net"}},
		{name: "on", ctl: map[string]string{"rcptcheck": "1\n"},
			want:  []string{"250 ok", "550 sorry, no mailbox here by that name. (#5.1.1)", "250 ok", "250 ok", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
			rcpts: []string{"known@example.com", "Known@EXAMPLE.COM", "u@x.example.net"}},
		{name: "on, relay client", ctl: map[string]string{"rcptcheck": "1\n"}, env: []string{"RELAYCLIENT="},
			want:  []string{"250 ok", "550 sorry, no mailbox here by that name. (#5.1.1)", "250 ok", "250 ok", "250 ok"},
			rcpts: []string{"known@example.com", "Known@EXAMPLE.COM", "u@x.example.net", "u@far.example"}},
		{name: "on, virtual domain", ctl: map[string]string{"rcptcheck": "1\n", "virtualdomains": "x.example.net:known\n"},
			want:  []string{"250 ok", "550 sorry, no mailbox here by that name. (#5.1.1)", "250 ok", "550 sorry, no mailbox here by that name. (#5.1.1)", "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"},
			rcpts: []string{"known@example.com", "Known@EXAMPLE.COM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := rcptCheckHarness(t, tt.ctl).setenv(tt.env...)
			out, code, stderr := h.run(crlf(in))
			want := greet + crlf("250 ok\n"+strings.Join(tt.want, "\n")+"\n354 go ahead\n250 ok 1700000000 qp {qp}\n221 mail.example.com\n")
			msgs := h.messages()
			if got := fillQP(want, msgs); out != got {
				t.Errorf("replies:\n got %q\nwant %q\nstderr: %s", out, got, stderr)
			}
			if code != 0 {
				t.Errorf("exit code %d", code)
			}
			if len(msgs) != 1 || strings.Join(msgs[0].rcpts, " ") != strings.Join(tt.rcpts, " ") {
				t.Errorf("queued %#v, want recipients %q", msgs, tt.rcpts)
			}
		})
	}
}

func TestRcptCheckBadControls(t *testing.T) {
	t.Run("malformed rcptcheck", func(t *testing.T) {
		h := rcptCheckHarness(t, map[string]string{"rcptcheck": "yes\n"})
		out, code, _ := h.run(crlf("QUIT\n"))
		if out != crlf("421 unable to read controls (#4.3.0)\n") || code != 1 {
			t.Errorf("got %q, exit %d", out, code)
		}
	})
	t.Run("unreadable virtualdomains: accept all, warn", func(t *testing.T) {
		h := rcptCheckHarness(t, map[string]string{"rcptcheck": "1\n"})
		if err := os.Mkdir(filepath.Join(h.home, "control", "virtualdomains"), 0o755); err != nil {
			t.Fatal(err)
		}
		out, _, stderr := h.run(crlf("MAIL FROM:<a@b>\nRCPT TO:<unknown@example.com>\nQUIT\n"))
		if want := greet + crlf("250 ok\n250 ok\n221 mail.example.com\n"); out != want {
			t.Errorf("replies %q, want %q", out, want)
		}
		if !strings.Contains(stderr, "control/rcptcheck is on but cannot be used") {
			t.Errorf("no warning on stderr: %q", stderr)
		}
	})
	t.Run("corrupt users/cdb: accept", func(t *testing.T) {
		h := rcptCheckHarness(t, map[string]string{"rcptcheck": "1\n"})
		testutil.MustWrite(t, filepath.Join(h.home, "users", "cdb"), "junk", 0o644)
		out, _, _ := h.run(crlf("MAIL FROM:<a@b>\nRCPT TO:<unknown@example.com>\nQUIT\n"))
		if want := greet + crlf("250 ok\n250 ok\n221 mail.example.com\n"); out != want {
			t.Errorf("replies %q, want %q", out, want)
		}
	})
}
