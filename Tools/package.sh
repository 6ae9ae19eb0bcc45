#!/usr/bin/env bash
# Builds the Debian package probe_<version>_amd64.deb: probed and probectl linked with the Swift
# standard library statically (they run on a host with no Swift at all: glibc and libstdc++ only),
# the systemd units, /etc/probed.conf as a conffile, man pages, and maintainer scripts that create
# the `probe` group and enable and start probed.socket when systemd runs.
#
#   bash Tools/package.sh [--from DIR] [--output DIR] [--compression xz|gzip]
#
#   --from DIR     package the probed and probectl already built in DIR (they must be built with
#                  `swift build -c release --static-swift-stdlib`); default: build them so
#   --output DIR   where the .deb goes (default .build/package)
#   --compression  of the .deb's members: xz (the default, as Debian's) or gzip (faster to
#                  build, larger); Debian's tools refuse zstd
#
# Then: sudo dpkg -i .build/package/probe_<version>_amd64.deb
# Environment: PROBE_MAINTAINER overrides the Maintainer field ("Name <address>").
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
here="$repo/Tools/debian"

from=""
output="$repo/.build/package"
compression=xz
die() { echo "package.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --from) [ $# -ge 2 ] || die "--from needs the directory holding the built probed and probectl"; from="$2"; shift ;;
        --output) [ $# -ge 2 ] || die "--output needs a directory"; output="$2"; shift ;;
        --compression)
            [ $# -ge 2 ] || die "--compression needs xz or gzip"
            case "$2" in xz | gzip) compression="$2" ;; *) die "--compression $2: use xz or gzip (Debian's tools refuse zstd)" ;; esac
            shift ;;
        -h|--help) awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"; exit 0 ;;
        *) die "unknown argument \"$1\" (--help lists them)" ;;
    esac
    shift
done
for tool in dpkg-deb dpkg-shlibdeps strip gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install dpkg-dev binutils gzip"
done
[ "$(dpkg --print-architecture)" = amd64 ] || die "this builds amd64 packages; this host is $(dpkg --print-architecture)"

if [ -z "$from" ]; then
    command -v swift >/dev/null || die "swift is not on PATH: build as yourself, or pass --from DIR"
    # Bound at load time (-z now), as Debian's hardening flags do; a relink, not a rebuild.
    for product in probed probectl; do
        swift build --package-path "$repo" -c release --static-swift-stdlib -Xlinker -z -Xlinker now --product "$product"
    done
    from="$(swift build --package-path "$repo" -c release --show-bin-path)"
fi
for exe in probed probectl; do
    [ -x "$from/$exe" ] || die "$from/$exe is missing: build it with \`swift build -c release --static-swift-stdlib --product $exe\`"
    if ldd "$from/$exe" | grep -q 'libswift\|libFoundation\|libdispatch'; then
        die "$from/$exe needs the Swift runtime libraries: build it with --static-swift-stdlib"
    fi
done

version="$("$from/probed" --version | awk '{print $2}')"
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "probed --version said \"$version\", not a version"
name="probe_${version}_amd64"
mkdir -p "$output"
output="$(cd "$output" && pwd)"
stage="$output/$name"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"

# The files, as Tools/install.sh puts them for any target: binaries in /usr/bin, units in
# /lib/systemd/system naming /usr/bin/probed, the commented configuration with `allow-group = probe`,
# and the socket given to the group (probed.socket.d/group.conf: mode 0660, group probe).
bash "$repo/Tools/install.sh" --from "$from" --root "$stage" --prefix /usr --unit-dir /lib/systemd/system \
    --config /etc/probed.conf --group probe >/dev/null
# As dh_strip does: no symbols or notes in the shipped binaries.
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$stage/usr/bin/probed" "$stage/usr/bin/probectl"

# Man pages: the prose in Tools/debian, the options exactly as --help prints them.
manpage() {  # manpage NAME SECTION
    local name="$1" section="$2" dir="$stage/usr/share/man/man$2"
    mkdir -p "$dir"
    "$stage/usr/bin/$name" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" >"$output/$name.options"
    sed -e "s/@VERSION@/$version/" -e "/^@OPTIONS@\$/{r $output/$name.options" -e 'd}' "$here/$name.$section.in" |
        gzip -9n >"$dir/$name.$section.gz"
    rm -f "$output/$name.options"
}
manpage probed 8
manpage probectl 1

doc="$stage/usr/share/doc/probe"
mkdir -p "$doc"
install -m 0644 "$here/copyright" "$doc/copyright"
gzip -9n <"$repo/README.md" >"$doc/README.md.gz"
# A native package's changelog; dated by the commit it is built from, as are the files' times,
# so rebuilds of a commit are identical.
date="$(git -C "$repo" log -1 --format=%cD 2>/dev/null || date -R)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || date +%s)}"
commit="$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
maintainer="${PROBE_MAINTAINER:-probe developers <probe@users.noreply.github.com>}"
printf 'probe (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
    "$version" "$commit" "$maintainer" "$date" | gzip -9n >"$doc/changelog.gz"
find "$stage" -path "$stage/DEBIAN" -prune -o -type d -exec chmod 0755 {} +

# Depends: what the binaries link, as dpkg-shlibdeps works it out (glibc, libstdc++, libgcc).
shlibs="$output/shlibs"
rm -rf "$shlibs"
mkdir -p "$shlibs/debian"
printf 'Source: probe\n\nPackage: probe\nArchitecture: amd64\n' >"$shlibs/debian/control"
depends="$(cd "$shlibs" && dpkg-shlibdeps -O "$stage/usr/bin/probed" "$stage/usr/bin/probectl" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
rm -rf "$shlibs"
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for the binaries"

installed_size="$(du -sk --apparent-size --exclude=DEBIAN "$stage" | cut -f1)"
cat >"$stage/DEBIAN/control" <<CONTROL
Package: probe
Version: $version
Architecture: amd64
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Homepage: https://github.com/probe/probe
Description: profiling agent for ML inference services
 probe measures the latency, throughput, failures and memory of ML inference
 services from outside them. A service links the small probe client library
 (Swift or Python) and wraps its calls; probed, the daemon in this package,
 aggregates them (warm-up calls kept out of percentiles, error rates, slow
 calls with their inputs, resident and GPU memory trends with leak detection)
 and probectl shows them live. probed also serves Prometheus metrics.
 .
 probed runs as a socket-activated systemd service on /run/probed/probed.sock;
 root and members of the group "probe" may connect.
CONTROL
echo /etc/probed.conf >"$stage/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "$here/$script" "$stage/DEBIAN/$script"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

deb="$output/$name.deb"
dpkg-deb --root-owner-group "-Z$compression" --build "$stage" "$deb" >/dev/null
echo "package.sh: built $deb ($(du -h "$deb" | cut -f1); probed $(du -h "$stage/usr/bin/probed" | cut -f1), probectl $(du -h "$stage/usr/bin/probectl" | cut -f1) stripped)"
