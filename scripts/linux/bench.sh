#!/bin/sh
# bench.sh [run.py options]: fetch Debian's Linux 6.1 and busybox-static
# (once), build the initramfs, and run the side-by-side benchmarks
# (scripts/linux/run.py; `make linux-bench` runs this).
set -eu
here=$(cd "$(dirname "$0")" && pwd)

# Beyond what mdlos builds with (scripts/deps.sh): glibc's static libraries
# for `gcc -static` (libc6-dev; mdlos itself is freestanding and does not
# need them), make and strip for the module. Installed as root when missing.
missing=
command -v qemu-system-x86_64 >/dev/null 2>&1 || missing="$missing qemu-system-x86"
command -v gcc >/dev/null 2>&1 || missing="$missing gcc"
command -v make >/dev/null 2>&1 || missing="$missing make"
command -v strip >/dev/null 2>&1 || missing="$missing binutils"
command -v python3 >/dev/null 2>&1 || missing="$missing python3"
[ -e "$(gcc -print-file-name=libc.a 2>/dev/null)" ] && [ "$(gcc -print-file-name=libc.a 2>/dev/null)" != libc.a ] ||
    missing="$missing libc6-dev"
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench.sh: missing packages:$missing; as root: apt-get install -y$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $missing || {
        apt-get update
        apt-get install -y --no-install-recommends $missing
    }
fi

sh "$here/fetch.sh"
python3 "$here/mkinitramfs.py"
exec python3 "$here/run.py" "$@"
