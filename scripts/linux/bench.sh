#!/bin/sh
# bench.sh [run.py options]: fetch Debian's Linux 6.1 and busybox-static
# (once), build the initramfs, and run the side-by-side benchmarks
# (scripts/linux/run.py; `make linux-bench` runs this). Needs qemu-system-x86,
# gcc with glibc's static libraries (libc6-dev), python3 and Debian's apt.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
sh "$here/fetch.sh"
python3 "$here/mkinitramfs.py"
exec python3 "$here/run.py" "$@"
