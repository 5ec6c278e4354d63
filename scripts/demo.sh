#!/bin/sh
# The quick start: build goqmail, install it in user mode under this
# checkout (run/), configure it for "localhost", and run qmail-send and
# qmail-smtpd (under tcpserver) on 127.0.0.1:2525 until Ctrl-C.
#
# Nothing outside the checkout is touched and no root is needed. Started
# by root, the install belongs to an unprivileged account ($DEMO_USER,
# default "nobody") and every daemon runs as that account: qmail never
# delivers as root.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
port=${PORT:-2525}
home="$top/run"
bin="$top/build/qmail"

mkdir -p "$top/build"
echo "Building goqmail..."
(cd "$top" && CGO_ENABLED=0 go build -o "$bin" ./cmd/qmail)

user_args=""
if [ "$(id -u)" = 0 ]; then
	user_args="--user ${DEMO_USER:-nobody}"
fi
echo "Installing in user mode into $home ..."
# shellcheck disable=SC2086
"$bin" install --home "$home" --user-mode --config-localhost $user_args
owner=$(stat -c %u "$home")
group=$(stat -c %g "$home")
[ "$owner" != 0 ] || { echo "demo: $home belongs to root; remove it and start again" >&2; exit 1; }

# Connections from 127.0.0.1 are allowed, everyone else is refused.
printf '127.0.0.1:allow\n:deny\n' | "$home/bin/tcprules" "$home/control/tcp.smtp.cdb" "$home/control/tcp.smtp.tmp"

mkdir -p "$home/log"
chown "$owner:$group" "$home/log" 2>/dev/null || true
PATH="$home/bin:$PATH"
export PATH

# setsid keeps Ctrl-C away from the daemons; we stop them ourselves with
# TERM, which lets qmail-send finish its deliveries and save its schedule.
# The logger is tee: qmail-send's log goes to the terminal and to a file.
setsid "$home/bin/qmail-start" ./Maildir/ tee -a "$home/log/current" &
send_pid=$!
# Root hands the sessions to the install's owner; anyone else already is
# that owner, and could not call setgroups for -g.
drop=""
if [ "$(id -u)" = 0 ]; then
	drop="-u $owner -g $group"
fi
# shellcheck disable=SC2086
setsid "$home/bin/tcpserver" -v -R -H -l localhost $drop \
	-x "$home/control/tcp.smtp.cdb" 127.0.0.1 "$port" "$home/bin/qmail-smtpd" 2>>"$home/log/smtpd" &
tcp_pid=$!

stop() {
	trap - HUP INT TERM EXIT PIPE
	# Signal the daemons before printing anything: if our output was a
	# pipe whose reader died with the same Ctrl-C, an echo kills us.
	kill -TERM "$tcp_pid" "$send_pid" 2>/dev/null || true
	echo
	echo "Stopping qmail-smtpd (tcpserver) and qmail-send..."
	wait "$tcp_pid" 2>/dev/null || true
	wait "$send_pid" 2>/dev/null || true
	echo "Stopped. The mail is still in $home/alias/Maildir/new/."
	exit 0
}
trap stop HUP INT TERM EXIT PIPE

sleep 1
cat <<MSG

goqmail is running (user mode, uid $owner):
  SMTP:      127.0.0.1:$port  (qmail-smtpd under tcpserver)
  mail to:   anything@localhost
  lands in:  $home/alias/Maildir/new/
  logs:      $home/log/current (qmail-send), $home/log/smtpd (tcpserver)

Send a test message:
  swaks --server 127.0.0.1:$port --to someone@localhost

qmail-send's log follows. Press Ctrl-C to stop.

MSG
wait "$send_pid" || true
