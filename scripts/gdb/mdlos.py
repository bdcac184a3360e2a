"""mdlos memory-manager commands for GDB (loaded by scripts/gdb/gdbinit).

  pt VA [CR3]   walk the page tables for VA in physical memory, level by level
  pfn N         one PFN database entry, decoded
  pfnstats      the page lists, and what every frame of RAM is used for
  pool [TAG]    pool statistics and the pool tag table
  memmap [VA]   the kernel's address map (and which region holds VA)

`help COMMAND` says more. They read the kernel's own structures by name
(mm/mi.h, mm/pool.h), so the kernel's symbols must be loaded (`file
build/kernel.elf`). `pt` reads page tables at their physical addresses
through QEMU's gdbstub (`maintenance packet Qqemu.PhyMemMode:1`), the way
the CPU does, and also prints where each entry appears in the self-map,
which is how the kernel itself reads them.
Python 3 standard library only.
"""
import fnmatch
import struct

import gdb

# ---- mm/mi.h ----
SELFMAP_INDEX = 0x1ED
PTE_BASE = 0xFFFFF68000000000
PDE_BASE = 0xFFFFF6FB40000000
PPE_BASE = 0xFFFFF6FB7DA00000
PXE_BASE = 0xFFFFF6FB7DBED000
PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PFN_MASK = 0x000FFFFFFFFFF000
PFN_LIST_END = (1 << 64) - 1

# MMLISTS: the enum's names, and the short names pfn.c prints (MiListName).
LIST_ENUM = ["ZeroedPageList", "FreePageList", "StandbyPageList", "ModifiedPageList", "ModifiedNoWritePageList",
             "BadPageList", "ActiveAndValid", "TransitionPage"]
LIST_SHORT = ["Zeroed", "Free", "Standby", "Modified", "ModifiedNoWrite", "Bad", "Active", "Transition"]
# MI_PFN_USAGE, as MiUsageName prints them.
USAGE_NAMES = ["free", "kernel image", "page table", "PFN database", "nonpaged pool", "paged pool",
               "kernel stack", "boot module", "driver", "test", "user", "image"]
# MM_* protection codes kept in software PTEs.
PROTECTION_NAMES = ["NOACCESS", "READONLY", "EXECUTE", "EXECUTE_READ", "READWRITE", "WRITECOPY",
                    "EXECUTE_READWRITE", "EXECUTE_WRITECOPY"]
# The PAT layout MiInitializePat programs: index = PAT<<2 | PCD<<1 | PWT.
PAT_TYPES = ["WB", "WC", "UC-", "UC", "WB", "WC", "UC-", "UC"]

LEVELS = [  # name, VA shift, self-map base, mask applied to (VA >> shift2), shift2
    ("PML4E", 39, PXE_BASE, 0xFF8, 36),
    ("PDPTE", 30, PPE_BASE, 0x1FFFF8, 27),
    ("PDE", 21, PDE_BASE, 0x3FFFFFF8, 18),
    ("PTE", 12, PTE_BASE, 0x7FFFFFFFF8, 9),
]


# ---------------------------------------------------------------- helpers

def to_int(value):
    """An integer from a gdb.Value: the address of a function or array,
    the value of a pointer, enum or integer."""
    t = value.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_ARRAY):
        value = value.address
    return int(value.cast(gdb.lookup_type("unsigned long long"))) & (2 ** 64 - 1)


def eval_int(expr):
    return to_int(gdb.parse_and_eval(expr))


def kernel_value(name):
    try:
        return gdb.parse_and_eval(name)
    except gdb.error as e:
        raise gdb.GdbError(f"cannot read {name} ({e}); are the kernel's symbols loaded (file build/kernel.elf)?")


def read_virtual(addr, size):
    return bytes(gdb.selected_inferior().read_memory(addr, size))


def read_u64_virtual(addr):
    return struct.unpack("<Q", read_virtual(addr, 8))[0]


def sign_extend(va):
    va &= (1 << 48) - 1
    return va | (0xFFFF << 48) if va & (1 << 47) else va


def is_canonical(va):
    top = va >> 47
    return top == 0 or top == 0x1FFFF


def selfmap_address(level, va):
    _, _, base, mask, shift2 = LEVELS[level]
    return base + ((va >> shift2) & mask)


def va_mapped_by_pte(pte_address):
    """Inverse of MiGetPteAddress: the VA a PTE (at its self-map address) maps."""
    return sign_extend(((pte_address - PTE_BASE) << 9) & ((1 << 64) - 1))


def protection_name(prot):
    name = "MM_" + PROTECTION_NAMES[prot & 7]
    extra = {0x08: "NOCACHE", 0x10: "GUARD_PAGE", 0x18: "WRITECOMBINE"}.get(prot & 0x18)
    return name + (" | MM_" + extra if extra else "")


def decode_present(entry, level, large):
    """Flag names of a valid entry, in bit order."""
    names = [(0, "P"), (1, "RW"), (2, "US"), (3, "PWT"), (4, "PCD"), (5, "A"), (6, "D")]
    if level == 3:
        names.append((7, "PAT"))
    else:
        names.append((7, "PS"))
    names.append((8, "G"))
    names.append((9, "COW(sw)"))
    if large:
        names.append((12, "PAT"))
    names.append((63, "NX"))
    return " ".join(n for bit, n in names if entry >> bit & 1)


def decode_not_present(entry):
    """What a not-present entry means in NT's software PTE formats (mm/mi.h)."""
    if entry == 0:
        return "zero: nothing was ever put here; an access is a bad fault"
    prot = (entry >> 5) & 0x1F
    if entry >> 11 & 1:
        pfn = (entry & PFN_MASK) >> PAGE_SHIFT
        return (f"transition: the data is still in frame PFN {pfn:#x} (on the standby or modified list); "
                f"protection {prot:#x} {protection_name(prot)}; a touch makes it valid again without I/O "
                f"(`pfn {pfn:#x}`)")
    if entry >> 10 & 1:
        return f"prototype: bits 63..11 point at a prototype PTE; protection {prot:#x} {protection_name(prot)}"
    high = entry >> 32
    if high:
        low = (entry >> 1) & 0xF
        return (f"pagefile: the data is in paging file {low} at page offset {high:#x} (PageFileHigh); "
                f"protection {prot:#x} {protection_name(prot)}")
    if entry & ~((0x1F << 5)):
        return f"software PTE with unexpected bits set; protection {prot:#x} {protection_name(prot)}"
    return (f"demand zero: no frame yet, protection {prot:#x} {protection_name(prot)}; the first touch "
            f"gets a zeroed frame")


class PhysicalMemory:
    """While active, GDB's memory accesses go to guest physical memory
    (QEMU gdbstub extension). Always switches back on exit."""

    def __init__(self):
        self.active = False

    def __enter__(self):
        try:
            reply = gdb.execute("maintenance packet Qqemu.PhyMemMode:1", to_string=True)
        except gdb.error:
            reply = ""
        self.active = '"OK"' in reply
        flush_cache()
        return self

    def __exit__(self, *exc):
        if self.active:
            gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)
            self.active = False
            flush_cache()
        return False


def flush_cache():
    try:
        gdb.execute("maintenance flush dcache", to_string=True)
    except gdb.error:
        pass


def current_cr3():
    try:
        return eval_int("$cr3")
    except gdb.error as e:
        raise gdb.GdbError(f"cannot read $cr3 ({e}); is GDB attached to QEMU (target remote)?")


def paging_mode():
    """None in 4-level long-mode paging, else what the CPU is doing instead."""
    try:
        cr0 = eval_int("$cr0")
    except gdb.error:
        return None
    if not cr0 >> 31 & 1:
        return "paging is off (CR0.PG = 0): addresses are physical"
    try:
        efer = eval_int("$efer")
    except gdb.error:
        return None
    if not efer >> 10 & 1:
        return "the CPU is not in long mode yet (EFER.LMA = 0): 32-bit paging, not the 4-level tables"
    return None


def walk(va, cr3, read_entry):
    """Walk the 4 levels. Yields one dict per level visited; the last one
    says how the walk ended (final physical address or why it stopped).
    READ_ENTRY(physical address, level) returns the 64-bit entry."""
    table = cr3 & PFN_MASK
    user = writable = True
    nx = False
    for level, (name, shift, _, _, _) in enumerate(LEVELS):
        index = (va >> shift) & 511
        phys = table + index * 8
        entry = read_entry(phys, level)
        row = {"level": level, "name": name, "index": index, "phys": phys, "entry": entry,
               "selfmap": selfmap_address(level, va), "table": table}
        if not entry & 1:
            row["stop"] = decode_not_present(entry)
            yield row
            return
        writable &= bool(entry & 2)
        user &= bool(entry & 4)
        nx |= bool(entry >> 63)
        large = level in (1, 2) and bool(entry & 0x80)
        row["flags"] = decode_present(entry, level, large)
        row["access"] = ("user" if user else "kernel") + (" read/write" if writable else " read-only") + \
            (", no-execute" if nx else ", executable")
        if large or level == 3:
            size_bits = {1: 30, 2: 21, 3: 12}[level]
            base = entry & PFN_MASK & ~((1 << size_bits) - 1)
            pat = (entry >> 12 & 1) if large else (entry >> 7 & 1)
            pat_index = pat << 2 | (entry >> 4 & 1) << 1 | (entry >> 3 & 1)
            row["pfn"] = base >> PAGE_SHIFT
            row["large"] = {30: "1 GiB", 21: "2 MiB", 12: None}[size_bits]
            row["final"] = base | (va & ((1 << size_bits) - 1))
            row["cache"] = f"PAT index {pat_index} = {PAT_TYPES[pat_index]}"
            row["global"] = bool(entry & 0x100)
            yield row
            return
        row["pfn"] = (entry & PFN_MASK) >> PAGE_SHIFT
        row["selfref"] = (entry & PFN_MASK) == table
        yield row
        table = entry & PFN_MASK


class Command(gdb.Command):
    """Base of the commands here: a kernel structure that cannot be read
    (paging off, the memory manager not yet started, a bad address) is a
    one-line error, not a Python traceback."""

    def invoke(self, arg, from_tty):
        try:
            self.run(arg)
        except gdb.MemoryError as e:
            raise gdb.GdbError(f"{self._command}: {e} (is the kernel running with its own page tables yet? "
                               f"`continue` to kmain or later)")

    def __init__(self, name, command_class, completer):
        self._command = name
        super().__init__(name, command_class, completer)


# ---------------------------------------------------------------- pt

class PtCommand(Command):
    """Walk the page tables for a virtual address, as the CPU does.

Usage: pt VA [CR3]
  VA   an expression: 0xfffff8a000000000, &MmAvailablePages, kmain, $rsp
  CR3  the address space to walk (default: the current $cr3)

Starting from CR3, each level's entry is read at its PHYSICAL address (the
CPU's view, via QEMU's Qqemu.PhyMemMode) and printed with its index, its
physical address, its self-map address (the kernel's view: PXE_BASE,
PPE_BASE, PDE_BASE, PTE_BASE + the VA's bits, see MiGetPteAddress in
mm/mi.h), its raw value and its flags:
  P present  RW writable  US user  PWT/PCD/PAT cache type  A accessed
  D dirty  PS large page  G global  NX no-execute  COW(sw) software bit 9
The walk ends at a 1 GiB or 2 MiB large page, at the PTE, giving the
physical address, or at the first entry that is not present, which is
then decoded in NT's software formats: zero, demand zero (with its MM_*
protection), transition (frame still in memory), prototype, pagefile.
The self-map addresses are the current address space's; they are only
meaningful for CR3 = $cr3."""

    def __init__(self):
        super().__init__("pt", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        if not argv or len(argv) > 2:
            raise gdb.GdbError("usage: pt VA [CR3]   (quote a VA expression that contains spaces)")
        va = eval_int(argv[0])
        if len(argv) > 1:
            cr3 = eval_int(argv[1])
        else:
            cr3 = current_cr3()
            mode = paging_mode()
            if mode:
                print(f"pt {va:#018x}: {mode}; nothing to walk (give a CR3 to walk a table anyway)")
                return
        print(f"pt {va:#018x}   CR3 {cr3:#x}: PML4 at physical {cr3 & PFN_MASK:#x}")
        print(f"  VA bits: PML4 index {va >> 39 & 511:#x}, PDPT {va >> 30 & 511:#x}, PD {va >> 21 & 511:#x}, "
              f"PT {va >> 12 & 511:#x}, offset {va & 0xFFF:#x}")
        if not is_canonical(va):
            print(f"  => not canonical: bits 63..47 must all equal bit 47; any access raises #GP, nothing is walked")
            return
        with PhysicalMemory() as phys:
            if phys.active:
                def read_entry(pa, level):
                    return struct.unpack("<Q", read_virtual(pa, 8))[0]
                how = "physical memory"
            else:
                if cr3 & PFN_MASK != current_cr3() & PFN_MASK:
                    raise gdb.GdbError("this gdbstub cannot read physical memory (no Qqemu.PhyMemMode), and "
                                       "the self-map only shows the current address space")

                def read_entry(pa, level):
                    return read_u64_virtual(selfmap_address(level, va))
                how = "the self-map (this gdbstub cannot read physical memory)"
            try:
                rows = list(walk(va, cr3, read_entry))
            except gdb.MemoryError as e:
                raise gdb.GdbError(f"cannot read a page-table entry: {e}")
        print(f"  (entries read from {how})")
        for r in rows:
            lead = f"  {r['name']:<5} [{r['index']:3d} = {r['index']:#05x}]"
            print(f"{lead}  phys {r['phys']:#014x}  self-map {r['selfmap']:#018x}  = {r['entry']:#018x}")
            pad = " " * 6
            if "stop" in r:
                print(f"{pad}not present: {r['stop']}")
                print(f"  => {va:#x} is not mapped: the {r['name']} is not present")
                return
            print(f"{pad}{r['flags']}   PFN {r['pfn']:#x}")
            if r.get("selfref"):
                print(f"{pad}(points back at the table it is in: the self-map slot {SELFMAP_INDEX:#x}; "
                      f"this VA is itself a page-table address)")
            if "final" in r:
                if r["large"]:
                    print(f"{pad}large page: {r['large']}, base physical {r['pfn'] << PAGE_SHIFT:#x}")
                print(f"{pad}{r['access']}, {r['cache']}{', global' if r['global'] else ''}")
                print(f"  => physical {r['final']:#x}  (PFN {r['final'] >> PAGE_SHIFT:#x} + offset "
                      f"{r['final'] & 0xFFF:#x}; `pfn {r['final'] >> PAGE_SHIFT:#x}` shows the frame)")
                return
            print(f"{pad}next table at physical {r['pfn'] << PAGE_SHIFT:#x}")


# ---------------------------------------------------------------- pfn

def ram_ranges():
    n = int(kernel_value("MiRamRangeCount"))
    arr = kernel_value("MiRamRanges")
    return [(int(arr[i]["start"]), int(arr[i]["end"])) for i in range(n)]


def pfn_layout():
    db = kernel_value("MmPfnDatabase")
    t = db.type.strip_typedefs().target().strip_typedefs()
    offsets = {f.name: f.bitpos // 8 for f in t.fields()}
    return to_int(db), t.sizeof, offsets


def enum_name(names, value):
    return names[value] if 0 <= value < len(names) else "?"


class PfnCommand(Command):
    """Print one PFN database entry (MmPfnDatabase[N], struct MMPFN in mm/mi.h).

Usage: pfn N       N: a page frame number (an expression: 0x108, $pa >> 12)

The first line is a summary: state (its list, MMLISTS, as MiListName says
it), reference and share counts, usage (MI_PFN_USAGE). Then every field:
Flink/Blink (the neighbours on its list), PteAddress (the PTE that maps or
last mapped it, at its self-map address, with the VA that PTE maps and
the value it holds now), OriginalPte (what that PTE becomes when the
frame is taken away, decoded), and the flags. Only frames of RAM
(MiRamRanges) have an entry; other numbers are refused."""

    def __init__(self):
        super().__init__("pfn", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        if not arg.strip():
            raise gdb.GdbError("usage: pfn N")
        pfn = eval_int(arg)
        ranges = ram_ranges()
        if not any(s <= pfn < e for s, e in ranges):
            raise gdb.GdbError(f"PFN {pfn:#x} is not RAM, so it has no PFN entry; RAM is " +
                               ", ".join(f"{s:#x}-{e - 1:#x}" for s, e in ranges))
        e = kernel_value("MmPfnDatabase")[pfn]
        loc, usage = int(e["PageLocation"]), int(e["Usage"])
        refs, shares = int(e["ReferenceCount"]), int(e["ShareCount"])
        print(f"PFN {pfn:#x}: state={enum_name(LIST_SHORT, loc)} refs={refs} shares={shares} "
              f"usage={enum_name(USAGE_NAMES, usage)}")
        print(f"  frame          physical {pfn << PAGE_SHIFT:#x}-{(pfn << PAGE_SHIFT) + PAGE_SIZE - 1:#x}, "
              f"entry at {to_int(e.address):#x}")
        print(f"  PageLocation   {loc} {enum_name(LIST_ENUM, loc)}")
        print(f"  Usage          {usage} {enum_name(USAGE_NAMES, usage)}")
        print(f"  ReferenceCount {refs}   (1 while mapped or owned, +1 per MDL lock or I/O)")
        print(f"  ShareCount     {shares}   (valid PTEs mapping it; for a page table, entries in use)")
        flink, blink = int(e["Flink"]), int(e["Blink"])

        def link(x):
            return "end" if x == PFN_LIST_END else f"{x:#x}"
        note = "" if loc <= 5 else "   (not on a list: stale)"
        print(f"  Flink/Blink    {link(flink)} / {link(blink)}{note}")
        pte = to_int(e["PteAddress"])
        if pte:
            line = f"  PteAddress     {pte:#x}"
            if PTE_BASE <= pte < PTE_BASE + (1 << 39):
                line += f" -> maps VA {va_mapped_by_pte(pte):#x}"
            try:
                now = read_u64_virtual(pte)
                points = (now & 1 or now >> 11 & 1) and (now & PFN_MASK) >> PAGE_SHIFT == pfn
                line += f"; holds {now:#x} ({'points at this frame' if points else 'not this frame'})"
            except gdb.MemoryError:
                line += "; not readable now (its page table is not mapped)"
            print(line)
        else:
            print("  PteAddress     none")
        orig = int(e["OriginalPte"]["u"]["Long"]) & (2 ** 64 - 1)
        if orig == 0:
            what = "zero: the PTE becomes empty when the frame is taken away"
        else:
            what = decode_not_present(orig) if not orig & 1 else "a valid PTE"
        print(f"  OriginalPte    {orig:#x}: {what}")
        print(f"  Modified {int(e['Modified'])}  PteDeleted {int(e['PteDeleted'])}  "
              f"CacheAttribute {int(e['CacheAttribute'])}")


# ---------------------------------------------------------------- pfnstats

class PfnStatsCommand(Command):
    """Summarize the PFN database: the page lists and what RAM is used for.

Usage: pfnstats

Prints MmNumberOfPhysicalPages and MmAvailablePages, each list head's
Total next to the number of frames whose PageLocation says they are on
that list (found by scanning every entry over MiRamRanges; a disagreement
is marked MISMATCH), then, per usage (MI_PFN_USAGE), how many frames are
in use (Active or Transition) and how many sit on the standby and
modified lists. The scan reads the database in large blocks."""

    def __init__(self):
        super().__init__("pfnstats", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        base, size, off = pfn_layout()
        ranges = ram_ranges()
        counts = {}   # (location, usage) -> frames
        chunk = 8192
        for start, end in ranges:
            for first in range(start, end, chunk):
                n = min(chunk, end - first)
                data = read_virtual(base + first * size, n * size)
                locs = data[off["PageLocation"]::size]
                uses = data[off["Usage"]::size]
                for key in zip(locs, uses):
                    counts[key] = counts.get(key, 0) + 1
        scanned = sum(e - s for s, e in ranges)
        total = int(kernel_value("MmNumberOfPhysicalPages"))
        avail = int(kernel_value("MmAvailablePages"))
        print(f"Physical memory: {total} pages of RAM ({total >> 8} MiB) = MmNumberOfPhysicalPages; "
              f"scanned {scanned} frames in {len(ranges)} RAM ranges" +
              ("" if scanned == total else "  MISMATCH"))
        for s, e in ranges:
            print(f"  RAM PFN {s:#x}-{e - 1:#x} ({e - s} pages)")
        per_loc = [0] * 256
        for (loc, _), c in counts.items():
            per_loc[loc] += c
        print(f"Available: {avail} pages (MmAvailablePages = zeroed + free + standby)")
        print(f"  {'list':<16} {'head Total':>10} {'scan':>8}")
        heads = {0: "MmZeroedPageListHead", 1: "MmFreePageListHead", 2: "MmStandbyPageListHead",
                 3: "MmModifiedPageListHead", 5: "MmBadPageListHead"}
        for loc in range(8):
            head = heads.get(loc)
            if head:
                t = int(kernel_value(head)["Total"])
                mark = "" if t == per_loc[loc] else "  MISMATCH"
                print(f"  {LIST_SHORT[loc]:<16} {t:>10} {per_loc[loc]:>8}{mark}")
            else:
                print(f"  {LIST_SHORT[loc]:<16} {'-':>10} {per_loc[loc]:>8}")
        bad = sum(c for loc, c in enumerate(per_loc) if loc > 7)
        if bad:
            print(f"  {'invalid location':<16} {'-':>10} {bad:>8}  MISMATCH")
        print("Frames by usage:")
        print(f"  {'usage':<14} {'in use':>8} {'standby':>8} {'modified':>8}")
        usages = sorted({u for (_, u) in counts})
        for u in usages:
            inuse = sum(c for (l, uu), c in counts.items() if uu == u and l in (6, 7))
            sb = counts.get((2, u), 0)
            md = counts.get((3, u), 0) + counts.get((4, u), 0)
            if inuse or sb or md:
                print(f"  {enum_name(USAGE_NAMES, u):<14} {inuse:>8} {sb:>8} {md:>8}")
        print(f"  {'(all)':<14} {per_loc[6] + per_loc[7]:>8} {per_loc[2]:>8} {per_loc[3] + per_loc[4]:>8}")


# ---------------------------------------------------------------- pool

def tag_text(tag):
    return "".join(chr(b) if 32 <= b < 127 else "." for b in struct.pack("<I", tag & 0xFFFFFFFF))


def tag_matches(tag, pattern):
    text = tag_text(tag)
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(text, pattern) or fnmatch.fnmatchcase(text.rstrip(), pattern)
    return text == pattern.ljust(4)[:4] if len(pattern) <= 4 else False


class PoolCommand(Command):
    """Pool statistics and the pool tag table (mm/pool.h).

Usage: pool [TAG]
  TAG  a four-character tag ("Mdl" means "Mdl "), or a pattern (Gdb*)

First, for each pool (MiNonPagedPool, MiPagedPool): its start, size in
pages, allocations and frees so far, allocations outstanding, bytes and
pages in use, failures. Then MiPoolTags: per tag, allocations, frees and
bytes in use in nonpaged and paged pool. With TAG, only that tag, plus its
whole-page ("big page") allocations from MiBigPages."""

    def __init__(self):
        super().__init__("pool", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        pattern = argv[0] if argv else None
        lines = [f"{'pool':<9} {'start':<18} {'pages':>6} {'allocs':>8} {'frees':>8} {'outstanding':>11} "
                 f"{'bytes in use':>12} {'pages in use':>12} {'failures':>8}"]
        for name in ("MiNonPagedPool", "MiPagedPool"):
            p = kernel_value(name)
            allocs, frees = int(p["Allocs"]), int(p["Frees"])
            try:
                label = p["Name"].string() if int(p["Name"]) else name
            except gdb.error:
                label = name
            lines.append(f"{label:<9} {to_int(p['Start']):#018x} {int(p['Pages']):>6} {allocs:>8} {frees:>8} "
                  f"{allocs - frees:>11} {int(p['BytesInUse']):>12} {int(p['PagesInUse']):>12} "
                         f"{int(p['Failures']):>8}")
        print("\n".join(lines))
        tags = kernel_value("MiPoolTags")
        n = tags.type.strip_typedefs().range()[1] + 1
        rows = []
        for i in range(n):
            t = tags[i]
            tag = int(t["Tag"])
            if not tag or (pattern and not tag_matches(tag, pattern)):
                continue
            rows.append((tag_text(tag), [int(t[f][k]) for k in (0, 1) for f in ("Allocs", "Frees", "Bytes")]))
        rows.sort()
        print()
        print(f"{'tag':<6} {'NP allocs':>9} {'NP frees':>9} {'NP bytes':>10} {'P allocs':>9} {'P frees':>9} "
              f"{'P bytes':>10}")
        for text, v in rows:
            print(f"{text!r:<6} {v[0]:>9} {v[1]:>9} {v[2]:>10} {v[3]:>9} {v[4]:>9} {v[5]:>10}")
        if not rows:
            print(f"(no tag{' matching ' + repr(pattern) if pattern else ''})")
        if pattern:
            big = kernel_value("MiBigPages")
            nb = big.type.strip_typedefs().range()[1] + 1
            shown = False
            for i in range(nb):
                b = big[i]
                if not int(b["Va"]) or not tag_matches(int(b["Tag"]), pattern):
                    continue
                if not shown:
                    print("big pages (whole-page allocations):")
                    shown = True
                kind = "paged" if int(b["PoolType"]) & 2 else "nonpaged"
                print(f"  {to_int(b['Va']):#018x} {int(b['Pages']):>4} pages {int(b['Bytes']):>8} bytes "
                      f"{tag_text(int(b['Tag']))!r} {kind}")


# ---------------------------------------------------------------- memmap

class MemmapCommand(Command):
    """Print the kernel's address map (MiAddressMap, mm/mminit.c).

Usage: memmap [VA]

Each region with its first and last address and PML4 slot(s). With VA
(an expression), marks the region holding it."""

    def __init__(self):
        super().__init__("memmap", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        va = eval_int(arg) if arg.strip() else None
        regions = kernel_value("MiAddressMap")
        count = int(kernel_value("MiAddressMapCount"))
        found = False
        for i in range(count):
            r = regions[i]
            start, end = to_int(r["start"]), to_int(r["end"])
            name = r["name"].string()
            s1, s2 = start >> 39 & 511, end >> 39 & 511
            slots = f"{s1:#05x}" if s1 == s2 else f"{s1:#05x}-{s2:#05x}"
            mark = ""
            if va is not None and start <= va <= end:
                mark, found = "   <== " + f"{va:#x}", True
            print(f"  {start:#018x} - {end:#018x}  PML4 {slots:<11}  {name}{mark}")
        if va is not None and not found:
            print(f"  {va:#x} is in none of these regions" +
                  ("" if is_canonical(va) else " (it is not even canonical)"))


class MdlosCommand(Command):
    """mdlos memory-manager commands (scripts/gdb/mdlos.py).

  pt VA [CR3]   walk the page tables for VA in physical memory, level by level
  pfn N         one PFN database entry (MmPfnDatabase[N]), decoded
  pfnstats      the page lists, and what every frame of RAM is used for
  pool [TAG]    pool statistics and the pool tag table
  memmap [VA]   the kernel's address map (and which region holds VA)

`help COMMAND` for each. They need the kernel's symbols (file build/kernel.elf)."""

    def __init__(self):
        super().__init__("mdlos", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        print(self.__doc__)


MdlosCommand()
PtCommand()
PfnCommand()
PfnStatsCommand()
PoolCommand()
MemmapCommand()
