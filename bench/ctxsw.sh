#!/bin/bash
# ctxsw.sh - context switches per message of each goqmail daemon over one workload run.
#
#   sudo bench/ctxsw.sh [MESSAGES] [WORKLOAD]     (default: 6000 W1)
#
# Starts the bench install (run-goqmail.sh start), sums the voluntary and involuntary
# context switches of every thread of qmail-send, qmail-lspawn, qmail-rspawn, qmail-clean
# and tcpserver (from /proc/PID/task/*/status) before and after one run of workloads.sh,
# and prints msg/s and the switches per message of each. qmail-queue's workers start
# during the run and are not counted. Why: under load the machine is CPU-bound and
# much of that is the scheduler's (bench/README.md, "Last results measured here").
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
SHARED=${SHARED:-$HERE/../../shared/bench}
N=${1:-6000}
W=${2:-W1}
[ "$(id -u)" = 0 ] || { echo "ctxsw.sh: must run as root" >&2; exit 1; }
switches() {
  local p
  for p in $(pgrep -x 'qmail-send|qmail-lspawn|qmail-rspawn|qmail-clean|tcpserver'); do
    printf '%s %s\n' "$(cat "/proc/$p/comm")" \
      "$(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/{s+=$2} END{print s+0}')"
  done | sort
}
"$HERE/run-goqmail.sh" start >/dev/null
trap '"$HERE/run-goqmail.sh" stop >/dev/null' EXIT
before=$(switches)
"$SHARED/workloads.sh" -s 127.0.0.1:2525 -l goqmail -n 1 -S 127.0.0.1:2600 \
  -q "$HERE/run-goqmail.sh qempty" -m "$N" "$W" 2>&1 | awk -F'\t' -v w="$W" '$3 == w {print "msg/s " $10}'
after=$(switches)
join <(echo "$before") <(echo "$after") | awk -v n="$N" '{printf "%-13s %.1f switches per message\n", $1, ($3 - $2) / n}'
