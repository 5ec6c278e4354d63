package qq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The framed protocol between an injector and a long-lived qmail-queue
// worker ("qmail-queue --worker", see Workers and package queue). It is
// goqmail's own and internal: qmail-queue's real interface (message on
// fd 0, envelope on fd 1, one message per process) is unchanged.
//
// The injector sends, per message, any number of message frames, then
// one end frame holding the envelope exactly as qmail-queue reads it
// from fd 1 (F sender NUL, T recipient NUL ..., NUL), or one abort frame
// instead. A frame is its type byte, a 4-byte big-endian length and that
// many bytes. After each end or abort the worker answers one byte: the
// exit code a one-message qmail-queue would have exited with.
const (
	FrameMessage = 'm'
	FrameEnd     = 'e'
	FrameAbort   = 'a'

	// MaxFrame bounds a frame's length; a longer one is a protocol error.
	MaxFrame = 1 << 20
)

// ErrAborted is what a FrameReader returns for the message when the
// injector aborted it.
var ErrAborted = errors.New("message aborted by the injector")

// WriteFrame writes one frame.
func WriteFrame(w io.Writer, typ byte, p []byte) error {
	var h [5]byte
	h[0] = typ
	binary.BigEndian.PutUint32(h[1:], uint32(len(p)))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.Write(p)
	return err
}

// FrameReader reads one message's frames: Read gives the message bytes
// until the end frame (io.EOF) or the abort frame (ErrAborted);
// Envelope then gives the envelope of the end frame.
type FrameReader struct {
	r        io.Reader
	left     uint32 // bytes left in the current message frame
	envelope []byte
	done     bool  // the end or abort frame has been read
	err      error // sticky: io.EOF, ErrAborted, or a read or protocol error
}

// NewFrameReader reads the next message from r.
func NewFrameReader(r io.Reader) *FrameReader { return &FrameReader{r: r} }

// Start reads the first frame header: io.EOF means the injector closed
// the stream between messages (a clean end of the worker).
func (f *FrameReader) Start() error {
	var h [5]byte
	if _, err := io.ReadFull(f.r, h[:1]); err != nil {
		return err
	}
	if _, err := io.ReadFull(f.r, h[1:]); err != nil {
		return io.ErrUnexpectedEOF
	}
	return f.header(h)
}

func (f *FrameReader) header(h [5]byte) error {
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxFrame {
		return fmt.Errorf("frame of %d bytes", n)
	}
	switch h[0] {
	case FrameMessage:
		f.left = n
		return nil
	case FrameEnd:
		f.envelope = make([]byte, n)
		if _, err := io.ReadFull(f.r, f.envelope); err != nil {
			return io.ErrUnexpectedEOF
		}
		f.done, f.err = true, io.EOF
		return nil
	case FrameAbort:
		if n != 0 {
			return fmt.Errorf("abort frame of %d bytes", n)
		}
		f.done, f.err = true, ErrAborted
		return nil
	}
	return fmt.Errorf("unknown frame type %q", h[0])
}

// Read gives message bytes.
func (f *FrameReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.err != nil {
			return 0, f.err
		}
		var h [5]byte
		if _, err := io.ReadFull(f.r, h[:]); err != nil {
			f.err = io.ErrUnexpectedEOF
			return 0, f.err
		}
		if err := f.header(h); err != nil {
			f.err = err
			return 0, err
		}
	}
	if uint32(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.left -= uint32(n)
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		f.err = err
	}
	return n, err
}

// Finish reads what is left of the message (its reader may have stopped
// early) up to its end or abort frame. It reports whether the stream is
// still in step, so that the worker may take the next message.
func (f *FrameReader) Finish() bool {
	buf := make([]byte, 32<<10)
	for !f.done {
		if _, err := f.Read(buf); err != nil && !f.done {
			return false
		}
	}
	return true
}

// Envelope is the end frame's envelope (nil after an abort).
func (f *FrameReader) Envelope() []byte { return f.envelope }
