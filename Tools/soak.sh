#!/usr/bin/env bash
# Soak: probed under several clients at a steady high rate for a while, then the checks.
#
#   Tools/soak.sh [SECONDS]          default 180 (CI); run hours by hand, e.g. Tools/soak.sh 14400
#   Tools/soak.sh churn [PROCESSES]  short-lived client processes instead (see churn below)
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

# Churn: PROCESSES (default 10000) short-lived clients, SOAK_PARALLEL (8) at a time, each a
# probe-fixture process that connects, records 40 calls of one of three operations (every 7th
# failed), flushes and exits — a service whose workers are recycled all day. probed runs with
# --exited-retention 1s, so their series keep folding into the retired aggregates. Every 2 s it
# samples probed's RSS, the series held and the Prometheus counters. At the end it checks, and
# exits 1 when any fails:
#   - ledger: every process delivered all it recorded (dropped 0, flushed); probe_calls_total,
#     probe_failures_total and probed_events_received_total equal what the processes recorded;
#   - counters never decreased between two samples;
#   - memory: RSS after warm-up (the first quarter of the samples) grows by less than
#     SOAK_RSS_BOUND_KIB (8192);
#   - bounded: once the last process is gone past the retention, probed holds the three retired
#     series and lists no process.
churn() {
    local total=${1:-10000} parallel=${SOAK_PARALLEL:-8} rss_bound=${SOAK_RSS_BOUND_KIB:-8192}
    local bin=${SOAK_BIN:-}
    if [ -z "$bin" ]; then
        bin=.build/debug
        [ -x .build/release/probed ] && [ -x .build/release/probe-fixture ] && bin=.build/release
    fi
    for p in probed probectl probe-fixture; do
        [ -x "$bin/$p" ] || { echo "soak.sh: $bin/$p is missing; run swift build first" >&2; exit 2; }
    done
    dir=$(mktemp -d /tmp/probe-churn.XXXXXX)
    local socket=$dir/probed.sock
    trap 'for p in $(jobs -p); do kill -KILL "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
    "$bin/probed" --socket "$socket" --warmup 0 --exited-retention 1s --metrics-listen 127.0.0.1:0 2> "$dir/probed.log" &
    daemon=$!
    local port=""
    for _ in $(seq 200); do
        port=$(sed -n 's|.*serving Prometheus metrics at http://127.0.0.1:\([0-9]*\)/metrics.*|\1|p' "$dir/probed.log")
        [ -n "$port" ] && [ -S "$socket" ] && break
        sleep 0.1
    done
    [ -n "$port" ] || { echo "soak.sh: probed did not start: $(cat "$dir/probed.log")" >&2; exit 1; }
    scrape() {  # /metrics over bash's /dev/tcp: no curl needed
        exec 3<>"/dev/tcp/127.0.0.1/$port"
        printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
        cat <&3
        exec 3>&-
    }
    sum() { awk -v m="$1" 'index($0, m) == 1 {s += $NF} END {printf "%d\n", s}'; }
    seq 1000 37 2443 > "$dir/durations"  # 40 calls, 1.0 µs to 2.4 µs

    echo "churn: probed pid $daemon ($bin), $total processes, $parallel at a time; samples every 2 s" >&2
    local started
    started=$(date +%s)
    local workers=()
    for k in $(seq 0 $((parallel - 1))); do
        (
            for i in $(seq "$k" "$parallel" $((total - 1))); do
                "$bin/probe-fixture" --socket "$socket" --service churn --operation "op$((i % 3))" \
                    --durations "$dir/durations" --fail-every 7 || echo "failed $?"
            done > "$dir/worker-$k.out"
        ) &
        workers+=($!)
    done
    running() { for w in "${workers[@]}"; do kill -0 "$w" 2>/dev/null && return 0; done; return 1; }
    printf '%8s %10s %8s %12s\n' t_s rss_kib series calls > "$dir/samples"
    local last=0 failed=0
    while running; do
        local calls rss series t
        calls=$(scrape | sum 'probe_calls_total{service="churn"')
        rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$daemon/status")
        series=$("$bin/probectl" --socket "$socket" status --json | sed 's/.*"series":\([0-9]*\).*/\1/')
        t=$(($(date +%s) - started))
        printf '%8d %10d %8d %12d\n' "$t" "$rss" "$series" "$calls" >> "$dir/samples"
        if [ "$calls" -lt "$last" ]; then echo "FAIL probe_calls_total went from $last to $calls" >&2; failed=1; fi
        last=$calls
        sleep 2
    done
    wait "${workers[@]}" 2>/dev/null || true
    local seconds=$(($(date +%s) - started))

    # Ledger: each process prints "recorded N dropped D flushed B".
    local recorded processes bad
    recorded=$(cat "$dir"/worker-*.out | awk '{s += $2} END {printf "%d\n", s}')
    processes=$(cat "$dir"/worker-*.out | grep -c '^recorded ' || true)
    bad=$(cat "$dir"/worker-*.out | grep -vc ' dropped 0 flushed true$' || true)
    [ "$processes" -eq "$total" ] && [ "$bad" -eq 0 ] || { echo "FAIL $processes of $total processes reported, $bad lost events or failed" >&2; failed=1; }
    # Let the last processes pass the retention, then read the end state.
    local status=""
    for _ in $(seq 100); do
        status=$("$bin/probectl" --socket "$socket" status --json)
        echo "$status" | grep -q '"processes":\[\]' && echo "$status" | grep -q '"series":3,' && break
        sleep 0.2
    done
    local metrics
    metrics=$(scrape)
    local calls failures events expected_failures
    calls=$(echo "$metrics" | sum 'probe_calls_total{service="churn"')
    failures=$(echo "$metrics" | sum 'probe_failures_total{service="churn"')
    events=$(echo "$metrics" | sum 'probed_events_received_total')
    expected_failures=$((total * 5))  # calls 7, 14, ..., 35 of 40
    echo; echo "probed samples:"; cat "$dir/samples"
    warm=$(awk 'NR > 1 {n++} END {print int(n / 4) + 2}' "$dir/samples")
    read -r rss0 rssmax seriesmax <<< "$(awk -v w="$warm" 'NR >= w {if (!r0) r0 = $2; if ($2 > r) r = $2} NR > 1 {if ($3 > s) s = $3} END {print r0, r, s}' "$dir/samples")"
    echo
    echo "summary: $processes processes in ${seconds}s ($(awk -v p="$processes" -v s="$seconds" 'BEGIN {printf "%.0f", p / (s ? s : 1)}')/s);" \
         "calls recorded $recorded, probe_calls_total $calls, probed_events_received_total $events;" \
         "failures $failures (expected $expected_failures); RSS after warm-up ${rss0} KiB, max ${rssmax} KiB" \
         "(growth $((rssmax - rss0)) KiB, bound ${rss_bound} KiB); series held at most $seriesmax, at the end: $(echo "$status" | sed 's/.*"series":\([0-9]*\).*/\1/')"
    [ "$calls" -eq "$recorded" ] && [ "$events" -eq "$recorded" ] || { echo "FAIL ledger: recorded $recorded, probe_calls_total $calls, events received $events" >&2; failed=1; }
    [ "$failures" -eq "$expected_failures" ] || { echo "FAIL probe_failures_total $failures, expected $expected_failures" >&2; failed=1; }
    [ $((rssmax - rss0)) -lt "$rss_bound" ] || { echo "FAIL memory grew $((rssmax - rss0)) KiB after warm-up" >&2; failed=1; }
    echo "$status" | grep -q '"processes":\[\]' && echo "$status" | grep -q '"series":3,' \
        || { echo "FAIL not bounded at the end: $status" >&2; failed=1; }
    kill -TERM "$daemon"
    wait "$daemon" || { echo "FAIL probed exited with $?" >&2; failed=1; }
    [ $failed -eq 0 ] && echo "churn soak: PASS" || echo "churn soak: FAIL (logs in $dir)"
    [ $failed -eq 0 ] && rm -rf "$dir"
    exit $failed
}
if [ "${1:-}" = churn ]; then churn "${2:-}"; fi

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
