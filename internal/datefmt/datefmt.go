// Package datefmt writes dates exactly as qmail does (spec §0.4).
package datefmt

import (
	"fmt"
	"time"
)

var months = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
var days = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// RFC822 is qmail's date for Received lines, bounces and qmail-inject:
// "6 Sep 1995 04:46:54 -0000", always UTC, day not zero-padded.
func RFC822(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%d %s %d %02d:%02d:%02d -0000",
		t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute(), t.Second())
}

// Qread is qmail-qread's date: RFC822 without the zone, then " GMT".
func Qread(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%d %s %d %02d:%02d:%02d GMT",
		t.Day(), months[t.Month()-1], t.Year(), t.Hour(), t.Minute(), t.Second())
}

// Mbox is the date of an mbox "From " line: "Sun Jan 03 01:05:34 1996",
// UTC, day zero-padded to two digits.
func Mbox(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%s %s %02d %02d:%02d:%02d %d",
		days[t.Weekday()], months[t.Month()-1], t.Day(), t.Hour(), t.Minute(), t.Second(), t.Year())
}
