#!/usr/bin/env python3
"""mdlos test runner: `make test` (all) or `make test T=PATTERN` (a subset).

It runs, in parallel where it can:
  1. one boot with `ktest=PATTERN`: every ordinary in-kernel test;
  2. every bugcheck test that boot deferred (KTEST_BUGCHECK), each on a
     machine that has just booted: one QEMU saved once and rewound for each
     test (bugcheck_worker_job): the kernel must stop with the declared code
     and parameters;
  3. host-side tests: the runner's own self-checks (a failing, hanging,
     triple-faulting or crashing test must be reported as a failure), the
     boot path's refusal of CPUs without long mode or NX, and GDB;
  4. with --user-tests, one boot with `utest=PATTERN`: init runs the
     user-mode test programs (user/tests/) and prints their results and the
     summary in the same format (tests named user.*).
Every result is one line; the last line is `N passed, N failed`; the exit
status is 0 only when nothing failed. Serial logs go to build/test-logs/.
Python 3 standard library only.
"""
import argparse
import concurrent.futures as cf
import fnmatch
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdlosqemu as mq  # noqa: E402
import labhost  # noqa: E402

ROOT = mq.ROOT
LOGS = os.path.join(ROOT, "build", "test-logs")

RUN_RE = re.compile(r"^\[ktest\] RUN  (\S+)")
PASS_RE = re.compile(r"^\[ktest\] PASS (\S+)")
FAIL_RE = re.compile(r"^\[ktest\] FAIL (\S+): (.*)")
DEFER_RE = re.compile(r"^\[ktest\] DEFER (\S+) expects bugcheck (0x[0-9a-f]+)")
EXPECT_RE = re.compile(r"^\[ktest\] EXPECT (\S+) code=(0x[0-9a-f]+) p1=(\S+) p2=(\S+) p3=(\S+) p4=(\S+)")
SUMMARY_RE = re.compile(r"^\[ktest\] (\d+) passed, (\d+) failed")

# The user-mode tests (user/tests/, named user.*) need the kernel to run
# init with `utest=PATTERN`. Until it does they are opt-in: --user-tests,
# MDLOS_USER_TESTS=1 or `make test UTESTS=1`. Set this to True to make them
# part of every `make test` (--no-user-tests, MDLOS_USER_TESTS=0 or UTESTS=0
# then turn them off).
USER_TESTS_DEFAULT = True
# What the kernel prints when it drops to its kd> shell (kernel/kd/kd.c).
KD_BANNER_RE = r"^Type 'help' for commands\.$"


# Prepended to every GDB driver script: run one command, its output framed
# by @@@ lines for the runner to judge (an error is framed too).
class Outcome:
    def __init__(self, name, ok, message="", log=None):
        self.name, self.ok, self.message, self.log = name, ok, message, log


def log_path(name):
    return os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".log")


def judge_ktest_boot(b, what, check_exit=True):
    """Outcomes of an ordinary ktest boot. Anything but a clean run that ends
    with a summary agreeing with the result lines is a failure that names
    the test that was running. CHECK_EXIT False: QEMU's exit status is not
    this part's verdict (the GRUB boot's kernel half, Runner.grub_halves)."""
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
        if check_exit and b.exit_code != want:
            outcomes.append(Outcome(what, False, f"QEMU exit status {b.exit_code}, expected {want}", b.log_path))
    return outcomes


def fmt_stop(code, p, b=None):
    name = ""
    if b:
        for _, line in b.lines:
            if re.match(r"^[A-Z0-9_]+$", line):
                name = " " + line
                break
    rule = ""
    if b:
        for _, line in b.lines:
            if line.startswith("Rule: "):
                rule = ": " + line[6:]
                break
    return f"0x{code:08X}{name} ({', '.join(hex(x) for x in p)}){rule}"


def judge_bugcheck_boot(name, b):
    """A KTEST_BUGCHECK test passes when the kernel stopped with the code and
    parameters of the last EXPECT line it printed for that test."""
    expect = None
    for _, line in b.lines:
        m = EXPECT_RE.match(line)
        if m and m.group(1) == name:
            expect = (int(m.group(2), 16), [None if v == "*" else int(v, 16) for v in m.group(3, 4, 5, 6)])
    fails = [o for o in judge_ktest_boot_fail_lines(b) if o.name == name]
    if getattr(b, "worker_error", None):
        return Outcome(name, False, f"the bugcheck worker failed: {b.worker_error}", b.log_path)
    if b.timed_out:
        return Outcome(name, False, f"hung: no bugcheck within {b.timeout:g} s", b.log_path)
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


def could_match_user(pattern):
    """True when the glob PATTERN can match some test named user.SUITE.NAME."""
    prefix = "user."
    for i, ch in enumerate(pattern):
        if ch == "*" or i >= len(prefix):
            return True
        if ch != "?" and ch != prefix[i]:
            return False
    return False   # shorter than "user.x": matches no test name


def judge_user_boot(b, what="user-tests"):
    """Outcomes of the user-test boot: init prints the tests' lines and the
    summary, so it is judged like a ktest boot - once it has started. A
    kernel that never runs init (it ignores utest= and sits in kd>) or that
    does not leave QEMU after init is a failure that says so."""
    ktest = [line for _, line in b.lines if line.startswith("[ktest]")]
    if not ktest:
        if b.stopped_early:
            why = "the kernel went to its kd> shell instead of starting init with utest= (processes not there yet?)"
        elif b.timed_out:
            why = f"no [ktest] line within the {b.timeout:.0f} s timeout"
        elif b.stop():
            code, p = b.stop()
            why = "the kernel bugchecked first: " + fmt_stop(code, p, b)
        else:
            why = f"QEMU exited ({b.exit_code}) before any [ktest] line"
        return [Outcome(what, False, "user tests did not start: " + why, b.log_path)]
    outcomes = judge_ktest_boot(b, what)
    if b.stopped_early:
        # Killed at the kd> banner: QEMU's exit status means nothing then.
        outcomes = [o for o in outcomes if not o.message.startswith("QEMU ")]
        if any(SUMMARY_RE.match(line) for line in ktest):
            why = "after init printed the summary, the kernel went to its kd> shell instead of leaving QEMU " \
                  "with init's result"
        else:
            why = "the kernel went to its kd> shell before init printed the summary (init died?)"
        running = None
        for line in ktest:
            m = RUN_RE.match(line) or PASS_RE.match(line) or FAIL_RE.match(line)
            running = m.group(1) if m and line.startswith("[ktest] RUN") else None if m else running
        outcomes.append(Outcome(running or what, False, why, b.log_path))
    return outcomes


def crashed_test(b):
    """The test that was running when boot B ended without its summary
    (a crash, hang or triple fault), or None."""
    running, summary = None, False
    for _, line in b.lines:
        if RUN_RE.match(line):
            running = RUN_RE.match(line).group(1)
        elif PASS_RE.match(line) or FAIL_RE.match(line):
            running = None
        elif SUMMARY_RE.match(line):
            summary = True
    return None if summary else running


def shard_of(name, shards, salt):
    """kernel/rtl RtlTestInShard's hash: the shard NAME goes to."""
    suite = name.rsplit(".", 1)[0] if "." in name else name
    h = 2166136261
    for c in suite.encode():
        h = ((h ^ c) * 16777619) & 0xFFFFFFFF
    h ^= (salt * 0x9E3779B9) & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    h ^= h >> 16
    return h % shards


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
        self.shard_results = {}      # test name -> index in results (report_shard)
        self.deferred = set()        # bugcheck tests whose boot is queued
        self.bugcheck_futures = []
        self.times = {}              # test name -> seconds in this run (record_times)
        self.shares = {"kernel": [], "user": []}   # per shard boot: [(its tests, all tests)]
        self.old_times = self.load_times()
        self.bugcheck_queue = queue.Queue()   # names for the bugcheck workers (bugcheck_worker_job)
        self.worker_futures = []
        self.workers_broken = False  # no worker could be made: boot each bugcheck test
        self.sessions = {}           # shared host-test sessions (shared): key -> Future
        self.kernel_salt = self.best_salt(args.shards, False)
        self.user_salt = self.best_salt(args.user_shards, True)

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
        kw.setdefault("mem", self.args.mem)
        b = mq.boot(self.args.kernel, cmdline, timeout=timeout, log_path=log_path(name), **kw)
        b.timeout = timeout
        return b

    # ---- 1 and 2: the kernel's own tests ----
    # The ordinary tests are split over --shards boots run at once
    # (ktest.shard=I/N: the kernel keeps the tests whose name hashes to I,
    # kernel/rtl RtlTestInShard), each ending with the KTEST_FINAL checks.
    # Each boot names its bugcheck tests first; their boots are queued the
    # moment the line arrives, not when the boot ends.
    def shard_name(self, base, i, n):
        return base if n == 1 else f"{base}-{i + 1}of{n}"

    # The shards are as long as their slowest: the runner keeps each test's
    # time from the last run (build/test-logs/test-times.json) and picks the
    # hash salt that splits those times most evenly (a cold run takes 0).
    TIMES = os.path.join(LOGS, "test-times.json")

    def load_times(self):
        try:
            with open(self.TIMES) as f:
                return {k: float(v) for k, v in json.load(f).items()}
        except (OSError, ValueError, AttributeError):
            return {}

    def record_times(self, b):
        running, t0 = None, 0.0
        with self.lock:
            for t, line in b.lines:
                m = RUN_RE.match(line)
                if m:
                    running, t0 = m.group(1), t
                    continue
                m = PASS_RE.match(line) or FAIL_RE.match(line)
                if m and m.group(1) == running:
                    self.times[running] = round(t - t0, 3)
                    running = None

    SHARE_RE = re.compile(r"^\[ktest\] shard \S+: (\d+) of (\d+) tests$")

    def count_shares(self, kind, b, shards):
        if shards > 1:
            with self.lock:
                self.shares[kind].append([(int(m.group(1)), int(m.group(2))) for _, line in b.lines
                                          for m in [self.SHARE_RE.match(line)] if m])

    def check_shares(self):
        """A split that lost or doubled a test would still end green: the
        shares each boot (each user test program) announced must add up to
        the whole, and a boot that announced nothing is a failure too."""
        bad = []
        for kind, n in (("kernel", self.args.shards), ("user", self.args.user_shards)):
            boots = self.shares[kind]
            if n == 1 or not boots:
                continue
            if any(not b for b in boots):
                bad.append(f"a {kind} shard boot never said its share (no '[ktest] shard' line)")
                continue
            mine = sum(x for b in boots for x, _ in b)
            whole = sum(y for b in boots for _, y in b)
            if whole != mine * n:
                bad.append(f"the {n} {kind} shards ran {mine} tests of {whole // n}")
        if any(self.shares.values()):
            self.report([Outcome("runner.shards_add_up_to_the_whole", not bad, "; ".join(bad))])

    def best_salt(self, shards, user):
        """The salt (0-255) whose split of the known test times has the
        smallest largest shard."""
        if shards == 1:
            return 0
        known = {k: v for k, v in self.old_times.items()
                 if not k.startswith("host:") and k.startswith("user.") == user and self.wanted(k) and
                 not (user and self.small_user_tests() and k in self.SMALL_UTESTS)}
        best, best_cost = 0, None
        for salt in range(256):
            load = [0.0] * shards
            for name, secs in known.items():
                load[shard_of(name, shards, salt)] += secs
            if best_cost is None or max(load) < best_cost:
                best, best_cost = salt, max(load)
        return best

    def shard_time(self, shard, shards, salt, user):
        """Seconds the tests of SHARD took in the last run (infinite when
        nothing is known: a cold run starts the shards first)."""
        known = [(k, v) for k, v in self.old_times.items()
                 if not k.startswith("host:") and k.startswith("user.") == user and self.wanted(k) and
                 not (user and self.small_user_tests() and k in self.SMALL_UTESTS)]
        if not known:
            return float("inf")
        return sum(v for k, v in known if shards == 1 or shard_of(k, shards, salt) == shard)

    def report_shard(self, outcomes):
        """Like report, for the shards of one run: a test every shard runs
        (KTEST_FINAL) is one result, failed if it failed in any shard."""
        with self.lock:
            keep = []
            for o in outcomes:
                k = self.shard_results.get(o.name)
                if k is None:
                    self.shard_results[o.name] = len(self.results) + len(keep)
                    keep.append(o)
                elif not o.ok and self.results[k].ok:
                    self.results[k] = o
                    print(f"FAIL {o.name}: {o.message}" + (f"  [log: {os.path.relpath(o.log, ROOT)}]" if o.log else ""),
                          flush=True)
        self.report(keep)

    def defer(self, pool, line):
        m = DEFER_RE.match(line)
        if m:
            with self.lock:
                if m.group(1) in self.deferred:
                    return
                self.deferred.add(m.group(1))
                # Only when asked (make test's --snapshot default): a runner
                # built on this one (scripts/grade.py: every boot under
                # -icount, through self.boot) boots each bugcheck test.
                if not getattr(self.args, "snapshot", False):
                    self.bugcheck_futures.append(pool.submit(self.bugcheck_boot, m.group(1)))
                    return
                self.bugcheck_queue.put(m.group(1))
                # The workers get threads of their own, not POOL's: queued
                # there they would start after every host test and run the
                # whole bugcheck chain (~100 tests one after the other) as
                # the run's tail; from the first DEFER line on they share
                # the CPUs with everything else.
                if not self.worker_futures:
                    for k in range(max(1, self.args.bugcheck_workers)):
                        f = cf.Future()
                        threading.Thread(target=self.worker_thread, args=(f, k), daemon=True).start()
                        self.worker_futures.append(f)

    def main_boot(self, pool, shard=0, shards=1):
        cmdline = f"ktest={self.args.pattern} verifier=1 test.mem_mib={self.args.mem}"
        if shards > 1:
            cmdline += f" ktest.shard={shard}/{shards}/{self.kernel_salt}"
        if self.args.cmdline:
            cmdline += " " + self.args.cmdline   # options for the tests (make fuzz: fuzz.n=, fuzz.seed=)
        name = self.shard_name("ktest-main", shard, shards)
        echo = lambda line: self.defer(pool, line)  # noqa: E731
        b = self.boot(name, cmdline, self.args.timeout, echo=echo)
        self.record_times(b)
        self.count_shares("kernel", b, shards)
        self.report_shard(judge_ktest_boot(b, name))
        # A test that crashes, hangs or triple-faults the boot takes the rest
        # of the run with it: it is reported above; boot again and carry on
        # with the test after it, so every test still gets its verdict.
        for attempt in range(1, 9):
            crashed = crashed_test(b)
            if not crashed:
                break
            print(f"note: resuming the kernel tests after {crashed}", flush=True)
            b = self.boot(f"{name}-resume-{attempt}", f"{cmdline} ktest.after={crashed}", self.args.timeout,
                          echo=echo)
            self.record_times(b)
            self.report_shard(judge_ktest_boot(b, f"{name}-resume-{attempt}"))

    # A bugcheck ends its machine, so every bugcheck test needs a machine
    # of its own that has just booted. Instead of booting each, a worker
    # (mdlosqemu.Worker) boots one machine with `ktest.serve` (kernel/init/
    # kmain.c: after the boot it waits for a test's name on the serial
    # line), saves it inside QEMU (savevm) and, for each test, rewinds it
    # to that moment (loadvm) and sends it the name: the machine the boot
    # would have given, without the boot and without a QEMU start. A test
    # that kills the machine (triple fault, hang) costs that worker; the
    # next test gets a new one. --no-snapshot (MDLOS_SNAPSHOT=0) boots
    # each test instead, and so does a run where no worker can be made.
    SERVE_READY = r"^\[ktest\] serve: waiting"

    # The bugcheck tests' machine: 64 MiB, not the 256 of the other boots.
    # What a bugcheck test checks is the stop (its code and parameters),
    # none of it scales with RAM (the two that use a resource up, all
    # frames or all system PTEs, get there sooner), and loadvm compares
    # every page of guest RAM: 17 ms a test at 256 MiB, 10 ms at 64.
    BUGCHECK_MEM_MIB = 64

    def bugcheck_mem(self):
        return min(self.args.mem, self.BUGCHECK_MEM_MIB)

    def bugcheck_cmdline(self, what):
        cmdline = f"{what} ktest.expect=1 verifier=1 test.mem_mib={self.bugcheck_mem()}"
        if self.args.cmdline:
            cmdline += " " + self.args.cmdline   # ktest.limit= for graded boots, too
        return cmdline

    def new_worker(self, name):
        return mq.Worker(self.args.kernel, self.bugcheck_cmdline("ktest= ktest.serve"), ready=self.SERVE_READY,
                         mem=self.bugcheck_mem(), log_path=log_path(name))

    def run_in_worker(self, worker, name, timeout, log_name=None):
        """Bugcheck test NAME on WORKER: its Boot, judged by judge_bugcheck_boot."""
        b = worker.run(name, timeout=timeout, log_path=log_path(log_name or name))
        b.timeout = timeout
        return b

    def worker_thread(self, future, k):
        """bugcheck_worker_job(K), its end or its exception in FUTURE."""
        try:
            future.set_result(self.bugcheck_worker_job(k))
        except BaseException as e:  # noqa: B902 - handed to run(), which re-raises it
            future.set_exception(e)

    def bugcheck_worker_job(self, k):
        """Worker K: take names off the queue until run() says every DEFER
        line is in (None)."""
        worker, made = None, 0
        try:
            while True:
                name = self.bugcheck_queue.get()
                if name is None:
                    return
                if worker is not None and not worker.alive:
                    worker.close()
                    worker = None
                if worker is None and not self.workers_broken:
                    made += 1
                    try:
                        worker = self.new_worker(f"bugcheck-worker-{k + 1}" + (f"-{made}" if made > 1 else ""))
                    except (mq.WorkerError, OSError) as e:
                        print(f"note: no bugcheck worker: {e}; booting each bugcheck test instead", flush=True)
                        self.workers_broken = True
                if worker is None:
                    self.bugcheck_boot(name)
                    continue
                try:
                    o = judge_bugcheck_boot(name, self.run_in_worker(worker, name, self.args.bugcheck_timeout))
                except Exception as e:  # the runner's bug: this test's failure, and a new worker for the next
                    o = Outcome(name, False, f"the bugcheck worker failed: {type(e).__name__}: {e}", log_path(name))
                    worker.close()
                    worker = None
                self.report([o])
        finally:
            if worker is not None:
                worker.close()

    def bugcheck_boot(self, name):
        b = self.boot(name, self.bugcheck_cmdline(f"ktest={name}"), self.args.bugcheck_timeout, mem=self.bugcheck_mem())
        self.report([judge_bugcheck_boot(name, b)])

    # ---- 4: the user-mode tests, run by init ----
    def user_tests_wanted(self):
        return self.args.user_tests and any(could_match_user(p) for p in self.patterns)

    # The I/O manager's wait for cancelled requests (io.cancel_wait_ms=, 5 s
    # by default): user.io.a_request_whose_driver_ignores_cancel_* waits it
    # out in full, and checks it did; every driver the tests use completes
    # a cancelled request at once.
    UTEST_CANCEL_WAIT_MS = 500

    # The user tests whose work is sized by the machine's memory (commit to
    # the limit, touch it all, page tables until refused: ~2 s of CPU on
    # 256 MiB) prove the same on a quarter of it: in a full run they leave
    # the shards (`-GLOB` in utest=, user/lib/utest.c) for a boot of their
    # own on SMALL_UTEST_MIB.
    SMALL_UTESTS = ("user.commit.commit_to_the_limit_touch_all_give_back", "user.commit.page_tables_run_out_cleanly")
    SMALL_UTEST_MIB = 64

    def small_user_tests(self):
        return self.args.user_shards > 1

    def user_boot(self, shard=0, shards=1):
        pattern = self.args.pattern + "".join(f",-{t}" for t in self.SMALL_UTESTS if self.small_user_tests())
        cmdline = (f"utest={pattern} test.mem_mib={self.args.mem} "
                   f"io.cancel_wait_ms={self.UTEST_CANCEL_WAIT_MS}")
        if shards > 1:
            cmdline += f" utest.shard={shard}/{shards}/{self.user_salt}"
        name = self.shard_name("utest-main", shard, shards)
        b = self.boot(name, cmdline, self.args.user_timeout, stop_when=KD_BANNER_RE)
        self.record_times(b)
        self.count_shares("user", b, shards)
        self.report(judge_user_boot(b, name))

    def small_user_boot(self):
        name = "utest-small"
        cmdline = (f"utest={','.join(self.SMALL_UTESTS)} test.mem_mib={self.SMALL_UTEST_MIB} "
                   f"io.cancel_wait_ms={self.UTEST_CANCEL_WAIT_MS}")
        b = self.boot(name, cmdline, self.args.user_timeout, mem=self.SMALL_UTEST_MIB, stop_when=KD_BANNER_RE)
        self.record_times(b)
        self.report(judge_user_boot(b, name))

    # ---- 3: host-side tests ----
    def host_tests(self):
        return {
            "runner.reports_failing_test": self.t_failing,
            "runner.resumes_after_a_crash": self.t_resume,
            "runner.reports_hanging_test": self.t_hanging,
            "runner.test_limit_stops_a_test_spinning_at_dispatch": self.t_test_limit,
            "runner.reports_triple_fault": self.t_triple,
            "runner.reports_unexpected_bugcheck": self.t_unexpected_bugcheck,
            "runner.reports_wrong_bugcheck": self.t_wrong_bugcheck,
            "runner.reports_missing_bugcheck": self.t_missing_bugcheck,
            "runner.bugcheck_worker_replaces_a_machine_that_died": self.t_worker_replaced,
            "runner.reports_user_tests_not_started": self.t_user_not_started,
            "runner.reports_a_leaked_locked_page": self.t_leaked_lock,
            "runner.reports_a_leaked_msix_entry": self.t_leaked_msix,
            "build.hidden_tests_with_one_base_name_both_run": self.t_extra_same_base_name,
            "layout.prefix_names_its_folder": self.t_layout,
            "boot.grub_iso_runs_the_kernel_tests": self.t_grub_kernel,
            "boot.grub_iso_modules_run_as_user_programs": self.t_grub_user,
            "boot.refuses_cpu_without_long_mode": self.t_no_long_mode,
            "boot.refuses_cpu_without_nx": self.t_no_nx,
            "gdb.breaks_at_kmain_with_source": self.t_gdb_kmain,
            "gdb.breaks_at_32bit_entry": self.t_gdb_entry32,
            "gdb.pt_and_pfn_agree_with_kernel": self.t_gdb_pt_pfn,
            "gdb.memmap_and_pool_commands_run": self.t_gdb_mm_commands,
            "gdb.ps_and_vad_show_a_user_process": self.t_gdb_ps_vad,
            "gdb.mdl_command_shows_a_locked_mdl": self.t_gdb_mdl,
            "gdb.vq_shows_a_merged_request": self.t_gdb_vq_merged,
            "gdb.irp_devobj_drvobj_show_a_held_irp": self.t_gdb_io,
            "gdb.sglist_shows_a_zero_copy_list": self.t_gdb_sglist,
            "gdb.obj_and_handles_show_objects": self.t_gdb_objects,
            "dma.bounce_above_4gib": self.t_dma_above_4gib,
            "gdb.pci_command_lists_the_bus_drivers_table": self.t_gdb_pci,
            "disks.fresh_images_reach_the_guest": self.t_fresh_disks,
            "vblk.host_and_guest_see_each_others_bytes": self.t_vblk_host_bytes,
            "vblk.intx_when_msix_is_skipped": self.t_vblk_intx,
            "vblk.blkdebug_errors_reach_the_caller": self.t_vblk_blkdebug,
            **labhost.host_tests(self),   # the labs' host tests (docs/labs/), with their points
            "paging.user_tests_on_a_16mib_machine": self.t_paging_user,
            "gdb.pagefile_and_pt_show_a_page_that_is_out": self.t_gdb_pagefile,
            "paging.kernel_tests_with_a_pagefile": self.t_paging_kernel,
            "paging.write_error_keeps_the_page": self.t_paging_write_error,
            "paging.read_error_ends_the_process": self.t_paging_read_error,
            "paging.paged_pool_read_error_is_0x7a": self.t_paging_pool_read_error,
            "vblk.direct_chains_when_indirect_is_off": self.t_vblk_noindirect,
            "gdb.vq_and_one_read_walked_from_ntreadfile_to_ring3": self.t_gdb_vq_walk,
        }

    # Host tests that share one machine (shared) run as one job, in this
    # order: the first makes the session, the rest read it. Apart, the
    # pool could give several of them a slot each, all but one waiting.
    SESSION_GROUPS = (
        ("gdb.breaks_at_32bit_entry", "gdb.breaks_at_kmain_with_source", "boot.grub_iso_runs_the_kernel_tests",
         "boot.grub_iso_modules_run_as_user_programs"),
        ("gdb.pt_and_pfn_agree_with_kernel", "gdb.memmap_and_pool_commands_run",
         "gdb.pci_command_lists_the_bus_drivers_table", "gdb.vq_shows_a_merged_request", "gdb.sglist_shows_a_zero_copy_list",
         "gdb.irp_devobj_drvobj_show_a_held_irp", "gdb.mdl_command_shows_a_locked_mdl"),
        ("gdb.ps_and_vad_show_a_user_process", "gdb.obj_and_handles_show_objects"),
    )

    def host_jobs(self, host):
        """HOST's test names in jobs: a session's tests together, in order."""
        rank = {n: (g, i) for g, names in enumerate(self.SESSION_GROUPS) for i, n in enumerate(names)}
        groups = {}
        for n in host:
            groups.setdefault(rank[n][0] if n in rank else n, []).append(n)
        return [sorted(names, key=lambda n: rank.get(n, (0, 0))[1]) for names in groups.values()]

    def run_host_tests(self, names, host):
        for n in names:
            self.run_host_test(n, host[n])

    def run_host_test(self, name, fn):
        t0 = time.monotonic()
        try:
            ok, msg = fn(name)
        except Exception as e:  # a broken host test is a failed test, never a crash of the runner
            ok, msg = False, f"{type(e).__name__}: {e}"
        with self.lock:
            self.times["host:" + name] = round(time.monotonic() - t0, 3)
        self.report([Outcome(name, ok, msg, log_path(name) if not ok and os.path.exists(log_path(name)) else None)])

    def expect_failure(self, name, test, timeout, want, **kw):
        """Boot the manual test TEST and check that the runner's own judging
        reports it as a failure of TEST whose message contains WANT."""
        b = self.boot(name, f"ktest={test}", timeout, **kw)
        outs = [o for o in judge_ktest_boot(b, "boot") if not o.ok]
        hits = [o for o in outs if o.name == test and want in o.message]
        if hits:
            return True, ""
        return False, f"expected a failure of {test} mentioning '{want}', judged: " + \
            ("; ".join(f"{o.name}: {o.message}" for o in outs) or "no failure")

    def t_resume(self, name):
        """A crash in one test must not cost the verdicts of the tests after
        it: the runner boots again with ktest.after= and carries on."""
        # The test after the crash must sort after kernel/ktest/tests/ (tests run
        # in file order): kprintf.* lives in kernel/rtl/tests/.
        pattern = "selftest.bugchecks_on_purpose,kprintf.signed_decimal"
        b = self.boot(name, f"ktest={pattern}", 60)
        first = judge_ktest_boot(b, name)
        crashed = crashed_test(b)
        if crashed != "selftest.bugchecks_on_purpose":
            return False, f"expected the boot to crash in selftest.bugchecks_on_purpose, crashed_test says {crashed}"
        b2 = self.boot(name + "-resume", f"ktest={pattern} ktest.after={crashed}", 60)
        second = judge_ktest_boot(b2, name)
        ok = [o.name for o in second if o.ok]
        if "kprintf.signed_decimal" in ok and any(not o.ok for o in first):
            return True, ""
        return False, "after resuming, kprintf.signed_decimal did not pass: " + \
            "; ".join(f"{o.name}: {'PASS' if o.ok else o.message}" for o in second)

    def t_failing(self, name):
        return self.expect_failure(name, "selftest.fails_on_purpose", 60, "1 + 1 == 3")

    def t_hanging(self, name):
        # The test spins for ever: a quarter of a second from its RUN line
        # proves the runner reports the hang as well as any longer wait would
        # (the boot before it does not count against it), and the spin costs
        # that much CPU.
        return self.expect_failure(name, "selftest.hangs_on_purpose", 0.25, "hung",
                                   timeout_from=r"^\[ktest\] RUN  selftest\.hangs_on_purpose$")

    def t_test_limit(self, name):
        """ktest.limit= stops a test that spins at DISPATCH_LEVEL from the
        clock interrupt: the runner reports that test, long before the
        boot's own timeout would have. ktest.limit_ms= wins over
        ktest.limit= (here 300 ms over 100 s: a third of a second of
        spinning proves it, where the graded boots' limit is seconds)."""
        test = "selftest.hangs_at_dispatch_on_purpose"
        b = self.boot(name, f"ktest={test} ktest.limit=100 ktest.limit_ms=300", 120)
        outs = [o for o in judge_ktest_boot(b, "boot") if not o.ok]
        if b.timed_out:
            return False, "the boot ran into its own timeout: the per-test limit never fired"
        if "[ktest] each test may run 300 ms (ktest.limit)" not in b.text():
            return False, "the kernel did not say it took ktest.limit_ms=300 over ktest.limit=100"
        if any(o.name == test and "ktest.limit" in o.message and "MANUALLY_INITIATED_CRASH" in o.message
               for o in outs):
            return True, ""
        return False, f"expected {test} to fail by ktest.limit, judged: " + \
            ("; ".join(f"{o.name}: {o.message}" for o in outs) or "no failure")

    def t_triple(self, name):
        return self.expect_failure(name, "selftest.triple_faults_on_purpose", 60, "triple fault")

    def t_leaked_lock(self, name):
        """A locked, mapped MDL freed without MmUnlockPages: the leak check
        must fail the test and name every counter that moved."""
        test = "selftest.leaks_a_locked_page_on_purpose"
        wants = ["frame references held by MDL locks was 0 before the test and 1 after", "system PTEs in use was"]
        b = self.boot(name, f"ktest={test}", 60)
        outs = [o for o in judge_ktest_boot(b, "boot") if not o.ok]
        if any(o.name == test and all(w in o.message for w in wants) for o in outs):
            return True, ""
        return False, f"expected a failure of {test} naming " + " and ".join(f"'{w}'" for w in wants) + \
            ", judged: " + ("; ".join(f"{o.name}: {o.message}" for o in outs) or "no failure")

    def t_dma_above_4gib(self, name):
        """A 32-bit DMA adapter on a machine with RAM above 4 GiB: a boot of
        its own with 4608 MiB runs the manual test that bounces frames from
        above 4 GiB through map registers below it (io/tests/dma_test.c)."""
        test = "dma.bounce_32bit_adapter_above_4gib"
        b = mq.boot(self.args.kernel, f"ktest={test} verifier=1 test.mem_mib=4608", timeout=120, mem=4608,
                    log_path=log_path(name))
        b.timeout = 120
        outs = judge_ktest_boot(b, "boot")
        bad = [o for o in outs if not o.ok]
        if bad:
            return False, "; ".join(f"{o.name}: {o.message}" for o in bad)
        if not any(o.ok and o.name == test for o in outs):
            return False, f"{test} did not pass"
        return True, ""
    def t_leaked_msix(self, name):
        """An MSI-X entry left connected: the PCI bus driver's leak counter
        must fail the test and say so, with the interrupt object's pool block
        (the table itself is mapped already: the virtio-blk driver's two
        queue entries are connected at boot)."""
        test = "pci.leaks_an_msix_entry_on_purpose"
        wants = ["PCI MSI-X entries connected was 2 before the test and 3 after", "nonpaged pool blocks was"]
        b = self.boot(name, f"ktest={test}", 60)
        outs = [o for o in judge_ktest_boot(b, "boot") if not o.ok]
        if any(o.name == test and all(w in o.message for w in wants) for o in outs):
            return True, ""
        return False, f"expected a failure of {test} naming " + " and ".join(f"'{w}'" for w in wants) + \
            ", judged: " + ("; ".join(f"{o.name}: {o.message}" for o in outs) or "no failure")

    def t_unexpected_bugcheck(self, name):
        return self.expect_failure(name, "selftest.bugchecks_on_purpose", 60, "unexpected bugcheck 0x000000E2")

    # A bugcheck test that must pass, run after each failing one in the same
    # worker: a failure must not leave anything behind for the next test.
    AFTER_FAILURE = "pfn.dereference_twice_bugchecks"

    def worker_sequence(self, name, steps):
        """Run STEPS, (test, timeout, WANT), one after the other on one
        bugcheck worker, as make test runs the bugcheck tests: each test
        must fail with a message containing WANT, or pass (WANT None). A
        test that ends the worker's machine must cost only that machine:
        the next step gets a new worker. Returns (ok, why, workers made)."""
        worker, made, bad = None, 0, []
        try:
            for k, (test, timeout, want) in enumerate(steps):
                if worker is None or not worker.alive:
                    if worker is not None:
                        worker.close()
                    made += 1
                    worker = self.new_worker(f"{name}-worker-{made}")
                o = judge_bugcheck_boot(test, self.run_in_worker(worker, test, timeout, f"{name}-{k + 1}-{test}"))
                if want is None and not o.ok:
                    bad.append(f"step {k + 1}: {test} failed: {o.message}")
                elif want is not None and (o.ok or want not in o.message):
                    bad.append(f"step {k + 1}: {test} judged {'PASS' if o.ok else 'FAIL: ' + o.message}, "
                               f"expected a failure mentioning '{want}'")
        except mq.WorkerError as e:
            bad.append(f"the worker: {e}")
        finally:
            if worker is not None:
                worker.close()
        return not bad, "; ".join(bad), made

    def expect_bugcheck_failure(self, name, test, want):
        ok, why, _ = self.worker_sequence(name, [(test, 60, want), (self.AFTER_FAILURE, 60, None)])
        return ok, why

    def t_wrong_bugcheck(self, name):
        return self.expect_bugcheck_failure(name, "selftest.wrong_bugcheck_on_purpose", "expected 0x00000050")

    def t_missing_bugcheck(self, name):
        return self.expect_bugcheck_failure(name, "selftest.no_bugcheck_on_purpose", "got none")

    def t_worker_replaced(self, name):
        """A bugcheck test that triple-faults ends the worker's QEMU
        (-no-reboot), one that hangs is killed at its timeout (0.3 s here:
        the judging is the same at 60): each is reported as today's boot
        would report it, and the next test passes on a new worker."""
        ok, why, made = self.worker_sequence(name, [
            ("selftest.triple_faults_instead_of_bugchecking_on_purpose", 60, "got none: triple fault or reset"),
            (self.AFTER_FAILURE, 60, None),
            ("selftest.hangs_instead_of_bugchecking_on_purpose", 0.3, "hung: no bugcheck within 0.3 s"),
            (self.AFTER_FAILURE, 60, None)])
        if ok and made != 3:
            return False, f"{made} workers made for the four tests, expected 3 (one more after each machine died)"
        return ok, why

    def t_user_not_started(self, name):
        """A utest boot whose init never runs (here: an ISO without user
        programs) must be a failure saying so, not a pass or a hang."""
        empty = os.path.join(LOGS, "no-user-programs")
        os.makedirs(empty, exist_ok=True)
        b = self.boot(name, f"utest=* test.mem_mib={self.args.mem}", 60, stop_when=KD_BANNER_RE, user_dir=empty)
        outs = judge_user_boot(b)
        if any(not o.ok and "user tests did not start" in o.message for o in outs):
            return True, ""
        return False, "judged: " + ("; ".join(f"{'PASS' if o.ok else 'FAIL'} {o.name}: {o.message}" for o in outs)
                                    or "nothing")

    # ---- the GRUB ISO, end to end ----
    # Every other boot goes the direct way (QEMU -kernel, qboot: see
    # mdlosqemu.py); this one boots what `make run` boots - SeaBIOS, GRUB,
    # multiboot2, the command line in grub.cfg, the user programs as GRUB
    # modules - so that path stays tested, with the firmware's own BAR
    # assignment (qboot leaves that to drivers/pci). One machine serves the
    # four tests of that path, as `make gdb` would start it: halted for GDB,
    # which checks the breakpoint at the physical entry point and at kmain
    # (gdb.breaks_at_*), then detaches; the kernel runs GRUB_KTESTS and,
    # with `ktest.then_init`, goes on to init, which runs GRUB_UTESTS
    # (boot.grub_iso_*). Firmware and GRUB cost ~0.7 s of CPU a boot: once
    # instead of three times.
    GRUB_KTESTS = "boot.*,pci.*,vblk.*,vga.*"
    GRUB_UTESTS = "user.libc.*,user.pci.*"
    GRUB_SESSION = "boot.grub_iso_session"

    def grub_session(self):
        """(the boot, gdb's output) of the one GRUB machine; shared."""
        def make():
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            gdb_out = {}

            def debugger():
                gdb_out["text"] = self.gdb_commands(self.GDB_GRUB_SESSION, port, [
                    "break-entry32", "continue", "printf \"pc=%#lx\\n\", $pc",
                    "printf \"entry=%#lx\\n\", (unsigned long)&_start32 - 0xffffffff80000000",
                    "delete", "break kmain", "continue", "info source", "frame", "delete", "detach"])
            t = threading.Thread(target=debugger, daemon=True)
            t.start()
            cmdline = (f"ktest={self.GRUB_KTESTS} verifier=1 test.mem_mib={self.args.mem} ktest.then_init "
                       f"utest={self.GRUB_UTESTS}")
            b = self.boot(self.GRUB_SESSION, cmdline, 120, loader="grub", stop_when=KD_BANNER_RE,
                          qemu_args=["-S", "-gdb", f"tcp:127.0.0.1:{port}"])
            t.join(timeout=30)
            return b, gdb_out.get("text", "gdb did not finish")
        return self.shared(self.GRUB_SESSION, make)

    def grub_halves(self):
        """The GRUB boot cut at the kernel tests' summary line: (kernel half,
        user half), each a Boot with its own lines. QEMU's exit status (init's
        verdict, which counts the kernel half's failures) goes with the user
        half; the kernel half is judged by its own lines."""
        import copy
        b, _ = self.grub_session()
        cut = next((i + 1 for i, (_, line) in enumerate(b.lines) if SUMMARY_RE.match(line)), len(b.lines))
        kernel, user = copy.copy(b), copy.copy(b)
        kernel.lines, user.lines = b.lines[:cut], b.lines[cut:]
        if cut < len(b.lines):
            kernel.timed_out = kernel.stopped_early = False
        return kernel, user

    def t_grub_kernel(self, name):
        b, _ = self.grub_halves()
        outs = judge_ktest_boot(b, name, check_exit=False)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if sum(o.ok for o in outs) < 10:
            bad.append(f"only {sum(o.ok for o in outs)} of the {self.GRUB_KTESTS} tests passed")
        if not re.search(r'^Loaded by GRUB .*; command line "ktest=', b.text(), re.M):
            bad.append("the kernel does not say GRUB loaded it with the command line of grub.cfg")
        if not re.search(r"^pci: \d+ BARs checked, 0 placed by the bus driver$", b.text(), re.M):
            bad.append("under SeaBIOS the PCI bus driver did not keep the firmware's BARs")
        return (not bad), "; ".join(bad[:5])

    def t_grub_user(self, name):
        _, b = self.grub_halves()
        outs = judge_user_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if sum(o.ok for o in outs) < 5:
            bad.append(f"only {sum(o.ok for o in outs)} user tests passed")
        return (not bad), "; ".join(bad[:5])

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

    def t_layout(self, name):
        """scripts/check_layout.py: no routine defined outside the folder its
        prefix names. Shown able to fail first: in a scratch copy of mm/ and
        kernel/ke/ with one Ke routine planted in mm/, it must report it."""
        import shutil
        import tempfile
        import check_layout
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(os.path.join(mq.ROOT, "kernel", "ke"), os.path.join(tmp, "kernel", "ke"))
            shutil.copytree(os.path.join(mq.ROOT, "mm"), os.path.join(tmp, "mm"))
            with open(os.path.join(tmp, "mm", "planted.c"), "w") as f:
                f.write("void KePlantedInTheWrongFolder(void)\n{\n}\n")
            planted = check_layout.violations(tmp)
        if len(planted) != 1 or "KePlantedInTheWrongFolder" not in planted[0]:
            return False, f"the checker missed a Ke routine planted in mm/ (it reported {planted})"
        bad = check_layout.violations(mq.ROOT)
        if bad:
            return False, f"{len(bad)} routine(s) outside their folder: " + "; ".join(bad[:5])
        return True, ""

    def t_extra_same_base_name(self, name):
        """make EXTRA_TESTS="a/x.c b/x.c" must compile and link both files
        (objects were once named by base name, so one was dropped): build a
        second kernel with two such files in build/extra-check/ and boot it;
        a test from each file must pass. The scratch build starts as a copy
        of this one (same times), so only the two files compile."""
        import shutil
        build = os.path.dirname(os.path.abspath(self.args.kernel))
        scratch = os.path.join(build, "extra-check")
        shutil.rmtree(scratch, ignore_errors=True)
        skip = {"iso-cache", "test-logs", "extra-check", "extra", "user", "linux", "disk0.img", "disk1.img", "test-disks"}
        shutil.copytree(build, scratch, ignore=lambda d, names: [n for n in names if d == build and n in skip])
        files = []
        for side in ("a", "b"):
            os.makedirs(os.path.join(scratch, "src", side))
            files.append(os.path.join(scratch, "src", side, "x.c"))
            with open(files[-1], "w") as f:
                f.write('#include "kernel/mdlos.h"\n'
                        f'KTEST(extra_same_name, from_{side}) {{ KT_EQ(1 + 1, 2); }}\n')
        kernel = os.path.join(scratch, "kernel.elf")
        # make test's own variables (CC=, DEBUG=, ...) reach this make through MAKEFLAGS.
        out = subprocess.run(["make", "-C", ROOT, "-s", f"B={scratch}", f"EXTRA_TESTS={' '.join(files)}", kernel],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
        with open(log_path(name) + ".make", "w") as f:
            f.write(out.stdout + out.stderr)
        if out.returncode != 0:
            return False, f"make EXTRA_TESTS=a/x.c b/x.c failed (log: {log_path(name)}.make)"
        b = mq.boot(kernel, "ktest=extra_same_name.*", timeout=60, mem=self.args.mem, log_path=log_path(name),
                    user_dir=os.path.join(scratch, "user"))
        passed = {o.name for o in judge_ktest_boot(b, name) if o.ok}
        want = {"extra_same_name.from_a", "extra_same_name.from_b"}
        if want <= passed:
            shutil.rmtree(scratch, ignore_errors=True)
            return True, ""
        return False, "passed: " + (", ".join(sorted(passed)) or "nothing") + "; want both from_a and from_b"

    def gdb_session(self, name, commands, cmdline="", serial=None, loader=None):
        """Start QEMU halted with a gdbstub, booting CMDLINE with the serial
        console in the file SERIAL (or nowhere), run gdb in batch mode with
        the project's gdbinit and COMMANDS; return gdb's output. LOADER
        "grub" boots the ISO, as `make gdb` does; QEMU's breakpoints are
        its own (TCG checks the PC), so they hold on either path, set
        before the loader has copied the kernel in."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        how = mq.boot_args(self.args.kernel, cmdline, loader or mq.DEFAULT_LOADER,
                           os.path.join(ROOT, "build", "iso-cache"))
        qemu = subprocess.Popen(["sh", os.path.join(ROOT, "scripts", "qemu.sh")] + how + ["-S", "-gdb",
                                 f"tcp:127.0.0.1:{port}", "-serial", f"file:{serial}" if serial else "null",
                                 "-monitor", "none"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=dict(os.environ, QEMU_MEM=str(self.args.mem), **mq.disk_env()))
        try:
            text = self.gdb_commands(name, port, commands)
        finally:
            qemu.kill()
            qemu.wait()
        return text

    def gdb_commands(self, name, port, commands):
        """Run gdb in batch mode with the project's gdbinit against the
        gdbstub at PORT and COMMANDS; log and return its output."""
        cmd = ["gdb", "-q", "-batch", "-nx", "-ex", f"set confirm off",
               "-ex", f"source {os.path.join(ROOT, 'scripts', 'gdb', 'gdbinit')}",
               "-ex", f"file {self.args.kernel}", "-ex", f"target remote 127.0.0.1:{port}"]
        for c in commands:
            cmd += ["-ex", c]
        try:
            out = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=90)
            text = out.stdout + out.stderr
        except subprocess.TimeoutExpired as e:
            part = e.stdout or b""
            text = (part.decode(errors="replace") if isinstance(part, bytes) else part) + \
                f"\ngdb did not finish in 90 s: {e}"
        with open(log_path(name), "w") as f:
            f.write(text)
        return text

    def shared(self, key, make):
        """Host tests that need the same machine in the same state share one
        session: the first to ask runs MAKE(), the others wait for it and get
        its result. A test selected alone (make test T=...) still runs it."""
        with self.lock:
            fut = self.sessions.get(key)
            mine = fut is None
            if mine:
                fut = self.sessions[key] = cf.Future()
        if mine:
            try:
                fut.set_result(make())
            except Exception as e:  # every test that shares it fails with it
                fut.set_exception(e)
        return fut.result()

    # make gdb's own path: the GRUB ISO. Both checks from the one GRUB
    # machine (grub_session): the hardware breakpoint at the physical entry
    # point stops first (the loader has just jumped there), then the run
    # goes on to kmain.
    GDB_GRUB_SESSION = "gdb.grub_iso_session"

    def gdb_grub_session(self):
        return self.grub_session()[1]

    def t_gdb_kmain(self, name):
        out = self.gdb_grub_session()
        if re.search(r"^Breakpoint \d+, kmain", out, re.M) and re.search(r"^Current source file is kernel/init/kmain\.c",
                                                                        out, re.M):
            return True, ""
        return False, ("gdb did not stop at kmain with kernel/init/kmain.c as its source "
                       f"(log: {log_path(self.GDB_GRUB_SESSION)})")

    def t_gdb_entry32(self, name):
        out = self.gdb_grub_session()
        pc = re.search(r"pc=(0x[0-9a-f]+)", out)
        entry = re.search(r"entry=(0x[0-9a-f]+)", out)
        if pc and entry and pc.group(1) == entry.group(1):
            return True, ""
        return False, f"expected to stop at the physical entry point, got pc={pc and pc.group(1)} " \
                      f"entry={entry and entry.group(1)} (log: {log_path(self.GDB_GRUB_SESSION)})"

    # ---- the memory-manager GDB commands (the scripts/gdb/mdlos package) ----
    # The kernel booted with `gdbcheck=1` prints its own view of a few
    # addresses (mm/mminit.c, MiGdbCheckpoint), one line each:
    #   mm: translate VA -> PA pte=PTE pfn=PFN state=LIST refs=N shares=N
    # and then calls MiGdbCheckpointDone, where GDB stops. The driver
    # scripts/gdb/tests/checkpoint.py reads those lines from the serial log
    # and runs `pt VA` and `pfn PFN` for each (plus any fixed COMMANDS),
    # framing each command's output with @@@ lines for the runner to judge
    # (scripts/gdb/tests/harness.py says how).
    TRANSLATE_RE = re.compile(r"^mm: translate (0x[0-9a-f]+) -> (0x[0-9a-f]+|0) pte=(0x[0-9a-f]+|0) "
                              r"pfn=(0x[0-9a-f]+|0) state=(\S+) refs=(\d+) shares=(\d+)")

    def gdb_driver(self, name, driver, args=None, cmdline="", serial=None):
        """Run the GDB test driver scripts/gdb/tests/DRIVER (after its
        harness.py) with mdlos_test_args = ARGS; return gdb's output."""
        tests = os.path.join(ROOT, "scripts", "gdb", "tests")
        return self.gdb_session(name, [f"python mdlos_test_args = {dict(args or {})!r}",
                                       f"source {os.path.join(tests, 'harness.py')}",
                                       f"source {os.path.join(tests, driver)}"], cmdline=cmdline, serial=serial)

    # ---- one machine under GDB for the tests that stop in a ktest boot ----
    # Each of these GDB tests once booted its own QEMU and GDB (~0.45 s of
    # CPU each, most of it starting them). They need the same kind of boot
    # (ktest=, verifier=1) and stop at different places, one after the
    # other in the order the kernel gets there: MiGdbCheckpointDone (the
    # checkpoint, gdbcheck=1, before any test), KtRunTests, then inside the
    # tests, which run in file order (drivers/pci/, drivers/virtio/,
    # io/tests/dma_test.c, io/tests/irp_test.c, io/tests/mdl_api_test.c). So one machine runs
    # the drivers in that order: each part starts with no breakpoints, says
    # `@@@ PART NAME`, and goes on from where the part before it stopped.
    # A part that goes wrong can leave the next parts nothing to find;
    # they fail then too, each saying where GDB stopped.
    GDB_KTEST_CHAIN = "gdb.ktest_chain"
    GDB_MM_COMMANDS = ["memmap", "pfnstats", "pool", "pool GdbN"]
    GDB_PCI_TEST = "pci.host_bridge_and_piix3_on_bus_0"
    GDB_SGLIST_TEST = "dma.user_buffer_zero_copy_addresses_are_the_users_frames"
    GDB_IO_TEST = "irp.cancel_while_pended_runs_the_cancel_routine"
    GDB_MDL_TESTS = ("mdl.get_system_address_maps_once",
                     "mdlseed.seed001_unlock_alone_unmaps_what_get_system_address_mapped")
    GDB_MERGE_TEST = "vblk.a_plugged_batch_of_adjacent_requests_goes_as_one"

    def ktest_chain(self, part):
        """(gdb's output for PART of the chain above, its serial log path)."""
        serial = os.path.join(LOGS, self.GDB_KTEST_CHAIN + ".serial.log")
        # An option's value is at most 255 characters (kernel/ke/cmdline.c):
        # each name as the shortest prefix glob that still matches only it.
        ktests = [self.GDB_PCI_TEST, self.GDB_MERGE_TEST, self.GDB_SGLIST_TEST, self.GDB_IO_TEST] + \
            list(self.GDB_MDL_TESTS)
        pattern = ",".join(t[:28] + "*" if len(t) > 28 else t for t in ktests)
        return self.gdb_chain(self.GDB_KTEST_CHAIN, f"gdbcheck=1 verifier=1 ktest={pattern}", serial, [
            ("checkpoint", "checkpoint.py", dict(serial=serial, translate=True, commands=self.GDB_MM_COMMANDS)),
            ("pci", "pci.py", {}), ("merge", "merge.py", {}), ("sglist", "sglist.py", {}), ("io", "io.py", {}),
            ("mdl", "mdl.py", dict(tests=list(self.GDB_MDL_TESTS)))], part)

    # gdb.ps_and_vad_* and gdb.obj_and_handles_*: an ordinary boot (init
    # starts sh), the first stopped with a user process in the kernel, the
    # second with sh waiting for a line; one machine, the same way.
    GDB_USER_CHAIN = "gdb.user_chain"

    def user_chain(self, part):
        serial = os.path.join(LOGS, self.GDB_USER_CHAIN + ".serial.log")
        return self.gdb_chain(self.GDB_USER_CHAIN, "", serial,
                              [("processes", "processes.py", {}), ("objects", "objects.py", {})], part)

    def gdb_chain(self, key, cmdline, serial, parts, part):
        """One QEMU booting CMDLINE under one GDB that runs PARTS' drivers,
        [(name, driver, args)], in order; shared by the tests that read it.
        Returns (gdb's output for the part named PART, SERIAL)."""
        def make():
            if os.path.exists(serial):
                os.remove(serial)
            tests = os.path.join(ROOT, "scripts", "gdb", "tests")
            cmds = [f"source {os.path.join(tests, 'harness.py')}"]
            for what, driver, args in parts:
                cmds += ["delete", f"python print('@@@ PART {what}', flush=True)",
                         f"python mdlos_test_args = {args!r}", f"source {os.path.join(tests, driver)}"]
            out = self.gdb_session(key, cmds, cmdline=cmdline, serial=serial)
            texts, cur = {}, None
            for line in out.splitlines(keepends=True):
                m = re.match(r"^@@@ PART (\S+)$", line)
                if m:
                    cur = m.group(1)
                    texts[cur] = ""
                elif cur:
                    texts[cur] += line
            return texts
        texts = self.shared(key, make)
        return texts.get(part, f"@@@ NOTRUN the GDB session never reached its part '{part}' "
                               f"(log: {log_path(key)})\n"), serial

    def gdb_checkpoint_shared(self):
        """The checkpoint part: (serial lines, {command: output}, error or None)."""
        out, serial = self.ktest_chain("checkpoint")
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
        lines, results, err = self.gdb_checkpoint_shared()
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
        cmds = self.GDB_MM_COMMANDS
        lines, results, err = self.gdb_checkpoint_shared()
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

    # ---- the process commands (ps, vad, ws, pt VA PROCESS) ----
    # An ordinary boot (no ktest=) starts init, which starts sh; GDB stops
    # when a user process is inside the kernel with its address space
    # current: sh waiting for a line (NtReadConsole) or any process ending
    # (PsExitCurrentProcess, still on the process list). The driver
    # (scripts/gdb/tests/processes.py) prints the stopped process's image
    # name, then each command framed by @@@.

    def t_gdb_ps_vad(self, name):
        out, serial = self.user_chain("processes")
        notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
        if notrun:
            return False, notrun.group(1)
        stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
        if not stopped:
            return False, "the GDB driver never reported where the kernel stopped"
        if stopped.group(1) not in ("PsExitCurrentProcess", "NtReadConsole"):
            lines = open(serial, errors="replace").read().splitlines() if os.path.exists(serial) else []
            said = [l for l in lines if l.startswith(("init:", "*** STOP"))]
            return False, f"no user process was in the kernel: it stopped in {stopped.group(1)}" + \
                (f" ({said[0]})" if said else " (is build/user/init.elf built and on the ISO?)")
        image = re.search(r"^@@@ IMAGE (\S+)$", out, re.M)
        if not image:
            return False, "cannot read the current thread's process (prcb0.CurrentThread->Process)"
        image = image.group(1)
        results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out,
                                                                re.M | re.S)}
        cmds = ("ps", "vad", "ws -a", "vad init", "pt 0x400000 init")
        bad = [f"{c}: " + (results[c][len("@@@ ERROR "):].splitlines()[0] if c in results else "not run")
               for c in cmds if c not in results or results[c].startswith("@@@ ERROR")]
        if bad:
            return False, "; ".join(bad)
        ps, vad, ws = results["ps"], results["vad"], results["ws -a"]
        # ps: the system process, init (pid, parent 0), and the stopped process marked current.
        if not re.search(r"^  +0 +- +System ", ps, re.M):
            bad.append("ps does not list the system process as pid 0")
        if not re.search(r"^[ *] +\d+ +0 +init +0xffff[0-9a-f]{12} +0x[0-9a-f]+ ", ps, re.M):
            bad.append("ps does not list init (parent 0) with its EPROCESS and CR3")
        if not re.search(rf"^\* +\d+ +\d+ +{re.escape(image)} +0x", ps, re.M):
            bad.append(f"ps does not mark the stopped process {image} as the one in CR3")
        if not re.search(rf"^\* +\d+ +{re.escape(image)} +Running ", ps, re.M):
            bad.append(f"ps does not show {image}'s thread as the running, current thread")
        # vad: image segments from 0x400000, and the stack just below MI_USER_STACK_TOP.
        for what, text, who in (("vad", vad, image), ("vad init", results["vad init"], "init")):
            if not re.search(rf"^  0x0000000000400000 0x[0-9a-f]+ +\d+  Image .* image {re.escape(who)} segment 0",
                             text, re.M):
                bad.append(f"{what} does not show {who}'s first image segment at 0x400000")
            if not re.search(r"^  0x00007fffffe00000 0x00007fffffefffff +256  Stack +PAGE_READWRITE +[1-9]", text,
                             re.M):
                bad.append(f"{what} does not show the 1 MiB stack VAD 0x7fffffe00000-0x7fffffefffff with a "
                           f"valid page")
        # ws: valid pages (an image page at 0x400000 and the top stack page), and consistent.
        rows = re.findall(r"^ +\d+ (0x[0-9a-f]{16}) +(Image seg \d+|Stack|Private) +(0x[0-9a-f]{16}) P .* "
                          r"(0x[0-9a-f]+) +Active ", ws, re.M)
        got = {int(va, 16): int(pfn, 16) for va, _, _, pfn in rows}
        if 0x400000 not in got or 0x7FFFFFEFF000 not in got:
            bad.append(f"ws does not show valid pages at 0x400000 and 0x7fffffeff000 (got {len(rows)} valid pages)")
        count = re.search(r"working set (\d+) pages|: (\d+) pages \(peak", ws)
        if count and int(count.group(1) or count.group(2)) != len(rows):
            bad.append(f"ws lists {len(rows)} valid pages but says the working set has "
                       f"{count.group(1) or count.group(2)}")
        if "STALE" in ws or "UNTRACKED" in ws:
            bad.append("ws found working-set entries and valid PTEs that disagree")
        if image == "init" and 0x400000 in got:
            pt = re.search(r"^  => physical (0x[0-9a-f]+)", results["pt 0x400000 init"], re.M)
            if not pt or int(pt.group(1), 16) >> 12 != got[0x400000]:
                bad.append("pt 0x400000 init and ws disagree about the frame of 0x400000")
        elif not re.search(r"^  => physical 0x[0-9a-f]+", results["pt 0x400000 init"], re.M):
            bad.append("pt 0x400000 init does not find init's first image page")
        # pfn on that page's frame: a shared image frame, owned by its prototype PTE.
        proto = re.search(r"^@@@ PROTO (0x[0-9a-f]+|\?.*)$", out, re.M)
        pfn_out = next((v for k, v in results.items() if k.startswith("pfn ")), None)
        if not proto or not proto.group(1).startswith("0x") or not int(proto.group(1), 16) & 1:
            bad.append(f"the stopped process's first prototype PTE is not valid ({proto.group(1) if proto else 'not read'})")
        elif pfn_out is None or pfn_out.startswith("@@@ ERROR"):
            bad.append("pfn on the prototype's frame did not run")
        elif "PrototypePte 1" not in pfn_out or f"prototype PTE 0 of image {image} (VA 0x400000)" not in pfn_out:
            bad.append("pfn on a shared image frame does not show PrototypePte 1 and its prototype PTE")
        if bad:
            return False, "; ".join(bad)
        return True, ""

    # ---- the I/O commands (irp, devobj, drvobj) ----
    # scripts/gdb/tests/io.py: GDB stops at IoCancelIrp in the ktest below,
    # where an IRP is held by the bottom of a three-device stack, reads
    # the IRP with plain GDB expressions (@@@ IRP / LOC / DEV) and runs the
    # commands; each must agree with what the expressions read.

    def gdb_stopped(self, name, driver, cmdline, where, out=None):
        """Run GDB test DRIVER on a boot with CMDLINE (or judge OUT, its
        output from the chain above); it must stop in the function WHERE.
        Returns (gdb's output, {command: its output}, None), or (None, None,
        why not)."""
        if out is None:
            serial = os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".serial.log")
            out = self.gdb_driver(name, driver, cmdline=cmdline, serial=serial)
        notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
        if notrun:
            return None, None, notrun.group(1)
        stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
        if not stopped or stopped.group(1) != where:
            return None, None, f"GDB did not stop at {where} ({stopped.group(1) if stopped else 'no report'})"
        results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out,
                                                                re.M | re.S)}
        return out, results, None

    def t_gdb_io(self, name):
        out, results, why = self.gdb_stopped(name, "io.py", None, "IoCancelIrp", out=self.ktest_chain("io")[0])
        if why:
            return False, why
        head = re.search(r"^@@@ IRP irp=(\S+) count=(\d+) current=(\d+) flags=(\S+) cancel=(\S+)$", out, re.M)
        dev = re.search(r"^@@@ DEV bottom=(\S+) driver=(\S+) stack=(\d+)$", out, re.M)
        locs = re.findall(r"^@@@ LOC (\d+) major=(\d+) dev=(\S+) routine=(\S+)$", out, re.M)
        if not head or not dev or len(locs) != int(head.group(2)):
            return False, "the driver could not read the IRP with GDB expressions"
        bottom, driver = dev.group(1), dev.group(2)
        cmds = ["irp $rdi", f"devobj {bottom}", f"drvobj {driver}"]
        bad = [f"{c}: " + (results[c][len("@@@ ERROR "):].splitlines()[0] if c in results else "not run")
               for c in cmds if c not in results or results[c].startswith("@@@ ERROR")]
        if bad:
            return False, "; ".join(bad)
        irp, devo, drvo = results[cmds[0]], results[cmds[1]], results[cmds[2]]
        count, cur = int(head.group(2)), int(head.group(3))
        want = [(irp, rf"^IRP {head.group(1)} ", "irp: the header line"),
                (irp, rf"StackCount {count}  CurrentLocation {cur}: location {cur}", "irp: StackCount/CurrentLocation"),
                (irp, rf"CancelRoutine 0x[0-9a-f]+ <{head.group(5)}[ +>]", "irp: the cancel routine, symbolized"),
                (irp, rf"^  >\[{cur}\] IRP_MJ_READ ", "irp: the current location marked, with its major function")]
        for k, major, d, routine in locs:
            if routine != "none":
                want.append((irp, rf"^ +completion 0x[0-9a-f]+ <{routine}[ +>]", f"irp: location {k}'s completion routine {routine}"))
            if d != "0x0":
                want.append((irp, rf"device {d} ", f"irp: location {k}'s device {d}"))
        want += [(irp, r"^  MDL chain:|^  stack locations", "irp: the stack locations section"),
                 (devo, rf"^DEVICE_OBJECT {bottom} ", "devobj: the header line"),
                 (devo, rf"StackSize {dev.group(3)} ", "devobj: StackSize"),
                 (devo, rf"^  > 0  {bottom} ", "devobj: the device marked at the bottom of its stack"),
                 (devo, r"^    2  0x", "devobj: a three-device stack"),
                 (drvo, rf"^DRIVER_OBJECT {driver} \\Driver\\IrpTest", "drvobj: the driver's name"),
                 (drvo, r"^  IRP_MJ_READ +0x[0-9a-f]+ <dispatch[ +>]", "drvobj: IRP_MJ_READ -> the test driver's dispatch"),
                 (drvo, r"^  DriverUnload 0x[0-9a-f]+ <unload[ +>]", "drvobj: DriverUnload")]
        missing = [what for text, rx, what in want if not re.search(rx, text, re.M)]
        if missing:
            return False, "; ".join(missing)
        return True, ""

    # ---- the MDL commands (mdl, locked) ----
    # scripts/gdb/tests/mdl.py: the kernel runs the MDL ktests below that
    # exist (each locks a paged-pool buffer, maps it with MmGetSystemAddressForMdlSafe and unlocks it); GDB
    # stops at the entry of the first MmUnlockPages whose MDL (the first
    # argument, $rdi) is locked and mapped, prints the MDL's fields and
    # frames read with plain GDB expressions (@@@ FIELDS / @@@ FRAME), then
    # runs the commands.
    def t_gdb_objects(self, name):
        """`handles init` lists init's process handle to sh; `obj` on it
        says it is a process, on the root directory that it is \\, on the
        System process that it is the static one (scripts/gdb/tests/objects.py)."""
        out, _ = self.user_chain("objects")
        notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
        if notrun:
            return False, notrun.group(1)
        stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
        if not stopped or stopped.group(1) != "NtReadConsole":
            return False, "GDB never stopped in NtReadConsole (did init start sh?)"
        results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out,
                                                                re.M | re.S)}
        bad = []
        h = results.get("handles init", "")
        if not re.search(r"^process init pid \d+, EPROCESS 0x[0-9a-f]+: \d+ handle", h, re.M):
            bad.append("handles init does not describe init's table: " + (h.splitlines() or ["(nothing)"])[0])
        if not re.search(r"^\s+0x[0-9a-f]+ +0xffff[0-9a-f]+ +0x1fffff +Process .* sh \(pid \d+\)$", h, re.M):
            bad.append("handles init does not list a Process handle to sh with PROCESS_ALL_ACCESS")
        first = re.search(r"^@@@ FIRST (0x[0-9a-f]+)$", out, re.M)
        o = results.get("obj " + first.group(1), "") if first else ""
        if not re.search(r"type Process .*\n.*PointerCount \d+ +HandleCount 1 .*\n +process: pid \d+, sh, running", o):
            bad.append("obj on init's handle does not show sh's process object: " + o.replace("\n", " | ")[:200])
        r = results.get("obj ObpRootDirectory", "")
        if not re.search(r"type Directory .*\n.*name \\\n +directory: [1-9]\d* entries", r):
            bad.append("obj ObpRootDirectory does not show the root directory \\ with its entries: " +
                       r.replace("\n", " | ")[:200])
        sysp = results.get("obj &PsInitialSystemProcess", "")
        if not re.search(r"type Process .*\n.*flags [a-z,]*static.*\n +process: pid 0, System", sysp):
            bad.append("obj &PsInitialSystemProcess does not show the static System process: " +
                       sysp.replace("\n", " | ")[:200])
        if "@@@ ERROR" in results.get("handles", "@@@ ERROR not run"):
            bad.append("handles (no argument) failed: " + results.get("handles", "")[:200])
        return (not bad), "; ".join(bad) or "handles and obj show init's handle to sh, \\ and the System process"

    def t_fresh_disks(self, name):
        """A test's own disk images (mq.fresh_disks) are the ones the guest
        sees: images of 8 and 24 MiB, with a pattern written by the host
        that must still be there, byte for byte, after the boot (opened
        read-write, nothing wrote them); the guest reads each virtio-blk's
        capacity (pci.virtio_blk_capacity_is_the_image_size)."""
        sizes = (8 << 20, 24 << 20)
        pattern = bytes(range(256)) * 16

        def fill(path, i):
            with open(path, "r+b") as f:
                f.seek(4096 * (i + 1))
                f.write(pattern)
        paths = mq.fresh_disks(name, fill, sizes)
        test = "pci.virtio_blk_capacity_is_the_image_size"
        b = mq.boot(self.args.kernel, f"ktest={test} test.disk_sectors={sizes[0] // 512},{sizes[1] // 512}",
                    timeout=60, mem=self.args.mem, log_path=log_path(name), disks=paths)
        outs = judge_ktest_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if not any(o.ok and o.name == test for o in outs):
            bad.append(f"{test} did not pass")
        seen = re.findall(r"pci: virtio-blk \S+ capacity (\d+) sectors", b.text())
        if [int(x) for x in seen] != [s // 512 for s in sizes]:
            bad.append(f"the guest saw capacities {seen}, the images have {[s // 512 for s in sizes]} sectors")
        for i, path in enumerate(paths):
            with open(path, "rb") as f:
                f.seek(4096 * (i + 1))
                if f.read(len(pattern)) != pattern:
                    bad.append(f"{os.path.basename(path)}: the host's pattern is not intact after the boot")
            if os.path.getsize(path) != sizes[i]:
                bad.append(f"{os.path.basename(path)}: size changed")
        if not bad:
            for p in paths:
                os.remove(p)
        return (not bad), "; ".join(bad)

    # ---- the scatter/gather list command (sglist) ----
    # scripts/gdb/tests/sglist.py: GDB stops in the DMA test's execution
    # routine with a zero-copy list of a 6-page unaligned user buffer, reads
    # its elements with GDB expressions (@@@ ELEM) and runs `sglist $rdx`,
    # which must list the same elements, each on the MDL's own frames.

    def t_gdb_sglist(self, name):
        out, results, why = self.gdb_stopped(name, "sglist.py", None, "record_list", out=self.ktest_chain("sglist")[0])
        if why:
            return False, why
        head = re.search(r"^@@@ LIST n=(\d+)$", out, re.M)
        elems = re.findall(r"^@@@ ELEM (\d+) (0x[0-9a-f]+) (0x[0-9a-f]+)$", out, re.M)
        if not head or not elems or len(elems) != int(head.group(1)):
            return False, "the driver could not read the list with GDB expressions"
        text = results.get("sglist $rdx", "@@@ ERROR not run")
        if text.startswith("@@@ ERROR"):
            return False, "sglist: " + text[len("@@@ ERROR "):].splitlines()[0]
        bad = []
        if not re.search(rf"^SCATTER_GATHER_LIST 0x[0-9a-f]+: {len(elems)} elements?, ", text, re.M):
            bad.append(f"sglist does not say {len(elems)} elements")
        if not re.search(r"^  record 0x[0-9a-f]+: to the device \(write\), MDL 0x[0-9a-f]+", text, re.M):
            bad.append("sglist does not show the I/O manager's record (direction, MDL)")
        for i, address, length in elems:
            a, n = int(address, 16), int(length, 16)
            if not re.search(rf"^  \[{i}\] {a:#014x} \+ {n:#x} -> .* MDL frames$", text, re.M):
                bad.append(f"element {i} ({a:#x} + {n:#x}) is not listed as the MDL's frames")
        return (not bad), "; ".join(bad)

    # ---- the virtio-blk driver (drivers/virtio) ----
    @staticmethod
    def vblk_pattern(p, salt):
        """drivers/virtio/tests/vblk_test.c's host_pattern."""
        return (p * 131 + (p >> 9) * 7 + salt) & 0xFF

    def t_vblk_host_bytes(self, name):
        """Both directions through a fresh image: the host writes 4 KiB at
        32 KiB of disk0 before the boot and the guest must read exactly
        that; the guest writes 8 KiB at 128 KiB by DMA and the host must
        find exactly that in the image afterwards."""
        def fill(path, i):
            if i == 0:
                with open(path, "r+b") as f:
                    f.seek(32768)
                    f.write(bytes(self.vblk_pattern(32768 + k, 0x5A) for k in range(4096)))
        paths = mq.fresh_disks(name, fill)
        test = "vblk.host_image_read_and_written"
        b = mq.boot(self.args.kernel, f"ktest={test}", timeout=60, mem=self.args.mem,
                    log_path=log_path(name), disks=paths)
        outs = judge_ktest_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if not any(o.ok and o.name == test for o in outs):
            bad.append(f"{test} did not pass")
        with open(paths[0], "rb") as f:
            f.seek(131072)
            got = f.read(8192)
        want = bytes(self.vblk_pattern(131072 + k, 0xA5) for k in range(8192))
        if got != want:
            first = next((k for k in range(len(want)) if k >= len(got) or got[k] != want[k]), None)
            bad.append(f"the guest's 8 KiB at 131072 are not in the image (first difference at +{first})")
        if not bad:
            for p in paths:
                os.remove(p)
        return (not bad), "; ".join(bad)

    def t_vblk_blkdebug(self, name):
        """QEMU's blkdebug driver under disk0 fails every read touching
        sector 1000 and every write touching sector 2000 with EIO: the
        device answers VIRTIO_BLK_S_IOERR, the caller gets
        STATUS_DEVICE_DATA_ERROR, nothing leaks, the next request works."""
        paths = mq.fresh_disks(name)
        conf = paths[0] + ".blkdebug.conf"
        with open(conf, "w") as f:
            for event, sector in (("read_aio", 1000), ("write_aio", 2000)):
                f.write(f'[inject-error]\nevent = "{event}"\nerrno = "5"\nsector = "{sector}"\nonce = "off"\n\n')
        test = "vblk.blkdebug_errors_reach_the_caller"
        b = mq.boot(self.args.kernel, f"ktest={test}", timeout=60, mem=self.args.mem,
                    log_path=log_path(name), disks=(f"blkdebug:{conf}:{paths[0]}", paths[1]))
        outs = judge_ktest_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if not any(o.ok and o.name == test for o in outs):
            bad.append(f"{test} did not pass")
        if not bad:
            for p in paths + [conf]:
                os.remove(p)
        return (not bad), "; ".join(bad)

    # ---- the pagefile (mm/pagefile.c, mm/mpw.c, mm/pagefault.c; docs/paging.md) ----
    PAGING_DISK = 256 << 20   # the pagefile disk: more than 2x a 64 MiB machine's RAM
    # user.paging.* sizes itself by the machine's RAM (2x RAM written and
    # read back; three workers of 2/3 RAM each, one of them in a random
    # order): on 16 MiB it proves the same over twice RAM with half the
    # page-ins of 32 MiB (a random pass thrashes: its cost grows faster
    # than the RAM). It can since the kernel sizes its memory thresholds
    # and RAM disks from the RAM (mm/thresholds.c, drivers/ramdisk/rdsize.c);
    # below 16 MiB the test would round the RAM up to 16 and write more
    # than twice it for nothing.
    PAGING_USER_MIB = int(os.environ.get("MDLOS_PAGING_MIB", "16"))

    def paging_boot(self, name, cmdline, timeout, blkdebug=None, mem=64, user=False):
        """A MEM MiB boot with a fresh 256 MiB disk1 as its paging file
        (pagefile=Harddisk1), optionally under blkdebug rules ((event,
        sector) pairs failing with EIO): the boot, and its disk paths."""
        paths = mq.fresh_disks(name, sizes=(mq.DISK_BYTES, self.PAGING_DISK))
        disk1 = paths[1]
        extra = []
        if blkdebug:
            conf = paths[1] + ".blkdebug.conf"
            with open(conf, "w") as f:
                # iotype: without it a rule fails every request touching
                # the sector, reads and writes alike, once its event fired.
                for event, sector in blkdebug:
                    io = "read" if event.startswith("read") else "write"
                    f.write(f'[inject-error]\nevent = "{event}"\niotype = "{io}"\nerrno = "5"\nsector = "{sector}"\n'
                            f'once = "off"\n\n')
            disk1 = f"blkdebug:{conf}:{paths[1]}"
            extra.append(conf)
        kw = {"stop_when": KD_BANNER_RE} if user else {}
        b = mq.boot(self.args.kernel, f"{cmdline} pagefile=Harddisk1 test.mem_mib={mem}", timeout=timeout, mem=mem,
                    log_path=log_path(name), disks=(paths[0], disk1), **kw)
        b.timeout = timeout
        return b, paths + extra

    @staticmethod
    def drop(paths):
        for p in paths:
            if os.path.exists(p):
                os.remove(p)

    def t_gdb_pagefile(self, name):
        out, results, why = self.gdb_stopped(name, "paging.py", "pagefile=Harddisk1 ktest=pagefile_gdb.one_page_out_for_gdb",
                                             "MiTestPagefileGdbStop")
        if why:
            return False, why
        page = re.search(r"^@@@ PAGE (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+)$", out, re.M)
        if not page:
            return False, "the driver did not report the page"
        va, slot = int(page.group(1), 16), int(page.group(3), 16)
        cmds = ["pagefile", f"pagefile 0 {slot:#x}", f"pt {va:#x}"]
        bad = [f"{c}: " + (results[c][len("@@@ ERROR "):].splitlines()[0] if c in results else "not run")
               for c in cmds if c not in results or results[c].startswith("@@@ ERROR")]
        if bad:
            return False, "; ".join(bad)
        want = [(cmds[0], r"^paging file 0: \\Device\\Harddisk1\\DR0, \d+ slots", "pagefile: the file"),
                (cmds[0], r"^slots in use [1-9]\d* of \d+", "pagefile: slots in use"),
                (cmds[0], r"^modified page writer: [1-9]\d* pages written in [1-9]\d* clusters", "pagefile: the writer"),
                (cmds[1], rf"slot {slot:#x} is in use, at disk byte {slot * 4096:#x}", "pagefile 0 SLOT: the slot"),
                (cmds[1], r"<- slot", "pagefile 0 SLOT: the bitmap row"),
                (cmds[2], rf"pagefile: the data is in paging file 0 at page offset {slot:#x}", "pt: the location")]
        bad = [what for c, rx, what in want if not re.search(rx, results[c], re.M)]
        return (not bad), "; ".join(bad)

    def t_paging_user(self, name):
        """The done-when of the pagefile issue: a small machine (16 MiB,
        PAGING_USER_MIB) runs user.paging.* (2x RAM checksummed, three
        workers at once, exit giving back every slot), every byte correct,
        nobody killed. The machine is small enough that its memory
        thresholds are fractions of its RAM, not their ceilings: the boot's
        line must show them so, in order (mm/thresholds.c)."""
        b, paths = self.paging_boot(name, "utest=user.paging.*", 900, mem=self.PAGING_USER_MIB, user=True)
        outs = judge_user_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        want = {"user.paging.twice_ram_checksummed_comes_back_exact", "user.paging.three_at_once_over_twice_ram",
                "user.paging.exit_releases_every_slot", "user.paging.past_the_pagefile_is_refused_up_front"}
        missing = want - {o.name for o in outs if o.ok}
        if missing:
            bad.append("did not pass: " + ", ".join(sorted(missing)))
        if not re.search(r"mm: paging file 0 on \\Device\\Harddisk1\\DR0", b.text()):
            bad.append("the kernel did not say it opened the paging file")
        bad += self.small_machine_thresholds(b.text())
        if not bad:
            self.drop(paths)
        return (not bad), "; ".join(bad)

    @staticmethod
    def small_machine_thresholds(text):
        """What is wrong with the thresholds a small machine's boot printed:
        each the fraction of the RAM pages mm/thresholds.c gives (below
        every ceiling on 16 MiB), in order, the reserve under the pages
        available after MM init (else init could not start)."""
        ram = re.search(r"mm: (\d+) pages of RAM \(\d+ MiB\), (\d+) available", text, re.M)
        th = re.search(r"mm: thresholds from RAM: memory makers only below (\d+) available, "
                       r"working-set manager below (\d+), new processes need (\d+)$", text, re.M)
        if not ram or not th:
            return ["the boot did not print its RAM and thresholds"]
        pages, avail = int(ram.group(1)), int(ram.group(2))
        minimum, low, reserve = (int(g) for g in th.groups())
        bad = []
        if (minimum, low, reserve) != (pages // 64, pages // 4, pages // 2):
            bad.append(f"thresholds {minimum}/{low}/{reserve} on {pages} pages, not RAM/64, /4, /2 "
                       f"({pages // 64}/{pages // 4}/{pages // 2})")
        if not 0 < minimum < low // 4 < low < reserve < avail:
            bad.append(f"thresholds out of order: 0 < {minimum} < {low // 4} < {low} < {reserve} < {avail} available")
        return bad

    def kernel_paging_tests(self, name, test, cmdline, timeout=300, blkdebug=None):
        b, paths = self.paging_boot(name, f"ktest={test} verifier=1 {cmdline}".strip(), timeout, blkdebug)
        outs = judge_ktest_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if not any(o.ok for o in outs):
            bad.append(f"no test matching {test} passed")
        if not bad:
            self.drop(paths)
        return (not bad), "; ".join(bad)

    def t_paging_kernel(self, name):
        """The kernel's pagefile tests (mm/tests/pagefile_test.c) in a 64 MiB
        boot whose paging file is given on the command line."""
        return self.kernel_paging_tests(name, "pagefile.*", "")

    def t_paging_write_error(self, name):
        """Every write touching sector 4096..4223 of the pagefile disk (slots
        512..527) fails: the writer gives those slots back, the pages stay
        modified and are written elsewhere, nothing is lost."""
        rules = [("write_aio", 4096 + 8 * i) for i in range(16)]
        return self.kernel_paging_tests(name, "pagefile_inject.write_error_keeps_the_page", "", blkdebug=rules)

    def t_paging_read_error(self, name):
        """Reads of slots 700..715 fail: the process whose pages are there ends
        with STATUS_IN_PAGE_ERROR, and everything it held comes back."""
        rules = [("read_aio", (700 + i) * 8) for i in range(16)]
        return self.kernel_paging_tests(name, "pagefile_inject.read_error_ends_the_process", "", blkdebug=rules)

    def t_paging_pool_read_error(self, name):
        """A paged-pool page whose slot cannot be read: KERNEL_DATA_INPAGE_ERROR
        (0x7A) with P2 = the disk's status (the KTEST_BUGCHECK's own boot)."""
        rules = [("read_aio", (900 + i) * 8) for i in range(16)]
        test = "pagefile_inject.paged_pool_read_error_bugchecks"
        b, paths = self.paging_boot(name, f"ktest={test} ktest.expect=1 verifier=1", 120, rules)
        o = judge_bugcheck_boot(test, b)
        if o.ok:
            self.drop(paths)
        return o.ok, o.message

    def t_vblk_intx(self, name):
        """vblk.intx makes the driver skip MSI-X: both disks complete their
        requests through the shared INTx line and the ISR status register."""
        test = "vblk.intx_completes_requests"
        b = mq.boot(self.args.kernel, f"vblk.intx ktest={test}", timeout=60, mem=self.args.mem,
                    log_path=log_path(name))
        outs = judge_ktest_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if not any(o.ok and o.name == test for o in outs):
            bad.append(f"{test} did not pass")
        if len(re.findall(r"vblk: \\Device\\Harddisk\d\\DR0: .*, INTx", b.text())) != 2:
            bad.append("the driver did not say INTx for both disks")
        return (not bad), "; ".join(bad)

    def t_vblk_noindirect(self, name):
        """vblk.noindirect: the driver does not take VIRTIO_F_INDIRECT_DESC
        and every vblk test passes with direct chains in the ring (the ring
        tests check whichever layout the boot chose); vblk.nodefer with it:
        every request notified at once, even while the device is busy."""
        b = mq.boot(self.args.kernel, "vblk.noindirect vblk.nodefer ktest=vblk.*", timeout=120, mem=self.args.mem,
                    log_path=log_path(name))
        outs = judge_ktest_boot(b, name)
        bad = [f"{o.name}: {o.message}" for o in outs if not o.ok]
        if len([o for o in outs if o.ok]) < 10:
            bad.append(f"only {len([o for o in outs if o.ok])} vblk tests passed")
        if re.search(r"vblk: \\Device\\Harddisk\d\\DR0: .*, indirect", b.text()):
            bad.append("the driver still said indirect")
        return (not bad), "; ".join(bad)

    # ---- the virtqueue command (vq) and docs/debugging.md's walk of one read ----
    # scripts/gdb/tests/vq.py follows utest_disk's 5-page read from
    # NtReadFile_ to ring 3 with a temporary breakpoint at each hand-off
    # (@@@ HANDOFF lines), and runs `vq 0` at vb_notify (the chain just
    # published) and at VbDpc (the device done, the DPC not yet).
    WALK = ["syscall", "iocalldriver", "dispatch", "getsglist", "sgready", "notify", "isr", "dpc", "complete", "apc",
            "iret"]

    def t_gdb_vq_walk(self, name):
        serial = os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".serial.log")
        out = self.gdb_driver(name, "vq.py", cmdline="utest=user.disk.pattern_*", serial=serial)
        notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
        if notrun:
            return False, notrun.group(1)
        got = re.findall(r"^@@@ HANDOFF (\S+) (.*)$", out, re.M)
        names = [g[0] for g in got]
        if names != self.WALK:
            return False, "the walk stopped after " + (" -> ".join(f"{a} ({b})" for a, b in got) or "nothing")
        results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out,
                                                                re.M | re.S)}
        vqs = [m.group(1) for m in re.finditer(r"^@@@ BEGIN vq 0\n(.*?)^@@@ END vq 0$", out, re.M | re.S)]
        bad = []
        irp = re.search(r"^@@@ IRP (0x[0-9a-f]+)$", out, re.M)
        elems = re.findall(r"^@@@ ELEM (\d+) (0x[0-9a-f]+) (0x[0-9a-f]+)$", out, re.M)
        if not irp or not elems:
            return False, "the driver did not read the IRP or the list"
        if len(vqs) != 2 or any(v.startswith("@@@ ERROR") for v in vqs):
            return False, "vq did not run twice: " + " / ".join(v.splitlines()[0] if v else "" for v in vqs)
        at_notify, at_dpc = vqs
        head = re.search(rf"^  head (\d+): on the device IRP {irp.group(1)}  IN sector \d+  bytes 0x5000 ", at_notify,
                         re.M)
        if not head:
            bad.append("vq at vb_notify does not show the read on the device with its IRP")
        else:
            h = head.group(1)
            if not re.search(rf"^      desc\[{h}\] 0x[0-9a-f]+ len {hex((len(elems) + 2) * 16)} INDIRECT", at_notify,
                             re.M):
                bad.append(f"vq does not show head {h}'s INDIRECT descriptor with a table of {len(elems) + 2}")
            if not re.search(r"^        \[0\] 0x[0-9a-f]+ len 0x10 NEXT next 1  \(header\)$", at_notify, re.M):
                bad.append("the indirect table's header entry is missing")
            for i, address, length in elems:
                a = int(address, 16)
                if not re.search(rf"^        \[{int(i) + 1}\] {a:#014x} len {length} NEXT\|WRITE", at_notify, re.M):
                    bad.append(f"table entry {int(i) + 1} is not element {i} ({a:#x} + {length}) written by the device")
            if not re.search(rf"^        \[{len(elems) + 1}\] 0x[0-9a-f]+ len 0x1 WRITE  \(status byte\)$", at_notify,
                             re.M):
                bad.append("the indirect table's status entry is missing")
            if not re.search(rf"used ring, not yet seen by the DPC: .*\{{id {h}, len \d+\}}", at_dpc):
                bad.append(f"vq at VbDpc does not show head {h} in the used ring")
        if not re.search(r"IRP_MJ_READ", results.get("irp irp", "@@@ ERROR not run")):
            bad.append("irp at IoCallDriver does not show the read")
        sgl = results.get(next((k for k in results if k.startswith("sglist ")), ""), "")
        if not re.search(rf"^SCATTER_GATHER_LIST 0x[0-9a-f]+: {len(elems)} elements?", sgl, re.M):
            bad.append("sglist did not show the list")
        user = re.search(r"^@@@ USER rip=(0x[0-9a-f]+) cs=(0x[0-9a-f]+)$", out, re.M)
        if not user or int(user.group(2), 16) & 3 != 3:
            bad.append("the last step did not land in ring 3")
        return (not bad), "; ".join(bad)

    # ---- the PCI command (pci) ----
    # scripts/gdb/tests/pci.py: GDB stops at KtRunTests (the bus driver has
    # enumerated by then), reads PciDevices[] with plain GDB expressions
    # (@@@ DEV / BAR / VCAP) and runs `pci`, which must show the same.

    def t_gdb_pci(self, name):
        out, results, why = self.gdb_stopped(name, "pci.py", None, "KtRunTests", out=self.ktest_chain("pci")[0])
        if why:
            return False, why
        text = results.get("pci", "@@@ ERROR not run")
        if text.startswith("@@@ ERROR"):
            return False, "pci: " + text[len("@@@ ERROR "):].splitlines()[0]
        count = re.search(r"^@@@ COUNT (\d+)$", out, re.M)
        devs = re.findall(r"^@@@ DEV (\d+) (\S+) (\S+) (\S+) (\S+) pin=(\d+) line=(\d+) hdr=(\d+) sec=(\d+) "
                          r"msix=(\d+) vcaps=(\d+) driver=(\S+)$", out, re.M)
        if not count or int(count.group(1)) != len(devs) or len(devs) < 8:
            return False, f"the driver read {len(devs)} functions with GDB expressions (want 8 or more)"
        bad = []
        if not re.search(rf"^{len(devs)} PCI function\(s\)$", text, re.M):
            bad.append(f"pci does not say {len(devs)} functions")
        blocks = re.split(r"^(?=[0-9a-f]{2}:[0-9a-f]{2}\.\d )", text, flags=re.M)
        by_addr = {b.split(" ", 1)[0]: b for b in blocks if re.match(r"[0-9a-f]{2}:", b)}
        for i, addr, ids, cls, rev, pin, line, hdr, sec, msix, vcaps, driver in devs:
            b = by_addr.get(addr)
            if b is None:
                bad.append(f"pci does not list {addr}")
                continue
            head = rf"^{re.escape(addr)} {ids} class {cls} rev {rev} hdr {hdr}"
            if int(pin):
                head += rf" INT{chr(ord('A') + int(pin) - 1)} line {line}"
            if int(hdr) == 1:
                head += rf" bus {sec}-"
            if not re.search(head, b, re.M):
                bad.append(f"{addr}: the header line is not '{head[1:]}...': {b.splitlines()[0]}")
            if (int(driver, 16) != 0) != (" driver -" not in b.splitlines()[0]):
                bad.append(f"{addr}: the driver (pointer {driver}) is not shown as bound/unbound")
            if int(msix) and not re.search(rf"^    MSI-X {msix} entries", b, re.M):
                bad.append(f"{addr}: no 'MSI-X {msix} entries' line")
            if len(re.findall(r"^    vendor cap ", b, re.M)) != int(vcaps):
                bad.append(f"{addr}: not {vcaps} vendor capability lines")
            for k, bi, t, base, size, pf in re.findall(rf"^@@@ BAR ({i}) (\d+) type=(\d+) base=(\S+) size=(\S+) "
                                                      r"pf=(\d+)$", out, re.M):
                if int(t) in (0, 4):
                    if re.search(rf"^    BAR{bi} ", b, re.M):
                        bad.append(f"{addr}: BAR{bi} is unused but listed")
                    continue
                want = rf"^    BAR{bi} +\S+ +{base} size {size}" + (" prefetchable" if int(pf) else "$")
                if not re.search(want, b, re.M):
                    bad.append(f"{addr}: BAR{bi} is not 'base {base} size {size}'")
            for k, off, t, bar, at, ln in re.findall(rf"^@@@ VCAP ({i}) off=(\S+) type=(\d+) bar=(\d+) at=(\S+) "
                                                    r"len=(\S+)$", out, re.M):
                if not re.search(rf"^    vendor cap @{off} cfg_type {t} \(\S+\) BAR{bar}\+{at} len {ln}", b, re.M):
                    bad.append(f"{addr}: the vendor cap at {off} (cfg_type {t}) is not shown as the table has it")
        virtio = [d for d in devs if d[2] == "1af4:1042"]
        if len(virtio) != 2:
            bad.append(f"the table has {len(virtio)} virtio-blk functions, want 2")
        return (not bad), "; ".join(bad[:6])

    def t_gdb_vq_merged(self, name):
        """`vq 0` at the notify of a plugged batch's merged request: one head
        with the 31 IRPs behind it, each named, and one indirect table of
        header + 32 elements + status (scripts/gdb/tests/merge.py)."""
        out, results, why = self.gdb_stopped(name, "merge.py", None, "vb_notify", out=self.ktest_chain("merge")[0])
        if why:
            return False, why
        head = re.search(r"^@@@ HEAD (\d+) irp=(\S+) members=(\d+)$", out, re.M)
        members = re.findall(r"^@@@ MEMBER irp=(\S+)$", out, re.M)
        if not head or int(head.group(3)) != 31 or len(members) != 31:
            return False, f"GDB expressions read {len(members)} merged IRPs behind one head, want 31"
        text = results.get("vq 0", "@@@ ERROR not run")
        if text.startswith("@@@ ERROR"):
            return False, "vq: " + text[len("@@@ ERROR "):].splitlines()[0]
        bad = []
        if not re.search(rf"^  head {head.group(1)}: on the device IRP {head.group(2)} ", text, re.M):
            bad.append(f"vq does not show head {head.group(1)} on the device with IRP {head.group(2)}")
        shown = re.findall(r"^    \+ merged IRP (0x[0-9a-f]+) ", text, re.M)
        if shown != members:
            bad.append(f"vq lists {len(shown)} merged IRPs, not the 31 GDB's expressions read, in order")
        if not re.search(r"INDIRECT -> indirect table of 34$", text, re.M):
            bad.append("vq does not show one indirect table of 34 (header, 32 elements, status)")
        return (not bad), "; ".join(bad)

    def t_gdb_mdl(self, name):
        out, serial = self.ktest_chain("mdl")
        notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
        if notrun:
            return False, notrun.group(1)
        stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
        if not stopped:
            return False, "the GDB driver never reported where the kernel stopped"
        if stopped.group(1) != "MmUnlockPages":
            lines = open(serial, errors="replace").read().splitlines() if os.path.exists(serial) else []
            said = [l for l in lines if l.startswith(("[ktest] FAIL", "*** STOP"))]
            return False, f"{' / '.join(self.GDB_MDL_TESTS)} never unlocked a locked, mapped MDL: GDB stopped in " \
                          f"{stopped.group(1)}" + (f" ({said[0]})" if said else "")
        fields = re.search(r"^@@@ FIELDS mdl=(\S+) flags=(\S+) count=(\d+) offset=(\d+) start=(\S+) sys=(\S+) "
                           r"process=(\S+) size=(\d+) span=(\d+)$", out, re.M)
        if not fields:
            return False, "the driver could not read the MDL's fields with GDB expressions"
        mdl, flags, start, sysva, process = (int(fields.group(i), 16) for i in (1, 2, 5, 6, 7))
        count, offset, size, span = (int(fields.group(i)) for i in (3, 4, 8, 9))
        frames = [(int(i), int(p, 16), int(l), int(r), int(sh)) for i, p, l, r, sh in
                  re.findall(r"^@@@ FRAME (\d+) pfn=(\S+) loc=(\d+) refs=(\d+) shares=(\d+)$", out, re.M)]
        if len(frames) != span:
            return False, f"the driver read {len(frames)} frames of an MDL spanning {span} pages"
        results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out,
                                                                re.M | re.S)}
        cmds = ["mdl $rdi", "locked", "locked 0", f"pt {sysva:#x}"]
        bad = [f"{c}: " + (results[c][len("@@@ ERROR "):].splitlines()[0] if c in results else "not run")
               for c in cmds if c not in results or results[c].startswith("@@@ ERROR")]
        if bad:
            return False, "; ".join(bad)
        text, locked = results["mdl $rdi"], results["locked"]
        # mdl: the header, as GDB's own expressions read it.
        lists = ["Zeroed", "Free", "Standby", "Modified", "ModifiedNoWrite", "Bad", "Active", "Transition"]
        want = [(rf"^MDL {mdl:#x}: {count} bytes at {start + offset:#x}, spanning {span} page", "the summary line"),
                (rf"^  Size +{size} ", f"Size {size}"),
                (rf"^  MdlFlags +{flags:#06x} .*MDL_MAPPED_TO_SYSTEM_VA \| MDL_PAGES_LOCKED", f"MdlFlags {flags:#06x}"
                                                                                          " with their names"),
                (rf"^  MappedSystemVa {sysva:#x} \(system PTEs\)", f"MappedSystemVa {sysva:#x} in system PTEs"),
                (rf"^  StartVa +{start:#x} ", f"StartVa {start:#x}"),
                (rf"^  ByteOffset +{offset} ", f"ByteOffset {offset}"),
                (rf"^  ByteCount +{count} ", f"ByteCount {count}"),
                (r"^  Process +none" if not process else rf"^  Process +.*{process:#x}", "the Process field"),
                (rf"^  PFN array at {mdl + 48:#x}: {span} frames?$", f"a PFN array of {span} frames"),
                (r"^    locked +by \S+\+0x[0-9a-f]+ \(0x[0-9a-f]+\)", "the verifier's 'locked by' call site"),
                (r"^    allocated by \S+\+0x[0-9a-f]+ \(0x[0-9a-f]+\) at \S+:\d+", "the 'allocated by' site "
                                                                                     "with its source line")]
        bad = [f"mdl does not show {what}" for rx, what in want if not re.search(rx, text, re.M)]
        for i, pfn, loc, refs, shares in frames:
            row = re.search(rf"^ +{i} +{pfn:#x} +(\S+) +(\d+) +(\d+) +(\d+)  .{{14}} \S+ +(\S+)", text, re.M)
            if not row:
                bad.append(f"mdl has no row for frame {i} (PFN {pfn:#x})")
                continue
            if (row.group(1), int(row.group(2)), int(row.group(3))) != (lists[loc], refs, shares):
                bad.append(f"mdl frame {i}: {row.group(1)} refs {row.group(2)} shares {row.group(3)}, GDB reads "
                           f"{lists[loc]} refs {refs} shares {shares}")
            if int(row.group(4)) < 1:
                bad.append(f"mdl frame {i}: locks {row.group(4)}: the MDL's own lock is not counted")
            if row.group(5) != "valid":
                bad.append(f"mdl frame {i}: the system mapping's PTE is '{row.group(5)}', not valid for this frame")
        # locked: every frame of the MDL, held by it; the MDL in the tracked list.
        for i, pfn, _, refs, _ in frames:
            row = re.search(rf"^ +{pfn:#x} +\S+ +{refs} .*MDL {mdl:#x}", locked, re.M)
            if not row:
                bad.append(f"locked does not list PFN {pfn:#x} as held by MDL {mdl:#x}")
        if not re.search(rf"^    MDL {mdl:#x} +{span} pages? .*locked by \S+\+0x", locked, re.M):
            bad.append(f"locked does not list MDL {mdl:#x} among the tracked locked MDLs")
        if "MISMATCH" in locked:
            bad.append("locked reports a MISMATCH")
        if not process and not re.search(rf"^    MDL {mdl:#x} ", results["locked 0"], re.M):
            bad.append("locked 0 (kernel buffers) does not list the MDL")
        # pt MappedSystemVa reaches the first frame.
        pt = re.search(r"^  => physical (0x[0-9a-f]+)", results[f"pt {sysva:#x}"], re.M)
        if not pt or int(pt.group(1), 16) != (frames[0][1] << 12) | (sysva & 0xFFF):
            bad.append(f"pt {sysva:#x} does not reach PFN {frames[0][1]:#x}")
        if bad:
            return False, "; ".join(bad)
        return True, ""

    def run(self):
        os.makedirs(LOGS, exist_ok=True)
        host = {n: f for n, f in self.host_tests().items() if self.wanted(n)}
        if not self.args.user_tests and any(p.startswith("user.") for p in self.patterns):
            print("note: the user-mode tests are off; turn them on with --user-tests (make test UTESTS=1)",
                  file=sys.stderr, flush=True)
        with cf.ThreadPoolExecutor(max_workers=self.args.jobs) as pool:
            # The longest boots first, whatever their kind: the run lasts
            # at least as long as its longest boot, so that one must not
            # wait for a slot (the paging host test outlasts every shard).
            # A shard's length is the sum of its tests' times in the last
            # run, a host test's its own; the shards go first on a cold run.
            jobs = []
            for i in range(self.args.shards):
                jobs.append((self.shard_time(i, self.args.shards, self.kernel_salt, False), "main", i))
            if self.user_tests_wanted():
                for i in range(self.args.user_shards):
                    jobs.append((self.shard_time(i, self.args.user_shards, self.user_salt, True), "user", i))
                if self.small_user_tests():
                    jobs.append((sum(v for k, v in self.old_times.items()
                                     if k in self.SMALL_UTESTS), "small", None))
            for names in self.host_jobs(host):
                jobs.append((sum(self.old_times.get("host:" + n, 0.0) for n in names), "host", names))
            jobs.sort(key=lambda j: (-j[0], j[1] == "host"))
            futures, mains = [], []
            for _, kind, what in jobs:
                if kind == "main":
                    mains.append(pool.submit(self.main_boot, pool, what, self.args.shards))
                elif kind == "user":
                    futures.append(pool.submit(self.user_boot, what, self.args.user_shards))
                elif kind == "small":
                    futures.append(pool.submit(self.small_user_boot))
                else:
                    futures.append(pool.submit(self.run_host_tests, what, host))
            # Every DEFER line has arrived once the main boots are done:
            # then the bugcheck workers may end when their queue is empty.
            try:
                for f in mains:
                    f.result()
            finally:
                for _ in self.worker_futures:
                    self.bugcheck_queue.put(None)
            for f in futures + list(self.bugcheck_futures) + self.worker_futures:
                f.result()
        self.check_shares()
        if self.times:
            try:
                with open(self.TIMES + ".tmp", "w") as f:
                    json.dump(dict(self.old_times, **self.times), f, indent=0, sort_keys=True)
                os.replace(self.TIMES + ".tmp", self.TIMES)
            except OSError:
                pass
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
    ap.add_argument("--cmdline", default="", help="more options on the main boot's command line (e.g. fuzz.n=100000)")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2) + 1,
                    help="boots at once (default: the CPUs plus one: a boot waiting on a timer leaves its CPU idle)")
    ap.add_argument("--shards", type=int, default=None,
                    help="boots the ordinary kernel tests are split over (default 2 for every test, else 1)")
    ap.add_argument("--user-shards", type=int, default=None,
                    help="boots the user-mode tests are split over (default 3 for every test, else 1)")
    ap.add_argument("--user-tests", dest="user_tests", action="store_true", default=None,
                    help="also boot the user-mode tests (init runs user/tests/ with utest=PATTERN); the default "
                         f"is {'on' if USER_TESTS_DEFAULT else 'off'}, or MDLOS_USER_TESTS=1/0")
    ap.add_argument("--no-user-tests", dest="user_tests", action="store_false")
    ap.add_argument("--user-timeout", type=float, default=600, help="seconds for the user-test boot")
    ap.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                    default=os.environ.get("MDLOS_SNAPSHOT", "1") != "0",
                    help="boot every bugcheck test instead of running each on a saved machine rewound for it "
                         "(MDLOS_SNAPSHOT=0)")
    ap.add_argument("--bugcheck-workers", type=int, default=1,
                    help="QEMUs the bugcheck tests share, each saved once and rewound for every test (default 1)")
    args = ap.parse_args()
    if not args.pattern:
        args.pattern = "*"
    everything = args.pattern in ("*", "*.*")
    if args.shards is None:
        args.shards = 2 if everything else 1
    if args.user_shards is None:
        args.user_shards = 3 if everything else 1
    args.shards, args.user_shards = max(1, args.shards), max(1, args.user_shards)
    if args.user_tests is None:
        env = os.environ.get("MDLOS_USER_TESTS")
        args.user_tests = USER_TESTS_DEFAULT if env is None else env.lower() not in ("", "0", "no", "off", "false")
    sys.exit(Runner(args).run())


if __name__ == "__main__":
    main()
