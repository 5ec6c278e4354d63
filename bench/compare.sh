#!/bin/bash
# compare.sh - goqmail beside Postfix on this machine: the same workloads against each,
# one MTA after the other (never both at once), then a table of medians and ratios.
#
#   bench/compare.sh [RUNS] [WORKLOAD...]     (default: 3 runs of W1 W3L500 W3L5000)
#
# The MTAs take turns: Postfix's first run of every workload, goqmail's first, Postfix's
# second, and so on, each MTA started afresh for its turn. This machine drifts by a third
# in minutes (both MTAs' CPU per message moved in one series, in opposite directions), and
# turns put the two sides of each ratio in the same minutes; the table then also gives the
# median of the per-turn ratios. SEQUENTIAL=1 runs all of Postfix's runs first, then all
# of goqmail's, as before 2026-12-02 13:50 UTC.
#
# Environment: BENCH_ARGS is passed to workloads.sh before the workloads (e.g.
# BENCH_ARGS="-m 500" for a quick check with 500 messages instead of 20000); QHOME is
# goqmail's bench home (default /var/qmail-bench); ONLY=postfix or ONLY=goqmail runs one.
# Installs Debian's postfix package if it is missing (it brings smtp-source/smtp-sink),
# configures it with ../shared/bench/run-postfix.sh setup, installs goqmail with
# bench/run-goqmail.sh setup, and writes everything under bench-results/DATE/ (runs.tsv,
# summary.txt, table.txt, logs).  Must run as root.  Remote workloads (W2, W3R5000) relay
# through qmail-remote to smtp-sink on 127.0.0.1:2600; an older bench install without
# qmail-remote is set up again first.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED=${SHARED:-$REPO/../shared/bench}
QHOME=${QHOME:-/var/qmail-bench}
export QHOME

die() { echo "compare.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root"

RUNS=${1:-3}; shift || true
case "$RUNS" in '' | *[!0-9]*) die "RUNS must be a number, not $RUNS" ;; esac
[ $# -gt 0 ] || set -- W1 W3L500 W3L5000

cd "$REPO"
OUTDIR=$REPO/bench-results/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$OUTDIR"
export BENCH_OUT=$OUTDIR LOGDIR=$OUTDIR/postfix-logs

if ! command -v postconf >/dev/null || ! command -v smtp-source >/dev/null; then
  echo "compare.sh: installing postfix (local only)"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y postfix >"$OUTDIR/apt.log" 2>&1 ||
    die "apt-get install postfix failed: $(tail -3 "$OUTDIR/apt.log")"
fi

# Neither MTA may run while the other is measured.
"$HERE/run-goqmail.sh" stop >/dev/null 2>&1 || true
postfix stop >/dev/null 2>&1 || true

# One MTA's runs: postfix_runs N and goqmail_runs N run every workload N times.
postfix_runs() {
  # shellcheck disable=SC2086 # BENCH_ARGS is a list of options
  PORT=2525 "$SHARED/run-postfix.sh" bench "$1" ${BENCH_ARGS:-} "${WORKLOADS[@]}" ||
    echo "compare.sh: the Postfix run failed (exit $?)" >&2
  postfix stop >/dev/null 2>&1 || true
}
goqmail_runs() {
  "$HERE/run-goqmail.sh" bench "$1" "${WORKLOADS[@]}" || echo "compare.sh: the goqmail run failed (exit $?)" >&2
  "$HERE/run-goqmail.sh" stop >/dev/null 2>&1 || true
}
WORKLOADS=("$@")

if [ "${ONLY:-postfix}" = postfix ]; then
  # Debian's "No configuration" leaves no main.cf; postconf -e needs one to edit.
  [ -f /etc/postfix/main.cf ] || cp /usr/share/postfix/main.cf.debian /etc/postfix/main.cf
  "$SHARED/run-postfix.sh" setup
fi
if [ "${ONLY:-goqmail}" = goqmail ]; then
  # An install made before qmail-remote existed lacks it: set it up again.
  # Otherwise build and reinstall bin/, so the run measures this checkout.
  if [ -x "$QHOME/bin/qmail-start" ] && [ -e "$QHOME/bin/qmail-remote" ]; then
    "$HERE/run-goqmail.sh" update
  else
    "$HERE/run-goqmail.sh" setup
  fi
fi
if [ -n "${SEQUENTIAL:-}" ] || [ -n "${ONLY:-}" ]; then
  [ "${ONLY:-postfix}" = postfix ] && postfix_runs "$RUNS"
  [ "${ONLY:-goqmail}" = goqmail ] && goqmail_runs "$RUNS"
else
  for ((turn = 1; turn <= RUNS; turn++)); do
    postfix_runs 1
    goqmail_runs 1
  done
fi

# Table: medians per MTA and workload from runs.tsv; ratio goqmail/Postfix of the
# throughput (msgs/s: below 1 means goqmail is slower) and of the wall time to the last
# delivery (above 1 means goqmail is slower); CPU ms per message from procacct's mta_cpu_s.
[ -f "$OUTDIR/runs.tsv" ] || die "no results in $OUTDIR"
awk -F'\t' '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
    return (n % 2) ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
  }
  NR == 1 { next }
  {
    k = $2 SUBSEP $3; n[k]++
    rate[k, n[k]] = $10; wall[k, n[k]] = $8
    cpu = ""; if (match($11, /mta_cpu_s=[0-9.]+/)) cpu = substr($11, RSTART + 10, RLENGTH - 10)
    cpums[k, n[k]] = (cpu == "" || $5 == 0) ? -1 : 1000 * cpu / $5
    lost[k] += ($6 != $5)
    if (!($3 in seen)) { seen[$3] = 1; order[++nw] = $3 }
  }
  END {
    printf "%-9s | %-22s | %-22s | %-17s | %-12s | %s\n", "workload", "Postfix msg/s (wall s)", "goqmail msg/s (wall s)", "goqmail/Postfix", "per turn", "CPU ms/msg P / g"
    for (i = 1; i <= nw; i++) {
      w = order[i]
      for (m = 1; m <= 2; m++) {
        l = (m == 1) ? "postfix" : "goqmail"; k = l SUBSEP w
        if (!(k in n)) { r[m] = ""; continue }
        delete a; for (j = 1; j <= n[k]; j++) a[j] = rate[k, j]; r[m] = median(a, n[k])
        delete a; for (j = 1; j <= n[k]; j++) a[j] = wall[k, j]; t[m] = median(a, n[k])
        delete a; for (j = 1; j <= n[k]; j++) a[j] = cpums[k, j]; c[m] = median(a, n[k])
        runs[m] = n[k]; bad[m] = lost[k]
      }
      p = (r[1] == "") ? "-" : sprintf("%.1f (%.2f) n=%d", r[1], t[1], runs[1])
      g = (r[2] == "") ? "-" : sprintf("%.1f (%.2f) n=%d", r[2], t[2], runs[2])
      ratio = (r[1] != "" && r[2] != "" && r[1] > 0) ? sprintf("%.3f (time x%.1f)", r[2] / r[1], t[2] / t[1]) : "-"
      # The k-th run of each side, taken in turns: the median of their ratios.
      kp = "postfix" SUBSEP w; kg = "goqmail" SUBSEP w; np = 0
      if ((kp in n) && (kg in n)) {
        delete a
        for (j = 1; j <= n[kp] && j <= n[kg]; j++) if (rate[kp, j] > 0) a[++np] = rate[kg, j] / rate[kp, j]
      }
      turns = (np > 0) ? sprintf("%.3f", median(a, np)) : "-"
      cp = (r[1] != "" && c[1] >= 0) ? sprintf("%.1f", c[1]) : "-"
      cg = (r[2] != "" && c[2] >= 0) ? sprintf("%.1f", c[2]) : "-"
      note = ""
      if (r[1] != "" && bad[1]) note = note " postfix:" bad[1] " run(s) with delivered!=msgs"
      if (r[2] != "" && bad[2]) note = note " goqmail:" bad[2] " run(s) with delivered!=msgs"
      printf "%-9s | %-22s | %-22s | %-17s | %-12s | %s / %s%s\n", w, p, g, ratio, turns, cp, cg, note
    }
  }' "$OUTDIR/runs.tsv" | tee "$OUTDIR/table.txt"
echo "results: $OUTDIR (runs.tsv, summary.txt, table.txt)"
