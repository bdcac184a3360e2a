#!/bin/sh
# gdb.sh ISO KERNEL.elf: boot mdlos in QEMU paused at the very first
# instruction with its gdbstub on, and attach GDB with the kernel's symbols
# and scripts/gdb/gdbinit. The serial console goes to build/serial.log
# (watch it with `tail -f build/serial.log` in another terminal).
# GDB_PORT picks the port (default 1234).
set -eu
iso=$1 kernel=$2
port=${GDB_PORT:-1234}
here=$(cd "$(dirname "$0")" && pwd)
log=$(dirname "$kernel")/serial.log
sh "$here/qemu.sh" "$iso" -S -gdb "tcp:127.0.0.1:$port" -serial "file:$log" -monitor none &
qemu=$!
trap 'kill $qemu 2>/dev/null || true' EXIT INT TERM
echo "mdlos: QEMU is paused before the BIOS; serial output goes to $log"
echo "mdlos: 'continue' runs to kmain; 'break-entry32' first stops at the 32-bit entry. See docs/debugging.md."
gdb -q -x "$here/gdb/gdbinit" -ex "file $kernel" -ex "target remote 127.0.0.1:$port" \
    -ex "break kmain" ${GDB_ARGS:-}
