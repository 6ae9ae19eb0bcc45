#!/usr/bin/env bash
# The service and package tests: probe's .deb installed with dpkg into a throwaway machine run by a
# real systemd, on which the Swift toolchain does not exist (Tests/systemd/harness.sh builds it
# from this host's files; nothing it changes survives it). Needs root; Tools/test.sh runs it.
#
#   bash Tests/systemd/run.sh [DEB]
#
# DEB defaults to what Tools/package.sh built (.build/package/probe_*_amd64.deb). The client is the
# test fixture probe-fixture, built here with --static-swift-stdlib when it is not already.
# Prints one line per check and "systemd tests: N passed, M failed"; exits 1 when any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
source Tests/systemd/harness.sh

deb="${1:-}"
if [ -z "$deb" ]; then
    deb="$(ls -t .build/package/probe_*_amd64.deb 2>/dev/null | head -n 1)"
    [ -n "$deb" ] || ns_fail "no package: build it first with \`bash Tools/package.sh\`"
fi
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
version="$(dpkg-deb -f "$deb" Version)"
command -v lintian >/dev/null || ns_fail "lintian is missing: apt-get install lintian (Tools/test.sh does)"
command -v curl >/dev/null || ns_fail "curl is missing: apt-get install curl (Tools/test.sh does)"
command -v python3 >/dev/null || ns_fail "python3 is missing: apt-get install python3"

# A client that runs without Swift, like the package's binaries.
fixture="$repo/.build/release/probe-fixture"
if [ ! -x "$fixture" ] || ldd "$fixture" | grep -q libswift; then
    swift build -c release --static-swift-stdlib --product probe-fixture >/dev/null || ns_fail "cannot build probe-fixture"
fi
started=$SECONDS

# Lintian, Debian's package checker: no errors allowed; its other findings are printed.
findings="$(setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp lintian --fail-on error "$deb" 2>&1)"
status=$?
[ -z "$findings" ] || echo "$findings" | sed 's/^/  lintian: /'
[ "$status" -eq 0 ] && pass "lintian finds no errors in $(basename "$deb")" || fail "lintian finds errors in $(basename "$deb")"

# --- a machine with systemd ------------------------------------------------------------------------
ns_boot systemd
toolchain="$(ns_toolchain)"
work="$NS_WORK"  # a host directory the machine sees too: files for the client
seq 1000 1000 20000 >"$work/durations"
chmod 0755 "$work"

check "the machine has no Swift: no swift, the toolchain's directory empty, no libswiftCore" \
    ns sh -c "! command -v swift >/dev/null && [ -z \"\$(ls -A '$toolchain')\" ] && ! ldconfig -p | grep -q libswiftCore"

# A machine without probe: a from-source install on this host (Tools/install.sh, as .ci/run does)
# stays out of it.
ns rm -f /etc/probed.conf /usr/local/bin/probed /usr/local/bin/probectl
# This host is a container image whose policy-rc.d (exit 101) forbids maintainer scripts to start
# or stop services, as Docker images do; a machine running systemd has none.
ns rm -f /usr/sbin/policy-rc.d
out="$(ns dpkg -i "$deb" 2>&1)"
check "dpkg -i installs the package" test $? -eq 0 || echo "$out"
check "the postinst created the group probe" ns sh -c "getent group probe >/dev/null"
check "probed.socket is enabled and listening" ns systemctl -q is-enabled probed.socket
check "probed.socket is active" ns systemctl -q is-active probed.socket
mode="$(ns stat -c '%a %G' /run/probed/probed.sock 2>&1)"
check "the socket file is mode 660, group probe (was: $mode)" test "$mode" = "660 probe"
check "probed is not running before a client connects" ns sh -c '! systemctl -q is-active probed.service'
out="$(ns probed --version 2>&1)"
check "probed --version runs without Swift (said: $out)" test "$out" = "probed $version (protocol 1)"

# The first connection starts probed (socket activation): probectl with no flags finds it.
out="$(ns probectl status --json 2>&1)"
check "probectl status, with no configuration, is answered" test $? -eq 0 || echo "$out"
main="$(ns systemctl show -p MainPID --value probed.service)"
pid="$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])' 2>/dev/null)"
check "that first connection started probed.service (MainPID $main, probectl saw pid $pid)" test "$main" != 0 -a "$main" = "$pid"

status_line=""
for _ in $(seq 50); do
    status_line="$(ns systemctl show -p StatusText --value probed.service)"
    case "$status_line" in *"clients connected"*) break ;; esac
    sleep 0.2
done
check "systemctl status shows probed's STATUS line ($status_line)" \
    ns sh -c 'systemctl status --no-pager probed.service | grep -q "Status: \".*clients connected, .*events/s"'

# A client with no configuration: 20 calls, every 5th failed.
out="$(ns "$fixture" --service ranker --operation predict --durations "$work/durations" --fail-every 5 2>&1)"
check "a client with no configuration reaches probed ($out)" test "$out" = "recorded 20 dropped 0 flushed true"
calls="$(ns probectl stats --json | python3 -c '
import json, sys
rows = [r for r in json.load(sys.stdin)["operations"] if r["service"] == "ranker" and r["pid"] is None]
print(" ".join("%d/%d" % (r["calls"], r["errors"]) for r in rows))')"
check "probectl stats counts its 20 calls and 4 failures (calls/errors: $calls)" test "$calls" = "20/4"

# The Python client too, imported from the repository as a worker would import it once installed.
out="$(ns env PYTHONPATH="$repo/Sources/python" PYTHONDONTWRITEBYTECODE=1 python3 -c '
from probe_client import Probe
probe = Probe("py-worker")
for i in range(12):
    probe.record("predict", 1000 * (i + 1))
print("flushed", probe.flush(5.0))' 2>&1)"
check "the Python client, with no configuration, reaches probed ($out)" test "$out" = "flushed True"
calls="$(ns probectl stats --json | python3 -c '
import json, sys
print(" ".join(str(r["calls"]) for r in json.load(sys.stdin)["operations"] if r["service"] == "py-worker" and r["pid"] is None))')"
check "probectl stats counts its 12 calls ($calls)" test "$calls" = 12

journal_has() {  # journal_has PATTERN [journalctl args…]: waits up to 10 s for a matching line
    local pattern="$1" _
    shift
    for _ in $(seq 50); do
        ns journalctl --no-pager -q -o cat "$@" | grep -q -- "$pattern" && return 0
        sleep 0.2
    done
    return 1
}
check "journalctl -u probed -p warning holds the failed call" journal_has "failed call: service ranker" -u probed.service -p warning
levels="$(ns journalctl -u probed.service -p warning -o json --no-pager | python3 -c '
import json, sys
print(" ".join(sorted({e["PRIORITY"] for e in map(json.loads, sys.stdin)})))')"
check "and no line below warning (priorities: $levels)" grep -qx "[34 ]*[34]" <<<"$levels"

# Another user in the allowed group: connected, and sampled from /proc under the unit's sandbox.
gid="$(ns getent group probe | cut -d: -f3)"
ns setpriv --reuid=65534 --regid=65534 --groups="$gid" "$fixture" --service other-user --operation predict \
    --durations "$work/durations" --linger 8 >"$work/other.out" 2>&1 &
other=$!
sampled=""
for _ in $(seq 50); do
    sampled="$(ns probectl procs --json 2>/dev/null | python3 -c '
import json, sys
for p in json.load(sys.stdin)["processes"]:
    if p["service"] == "other-user" and p["uid"] == 65534 and (p["rss_bytes"] or 0) > 0:
        print(p["pid"], p["rss_bytes"])' 2>/dev/null)"
    [ -n "$sampled" ] && break
    sleep 0.2
done
check "a client as uid 65534 in group probe is sampled from /proc (pid, rss: ${sampled:-none})" test -n "$sampled"
wait "$other"
check "that client's calls all arrived ($(cat "$work/other.out"))" grep -qx "recorded 20 dropped 0 flushed true" "$work/other.out"

# systemctl reload applies a changed log-level at once: debug lines appear.
ns sed -i 's/^# log-level = info$/log-level = debug/' /etc/probed.conf
check "systemctl reload probed succeeds" ns systemctl reload probed.service
check "the reload applied log-level debug" journal_has "log-level changed from info to debug (/etc/probed.conf); applied" -u probed.service
ns "$fixture" --service after-reload --operation predict --durations "$work/durations" >/dev/null 2>&1
check "debug lines now reach the journal" journal_has "client connected: service after-reload" -u probed.service -p debug

# --metrics-listen, set in the configuration, after the restart the reload asks for.
ns sed -i 's/^# metrics-listen = .*/metrics-listen = 127.0.0.1:9464/' /etc/probed.conf
ns systemctl reload probed.service
check "the reload says metrics-listen needs a restart" journal_has "metrics-listen changed .*takes effect after a restart" -u probed.service
check "systemctl restart probed succeeds" ns systemctl restart probed.service
metrics=""
for _ in $(seq 50); do
    metrics="$(ns curl -sf http://127.0.0.1:9464/metrics)" && break
    sleep 0.2
done
check "--metrics-listen serves /metrics" grep -q "^probed_build_info{version=\"$version\"" <<<"$metrics"

# An upgrade (here the same package again): the edited configuration is kept, and the running
# probed restarts on the new binary while probed.socket keeps the socket.
before="$(ns systemctl show -p MainPID --value probed.service)"
out="$(ns dpkg -i "$deb" 2>&1 </dev/null)"
check "installing over it (an upgrade) succeeds" test $? -eq 0 || echo "$out"
after="$(ns systemctl show -p MainPID --value probed.service)"
check "and restarts the running probed (MainPID $before, then $after)" test "$after" != 0 -a "$after" != "$before"
check "the edited /etc/probed.conf is kept" ns grep -q "^metrics-listen = 127.0.0.1:9464" /etc/probed.conf

# systemctl stop leaves the socket to probed.socket: the next client starts probed again.
before="$(ns systemctl show -p MainPID --value probed.service)"
check "systemctl stop probed.service succeeds" ns systemctl stop probed.service
check "probed.socket stays active" ns systemctl -q is-active probed.socket
check "the socket file stays" ns test -S /run/probed/probed.sock
check "a client after the stop is answered" ns sh -c "probectl status >/dev/null"
after="$(ns systemctl show -p MainPID --value probed.service)"
check "by a probed it started anew (MainPID $before, then $after)" test "$after" != 0 -a "$after" != "$before"
ns systemctl stop probed.service

# A bad line in the configuration: probed refuses to start and says where, as an error; exit 2 is
# not retried (RestartPreventExitStatus=2). Fixed, the socket starts it again.
ns sh -c 'echo "warmup = lots" >>/etc/probed.conf'
check "with a bad configuration line probed.service does not start" ns sh -c '! systemctl start probed.service 2>/dev/null'
check "the journal names the file, line and reason, as an error" \
    journal_has "probed: /etc/probed.conf:[0-9]*: warmup: \"lots\" is not a whole number" -u probed.service -p err
restarts="$(ns systemctl show -p NRestarts --value probed.service)"
check "and systemd does not retry it (restarts: $restarts)" test "$restarts" = 0
ns sed -i '/^warmup = lots$/d' /etc/probed.conf
ns systemctl reset-failed probed.service
check "fixed, the next client starts probed again" ns sh -c "probectl status >/dev/null"
ns systemctl stop probed.service 2>/dev/null

# Only lines probed meant to write: every entry from probed's processes (not systemd's about
# them) came through its log (stdout stream, with the priority probed gave it). The unit logs
# anything else probed's stderr carries at crit (SyslogLevel=crit), and Dispatch's complaints
# arrive by syslog: both are refused here.
stray="$(ns journalctl _SYSTEMD_UNIT=probed.service -o json --no-pager | python3 -c '
import json, sys
entries = [json.loads(l) for l in sys.stdin]
ours = [e for e in entries if e.get("_TRANSPORT") == "stdout" and e.get("PRIORITY") in ("3", "4", "6", "7")]
print(len(ours))
for e in entries:
    if e not in ours:
        print("  %s priority %s: %s" % (e.get("_TRANSPORT"), e.get("PRIORITY"), e.get("MESSAGE")))')"
count="$(echo "$stray" | head -n 1)"
check "the journal holds only lines probed meant to write ($count of its own)" \
    test "$(echo "$stray" | wc -l)" -eq 1 -a "${count:-0}" -gt 10 || echo "$stray" | tail -n +2

# The watchdog: with WatchdogSec=3s a stopped (SIGSTOP) probed is killed and restarted in 10 s.
ns mkdir -p /etc/systemd/system/probed.service.d
printf '[Service]\nWatchdogSec=3s\n' | ns sh -c 'cat >/etc/systemd/system/probed.service.d/watchdog.conf'
ns systemctl daemon-reload
ns systemctl start probed.service
stopped="$(ns systemctl show -p MainPID --value probed.service)"
# Only a real pid: `kill -STOP 0` would stop this script's own process group.
if [ "${stopped:-0}" -gt 1 ] 2>/dev/null; then ns kill -STOP "$stopped"; else stopped=""; fi
t0=$SECONDS
restarted=""
while [ -n "$stopped" ] && [ $((SECONDS - t0)) -lt 20 ]; do
    now="$(ns systemctl show -p MainPID --value probed.service)"
    if [ "$now" != 0 ] && [ "$now" != "$stopped" ] && ns systemctl -q is-active probed.service; then
        restarted=$((SECONDS - t0))
        break
    fi
    sleep 0.2
done
check "a SIGSTOPped probed is restarted by the watchdog within 10 s (took ${restarted:-over 20} s)" test -n "$restarted" -a "${restarted:-99}" -le 10
check "systemd says why: Watchdog timeout" journal_has "Watchdog timeout" -u probed.service
ns rm -r /etc/systemd/system/probed.service.d
ns systemctl daemon-reload

# systemd's own view of the sandbox: the exposure score the README reports, never worse.
score="$(ns systemd-analyze security --no-pager probed.service 2>/dev/null | sed -n 's/.*Overall exposure level for probed.service: \([0-9.]*\).*/\1/p')"
readme="$(sed -n 's/.*`systemd-analyze security probed.service`[^0-9]*\([0-9][0-9.]*\).*/\1/p' README.md | head -n 1)"
check "systemd-analyze security: exposure $score, the README's ${readme:-(none)} or better" \
    python3 -c "import sys; sys.exit(not ('$score' and '$readme' and float('$score') <= float('$readme')))"

# Removal: nothing left running; purge takes the configuration and systemd's state of the units.
out="$(ns dpkg -r probe 2>&1)"
check "dpkg -r removes the package" test $? -eq 0 || echo "$out"
check "no probed left running" ns sh -c '! pgrep -x probed >/dev/null'
check "probed.socket and probed.service inactive" \
    ns sh -c '! systemctl -q is-active probed.socket && ! systemctl -q is-active probed.service'
check "the socket file is gone" ns test ! -e /run/probed/probed.sock
check "the binaries are gone, the edited conffile kept" ns sh -c '[ ! -e /usr/bin/probed ] && [ ! -e /usr/bin/probectl ] && grep -q "^log-level = debug" /etc/probed.conf'
out="$(ns dpkg --purge probe 2>&1)"
check "dpkg --purge purges it" test $? -eq 0 || echo "$out"
check "/etc/probed.conf and the enablement links are gone" \
    ns sh -c '[ ! -e /etc/probed.conf ] && [ ! -e /etc/systemd/system/sockets.target.wants/probed.socket ] && ! dpkg -s probe >/dev/null 2>&1'
ns_stop

# --- a machine without systemd (a container): installs, says it did not start, purges ------------------
ns_boot bare
ns rm -f /etc/probed.conf /usr/local/bin/probed /usr/local/bin/probectl
out="$(ns dpkg -i "$deb" 2>&1)"
check "without systemd, dpkg -i installs the package" test $? -eq 0 || echo "$out"
check "and says probed.socket is enabled for the next boot, not started" \
    grep -q "systemd is not running: probed.socket is enabled for the next boot, not started" <<<"$out"
check "the socket is enabled for the next boot" ns test -L /etc/systemd/system/sockets.target.wants/probed.socket
check "probed runs there by hand" ns sh -c "probed --check-config >/dev/null"
out="$(ns dpkg --purge probe 2>&1)"
check "and dpkg --purge purges it" test $? -eq 0 || echo "$out"
ns_stop

echo "systemd tests took $((SECONDS - started)) s"
finish "systemd tests"
