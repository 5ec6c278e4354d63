#!/bin/bash
# run-goqmail.sh - goqmail for the SMTP-to-Maildir benchmarks, the counterpart of
# ../shared/bench/run-postfix.sh (same workloads, same port, same settings).
#
#   run-goqmail.sh setup      build build/qmail, install it in ROOT mode into $QHOME
#                             (default /var/qmail-bench), configure it like the Postfix
#                             baseline, create the benchmark users (workloads.sh setup-users)
#   run-goqmail.sh start|stop|status
#   run-goqmail.sh bench [RUNS] [WORKLOAD...]   start goqmail, run workloads.sh against it,
#                                               stop it (default: 3 runs of W1 W3L500 W3L5000)
#   run-goqmail.sh qempty     exit 0 iff queue/todo and queue/info/* hold no file
#   run-goqmail.sh pids       print the PIDs of qmail-send and tcpserver (for procacct.py)
#
# Settings (as the Postfix baseline): me = bench.local; locals and rcpthosts = bench.local,
# localhost; concurrencylocal = concurrencyremote = 100; defaultdelivery ./Maildir/;
# tcp.smtp allows 127.0.0.1 with RELAYCLIENT; smtproutes send remote.test and .remote.test
# to the sink on 127.0.0.1:2600 (W2, W3R5000: relayed by qmail-remote).
# qmail-send logs to $QHOME/log/current (written by the logger as qmaill), tcpserver -v
# to $QHOME/log/smtpd.  Needs root, Go, python3, bc and Debian's postfix package (for
# smtp-source).  Stop any other MTA on port $PORT first.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$REPO/../shared/bench}
QHOME=${QHOME:-/var/qmail-bench}
PORT=${PORT:-2525}
SINK=${SINK:-127.0.0.1:2600}
BIN=$REPO/build/qmail
RUNDIR=$QHOME/log

die() { echo "run-goqmail.sh: $*" >&2; exit 1; }

case "$QHOME" in
  /var/qmail | /var/qmail/) die "refusing to use /var/qmail; choose another QHOME" ;;
  /*) ;;
  *) die "QHOME must be an absolute path" ;;
esac

setup() {
  [ "$(id -u)" = 0 ] || die "setup must run as root (root-mode install)"
  echo "building $BIN"
  (cd "$REPO" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/qmail)
  "$BIN" install --home "$QHOME"
  local c=$QHOME/control
  echo bench.local >"$c/me"
  printf 'bench.local\nlocalhost\n' >"$c/locals"
  printf 'bench.local\nlocalhost\n' >"$c/rcpthosts"
  echo 100 >"$c/concurrencylocal"
  echo 100 >"$c/concurrencyremote"
  echo ./Maildir/ >"$c/defaultdelivery"
  printf 'remote.test:%s\n.remote.test:%s\n' "$SINK" "$SINK" >"$c/smtproutes"
  printf '127.0.0.1:allow,RELAYCLIENT=""\n:deny\n' >"$c/tcp.smtp"
  (cd "$c" && chmod 644 me locals rcpthosts concurrencylocal concurrencyremote \
    defaultdelivery smtproutes tcp.smtp)
  "$QHOME/bin/tcprules" "$c/tcp.smtp.cdb" "$c/tcp.smtp.tmp" <"$c/tcp.smtp"
  mkdir -p "$RUNDIR"
  chown qmaill:nofiles "$RUNDIR"
  chmod 755 "$RUNDIR"
  "$SHARED/workloads.sh" setup-users
  "$QHOME/bin/instcheck" || echo "run-goqmail.sh: instcheck complained (see above)" >&2
  echo "goqmail configured in $QHOME: qmail-smtpd on 127.0.0.1:$PORT, remote.test -> $SINK"
}

# update builds the checkout again and reinstalls bin/ (install keeps the
# control files, the queue and the users), so a bench measures the code as
# it is now, not the build of the first setup.
update() {
  [ "$(id -u)" = 0 ] || die "update must run as root"
  echo "building $BIN"
  (cd "$REPO" && CGO_ENABLED=0 go build -o "$BIN" ./cmd/qmail)
  "$BIN" install --home "$QHOME" >/dev/null
}

pidof_file() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null && cat "$1"; }
send_pid() { pidof_file "$RUNDIR/send.pid"; }
tcp_pid() { pidof_file "$RUNDIR/tcpserver.pid"; }

start() {
  [ "$(id -u)" = 0 ] || die "start must run as root"
  [ -x "$QHOME/bin/qmail-start" ] || die "$QHOME is not installed; run: $0 setup"
  if send_pid >/dev/null || tcp_pid >/dev/null; then echo "goqmail already running"; status; return 0; fi
  if ss -ltnH "sport = :$PORT" | grep -q .; then die "port $PORT is already in use: $(ss -ltnpH "sport = :$PORT")"; fi
  local path="$QHOME/bin:/usr/local/bin:/usr/bin:/bin"
  local dd; dd=$(head -n 1 "$QHOME/control/defaultdelivery")
  # qmail-start becomes qmail-send (same PID); the logger runs as qmaill and appends to a file.
  setsid env - PATH="$path" "$QHOME/bin/qmail-start" "$dd" \
    /bin/sh -c "exec cat >>$RUNDIR/current" </dev/null >/dev/null 2>>"$RUNDIR/start.err" &
  echo $! >"$RUNDIR/send.pid"
  setsid env - PATH="$path" "$QHOME/bin/tcpserver" -v -R -H -l bench.local -c 200 \
    -u "$(id -u qmaild)" -g "$(getent group nofiles | cut -d: -f3)" \
    -x "$QHOME/control/tcp.smtp.cdb" 127.0.0.1 "$PORT" "$QHOME/bin/qmail-smtpd" \
    </dev/null >/dev/null 2>>"$RUNDIR/smtpd" &
  echo $! >"$RUNDIR/tcpserver.pid"
  local i
  for ((i = 0; i < 50; i++)); do
    ss -ltnH "sport = :$PORT" | grep -q . && break
    sleep 0.1
  done
  sleep 0.5
  status || die "goqmail did not start: $(tail -3 "$RUNDIR/start.err" "$RUNDIR/smtpd" 2>/dev/null)"
}

stop() {
  local p pids=""
  for p in $(tcp_pid) $(send_pid); do pids="$pids $p"; done
  [ -n "$pids" ] || { echo "goqmail not running"; return 0; }
  # TERM: tcpserver stops accepting; qmail-send finishes its deliveries and exits.
  kill -TERM $pids 2>/dev/null || true
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 $pids 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 $pids 2>/dev/null; then
    echo "run-goqmail.sh: still running after 20 s, killing:$pids" >&2
    kill -KILL $pids 2>/dev/null || true
  fi
  rm -f "$RUNDIR/send.pid" "$RUNDIR/tcpserver.pid"
  echo "goqmail stopped"
}

status() {
  local s t
  s=$(send_pid) || s=""
  t=$(tcp_pid) || t=""
  echo "qmail-send: ${s:-not running}; tcpserver: ${t:-not running}"
  [ -n "$s" ] && [ -n "$t" ]
}

# exits 0 iff nothing is queued: no todo entry and no info file (cheap: no qmail-qstat).
qempty() { [ -z "$(find "$QHOME/queue/todo" "$QHOME/queue/info" -type f -print -quit 2>/dev/null)" ]; }
pids() { send_pid || true; tcp_pid || true; }

case "${1:-}" in
  setup) setup ;;
  update) update ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  qempty) qempty ;;
  pids) pids ;;
  bench)
    shift
    RUNS=${1:-3}; shift || true
    [ $# -gt 0 ] || set -- W1 W3L500 W3L5000
    start
    rc=0
    "$SHARED/workloads.sh" -s 127.0.0.1:$PORT -l goqmail -n "$RUNS" -S "$SINK" \
      -q "$HERE/run-goqmail.sh qempty" -Q "$QHOME/bin/qmail-qstat" \
      -p "$HERE/run-goqmail.sh pids" ${BENCH_ARGS:-} "$@" || rc=$?
    stop
    exit $rc ;;
  *) echo "usage: $0 setup|update|start|stop|status|bench [RUNS] [WORKLOAD...]" >&2; exit 2 ;;
esac
