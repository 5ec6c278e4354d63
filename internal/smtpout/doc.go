// Package smtpout is qmail-remote's SMTP client (spec §9, §10): it sends
// one message over SMTP to one domain's mail exchanger (or its
// smtproutes relay) and writes qmail-remote's report, one NUL-terminated
// record per recipient (r accepted, h refused for good, s refused for
// now) and one for the message (K, Z, D). It is vocabulary, not a
// program: the qmail-remote program (package remote) runs it once per
// process, and qmail-rspawn runs it in-process with a Pool, which keeps
// the connection of a finished transaction for the next message to the
// same destination (see pool.go). The report bytes are the same either
// way.
//
// Where goqmail departs from qmail 1.03, and why:
//
//   - EHLO, falling back to HELO when the peer answers EHLO with 5xx:
//     STARTTLS and AUTH need EHLO, and every current MTA speaks it. The
//     HELO failure text is qmail's ("my name was rejected") for both.
//   - No CNAME rewriting of recipient domains (RFC 5321 §5.1; notqmail
//     dropped it too). So the "CNAME lookup failed" deferral and the
//     500000 prefme of an all-CNAME delivery do not exist.
//   - IPv6: MX targets contribute their A records, then their AAAA
//     records (IPv4 first: mail servers' IPv6 reputation and routing is
//     still the less reliable one), [IPv6:...] literals work, and ipme
//     holds every address of every interface that is up, IPv6 included,
//     plus 0.0.0.0 and ::. tcpto keeps qmail's 16-byte IPv4 records, so
//     IPv6 peers are never skipped as recently dead.
//   - Line ends: the queue stores LF line ends. A bare CR, which qmail
//     1.03 sent as it was, is a line end too, and a stored CR LF is one
//     line end; every resulting line is then dot-stuffed, so the wire
//     carries only CRLF and the only CRLF.CRLF is the terminator
//     (hardening.md §1.6). A line that starts with NUL is dot-stuffed as
//     well, so a receiver that drops NULs cannot see an early end either.
//     A last line without LF is sent terminated (§24 item 5: qmail lost it).
//   - 8-bit bodies are sent as they are, without BODY=8BITMIME, to every
//     peer, as qmail does.
//   - A reply whose first line does not start with three digits counts as
//     code 400: a temporary failure at every stage, never a success. A
//     reply must be complete within timeoutremote (qmail: each read).
//   - Envelope addresses holding NUL, CR or LF are refused (D) rather
//     than written into an SMTP command.
//   - Null MX (RFC 7505, a single MX "."): bounced at once.
//   - STARTTLS per control/tlsdestinations, AUTH to a smart host per
//     control/remoteauth: see tls.go and auth.go.
//
// DNS goes through the Resolver interface; the system implementation
// (miekg/dns) reads /etc/resolv.conf, so that tests and network
// namespaces (ip netns exec, /etc/netns/NAME/resolv.conf) choose the
// server.
package smtpout
