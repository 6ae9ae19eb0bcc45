#!/usr/bin/env bash
# Installs probed and probectl as a systemd service. Idempotent: run it again to upgrade.
#
#   sudo Tools/install.sh [--prefix DIR] [--group NAME] [--from DIR] [--unit-dir DIR]
#                         [--config PATH] [--no-start] [--dry-run]
#
#   --prefix DIR    binaries go to DIR/bin (default /usr/local)
#   --group NAME    create the system group NAME if needed and let its members connect:
#                   `allow-group = NAME` in the configuration, socket file mode 0660 group NAME
#   --from DIR      install the probed and probectl already built in DIR (default: build them
#                   with `swift build -c release` first)
#   --unit-dir DIR  where the units go (default /etc/systemd/system)
#   --config PATH   the configuration file, created with comments if missing, never overwritten
#                   (default /etc/probed.conf)
#   --no-start      install only: no systemctl daemon-reload/enable/restart
#   --dry-run       print what would be done, change nothing
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
unit_dir=/etc/systemd/system
config=/etc/probed.conf
group=""
from=""
start=1
dry=0

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix="$2"; shift ;;
        --unit-dir) [ $# -ge 2 ] || die "--unit-dir needs a directory"; unit_dir="$2"; shift ;;
        --config) [ $# -ge 2 ] || die "--config needs a path"; config="$2"; shift ;;
        --group) [ $# -ge 2 ] || die "--group needs a group name"; group="$2"; shift ;;
        --from) [ $# -ge 2 ] || die "--from needs the directory holding the built probed and probectl"; from="$2"; shift ;;
        --no-start) start=0 ;;
        --dry-run) dry=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument \"$1\"" ;;
    esac
    shift
done
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path (the unit's ExecStart= names it)" ;; esac
if [ -n "$group" ] && ! [[ "$group" =~ ^[a-z_][a-z0-9_-]*$ ]]; then die "--group \"$group\" is not a valid group name"; fi

# Prints each command; runs it unless --dry-run.
run() {
    echo "+ $*"
    [ "$dry" -eq 1 ] || "$@"
}
write() {  # write PATH MODE: stdin to PATH
    local path="$1" mode="$2" tmp
    echo "+ write $path (mode $mode)"
    if [ "$dry" -eq 1 ]; then cat >/dev/null; return; fi
    tmp="$(mktemp "$path.XXXXXX")"
    cat >"$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
}

if [ -z "$from" ]; then
    run swift build -c release --product probed
    run swift build -c release --product probectl
    from="$(swift build -c release --show-bin-path)"
fi
for exe in probed probectl; do
    [ "$dry" -eq 1 ] || [ -x "$from/$exe" ] || die "$from/$exe is missing: build it first (swift build -c release) or pass --from DIR"
done

run mkdir -p "$prefix/bin" "$unit_dir" "$(dirname "$config")"
run install -m 0755 "$from/probed" "$prefix/bin/probed"
run install -m 0755 "$from/probectl" "$prefix/bin/probectl"

exec_start="$prefix/bin/probed"
[ "$config" = /etc/probed.conf ] || exec_start="$exec_start --config $config"
sed "s|^ExecStart=.*|ExecStart=$exec_start|" Tools/probed.service | write "$unit_dir/probed.service" 0644
write "$unit_dir/probed.socket" 0644 <Tools/probed.socket

if [ ! -e "$config" ]; then
    write "$config" 0644 <<'CONF'
# probed settings: `key = value`, one per line, named like probed's flags (probed --help).
# Check with `probed --check-config`; apply with `systemctl reload probed` (log-level applies
# at once; other changes are logged as needing `systemctl restart probed`).
#
# warmup = 10
# log-level = info
# metrics-listen = 127.0.0.1:9464
# sample-interval = 1s
# leak-threshold = 1MiB
# leak-window = 5m
# allow-group = probe
# control-group = probe-admin
CONF
else
    echo "  $config exists: kept as it is"
fi

if [ -n "$group" ]; then
    if getent group "$group" >/dev/null; then
        echo "  group $group exists"
    else
        run groupadd --system "$group"
    fi
    if [ "$dry" -eq 1 ] || ! grep -q '^[[:space:]]*allow-group[[:space:]]*=' "$config" 2>/dev/null; then
        echo "+ append 'allow-group = $group' to $config"
        [ "$dry" -eq 1 ] || printf 'allow-group = %s\n' "$group" >>"$config"
    else
        echo "  $config already sets allow-group: kept"
    fi
    run mkdir -p "$unit_dir/probed.socket.d"
    printf '[Socket]\nSocketGroup=%s\nSocketMode=0660\n' "$group" | write "$unit_dir/probed.socket.d/group.conf" 0644
fi

if [ "$start" -eq 1 ]; then
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
        run systemctl daemon-reload
        run systemctl enable --now probed.socket probed.service
        run systemctl try-restart probed.service
    else
        echo "  systemd is not running here: units installed, not started"
    fi
fi
echo "installed: $prefix/bin/probed, $prefix/bin/probectl, $unit_dir/probed.service, $unit_dir/probed.socket, $config"
