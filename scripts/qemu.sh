#!/bin/sh
# qemu.sh ISO [extra QEMU arguments]: the one place QEMU's machine is
# defined, so make run, make test, make gdb and make bench boot the same one.
#   -cpu max       every feature TCG emulates: NX, SMEP, SMAP, PAT, ...
#   isa-debug-exit the kernel leaves QEMU through port 0xf4
#   -no-reboot     a triple fault stops QEMU (exit status 0) instead of looping
# ACCEL=kvm uses KVM where it works; TCG is the default.
set -eu
iso=$1
shift
accel=${ACCEL:-tcg}
exec qemu-system-x86_64 -machine pc -accel "$accel" -cpu max -m "${QEMU_MEM:-256}" \
    -cdrom "$iso" -boot d -display none -vga std -nic none \
    -device isa-debug-exit,iobase=0xf4,iosize=0x04 -no-reboot "$@"
