package queue

import (
	"bufio"
	"bytes"
	"io"

	"goqmail/internal/prog"
	"goqmail/internal/qq"
)

// Worker is "qmail-queue --worker", goqmail's long-lived qmail-queue: it
// queues one message after another, read in qq's framed protocol on
// descriptor 0, and answers each with the exit code a one-message
// qmail-queue would have given, on descriptor 1. Each message goes
// through Run exactly as in qmail-queue proper — the same files, order,
// fsyncs, exit codes and Received line (its pid is the worker's, its
// uid the real uid of whoever started the worker) — so a message queued
// by a worker cannot be told from one queued by a qmail-queue of its
// own. tcpserver keeps a few of these (qq.Workers) for the qmail-smtpd,
// qmail-qmtpd and qmail-qmqpd sessions it runs in-process, instead of
// exec'ing the setuid qmail-queue for every message.
//
// It ends with 0 when the injector closes descriptor 0 between
// messages, and with ExitRead when the stream breaks or falls out of
// step (after the answer to the last whole message).
func Worker(ctx *prog.Context) int { return worker(ctx, Options{}) }

// worker is Worker with Run's options (for tests).
func worker(ctx *prog.Context, opt Options) int {
	inFile, outFile := ctx.File(0), ctx.File(1)
	if inFile == nil || outFile == nil {
		return ExitRead
	}
	in := bufio.NewReaderSize(inFile, 64<<10)
	for {
		fr := qq.NewFrameReader(in)
		if err := fr.Start(); err != nil {
			if err == io.EOF {
				return ExitOK
			}
			return ExitRead
		}
		code := Run(ctx.Home, fr, &envelopeReader{f: fr}, opt)
		if !fr.Finish() {
			return ExitRead
		}
		if _, err := outFile.Write([]byte{byte(code)}); err != nil {
			return ExitOK
		}
	}
}

// envelopeReader gives the end frame's envelope once the message has
// been read to its end.
type envelopeReader struct {
	f *qq.FrameReader
	r *bytes.Reader
}

func (e *envelopeReader) Read(p []byte) (int, error) {
	if e.r == nil {
		env := e.f.Envelope()
		if env == nil {
			return 0, io.ErrUnexpectedEOF
		}
		e.r = bytes.NewReader(env)
	}
	return e.r.Read(p)
}
