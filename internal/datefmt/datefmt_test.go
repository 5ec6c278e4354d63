package datefmt

import (
	"testing"
	"time"
)

func TestFormats(t *testing.T) {
	est := time.FixedZone("EST", -5*3600)
	ist := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name                string
		t                   time.Time
		rfc822, mbox, qread string
	}{
		{
			name:   "spec example",
			t:      time.Date(1995, 9, 6, 4, 46, 54, 0, time.UTC),
			rfc822: "6 Sep 1995 04:46:54 -0000",
			mbox:   "Wed Sep 06 04:46:54 1995",
			qread:  "6 Sep 1995 04:46:54 GMT",
		},
		{
			name:   "mbox spec example",
			t:      time.Date(1996, 1, 3, 1, 5, 34, 0, time.UTC),
			rfc822: "3 Jan 1996 01:05:34 -0000",
			mbox:   "Wed Jan 03 01:05:34 1996",
			qread:  "3 Jan 1996 01:05:34 GMT",
		},
		{
			name:   "two-digit day, midnight",
			t:      time.Date(2024, 12, 31, 0, 0, 0, 0, time.UTC),
			rfc822: "31 Dec 2024 00:00:00 -0000",
			mbox:   "Tue Dec 31 00:00:00 2024",
			qread:  "31 Dec 2024 00:00:00 GMT",
		},
		{
			name:   "another zone is written in UTC, crossing a day",
			t:      time.Date(2000, 2, 28, 22, 30, 5, 0, est), // 29 Feb 03:30:05 UTC
			rfc822: "29 Feb 2000 03:30:05 -0000",
			mbox:   "Tue Feb 29 03:30:05 2000",
			qread:  "29 Feb 2000 03:30:05 GMT",
		},
		{
			name:   "positive zone crossing a year backwards",
			t:      time.Date(2001, 1, 1, 5, 0, 0, 0, ist), // 31 Dec 2000 23:30 UTC
			rfc822: "31 Dec 2000 23:30:00 -0000",
			mbox:   "Sun Dec 31 23:30:00 2000",
			qread:  "31 Dec 2000 23:30:00 GMT",
		},
		{
			name:   "fractions of a second are dropped, not rounded",
			t:      time.Date(2010, 7, 4, 23, 59, 59, 999999999, time.UTC),
			rfc822: "4 Jul 2010 23:59:59 -0000",
			mbox:   "Sun Jul 04 23:59:59 2010",
			qread:  "4 Jul 2010 23:59:59 GMT",
		},
		{
			name:   "epoch",
			t:      time.Unix(0, 0),
			rfc822: "1 Jan 1970 00:00:00 -0000",
			mbox:   "Thu Jan 01 00:00:00 1970",
			qread:  "1 Jan 1970 00:00:00 GMT",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RFC822(tt.t); got != tt.rfc822 {
				t.Errorf("RFC822 = %q, want %q", got, tt.rfc822)
			}
			if got := Mbox(tt.t); got != tt.mbox {
				t.Errorf("Mbox = %q, want %q", got, tt.mbox)
			}
			if got := Qread(tt.t); got != tt.qread {
				t.Errorf("Qread = %q, want %q", got, tt.qread)
			}
		})
	}
}

// TestEveryMonthAndWeekday checks the name tables against Go's own.
func TestEveryMonthAndWeekday(t *testing.T) {
	for m := 1; m <= 12; m++ {
		tm := time.Date(2023, time.Month(m), 9, 8, 7, 6, 0, time.UTC)
		if got, want := RFC822(tm), tm.Format("2 Jan 2006 15:04:05 -0000"); got != want {
			t.Errorf("RFC822 = %q, want %q", got, want)
		}
		if got, want := Mbox(tm), tm.Format("Mon Jan 02 15:04:05 2006"); got != want {
			t.Errorf("Mbox = %q, want %q", got, want)
		}
	}
	for d := 1; d <= 7; d++ {
		tm := time.Date(2023, 5, d, 12, 0, 0, 0, time.UTC)
		if got, want := Mbox(tm), tm.Format("Mon Jan 02 15:04:05 2006"); got != want {
			t.Errorf("Mbox = %q, want %q", got, want)
		}
	}
}
