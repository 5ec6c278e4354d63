package spawn

import (
	"strings"
	"testing"

	"goqmail/internal/spawnproto"
)

func TestRemoteReport(t *testing.T) {
	for _, c := range []struct {
		out    string
		status byte
		text   string
	}{
		{"r\x00K1.2.3.4 accepted message.\nRemote host said: 250 ok\n\x00", 'K',
			"1.2.3.4 accepted message.\nRemote host said: 250 ok\n"},
		{"h1.2.3.4 does not like recipient.\nRemote host said: 550 no\n\x00DGiving up on 1.2.3.4.\n\x00", 'D',
			"1.2.3.4 does not like recipient.\nRemote host said: 550 no\nGiving up on 1.2.3.4.\n"},
		{"s1.2.3.4 does not like recipient.\nRemote host said: 451 later\n\x00DGiving up on 1.2.3.4.\n\x00", 'Z',
			"1.2.3.4 does not like recipient.\nRemote host said: 451 later\nGiving up on 1.2.3.4.\n"},
		{"ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\x00", 'Z',
			"Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n"},
		{"DSorry, I couldn't find any host named x. (#5.1.2)\n\x00", 'D',
			"Sorry, I couldn't find any host named x. (#5.1.2)\n"},
		{"r\x00", 'D', ""},
	} {
		r := remoteReport([]byte(c.out))
		if r.Status != c.status || r.Text != c.text {
			t.Errorf("%q: got %c %q, want %c %q", c.out, r.Status, r.Text, c.status, c.text)
		}
	}
}

func TestLocalReport(t *testing.T) {
	for _, c := range []struct {
		code   int
		status byte
		text   string
	}{
		{0, 'K', "did 1+0+0\n"},
		{111, 'Z', "did 1+0+0\n"},
		{71, 'Z', "did 1+0+0\n"},
		{100, 'D', "did 1+0+0\n"},
		{64, 'D', "did 1+0+0\n"},
		{116, 'Z', "Unable to find alias user!\n"},
		{113, 'Z', "Not allowed to perform deliveries as root.\n"},
		{126, 'D', "Unable to run qmail-local.\n"},
	} {
		r := localReport(c.code, []byte("did 1+0+0\n"))
		if r.Status != c.status || r.Text != c.text {
			t.Errorf("exit %d: got %c %q, want %c %q", c.code, r.Status, r.Text, c.status, c.text)
		}
	}
}

func TestCutReport(t *testing.T) {
	if got := string(cutReport([]byte("abc\x00def"))); got != "abc" {
		t.Errorf("NUL: %q", got)
	}
	long := cutReport([]byte(strings.Repeat("x", 5000)))
	if len(long) != 3000-34+len("\nError report too long, sorry.\n") || !strings.HasSuffix(string(long), "\nError report too long, sorry.\n") {
		t.Errorf("long report: %d bytes", len(long))
	}
}

func TestCommandChecks(t *testing.T) {
	e := &engine{busy: map[int]bool{3: true}}
	for _, c := range []struct {
		cmd  spawnproto.Command
		ok   bool
		text string
	}{
		{spawnproto.Command{Slot: 1, Message: "5/12345", Recipient: "a@b"}, true, ""},
		{spawnproto.Command{Slot: spawnproto.Limit, Message: "5/1", Recipient: "a@b"}, false, "Internal error: delnum too big. (#4.3.5)\n"},
		{spawnproto.Command{Slot: 3, Message: "5/1", Recipient: "a@b"}, false, "Internal error: delnum in use. (#4.3.5)\n"},
		{spawnproto.Command{Slot: 1, Message: "../etc", Recipient: "a@b"}, false, "Internal error: messid has nonnumerics. (#5.3.5)\n"},
		{spawnproto.Command{Slot: 1, Message: "5/1/2", Recipient: "a@b"}, false, "Internal error: messid has nonnumerics. (#5.3.5)\n"},
		{spawnproto.Command{Slot: 1, Message: strings.Repeat("1", 101), Recipient: "a@b"}, false, "Internal error: messid too long. (#5.3.5)\n"},
		{spawnproto.Command{Slot: 1, Message: "", Recipient: "a@b"}, false, "Internal error: messid too short. (#5.3.5)\n"},
		{spawnproto.Command{Slot: 1, Message: "5/1", Recipient: "ab"}, false, "Sorry, address must include host name. (#5.1.3)\n"},
	} {
		r, ok := e.check(c.cmd)
		if ok != c.ok || r.Text != c.text {
			t.Errorf("%+v: got %v %q, want %v %q", c.cmd, ok, r.Text, c.ok, c.text)
		}
	}
}

func TestBatchReports(t *testing.T) {
	out := "r\x00h1.2.3.4 does not like recipient.\nRemote host said: 550 no\n\x00s1.2.3.4 does not like recipient.\nRemote host said: 451 later\n\x00K1.2.3.4 accepted message.\nRemote host said: 250 ok\n\x00"
	got := batchReports([]byte(out), 3)
	want := []struct {
		st   byte
		text string
	}{
		{'K', "1.2.3.4 accepted message.\nRemote host said: 250 ok\n"},
		{'D', "1.2.3.4 does not like recipient.\nRemote host said: 550 no\n"},
		{'Z', "1.2.3.4 does not like recipient.\nRemote host said: 451 later\n"},
	}
	for i, w := range want {
		if got[i].Status != w.st || got[i].Text != w.text {
			t.Errorf("recipient %d: %c %q, want %c %q", i, got[i].Status, got[i].Text, w.st, w.text)
		}
	}
	// A connection-level failure applies to every recipient.
	for i, r := range batchReports([]byte("ZSorry, I wasn't able to establish an SMTP connection. (#4.4.1)\n\x00"), 2) {
		if r.Status != 'Z' || !strings.HasPrefix(r.Text, "Sorry, I wasn't able") {
			t.Errorf("recipient %d: %c %q", i, r.Status, r.Text)
		}
	}
	// One recipient: the same as qmail-rspawn's fold.
	one := "h1.2.3.4 does not like recipient.\nRemote host said: 550 no\n\x00DGiving up on 1.2.3.4.\n\x00"
	if a, b := batchReports([]byte(one), 1)[0], remoteReport([]byte(one)); a != b {
		t.Errorf("single %+v != %+v", a, b)
	}
}
