// Package qmqp is qmail's netstring mail protocols (qmail-spec §12):
// qmail-qmqpd (QMQP server, one message per connection), qmail-qmtpd
// (QMTP server, many messages per connection) — both run by tcpserver
// like qmail-smtpd — and qmail-qmqpc, the drop-in qmail-queue replacement
// of a mini-qmail host, which sends every message to the first working
// server of control/qmqpservers.
//
// Decisions where qmail is silent or unsafe:
//   - Netstring lengths are digits only and capped before anything is
//     read into memory (hardening §2.7). Messages are streamed to
//     qmail-queue; addresses are read at most 1000 bytes at a time. A
//     malformed netstring ends the session with exit 100 (qmail's
//     protocol-error code) and a line on stderr; a length over the cap
//     (200 000 000 bytes, qmail 1.03's "resources" limit; 10 MB for a
//     QMTP recipient list) ends it with exit 111. Either way qmail-queue
//     is never given the envelope, so nothing is queued.
//   - An address holding NUL, CR or LF is refused like an over-long one
//     (QMQP: "Dsorry, I can't accept addresses like that (#5.1.3)";
//     QMTP: "Dsorry, I can't handle that recipient (#5.1.3)" or
//     "Dunacceptable sender (#5.1.7)").
//   - QMTP per-recipient answers, in priority order: the databytes
//     refusal, the sender refusal, the recipient's own refusal, then the
//     shared qmail-queue result.
//   - control/qmqpservers lines may name a port, "IP:PORT" or
//     "[IPv6]:PORT" (a goqmail extension, for tests and for servers on
//     another port); a bare IPv4 or IPv6 address means port 628 as in
//     qmail. Lines that are neither are skipped, as qmail skips non-IP
//     lines.
package qmqp
