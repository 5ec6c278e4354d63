package send

import (
	"testing"
	"time"
)

func TestVERP(t *testing.T) {
	for _, c := range []struct{ sender, recip, want string }{
		{"owner-@list.example-@[]", "joe@x.org", "owner-joe=x.org@list.example"},
		{"owner@list.example", "joe@x.org", "owner@list.example"},
		{"owner-@list.example-@[]", "noat", "owner-@list.example-@[]"},
		{"", "joe@x.org", ""},
	} {
		if got := verp(c.sender, c.recip); got != c.want {
			t.Errorf("verp(%q, %q) = %q, want %q", c.sender, c.recip, got, c.want)
		}
	}
}

func TestRetrySchedule(t *testing.T) {
	birth := time.Unix(1000000, 0)
	// Attempts after queueing: local 0, 100, 400, 900...; remote 0, 400, 1600, 3600...
	for _, c := range []struct {
		age  int
		ch   int
		want int
	}{
		{0, 0, 100}, {100, 0, 400}, {400, 0, 900}, {899, 0, 1521}, {900, 0, 1600},
		{0, 1, 400}, {400, 1, 1600}, {1600, 1, 3600},
		// The clock went back 50 s or a day: counted from now, not from the
		// future birth (qmail would wait for the clock to catch up).
		{-50, 0, -50 + 100}, {-86400, 1, -86400 + 400},
	} {
		got := nextRetry(birth, birth.Add(time.Duration(c.age)*time.Second), c.ch)
		if d := got.Sub(birth); d != time.Duration(c.want)*time.Second {
			t.Errorf("age %d chan %d: next at +%v, want +%ds", c.age, c.ch, d, c.want)
		}
	}
}

// TestNextDueFullChannel: a channel whose slots are all taken has nothing
// due, however overdue its waiting messages are (a report frees a slot
// and wakes the loop); with a slot free the head's retry time is due.
// Reporting the head as due while full made the loop spin at full CPU.
func TestNextDueFullChannel(t *testing.T) {
	ch := newChannel(0, 2, nil, nil)
	past := time.Now().Add(-time.Hour)
	ch.schedule(&message{num: 1, chans: [2]*msgChan{{retry: past}}})
	if due, ok := ch.nextDue(); !ok || !due.Equal(past) {
		t.Fatalf("free channel: nextDue = %v, %v; want %v", due, ok, past)
	}
	ch.used = 2
	if due, ok := ch.nextDue(); ok {
		t.Fatalf("full channel: nextDue = %v, want nothing due", due)
	}
	ch.used = 1
	if _, ok := ch.nextDue(); !ok {
		t.Fatal("a freed slot: the waiting message is not due")
	}
}
