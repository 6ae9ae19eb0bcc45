#!/usr/bin/env bash
# Installs probed and probectl as a systemd service. Idempotent: run it again to upgrade.
#
#   sudo Tools/install.sh [--prefix DIR] [--group NAME] [--from DIR] [--unit-dir DIR]
#                         [--config PATH] [--root DIR] [--no-start] [--dry-run]
#
#   --prefix DIR    binaries go to DIR/bin (default /usr/local)
#   --group NAME    create the system group NAME if needed and let its members connect:
#                   `allow-group = NAME` in the configuration, socket file mode 0660 group NAME
#   --from DIR      install the probed and probectl already built in DIR (default: build them
#                   with `swift build -c release --static-swift-stdlib` first)
#   --unit-dir DIR  where the units go (default /etc/systemd/system)
#   --config PATH   the configuration file, created with comments if missing, never overwritten
#                   (default /etc/probed.conf)
#   --root DIR      stage the installation under DIR (like DESTDIR, for packages and images):
#                   files go to DIR/<path>, but the units and the configuration name the
#                   paths as they will be on the target (ExecStart=/usr/local/bin/probed);
#                   implies --no-start and creates no group (the target needs the group)
#   --no-start      install only: no systemctl daemon-reload/enable/restart
#   --dry-run       print what would be done, change nothing
set -euo pipefail
# The repository (units, Package.swift); relative paths in arguments stay relative to the caller.
repo="$(cd "$(dirname "$0")/.." && pwd)"

prefix=/usr/local
unit_dir=/etc/systemd/system
config=/etc/probed.conf
group=""
from=""
root=""
start=1
dry=0

usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; }
die() { echo "install.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; prefix="$2"; shift ;;
        --unit-dir) [ $# -ge 2 ] || die "--unit-dir needs a directory"; unit_dir="$2"; shift ;;
        --config) [ $# -ge 2 ] || die "--config needs a path"; config="$2"; shift ;;
        --group) [ $# -ge 2 ] || die "--group needs a group name"; group="$2"; shift ;;
        --from) [ $# -ge 2 ] || die "--from needs the directory holding the built probed and probectl"; from="$2"; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; root="${2%/}"; shift ;;
        --no-start) start=0 ;;
        --dry-run) dry=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument \"$1\"" ;;
    esac
    shift
done
case "$prefix" in /*) ;; *) die "--prefix must be an absolute path (the unit's ExecStart= names it)" ;; esac
case "$unit_dir" in /*) ;; *) die "--unit-dir must be an absolute path" ;; esac
case "$config" in /*) ;; *) die "--config must be an absolute path (the unit names it)" ;; esac
if [ -n "$root" ]; then
    case "$root" in /*) ;; *) die "--root must be an absolute path" ;; esac
    start=0
fi
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

# The release binaries: built here unless --from names them, with the Swift runtime linked in so
# that the service keeps working when the toolchain moves or is upgraded.
if [ -z "$from" ]; then
    command -v swift >/dev/null || die "swift is not on PATH (sudo resets PATH): build as yourself with \`swift build -c release --static-swift-stdlib\`, then pass --from .build/release"
    run swift build -c release --static-swift-stdlib --package-path "$repo" --product probed
    run swift build -c release --static-swift-stdlib --package-path "$repo" --product probectl
    from="$(swift build -c release --package-path "$repo" --show-bin-path)"
fi
for exe in probed probectl; do
    [ "$dry" -eq 1 ] || [ -x "$from/$exe" ] || die "$from/$exe is missing: build it first (swift build -c release) or pass --from DIR"
done

# Where files go on this machine: under --root when staging, the target paths otherwise.
bin_dir="$root$prefix/bin" units="$root$unit_dir" conf_file="$root$config"
run mkdir -p "$bin_dir" "$units" "$(dirname "$conf_file")"
run install -m 0755 "$from/probed" "$bin_dir/probed"
run install -m 0755 "$from/probectl" "$bin_dir/probectl"

# The units name the binary and the configuration where they are on the target.
exec_start="$prefix/bin/probed"
[ "$config" = /etc/probed.conf ] || exec_start="$exec_start --config $config"
sed "s|^ExecStart=.*|ExecStart=$exec_start|" "$repo/Tools/probed.service" | write "$units/probed.service" 0644
write "$units/probed.socket" 0644 <"$repo/Tools/probed.socket"

if [ ! -e "$conf_file" ]; then
    write "$conf_file" 0644 <<'CONF'
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
    echo "  $conf_file exists: kept as it is"
fi

if [ -n "$group" ]; then
    if [ -n "$root" ]; then
        echo "  staged under $root: create the group on the target (groupadd --system $group)"
    elif getent group "$group" >/dev/null; then
        echo "  group $group exists"
    else
        run groupadd --system "$group"
    fi
    existing="$(sed -n 's/^[[:space:]]*allow-group[[:space:]]*=[[:space:]]*\([^[:space:]#]*\).*/\1/p' "$conf_file" 2>/dev/null | tail -n 1)"
    if [ "$dry" -eq 1 ] || [ -z "$existing" ]; then
        echo "+ append 'allow-group = $group' to $conf_file"
        [ "$dry" -eq 1 ] || printf 'allow-group = %s\n' "$group" >>"$conf_file"
    elif [ "$existing" = "$group" ]; then
        echo "  $conf_file already sets allow-group = $group: kept"
    else
        echo "install.sh: warning: $conf_file sets allow-group = $existing, not $group: kept; the socket file goes to group $group, so edit one of them" >&2
    fi
    run mkdir -p "$units/probed.socket.d"
    printf '[Socket]\nSocketGroup=%s\nSocketMode=0660\n' "$group" | write "$units/probed.socket.d/group.conf" 0644
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
echo "installed: $bin_dir/probed, $bin_dir/probectl, $units/probed.service, $units/probed.socket, $conf_file"
