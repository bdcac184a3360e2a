#!/bin/sh
# fetch.sh: Debian 12's own Linux 6.1 kernel and busybox-static, from
# Debian's package archive, unpacked into build/linux/ (never installed
# into the host's /boot, never committed).
#   build/linux/vmlinuz          the kernel exactly as Debian ships it
#   build/linux/modules/*.ko     virtio_pci and virtio_blk with what they
#                                depend on (modules in Debian's kernel)
#   build/linux/busybox          busybox-static, the guest's shell
#   build/linux/kernel.version   e.g. 6.1.0-57-amd64 6.1.192-3
# LINUX_PKG=linux-image-6.1.0-NN-amd64 picks a kernel; by default the one
# Debian's linux-image-amd64 metapackage depends on today. Run as root (or
# with apt lists present): a fresh machine gets `apt-get update` once.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$root/build/linux
mkdir -p "$out/debs"

current_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        sed -n 's/^ *Depends: \(linux-image-6\.1\.0-[0-9]*-amd64\)$/\1/p' | head -n 1
}
pkg=${LINUX_PKG:-$(current_pkg)}
if [ -z "$pkg" ]; then
    # No package lists yet (a fresh machine): fetch them once.
    apt-get update -q >/dev/null
    pkg=$(current_pkg)
fi
[ -n "$pkg" ] || { echo "fetch.sh: cannot resolve the current linux-image-6.1.0-*-amd64" >&2; exit 1; }
kver=${pkg#linux-image-}

if [ -f "$out/kernel.version" ] && [ "$(cut -d' ' -f1 "$out/kernel.version")" = "$kver" ] &&
   [ -f "$out/vmlinuz" ] && [ -x "$out/busybox" ] && { [ -d "$out/headers" ] || [ -f "$out/headers.none" ]; }; then
    exit 0   # already unpacked
fi

cd "$out/debs"
rm -f ./*.deb
# apt-get download writes into the current directory; as root it warns that
# the _apt user cannot write here, which is harmless.
apt-get download -q "$pkg" busybox-static 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
kdeb=$(ls "$pkg"_*.deb)
bdeb=$(ls busybox-static_*.deb)

rm -rf "$out/pkg" "$out/modules"
mkdir -p "$out/pkg" "$out/modules"
dpkg-deb -x "$kdeb" "$out/pkg"
dpkg-deb -x "$bdeb" "$out/pkg"
cp "$out/pkg/boot/vmlinuz-$kver" "$out/vmlinuz"
cp "$out/pkg/boot/config-$kver" "$out/config"
cp "$out/pkg/bin/busybox" "$out/busybox"

# The virtio PCI transport and the block driver are modules in Debian's
# kernel (CONFIG_VIRTIO_PCI=m, CONFIG_VIRTIO_BLK=m). The package carries no
# modules.dep (depmod makes it at install time), so each module's own
# "depends=" field (.modinfo) gives the load order; load.order lists them
# dependencies first. Debian 12 ships them uncompressed; a .ko.xz or .ko.zst
# is decompressed here, on the host, so the guest needs no decompressor.
mdir=$out/pkg/lib/modules/$kver/kernel
find_ko() { find "$mdir" \( -name "$1.ko" -o -name "$1.ko.xz" -o -name "$1.ko.zst" \) | head -n 1; }
: > "$out/modules/load.order"
add() { # add MODULE: its dependencies, then itself, once each
    local m f deps d   # (dash and bash both have local; add recurses)
    m=$(echo "$1" | tr - _)
    grep -qx "$m.ko" "$out/modules/load.order" && return 0
    f=$(find_ko "$m")
    [ -z "$f" ] && f=$(find_ko "$(echo "$m" | tr _ -)")
    [ -n "$f" ] || { echo "fetch.sh: module $m not in $pkg (built in?)" >&2; return 0; }
    case "$f" in
        *.xz) xz -dc "$f" > "$out/modules/$m.ko" ;;
        *.zst) zstd -qdc "$f" > "$out/modules/$m.ko" ;;
        *) cp "$f" "$out/modules/$m.ko" ;;
    esac
    deps=$(tr '\0' '\n' < "$out/modules/$m.ko" | sed -n 's/^depends=//p' | head -n 1 | tr , ' ')
    for d in $deps; do add "$d"; done
    echo "$m.ko" >> "$out/modules/load.order"
}
grep -q '^CONFIG_VIRTIO_PCI=y' "$out/config" || add virtio_pci
grep -q '^CONFIG_VIRTIO_BLK=y' "$out/config" || add virtio_blk

# Headers and kbuild for one out-of-tree module of our own
# (scripts/linux/module/lxvmap.c: vmap + vunmap is kernel-only), unpacked in
# build/linux/headers. The -amd64 package's Makefile includes the -common
# one by its absolute /usr/src path; that line is pointed at the unpacked
# copy. Without them the vmap figure is left out, nothing else.
hpkg=linux-headers-$kver
hdeps=$(apt-cache depends "$hpkg" 2>/dev/null |
    sed -n 's/^ *Depends: \(linux-headers-[^ ]*-common\|linux-kbuild-[^ ]*\)$/\1/p')
rm -rf "$out/headers" "$out/headers.none"
if [ -n "$hdeps" ] && apt-get download -q "$hpkg" $hdeps > headers.log 2>&1; then
    mkdir -p "$out/headers"
    for p in "$hpkg" $hdeps; do dpkg-deb -x "$(ls "$p"_*.deb)" "$out/headers"; done
    sed -i "s|^include /usr/src/|include $out/headers/usr/src/|" "$out/headers/usr/src/$hpkg/Makefile"
    # lib/modules/*/build and source are absolute links to /usr/src, which
    # dangle here (and break a copy of build/): not needed for M= builds.
    rm -rf "$out/headers/lib"
else
    echo "fetch.sh: no $hpkg: the vmap module will not be built" >&2
    : > "$out/headers.none"
fi

version=$(dpkg-deb -f "$kdeb" Version)
echo "$kver $version" > "$out/kernel.version"
rm -rf "$out/pkg"
rm -f ./*.deb   # unpacked: 85 MB that nothing reads again
echo "fetch.sh: $pkg $version unpacked in build/linux/"
