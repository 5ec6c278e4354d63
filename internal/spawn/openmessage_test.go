package spawn

import (
	"os"
	"path/filepath"
	"testing"

	"goqmail/internal/ids"
	"goqmail/internal/spawnproto"
)

// TestOpenMessageChecks covers spawn.c's checks on the message file,
// with qmail's report texts: each ends in a newline, which qmail-send
// logs as a final "/" (delivery 3: deferral: Sorry,_message_has_wrong_owner._(#4.3.5)/).
// A queue taken over from another install whose files belong to another
// qmailq must defer, never bounce.
func TestOpenMessageChecks(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "5"), 0o755)
	os.WriteFile(filepath.Join(dir, "5", "28"), []byte("Received: x\n\nbody\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "5", "51"), 0o755)
	me := os.Getuid()
	for _, c := range []struct {
		name    string
		qmailq  int
		message string
		ok      bool
		report  string
	}{
		{"owned by qmailq", me, "5/28", true, ""},
		{"owned by someone else", me + 1, "5/28", false, "ZSorry, message has wrong owner. (#4.3.5)\n"},
		{"missing", me, "5/74", false, "Zqmail-spawn unable to open message. (#4.3.0)\n"},
		{"not a regular file", me, "5/51", false, "ZSorry, message has wrong type. (#4.3.5)\n"},
	} {
		e := &engine{ids: &ids.IDs{Qmailq: c.qmailq}, mess: dir}
		f, r, ok := e.openMessage(spawnproto.Command{Slot: 7, Message: c.message})
		if f != nil {
			f.Close()
		}
		got := ""
		if !ok {
			got = string(r.Status) + r.Text
			if r.Slot != 7 {
				t.Errorf("%s: report for slot %d, want 7", c.name, r.Slot)
			}
		}
		if ok != c.ok || got != c.report {
			t.Errorf("%s: ok %v report %q, want %v %q", c.name, ok, got, c.ok, c.report)
		}
		if ok && f == nil {
			t.Errorf("%s: no file", c.name)
		}
	}
}
