package main

import (
	"goqmail/internal/admin"
	"goqmail/internal/clean"
	"goqmail/internal/deliverhelp"
	"goqmail/internal/inject"
	"goqmail/internal/local"
	"goqmail/internal/prog"
	"goqmail/internal/qmqp"
	"goqmail/internal/queue"
	"goqmail/internal/remote"
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
	"qmail-remote": {remote.Main, "send one message by SMTP: qmail-remote host sender recip..."},
	"qmail-tcpto":  {remote.TcptoMain, "list the remote hosts that timed out recently"},
	"qmail-tcpok":  {remote.TcpokMain, "forget every remote host's timeouts"},
	"qmail-inject": {inject.Main, "fix a message's header and queue it: qmail-inject [-nNaAhH] [-fsender] [recip...]"},
	"sendmail":     {inject.Sendmail, "sendmail interface: sendmail [-t] [-fsender] [-Fname] [-bp] [-bs] [arg...]"},
	"mailq":        {inject.Sendmail, "list the queue (sendmail -bp)"},
	"newaliases":   {inject.Sendmail, "refuses: qmail has no aliases database (use fastforward)"},
	"predate":      {inject.Predate, "run a program with a local-time Date field on top of stdin: predate child"},
	"datemail":     {inject.Datemail, "sendmail with a local-time Date field: datemail [sendmail args]"},
	"mailsubj":     {inject.Mailsubj, "send stdin with a subject: mailsubj subject recip..."},
	"qmail-qmqpc":  {qmqp.Client, "qmail-queue replacement sending to control/qmqpservers by QMQP"},
	"qmail-qmqpd":  {qmqp.Qmqpd, "receive one message by QMQP on stdin/stdout (run by tcpserver)"},
	"qmail-qmtpd":  {qmqp.Qmtpd, "receive mail by QMTP on stdin/stdout (run by tcpserver)"},

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
	"qreceipt":     {deliverhelp.Qreceipt, "send a delivery notice if the message asks for one: qreceipt address"},
	"maildir2mbox": {deliverhelp.Maildir2mbox, "move the messages of $MAILDIR into the mbox $MAIL (through $MAILTMP)"},
	"maildirwatch": {deliverhelp.Maildirwatch, "show a summary of the mail in $MAILDIR every 30 seconds"},

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
