package qq

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestFrameReader: message frames read as one stream up to the end frame
// and its envelope; an abort frame, a truncated stream, an unknown type
// and an oversized frame each stop the reader with an error; Finish
// skips what the reader did not take.
func TestFrameReader(t *testing.T) {
	var b bytes.Buffer
	WriteFrame(&b, FrameMessage, []byte("hello "))
	WriteFrame(&b, FrameMessage, nil)
	WriteFrame(&b, FrameMessage, []byte("world\n"))
	WriteFrame(&b, FrameEnd, []byte("Fa\x00Tb\x00\x00"))
	WriteFrame(&b, FrameMessage, []byte("skipped"))
	WriteFrame(&b, FrameAbort, nil)
	f := NewFrameReader(&b)
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "hello world\n" || string(f.Envelope()) != "Fa\x00Tb\x00\x00" {
		t.Fatalf("got %q %v envelope %q", got, err, f.Envelope())
	}
	f = NewFrameReader(&b)
	if err := f.Start(); err != nil {
		t.Fatal(err)
	}
	if !f.Finish() || f.Envelope() != nil {
		t.Error("Finish did not skip to the abort frame")
	}
	if _, err := f.Read(make([]byte, 1)); !errors.Is(err, ErrAborted) {
		t.Errorf("after abort: %v", err)
	}
	if err := NewFrameReader(&b).Start(); err != io.EOF {
		t.Errorf("between messages at the end: %v, want EOF", err)
	}

	bad := map[string][]byte{
		"unknown type": {'x', 0, 0, 0, 0},
		"too long":     {FrameMessage, 0x7f, 0, 0, 0},
		"abort body":   {FrameAbort, 0, 0, 0, 1, 'z'},
		"cut header":   {FrameMessage, 0, 0},
	}
	for name, in := range bad {
		f := NewFrameReader(bytes.NewReader(in))
		err := f.Start()
		if err == nil {
			_, err = io.ReadAll(f)
		}
		if err == nil || f.Finish() {
			t.Errorf("%s: no error, or still in step", name)
		}
	}
	f = NewFrameReader(bytes.NewReader([]byte{FrameMessage, 0, 0, 0, 9, 'a', 'b'}))
	f.Start()
	if _, err := io.ReadAll(f); err != io.ErrUnexpectedEOF {
		t.Errorf("cut frame body: %v", err)
	}
}
