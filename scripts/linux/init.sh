#!/bin/sh
# /init of the Linux side-by-side initramfs (scripts/linux/mkinitramfs.py
# packs this file as /init, with busybox-static as /bin/sh). The kernel's
# command line says what to run:
#   lxbench=cpu,disk    null system call, faults, pins, vmap (lxvmap.ko);
#                       then O_DIRECT disk
#   lxbench=swap:MIB    swap on the second virtio disk, the MIB workload
#   pagecluster=N       /proc/sys/vm/page-cluster for the swap run (swap
#                       readahead of 2^N pages; Linux's default is 3)
# Every line goes to the serial console; the last is "lxinit: done STATUS"
# and QEMU then leaves through isa-debug-exit (0x10 pass, 0x11 fail).
echo "lxinit: init reached"
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

tasks=
pagecluster=
for word in $(cat /proc/cmdline); do
    case $word in
        lxbench=*) tasks=$(echo "${word#lxbench=}" | tr , ' ') ;;
        pagecluster=*) pagecluster=${word#pagecluster=} ;;
    esac
done

echo "lx: info kernel $(uname -r) $(uname -v)"
echo "lx: info clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
for v in /sys/devices/system/cpu/vulnerabilities/meltdown /sys/devices/system/cpu/vulnerabilities/spectre_v2; do
    echo "lx: info vulnerability ${v##*/}: $(cat $v)"
done
echo "lx: info memtotal $(grep MemTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2) kB"

# virtio_pci and virtio_blk are modules in Debian's kernel.
for m in $(cat /lib/modules/load.order); do
    insmod /lib/modules/$m || echo "lx: error insmod $m"
done

# disk0 sits on PCI bus 0, disk1 behind the PCI-to-PCI bridge (bus 1), as
# scripts/qemu.sh attaches them; the sysfs path of each block device names
# its PCI function.
disk0=
disk1=
tries=0
while [ -z "$disk0" ] && [ $tries -lt 50 ]; do
    for b in /sys/block/vd*; do
        [ -e "$b" ] || continue
        case $(readlink -f "$b") in
            */0000:00:*/0000:01:*) disk1=${b##*/} ;;
            *) disk0=${b##*/} ;;
        esac
    done
    [ -z "$disk0" ] && sleep 0.1
    tries=$((tries + 1))
done
echo "lx: info disk0 ${disk0:-none} disk1 ${disk1:-none}"

status=0
for t in $tasks; do
    echo "lxinit: run $t"
    case $t in
        cpu)
            lxbench cpu || status=1
            # vmap + vunmap, from the kernel: our module prints its figures
            # to the kernel log (not the console), read back here.
            if [ -e /lib/modules/lxvmap.ko ]; then
                insmod /lib/modules/lxvmap.ko 2>/dev/null || echo "lx: error insmod lxvmap.ko"
                dmesg | sed -n 's/^.*\(lx: .*\)$/\1/p'
                rmmod lxvmap
            else
                echo "lx: info no lxvmap.ko: no vmap figure"
            fi
            ;;
        disk) lxbench disk /dev/$disk0 || status=1 ;;
        swap:*)
            if [ -z "$disk1" ]; then echo "lx: error no second disk for swap"; status=1; continue; fi
            mkswap /dev/$disk1 >/dev/null && swapon /dev/$disk1 || { echo "lx: error swapon"; status=1; continue; }
            [ -n "$pagecluster" ] && echo "$pagecluster" > /proc/sys/vm/page-cluster
            echo "lx: info page-cluster $(cat /proc/sys/vm/page-cluster) swap $(grep SwapTotal /proc/meminfo | tr -s ' ' | cut -d' ' -f2) kB free $(grep MemFree /proc/meminfo | tr -s ' ' | cut -d' ' -f2) kB"
            lxbench swap "${t#swap:}" || status=1
            swapoff /dev/$disk1
            ;;
        *) echo "lx: error unknown task $t"; status=1 ;;
    esac
done
echo "lxinit: done $status"
if [ $status = 0 ]; then lxbench exit 0x10; else lxbench exit 0x11; fi
poweroff -f
