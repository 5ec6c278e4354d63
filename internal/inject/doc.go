// Package inject is qmail's local mail submission family: qmail-inject
// (qmail-spec §13), the sendmail compatibility wrapper with its mailq and
// newaliases names (§14), and the helpers predate, datemail and mailsubj
// (§17).
//
// qmail-inject reads a message on stdin, fixes its header (addresses
// completed with defaulthost, defaultdomain and plusdomain; Date,
// Message-ID and From added; Bcc, Return-Path and Content-Length
// removed) and hands it to qmail-queue through internal/qq (QMAILQUEUE is
// honoured). The header tokenising and address rewriting live in the
// vocabulary package internal/rfc822.
//
// Decisions where qmail's documentation is silent (each is what a qmail
// administrator would expect, and bounded where qmail was not):
//   - The header is held in memory and limited to MaxHeader bytes; a
//     longer header is refused (exit 100) before qmail-queue is started,
//     so nothing is queued. The body is streamed and not limited here
//     (qmail-queue and databytes limit it).
//   - A NUL byte in the header is refused (exit 100): it can only be an
//     attempt to smuggle something into an envelope address. NULs in the
//     body pass unchanged, as in qmail.
//   - At most MaxRecipients envelope recipients (Postfix's
//     extract_recipient_limit); more is refused (exit 100).
//   - A body whose last line has no newline gets one, like the header.
//   - Empty addresses (a header "Cc: @") are printed but never become
//     envelope recipients.
//   - sendmail -q[time] exits 0 at once without reading stdin: qmail-send
//     runs its queue by itself (send it ALRM to retry now), and a cron job
//     calling "sendmail -q" must not hang or send an empty message.
//   - sendmail -f user@host also sets QMAILUSER and QMAILHOST and unsets
//     the name variables (netqmail 1.04's change, which every current
//     qmail carries), so the From header matches the envelope sender; -F
//     still sets the name afterwards.
package inject
