#!/usr/bin/env bash
# Soak: probed under several clients at a steady high rate for a while, then the checks.
#
#   Tools/soak.sh [SECONDS]          default 180 (CI); run hours by hand, e.g. Tools/soak.sh 14400
#   env: SOAK_CLIENTS (4), SOAK_RATE events/s per client (400000), SOAK_BIN (.build/release if
#        built, else .build/debug), SOAK_RSS_BOUND_KIB (16384), SOAK_STATUS_BUDGET_MS (1000)
#
# Uses the built probed, probectl and probe-load-fixture (swift build first). Every 5 s it samples
# probed's resident memory (VmRSS), its open descriptors (/proc/PID/fd) and how long
# `probectl status --json` takes. At the end it checks, and exits 1 when any fails:
#   - ledger: for every client, delivered + dropped == recorded (its ACKs) and probed's
#     events_received for its pid == delivered: no loss without a count;
#   - memory: RSS after warm-up (the first quarter) grows by less than SOAK_RSS_BOUND_KIB;
#   - descriptors: no growth after warm-up;
#   - probectl status answered every time, within SOAK_STATUS_BUDGET_MS.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-180}
clients=${SOAK_CLIENTS:-4}
rate=${SOAK_RATE:-400000}
rss_bound=${SOAK_RSS_BOUND_KIB:-16384}
budget_ms=${SOAK_STATUS_BUDGET_MS:-1000}
bin=${SOAK_BIN:-}
if [ -z "$bin" ]; then
    bin=.build/debug
    [ -x .build/release/probed ] && [ -x .build/release/probe-load-fixture ] && bin=.build/release
fi
for p in probed probectl probe-load-fixture; do
    [ -x "$bin/$p" ] || { echo "soak.sh: $bin/$p is missing; run swift build first" >&2; exit 2; }
done

dir=$(mktemp -d /tmp/probe-soak.XXXXXX)
socket=$dir/probed.sock
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    [ -n "${daemon:-}" ] && kill -TERM "$daemon" 2>/dev/null || true
    wait 2>/dev/null || true
}
trap cleanup EXIT

timeout -s KILL $((seconds + 120)) "$bin/probed" --socket "$socket" --warmup 0 2> "$dir/probed.log" &
wrapper=$!
for _ in $(seq 100); do [ -S "$socket" ] && break; sleep 0.1; done
daemon=$(cat "/proc/$wrapper/task/$wrapper/children" | awk '{print $1}')  # probed itself, not timeout
[ -n "$daemon" ] || { echo "soak.sh: probed did not start: $(cat "$dir/probed.log")" >&2; exit 1; }
"$bin/probectl" --socket "$socket" status > /dev/null

for i in $(seq "$clients"); do
    timeout -s KILL $((seconds + 90)) "$bin/probe-load-fixture" --socket "$socket" --seconds "$seconds" \
        --rate "$rate" --service "soak-$i" > "$dir/client-$i.out" 2> /dev/null &
    pids+=($!)
done

echo "soak: probed pid $daemon ($bin), $clients clients at $rate events/s each, ${seconds}s; samples every 5 s" >&2
printf '%8s %10s %6s %10s\n' t_s rss_kib fds status_ms > "$dir/samples"
start=$(date +%s)
while :; do
    now=$(date +%s); t=$((now - start))
    [ "$t" -ge "$seconds" ] && break
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
    fds=$(ls "/proc/$daemon/fd" | wc -l)
    t0=$(date +%s%N)
    if "$bin/probectl" --socket "$socket" status --json > /dev/null; then ms=$((($(date +%s%N) - t0) / 1000000)); else ms=-1; fi
    printf '%8d %10d %6d %10d\n' "$t" "$rss" "$fds" "$ms" >> "$dir/samples"
    sleep 5
done

failed=0
for p in "${pids[@]}"; do wait "$p" || { echo "soak: a client exited with $?" >&2; failed=1; }; done
pids=()
"$bin/probectl" --socket "$socket" status --json > "$dir/status.json"

echo; echo "probed samples:"; cat "$dir/samples"
echo; echo "clients:"
printf '%-8s %8s %12s %12s %10s %16s\n' client pid recorded delivered dropped probed_received
i=0
for f in "$dir"/client-*.out; do
    i=$((i + 1))
    read -r _ recorded _ delivered _ dropped _ <<< "$(cat "$f")"
    # The pid of this client: the process row of service soak-$i.
    received=$(tr '{' '\n' < "$dir/status.json" | grep "\"service\":\"soak-$i\"" | sed 's/.*"events_received":\([0-9]*\).*/\1/' | head -1)
    pid=$(tr '{' '\n' < "$dir/status.json" | grep "\"service\":\"soak-$i\"" | sed 's/.*"pid":\([0-9]*\).*/\1/' | head -1)
    printf '%-8s %8s %12s %12s %10s %16s\n' "soak-$i" "$pid" "$recorded" "$delivered" "$dropped" "$received"
    if [ $((delivered + dropped)) -ne "$recorded" ] || [ "$received" != "$delivered" ]; then
        echo "FAIL ledger soak-$i: delivered $delivered + dropped $dropped vs recorded $recorded; probed received $received" >&2
        failed=1
    fi
done

# After warm-up: the samples from the first quarter on.
warm=$((seconds / 4))
read -r rss0 fds0 <<< "$(awk -v w="$warm" 'NR > 1 && $1 >= w {print $2, $3; exit}' "$dir/samples")"
read -r rssmax fdsmax slowest answered <<< "$(awk -v w="$warm" 'NR > 1 && $1 >= w {if ($2 > r) r = $2; if ($3 > f) f = $3} NR > 1 {if ($4 > s) s = $4; if ($4 < 0) bad++} END {print r, f, s, (bad ? 0 : 1)}' "$dir/samples")"
echo
echo "summary: RSS after warm-up ${rss0} KiB, max ${rssmax} KiB (growth $((rssmax - rss0)) KiB, bound ${rss_bound} KiB);" \
     "descriptors ${fds0} -> max ${fdsmax}; slowest probectl status ${slowest} ms (budget ${budget_ms} ms)"
[ $((rssmax - rss0)) -lt "$rss_bound" ] || { echo "FAIL memory grew $((rssmax - rss0)) KiB after warm-up" >&2; failed=1; }
[ "$fdsmax" -le "$fds0" ] || { echo "FAIL descriptors grew from $fds0 to $fdsmax" >&2; failed=1; }
[ "$answered" -eq 1 ] || { echo "FAIL probectl status did not always answer" >&2; failed=1; }
[ "$slowest" -le "$budget_ms" ] || { echo "FAIL probectl status took ${slowest} ms" >&2; failed=1; }
[ $failed -eq 0 ] && echo "soak: PASS" || echo "soak: FAIL (logs in $dir)"
[ $failed -eq 0 ] && rm -rf "$dir"
exit $failed
