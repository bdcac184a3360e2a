#!/usr/bin/env python3
"""`make bench`: measured figures, one per line, `bench: NAME VALUE UNIT`.

Boot times are wall-clock times seen from the host, from QEMU's start to a
console line, under TCG (they include SeaBIOS and GRUB). In-kernel figures
come from the kernel's KBENCH entries, measured with rdtsc inside the guest
(under TCG, the TSC runs at the host's TSC rate). Nothing here is asserted:
speed is reported, never tested. Python 3 standard library only.
"""
import argparse
import os
import re
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402

LOGS = os.path.join(mq.ROOT, "build", "test-logs")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--kernel", default=os.path.join(mq.ROOT, "build", "kernel.elf"))
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5, help="boots to take the median of")
    ap.add_argument("--pattern", default="*", help="which KBENCH entries to run")
    args = ap.parse_args()

    to_kmain, to_done = [], []
    for i in range(args.runs):
        b = mq.boot(args.kernel, "ktest=*", timeout=240, mem=args.mem,
                    log_path=os.path.join(LOGS, f"bench-boot-{i}.log"))
        km, done = b.time_of("mdlos: kmain reached"), None
        for t, line in b.lines:
            if line.startswith("[ktest]") and " passed, " in line:
                done = t
        if km is None or done is None:
            print(f"bench: boot run {i} did not finish (see {b.log_path})", file=sys.stderr)
            return 1
        to_kmain.append(km * 1000)
        to_done.append(done * 1000)
    print(f"bench: boot.qemu_start_to_kmain {statistics.median(to_kmain):.0f} ms")
    print(f"bench: boot.qemu_start_to_tests_done {statistics.median(to_done):.0f} ms")

    b = mq.boot(args.kernel, f"bench={args.pattern}", timeout=600, mem=args.mem,
                log_path=os.path.join(LOGS, "bench-kernel.log"))
    failed = False
    # Cycles are the guest's RDTSC, which under TCG reads the host's TSC;
    # the kernel says what rate it calibrated (against the PIT), and every
    # figure in cycles gets its nanoseconds from that.
    per_ms = None
    for _, line in b.lines:
        m = re.match(r"bench: tsc\.cycles_per_ms (\d+) cycles", line)
        if m:
            per_ms = int(m.group(1)) or None

    def show(line):
        m = re.match(r"(bench: \S+ (\d+) cycles)\s*$", line)
        if m and per_ms and not line.startswith("bench: tsc."):
            ns = int(m.group(2)) * 1e6 / per_ms
            line = f"{m.group(1)} ({ns:.0f} ns)"
            # A cost per KiB moved is also a throughput.
            name = m.group(1).split()[1]
            if name.endswith("_per_kib") and ns:
                print(line, flush=True)
                line = f"bench: {name[:-len('_per_kib')]}_throughput {1e9 / (ns * 1024):.0f} MiB/s"
        print(line, flush=True)

    for _, line in b.lines:
        if line.startswith("bench: "):
            show(line)
        elif line.startswith("[bench] FAIL") or "*** STOP" in line:
            print(line, file=sys.stderr)
            failed = True
    if b.exit_code != mq.EXIT_PASS:
        print(f"bench: the benchmark boot ended badly (exit {b.exit_code}); see {b.log_path}", file=sys.stderr)
        failed = True

    # User-mode figures: the kernel runs user/ubench.c instead of init.
    # Fresh images (not snapshot=on, whose writes go to a temporary qcow2
    # overlay): the disk figures are a raw file with cache=none, as Linux's.
    b = mq.boot(args.kernel, "ubench", timeout=300, mem=args.mem, log_path=os.path.join(LOGS, "bench-user.log"),
                disks=mq.fresh_disks("bench-user"))
    for _, line in b.lines:
        if line.startswith("bench: "):
            show(line)
    if b.exit_code != mq.EXIT_PASS:
        print(f"bench: the user benchmark boot ended badly (exit {b.exit_code}); see {b.log_path}", file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
