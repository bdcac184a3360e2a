#!/usr/bin/env python3
"""Boot mdlos with its sampling profiler on a ubench= loop and print the
report (docs/performance.md "Profiling the guest"): `make prof
UBENCH=disk4kringregf [HZ=2000] [ICOUNT=1]`.

The kernel samples at HZ (prof=HZ on the command line, the PIT's channel
0); user/ubench.c clears the counts as the loop's timed part starts and
has the kernel print its `prof:` lines as it ends. This prints those and
the loop's own `bench:` lines. --icount runs QEMU with -icount shift=0:
the PIT then fires every 1/HZ s of guest *instructions*, so the profile
is one of instructions, not of host time. Fresh disk images, as make
bench's user boots. Python 3 standard library only.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default=os.path.join(mq.ROOT, "build", "kernel.elf"))
    ap.add_argument("--ubench", default="disk4kringregf", help="the ubench= loop (user/ubench.c)")
    ap.add_argument("--hz", type=int, default=2000, help="samples a second (20..20000)")
    ap.add_argument("--icount", action="store_true", help="QEMU -icount shift=0: profile instructions")
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--cmdline", default="", help="more boot options")
    args = ap.parse_args()
    cmdline = f"ubench={args.ubench} prof={args.hz}" + (f" {args.cmdline}" if args.cmdline else "")
    log = os.path.join(mq.ROOT, "build", "logs", f"prof-{args.ubench}.log")
    b = mq.boot(args.kernel, cmdline, timeout=args.timeout, mem=args.mem, log_path=log,
                qemu_args=["-icount", "shift=0"] if args.icount else [],
                disks=mq.fresh_disks(f"prof-{args.ubench}"))
    shown = 0
    for _, line in b.lines:
        if line.startswith(("prof:", "bench:")) or "*** STOP" in line:
            print(line)
            shown += line.startswith("prof:")
    ok = b.exit_code == mq.EXIT_PASS and shown > 0
    if not ok:
        why = "no prof: lines" if b.exit_code == mq.EXIT_PASS else f"QEMU exit {b.exit_code}"
        print(f"prof: the boot ended badly ({why}{', timed out' if b.timed_out else ''}); see {log}",
              file=sys.stderr)
    else:
        print(f"prof: the whole boot's log is {os.path.relpath(log)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
