package main

import (
	"goqmail/internal/admin"
	"goqmail/internal/clean"
	"goqmail/internal/deliverhelp"
	"goqmail/internal/local"
	"goqmail/internal/prog"
	"goqmail/internal/queue"
	"goqmail/internal/send"
	"goqmail/internal/smtpd"
	"goqmail/internal/spawn"
	"goqmail/internal/splogger"
	"goqmail/internal/start"
	"goqmail/internal/tcpserver"
	"goqmail/internal/users"
)

// setuidQueue is what a setuid copy runs.
var setuidQueue prog.Main = queue.Main

// programs maps each program name to its entry point. Keep it sorted.
var programs = map[string]entry{
	// programs: one line per program; helpers add theirs here.
	"splogger":    {splogger.Main, "send lines from stdin to syslog: splogger [tag [facility]]"},
	"qmail-qfsck": {admin.Qfsck, "check the queue for inconsistencies; -f repairs them: qmail-qfsck [-f]"},

	"tcpserver":     {tcpserver.Tcpserver, "accept TCP connections and run a program for each: tcpserver [opts] host port prog"},
	"tcprules":      {tcpserver.Tcprules, "compile tcpserver rules from stdin: tcprules rules.cdb rules.tmp"},
	"tcprulescheck": {tcpserver.Tcprulescheck, "show the rule tcpserver applies for $TCPREMOTEIP: tcprulescheck rules.cdb"},
	"tcp-env":       {tcpserver.TcpEnv, "set the TCP* variables from the socket on fd 0, then run a program"},

	"qmail-smtpd": {smtpd.Main, "receive mail by SMTP on stdin/stdout (run by tcpserver)"},

	"qmail-local":  {local.Main, "deliver one message to one local address by its .qmail file"},
	"maildirmake":  {deliverhelp.Maildirmake, "make a Maildir: maildirmake dir"},
	"preline":      {deliverhelp.Preline, "run a program with the From_, Return-Path and Delivered-To lines on top"},
	"forward":      {deliverhelp.Forward, "forward the message to addresses (in .qmail: |forward addr...)"},
	"condredirect": {deliverhelp.Condredirect, "forward to an address if a program exits 0: condredirect addr prog"},
	"bouncesaying": {deliverhelp.Bouncesaying, "bounce with a text, if a program exits 0: bouncesaying text [prog]"},
	"except":       {deliverhelp.Except, "run a program and turn its success into a bounce"},

	"qmail-newmrh":  {admin.Newmrh, "compile control/morercpthosts into control/morercpthosts.cdb"},
	"qmail-qread":   {admin.Qread, "list the messages in the queue and their recipients"},
	"qmail-qstat":   {admin.Qstat, "count the messages in the queue"},
	"qmail-showctl": {admin.Showctl, "show the compiled settings and what every control file says"},

	"qmail-clean":  {clean.Main, "remove queue files for qmail-send (run by qmail-start)"},
	"qmail-lspawn": {spawn.LMain, "run local deliveries for qmail-send (run by qmail-start)"},
	"qmail-rspawn": {spawn.RMain, "run remote deliveries for qmail-send (run by qmail-start)"},
	"qmail-send":   {send.Main, "schedule deliveries, retries and bounces (run by qmail-start)"},
	"qmail-start":  {start.Main, "start qmail-send and its helpers: qmail-start [defaultdelivery [logger args]]"},
	"qmail-getpw":  {users.GetpwMain, "give addresses to users: print the user who controls a local address"},
	"qmail-newu":   {users.NewuMain, "compile users/assign into users/cdb"},
	"qmail-pw2u":   {users.Pw2uMain, "build users/assign from a passwd file on stdin"},
	"qmail-queue":  {queue.Main, "put a message into the queue (message on fd 0, envelope on fd 1)"},
}
