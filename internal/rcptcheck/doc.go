// Package rcptcheck decides at RCPT time whether a local recipient has a
// mailbox, with the lookup local delivery makes (qmail-send's rewriting,
// qmail-lspawn's users/cdb, qmail-getpw, qmail-local's .qmail search), so
// that qmail-smtpd can refuse an unknown recipient with 550 instead of
// accepting the message and bouncing it later (backscatter).
//
// The one rule above all others: when a check cannot be made, the address
// exists. Only a lookup that ran to its end and found that qmail-local
// would answer "Sorry, no mailbox here by that name. (#5.1.1)" makes an
// address unknown. Everything else is accepted and left to delivery, as
// qmail 1.03 does for every address: a remote address (not local after
// rewriting), an empty local part (qmail-lspawn's trash address), an
// unreadable users/cdb or password file, no alias user (a deferral, not a
// bounce), a home directory or .qmail file that the checking account
// cannot see into (qmail-smtpd runs as qmaild, qmail-local as the user),
// and a user entry with an empty dash (qmail-local then uses the default
// delivery).
package rcptcheck
