#!/usr/bin/env python3
"""mdlos test runner: `make test` (all) or `make test T=PATTERN` (a subset).

It runs, in parallel where it can:
  1. one boot with `ktest=PATTERN`: every ordinary in-kernel test;
  2. one boot per bugcheck test that boot deferred (KTEST_BUGCHECK): the
     kernel must stop with the declared code and parameters;
  3. host-side tests: the runner's own self-checks (a failing, hanging,
     triple-faulting or crashing test must be reported as a failure), the
     boot path's refusal of CPUs without long mode or NX, and GDB.
Every result is one line; the last line is `N passed, N failed`; the exit
status is 0 only when nothing failed. Serial logs go to build/test-logs/.
Python 3 standard library only.
"""
import argparse
import concurrent.futures as cf
import fnmatch
import os
import re
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402

ROOT = mq.ROOT
LOGS = os.path.join(ROOT, "build", "test-logs")

RUN_RE = re.compile(r"^\[ktest\] RUN  (\S+)")
PASS_RE = re.compile(r"^\[ktest\] PASS (\S+)")
FAIL_RE = re.compile(r"^\[ktest\] FAIL (\S+): (.*)")
DEFER_RE = re.compile(r"^\[ktest\] DEFER (\S+) expects bugcheck (0x[0-9a-f]+)")
EXPECT_RE = re.compile(r"^\[ktest\] EXPECT (\S+) code=(0x[0-9a-f]+) p1=(\S+) p2=(\S+) p3=(\S+) p4=(\S+)")
SUMMARY_RE = re.compile(r"^\[ktest\] (\d+) passed, (\d+) failed")


class Outcome:
    def __init__(self, name, ok, message="", log=None):
        self.name, self.ok, self.message, self.log = name, ok, message, log


def log_path(name):
    return os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")


def judge_ktest_boot(b, what):
    """Outcomes of an ordinary ktest boot. Anything but a clean run that ends
    with a summary agreeing with the result lines is a failure that names
    the test that was running."""
    outcomes, running, summary = [], None, None
    for _, line in b.lines:
        m = RUN_RE.match(line)
        if m:
            running = m.group(1)
            continue
        m = PASS_RE.match(line)
        if m:
            outcomes.append(Outcome(m.group(1), True))
            running = None
            continue
        m = FAIL_RE.match(line)
        if m:
            outcomes.append(Outcome(m.group(1), False, m.group(2), b.log_path))
            running = None
            continue
        m = SUMMARY_RE.match(line)
        if m:
            summary = (int(m.group(1)), int(m.group(2)))
    where = running or what
    stop = b.stop()
    if b.timed_out:
        outcomes.append(Outcome(where, False, f"hung: no result within the {b.timeout:.0f} s timeout", b.log_path))
    elif stop:
        code, p = stop
        outcomes.append(Outcome(where, False, "unexpected bugcheck " + fmt_stop(code, p, b), b.log_path))
    elif summary is None and b.exit_code == 0:
        outcomes.append(Outcome(where, False, "triple fault or CPU reset (QEMU exited with status 0 before the summary)",
                                b.log_path))
    elif summary is None:
        outcomes.append(Outcome(where, False, f"QEMU exited ({b.exit_code}) without a summary line", b.log_path))
    else:
        npass = sum(o.ok for o in outcomes)
        nfail = len(outcomes) - npass
        if summary != (npass, nfail):
            outcomes.append(Outcome(what, False, f"the kernel's summary {summary} disagrees with its result lines "
                                                 f"({npass}, {nfail})", b.log_path))
        want = mq.EXIT_FAIL if nfail else mq.EXIT_PASS
        if b.exit_code != want:
            outcomes.append(Outcome(what, False, f"QEMU exit status {b.exit_code}, expected {want}", b.log_path))
    return outcomes


def fmt_stop(code, p, b=None):
    name = ""
    if b:
        for _, line in b.lines:
            if re.match(r"^[A-Z0-9_]+$", line):
                name = " " + line
                break
    return f"0x{code:08X}{name} ({', '.join(hex(x) for x in p)})"


def judge_bugcheck_boot(name, b):
    """A KTEST_BUGCHECK test passes when the kernel stopped with the code and
    parameters of the last EXPECT line it printed for that test."""
    expect = None
    for _, line in b.lines:
        m = EXPECT_RE.match(line)
        if m and m.group(1) == name:
            expect = (int(m.group(2), 16), [None if v == "*" else int(v, 16) for v in m.group(3, 4, 5, 6)])
    fails = [o for o in judge_ktest_boot_fail_lines(b) if o.name == name]
    if b.timed_out:
        return Outcome(name, False, f"hung: no bugcheck within {b.timeout:.0f} s", b.log_path)
    if expect is None:
        return Outcome(name, False, "the kernel never printed its expectation (test not found?)", b.log_path)
    stop = b.stop()
    if stop is None:
        why = fails[0].message if fails else ("triple fault or reset" if b.exit_code == 0 else
                                              f"QEMU exited ({b.exit_code}) without a bugcheck")
        return Outcome(name, False, f"expected bugcheck 0x{expect[0]:X}, got none: {why}", b.log_path)
    code, params = stop
    want_code, want = expect
    bad = [f"p{i + 1}={params[i]:#x} (expected {want[i]:#x})" for i in range(4)
           if want[i] is not None and want[i] != params[i]]
    if code != want_code:
        return Outcome(name, False, f"bugcheck {fmt_stop(code, params, b)}, expected 0x{want_code:08X}", b.log_path)
    if bad:
        return Outcome(name, False, f"bugcheck 0x{code:X} with wrong parameters: {', '.join(bad)}", b.log_path)
    if b.exit_code != mq.EXIT_BUGCHECK:
        return Outcome(name, False, f"QEMU exit status {b.exit_code}, expected {mq.EXIT_BUGCHECK}", b.log_path)
    return Outcome(name, True)


def judge_ktest_boot_fail_lines(b):
    out = []
    for _, line in b.lines:
        m = FAIL_RE.match(line)
        if m:
            out.append(Outcome(m.group(1), False, m.group(2)))
    return out


class Runner:
    def __init__(self, args):
        self.args = args
        self.patterns = [p for p in args.pattern.split(",") if p]
        self.lock = threading.Lock()
        self.results = []

    def wanted(self, name):
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)

    def report(self, outcomes):
        with self.lock:
            for o in outcomes:
                self.results.append(o)
                if o.ok:
                    print(f"PASS {o.name}", flush=True)
                else:
                    print(f"FAIL {o.name}: {o.message}" + (f"  [log: {os.path.relpath(o.log, ROOT)}]" if o.log else ""),
                          flush=True)

    def boot(self, name, cmdline, timeout, **kw):
        b = mq.boot(self.args.kernel, cmdline, timeout=timeout, mem=self.args.mem, log_path=log_path(name), **kw)
        b.timeout = timeout
        return b

    # ---- 1 and 2: the kernel's own tests ----
    def main_boot(self, pool):
        cmdline = f"ktest={self.args.pattern} verifier=1 test.mem_mib={self.args.mem}"
        b = self.boot("ktest-main", cmdline, self.args.timeout)
        self.report(judge_ktest_boot(b, "ktest-main"))
        deferred = [m.group(1) for _, line in b.lines for m in [DEFER_RE.match(line)] if m]
        return [pool.submit(self.bugcheck_test, name) for name in deferred]

    def bugcheck_test(self, name):
        b = self.boot(name, f"ktest={name} ktest.expect=1 verifier=1 test.mem_mib={self.args.mem}",
                      self.args.bugcheck_timeout)
        self.report([judge_bugcheck_boot(name, b)])

    # ---- 3: host-side tests ----
    def host_tests(self):
        return {
            "runner.reports_failing_test": self.t_failing,
            "runner.reports_hanging_test": self.t_hanging,
            "runner.reports_triple_fault": self.t_triple,
            "runner.reports_unexpected_bugcheck": self.t_unexpected_bugcheck,
            "runner.reports_wrong_bugcheck": self.t_wrong_bugcheck,
            "runner.reports_missing_bugcheck": self.t_missing_bugcheck,
            "boot.refuses_cpu_without_long_mode": self.t_no_long_mode,
            "boot.refuses_cpu_without_nx": self.t_no_nx,
            "gdb.breaks_at_kmain_with_source": self.t_gdb_kmain,
            "gdb.breaks_at_32bit_entry": self.t_gdb_entry32,
            "gdb.pt_and_pfn_agree_with_kernel": self.t_gdb_pt_pfn,
            "gdb.memmap_and_pool_commands_run": self.t_gdb_mm_commands,
        }

    def run_host_test(self, name, fn):
        try:
            ok, msg = fn(name)
        except Exception as e:  # a broken host test is a failed test, never a crash of the runner
            ok, msg = False, f"{type(e).__name__}: {e}"
        self.report([Outcome(name, ok, msg, log_path(name) if not ok and os.path.exists(log_path(name)) else None)])

    def expect_failure(self, name, test, timeout, want):
        """Boot the manual test TEST and check that the runner's own judging
        reports it as a failure of TEST whose message contains WANT."""
        b = self.boot(name, f"ktest={test}", timeout)
        outs = [o for o in judge_ktest_boot(b, "boot") if not o.ok]
        hits = [o for o in outs if o.name == test and want in o.message]
        if hits:
            return True, ""
        return False, f"expected a failure of {test} mentioning '{want}', judged: " + \
            ("; ".join(f"{o.name}: {o.message}" for o in outs) or "no failure")

    def t_failing(self, name):
        return self.expect_failure(name, "selftest.fails_on_purpose", 60, "1 + 1 == 3")

    def t_hanging(self, name):
        return self.expect_failure(name, "selftest.hangs_on_purpose", 8, "hung")

    def t_triple(self, name):
        return self.expect_failure(name, "selftest.triple_faults_on_purpose", 60, "triple fault")

    def t_unexpected_bugcheck(self, name):
        return self.expect_failure(name, "selftest.bugchecks_on_purpose", 60, "unexpected bugcheck 0x000000E2")

    def expect_bugcheck_failure(self, name, test, want):
        b = self.boot(name, f"ktest={test} ktest.expect=1", 60)
        b.timeout = 60
        o = judge_bugcheck_boot(test, b)
        if not o.ok and want in o.message:
            return True, ""
        return False, f"judged {'PASS' if o.ok else 'FAIL: ' + o.message}, expected a failure mentioning '{want}'"

    def t_wrong_bugcheck(self, name):
        return self.expect_bugcheck_failure(name, "selftest.wrong_bugcheck_on_purpose", "expected 0x00000050")

    def t_missing_bugcheck(self, name):
        return self.expect_bugcheck_failure(name, "selftest.no_bugcheck_on_purpose", "got none")

    def expect_refusal(self, name, cpu, want):
        b = mq.boot(self.args.kernel, "", timeout=30, mem=self.args.mem, log_path=log_path(name),
                    qemu_args=["-cpu", cpu], stop_when=re.escape(want))
        if b.stopped_early:
            return True, ""
        return False, f"with -cpu {cpu} the console never said '{want}'"

    def t_no_long_mode(self, name):
        # qemu-system-x86_64 takes later -cpu options over the one qemu.sh sets.
        return self.expect_refusal(name, "qemu32", "this CPU has no long mode")

    def t_no_nx(self, name):
        return self.expect_refusal(name, "qemu64,nx=off", "this CPU has no NX")

    def gdb_session(self, name, commands, cmdline="", serial=None):
        """Start QEMU halted with a gdbstub, booting CMDLINE with the serial
        console in the file SERIAL (or nowhere), run gdb in batch mode with
        the project's gdbinit and COMMANDS; return gdb's output."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        iso = mq.make_iso(self.args.kernel, cmdline, os.path.join(ROOT, "build", "iso-cache"))
        qemu = subprocess.Popen(["sh", os.path.join(ROOT, "scripts", "qemu.sh"), iso, "-S", "-gdb",
                                 f"tcp:127.0.0.1:{port}", "-serial", f"file:{serial}" if serial else "null",
                                 "-monitor", "none"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, QEMU_MEM=str(self.args.mem)))
        try:
            cmd = ["gdb", "-q", "-batch", "-nx", "-ex", f"set confirm off",
                   "-ex", f"source {os.path.join(ROOT, 'scripts', 'gdb', 'gdbinit')}",
                   "-ex", f"file {self.args.kernel}", "-ex", f"target remote 127.0.0.1:{port}"]
            for c in commands:
                cmd += ["-ex", c]
            out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)
            text = out.stdout + out.stderr
        finally:
            qemu.kill()
            qemu.wait()
        with open(log_path(name), "w") as f:
            f.write(text)
        return text

    def t_gdb_kmain(self, name):
        out = self.gdb_session(name, ["break kmain", "continue", "info source", "frame"])
        if re.search(r"Breakpoint 1, kmain", out) and "kernel/kmain.c" in out:
            return True, ""
        return False, "gdb did not stop at kmain with kernel/kmain.c as its source"

    def t_gdb_entry32(self, name):
        out = self.gdb_session(name, ["break-entry32", "continue", "printf \"pc=%#lx\\n\", $pc",
                                      "printf \"entry=%#lx\\n\", (unsigned long)&_start32 - 0xffffffff80000000"])
        pc = re.search(r"pc=(0x[0-9a-f]+)", out)
        entry = re.search(r"entry=(0x[0-9a-f]+)", out)
        if pc and entry and pc.group(1) == entry.group(1):
            return True, ""
        return False, f"expected to stop at the physical entry point, got pc={pc and pc.group(1)} " \
                      f"entry={entry and entry.group(1)}"

    # ---- the memory-manager GDB commands (scripts/gdb/mdlos.py) ----
    # The kernel booted with `gdbcheck=1` prints its own view of a few
    # addresses (mm/mminit.c, MiGdbCheckpoint), one line each:
    #   mm: translate VA -> PA pte=PTE pfn=PFN state=LIST refs=N shares=N
    # and then calls MiGdbCheckpointDone, where GDB stops. A driver run
    # inside GDB reads those lines from the serial log and runs `pt VA` and
    # `pfn PFN` for each (plus any fixed COMMANDS), framing each command's
    # output with @@@ lines for the runner to judge.
    GDB_DRIVER = """
import re
import gdb
SERIAL, TRANSLATE, COMMANDS = {serial!r}, {translate!r}, {commands!r}

def run(cmd):
    print("@@@ BEGIN " + cmd)
    try:
        print(gdb.execute(cmd, to_string=True), end="")
    except gdb.error as e:
        print("@@@ ERROR " + str(e))
    print("@@@ END " + cmd, flush=True)

def main():
    try:
        gdb.execute("help pfnstats", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the mdlos.py commands")
    if gdb.lookup_global_symbol("MiGdbCheckpointDone") is None:
        return print("@@@ NOTRUN the kernel has no MiGdbCheckpointDone")
    gdb.execute("break MiGdbCheckpointDone")
    for other in ("HalHaltSystem", "KdShell"):   # a bugcheck, or a boot that never checkpoints
        if gdb.lookup_global_symbol(other) is not None:
            gdb.execute("break " + other)
    gdb.execute("continue")
    where = gdb.selected_frame().name()
    print("@@@ STOPPED " + str(where), flush=True)
    if where != "MiGdbCheckpointDone":
        return
    if TRANSLATE:
        for line in open(SERIAL, errors="replace").read().splitlines():
            m = re.match(r"mm: translate (\\S+) -> \\S+ pte=\\S+ pfn=(\\S+) ", line)
            if m:
                run("pt " + m.group(1))
                run("pfn " + m.group(2))
    for c in COMMANDS:
        run(c)

main()
"""
    TRANSLATE_RE = re.compile(r"^mm: translate (0x[0-9a-f]+) -> (0x[0-9a-f]+|0) pte=(0x[0-9a-f]+|0) "
                              r"pfn=(0x[0-9a-f]+|0) state=(\S+) refs=(\d+) shares=(\d+)")

    def gdb_checkpoint(self, name, translate, commands=()):
        """Boot with gdbcheck=1 under GDB, stop at MiGdbCheckpointDone and run
        the driver. Returns (serial lines, {command: output}, error or None)."""
        serial = os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".serial.log")
        driver = os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".driver.py")
        if os.path.exists(serial):
            os.remove(serial)
        with open(driver, "w") as f:
            f.write(self.GDB_DRIVER.format(serial=serial, translate=translate, commands=list(commands)))
        out = self.gdb_session(name, [f"source {driver}"], cmdline="gdbcheck=1", serial=serial)
        lines = open(serial, errors="replace").read().splitlines() if os.path.exists(serial) else []
        notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
        if notrun:
            return lines, {}, notrun.group(1)
        stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
        if not stopped:
            return lines, {}, "the GDB driver never reported where the kernel stopped"
        if stopped.group(1) != "MiGdbCheckpointDone":
            stop = [l for l in lines if l.startswith("*** STOP")]
            return lines, {}, f"the kernel stopped in {stopped.group(1)}, not at MiGdbCheckpointDone" + \
                (f" ({stop[0]})" if stop else "")
        results = {}
        for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out, re.M | re.S):
            results.setdefault(m.group(1), m.group(2))
        return lines, results, None

    def t_gdb_pt_pfn(self, name):
        lines, results, err = self.gdb_checkpoint(name, translate=True)
        if err:
            return False, err
        kernel = [m for m in map(self.TRANSLATE_RE.match, lines) if m]
        if not kernel:
            return False, "the kernel printed no 'mm: translate' lines with gdbcheck=1"
        bad = []
        for m in kernel:
            va, pa, pte, pfn = (int(m.group(i), 16) for i in (1, 2, 3, 4))
            state, refs, shares = m.group(5), int(m.group(6)), int(m.group(7))
            pt = results.get(f"pt {m.group(1)}")
            if pt is None:
                bad.append(f"pt {va:#x}: not run")
                continue
            final = re.search(r"^  => physical (0x[0-9a-f]+)", pt, re.M)
            if pa == 0 and state == "none":   # the kernel found no valid translation
                if "is not mapped" not in pt:
                    bad.append(f"pt {va:#x}: the kernel says unmapped, pt says " + (final.group(0).strip()
                                                                                    if final else pt[-80:]))
            elif not final or int(final.group(1), 16) != pa:
                bad.append(f"pt {va:#x}: physical {final.group(1) if final else 'none'}, kernel says {pa:#x}")
            else:
                # The 4 KiB PTE as read in physical memory is the one the
                # kernel read through the self-map (A and D may have changed).
                leaf = re.search(r"^  PTE .*= (0x[0-9a-f]+)$", pt, re.M)
                if leaf and (int(leaf.group(1), 16) ^ pte) & ~0x60:
                    bad.append(f"pt {va:#x}: PTE {leaf.group(1)}, kernel read {pte:#x}")
            out = results.get(f"pfn {m.group(4)}")
            if out is None:
                bad.append(f"pfn {pfn:#x}: not run")
            elif state == "none":
                if "is not RAM" not in out:
                    bad.append(f"pfn {pfn:#x}: the kernel has no entry for it but pfn did not refuse it")
            else:
                g = re.search(r"^PFN (0x[0-9a-f]+): state=(\S+) refs=(\d+) shares=(\d+)", out, re.M)
                got = g and (int(g.group(1), 16), g.group(2), int(g.group(3)), int(g.group(4)))
                if got != (pfn, state, refs, shares):
                    bad.append(f"pfn {pfn:#x}: gdb says " + (f"state={got[1]} refs={got[2]} shares={got[3]}"
                                                            if got else repr(out.strip()[-100:])) +
                               f", kernel says state={state} refs={refs} shares={shares}")
        if bad:
            return False, "; ".join(bad)
        return True, ""

    def t_gdb_mm_commands(self, name):
        cmds = ["memmap", "pfnstats", "pool", "pool GdbN"]
        lines, results, err = self.gdb_checkpoint(name, translate=False, commands=cmds)
        if err:
            return False, err
        bad = [f"{c}: {results[c][len('@@@ ERROR '):].strip()}" for c in cmds
               if c in results and results[c].startswith("@@@ ERROR")]
        bad += [f"{c}: not run" for c in cmds if c not in results]
        if bad:
            return False, "; ".join(bad)
        memmap = results["memmap"]
        if not re.search(r"0xfffff8a000000000 - 0x[0-9a-f]+ .*paged pool", memmap):
            bad.append("memmap does not show the paged pool at 0xfffff8a000000000")
        ram = [int(m.group(1)) for m in map(re.compile(r"^mm: (\d+) pages of RAM").match, lines) if m]
        stats = re.search(r"^Physical memory: (\d+) pages of RAM .*scanned (\d+) frames", results["pfnstats"], re.M)
        if not ram:
            bad.append("the kernel never printed 'mm: N pages of RAM'")
        elif not stats or not int(stats.group(1)) == int(stats.group(2)) == ram[0]:
            bad.append(f"pfnstats says {stats.group(0) if stats else 'nothing parsable'}, the kernel {ram[0]} pages")
        elif "MISMATCH" in results["pfnstats"]:
            bad.append("pfnstats found list totals that disagree with the database")
        if not re.search(r"^nonpaged\s+0xfffffa8040000000\s+\d+\s+[1-9]\d*\s", results["pool"], re.M):
            bad.append("pool does not show the nonpaged pool with its allocations")
        if not re.search(r"^'GdbN'\s+1\s+0\s+[1-9]\d*\s+0\s+0\s+0$", results["pool GdbN"], re.M):
            bad.append("pool GdbN does not show the checkpoint's one nonpaged allocation")
        if bad:
            return False, "; ".join(bad)
        return True, ""

    def run(self):
        os.makedirs(LOGS, exist_ok=True)
        host = {n: f for n, f in self.host_tests().items() if self.wanted(n)}
        with cf.ThreadPoolExecutor(max_workers=self.args.jobs) as pool:
            main = pool.submit(self.main_boot, pool)
            futures = [pool.submit(self.run_host_test, n, f) for n, f in host.items()]
            later = main.result()
            for f in futures + later:
                f.result()
        # A pattern that selects nothing is a mistake, not a success.
        if not self.results:
            self.report([Outcome("runner", False, f"no test matches '{self.args.pattern}'")])
        passed = sum(o.ok for o in self.results)
        failed = len(self.results) - passed
        bad = [o for o in self.results if not o.ok]
        if bad:
            print("\nFailures:")
            for o in bad:
                print(f"  {o.name}: {o.message}")
        print(f"{passed} passed, {failed} failed", flush=True)
        return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel", default=os.path.join(ROOT, "build", "kernel.elf"))
    ap.add_argument("--pattern", default="*", help="comma-separated globs over test names (suite.name)")
    ap.add_argument("--mem", type=int, default=256, help="guest RAM in MiB (QEMU -m)")
    ap.add_argument("--timeout", type=float, default=240, help="seconds for the main test boot")
    ap.add_argument("--bugcheck-timeout", type=float, default=60)
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    args = ap.parse_args()
    if not args.pattern:
        args.pattern = "*"
    sys.exit(Runner(args).run())


if __name__ == "__main__":
    main()
