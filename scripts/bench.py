#!/usr/bin/env python3
"""`make bench`: measured figures, each the median of several runs.

Every figure is one line `bench: NAME VALUE UNIT  (...)`, whose first four
words stay machine-readable (VALUE is the median), followed by the minimum,
maximum and number of runs; a figure in cycles is also given in
nanoseconds. All figures go to build/bench.json as well; with
`--base FILE.json` (make bench BASE=FILE.json) each line also gets its
ratio to that saved run (below 1: faster now).

Where the figures come from:
  boot.*    wall-clock times seen from the host from QEMU's start to a
            console line, for both boot paths (direct: QEMU -kernel with
            qboot, what make test boots; grub: the ISO make run boots);
  KBENCH    the kernel's benchmarks (bench=PATTERN), measured with RDTSC in
            the guest: each body runs once to warm up, then --runs times
            (kernel/ktest/ktest.c);
  user.*    user/ubench.c in ring 3, one value per boot, --user-runs boots.
Cycles are the guest's RDTSC, which under TCG reads the host's TSC; they
become nanoseconds with the rate the kernel measures against the PIT for
the bench boot (bench: tsc.cycles_per_ms, printed with every run).
Nothing here is asserted: speed is reported, never tested. Python 3
standard library only.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402

LOGS = os.path.join(mq.ROOT, "build", "test-logs")
LINE_RE = re.compile(r"^bench: (\S+) (\d+(?:\.\d+)?) (\S+)")


class Figures:
    """NAME -> (unit, [values]) in the order first seen."""

    def __init__(self):
        self.data = {}

    def add(self, name, value, unit):
        u, vals = self.data.setdefault(name, (unit, []))
        if u != unit:
            raise ValueError(f"{name}: unit {unit}, earlier {u}")
        vals.append(value)

    def add_lines(self, lines, prefix=""):
        for _, line in lines:
            m = LINE_RE.match(line)
            if m:
                self.add(prefix + m.group(1), float(m.group(2)), m.group(3))


def summary(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "runs": len(vals)}


def fmt(v):
    return f"{v:.0f}" if abs(v) >= 100 or v == int(v) else f"{v:.3g}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default=os.path.join(mq.ROOT, "build", "kernel.elf"))
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--runs", type=int, default=5, help="timed runs of each kernel benchmark (after a warm-up)")
    ap.add_argument("--boot-runs", type=int, default=5, help="boots timed per boot path")
    ap.add_argument("--user-runs", type=int, default=3, help="boots of user/ubench.c")
    ap.add_argument("--pattern", default="*", help="which KBENCH entries to run")
    ap.add_argument("--json", default=os.path.join(mq.ROOT, "build", "bench.json"), help="where to save the figures")
    ap.add_argument("--base", default="", help="a saved bench.json: print each figure's ratio to it")
    args = ap.parse_args()
    base = {}
    if args.base:
        with open(args.base) as f:
            base = json.load(f).get("figures", {})

    figs = Figures()
    failed = False

    # ---- boot: QEMU start -> kmain, -> the first test line, per path ----
    for loader in ("direct", "grub"):
        for i in range(args.boot_runs):
            b = mq.boot(args.kernel, "ktest=kprintf.*", timeout=120, mem=args.mem, loader=loader,
                        log_path=os.path.join(LOGS, f"bench-boot-{loader}-{i}.log"))
            km, first = b.time_of("mdlos: kmain reached"), b.time_of("[ktest] RUN")
            if km is None or first is None or b.exit_code != mq.EXIT_PASS:
                print(f"bench: the {loader} boot {i} did not finish (see {b.log_path})", file=sys.stderr)
                failed = True
                break
            figs.add(f"boot.{loader}.qemu_start_to_kmain", km * 1000, "ms")
            figs.add(f"boot.{loader}.qemu_start_to_first_test", first * 1000, "ms")
            figs.add(f"boot.{loader}.kmain_to_first_test", (first - km) * 1000, "ms")

    # ---- the kernel's KBENCH entries ----
    b = mq.boot(args.kernel, f"bench={args.pattern} bench.runs={args.runs}", timeout=900, mem=args.mem,
                log_path=os.path.join(LOGS, "bench-kernel.log"))
    figs.add_lines(b.lines)
    for _, line in b.lines:
        if line.startswith("[bench] FAIL") or "*** STOP" in line:
            print(line, file=sys.stderr)
            failed = True
    if b.exit_code != mq.EXIT_PASS:
        print(f"bench: the benchmark boot ended badly (exit {b.exit_code}); see {b.log_path}", file=sys.stderr)
        failed = True

    # ---- user mode: the kernel runs user/ubench.c instead of init ----
    # Fresh images (not snapshot=on, whose writes go to a temporary qcow2
    # overlay): the disk figures are a raw file with cache=none, as Linux's.
    for i in range(args.user_runs):
        b = mq.boot(args.kernel, "ubench", timeout=300, mem=args.mem,
                    log_path=os.path.join(LOGS, f"bench-user-{i}.log"),
                    disks=mq.fresh_disks(f"bench-user-{i}"))
        figs.add_lines(b.lines)
        if b.exit_code != mq.EXIT_PASS:
            print(f"bench: the user benchmark boot ended badly (exit {b.exit_code}); see {b.log_path}",
                  file=sys.stderr)
            failed = True

    # ---- report ----
    rate = figs.data.get("tsc.cycles_per_ms", ("cycles", []))[1]
    per_ms = statistics.median(rate) if rate else None
    out = {}
    if per_ms:
        print(f"bench: cycles become ns at {per_ms / 1000:.1f} MHz (the kernel's TSC rate against the PIT; "
              f"tsc.cycles_per_ms below)", flush=True)
    for name, (unit, vals) in figs.data.items():
        s = summary(vals)
        rec = {"unit": unit, **s}
        text = f"bench: {name} {fmt(s['median'])} {unit}"
        notes = [f"min {fmt(s['min'])} max {fmt(s['max'])}, {s['runs']} run{'s' if s['runs'] != 1 else ''}"]
        if unit == "cycles" and per_ms and not name.startswith("tsc."):
            ns = {k: s[k] * 1e6 / per_ms for k in ("median", "min", "max")}
            rec["ns"] = ns
            text += f" = {fmt(ns['median'])} ns"
            notes[0] = f"min {fmt(ns['min'])} max {fmt(ns['max'])} ns, {s['runs']} runs"
            # A cost per KiB moved is also a throughput.
            if name.endswith("_per_kib") and ns["median"]:
                rec["mib_per_s"] = 1e9 / (ns["median"] * 1024)
                notes.append(f"{rec['mib_per_s']:.0f} MiB/s")
        old = base.get(name)
        if old and old.get("median") and old.get("unit") == unit:
            rec["ratio_to_base"] = s["median"] / old["median"]
            notes.append(f"x{rec['ratio_to_base']:.2f} of base")
        elif base:
            notes.append("not in base")
        out[name] = rec
        print(f"{text:60s} ({'; '.join(notes)})", flush=True)

    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "kernel": os.path.relpath(os.path.abspath(args.kernel), mq.ROOT),
                   "tsc_cycles_per_ms": per_ms, "runs": args.runs, "figures": out}, f, indent=1, sort_keys=True)
    print(f"bench: figures saved in {os.path.relpath(os.path.abspath(args.json), mq.ROOT)}"
          + (f"; ratios against {args.base}" if args.base else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
