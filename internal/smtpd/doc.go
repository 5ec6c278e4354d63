// Package smtpd is qmail-smtpd: it receives mail by SMTP on its standard
// input and output (a socket under tcpserver) and hands each message to
// qmail-queue, reply for reply as qmail 1.03 does (spec §11, §24).
//
// The shape: one Conn per session holding the session and transaction
// state, a loop that reads one bounded command line at a time and
// dispatches on the verb to one method per command, and one buffered
// writer for every reply. Replies to MAIL, RCPT and RSET stay in the
// buffer (PIPELINING); the buffer is flushed before every read from the
// network, as qmail's saferead does, and after every other command.
//
// Where qmail 1.03 is silent, or where it is unsafe in Go, this package
// decides as follows. Each decision is what a qmail administrator would
// expect from a qmail that cannot be smuggled or crashed, and keeps every
// reply an existing log watcher knows.
//
//   - No control/rcpthosts: qmail 1.03 accepts every recipient domain (an
//     open relay, documented in qmail-smtpd(8)). We keep that, because a
//     drop-in replacement must not start refusing mail a site receives
//     today, but print a loud warning on stderr (the smtpd log) at the
//     start of every session, so nobody runs an open relay unknowingly.
//   - DATA ends only at <CR><LF>.<CR><LF>. A bare LF anywhere in DATA gets
//     qmail's "451 See http://pobox.com/~djb/docs/smtplf.html." (1.03's
//     text, not notqmail's newer URL) and the connection is dropped.
//   - A bare CR (a CR not followed by LF) anywhere in DATA is stricter than
//     qmail, which stored it: we read on to the real end of DATA, so the
//     session stays in step with the client, queue nothing and reply
//     "554 bare CR in message (#5.6.2)". A queued bare CR is how a later
//     hop can be smuggled (hardening.md finding 3 and 4). This supersedes
//     §24 item 2 (".\rX" kept its dot in 1.03; now it is refused).
//   - When a message fails more than one way, the reply is chosen in this
//     order: bare CR, too many hops, databytes, then qmail-queue's verdict.
//   - A command line may hold at most MaxCommandLine bytes, its CR LF
//     included (qmail had no limit and would grow without bound). A longer
//     line is read on to its LF and thrown away, in constant memory, and
//     answered "500 line too long (#5.5.2)"; the session goes on.
//   - Command lines may end in a bare LF (qmail reads up to LF and strips
//     one CR): this is not a smuggling risk because the DATA end is strict.
//   - A NUL anywhere in a command line gets "555 syntax error (#5.5.4)" and
//     the command is not run (qmail cut the line at the NUL, so
//     "MAIL FROM:<a\0b@c>" silently became "a"; in Go the NUL would
//     survive into qmail-queue's NUL-separated envelope). A CR inside an
//     address also gets 555; a CR in a HELO argument is kept and shows up
//     as '?' in the Received line, as in qmail (§24 item 3).
//   - An address literal "[d.d.d.d]" is rewritten to localiphost only if it
//     is a strict dotted quad of decimal octets 0-255 naming one of this
//     host's interface addresses; qmail let octets wrap ("[127.0.0.257]"
//     meant 127.0.0.1). The interface list is read when the first literal
//     needs it, not at every connection; failing to read it gives qmail's
//     "421 unable to figure out my IP addresses (#4.3.0)".
//   - DATABYTES in the environment: empty means no limit (as in qmail), a
//     decimal number is the limit, anything else ("10M", "abc") is a
//     configuration error, answered like a malformed control/databytes
//     with "421 unable to read controls (#4.3.0)" and the reason on
//     stderr; qmail silently used the digits it found.
//   - Timeouts (control/timeoutsmtpd) apply to every read and every write.
//     When the standard streams take deadlines (sockets and pipes the Go
//     runtime polls, net.Conn) they are used; otherwise each read or write
//     runs under a timer, and a timed-out read leaves one goroutine waiting
//     on the stream until its owner closes it.
//   - Exit codes: 0 after QUIT, 1 for everything else (EOF, read or write
//     errors, timeouts, a bare LF, a 421), as qmail's _exit(1).
package smtpd
