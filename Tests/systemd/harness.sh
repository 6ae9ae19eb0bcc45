# The one harness every systemd test uses (source it from bash). It boots a real systemd as PID 1
# of private pid, mount, uts, ipc, net and cgroup namespaces: a throwaway machine built from this
# host's files, without the Swift toolchain, whose every change (dpkg's database, /usr, /etc,
# /var, the journal) lives in tmpfs and vanishes with it. ns-init.sh says how. Needs root.
#
#   ns_boot systemd|bare   boot the machine (bare: no systemd, PID 1 only sleeps); sets NS_PID
#   ns COMMAND…            run COMMAND inside, as root with a plain admin's environment
#   ns_stop                kill -9 the machine's PID 1 by pid: the kernel ends everything in it
#
# ns_boot installs an EXIT trap calling ns_stop, so the machine goes also when a test fails or the
# script is interrupted; and its PID 1 dies with this shell even on SIGKILL (PR_SET_PDEATHSIG, via
# setpriv and unshare --kill-child). One machine at a time per shell.
#
# Checks: `check NAME COMMAND…` passes when COMMAND succeeds (and returns its verdict); `pass NAME`, `fail NAME [WHY]`;
# `finish` prints "N passed, M failed" and returns non-zero when anything failed.

NS_PID=""        # the machine's systemd (or sleep), as this host sees it
NS_UNSHARE=""    # the unshare process holding it
NS_CGROUP=""     # the cgroup2 subtree made for this boot
NS_WORK=""       # its scratch directory (empty on the host; a tmpfs inside)
NS_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

ns_fail() { echo "harness: $*" >&2; exit 1; }

# The Swift toolchain's root (the directory holding usr/bin/swift), to hide.
ns_toolchain() {
    local swift
    swift="$(command -v swift 2>/dev/null)" || { echo ""; return; }
    swift="$(readlink -f "$swift")"
    dirname "$(dirname "$(dirname "$swift")")"
}

# What a run killed with SIGKILL leaves (its machine dies with it): its empty cgroup subtree and
# scratch directory, named after the pid of the shell that made them. Removed once that is gone.
ns_sweep() {
    local root="$1" dir owner
    for dir in /sys/fs/cgroup/probe-systemd-test.* /sys/fs/cgroup/unified/probe-systemd-test.* "$root"/.build/systemd-test.*; do
        [ -d "$dir" ] || continue
        owner="${dir##*.}"
        [[ "$owner" =~ ^[0-9]+$ ]] || continue
        kill -0 "$owner" 2>/dev/null && continue
        case "$dir" in
            /sys/*) find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null || true ;;
            *) rm -rf "$dir" ;;
        esac
    done
}

ns_boot() {
    local mode="$1" root toolchain base
    [ "$(id -u)" -eq 0 ] || ns_fail "the systemd tests need root (CI runs as root): run \`sudo bash Tests/systemd/run.sh\`"
    for tool in unshare nsenter setpriv mount; do
        command -v "$tool" >/dev/null || ns_fail "$tool is missing (util-linux/mount): apt-get install util-linux mount"
    done
    [ -x /lib/systemd/systemd ] || ns_fail "/lib/systemd/systemd is missing: apt-get install systemd"
    [ -z "$NS_PID" ] || ns_fail "a machine is already booted (pid $NS_PID): ns_stop it first"
    root="$(cd "$NS_HERE/../.." && pwd)"
    ns_sweep "$root"
    NS_WORK="$root/.build/systemd-test.$$"
    toolchain="$(ns_toolchain)"
    case "$toolchain" in
        "") ns_fail "swift is not on PATH: the harness hides the toolchain, so it must know where it is" ;;
        / | /usr | /usr/local) ns_fail "the Swift toolchain lives in $toolchain, which cannot be hidden without hiding the system" ;;
    esac
    mkdir -p "$NS_WORK/scratch"

    # A cgroup2 subtree of its own: systemd manages that, never the host's tree.
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
        base=/sys/fs/cgroup
    elif [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ]; then
        base=/sys/fs/cgroup/unified
    else
        ns_fail "no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified: systemd cannot run here"
    fi
    NS_CGROUP="$base/probe-systemd-test.$$"
    mkdir "$NS_CGROUP"
    trap ns_stop EXIT
    trap 'exit 130' INT TERM HUP

    (
        echo "$BASHPID" >"$NS_CGROUP/cgroup.procs"
        exec setpriv --pdeathsig KILL unshare --kill-child --pid --fork --mount --mount-proc --uts --ipc --net --cgroup \
            bash "$NS_HERE/ns-init.sh" "$NS_WORK" "$toolchain" "$mode" "$root" >"$NS_WORK/console.log" 2>&1 </dev/null
    ) &
    NS_UNSHARE=$!
    local i
    for i in $(seq 100); do
        NS_PID="$(cat "/proc/$NS_UNSHARE/task/$NS_UNSHARE/children" 2>/dev/null | awk '{print $1}')"
        [ -n "$NS_PID" ] && break
        sleep 0.05
    done
    [ -n "$NS_PID" ] || ns_fail "unshare did not start the machine: $(cat "$NS_WORK/console.log" 2>/dev/null)"
    # Wait until PID 1 runs the program it was meant to (ns-init.sh execs it last).
    local want=systemd
    [ "$mode" = bare ] && want=sleep
    for i in $(seq 200); do
        [ "$(cat "/proc/$NS_PID/comm" 2>/dev/null)" = "$want" ] && break
        kill -0 "$NS_PID" 2>/dev/null || ns_fail "the machine's PID 1 exited during setup: $(cat "$NS_WORK/console.log")"
        sleep 0.05
    done
    [ "$(cat "/proc/$NS_PID/comm" 2>/dev/null)" = "$want" ] || ns_fail "the machine's PID 1 is not $want: $(cat "$NS_WORK/console.log")"
    if [ "$mode" = systemd ]; then
        local state
        for i in $(seq 600); do  # its private bus socket first: systemctl needs it
            ns test -S /run/systemd/private && break
            kill -0 "$NS_PID" 2>/dev/null || ns_fail "systemd exited during boot: $(cat "$NS_WORK/console.log")"
            sleep 0.1
        done
        state="$(timeout 90 nsenter -t "$NS_PID" -m -p -u -i -n -C systemctl is-system-running --wait 2>&1)" || true
        case "$state" in
            running) ;;
            degraded) echo "harness: booted degraded; failed units:" >&2; ns systemctl --failed --no-legend >&2 ;;
            *) ns_fail "systemd did not finish booting (is-system-running: $state): $(cat "$NS_WORK/console.log")" ;;
        esac
    fi
}

ns() {
    [ -n "$NS_PID" ] || ns_fail "no machine booted"
    nsenter -t "$NS_PID" -m -p -u -i -n -C --wd="$PWD" \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

ns_stop() {
    if [ -n "$NS_PID" ]; then
        kill -9 "$NS_PID" 2>/dev/null || true
        wait "$NS_UNSHARE" 2>/dev/null || true
    fi
    NS_PID="" NS_UNSHARE=""
    if [ -n "$NS_CGROUP" ] && [ -d "$NS_CGROUP" ]; then
        # The kernel empties the subtree as the machine's processes die; remove it, deepest first.
        local i
        for i in $(seq 50); do
            find "$NS_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null || true
            [ -d "$NS_CGROUP" ] || break
            sleep 0.1
        done
        [ -d "$NS_CGROUP" ] && echo "harness: warning: could not remove $NS_CGROUP" >&2
    fi
    NS_CGROUP=""
    [ -n "$NS_WORK" ] && rm -rf "$NS_WORK"
    NS_WORK=""
}

T_PASSED=0
T_FAILED=0
pass() { T_PASSED=$((T_PASSED + 1)); echo "ok   $1"; }
fail() { T_FAILED=$((T_FAILED + 1)); echo "FAIL $1${2:+: $2}"; }
check() {
    local name="$1"
    shift
    if "$@"; then pass "$name"; else fail "$name"; return 1; fi
}
finish() {
    echo "$1: $T_PASSED passed, $T_FAILED failed"
    [ "$T_FAILED" -eq 0 ]
}
