package spawnproto

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func TestLimit(t *testing.T) {
	for _, n := range []int{0, 1, 120, 255, 256, 999, Limit, 65535} {
		var buf bytes.Buffer
		if err := WriteLimit(&buf, n); err != nil {
			t.Fatal(err)
		}
		if buf.Len() != 2 || buf.Bytes()[0] != byte(n>>8) || buf.Bytes()[1] != byte(n) {
			t.Errorf("WriteLimit(%d) = %q, want two bytes big-endian", n, buf.Bytes())
		}
		got, err := ReadLimit(&buf)
		if err != nil || got != n {
			t.Errorf("ReadLimit = %d, %v; want %d", got, err, n)
		}
	}
	if _, err := ReadLimit(strings.NewReader("\x01")); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadLimit of one byte: err = %v, want ErrUnexpectedEOF", err)
	}
	if _, err := ReadLimit(strings.NewReader("")); !errors.Is(err, io.EOF) {
		t.Errorf("ReadLimit of nothing: err = %v, want EOF", err)
	}
}

func TestCommandBytes(t *testing.T) {
	got := AppendCommand([]byte("x"), Command{Slot: 258, Message: "17/12345", Sender: "a@b", Recipient: "c@d"})
	want := "x\x01\x0217/12345\x00a@b\x00c@d\x00"
	if string(got) != want {
		t.Errorf("AppendCommand = %q, want %q", got, want)
	}
}

func TestCommandRoundTrip(t *testing.T) {
	cmds := []Command{
		{Slot: 0, Message: "0/23", Sender: "joe@example.com", Recipient: "bob@example.org"},
		{Slot: 1, Message: "5/12345", Sender: "", Recipient: "bob@example.org"}, // bounce sender
		{Slot: 255, Message: "1/1", Sender: "a", Recipient: "b"},
		{Slot: 256, Message: "1/1", Sender: "a", Recipient: "b"},
		{Slot: 999, Message: "22/999999", Sender: "x@y", Recipient: "z"},
		{Slot: Limit, Message: "1/1", Sender: "s", Recipient: "r"},
		{Slot: 7, Message: "3/3", Sender: "", Recipient: ""},
		{Slot: 8, Message: "4/4", Sender: strings.Repeat("s", 5000), Recipient: strings.Repeat("r", maxField-1)}, // beyond bufio's buffer
		{Slot: 9, Message: "5/5", Sender: "sp ace\x01\xff", Recipient: "\t\r\n"},
	}
	var stream []byte
	for _, c := range cmds {
		stream = AppendCommand(stream, c)
	}
	// Also read through a reader that returns one byte at a time.
	for _, src := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream))} {
		r := bufio.NewReader(src)
		for i, want := range cmds {
			got, err := ReadCommand(r)
			if err != nil {
				t.Fatalf("command %d: %v", i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("command %d: got %+v, want %+v", i, trimCmd(got), trimCmd(want))
			}
		}
		if _, err := ReadCommand(r); err != io.EOF {
			t.Errorf("after the last command: err = %v, want io.EOF", err)
		}
	}
}

func trimCmd(c Command) Command {
	cut := func(s string) string {
		if len(s) > 40 {
			return s[:40] + "..."
		}
		return s
	}
	return Command{Slot: c.Slot, Message: cut(c.Message), Sender: cut(c.Sender), Recipient: cut(c.Recipient)}
}

func TestReadCommandMalformed(t *testing.T) {
	long := strings.Repeat("x", maxField+1)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty is a clean EOF", "", io.EOF},
		{"one slot byte", "\x00", ErrBadCommand},
		{"slot only", "\x00\x01", ErrBadCommand},
		{"message without NUL", "\x00\x011/1", ErrBadCommand},
		{"no recipient", "\x00\x011/1\x00a@b\x00", ErrBadCommand},
		{"recipient without NUL", "\x00\x011/1\x00a@b\x00c@d", ErrBadCommand},
		{"overlong message", "\x00\x01" + long + "\x00a\x00b\x00", ErrBadCommand},
		{"overlong sender", "\x00\x011/1\x00" + long + "\x00b\x00", ErrBadCommand},
		{"overlong recipient", "\x00\x011/1\x00a\x00" + long + "\x00", ErrBadCommand},
		{"overlong without NUL", "\x00\x01" + long, ErrBadCommand},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCommand(bufio.NewReader(strings.NewReader(tt.in)))
			if err != tt.want {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReportBytes(t *testing.T) {
	tests := []struct {
		r    Report
		want string
	}{
		{Report{3, 'K', "did 1+0+0/"}, "\x00\x03Kdid 1+0+0/\x00"},
		{Report{999, 'Z', "Sorry."}, "\x03\xe7ZSorry.\x00"},
		{Report{0, 'D', ""}, "\x00\x00D\x00"},
		{Report{1, 'K', "before\x00after"}, "\x00\x01Kbefore\x00"}, // NUL ends the text
	}
	for _, tt := range tests {
		if got := AppendReport(nil, tt.r); string(got) != tt.want {
			t.Errorf("AppendReport(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestReportRoundTrip(t *testing.T) {
	reps := []Report{
		{0, 'K', "did 0+0+1/"},
		{998, 'Z', "Unable to chdir to maildir. (#4.2.1)\n"},
		{999, 'D', "Sorry, no mailbox here by that name. (#5.1.1)\n"},
		{5, 'X', "mangled status survives the transport"},
		{6, 'K', ""},
		{7, 'K', strings.Repeat("a", MaxReport)},
		{8, 'K', "\x01\xff\n\r"},
	}
	var stream []byte
	for _, r := range reps {
		stream = AppendReport(stream, r)
	}
	for _, src := range []io.Reader{bytes.NewReader(stream), iotest.OneByteReader(bytes.NewReader(stream))} {
		r := bufio.NewReader(src)
		for i, want := range reps {
			got, err := ReadReport(r)
			if err != nil {
				t.Fatalf("report %d: %v", i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("report %d: got slot %d status %q text %d bytes; want slot %d status %q text %d bytes",
					i, got.Slot, got.Status, len(got.Text), want.Slot, want.Status, len(want.Text))
			}
		}
		if _, err := ReadReport(r); err != io.EOF {
			t.Errorf("after the last report: err = %v, want io.EOF", err)
		}
	}
}

// TestReportTruncation checks that a text longer than MaxReport is cut to
// MaxReport bytes and the stream stays in step for the next report.
func TestReportTruncation(t *testing.T) {
	for _, n := range []int{MaxReport + 1, MaxReport + 4095, MaxReport + 4096, 3 * MaxReport} {
		text := make([]byte, n)
		for i := range text {
			text[i] = 'a' + byte(i%26)
		}
		stream := AppendReport(nil, Report{1, 'Z', string(text)})
		stream = AppendReport(stream, Report{2, 'K', "next"})
		r := bufio.NewReader(bytes.NewReader(stream))
		got, err := ReadReport(r)
		if err != nil {
			t.Fatalf("%d: %v", n, err)
		}
		if got.Slot != 1 || got.Status != 'Z' || got.Text != string(text[:MaxReport]) {
			t.Errorf("%d: slot %d status %q, %d bytes; want the first %d bytes", n, got.Slot, got.Status, len(got.Text), MaxReport)
		}
		got, err = ReadReport(r)
		if err != nil || got != (Report{2, 'K', "next"}) {
			t.Errorf("%d: next report = %+v, %v", n, got, err)
		}
	}
}

func TestReadReportMalformed(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty is a clean EOF", "", io.EOF},
		{"one byte", "\x00", io.ErrUnexpectedEOF},
		{"no status", "\x00\x01", io.ErrUnexpectedEOF},
		{"no text, no NUL", "\x00\x01K", io.ErrUnexpectedEOF},
		{"text without NUL", "\x00\x01Kdid 1+0+0/", io.ErrUnexpectedEOF},
		{"long text without NUL", "\x00\x01K" + strings.Repeat("x", 3*MaxReport), io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadReport(bufio.NewReader(strings.NewReader(tt.in)))
			if err != tt.want {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func FuzzReadCommand(f *testing.F) {
	f.Add([]byte("\x00\x011/1\x00a@b\x00c@d\x00"))
	f.Add([]byte("\x03\xe7\x00\x00\x00"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		var again []byte
		for i := 0; i < len(data)+1; i++ {
			c, err := ReadCommand(r)
			if err != nil {
				if err != io.EOF && err != ErrBadCommand {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if strings.ContainsRune(c.Message+c.Sender+c.Recipient, 0) {
				t.Fatalf("field holds a NUL: %+v", c)
			}
			if c.Slot < 0 || c.Slot > 65535 {
				t.Fatalf("slot %d", c.Slot)
			}
			again = AppendCommand(again, c)
		}
		// What was read re-encodes to a prefix of the input.
		if !bytes.HasPrefix(data, again) {
			t.Fatalf("re-encoded %q is not a prefix of %q", again, data)
		}
	})
}

func FuzzReadReport(f *testing.F) {
	f.Add([]byte("\x00\x03Kdid 1+0+0/\x00"))
	f.Add([]byte("\x00\x00D\x00\x00\x01Z"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for i := 0; i < len(data)+1; i++ {
			rep, err := ReadReport(r)
			if err != nil {
				break
			}
			if len(rep.Text) > MaxReport || strings.ContainsRune(rep.Text, 0) {
				t.Fatalf("report text of %d bytes, NUL %v", len(rep.Text), strings.ContainsRune(rep.Text, 0))
			}
			back, err2 := ReadReport(bufio.NewReader(bytes.NewReader(AppendReport(nil, rep))))
			if err2 != nil || back != rep {
				t.Fatalf("round trip of %+v gave %+v, %v", rep, back, err2)
			}
		}
	})
}

func TestBatchRoundTrip(t *testing.T) {
	c := Command{Slot: 3, Message: "1/1", Sender: "s@x", Recipient: "a@d",
		Also: []Also{{Slot: 4, Recipient: "b@d"}, {Slot: 999, Recipient: "c@d"}}}
	single := Command{Slot: 5, Message: "2/2", Sender: "", Recipient: "e@d"}
	r := bufio.NewReader(bytes.NewReader(AppendCommand(AppendCommand(nil, c), single)))
	got, err := ReadCommand(r)
	if err != nil || got.Slot != 3 || len(got.Also) != 2 || got.Also[1] != (Also{999, "c@d"}) ||
		strings.Join(got.Recipients(), ",") != "a@d,b@d,c@d" || fmt.Sprint(got.Slots()) != "[3 4 999]" {
		t.Fatalf("batch: %+v %v", got, err)
	}
	got, err = ReadCommand(r)
	if err != nil || got.Slot != 5 || got.Also != nil || got.Recipient != "e@d" {
		t.Fatalf("single after a batch: %+v %v", got, err)
	}
	// A batch cut short, or with no further recipients, is malformed.
	b := AppendCommand(nil, c)
	for _, bad := range [][]byte{b[:len(b)-1], b[:len(b)-6], append(append([]byte{0x80, 3}, "1/1\x00s\x00a\x00"...), 0, 0)} {
		if _, err := ReadCommand(bufio.NewReader(bytes.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
