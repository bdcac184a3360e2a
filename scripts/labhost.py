"""The labs' host-side tests (docs/labs/): run by `make test` like the
other host tests, and graded by `make grade` with the points declared
beside each (@lab_host_test(NAME, POINTS)). Each is FN(runner, name) ->
(ok, message), with runner a scripts/ktest.py Runner (gdb_driver, boot).
Python 3 standard library only."""
import os
import re

import mdlosqemu as mq

HOST_TESTS = {}   # name -> (points, fn)
LOGS = os.path.join(mq.ROOT, "build", "test-logs")


def lab_host_test(name, points):
    def register(fn):
        HOST_TESTS[name] = (points, fn)
        return fn
    return register


def host_tests(runner):
    """{name: fn(name)} for ktest.Runner.host_tests()."""
    return {name: (lambda n, fn=fn: fn(runner, n)) for name, (_, fn) in HOST_TESTS.items()}


def serial_path(name):
    path = os.path.join(LOGS, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".serial.log")
    if os.path.exists(path):
        os.remove(path)
    return path


def kernel_failure(serial, test):
    """The FAIL line the kernel printed for TEST in the serial log, if any."""
    text = open(serial, errors="replace").read() if os.path.exists(serial) else ""
    m = re.search(r"^\[ktest\] FAIL " + re.escape(test) + r": (.*)$", text, re.M)
    return m.group(1) if m else None


A_D = ~0x60 & ((1 << 64) - 1)


@lab_host_test("pgtbl.dump.matches_gdb_ptdump", 10)
def t_dump_matches_ptdump(runner, name):
    """The student's dump of a process (pgtbl.dump_for_gdb prints it), line
    for line what GDB's ptdump reads in physical memory at the same moment
    (A and D bits aside)."""
    test = "pgtbl.dump_for_gdb"
    serial = serial_path(name)
    out = runner.gdb_driver(name, "ptdump.py", cmdline=f"ktest={test}", serial=serial)
    notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
    if notrun:
        return False, notrun.group(1)
    failed = kernel_failure(serial, test)
    if failed:
        return False, failed
    stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
    if not stopped or stopped.group(1) != "MiLabDumpCheckpoint":
        return False, f"GDB did not stop at MiLabDumpCheckpoint ({stopped.group(1) if stopped else 'no report'})"
    results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out, re.M | re.S)}
    cmd = next((k for k in results if k.startswith("ptdump ")), None)
    if cmd is None or results[cmd].startswith("@@@ ERROR"):
        return False, "ptdump did not run: " + (results.get(cmd, "")[:200] if cmd else "no output")
    text = open(serial, errors="replace").read()
    body = re.search(r"^pgtbl: dump of CR3 \S+\n(.*?)^pgtbl: end of dump$", text, re.M | re.S)
    if not body:
        return False, "the kernel did not print the dump (pgtbl: dump of CR3 ... pgtbl: end of dump)"
    mine = [l[len("pgtbl: "):] for l in body.group(1).splitlines() if l.startswith("pgtbl: ")]
    gdbs = [l for l in results[cmd].splitlines()[1:] if l.strip()]

    def norm(line):
        return re.sub(r"pte (0x[0-9a-f]+)", lambda m: f"pte {int(m.group(1), 16) & A_D:#018x}", line)
    mine, gdbs = [norm(l) for l in mine], [norm(l) for l in gdbs]
    if not mine:
        return False, "the student's dump printed nothing"
    if mine != gdbs:
        for i, (a, b) in enumerate(zip(mine + [""] * len(gdbs), gdbs + [""] * len(mine))):
            if a != b:
                return False, f"line {i + 1} differs: the dump says {a!r}, ptdump {b!r} ({len(mine)} vs {len(gdbs)} lines)"
    return True, f"{len(mine)} lines agree"


@lab_host_test("pgtbl.gdb.single_step_recipe", 5)
def t_single_step(runner, name):
    """docs/labs/pgtbl.md's recipe: break in MiLabWalkPhysical, watch the
    walk record's Entry[0..3], continue level by level; each entry the walk
    stored must be the one `pt` shows at that level, and the walk must
    reach all four levels for a kernel code address."""
    test = "pgtbl.physical.kernel_code_and_data"
    serial = serial_path(name)
    out = runner.gdb_driver(name, "singlestep.py", cmdline=f"ktest={test}", serial=serial)
    notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
    if notrun:
        return False, notrun.group(1)
    stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
    if not stopped or stopped.group(1) != "MiLabWalkPhysical":
        return False, f"GDB did not stop in MiLabWalkPhysical ({stopped.group(1) if stopped else 'no report'})"
    levels = {}
    for level, v in re.findall(r"^@@@ LEVEL (\d) entry=(0x[0-9a-f]+)", out, re.M):
        levels[int(level)] = int(v, 16)   # the last value the walk stored at that level
    failed = kernel_failure(serial, test)
    if len(levels) < 4 and failed:
        return False, failed
    pt = next((v for k, v in re.findall(r"^@@@ BEGIN (pt .*?)\n(.*?)^@@@ END \1$", out, re.M | re.S)), None)
    if pt is None:
        return False, "pt did not run after the walk"
    want = [int(v, 16) for v in re.findall(r"^  (?:PML4E|PDPTE|PDE|PTE)\s+\[.*= (0x[0-9a-f]+)$", pt, re.M)]
    if len(want) != 4:
        return False, f"pt shows {len(want)} levels for a kernel code address"
    bad = []
    for level in range(4):
        if level not in levels:
            bad.append(f"the walk never stored level {level}'s entry (Walk->Entry[{level}])")
        elif levels[level] & A_D != want[level] & A_D:
            bad.append(f"level {level}: the walk stored {levels[level]:#x}, pt reads {want[level]:#x}")
    return (not bad), "; ".join(bad) or "4 levels, each the entry pt shows"


@lab_host_test("gdb.pfnlist_walks_a_lab_page_list", 0)
def t_pfnlist(runner, name):
    """GDB's pfnlist over the PFN lab's free list (linked by the test, so
    the same with the lab's stubs): the frames, in order, that plain GDB
    expressions reach from the head; no complaint over sound lists; a
    MISMATCH once GDB has made Total wrong, and MAX obeyed. Not graded
    (0 points, in no lab's host_tests): it tests the command, not a student."""
    test = "pfnlab.check.counts_and_tails"
    out = runner.gdb_driver(name, "pfnlist.py", cmdline=f"ktest={test}", serial=serial_path(name))
    notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
    if notrun:
        return False, notrun.group(1)
    stops = re.findall(r"^@@@ STOPPED (.*)$", out, re.M)
    if stops[:1] != ["MiLabCheckPageLists"]:
        return False, f"GDB did not stop at MiLabCheckPageLists ({stops})"
    runs = re.findall(r"^@@@ BEGIN (pfnlist .*?)\n(.*?)^@@@ END \1$", out, re.M | re.S)
    if len(runs) != 2:
        return False, f"pfnlist ran {len(runs)} times, not 2"
    bad = []
    for (tag, want_total), (cmd, text) in zip((("sound", 3), ("corrupt", 4)), runs):
        head = re.search(rf"^@@@ HEAD {tag} total=(\d+) flink=(0x[0-9a-f]+) blink=(0x[0-9a-f]+)", out, re.M)
        frames = [int(p, 16) for p in re.findall(rf"^@@@ FRAME {tag} \d+ pfn=(0x[0-9a-f]+)", out, re.M)]
        shown = [int(p, 16) for p in re.findall(r"^  \[\d+\] PFN (0x[0-9a-f]+) Free refs=0 shares=0", text, re.M)]
        if not head or int(head.group(1)) != want_total or len(frames) != 3:
            bad.append(f"{tag}: the test's free list is not what it should be ({head and head.group(0)}, "
                       f"{len(frames)} frames)")
            continue
        if not text.startswith(f"FreePageList (ListName 1): Total {want_total}, Flink (head) {head.group(2)}, "
                               f"Blink (tail) {head.group(3)}"):
            bad.append(f"{tag}: the head line is {text.splitlines()[0] if text else 'missing'}")
        limit = 2 if tag == "corrupt" else 64
        if shown != frames[:limit]:
            bad.append(f"{tag}: pfnlist shows {[hex(p) for p in shown]}, GDB reads {[hex(p) for p in frames]}")
        last = text.strip().splitlines()[-1] if text.strip() else ""
        want = f"walked 3 frames; Total says {want_total}" + ("  MISMATCH" if tag == "corrupt" else "")
        if last != want:
            bad.append(f"{tag}: the last line is {last!r}, not {want!r}")
        if tag == "sound" and re.search(r"BACK LINK|LOCATION|REFERENCED|MISMATCH|CYCLE|NOT RAM", text):
            bad.append("sound lists: pfnlist complains")
    return (not bad), "; ".join(bad) or "pfnlist walks the lab's free list as GDB reads it, and sees a wrong Total"


# ---- the DMA lab (docs/labs/dma.md) ----

@lab_host_test("dmalab.gdb.sglist_shows_your_bounced_list", 5)
def t_dma_sglist(runner, name):
    """The handout's GDB view of a bounced list: stopped in the student's
    put of a 27-bit device's write list (frames high, low, high, low),
    `sglist` lists the elements GDB's expressions read, the low frames'
    elements zero copy, the high ones inside the map registers
    `p/x *(struct _IO_LAB_DMA *)$rdi` shows."""
    test = "dmalab.bounce.write_is_copied_in_at_build"
    serial = serial_path(name)
    out = runner.gdb_driver(name, "dmalab.py", cmdline=f"ktest={test}", serial=serial)
    notrun = re.search(r"^@@@ NOTRUN (.*)$", out, re.M)
    if notrun:
        return False, notrun.group(1)
    stopped = re.search(r"^@@@ STOPPED (.*)$", out, re.M)
    if not stopped or stopped.group(1) != "IoLabPutScatterGatherList":
        # An unfinished lab ends the test before its first put: say so.
        return False, kernel_failure(serial, test) or \
            f"GDB did not stop at IoLabPutScatterGatherList ({stopped.group(1) if stopped else 'no report'})"
    head = re.search(r"^@@@ LIST n=(\d+)$", out, re.M)
    elems = [(int(i), int(a, 16), int(n, 16)) for i, a, n in re.findall(r"^@@@ ELEM (\d+) (\S+) (\S+)$", out, re.M)]
    regs = {int(p, 16) for p in re.findall(r"^@@@ REG \d+ (\S+)$", out, re.M)}
    if not head or len(elems) != int(head.group(1)) or not regs:
        return False, "GDB's expressions could not read the list or the map registers"
    results = {m.group(1): m.group(2) for m in re.finditer(r"^@@@ BEGIN (.*?)\n(.*?)^@@@ END \1$", out, re.M | re.S)}
    text = results.get("sglist $rsi", "@@@ ERROR not run")
    if text.startswith("@@@ ERROR"):
        return False, "sglist: " + text[len("@@@ ERROR "):].splitlines()[0]
    dma = results.get("p/x *(struct _IO_LAB_DMA *)$rdi", "@@@ ERROR not run")
    bad = []
    if "HighestAddress = 0x7ffffff" not in dma:
        bad.append("p/x *(struct _IO_LAB_DMA *)$rdi does not show the 27-bit reach")
    if not re.search(rf"^SCATTER_GATHER_LIST 0x[0-9a-f]+: {len(elems)} elements?, ", text, re.M):
        bad.append(f"sglist does not say {len(elems)} elements")
    bounced = [e for e in elems if e[1] >> 12 in regs]
    if len(elems) != 4 or [e[0] for e in bounced] != [0, 2]:
        bad.append(f"the list is not high-bounced, low, high-bounced, low: {[(hex(a), hex(n)) for _, a, n in elems]}")
    for i, a, n in elems:
        if not re.search(rf"^  \[{i}\] {a:#014x} \+ {n:#x} -> {a + n:#014x}  pfn \[{a >> 12:#x}\]", text, re.M):
            bad.append(f"sglist does not show element {i} ({a:#x} + {n:#x}) on frame {a >> 12:#x}")
    return (not bad), "; ".join(bad) or "sglist shows the 4 elements; 2 of them in map registers"
