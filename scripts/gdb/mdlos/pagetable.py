"""Page tables: the 4-level walk (pt), the kernel's address map (memmap),
the self-map, NT's software PTE formats and the prototype PTEs of images,
and reading page tables in guest physical memory."""
import struct

import gdb

from .common import (K, USER_LIMIT, MI_PTE_COMMITTED, PAT_TYPES, Command,
                     PhysicalMemory, c_string, current_cr3, eval_int, is_canonical, kernel_value,
                     list_entries, paging_mode, read_u64_virtual, read_virtual, sign_extend, to_int)


def selfmap_address(level, va):
    _, _, base, mask, shift2 = K.LEVELS[level]
    return base + ((va >> shift2) & mask)


def va_mapped_by_pte(pte_address):
    """Inverse of MiGetPteAddress: the VA a PTE (at its self-map address) maps."""
    return sign_extend(((pte_address - K.PTE_BASE) << 9) & ((1 << 64) - 1))


def prototype_address(entry):
    """ProtoAddress of a prototype-format PTE (MMPTE_PROTOTYPE, mm/mi.h): bits
    63..16 hold address bits 47..0; an arithmetic shift right by 16 restores it."""
    return sign_extend(entry >> K.PROTO_ADDRESS_SHIFT)


def is_transition(entry):
    """A not-valid PTE whose frame is still in memory (MMPTE_TRANSITION)."""
    return bool(entry & K.TRANSITION_MASK)


def is_prototype(entry):
    """A not-valid PTE in prototype format (MMPTE_PROTOTYPE)."""
    return bool(entry & K.PROTOTYPE_MASK)


def software_protection(entry):
    """The MM_* protection of a software PTE (MMPTE_SOFTWARE.Protection)."""
    return (entry & K.PROTECTION_MASK) >> K.PROTECTION_SHIFT


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
            va = (int(im["BaseVpn"]) + index) << K.PAGE_SHIFT
            v = read_u64_virtual(address)
            return (f"prototype PTE {index} of image {c_string(im['Name'])} (VA {va:#x}) = {v:#x}: "
                    f"{describe_prototype_value(v, im)}")
    return ""


def describe_prototype_value(v, im=None):
    """The state of a prototype PTE's value V (mm/image.c's three states)."""
    if v & 1:
        return f"valid: in frame PFN {(v & K.PFN_MASK) >> K.PAGE_SHIFT:#x}, mapped by processes (`pfn` shows the share count)"
    if is_transition(v):
        return (f"transition: in frame PFN {(v & K.PFN_MASK) >> K.PAGE_SHIFT:#x} on the standby list, mapped by nobody; "
                f"a touch is a soft fault")
    if is_prototype(v):
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
    name = "MM_" + K.PROTECTION_NAMES[prot & K.PROTECTION_BASE_MASK]
    extra = K.PROTECTION_MODIFIERS.get(prot & K.PROTECTION_MODIFIER_MASK)
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
    prot = software_protection(entry)
    if is_transition(entry):
        pfn = (entry & K.PFN_MASK) >> K.PAGE_SHIFT
        return (f"transition: the data is still in frame PFN {pfn:#x} (on the standby or modified list); "
                f"protection {prot:#x} {protection_name(prot)}; a touch makes it valid again without I/O "
                f"(`pfn {pfn:#x}`)")
    if is_prototype(entry):
        return (f"prototype format (bit {K.PROTOTYPE_SHIFT}): bits 63..{K.PROTO_ADDRESS_SHIFT} hold address {prototype_address(entry):#x}, in a "
                f"process page table the image page's prototype PTE (a touch resolves through it), in a "
                f"prototype array the MI_IMAGE whose file holds the page; protection {prot:#x} "
                f"{protection_name(prot)}")
    if entry & MI_PTE_COMMITTED and not entry & ~(K.PROTECTION_MASK | MI_PTE_COMMITTED):
        guard = " (a guard page: the first touch clears the guard; on a stack the guard moves one page down)" \
            if prot & K.PROTECTION_MODIFIER_MASK == K.enum("MM_GUARD_PAGE") else ""
        return (f"demand zero, committed (MI_PTE_COMMITTED, bit 12): no frame yet, protection {prot:#x} "
                f"{protection_name(prot)}; the first touch gets a zeroed frame{guard}")
    high = (entry & K.PAGEFILE_HIGH_MASK) >> K.PAGEFILE_HIGH_SHIFT
    if high:
        low = (entry & K.PAGEFILE_LOW_MASK) >> K.PAGEFILE_LOW_SHIFT
        return (f"pagefile: the data is in paging file {low} at page offset {high:#x} (PageFileHigh); "
                f"protection {prot:#x} {protection_name(prot)}")
    if entry & ~K.PROTECTION_MASK:
        return f"software PTE with unexpected bits set; protection {prot:#x} {protection_name(prot)}"
    return (f"demand zero: no frame yet, protection {prot:#x} {protection_name(prot)}; the first touch "
            f"gets a zeroed frame")


def walk(va, cr3, read_entry):
    """Walk the 4 levels. Yields one dict per level visited; the last one
    says how the walk ended (final physical address or why it stopped).
    READ_ENTRY(physical address, level) returns the 64-bit entry."""
    table = cr3 & K.PFN_MASK
    user = writable = True
    nx = False
    for level, (name, shift, _, _, _) in enumerate(K.LEVELS):
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
            base = entry & K.PFN_MASK & ~((1 << size_bits) - 1)
            pat = (entry >> 12 & 1) if large else (entry >> 7 & 1)
            pat_index = pat << 2 | (entry >> 4 & 1) << 1 | (entry >> 3 & 1)
            row["pfn"] = base >> K.PAGE_SHIFT
            row["large"] = {30: "1 GiB", 21: "2 MiB", 12: None}[size_bits]
            row["final"] = base | (va & ((1 << size_bits) - 1))
            row["cache"] = f"PAT index {pat_index} = {PAT_TYPES[pat_index]}"
            row["global"] = bool(entry & 0x100)
            yield row
            return
        row["pfn"] = (entry & K.PFN_MASK) >> K.PAGE_SHIFT
        row["selfref"] = (entry & K.PFN_MASK) == table
        yield row
        table = entry & K.PFN_MASK


class PageTables:
    """Whole page-table pages read in physical memory, each once (use
    inside `with PhysicalMemory()`, whose mode must be active)."""

    def __init__(self):
        self.cache = {}

    def table(self, phys):
        phys &= K.PFN_MASK
        t = self.cache.get(phys)
        if t is None:
            t = self.cache[phys] = struct.unpack("<512Q", read_virtual(phys, K.PAGE_SIZE))
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
                return None, K.LEVELS[level][0]
            if level and e & 0x80:
                return None, f"{K.LEVELS[level][0]} (a large page)"
            table = e & K.PFN_MASK
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
                    visit(e & K.PFN_MASK, level + 1, va)
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
    if is_transition(e):
        return "transition"
    if is_prototype(e):
        return "prototype"
    if e & MI_PTE_COMMITTED and not e & K.PAGEFILE_HIGH_MASK:
        return "committed"
    return "other"


def pte_state(pte, pfn):
    """One word for what a PTE says about frame PFN."""
    if pte is None:
        return "no table"
    if pte & 1:
        other = (pte & K.PFN_MASK) >> K.PAGE_SHIFT
        return "valid" if other == pfn else f"valid->{other:#x}"
    if is_transition(pte):
        other = (pte & K.PFN_MASK) >> K.PAGE_SHIFT
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
            return read_u64_virtual(K.PTE_BASE + ((va >> 9) & 0x7FFFFFFFF8))
        except gdb.MemoryError:
            return None


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
        from . import process   # process.py builds on this module: import it when used
        argv = gdb.string_to_argv(arg)
        if not argv or len(argv) > 2:
            raise gdb.GdbError("usage: pt VA [CR3 | PROCESS]   (quote a VA expression that contains spaces)")
        va = eval_int(argv[0])
        owner = None
        if len(argv) > 1:
            owner, cr3 = process.resolve_address_space(argv[1])
        else:
            cr3 = current_cr3()
            mode = paging_mode()
            if mode:
                print(f"pt {va:#018x}: {mode}; nothing to walk (give a CR3 to walk a table anyway)")
                return
        if owner is None:
            owner = process.process_of_cr3_quiet(cr3)
        whose = f" ({owner.describe()})" if owner else ""
        print(f"pt {va:#018x}   CR3 {cr3:#x}{whose}: PML4 at physical {cr3 & K.PFN_MASK:#x}")
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
                if cr3 & K.PFN_MASK != current_cr3() & K.PFN_MASK:
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
            vad_line = process.describe_user_va(owner, va, rows[-1])
        for r in rows:
            lead = f"  {r['name']:<5} [{r['index']:3d} = {r['index']:#05x}]"
            print(f"{lead}  phys {r['phys']:#014x}  self-map {r['selfmap']:#018x}  = {r['entry']:#018x}")
            pad = " " * 6
            if "stop" in r:
                print(f"{pad}not present: {r['stop']}")
                if r["level"] == 3 and not r["entry"] & 1 and is_prototype(r["entry"]) and \
                        not is_transition(r["entry"]):
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
                print(f"{pad}(points back at the table it is in: the self-map slot {K.SELFMAP_INDEX:#x}; "
                      f"this VA is itself a page-table address)")
            if "final" in r:
                if vad_line:
                    print(f"{pad}{vad_line}")
                if r["large"]:
                    print(f"{pad}large page: {r['large']}, base physical {r['pfn'] << K.PAGE_SHIFT:#x}")
                print(f"{pad}{r['access']}, {r['cache']}{', global' if r['global'] else ''}")
                print(f"  => physical {r['final']:#x}  (PFN {r['final'] >> K.PAGE_SHIFT:#x} + offset "
                      f"{r['final'] & 0xFFF:#x}; `pfn {r['final'] >> K.PAGE_SHIFT:#x}` shows the frame)")
                return
            print(f"{pad}next table at physical {r['pfn'] << K.PAGE_SHIFT:#x}")


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
