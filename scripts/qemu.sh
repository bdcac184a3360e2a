#!/bin/sh
# qemu.sh ISO [extra QEMU arguments]: the one place QEMU's machine is
# defined, so make run, make test, make gdb and make bench boot the same one.
# qemu.sh --direct KERNEL [extra QEMU arguments]: the same machine without
# the ISO: QEMU loads KERNEL itself (-kernel: its multiboot1 header; the
# caller adds -append CMDLINE and -initrd MODULES, scripts/mdlosqemu.py)
# and the firmware is qboot, which only sets up the machine and jumps to
# it (no option ROMs, no boot menu, no BAR assignment: drivers/pci does
# that when the firmware did not). QBOOT=path overrides where qboot is;
# without qboot, SeaBIOS loads the kernel the same way, just slower.
#   -cpu max       every feature TCG emulates: NX, SMEP, SMAP, PAT, ...
#   isa-debug-exit the kernel leaves QEMU through port 0xf4; EXIT_PORT=PATH
#                  puts an isa-debugcon there instead, writing the byte to
#                  PATH, and QEMU lives on (the test runner's bugcheck worker)
#   -no-reboot     a triple fault stops QEMU (exit status 0) instead of looping
# ACCEL=kvm uses KVM where it works; TCG is the default.
#
# Two disks, raw images, each a virtio-blk-pci device with the modern
# transport only (disable-legacy=on: vendor:device 1af4:1042, no legacy
# I/O BAR, so a driver can never take the legacy path):
#   DISK0 (default build/disk0.img) on bus 0, the disk;
#   DISK1 (default build/disk1.img) behind a PCI-to-PCI bridge (bus 1), for
#         the pagefile - and so that the PCI bus driver has a bridge to walk.
# A missing default image is made here (64 MiB, sparse); DISKn=none leaves
# that disk out. DISK_SNAPSHOT=1 opens both with snapshot=on: writes go to a
# temporary overlay and the image is only read, so parallel boots (make
# test) can share one image. cache=none (O_DIRECT: the guest's writes reach
# the file, not the host's page cache) where the file system allows it,
# else cache=writeback (a file system without O_DIRECT); DISK_CACHE= overrides.
set -eu
if [ "$1" = --direct ]; then
    qboot=${QBOOT:-}
    for f in /usr/share/qemu/qboot.rom /usr/share/qemu-firmware/qboot.rom; do
        [ -z "$qboot" ] && [ -e "$f" ] && qboot=$f
    done
    load="-kernel $2"
    [ -n "$qboot" ] && load="-bios $qboot $load"
    shift 2
else
    load="-cdrom $1 -boot d"
    shift
fi
accel=${ACCEL:-tcg}
root=$(cd "$(dirname "$0")/.." && pwd)
disk0=${DISK0:-$root/build/disk0.img}
disk1=${DISK1:-$root/build/disk1.img}
snap=
[ "${DISK_SNAPSHOT:-0}" = 1 ] && snap=,snapshot=on
disks=
for n in 0 1; do
    eval img=\$disk$n
    [ "$img" = none ] && continue
    # blkdebug:CONFIG:IMAGE - QEMU's blkdebug driver over the image, for
    # fault injection (the host test vblk.blkdebug_errors_reach_the_caller).
    file=$img
    case "$img" in blkdebug:*) img=${img##*:} ;; esac
    if [ ! -e "$img" ]; then
        mkdir -p "$(dirname "$img")"
        truncate -s 64M "$img"
    fi
    cache=${DISK_CACHE:-}
    if [ -z "$cache" ]; then
        # One O_DIRECT read of the image itself tells whether its file
        # system takes O_DIRECT (a few microseconds).
        if dd if="$img" of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null; then
            cache=none
        else
            cache=writeback
        fi
    fi
    disks="$disks -drive file=$file,format=raw,if=none,id=disk$n,cache=$cache$snap"
    if [ $n = 0 ]; then
        disks="$disks -device virtio-blk-pci,drive=disk0,disable-legacy=on"
    else
        disks="$disks -device pci-bridge,id=pcibridge1,chassis_nr=1"
        disks="$disks -device virtio-blk-pci,drive=disk1,bus=pcibridge1,addr=1,disable-legacy=on"
    fi
done
exitdev="-device isa-debug-exit,iobase=0xf4,iosize=0x04"
if [ -n "${EXIT_PORT:-}" ]; then
    exitdev="-chardev file,id=exitport,path=$EXIT_PORT -device isa-debugcon,iobase=0xf4,chardev=exitport"
fi
# $disks, $load and $exitdev are split on spaces on purpose: an image, ISO or kernel
# path with a space is not supported.
# shellcheck disable=SC2086
exec qemu-system-x86_64 -machine pc -accel "$accel" -cpu max -m "${QEMU_MEM:-256}" \
    $load -display none -vga std -nic none $disks \
    $exitdev -no-reboot "$@"
