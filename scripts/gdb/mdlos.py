"""mdlos memory-manager, process and MDL commands for GDB (loaded by scripts/gdb/gdbinit).

  pt VA [CR3|PROC]  walk the page tables for VA in physical memory, level by level
  pfn N             one PFN database entry, decoded
  pfnstats          the page lists, and what every frame of RAM is used for
  pool [TAG]        pool statistics and the pool tag table
  memmap [VA]       the kernel's address map (and which region holds VA)
  ps                every process and every thread
  vad [PROC]        a process's VADs (default: the process whose CR3 is current)
  ws [PROC]         a process's working set, each page with its PTE and PFN entry
  mdl ADDR          an MDL: fields, flags, frames with their PFN entries, the verifier's record
  locked [PROC]     frames locked by MDLs, and (with verifier=1) the MDLs holding them

`help COMMAND` says more. They read the kernel's own structures by name
(mm/mi.h, mm/pool.h, kernel/ps.h, kernel/ki.h, io/io.h, mm/mdl.h), so the kernel's symbols
must be loaded (`file build/kernel.elf`). `pt`, `vad` and `ws` read page
tables at their physical addresses through QEMU's gdbstub (`maintenance
packet Qqemu.PhyMemMode:1`), the way the CPU does, so they can read any
process's tables, not only the current one's; `pt` also prints where each
entry appears in the self-map, which is how the kernel itself reads them.
PROC is an image name, a pid or an EPROCESS address.
Python 3 standard library only.
"""
import fnmatch
import re
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

# ---- kernel/ps.h, kernel/ki.h, kernel/ntsyscall.h ----
USER_LIMIT = 1 << 47                     # user addresses are below 0x0000800000000000
VAD_TYPES = ["Private", "Image", "Stack", "LockedView"]       # MI_VAD_TYPE
THREAD_STATES = ["Initialized", "Ready", "Running", "Waiting", "Terminated"]   # KTHREAD_STATE
PAGE_PROTECTIONS = {0x01: "PAGE_NOACCESS", 0x02: "PAGE_READONLY", 0x04: "PAGE_READWRITE", 0x08: "PAGE_WRITECOPY",
                    0x10: "PAGE_EXECUTE", 0x20: "PAGE_EXECUTE_READ", 0x40: "PAGE_EXECUTE_READWRITE",
                    0x80: "PAGE_EXECUTE_WRITECOPY"}
FAULT_COUNTERS = ["DemandZeroFaults", "SoftFaults", "CopyOnWriteFaults", "ImageFaults", "HardFaults"]

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


def prototype_address(entry):
    """ProtoAddress of a prototype-format PTE (MMPTE_PROTOTYPE, mm/mi.h): bits
    63..16 hold address bits 47..0; an arithmetic shift right by 16 restores it."""
    return sign_extend(entry >> 16)


def images():
    """The image cache (mm/image.c's static list of MI_IMAGE)."""
    head = gdb.lookup_static_symbol("images")
    if head is None:
        return []
    return list(list_entries(to_int(head.value().address), "MI_IMAGE", "Links"))


def describe_prototype_pte(address):
    """What the prototype PTE at ADDRESS is: whose page, and its state,
    as one line (empty if ADDRESS is in no image's prototype array)."""
    for im in images():
        base, pages = to_int(im["PrototypePte"]), int(im["Pages"])
        if base <= address < base + pages * 8 and not (address - base) % 8:
            index = (address - base) // 8
            va = (int(im["BaseVpn"]) + index) << PAGE_SHIFT
            v = read_u64_virtual(address)
            return (f"prototype PTE {index} of image {c_string(im['Name'])} (VA {va:#x}) = {v:#x}: "
                    f"{describe_prototype_value(v, im)}")
    return ""


def describe_prototype_value(v, im=None):
    """The state of a prototype PTE's value V (mm/image.c's three states)."""
    if v & 1:
        return f"valid: in frame PFN {(v & PFN_MASK) >> PAGE_SHIFT:#x}, mapped by processes (`pfn` shows the share count)"
    if v >> 11 & 1:
        return (f"transition: in frame PFN {(v & PFN_MASK) >> PAGE_SHIFT:#x} on the standby list, mapped by nobody; "
                f"a touch is a soft fault")
    if v >> 10 & 1:
        target = prototype_address(v)
        name = ""
        try:
            for cand in ([im] if im is not None else images()):
                if to_int(cand.address) == target:
                    name = f" {c_string(cand['Name'])}"
        except (gdb.error, gdb.MemoryError):
            pass
        return (f"in the file only (prototype format naming MI_IMAGE {target:#x}{name}): a touch copies the page "
                f"from the module")
    return "zero: not an image's prototype PTE state"


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
        return ("zero: nothing was ever put here; for a kernel address an access is a bad fault, for a user "
                "address the VAD decides")
    prot = (entry >> 5) & 0x1F
    if entry >> 11 & 1:
        pfn = (entry & PFN_MASK) >> PAGE_SHIFT
        return (f"transition: the data is still in frame PFN {pfn:#x} (on the standby or modified list); "
                f"protection {prot:#x} {protection_name(prot)}; a touch makes it valid again without I/O "
                f"(`pfn {pfn:#x}`)")
    if entry >> 10 & 1:
        return (f"prototype format (bit 10): bits 63..16 hold address {prototype_address(entry):#x}, in a "
                f"process page table the image page's prototype PTE (a touch resolves through it), in a "
                f"prototype array the MI_IMAGE whose file holds the page; protection {prot:#x} "
                f"{protection_name(prot)}")
    if entry >> 12 & 1 and not entry & ~((0x1F << 5) | (1 << 12)):
        guard = " (a guard page: the first touch clears the guard; on a stack the guard moves one page down)" \
            if prot & 0x18 == 0x10 else ""
        return (f"demand zero, committed (MI_PTE_COMMITTED, bit 12): no frame yet, protection {prot:#x} "
                f"{protection_name(prot)}; the first touch gets a zeroed frame{guard}")
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

Usage: pt VA [CR3 | PROCESS]
  VA       an expression: 0xfffff8a000000000, &MmAvailablePages, kmain, $rsp
  CR3      the address space to walk (default: the current $cr3), a number
  PROCESS  or a process, whose DirectoryTableBase is the CR3 walked: its
           image name (init), its pid (4) or its EPROCESS address; see `ps`
           (a name is tried first, then a number as a pid, an EPROCESS
           address, and only then as a CR3)

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
A prototype-format user PTE (a trimmed shared image page) also gets the
prototype PTE it points at: which image and page, and its state (valid in
frame F, transition = F on standby, or only in the file).
For a user address (below 0x800000000000) of a process, the VAD holding
it is printed too (`vad`), and for a not-present entry what a touch would
do: an image page fault, a stack overflow, or an access violation.
The self-map addresses are the current address space's; they are only
meaningful for CR3 = $cr3. Examples: `pt 0x400000 init`, `pt $rsp`,
`pt 0x7fffffeff000 8`, `pt kmain 0x189000`."""

    def __init__(self):
        super().__init__("pt", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        if not argv or len(argv) > 2:
            raise gdb.GdbError("usage: pt VA [CR3 | PROCESS]   (quote a VA expression that contains spaces)")
        va = eval_int(argv[0])
        owner = None
        if len(argv) > 1:
            owner, cr3 = resolve_address_space(argv[1])
        else:
            cr3 = current_cr3()
            mode = paging_mode()
            if mode:
                print(f"pt {va:#018x}: {mode}; nothing to walk (give a CR3 to walk a table anyway)")
                return
        if owner is None:
            owner = process_of_cr3_quiet(cr3)
        whose = f" ({owner.describe()})" if owner else ""
        print(f"pt {va:#018x}   CR3 {cr3:#x}{whose}: PML4 at physical {cr3 & PFN_MASK:#x}")
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
        vad_line = None
        if va < USER_LIMIT and owner is not None and not owner.system:
            vad_line = describe_user_va(owner, va, rows[-1])
        for r in rows:
            lead = f"  {r['name']:<5} [{r['index']:3d} = {r['index']:#05x}]"
            print(f"{lead}  phys {r['phys']:#014x}  self-map {r['selfmap']:#018x}  = {r['entry']:#018x}")
            pad = " " * 6
            if "stop" in r:
                print(f"{pad}not present: {r['stop']}")
                if r["level"] == 3 and r["entry"] & 0xC01 == 0x400:
                    try:
                        what = describe_prototype_pte(prototype_address(r["entry"]))
                    except (gdb.error, gdb.MemoryError) as ex:
                        what = f"(cannot read it: {ex})"
                    print(f"{pad}-> {what or 'BAD: that address is in no image prototype array'}")
                if vad_line:
                    print(f"{pad}{vad_line}")
                print(f"  => {va:#x} is not mapped: the {r['name']} is not present")
                return
            print(f"{pad}{r['flags']}   PFN {r['pfn']:#x}")
            if r.get("selfref"):
                print(f"{pad}(points back at the table it is in: the self-map slot {SELFMAP_INDEX:#x}; "
                      f"this VA is itself a page-table address)")
            if "final" in r:
                if vad_line:
                    print(f"{pad}{vad_line}")
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
frame is taken away, decoded), and the flags. A shared image frame
(PrototypePte 1) names its prototype PTE instead of any process's PTE:
the line after PteAddress says which image and page, and the prototype's
state (valid, transition = on standby, or in the file). Only frames of RAM
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
            frame = int(e["PteFrame"])
            user = PTE_BASE <= pte < PTE_BASE + (USER_LIMIT >> 9)
            proto = int(e["PrototypePte"])
            try:
                if proto:
                    # A shared image frame: PteAddress is the image's
                    # prototype PTE (nonpaged pool), never a process PTE.
                    print(line + " (its prototype PTE: PrototypePte = 1)")
                    print("                 " + (describe_prototype_pte(pte) or
                                                 f"BAD: {pte:#x} is in no image's prototype array"))
                    line = None
                elif user and frame:
                    # A user PTE's self-map address means something only in
                    # its own process: read it in its page table (PteFrame).
                    with PhysicalMemory() as phys:
                        if not phys.active:
                            raise gdb.MemoryError("no physical memory access")
                        now = struct.unpack("<Q", read_virtual((frame << PAGE_SHIFT) | (pte & 0xFFF), 8))[0]
                    where = f", read in its page table PFN {frame:#x}"
                else:
                    now = read_u64_virtual(pte)
                    where = ""
                if line is not None:
                    points = (now & 1 or now >> 11 & 1) and (now & PFN_MASK) >> PAGE_SHIFT == pfn
                    line += f"; holds {now:#x} ({'points at this frame' if points else 'not this frame'}{where})"
            except gdb.MemoryError:
                if line is None:
                    line = "                 (the prototype PTE cannot be read now)"
                else:
                    line += "; not readable now (its page table is not mapped)"
            if line is not None:
                print(line)
        else:
            print("  PteAddress     none")
        orig = int(e["OriginalPte"]["u"]["Long"]) & (2 ** 64 - 1)
        if orig == 0:
            what = "zero: the PTE becomes empty when the frame is taken away"
        elif int(e["PrototypePte"]) and not orig & 1:
            what = "what the prototype becomes when the frame is repurposed: " + describe_prototype_value(orig)
        else:
            what = decode_not_present(orig) if not orig & 1 else "a valid PTE"
        print(f"  OriginalPte    {orig:#x}: {what}")
        print(f"  Modified {int(e['Modified'])}  PteDeleted {int(e['PteDeleted'])}  "
              f"CacheAttribute {int(e['CacheAttribute'])}  PrototypePte {int(e['PrototypePte'])}"
              + ("   (a shared image frame: process PTEs map it, its prototype PTE owns it)"
                 if int(e['PrototypePte']) else ""))


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
        # Commit (mm/commit.c): the limit is the same formula MiCommitLimit uses.
        try:
            charge = int(kernel_value("MmTotalCommittedPages"))
            peak = int(kernel_value("MmPeakCommitment"))
            tables = int(kernel_value("MiUserPageTables"))
            cnt = kernel_value("MiUsageCount")
            backed = int(cnt[10]) + int(cnt[11]) + tables   # MiUsageUser, MiUsageImage, user page tables
            reserve = 512                                     # MI_COMMIT_RESERVE_PAGES
            limit = max(0, charge + avail - reserve - max(0, charge - backed))
            print(f"Commit: {charge} pages charged (MmTotalCommittedPages), limit {limit}, peak {peak}; "
                  f"{tables} user page tables")
        except gdb.error:
            pass


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
                if int(b["Va"]) <= 1 or not tag_matches(int(b["Tag"]), pattern):
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


# ---------------------------------------------------------------- processes

def lookup_type(name):
    try:
        return gdb.lookup_type(name)
    except gdb.error as e:
        raise gdb.GdbError(f"no type {name} in the symbols ({e}); are the kernel's symbols loaded "
                           f"(file build/kernel.elf), and is it a kernel with processes?")


def field_offset(type_name, field):
    t = lookup_type(type_name).strip_typedefs()
    for f in t.fields():
        if f.name == field:
            return f.bitpos // 8
    raise gdb.GdbError(f"{type_name} has no field {field}: does this script match the kernel?")


def c_string(value):
    """A char array field as a Python string (up to its first NUL)."""
    data = read_virtual(to_int(value.address), value.type.strip_typedefs().sizeof)
    return data.split(b"\0", 1)[0].decode("ascii", "replace")


def list_entries(head_address, type_name, field, limit=100000):
    """The structures of type TYPE_NAME linked through their LIST_ENTRY
    FIELD on the list whose head is at HEAD_ADDRESS (CONTAINING_RECORD),
    in Flink order. A list that does not come back to its head (NULL,
    unreadable or looping links) is an error that says where it broke."""
    off = field_offset(type_name, field)
    ptr = lookup_type(type_name).pointer()
    seen = set()
    link = read_u64_virtual(head_address)
    if link == 0:
        raise gdb.GdbError(f"the list head at {head_address:#x} ({type_name}.{field}) is not initialized yet "
                           f"(its Flink is NULL): stop later in the boot, after PsInitialize")
    while link != head_address:
        if link == 0 or link in seen or len(seen) >= limit:
            why = "a NULL Flink" if link == 0 else "a loop" if link in seen else f"more than {limit} entries"
            raise gdb.GdbError(f"the list at {head_address:#x} ({type_name}.{field}) is corrupt: {why} "
                               f"after {len(seen)} entries")
        seen.add(link)
        yield gdb.Value(link - off).cast(ptr).dereference()
        try:
            link = read_u64_virtual(link)
        except gdb.MemoryError:
            raise gdb.GdbError(f"the list at {head_address:#x} ({type_name}.{field}) is corrupt: entry "
                               f"{link:#x} cannot be read")


class Process:
    """What the commands need from one EPROCESS (kernel/ps.h), read once."""

    def __init__(self, value, listed=True):
        self.value = value
        self.address = to_int(value.address)
        self.pid = int(value["UniqueProcessId"])
        self.ppid = int(value["ParentId"])
        self.name = c_string(value["ImageName"])
        self.cr3 = int(value["DirectoryTableBase"])
        self.system = self.address == to_int(kernel_value("PsInitialSystemProcess").address)
        self.listed = listed

    def describe(self):
        return f"process {self.name} pid {self.pid}, EPROCESS {self.address:#x}"


def processes():
    """The system process (PsInitialSystemProcess, not on the list), then
    every process on PsActiveProcessHead."""
    out = [Process(kernel_value("PsInitialSystemProcess"))]
    head = to_int(kernel_value("PsActiveProcessHead").address)
    out += [Process(v) for v in list_entries(head, "EPROCESS", "ProcessListEntry")]
    return out


def process_of_cr3(cr3, procs=None):
    for p in procs if procs is not None else processes():
        if p.cr3 and (p.cr3 & PFN_MASK) == (cr3 & PFN_MASK):
            return p
    return None


def find_process(text, allow_cr3=False):
    """A process named by TEXT: its image name, its pid, or its EPROCESS
    address (an expression). With ALLOW_CR3, a number that is none of
    those is a CR3 value: returns (process or None, cr3)."""
    procs = processes()
    text = text.strip()
    named = [p for p in procs if p.name == text] or [p for p in procs if p.name.lower() == text.lower()]
    if len(named) == 1:
        return named[0], named[0].cr3
    if len(named) > 1:
        raise gdb.GdbError(f"{len(named)} processes are named {text!r} (pids " +
                           ", ".join(str(p.pid) for p in named) + "): give a pid")
    try:
        n = eval_int(text)
    except gdb.error as e:
        raise gdb.GdbError(f"no process named {text!r} ({e}); processes: " +
                           ", ".join(f"{p.name} ({p.pid})" for p in procs))
    for p in procs:
        if p.pid == n:
            return p, p.cr3
    for p in procs:
        if p.address == n:
            return p, p.cr3
    if allow_cr3:
        p = process_of_cr3(n, procs)
        if p and (p.cr3 & PFN_MASK) == (n & PFN_MASK):
            return p, n
    if n >= 0xFFFF800000000000:
        # An EPROCESS that left the list (an ended process someone still
        # holds a handle to): read it, but say so.
        try:
            v = gdb.Value(n).cast(lookup_type("EPROCESS").pointer()).dereference()
            kind = int(v["Header"]["Type"])
        except gdb.MemoryError as e:
            raise gdb.GdbError(f"{n:#x} is no process on the list and cannot be read as an EPROCESS ({e})")
        want = process_object_type()
        if kind != want:
            raise gdb.GdbError(f"{n:#x} is no process on the list, and not an EPROCESS either (its Header.Type "
                               f"is {kind}, not KeProcessObject = {want})")
        p = Process(v, listed=False)
        print(f"note: {n:#x} is not on PsActiveProcessHead (an ended process?); reading it as an EPROCESS "
              f"anyway: {p.name!r}, pid {p.pid}")
        return p, p.cr3
    if allow_cr3:
        if n & ~PFN_MASK & ~0xFFF or n >= 1 << 52:
            raise gdb.GdbError(f"{n:#x} is neither a process (pid, name, EPROCESS) nor a CR3 value")
        return None, n
    raise gdb.GdbError(f"no process {text!r}: not an image name, pid or EPROCESS address; processes: " +
                       ", ".join(f"{p.name} ({p.pid})" for p in procs))


def process_object_type():
    try:
        return eval_int("KeProcessObject")
    except gdb.error:
        return 6   # KOBJECTS in kernel/ke.h


def resolve_address_space(text):
    """(process or None, CR3) for `pt`'s second argument. Before the
    process list exists (early boot) a number is simply a CR3."""
    try:
        procs_ok = bool(processes())
    except (gdb.GdbError, gdb.error):
        procs_ok = False
    if not procs_ok:
        try:
            return None, eval_int(text)
        except gdb.error as e:
            raise gdb.GdbError(f"{text!r} is not a number ({e}), and there is no process list yet "
                               f"(before PsInitialize): give a CR3 value")
    return find_process(text, allow_cr3=True)


def process_of_cr3_quiet(cr3):
    """The process owning CR3, or None (also when there is no process list yet)."""
    try:
        return process_of_cr3(cr3)
    except (gdb.GdbError, gdb.error):
        return None


def chosen_process(arg, command):
    """The process ARG names, or the one whose CR3 is current."""
    if arg.strip():
        return find_process(arg)[0]
    cr3 = current_cr3()
    procs = processes()
    p = process_of_cr3(cr3, procs)
    if p is None:
        raise gdb.GdbError(f"{command}: no process has the current CR3 {cr3:#x}; name one: " +
                           ", ".join(f"{q.name} ({q.pid})" for q in procs))
    return p


def thread_state(state):
    return enum_name(THREAD_STATES, state) if 0 <= state < len(THREAD_STATES) else f"?{state}"


def current_thread_address():
    """The PRCB's CurrentThread (prcb0 is static in kernel/sched.c, but in
    the symbols), or None."""
    try:
        return to_int(gdb.parse_and_eval("prcb0")["CurrentThread"])
    except gdb.error:
        return None


def protection_text(prot):
    base = PAGE_PROTECTIONS.get(prot & 0xFF, f"{prot & 0xFF:#x}?")
    extra = [n for bit, n in ((0x100, "PAGE_GUARD"), (0x200, "PAGE_NOCACHE")) if prot & bit]
    return "|".join([base] + extra)


class PageTables:
    """Whole page-table pages read in physical memory, each once (use
    inside `with PhysicalMemory()`, whose mode must be active)."""

    def __init__(self):
        self.cache = {}

    def table(self, phys):
        phys &= PFN_MASK
        t = self.cache.get(phys)
        if t is None:
            t = self.cache[phys] = struct.unpack("<512Q", read_virtual(phys, PAGE_SIZE))
        return t

    def entry(self, phys, level=None):
        return self.table(phys)[(phys & 0xFFF) >> 3]

    def pte(self, cr3, va):
        """The PTE of VA (4 KiB pages), or None with the level whose entry
        was not present."""
        table = cr3
        for level in range(3):
            e = self.table(table)[(va >> (39 - 9 * level)) & 511]
            if not e & 1:
                return None, LEVELS[level][0]
            if level and e & 0x80:
                return None, f"{LEVELS[level][0]} (a large page)"
            table = e & PFN_MASK
        return self.table(table)[(va >> 12) & 511], "PTE"

    def scan(self, cr3, start, end):
        """(va, pte) for every nonzero PTE of [start, end] in the user half,
        following only present upper-level entries."""
        out = []
        end = min(end, USER_LIMIT - 1)

        def visit(table, level, base):
            shift = 39 - 9 * level
            first = (max(start, base) - base) >> shift
            last = (min(end, base + (512 << shift) - 1) - base) >> shift
            entries = self.table(table)
            for i in range(first, last + 1):
                e, va = entries[i], base + (i << shift)
                if level == 3:
                    if e:
                        out.append((va, e))
                elif e & 1 and not (level and e & 0x80):
                    visit(e & PFN_MASK, level + 1, va)
        if start <= end:
            visit(cr3, 0, 0)
        return out


def with_page_tables(fn):
    """Run FN(PageTables) with GDB reading physical memory; a gdbstub
    without that is an error (these commands read other processes' tables)."""
    with PhysicalMemory() as phys:
        if not phys.active:
            raise gdb.GdbError("this gdbstub cannot read physical memory (QEMU's Qqemu.PhyMemMode); "
                               "another process's page tables cannot be read")
        try:
            return fn(PageTables())
        except gdb.MemoryError as e:
            raise gdb.GdbError(f"cannot read a page table in physical memory: {e}")


def pte_kind(e):
    if e & 1:
        return "valid"
    if e >> 11 & 1:
        return "transition"
    if e >> 10 & 1:
        return "prototype"
    if e >> 12 & 1 and not e >> 32:
        return "committed"
    return "other"


def vads(proc):
    head = to_int(proc.value["VadListHead"].address)
    return list(list_entries(head, "MMVAD", "Links"))


def vad_backing(v):
    """Image name and segment of an image VAD (with its ELF layout)."""
    t = int(v["Type"])
    if t == 1 and to_int(v["Image"]):
        im = v["Image"].dereference()
        seg = int(v["Segment"])
        name = c_string(im["Name"])
        if seg < int(im["SegmentCount"]):
            sg = im["Segment"][seg]
            return (f"image {name} segment {seg}: vaddr {int(sg['Vaddr']):#x} memsz {int(sg['Memsz']):#x} "
                    f"filesz {int(sg['Filesz']):#x} at file offset {int(sg['Offset']):#x}")
        return f"image {name} segment {seg} (out of range: the image has {int(im['SegmentCount'])})"
    if t == 3:
        return f"locked view, MDL {to_int(v['Owner']):#x}"
    if t == 2:
        return "user stack (grows down one guard page at a time)"
    return "private (pagefile-backed in NT; here memory only)"


def describe_user_va(proc, va, last):
    """One line for `pt`: the VAD of PROC holding user address VA, and what
    a touch of it does when the walk ended at LAST (a not-present entry)."""
    try:
        vs = vads(proc)
    except gdb.GdbError as e:
        return f"(the VADs cannot be read: {e})"
    page = va >> PAGE_SHIFT
    for v in vs:
        start, end = int(v["StartVpn"]), int(v["EndVpn"])
        if start <= page <= end:
            t = int(v["Type"])
            what = (f"VAD {start << PAGE_SHIFT:#x}-{((end + 1) << PAGE_SHIFT) - 1:#x} {enum_name(VAD_TYPES, t)} "
                    f"{protection_text(int(v['Protection']))}")
            if "stop" not in last or last["entry"] != 0 and last["level"] == 3:
                return what
            if t == 1:
                return what + f" ({vad_backing(v).split(':')[0]}): a touch maps the image page (MiImageFault)"
            if t == 2 and page == start:
                return what + ": the stack's last page, never committed: a touch is STATUS_STACK_OVERFLOW"
            return what + ": reserved, not committed: a touch is an access violation"
    return "no VAD holds this address: a touch from user mode is an access violation"


class PsCommand(Command):
    """List the processes and the threads (kernel/ps.h, kernel/ki.h).

Usage: ps

Processes: the system process (PsInitialSystemProcess, pid 0, which owns
the kernel threads and is not on the list) and every EPROCESS on
PsActiveProcessHead, one line each: pid, parent pid, image name, EPROCESS
address, CR3 (DirectoryTableBase), working-set size and peak in pages
(Vm.Count, Vm.Peak), committed private pages and pages locked by MDLs,
the fault counters (Vm.Counters: demand-zero / soft / copy-on-write /
image / hard) and the state: running, exiting (PsExitCurrentProcess has
begun), or ended with its exit status. `*` marks the process whose
address space is in CR3 now.

Threads: every KTHREAD on KiThreadListHead: id, name, state
(KTHREAD_STATE), priority, context switches, the process it belongs to
(and the one it is attached to, if another: KeStackAttachProcess), and
for a waiting thread the object it waits on. `*` marks the PRCB's
CurrentThread."""

    def __init__(self):
        super().__init__("ps", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        if arg.strip():
            raise gdb.GdbError("usage: ps   (no arguments; `vad PROC` and `ws PROC` show one process)")
        procs = processes()
        try:
            cr3 = current_cr3() & PFN_MASK
        except gdb.GdbError:
            cr3 = None
        by_address = {p.address: p for p in procs}
        print(f"Processes: {len(procs) - 1} on PsActiveProcessHead, plus the system process")
        print(f"  {'pid':>5} {'ppid':>5} {'image':<12} {'EPROCESS':<18} {'CR3':>10} {'ws':>5} {'peak':>5} "
              f"{'priv':>5} {'lock':>4}  {'faults dz/soft/cow/img/hard':<27} state")
        for p in procs:
            v = p.value
            vm = v["Vm"]
            c = vm["Counters"]
            faults = "/".join(str(int(c[f])) for f in FAULT_COUNTERS)
            if p.system:
                state = "system (kernel threads)"
            elif int(v["Header"]["SignalState"]):
                state = f"ended, status {int(v['ExitStatus']) & 0xFFFFFFFF:#010x}"
            elif int(v["Exiting"]):
                state = f"exiting, status {int(v['ExitStatus']) & 0xFFFFFFFF:#010x}"
            else:
                state = "running"
            mark = "*" if cr3 is not None and p.cr3 and (p.cr3 & PFN_MASK) == cr3 else " "
            print(f"{mark} {p.pid:>5} {p.ppid if not p.system else '-':>5} {p.name:<12} {p.address:#018x} "
                  f"{p.cr3:>#10x} {int(vm['Count']):>5} {int(vm['Peak']):>5} {int(c['PrivatePages']):>5} "
                  f"{int(v['LockedPages']):>4}  {faults:<27} {state}")
        current = current_thread_address()
        head = to_int(kernel_value("KiThreadListHead").address)
        threads = list(list_entries(head, "KTHREAD", "ThreadListEntry"))
        print(f"Threads: {len(threads)} on KiThreadListHead")
        print(f"  {'id':>5} {'name':<16} {'state':<11} {'pri':>3} {'switches':>8} {'KTHREAD':<18} process")
        for t in threads:
            addr = to_int(t.address)
            state = int(t["State"])
            owner = by_address.get(to_int(t["Process"]))
            active = by_address.get(to_int(t["ActiveProcess"]))
            where = f"{owner.name} ({owner.pid})" if owner else f"EPROCESS {to_int(t['Process']):#x}"
            if to_int(t["ActiveProcess"]) != to_int(t["Process"]):
                where += (f", attached to {active.name} ({active.pid})" if active
                          else f", attached to EPROCESS {to_int(t['ActiveProcess']):#x}")
            if state == 3:
                obj = to_int(t["WaitBlock"]["Object"])
                if obj:
                    target = by_address.get(obj)
                    what = f"process {target.name} ({target.pid})" if target else symbolize(obj)
                    where += f"; waits on {what}"
                else:
                    where += "; waits for its timer (a delay)"
            mark = "*" if (addr == current if current is not None else state == 2) else " "
            print(f"{mark} {int(t['Id']):>5} {c_string(t['Name']):<16} {thread_state(state):<11} "
                  f"{int(t['Priority']):>3} {int(t['ContextSwitches']):>8} {addr:#018x} {where}")


def symbolize(addr):
    try:
        text = gdb.execute(f"info symbol {addr:#x}", to_string=True).strip()
    except gdb.error:
        text = ""
    if not text or text.startswith("No symbol"):
        return f"{addr:#x}"
    return f"{addr:#x} <{text.split(' in section')[0]}>"


class VadCommand(Command):
    """The VADs of a process: what its address space has reserved (kernel/ps.h).

Usage: vad [PROCESS]
  PROCESS  an image name (init), a pid (4) or an EPROCESS address;
           default: the process whose DirectoryTableBase is the current CR3

One line per MMVAD on the process's VadListHead, in list order (sorted by
address, as MiInsertVad keeps it): first and last address (StartVpn and
EndVpn are inclusive page numbers), size, type (MI_VAD_TYPE: Private from
NtAllocateVirtualMemory, Image segment, Stack, LockedView), the PAGE_*
protection given at reservation, NoFree, then what is in its PTEs, read
in that process's page tables in physical memory: valid pages, transition
pages (trimmed, the frame still on a list), committed pages without a frame
yet (demand zero), and for images the ELF segment the VAD maps. Overlapping
or unsorted VADs are marked BAD."""

    def __init__(self):
        super().__init__("vad", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        p = chosen_process(arg, "vad")
        if p.system:
            print(f"vad: {p.describe()}: the system process has no user address space and no VADs")
            return
        vs = vads(p)
        print(f"vad: {p.describe()}, CR3 {p.cr3:#x}: {len(vs)} VADs")
        if not vs:
            return
        ranges = [(int(v["StartVpn"]) << PAGE_SHIFT, ((int(v["EndVpn"]) + 1) << PAGE_SHIFT) - 1) for v in vs]
        counts = with_page_tables(lambda pt: [pt.scan(p.cr3, s, e) for s, e in ranges])
        print(f"  {'start':<18} {'end':<18} {'pages':>6}  {'type':<10} {'protection':<24} "
              f"{'valid':>5} {'trans':>5} {'commit':>6} {'proto':>5}  backing")
        previous_end = -1
        for v, (start, end), ptes in zip(vs, ranges, counts):
            kinds = [pte_kind(e) for _, e in ptes]
            t = int(v["Type"])
            note = []
            if int(v["NoFree"]):
                note.append("NoFree")
            if start <= previous_end:
                note.append("BAD: overlaps or is out of order with the VAD before it")
            if end < start:
                note.append("BAD: EndVpn < StartVpn")
            if kinds.count("other"):
                note.append(f"{kinds.count('other')} PTEs in no known format")
            previous_end = max(previous_end, end)
            print(f"  {start:#018x} {end:#018x} {(end - start + 1) >> PAGE_SHIFT:>6}  "
                  f"{enum_name(VAD_TYPES, t):<10} {protection_text(int(v['Protection'])):<24} "
                  f"{kinds.count('valid'):>5} {kinds.count('transition'):>5} {kinds.count('committed'):>6} "
                  f"{kinds.count('prototype'):>5}  "
                  f"{vad_backing(v)}" + ("  [" + "; ".join(note) + "]" if note else ""))
        outside = with_page_tables(lambda pt: pt.scan(p.cr3, 0, USER_LIMIT - 1))
        stray = [va for va, _ in outside if not any(s <= va <= e for s, e in ranges)]
        if stray:
            print(f"  BAD: {len(stray)} nonzero user PTEs outside every VAD, first at {stray[0]:#x}")


class WsCommand(Command):
    """The working set of a process: its user pages that are valid now.

Usage: ws [-a] [PROCESS]
  PROCESS  an image name (init), a pid (4) or an EPROCESS address;
           default: the process whose DirectoryTableBase is the current CR3
  -a       every entry (otherwise the first 64 lines, then a summary)

Prints the size, peak and capacity of Vm (MMSUPPORT), then one line per
VA in Vm.List, in list order (# is the index: the working-set manager
trims from the front, MmTrimProcessWorkingSet from the back): the VAD
holding it, its PTE as the CPU sees it (read in
that process's page tables in physical memory, as `pt VA PROCESS` would),
its flags, and the frame's PFN entry (`pfn N`): state, ReferenceCount,
ShareCount and usage (user = private, image = a frame owned by its prototype PTE, shared by
every process running the image). Then the cross-checks: working-set
entries whose PTE is not valid (STALE), valid user PTEs that are not in
the list (UNTRACKED: they cannot be trimmed; locked-view VADs excepted),
duplicate entries, and the transition PTEs
left by trimming (`MmTrimProcessWorkingSet`), whose frames wait on the
modified or standby list for a soft fault."""

    def __init__(self):
        super().__init__("ws", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    LIMIT = 64

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        show_all = "-a" in argv
        argv = [a for a in argv if a != "-a"]
        if len(argv) > 1:
            raise gdb.GdbError("usage: ws [-a] [PROCESS]")
        p = chosen_process(argv[0] if argv else "", "ws")
        if p.system:
            print(f"ws: {p.describe()}: the system process has no user working set")
            return
        vm = p.value["Vm"]
        count, cap = int(vm["Count"]), int(vm["Capacity"])
        lst = to_int(vm["List"])
        if count > cap or (count and not lst):
            raise gdb.GdbError(f"ws: Vm.Count {count} but Vm.Capacity {cap}, List {lst:#x}: corrupt")
        raw = read_virtual(lst, count * 8) if count else b""
        vas = list(struct.unpack(f"<{count}Q", raw))
        vs = vads(p)
        ranges = [(int(v["StartVpn"]) << PAGE_SHIFT, ((int(v["EndVpn"]) + 1) << PAGE_SHIFT) - 1, v) for v in vs]

        def read(pt):
            return [pt.pte(p.cr3, va) for va in vas], pt.scan(p.cr3, 0, USER_LIMIT - 1)
        ptes, every = with_page_tables(read)
        print(f"ws: {p.describe()}, CR3 {p.cr3:#x}: {count} pages (peak {int(vm['Peak'])}, capacity {cap}), "
              f"{int(vm['Counters']['PrivatePages'])} private pages committed")
        db = kernel_value("MmPfnDatabase")
        ram = ram_ranges()
        print(f"  {'#':>4} {'VA':<18} {'VAD':<14} {'PTE':<18} {'flags':<24} {'PFN':>8}  state      refs shares "
              f"usage")
        stale = 0
        kinds = {}
        for index, (va, (pte, level)) in enumerate(zip(vas, ptes)):
            quiet = not show_all and index >= self.LIMIT
            if quiet and index == self.LIMIT:
                print(f"  ... {count - self.LIMIT} more entries (`ws -a` shows them); checks below cover all")
            vad = next((v for s, e, v in ranges if s <= va <= e), None)
            if vad is None:
                where = "NO VAD"
            else:
                t = int(vad["Type"])
                where = enum_name(VAD_TYPES, t) + (f" seg {int(vad['Segment'])}" if t == 1 else "")
            lead = f"  {index:>4} {va:#018x} {where:<14}"
            if pte is None or not pte & 1:
                stale += 1
                print(f"{lead} " + (f"STALE: the {level} is not present" if pte is None else
                                    f"{pte:#018x} STALE: not valid ({pte_kind(pte)})"))
                continue
            pfn = (pte & PFN_MASK) >> PAGE_SHIFT
            flags = decode_present(pte, 3, False)
            if not any(s <= pfn < e for s, e in ram):
                print(f"{lead} {pte:#018x} {flags:<24} {pfn:>#8x}  not RAM")
                continue
            if quiet:
                key = where.split(" seg")[0]
                kinds[key] = kinds.get(key, 0) + 1
                continue
            e = db[pfn]
            usage = enum_name(USAGE_NAMES, int(e["Usage"]))
            if int(e["Usage"]) == 11:
                usage += " (shared prototype)"
            print(f"{lead} {pte:#018x} {flags:<24} {pfn:>#8x}  "
                  f"{enum_name(LIST_SHORT, int(e['PageLocation'])):<10} {int(e['ReferenceCount']):>4} "
                  f"{int(e['ShareCount']):>6} {usage}")
        if kinds:
            print("  (not shown: " + ", ".join(f"{n} in {k} VADs" for k, n in sorted(kinds.items())) + ")")
        listed = set(vas)
        valid = [va for va, e in every if e & 1]
        views = [(s_, e_) for s_, e_, v in ranges if int(v["Type"]) == 3]
        untracked = [va for va in valid if va not in listed and not any(s_ <= va <= e_ for s_, e_ in views)]
        in_views = sum(1 for va in valid if va not in listed and any(s_ <= va <= e_ for s_, e_ in views))
        if in_views:
            print(f"  {in_views} valid pages of locked views (MDL mappings: not in the working set by design)")
        trans = [va for va, e in every if pte_kind(e) == "transition"]
        dups = count - len(listed)
        print(f"  valid user PTEs in the page tables: {len(valid)}; working-set entries: {count}"
              + (f" ({dups} DUPLICATE)" if dups else ""))
        print(f"  STALE entries (listed, not valid): {stale}" if stale else "  no stale entries")
        if untracked:
            print(f"  UNTRACKED valid pages (not in Vm.List, never trimmed): {len(untracked)}: " +
                  ", ".join(f"{va:#x}" for va in untracked[:8]) + (" ..." if len(untracked) > 8 else ""))
        else:
            print("  every valid user page is in the working set")
        print(f"  transition PTEs (trimmed, frame on the modified/standby list; a touch is a soft fault): "
              f"{len(trans)}")
        protos = sum(1 for _, e in every if pte_kind(e) == "prototype")
        print(f"  prototype-format PTEs (trimmed shared image pages; a touch resolves through the prototype): "
              f"{protos}")


# ---------------------------------------------------------------- MDLs

# io/io.h: MdlFlags with NT's values and names.
MDL_FLAGS = [(0x0001, "MDL_MAPPED_TO_SYSTEM_VA"), (0x0002, "MDL_PAGES_LOCKED"),
             (0x0004, "MDL_SOURCE_IS_NONPAGED_POOL"), (0x0008, "MDL_ALLOCATED_FIXED_SIZE"),
             (0x0010, "MDL_PARTIAL"), (0x0020, "MDL_PARTIAL_HAS_BEEN_MAPPED"), (0x0040, "MDL_IO_PAGE_READ"),
             (0x0080, "MDL_WRITE_OPERATION"), (0x0200, "MDL_FREE_EXTRA_PTES"), (0x0800, "MDL_IO_SPACE"),
             (0x2000, "MDL_MAPPING_CAN_FAIL")]
MDL_MAPPED, MDL_LOCKED, MDL_NONPAGED, MDL_FIXED, MDL_PARTIAL, MDL_PARTIAL_MAPPED = 0x1, 0x2, 0x4, 0x8, 0x10, 0x20
MDL_SITES = ["allocated", "built", "locked", "mapped"]   # MI_SITE_* in mm/mdl.h
PFN_NONE = (1 << 64) - 1                                # (PFN_NUMBER)-1 ends a partly filled PFN array
ACTIVE = 6                                              # ActiveAndValid
USAGE_PAGE_TABLE, USAGE_DRIVER, USAGE_IMAGE = 2, 8, 11


def mdl_flag_names(flags):
    names = [n for bit, n in MDL_FLAGS if flags & bit]
    rest = flags & 0xFFFF & ~sum(bit for bit, _ in MDL_FLAGS)
    names += [f"reserved {1 << b:#06x}" for b in range(16) if rest >> b & 1]
    return " | ".join(names) or "none"


def span_pages(byte_offset, byte_count):
    """ADDRESS_AND_SIZE_TO_SPAN_PAGES."""
    return ((byte_offset & 0xFFF) + byte_count + 0xFFF) >> PAGE_SHIFT


def region_name(va):
    """The MiAddressMap region holding VA, or None."""
    try:
        regions = kernel_value("MiAddressMap")
        for i in range(int(kernel_value("MiAddressMapCount"))):
            r = regions[i]
            if to_int(r["start"]) <= va <= to_int(r["end"]):
                return r["name"].string().split(" (")[0]
    except (gdb.GdbError, gdb.error):
        pass
    return None


def struct_fields(t):
    """{field: (byte offset, bit offset in that byte, bit size or 0)} of struct type T."""
    out = {}
    for f in t.strip_typedefs().fields():
        out[f.name] = (f.bitpos // 8, f.bitpos % 8, f.bitsize)
    return out


def unpack_field(data, base, spec, size):
    """An unsigned field of SIZE bytes (or a bitfield) from DATA at BASE."""
    off, bit, bits = spec
    if bits:
        raw = int.from_bytes(data[base + off:base + off + 8], "little")
        return raw >> bit & ((1 << bits) - 1)
    return int.from_bytes(data[base + off:base + off + size], "little")


def require_paging(command):
    mode = paging_mode()
    if mode:
        raise gdb.GdbError(f"{command}: {mode}; there are no MDLs yet (`continue` to kmain or later)")


def mdl_type():
    for name in ("struct _MDL", "MDL"):
        try:
            return gdb.lookup_type(name).strip_typedefs()
        except gdb.error:
            pass
    raise gdb.GdbError("no struct _MDL in the symbols: is this a kernel with MDLs (io/io.h), and are its "
                       "symbols loaded (file build/kernel.elf)?")


class MdlHeader:
    """An MDL's header (struct _MDL in io/io.h), read as raw bytes."""

    def __init__(self, address):
        t = mdl_type()
        self.address = address
        self.header_size = t.sizeof
        data = read_virtual(address, t.sizeof)
        f = {x.name: x.bitpos // 8 for x in t.fields()}

        def get(name, size):
            return int.from_bytes(data[f[name]:f[name] + size], "little")
        self.next = get("Next", 8)
        self.size = get("Size", 2)
        self.flags = get("MdlFlags", 2)
        self.process = get("Process", 8)
        self.mapped_va = get("MappedSystemVa", 8)
        self.start_va = get("StartVa", 8)
        self.byte_count = get("ByteCount", 4)
        self.byte_offset = get("ByteOffset", 4)
        self.span = span_pages(self.byte_offset, self.byte_count)
        self.slots = max(0, (self.size - self.header_size) // 8)

    def pfns(self):
        """The PFN array up to the span (or the slots the Size has room
        for), stopping at (PFN_NUMBER)-1."""
        n = min(self.span, self.slots)
        raw = read_virtual(self.address + self.header_size, n * 8) if n else b""
        out = []
        for (pfn,) in struct.iter_unpack("<Q", raw):
            if pfn == PFN_NONE:
                break
            out.append(pfn)
        return out

    def holds_references(self):
        """Locked pages take one reference per frame; a partial MDL borrows
        its source's and a nonpaged-pool MDL takes none."""
        return bool(self.flags & MDL_LOCKED) and not self.flags & (MDL_NONPAGED | MDL_PARTIAL)

    def built(self):
        return bool(self.flags & (MDL_LOCKED | MDL_NONPAGED | MDL_PARTIAL))


def verifier_table():
    """(list of (slot, {Mdl, Site[4], Process, EverLocked}), note). The table
    is `static MI_MDL_TRACK track[]` in mm/mdlverify.c: GDB reaches a static
    by naming its file. The list is None when it cannot be read at all."""
    try:
        enabled = bool(eval_int("MiVerifierEnabled"))
    except gdb.MemoryError as e:
        return None, f"the verifier's state cannot be read ({e})"
    except gdb.error:
        return None, "this kernel has no MDL verifier (no MiVerifierEnabled)"
    table = None
    for expr in ("'mm/mdlverify.c'::track", "track"):
        try:
            table = gdb.parse_and_eval(expr)
            if table.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
                break
            table = None
        except gdb.error:
            table = None
    if table is None:
        return None, "the verifier's table (static track[] in mm/mdlverify.c) is not in the symbols"
    t = table.type.strip_typedefs()
    count = t.range()[1] + 1
    esize = t.target().strip_typedefs().sizeof
    f = {x.name: x.bitpos // 8 for x in t.target().strip_typedefs().fields()}
    data = read_virtual(to_int(table.address), count * esize)
    out = []
    for i in range(count):
        b = i * esize
        mdl = int.from_bytes(data[b + f["Mdl"]:b + f["Mdl"] + 8], "little")
        if not mdl:
            continue
        sites = list(struct.unpack_from("<4Q", data, b + f["Site"]))
        out.append((i, {"Mdl": mdl, "Site": sites, "Address": to_int(table.address) + b,
                        "Process": int.from_bytes(data[b + f["Process"]:b + f["Process"] + 8], "little"),
                        "EverLocked": data[b + f["EverLocked"]]}))
    return out, "" if enabled else "the verifier is off (boot with verifier=1): MDLs are not tracked"


def describe_site(ret):
    """A return address the verifier recorded, as FUNCTION+OFFSET (ADDR) at
    FILE:LINE. The call is the instruction before it, so the lookup uses
    ret - 1 (right even when the call was the last one of a function)."""
    pc = ret - 1
    try:
        text = gdb.execute(f"info symbol {pc:#x}", to_string=True).strip()
    except gdb.error:
        text = ""
    m = re.match(r"^(\S+)(?: \+ (\d+))? in section", text)
    name = f"{m.group(1)}+{int(m.group(2) or 0) + 1:#x}" if m else "?"
    where = ""
    try:
        sal = gdb.find_pc_line(pc)
        if sal.symtab:
            where = f" at {sal.symtab.filename}:{sal.line}"
    except gdb.error:
        pass
    return f"{name} ({ret:#x}){where}"


def process_label(address, procs=None):
    if not address:
        return "none"
    try:
        for p in procs if procs is not None else processes():
            if p.address == address:
                return f"{p.name} pid {p.pid} ({address:#x})"
    except (gdb.GdbError, gdb.error):
        pass
    return f"EPROCESS {address:#x}"


def expected_references(location, usage, shares, deleted, pte_address):
    """The references a frame's owner explains (mm/pfn.c, mm/mdl.c), so that
    the rest are MDL locks. 1 for a page that valid PTEs map (ShareCount >
    0), for a page table, and for a frame its allocator holds without any PTE (boot modules,
    MiAllocatePfn); 0 once the owner freed it (PteDeleted: it lives until
    the last unlock), while it is trimmed (its PTE in transition, ShareCount
    0: the working set's reference went with it), and for the frames of
    MmAllocatePagesForMdlEx (usage `driver`: their one reference is the
    MDL's). None for a frame not in use (on a list)."""
    if location != ACTIVE:
        return None
    if usage == USAGE_PAGE_TABLE:
        return 1
    if deleted:
        return 0
    if shares:
        return 1
    if pte_address:
        return 0
    return 0 if usage == USAGE_DRIVER else 1


def owner_note(usage, shares, deleted, pte_address):
    """Why the owner explains fewer references, in a word or two."""
    if deleted:
        return "PteDeleted: the owner freed it"
    if usage == USAGE_PAGE_TABLE or shares:
        return ""
    if usage == USAGE_IMAGE:
        return "trimmed: its prototype PTE in transition"
    if pte_address:
        return "trimmed: no valid PTE"
    return "MDL's own page" if usage == USAGE_DRIVER else ""


def pte_state(pte, pfn):
    """One word for what a PTE says about frame PFN."""
    if pte is None:
        return "no table"
    if pte & 1:
        other = (pte & PFN_MASK) >> PAGE_SHIFT
        return "valid" if other == pfn else f"valid->{other:#x}"
    if pte >> 11 & 1:
        other = (pte & PFN_MASK) >> PAGE_SHIFT
        return "transition" if other == pfn else f"trans->{other:#x}"
    if pte == 0:
        return "zero"
    return "not valid"


class PteReader:
    """PTEs of any address space: in physical memory when the gdbstub can,
    else (kernel addresses only) through the self-map."""

    def __init__(self):
        self.tables = PageTables()

    def pte(self, cr3, va, physical):
        if physical:
            value, _ = self.tables.pte(cr3, va)
            return value
        if va < USER_LIMIT:
            return None
        try:
            return read_u64_virtual(PTE_BASE + ((va >> 9) & 0x7FFFFFFFF8))
        except gdb.MemoryError:
            return None


class MdlCommand(Command):
    """Dump an MDL: its fields, its flags by name, its PFN array with each
    frame's PFN entry, and the verifier's record of who built it.

Usage: mdl [-a] ADDRESS
  ADDRESS  an expression: 0xfffffa8040001be0, $rdi at `break *MmUnlockPages`,
           Irp->MdlAddress, m (a local of the frame you stopped in)
  -a       every frame (otherwise the first 64)

Fields of struct _MDL (io/io.h): Next (a chain: `mdl` it too), Size (the
header plus one PFN_NUMBER slot per page), MdlFlags decoded with NT's names
(MDL_PAGES_LOCKED ...), Process (whose user pages are locked; none for a
kernel buffer), MappedSystemVa, StartVa and ByteOffset (with the region of
the address map holding each), ByteCount and the pages the buffer spans
(ADDRESS_AND_SIZE_TO_SPAN_PAGES), what state the flags put the MDL in and
what undoes it.

Then the PFN array (MmGetMdlPfnArray: right after the header), up to the
span or a (PFN_NUMBER)-1 entry: each frame's MmPfnDatabase entry (state,
ReferenceCount, ShareCount, usage, PteDeleted) or `not RAM` (device memory:
no entry, the MDL needs MDL_IO_SPACE); `locks` = the references its mapping
does not explain (what `locked` counts: MDL locks); `buffer` = the PTE of
StartVa + i pages now (in Process's page tables for a user buffer: valid,
transition when trimmed, zero when the owner freed it); `system` = the PTE
of the system mapping (MappedSystemVa) for that page.

Last, with `verifier=1`, the verifier's tracking entry for this MDL
(static track[] in mm/mdlverify.c; its address is P1 of a 0xCB stop): the
call sites that allocated, built (MmBuildMdlForNonPagedPool,
IoBuildPartialMdl), locked and mapped it, symbolized (`info symbol`) with
their source lines. A record outlives MDLs that were never IoFreeMdl'd
(MmInitializeMdl in caller storage): a new MDL at the same address shows
the old one's sites."""

    LIMIT = 64

    def __init__(self):
        super().__init__("mdl", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        show_all = "-a" in argv
        argv = [a for a in argv if a != "-a"]
        if len(argv) != 1:
            raise gdb.GdbError("usage: mdl [-a] ADDRESS   (quote an expression that contains spaces)")
        address = eval_int(argv[0])
        require_paging("mdl")
        if not address:
            raise gdb.GdbError("mdl: the address is NULL (no MDL)")
        try:
            m = MdlHeader(address)
        except gdb.MemoryError as e:
            raise gdb.GdbError(f"mdl: cannot read an MDL at {address:#x} ({e})")
        print(f"MDL {address:#x}: {m.byte_count} bytes at {m.start_va + m.byte_offset:#x}, spanning {m.span} "
              f"page{'s' if m.span != 1 else ''}")
        print(f"  Next           {m.next:#x}" + (f"   (a chain: `mdl {m.next:#x}` for the next one)" if m.next
                                                  else ""))
        print(f"  Size           {m.size} (header {m.header_size} + {m.slots} PFN slots)" +
              ("" if m.slots >= m.span else f"   BAD: too small for the {m.span} pages the buffer spans"))
        print(f"  MdlFlags       {m.flags:#06x} {mdl_flag_names(m.flags)}")
        try:
            procs = processes()
        except (gdb.GdbError, gdb.error):
            procs = []
        proc = next((p for p in procs if p.address == m.process), None)
        if m.process:
            extra = f", LockedPages {int(proc.value['LockedPages'])}" if proc else ""
            print(f"  Process        {process_label(m.process, procs)}{extra}")
        else:
            print("  Process        none (a kernel buffer, or not locked yet)")
        for label, va in (("MappedSystemVa", m.mapped_va), ("StartVa", m.start_va)):
            where = region_name(va) if va else None
            stale = label == "MappedSystemVa" and va and not m.flags & (MDL_MAPPED | MDL_NONPAGED)
            print(f"  {label:<14} {va:#x}" + (f" ({where})" if where else "") +
                  ("   (left over: the MDL is not mapped now)" if stale else ""))
        print(f"  ByteOffset     {m.byte_offset} ({m.byte_offset:#x})" +
              ("" if m.byte_offset < PAGE_SIZE else "   BAD: not below PAGE_SIZE"))
        print(f"  ByteCount      {m.byte_count} ({m.byte_count:#x})")
        print(f"  state          {self.state(m)}")
        self.frames(m, proc, show_all)
        self.tracking(address)

    @staticmethod
    def state(m):
        f = m.flags
        if f & MDL_PARTIAL:
            own = " with a mapping of its own (IoFreeMdl -> MmPrepareMdlForReuse unmaps it)" \
                if f & MDL_PARTIAL_MAPPED else ""
            return (f"partial: borrows its source MDL's frames (no references of its own){own}; "
                    f"undo: IoFreeMdl, before the source is unlocked")
        if f & MDL_NONPAGED:
            return ("built for nonpaged pool: frames described, no references taken, MappedSystemVa is the "
                    "buffer itself; undo: nothing but IoFreeMdl (never MmUnlockPages)")
        if f & MDL_LOCKED:
            mapped = " and mapped in system PTEs" if f & MDL_MAPPED else ""
            if not m.start_va and not m.process and not f & MDL_FIXED:
                return (f"frames allocated for it (MmAllocatePagesForMdlEx: each frame's one reference is the "
                        f"MDL's){mapped}; undo: MmFreePagesFromMdl (which unmaps first), then ExFreePool")
            undo = "MmUnlockPages (which unmaps first)" if f & MDL_MAPPED else "MmUnlockPages"
            return f"locked (+1 ReferenceCount per frame){mapped}; undo: {undo}, then IoFreeMdl"
        if f & MDL_MAPPED:
            return "MAPPED but not locked: the verifier forbids this (0xB3)"
        return ("not built (just allocated, or unlocked again): the PFN array means nothing; next: "
                "MmProbeAndLockPages or MmBuildMdlForNonPagedPool, or IoFreeMdl")

    def frames(self, m, proc, show_all):
        if not m.built():
            print("  PFN array      not in use (neither locked, built for nonpaged pool, nor partial)")
            return
        pfns = m.pfns()
        ended = len(pfns) < min(m.span, m.slots)
        print(f"  PFN array at {m.address + m.header_size:#x}: {len(pfns)} frame{'s' if len(pfns) != 1 else ''}"
              + (" (ended by (PFN_NUMBER)-1)" if ended else ""))
        if not pfns:
            return
        ram = ram_ranges()
        db = kernel_value("MmPfnDatabase")
        if m.process and proc is not None:
            cr3 = proc.cr3
        else:
            try:
                cr3 = current_cr3()
            except gdb.GdbError:
                cr3 = 0
        buffer_va = m.start_va if m.start_va else None   # MmAllocatePagesForMdlEx: no buffer VA
        system_va = (m.mapped_va & ~0xFFF) if m.flags & (MDL_MAPPED | MDL_PARTIAL_MAPPED) and \
            not m.flags & MDL_NONPAGED and m.mapped_va >= USER_LIMIT else None
        shown = pfns if show_all else pfns[:self.LIMIT]
        with PhysicalMemory() as phys:
            reader = PteReader()
            rows = []
            for i, pfn in enumerate(shown):
                try:
                    buf = reader.pte(cr3, buffer_va + i * PAGE_SIZE, phys.active) if buffer_va is not None \
                        else "none"
                    sysp = reader.pte(cr3, system_va + i * PAGE_SIZE, phys.active) if system_va is not None \
                        else "-"
                except gdb.MemoryError:
                    buf = sysp = None
                rows.append((i, pfn, buf, sysp))
        print(f"    {'#':>4} {'PFN':>10}  {'state':<10} {'refs':>4} {'shares':>6} {'locks':>5}  {'usage':<14} "
              f"{'buffer':<12} {'system':<12} flags")
        for i, pfn, buf, sysp in rows:
            bufs = buf if isinstance(buf, str) else pte_state(buf, pfn)
            syss = sysp if isinstance(sysp, str) else pte_state(sysp, pfn)
            if not any(s <= pfn < e for s, e in ram):
                print(f"    {i:>4} {pfn:>#10x}  not RAM (device memory: no PFN entry" +
                      ("" if m.flags & 0x800 else "; BAD: the MDL lacks MDL_IO_SPACE") + f")  "
                      f"{bufs:<12} {syss:<12}")
                continue
            e = db[pfn]
            loc, usage = int(e["PageLocation"]), int(e["Usage"])
            refs, shares, deleted = int(e["ReferenceCount"]), int(e["ShareCount"]), int(e["PteDeleted"])
            want = expected_references(loc, usage, shares, deleted, to_int(e["PteAddress"]))
            locks = "-" if want is None else str(refs - want)
            flags = " ".join(n for n, v in (("PteDeleted", deleted), ("Modified", int(e["Modified"]))) if v)
            print(f"    {i:>4} {pfn:>#10x}  {enum_name(LIST_SHORT, loc):<10} {refs:>4} {shares:>6} {locks:>5}  "
                  f"{enum_name(USAGE_NAMES, usage):<14} {bufs:<12} {syss:<12} {flags}")
        if len(shown) < len(pfns):
            print(f"    ... {len(pfns) - len(shown)} more frames (`mdl -a`)")

    @staticmethod
    def tracking(address):
        entries, note = verifier_table()
        if entries is None:
            print(f"  verifier: {note}")
            return
        hit = next(((i, t) for i, t in entries if t["Mdl"] == address), None)
        if hit is None:
            print("  verifier: no tracking entry for this MDL" + (f" ({note})" if note else
                  " (not built by IoAllocateMdl/MmBuildMdlForNonPagedPool/MmProbeAndLockPages/a map since "
                  "the verifier started, freed, or the table was full)"))
            return
        i, t = hit
        print(f"  verifier: track[{i}] at {t['Address']:#x} (mm/mdlverify.c): "
              f"{'locked at least once' if t['EverLocked'] else 'never locked'}, Process at lock: "
              f"{process_label(t['Process'])}")
        for name, site in zip(MDL_SITES, t["Site"]):
            if site:
                print(f"    {name:<9} by {describe_site(site)}")


class LockedCommand(Command):
    """Frames locked by MDLs: ReferenceCount more than their mapping explains.

Usage: locked [PROCESS]
  PROCESS  an image name, a pid or an EPROCESS address (`ps`); the system
           process (0) means MDLs over kernel buffers (Process = NULL)

Scans the whole PFN database (MmPfnDatabase over MiRamRanges) for frames in
use whose ReferenceCount is more than their owner accounts for (`owner`):
1 while valid PTEs map the page (ShareCount > 0), for a page table, for an
image's prototype page and for a frame held with no PTE at all (boot
modules); 0 once the owner freed it (PteDeleted: the frame lives until the
last unlock) or trimmed it (its PTE in transition, ShareCount 0). The rest
(`locks`) are MDL locks: MmProbeAndLockPages takes +1 per frame and per MDL,
and a frame of MmAllocatePagesForMdlEx (usage `driver`) has the MDL's
reference as its only one.

With `verifier=1`, the verifier's table (static track[] in mm/mdlverify.c)
knows the MDLs: each frame lists the tracked locked MDLs holding it, and a
table of those MDLs follows with who locked them. Locks no tracked MDL
explains (verifier off, table full) are counted; a tracked locked MDL
naming a frame without an extra reference is marked MISMATCH (a reference
dropped twice, or a stale record: an MDL whose storage was reused without
IoFreeMdl).

With PROCESS, only MDLs whose Process is that process, their frames, and
the process's EPROCESS.LockedPages next to the pages those MDLs span."""

    def __init__(self):
        super().__init__("locked", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        if len(argv) > 1:
            raise gdb.GdbError("usage: locked [PROCESS]")
        require_paging("locked")
        proc = find_process(argv[0])[0] if argv else None
        entries, note = verifier_table()
        mdls = []
        for _, t in entries or []:
            try:
                m = MdlHeader(t["Mdl"])
                pfns = m.pfns() if m.holds_references() else []
            except gdb.MemoryError:
                continue
            if m.holds_references():
                mdls.append((m, pfns, t))
        if proc is not None:
            want = 0 if proc.system else proc.address
            mdls = [x for x in mdls if x[0].process == want]
        holders = {}
        for m, pfns, _ in mdls:
            for pfn in pfns:
                holders.setdefault(pfn, []).append(m.address)
        frames, scanned = self.scan()
        if proc is not None:
            frames = {pfn: v for pfn, v in frames.items() if pfn in holders}
        ram = ram_ranges()
        for pfn in holders:
            if pfn not in frames:
                frames[pfn] = None if any(s <= pfn < e for s, e in ram) else "not RAM"
        who = f" for {proc.describe()}" if proc is not None else ""
        print(f"locked{who}: {len(frames)} frame{'s' if len(frames) != 1 else ''} with more references than "
              f"their mappings explain ({scanned} frames of RAM scanned)")
        if entries is None or note:
            print(f"  ({note}; which MDL holds a frame is unknown)")
        if frames:
            print(f"  {'PFN':>10}  {'state':<10} {'refs':>4} {'shares':>6} {'owner':>5} {'locks':>5}  "
                  f"{'usage':<14} held by (tracked MDLs)")
        extra = explained = 0
        bad = []
        for pfn in sorted(frames):
            v = frames[pfn]
            hold = holders.get(pfn, [])
            held = ", ".join(f"MDL {a:#x}" for a in hold) or "?"
            if v == "not RAM":
                print(f"  {pfn:>#10x}  not RAM (device memory: no PFN entry, no reference taken)  {held}")
                continue
            if v is None:
                print(f"  {pfn:>#10x}  no extra reference  {held}  MISMATCH: a tracked locked MDL names it")
                bad.append(pfn)
                continue
            loc, refs, shares, want, usage, deleted, pte = v
            locks = refs - want
            extra += locks
            explained += min(locks, len(hold))
            mark = ""
            if len(hold) > locks:
                mark = "  MISMATCH: more tracked locks than extra references"
                bad.append(pfn)
            elif hold and len(hold) < locks:
                mark = f"  (+{locks - len(hold)} untracked)"
            why = owner_note(usage, shares, deleted, pte)
            print(f"  {pfn:>#10x}  {enum_name(LIST_SHORT, loc):<10} {refs:>4} {shares:>6} {want:>5} {locks:>5}  "
                  f"{enum_name(USAGE_NAMES, usage):<14} {held}{mark}{' [' + why + ']' if why else ''}")
        if mdls:
            print(f"  locked MDLs the verifier tracks{who}: {len(mdls)}")
            for m, pfns, t in mdls:
                site = t["Site"][2] or t["Site"][0]
                how = ("locked" if t["Site"][2] else "allocated") + " by " + describe_site(site) if site else ""
                print(f"    MDL {m.address:#x}  {m.span} page{'s' if m.span != 1 else ''}  Process "
                      f"{process_label(m.process)}  {mdl_flag_names(m.flags)}  {how}")
        elif entries is not None and not note:
            print(f"  no locked MDL in the verifier's table{who}")
        if proc is not None and not proc.system:
            lp = int(proc.value["LockedPages"])
            spans = sum(m.span for m, _, _ in mdls)
            print(f"  EPROCESS.LockedPages {lp}; tracked MDLs of this process span {spans} pages" +
                  ("" if lp == spans else "  (differ: untracked MDLs, or a count gone wrong)"))
        elif proc is not None:
            print("  (the system process has no LockedPages: kernel buffers are locked with Process = NULL)")
        print(f"  {extra} extra references; {explained} explained by tracked MDLs" +
              (f"; MISMATCH at {len(bad)} frames" if bad else ""))

    @staticmethod
    def scan():
        """{pfn: (location, refs, shares, expected, usage, PteDeleted, PteAddress)} for
        every frame with more references than expected, and the count."""
        base, size, _ = pfn_layout()
        f = struct_fields(kernel_value("MmPfnDatabase").type.strip_typedefs().target())
        out = {}
        scanned = 0
        chunk = 8192
        ranges = ram_ranges()
        if not ranges:
            raise gdb.GdbError("locked: there is no PFN database yet (MiRamRangeCount is 0): `continue` past "
                               "MmInitSystem")
        for start, end in ranges:
            for first in range(start, end, chunk):
                n = min(chunk, end - first)
                data = read_virtual(base + first * size, n * size)
                scanned += n
                locs = data[f["PageLocation"][0]::size]
                for j in (j for j, loc in enumerate(locs) if loc == ACTIVE):
                    b = j * size
                    refs = unpack_field(data, b, f["ReferenceCount"], 2)
                    shares = unpack_field(data, b, f["ShareCount"], 4)
                    usage = unpack_field(data, b, f["Usage"], 1)
                    deleted = unpack_field(data, b, f["PteDeleted"], 1)
                    pte = unpack_field(data, b, f["PteAddress"], 8)
                    want = expected_references(ACTIVE, usage, shares, deleted, pte)
                    if refs > want:
                        out[first + j] = (ACTIVE, refs, shares, want, usage, deleted, pte)
        return out, scanned



class MdlosCommand(Command):
    """mdlos memory-manager and process commands (scripts/gdb/mdlos.py).

  pt VA [CR3|PROC]  walk the page tables for VA in physical memory, level by level
  pfn N             one PFN database entry (MmPfnDatabase[N]), decoded
  pfnstats          the page lists, and what every frame of RAM is used for
  pool [TAG]        pool statistics and the pool tag table
  memmap [VA]       the kernel's address map (and which region holds VA)
  ps                every process (EPROCESS) and every thread (KTHREAD)
  vad [PROC]        a process's VADs, with what their PTEs hold
  ws [PROC]         a process's working set: each page's PTE and PFN entry
  mdl ADDR          an MDL (struct _MDL): fields, MdlFlags by name, each frame's
                    PFN entry, and who allocated/locked/mapped it (verifier=1)
  locked [PROC]     frames whose ReferenceCount their mappings do not explain
                    (MDL locks), with the tracked MDLs holding them

PROC: an image name (init), a pid (4) or an EPROCESS address; default: the
process whose address space is in CR3. `help COMMAND` for each. They need
the kernel's symbols (file build/kernel.elf)."""

    def __init__(self):
        super().__init__("mdlos", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        print(self.__doc__)


MdlosCommand()
MdlCommand()
LockedCommand()
PsCommand()
VadCommand()
WsCommand()
PtCommand()
PfnCommand()
PfnStatsCommand()
PoolCommand()
MemmapCommand()
