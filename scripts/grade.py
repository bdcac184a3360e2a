#!/usr/bin/env python3
"""Grade a lab: `make grade LAB=pgtbl` (one lab) or `make grade` (every lab).

For each lab of labs/labs.json it builds the kernel with the lab's hidden
tests (labs/hidden/LAB/*.c, when the tree has them, and EXTRA_TESTS=FILES or
DIRS from course staff), boots the lab's graded tests headless under QEMU
with a fixed instruction count per virtual nanosecond (-icount shift=4,
sleep=off: the guest's clock and timer interrupts follow the instructions
it ran, not the host's load), and prints a line per test with its points:

    pgtbl: 10/10  pgtbl.physical.kernel_code_and_data
    pgtbl:  0/5   pgtbl.selfmap.kernel_addresses: pgtbl: not implemented yet: MiLabWalkSelfMap ...
    pgtbl: 45/60

A test's points are declared beside it: KTEST_POINTS(suite, name, points)
in C (kernel/ktest/ktest.h), @lab_host_test(name, points) in
scripts/labhost.py. A test that hangs or crashes the kernel loses its own
points: the runner boots again after it (ktest.after=) and the rest are
still graded. The exit status is 0 only at full marks; the result is also
written as JSON (build/grade/LAB.json, --json) for course infrastructure.
Python 3 standard library only; it reuses scripts/ktest.py's runner.
"""
import argparse
import concurrent.futures as cf
import glob
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402
import ktest  # noqa: E402

ICOUNT = ["-icount", "shift=4,sleep=off"]
POINTS_RE = re.compile(r"^\s*KTEST(?:_BUGCHECK)?_POINTS\(\s*(\w+)\s*,\s*(\w+)\s*,\s*(\d+)\s*[,)]", re.M)


def load_labs(root):
    with open(os.path.join(root, "labs", "labs.json")) as f:
        labs = json.load(f)["labs"]
    return dict(sorted(labs.items(), key=lambda kv: kv[1].get("order", 99)))


def test_name(suite, name):
    return f"{suite}.{name.replace('__', '.')}"


def hidden_files(root, lab, extra):
    """The lab's hidden test files: labs/hidden/LAB/*.c of this tree, then
    every EXTRA (a .c file, or a folder of them)."""
    files = sorted(glob.glob(os.path.join(root, "labs", "hidden", lab, "*.c")))
    for e in extra:
        if os.path.isdir(e):
            files += sorted(glob.glob(os.path.join(os.path.abspath(e), "**", "*.c"), recursive=True))
        elif e:
            files.append(os.path.abspath(e))
    return files


def graded_kernel_tests(root, spec, files):
    """{test name: points} of the lab: every KTEST_POINTS in its test files
    and hidden files whose name matches one of its globs (or any, in a
    hidden file: course staff name their own suites)."""
    import fnmatch
    out = {}
    for path in [os.path.join(root, f) for f in spec.get("test_files", [])] + files:
        with open(path, errors="replace") as f:
            text = f.read()
        hidden = path in files
        for m in POINTS_RE.finditer(text):
            name = test_name(m.group(1), m.group(2))
            if hidden or any(fnmatch.fnmatchcase(name, p) for p in spec["tests"]):
                out[name] = int(m.group(3))
    return out


def build(root, files, log):
    """make the kernel, the user programs and the disks with FILES as EXTRA_TESTS."""
    cmd = ["make", "-C", root, "-s", f"EXTRA_TESTS={' '.join(files)}", "build/kernel.elf", "user", "disks"]
    out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, "w") as f:
        f.write(out.stdout + out.stderr)
    if out.returncode != 0:
        errors = [l for l in (out.stdout + out.stderr).splitlines() if "error" in l]
        return False, (errors[0] if errors else f"make exited {out.returncode}")
    warnings = [l for l in (out.stdout + out.stderr).splitlines() if "warning:" in l]
    return True, (warnings[0] if warnings else "")


class GradeRunner(ktest.Runner):
    """ktest's runner, collecting outcomes instead of printing them, every
    boot under -icount."""

    def report(self, outcomes):
        with self.lock:
            self.results.extend(outcomes)

    def boot(self, name, cmdline, timeout, **kw):
        kw["qemu_args"] = list(kw.get("qemu_args", ())) + ICOUNT
        return super().boot(name, cmdline, timeout, **kw)


def boot_pattern(spec, kernel_tests):
    """The ktest= pattern: the lab's globs, and SUITE.* for each suite of a
    hidden test (the kernel takes at most 255 characters of an option, so
    not every name)."""
    import fnmatch
    pats = list(spec["tests"])
    for name in sorted(kernel_tests):
        if not any(fnmatch.fnmatchcase(name, p) for p in pats):
            pats.append(name.split(".")[0] + ".*")
    return ",".join(pats)


# The most (guest) seconds one graded test may take, unless the lab says
# otherwise ("test_limit" in labs.json): past it the kernel stops itself
# from the clock interrupt (ktest.limit=, kernel/ktest/ktest.c) and the boot
# resumes after that test, so a hang costs the test and this long, not the
# boot's timeout. Under -icount the guest's clock follows the instructions
# run, so the cut comes at the same point every run.
TEST_LIMIT = 60


def run_tests(root, spec, kernel_tests, host_tests, timeout, mem):
    limit = int(spec.get("test_limit", TEST_LIMIT))
    args = argparse.Namespace(kernel=os.path.join(root, "build", "kernel.elf"),
                              pattern=boot_pattern(spec, kernel_tests) if kernel_tests else "no.such.test", mem=mem,
                              timeout=timeout, bugcheck_timeout=timeout, cmdline=f"ktest.limit={limit}",
                              jobs=max(2, os.cpu_count() or 2), shards=1, user_shards=1, user_tests=False,
                              user_timeout=timeout)
    r = GradeRunner(args)
    with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        if kernel_tests:
            # One boot (resumed after a crash or a hang); each bugcheck test
            # it defers is queued on POOL the moment its DEFER line arrives.
            r.main_boot(pool)
            while True:
                with r.lock:
                    pending = [f for f in r.bugcheck_futures if not f.done()]
                if not pending:
                    break
                for f in pending:
                    f.result()
    # The host tests (GDB sessions) one at a time, after the boots: GDB
    # connects to a QEMU that must be listening within its timeout, which a
    # loaded machine (300 submissions) must not be able to break.
    import labhost
    for name in host_tests:
        fn = labhost.HOST_TESTS[name][1]
        r.run_host_test(name, lambda n, fn=fn: fn(r, n))
    return r.results


def grade_lab(root, lab, spec, extra, mem, quiet=False, build_it=True):
    t0 = time.monotonic()
    files = hidden_files(root, lab, extra)
    kernel_tests = graded_kernel_tests(root, spec, files)
    import labhost
    host = {n: labhost.HOST_TESTS[n][0] for n in spec.get("host_tests", []) if n in labhost.HOST_TESTS}
    result = {"lab": lab, "tests": [], "build": "ok", "hidden_files": [os.path.relpath(f, root) if
                                                                        f.startswith(root) else f for f in files]}
    ok, why = build(root, files, os.path.join(root, "build", "grade", f"{lab}.make.log")) if build_it else (True, "")
    if not ok:
        result["build"] = "failed: " + why
        outcomes = {}
    else:
        outcomes, seen = {}, {}
        for o in run_tests(root, spec, kernel_tests, list(host), spec.get("timeout", 120), mem):
            # The first verdict of a test counts (a crash is reported once, then the boot resumes).
            outcomes.setdefault(o.name, o)
            seen[o.name] = seen.get(o.name, 0) + 1
        for name, n in seen.items():
            # Two verdicts for one graded name: another test was given its name
            # (a submission's own test cannot stand in for a graded one).
            if n > 1 and name in kernel_tests:
                outcomes[name] = ktest.Outcome(name, False, f"{n} tests are named {name}: a graded test's "
                                                            f"name must be unique")
    graded = set(kernel_tests) | set(host)
    # What went wrong with a boot as a whole (a hang before any test, ...).
    boot_trouble = next((o.message for o in outcomes.values() if not o.ok and o.name not in graded), "")
    for name, pts in list(kernel_tests.items()) + list(host.items()):
        o = outcomes.get(name)
        if o is None:
            msg = "not graded: the kernel did not build" if not ok else \
                "did not run (no verdict for it)" + (f": {boot_trouble}" if boot_trouble else "")
        else:
            msg = o.message
        passed = bool(o and o.ok)
        result["tests"].append({"name": name, "points": pts if passed else 0, "max": pts, "passed": passed,
                                "message": "" if passed else msg,
                                "log": os.path.relpath(o.log, root) if o and o.log else None})
    result["score"] = sum(t["points"] for t in result["tests"])
    result["max"] = sum(t["max"] for t in result["tests"])
    result["seconds"] = round(time.monotonic() - t0, 1)
    if not quiet:
        width = len(str(max([t["max"] for t in result["tests"]] or [0])))
        if result["build"] != "ok":
            print(f"{lab}: build {result['build']}")
        for t in result["tests"]:
            score = f"{t['points']:>{width}}/{t['max']:<{width}}"
            print(f"{lab}: {score}  {t['name']}" + (f": {t['message']}" if t["message"] else ""), flush=True)
        print(f"{lab}: {result['score']}/{result['max']}", flush=True)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lab", default="", help="the lab (default: every lab of labs/labs.json)")
    ap.add_argument("--root", default=mq.ROOT, help="the tree to grade (default: this one)")
    ap.add_argument("--extra-tests", default="", help="hidden test files or folders, space-separated")
    ap.add_argument("--json", default="", help="where to write the result (default build/grade/LAB.json)")
    ap.add_argument("--mem", type=int, default=256)
    ap.add_argument("--no-build", action="store_true", help="grade build/kernel.elf as it is")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    labs = load_labs(root)
    names = [n for n in args.lab.split(",") if n] or list(labs)
    unknown = [n for n in names if n not in labs]
    if unknown:
        print(f"grade: no lab {', '.join(unknown)} (labs: {', '.join(labs)})", file=sys.stderr)
        return 2
    results = [grade_lab(root, n, labs[n], args.extra_tests.split(), args.mem, build_it=not args.no_build)
               for n in names]
    for r in results:
        path = args.json if args.json and len(results) == 1 else os.path.join(root, "build", "grade", f"{r['lab']}.json")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w") as f:
            json.dump(r, f, indent=1)
    if len(results) > 1:
        print("total: " + ", ".join(f"{r['lab']} {r['score']}/{r['max']}" for r in results))
    return 0 if all(r["score"] == r["max"] and r["max"] > 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
