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
//   - Timeouts (control/timeoutsmtpd) apply to every read and every write,
//     and also to each whole command line, from the moment the session
//     waits for it: a client sending one byte every few seconds (qmail
//     let it hold a process for ever, a byte per 1199 seconds) gets
//     "451 timeout (#4.4.2)" once the line has taken timeoutsmtpd. In
//     DATA only each read is bounded, as in qmail: a big message on a
//     slow link must get through, and databytes bounds its length.
//     When the standard streams take deadlines (sockets and pipes the Go
//     runtime polls, net.Conn) they are used; otherwise each read or write
//     runs under a timer, and a timed-out read leaves one goroutine waiting
//     on the stream until its owner closes it.
//   - Exit codes: 0 after QUIT, 1 for everything else (EOF, read or write
//     errors, timeouts, a bare LF, a 421), as qmail's _exit(1).
//
// Beyond qmail 1.03. Each part is off unless its switch is set, and with
// every switch off the replies are qmail 1.03's, byte for byte.
//
//   - STARTTLS: announced when control/servercert.pem (certificate chain
//     and private key in one PEM file, as the qmail-tls patch keeps it)
//     exists and the session is not under TLS already. The file is read
//     at STARTTLS, so a renewed certificate needs no restart; a broken
//     one gets "454 TLS not available due to temporary reason (#4.3.0)"
//     and a warning. "220 ready to start TLS", then everything the client
//     sent after STARTTLS before the handshake is thrown away (the
//     CVE-2011-0411 injection), and the session starts over: no HELO, no
//     transaction, no AUTH. TLS session tickets are off (Outlook.com fails
//     on resumption); Go's defaults choose versions (TLS 1.2 and later)
//     and ciphers; control/tlsserverciphers (an OpenSSL cipher string) is
//     not read. STARTTLS with a parameter gets 501, a second STARTTLS or
//     one inside a transaction 503. Under tcpserver descriptor 0 is the
//     socket; on pipes STARTTLS gets the 454. The Received line says
//     "with (CIPHER encrypted) SMTP" as the qmail-tls patch writes it.
//   - SMTPS (port 465): $SMTPS set (tcpserver's rules or env) means TLS
//     from the first byte, before the greeting; no certificate ends the
//     session at once with a warning.
//   - AUTH PLAIN and LOGIN, with the smtp-auth patch's command line:
//     "qmail-smtpd hostname checkpassword-program subprogram...". The
//     checkpassword program gets "user\0password\0\0" on descriptor 3
//     (the third field, CRAM-MD5's challenge, stays empty, as the patch
//     does for PLAIN and LOGIN, so a CRAM-aware checker never takes a
//     password for a digest); exit 0 accepts, 1 refuses, anything else
//     (or no exit within timeoutsmtpd) is "454 temporary authentication
//     failure (#4.3.0)". AUTH is offered only under TLS: before it the
//     answer is "538 auth not available without TLS (#5.3.3)", unless
//     $FORCETLS is "0" (sagredo's variable; set it in tcprules for a
//     trusted network only). Without checkpassword arguments AUTH is
//     qmail's "502 unimplemented (#5.5.1)". A success ("235 ok, go ahead
//     (#2.0.0)") makes the client relay as with RELAYCLIENT="" (a
//     RELAYCLIENT already set keeps its suffix); the user name shows in
//     the Received line as "(user@ip)", qmail's place for TCPREMOTEINFO,
//     and qmail-queue (and a $QMAILQUEUE filter) runs with TCPREMOTEINFO
//     set to it. A failure is "535 authentication failed (#5.7.1)" after
//     a 2-second pause, the same for an unknown user and a bad password;
//     the fifth failure in a session gets "421 too many authentication
//     failures (#4.7.0)" and the end of the session. An authorization
//     identity other than the user is refused (535); a NUL beyond PLAIN's
//     two, a control byte in the user name, a field over 512 bytes or bad
//     base64 get "501 malformed auth input (#5.5.4)"; "*" gets "501 auth
//     exchange cancelled (#5.0.0)". AUTH is refused during a transaction
//     and once authenticated (503, the patch's texts).
//   - SIZE: announced as "SIZE n" when databytes (or $DATABYTES) is set;
//     a MAIL SIZE= above it gets the databytes 552 at once, a malformed
//     one "501 malformed SIZE parameter (#5.5.4)". Without databytes SIZE
//     is neither announced nor checked, as in qmail.
//   - control/enhancedstatuscodes (nonzero): ENHANCEDSTATUSCODES is
//     announced, and after EHLO every 2xx/4xx/5xx reply but EHLO's and
//     HELO's starts with an RFC 2034 code: the "(#x.y.z)" qmail already
//     writes at the end of the text (kept there for log watchers), or
//     x.0.0 when the text has none.
//   - control/smtputf8 (nonzero): SMTPUTF8 is announced; an address with
//     8-bit bytes then needs the SMTPUTF8 parameter on MAIL and must be
//     valid UTF-8, else "553 ... (#5.6.7)". Without the file, 8-bit
//     addresses pass unchecked, as in qmail.
//   - control/maxrcpt (a number; 0 = no limit, as qmail; without the
//     file 100000, so that no client can grow a session's memory without
//     bound, hardening.md G7): recipients beyond it get "452 sorry, too
//     many recipients (#4.5.3)" (RFC 5321 §4.5.3.1.10), and the message
//     goes to those accepted.
//   - control/rcptcheck (a number, 0 = off, the default, as qmail): a
//     recipient that is local after qmail-send's rewriting (locals,
//     percenthack, virtualdomains) and for which local delivery would
//     find no mailbox (users/cdb, the password file as qmail-getpw reads
//     it, qmail-local's .qmail search) gets "550 sorry, no mailbox here
//     by that name. (#5.1.1)", qmail-local's bounce text, so no bounce
//     is ever made for it. Relaying clients are checked too. Whatever
//     cannot be checked (an unreadable home, .qmail, users/cdb or
//     password file, a missing alias user) is accepted: package
//     rcptcheck says how. Controls it cannot read switch the check off
//     with a warning rather than refuse mail; a malformed rcptcheck is a
//     421, as for every other number file.
package smtpd
