// Package tcpserver is ucspi-tcp 0.88 for goqmail: the programs
// tcpserver, tcprules and tcprulescheck, and qmail's tcp-env (spec §19,
// §17). The rules logic (compiling a rules file into cdb records and the
// order in which a connection's keys are looked up) sits in rules.go and
// rulesdata.go, apart from the programs, so that other listeners can
// reuse it.
//
// Each program is a function of its prog.Context. tcpserver is a
// long-running program; its state lives in a server value, never in
// package variables.
package tcpserver
