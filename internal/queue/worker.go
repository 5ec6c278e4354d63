package queue

import (
	"net"
	"os"
	"sync"
	"syscall"

	"goqmail/internal/durable"
	"goqmail/internal/ids"
	"goqmail/internal/prog"
	"goqmail/internal/queuefs"
)

// Worker is "qmail-queue --worker", goqmail's long-lived qmail-queue: a
// qmail-queue that queues many messages, at once, in one process.
// Descriptor 0 is a Unix socket; each request on it is one byte with
// three descriptors attached (SCM_RIGHTS): the message to read (what a
// qmail-queue reads on its descriptor 0), the envelope to read (its
// descriptor 1) and a pipe to write the result to: the one byte of the
// exit code a qmail-queue of its own would have exited with. Each
// message goes through Run in a goroutine of its own, exactly as in
// qmail-queue proper — the same files, order, fsyncs, exit codes and
// Received line (its pid is the worker's, its uid the real uid of
// whoever started the worker) — so a message queued by the worker cannot
// be told from one queued by a qmail-queue of its own.
//
// tcpserver keeps one for the qmail-smtpd, qmail-qmtpd and qmail-qmqpd
// sessions it runs in-process (qq.Workers), instead of exec'ing the
// setuid qmail-queue for every message. It ends, once the messages in
// hand are queued, when the socket is closed; a request without exactly
// three descriptors is refused (they are closed) and the worker goes on.
//
// qmail's accounts are looked up once, at start (a one-shot qmail-queue
// looks them up for its one message; the accounts are fixed at install
// time, as qmail compiles them in); if that fails, each message tries
// again and gets qmail-queue's exit code for it.
func Worker(ctx *prog.Context) int {
	if code := becomeOwner(ctx.Home); code != ExitOK {
		return code
	}
	opt := Options{}
	if theIDs, err := ids.Load(ctx.Home); err == nil {
		opt.IDs = theIDs
	}
	return worker(ctx, opt)
}

// worker is Worker with Run's options (for tests).
func worker(ctx *prog.Context, opt Options) int {
	// Messages committed at the same time share their folders' fsyncs,
	// and their files are made durable by shared syncfs rounds.
	opt.Dirs = &durable.Group{}
	if opt.FS == nil {
		q := queuefs.New(ctx.Home)
		if fs, err := durable.OpenFSFor(q.Dir, q.Folders("mess", "intd", "pid")); err == nil {
			opt.FS = fs
			defer fs.Close()
		}
	}
	f := ctx.File(0)
	if f == nil {
		return ExitRead
	}
	c, err := net.FileConn(f)
	if err != nil {
		return ExitRead
	}
	defer c.Close()
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ExitRead
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	oob := make([]byte, syscall.CmsgSpace(3*4))
	var seq int
	for {
		var b [1]byte
		n, oobn, _, _, err := uc.ReadMsgUnix(b[:], oob)
		fds := rights(oob[:oobn])
		if err != nil || n == 0 {
			closeFDs(fds)
			return ExitOK
		}
		if len(fds) != 3 {
			closeFDs(fds)
			continue
		}
		// Non-blocking, so that a read waiting on a slow injector holds
		// no thread and Run's alarm can interrupt it by closing the
		// file. tcpserver sends them so (older ones sent them blocking:
		// SetNonblock changes only those).
		for _, fd := range fds {
			syscall.SetNonblock(fd, true)
		}
		msg := os.NewFile(uintptr(fds[0]), "message")
		env := os.NewFile(uintptr(fds[1]), "envelope")
		res := os.NewFile(uintptr(fds[2]), "result")
		seq++
		o := opt
		o.Slot = seq
		wg.Add(1)
		go func() {
			defer wg.Done()
			code := ExitBug // a panic ends this message only: "qq internal bug"
			func() {
				defer func() { recover() }()
				code = Run(ctx.Home, msg, env, o)
			}()
			msg.Close()
			env.Close()
			res.Write([]byte{byte(code)})
			res.Close()
		}()
	}
}

// rights gives the descriptors of the SCM_RIGHTS messages in oob.
func rights(oob []byte) []int {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if r, err := syscall.ParseUnixRights(&m); err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		syscall.Close(fd)
	}
}
