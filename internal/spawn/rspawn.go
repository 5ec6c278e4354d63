package spawn

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"

	"goqmail/internal/addr"
	"goqmail/internal/prog"
	"goqmail/internal/smtpout"
	"goqmail/internal/spawnproto"
)

// RMain is qmail-rspawn: for each remote delivery it runs qmail-remote
// DOMAIN SENDER RECIPIENT... and folds qmail-remote's recipient and
// message reports into one report per recipient (spec §6.2). At start it
// forgets every remote host's timeout record (lock/tcpto), as qmail 1.03
// does.
//
// When bin/qmail-remote is goqmail's own program (isOurs), qmail-rspawn runs it in-process, as a goroutine under its
// own uid (qmailr, qmail-remote's uid too), with a connection cache
// (smtpout.Pool): the next message to a destination reuses the
// connection of the last one. The report bytes are those an exec'd
// qmail-remote writes. Anything else at bin/qmail-remote (an
// administrator's wrapper that signs with DKIM, say) is exec'd per
// delivery as qmail does, and so is ours when the environment holds
// GOQMAIL_FORCE_EXEC=1 (for tests that compare both paths).
func RMain(ctx *prog.Context) int {
	e, err := newEngine(ctx)
	if err != nil {
		return ctx.Fatal(111, "%v", err)
	}
	if f, err := os.OpenFile(filepath.Join(ctx.Home, "queue", "lock", "tcpto"), os.O_WRONLY, 0); err == nil {
		f.WriteAt(make([]byte, 1024), 0)
		f.Close()
	}
	r := &rspawn{e: e}
	if isOurs(ctx, "qmail-remote") {
		r.pool = smtpout.NewPool()
		defer r.pool.Close()
	}
	return e.serve(r.deliver)
}

type rspawn struct {
	e    *engine
	pool *smtpout.Pool // nil: exec bin/qmail-remote
}

// deliver runs qmail-remote once for every recipient of the command (one
// SMTP transaction when qmail-send batched several recipients at one
// domain) and folds its output into one report per recipient.
func (r *rspawn) deliver(c spawnproto.Command, msg *os.File) []spawnproto.Report {
	rcpts := c.Recipients()
	args := append([]string{addr.Domain(c.Recipient), c.Sender}, rcpts...)
	if r.pool != nil {
		return r.deliverHere(args, msg, len(rcpts))
	}
	home := r.e.ctx.Home
	cmd := exec.Command(filepath.Join(home, "bin", "qmail-remote"), args...)
	cmd.Args[0] = "qmail-remote"
	cmd.Dir = home
	cmd.Env = r.e.ctx.Env
	cmd.Stdin = msg
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	code, crashed, notRun := exitStatus(cmd.Run())
	var same *spawnproto.Report
	switch {
	case notRun:
		same = ptr(z("Unable to run qmail-remote.\n"))
	case crashed:
		same = ptr(z("qmail-remote crashed.\n"))
	case code == 111:
		same = ptr(z("Unable to run qmail-remote.\n"))
	case code != 0:
		same = &spawnproto.Report{Status: 'D', Text: "Unable to run qmail-remote.\n"}
	case out.Len() == 0:
		same = ptr(z("qmail-remote produced no output.\n"))
	}
	reps := make([]spawnproto.Report, len(rcpts))
	for i := range reps {
		if same != nil {
			reps[i] = *same
		}
	}
	if same != nil {
		return reps
	}
	return batchReports(out.Bytes(), len(rcpts))
}

// deliverHere is deliver without exec: smtpout, with the pool, writes
// the bytes an exec'd qmail-remote would. A panic is what a crash of
// qmail-remote would have been, and reported the same way.
func (r *rspawn) deliverHere(args []string, msg *os.File, n int) (reps []spawnproto.Report) {
	defer func() {
		if recover() != nil {
			reps = make([]spawnproto.Report, n)
			for i := range reps {
				reps[i] = z("qmail-remote crashed.\n")
			}
		}
	}()
	var out bytes.Buffer
	ctx := &prog.Context{
		Args: append([]string{"qmail-remote"}, args...), Home: r.e.ctx.Home, Env: r.e.ctx.Env,
		Stdin: msg, Stdout: &out, Stderr: &out,
	}
	(&smtpout.Sender{Pool: r.pool}).Run(ctx)
	return batchReports(out.Bytes(), n)
}

func ptr(r spawnproto.Report) *spawnproto.Report { return &r }

// batchReports splits qmail-remote's output for n recipients: its
// recipient records (r, h, s: one per recipient, in order, possibly
// fewer when it failed early) and its message record (K, Z, D). Each
// recipient's report is what qmail-rspawn makes of a one-recipient run
// with that recipient's record and the message record (remoteReport).
func batchReports(out []byte, n int) []spawnproto.Report {
	var rcpt [][]byte
	var message []byte
	for _, rec := range bytes.Split(out, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		if isMessageStatus(rec[0]) {
			if message == nil {
				message = rec
			}
			continue
		}
		rcpt = append(rcpt, rec)
	}
	reps := make([]spawnproto.Report, n)
	for i := range reps {
		var one []byte
		if i < len(rcpt) {
			one = append(append(one, rcpt[i]...), 0)
		}
		if message != nil {
			one = append(append(one, message...), 0)
		}
		reps[i] = remoteReport(one)
	}
	return reps
}

func rank(s byte) int {
	switch s {
	case 'K':
		return 1
	case 'Z':
		return 0
	}
	return -1
}

func isMessageStatus(s byte) bool { return s == 'K' || s == 'Z' || s == 'D' }

// remoteReport folds qmail-remote's NUL-terminated records as
// qmail-rspawn does.
func remoteReport(out []byte) spawnproto.Report {
	var recs [][]byte
	for _, r := range bytes.Split(out, []byte{0}) {
		if len(r) > 0 {
			recs = append(recs, r)
		}
	}
	if len(recs) == 0 {
		return z("qmail-remote produced no output.\n")
	}
	msg := byte('D')
	for _, r := range recs {
		if isMessageStatus(r[0]) {
			msg = r[0]
			break
		}
	}
	final := msg
	switch recs[0][0] {
	case 's':
		final = 'Z'
	case 'h':
		final = 'D'
	}
	text := append([]byte{}, recs[0][1:]...)
	if rank(msg) <= rank(final) && len(recs) > 1 && isMessageStatus(recs[1][0]) {
		text = append(text, recs[1][1:]...)
	}
	return spawnproto.Report{Status: final, Text: string(text)}
}
