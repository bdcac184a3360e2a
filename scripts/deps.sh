#!/bin/sh
# Make sure the tools mdlos builds and boots with are installed. As root it
# installs what is missing from Debian's archive; otherwise it prints the
# exact apt-get line and fails. `make` runs this before building.
set -eu

PACKAGES="qemu-system-x86 nasm grub-pc-bin grub-common xorriso mtools gdb python3"
missing=""
need() { # need COMMAND-OR-PATH PACKAGE
    case "$1" in
        /*) [ -e "$1" ] || missing="$missing $2" ;;
        *) command -v "$1" >/dev/null 2>&1 || missing="$missing $2" ;;
    esac
}
need qemu-system-x86_64 qemu-system-x86
need /usr/share/qemu/qboot.rom qemu-system-data   # the firmware of make test's direct boots
need nasm nasm
need grub-mkrescue grub-common
need /usr/lib/grub/i386-pc/multiboot2.mod grub-pc-bin
need xorriso xorriso
need mformat mtools
need gdb gdb
need python3 python3
need gcc gcc
need ld binutils
need make make

[ -z "$missing" ] && exit 0
missing=$(echo $missing | tr ' ' '\n' | sort -u | tr '\n' ' ')
echo "mdlos: missing packages: $missing"
if [ "$(id -u)" != 0 ]; then
    echo "mdlos: run this as root, then make again:"
    echo "    apt-get install -y $missing"
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# A fresh machine may have no package lists yet: update once and retry.
if ! apt-get install -y --no-install-recommends $missing; then
    apt-get update
    apt-get install -y --no-install-recommends $missing
fi
