#!/usr/bin/env bash
# PID 1 of the test namespace until it execs systemd (or sleeps, for a machine without systemd).
# Run by harness.sh through `unshare`, never by hand:
#
#   ns-init.sh WORK TOOLCHAIN MODE [REPO]      MODE: systemd | bare; REPO: the checkout
#
# Everything below happens in the namespace's own mount table (unshare makes it private), so no
# mount reaches the host. It turns this host's filesystem into a throwaway machine:
#   /usr /etc /var       overlays: what dpkg and the tests change lives in a tmpfs, gone with it
#   /tmp /run /var/tmp   private tmpfs. REQUIRED: systemd-tmpfiles empties /tmp at boot, and
#   /var/log/journal     without a private one it would empty the host's /tmp
#   /etc/systemd/system  an empty tmpfs masking every unit the host's systemd enables statically
#                        (udev, getty, sysctl, tmpfiles, dbus, logind, …) but the journal, and
#                        every generator (fstab, getty, postgresql, …): only what a test installs runs
#   /sys /proc/sys       read-only (systemd would otherwise bump host-wide sysctls, trigger udev)
#   /sys/fs/cgroup       the cgroup2 subtree harness.sh made for this boot (a cgroup namespace)
#   /dev                 a private tmpfs with the few device nodes services use
#   TOOLCHAIN            hidden under an empty read-only tmpfs: a host without Swift
set -euo pipefail
work="$1" toolchain="$2" mode="$3" repo="${4:-}"

scratch="$work/scratch"
mount -t tmpfs -o mode=0700 probe-test-scratch "$scratch"
for d in usr etc var; do
    mkdir -p "$scratch/$d.upper" "$scratch/$d.work"
    mount -t overlay "probe-test-$d" -o "lowerdir=/$d,upperdir=$scratch/$d.upper,workdir=$scratch/$d.work" "/$d"
done
# A checkout under /tmp (the fresh clone `git clone . /tmp/x` that the README's check makes)
# would vanish under the private /tmp with the package and binaries the tests install: hold it
# (with the scratch tmpfs inside it) on a mount point in the /var overlay, then move it back to
# its own path. Only the checkout comes back; the rest of the host's /tmp stays out of reach, and
# systemd-tmpfiles, which empties /tmp at boot, is masked below like every static unit.
case "$repo/" in
    /tmp/?*)
        mkdir -p /var/lib/probe-test-checkout
        mount --rbind "$repo" /var/lib/probe-test-checkout ;;
    *) repo="" ;;
esac
mount -t tmpfs -o mode=1777 probe-test-tmp /tmp
if [ -n "$repo" ]; then
    mkdir -p "$repo"
    mount --move /var/lib/probe-test-checkout "$repo"
fi
mount -t tmpfs -o mode=0755 probe-test-run /run
mount -t tmpfs -o mode=1777 probe-test-vartmp /var/tmp
mkdir -p /var/log/journal
mount -t tmpfs -o mode=2755 probe-test-journal /var/log/journal
mount -t tmpfs -o ro,mode=0755 probe-test-no-swift "$toolchain"

# Only the units a test installs: mask what the host's systemd package enables statically (its
# *.wants directories), keeping the journal, and the generators that would pull in more.
mount -t tmpfs -o mode=0755 probe-test-units /etc/systemd/system
for wanted in /usr/lib/systemd/system/*.wants/*; do
    name="${wanted##*/}"
    case "$name" in
        systemd-journald.service | systemd-journald.socket | systemd-journald-dev-log.socket) ;;
        *) ln -sfn /dev/null "/etc/systemd/system/$name" ;;
    esac
done
for name in getty@.service serial-getty@.service console-getty.service container-getty@.service \
    systemd-udevd.service systemd-udev-trigger.service systemd-udev-settle.service \
    systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-timesyncd.service \
    systemd-pstore.service systemd-networkd.service systemd-resolved.service systemd-logind.service \
    dbus.service dbus.socket postgresql.service postgresql@.service cron.service ssh.service \
    systemd-remount-fs.service systemd-fsck-root.service systemd-fsck@.service; do
    ln -sfn /dev/null "/etc/systemd/system/$name"
done
mkdir -p /etc/systemd/system-generators
for generator in /usr/lib/systemd/system-generators/* /usr/local/lib/systemd/system-generators/*; do
    [ -e "$generator" ] && ln -sfn /dev/null "/etc/systemd/system-generators/${generator##*/}"
done

# /sys and /proc/sys read-only; the cgroup namespace's own tree on /sys/fs/cgroup.
mount --bind /sys /sys
mount -o remount,bind,ro /sys
mount -t cgroup2 probe-test-cgroup /sys/fs/cgroup
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys

# A private /dev: the host's devtmpfs stays untouched (journald would put /dev/log there).
mkdir -p "$scratch/dev"
mount -t tmpfs -o mode=0755,nosuid probe-test-dev "$scratch/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
    IFS=: read -r name major minor <<<"$node"
    mknod -m 0666 "$scratch/dev/$name" c "$major" "$minor"
done
ln -s /proc/self/fd "$scratch/dev/fd"
ln -s /proc/self/fd/0 "$scratch/dev/stdin"
ln -s /proc/self/fd/1 "$scratch/dev/stdout"
ln -s /proc/self/fd/2 "$scratch/dev/stderr"
mkdir -p "$scratch/dev/pts" "$scratch/dev/shm"
mount --move "$scratch/dev" /dev
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 probe-test-pts /dev/pts
ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 probe-test-shm /dev/shm

hostname probe-test
case "$mode" in
    systemd) exec env -i container=probe-test PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        /lib/systemd/systemd --system --unit=multi-user.target ;;
    bare) exec sleep infinity ;;
    *) echo "ns-init.sh: unknown mode $mode" >&2; exit 2 ;;
esac
