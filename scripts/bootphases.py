#!/usr/bin/env python3
"""The boot's phases, measured: boot the kernel N times with `boot.phases`
and print each phase's median (docs/performance.md "Boot").

    python3 scripts/bootphases.py [--runs 5] [--icount] [--mem 256] [--cmdline ...]

--icount runs QEMU with -icount shift=0: the guest's TSC then counts
executed instructions, so the figures are the same on an idle and on a
loaded host (wall time under TCG is not). Without it the phases are in
host TSC cycles. Also printed: QEMU's CPU seconds and the wall time from
QEMU's start to kmain and to the first test line (those two are wall time
whatever --icount says). Python 3 standard library only.
"""
import argparse
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402

PHASE_RE = re.compile(r"^boot: phase (\S+) (\d+) \((\d+) since reset\)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default=os.path.join(mq.ROOT, "build", "kernel.elf"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--icount", action="store_true")
    ap.add_argument("--loader", default=None)
    ap.add_argument("--cmdline", default="ktest=kprintf.signed_decimal")
    ap.add_argument("--no-disks", action="store_true", help="boot without the two virtio-blk disks")
    args = ap.parse_args()
    phases, order, wall, cpu = {}, [], {"kmain": [], "first test": [], "exit": []}, []
    for i in range(args.runs):
        qa = ["-icount", "shift=0"] if args.icount else []
        b = mq.boot(args.kernel, "boot.phases " + args.cmdline, timeout=60, mem=args.mem, qemu_args=qa,
                    loader=args.loader, disks=(None, None) if args.no_disks else None,
                    log_path=os.path.join(mq.ROOT, "build", "test-logs", f"bootphases-{i}.log"))
        seen = {}
        for _, line in b.lines:
            m = PHASE_RE.match(line)
            if m:
                # A phase marked twice (one mark per disk) is two rows.
                seen[m.group(1)] = seen.get(m.group(1), 0) + 1
                name = m.group(1) + (f".{seen[m.group(1)]}" if seen[m.group(1)] > 1 else "")
                if name not in phases:
                    order.append(name)
                    phases[name] = []
                phases[name].append(int(m.group(2)))
        t = b.time_of("mdlos: kmain reached")
        f = next((t for t, line in b.lines if line.startswith("[ktest] RUN")), None)
        if t is not None:
            wall["kmain"].append(t)
        if f is not None:
            wall["first test"].append(f)
        wall["exit"].append(b.elapsed)
        if b.cpu is not None:
            cpu.append(b.cpu)
    unit = "instructions" if args.icount else "cycles"
    total = 0
    for name in order:
        v = statistics.median(phases[name])
        total += v
        print(f"{name:40s} {v / 1e6:8.2f} M {unit}")
    print(f"{'total to the end of the start':40s} {total / 1e6:8.2f} M {unit}")
    for k, v in wall.items():
        if v:
            print(f"wall: QEMU start to {k:10s} {1000 * statistics.median(v):6.0f} ms (min {1000 * min(v):.0f})")
    if cpu:
        print(f"QEMU CPU per boot {1000 * statistics.median(cpu):.0f} ms (min {1000 * min(cpu):.0f})")


if __name__ == "__main__":
    main()
