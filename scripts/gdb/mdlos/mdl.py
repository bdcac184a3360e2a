"""MDLs: one MDL with its frames and the verifier's record (mdl), and the
frames MDLs hold locked (locked)."""
import re
import struct

import gdb

from .common import (K, USER_LIMIT, Command, PhysicalMemory, current_cr3, enum_name, eval_int,
                     kernel_value, paging_mode, pfn_layout, ram_ranges, read_virtual, region_name, struct_fields,
                     to_int, unpack_field)
from .pagetable import PteReader, pte_state
from .process import find_process, process_label, processes

def mdl_flag_names(flags):
    names = [n for bit, n in K.MDL_FLAGS if flags & bit]
    rest = flags & 0xFFFF & ~sum(bit for bit, _ in K.MDL_FLAGS)
    names += [f"reserved {1 << b:#06x}" for b in range(16) if rest >> b & 1]
    return " | ".join(names) or "none"


def span_pages(byte_offset, byte_count):
    """ADDRESS_AND_SIZE_TO_SPAN_PAGES."""
    return ((byte_offset & 0xFFF) + byte_count + 0xFFF) >> K.PAGE_SHIFT


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
            if pfn == K.PFN_NONE:
                break
            out.append(pfn)
        return out

    def holds_references(self):
        """Locked pages take one reference per frame; a partial MDL borrows
        its source's and a nonpaged-pool MDL takes none."""
        return bool(self.flags & K.MDL_PAGES_LOCKED) and not self.flags & (K.MDL_SOURCE_IS_NONPAGED_POOL | K.MDL_PARTIAL)

    def built(self):
        return bool(self.flags & (K.MDL_PAGES_LOCKED | K.MDL_SOURCE_IS_NONPAGED_POOL | K.MDL_PARTIAL))


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
        sites = list(struct.unpack_from(f"<{len(K.MDL_SITES)}Q", data, b + f["Site"]))
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


def expected_references(location, usage, shares, deleted, pte_address):
    """The references a frame's owner explains (mm/pfn.c, mm/mdl.c), so that
    the rest are MDL locks. 1 for a page that valid PTEs map (ShareCount >
    0), for a page table, and for a frame its allocator holds without any PTE (boot modules,
    MiAllocatePfn); 0 once the owner freed it (PteDeleted: it lives until
    the last unlock), while it is trimmed (its PTE in transition, ShareCount
    0: the working set's reference went with it), and for the frames of
    MmAllocatePagesForMdlEx (usage `driver`: their one reference is the
    MDL's). None for a frame not in use (on a list)."""
    if location != K.ACTIVE:
        return None
    if usage == K.USAGE_PAGE_TABLE:
        return 1
    if deleted:
        return 0
    if shares:
        return 1
    if pte_address:
        return 0
    return 0 if usage == K.USAGE_DRIVER else 1


def owner_note(usage, shares, deleted, pte_address):
    """Why the owner explains fewer references, in a word or two."""
    if deleted:
        return "PteDeleted: the owner freed it"
    if usage == K.USAGE_PAGE_TABLE or shares:
        return ""
    if usage == K.USAGE_IMAGE:
        return "trimmed: its prototype PTE in transition"
    if pte_address:
        return "trimmed: no valid PTE"
    return "MDL's own page" if usage == K.USAGE_DRIVER else ""


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
            stale = label == "MappedSystemVa" and va and not m.flags & (K.MDL_MAPPED_TO_SYSTEM_VA | K.MDL_SOURCE_IS_NONPAGED_POOL)
            print(f"  {label:<14} {va:#x}" + (f" ({where})" if where else "") +
                  ("   (left over: the MDL is not mapped now)" if stale else ""))
        print(f"  ByteOffset     {m.byte_offset} ({m.byte_offset:#x})" +
              ("" if m.byte_offset < K.PAGE_SIZE else "   BAD: not below PAGE_SIZE"))
        print(f"  ByteCount      {m.byte_count} ({m.byte_count:#x})")
        print(f"  state          {self.state(m)}")
        self.frames(m, proc, show_all)
        self.tracking(address)

    @staticmethod
    def state(m):
        f = m.flags
        if f & K.MDL_PARTIAL:
            own = " with a mapping of its own (IoFreeMdl -> MmPrepareMdlForReuse unmaps it)" \
                if f & K.MDL_PARTIAL_HAS_BEEN_MAPPED else ""
            return (f"partial: borrows its source MDL's frames (no references of its own){own}; "
                    f"undo: IoFreeMdl, before the source is unlocked")
        if f & K.MDL_SOURCE_IS_NONPAGED_POOL:
            return ("built for nonpaged pool: frames described, no references taken, MappedSystemVa is the "
                    "buffer itself; undo: nothing but IoFreeMdl (never MmUnlockPages)")
        if f & K.MDL_PAGES_LOCKED:
            mapped = " and mapped in system PTEs" if f & K.MDL_MAPPED_TO_SYSTEM_VA else ""
            if not m.start_va and not m.process and not f & K.MDL_ALLOCATED_FIXED_SIZE:
                return (f"frames allocated for it (MmAllocatePagesForMdlEx: each frame's one reference is the "
                        f"MDL's){mapped}; undo: MmFreePagesFromMdl (which unmaps first), then ExFreePool")
            undo = "MmUnlockPages (which unmaps first)" if f & K.MDL_MAPPED_TO_SYSTEM_VA else "MmUnlockPages"
            return f"locked (+1 ReferenceCount per frame){mapped}; undo: {undo}, then IoFreeMdl"
        if f & K.MDL_MAPPED_TO_SYSTEM_VA:
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
        system_va = (m.mapped_va & ~0xFFF) if m.flags & (K.MDL_MAPPED_TO_SYSTEM_VA | K.MDL_PARTIAL_HAS_BEEN_MAPPED) and \
            not m.flags & K.MDL_SOURCE_IS_NONPAGED_POOL and m.mapped_va >= USER_LIMIT else None
        shown = pfns if show_all else pfns[:self.LIMIT]
        with PhysicalMemory() as phys:
            reader = PteReader()
            rows = []
            for i, pfn in enumerate(shown):
                try:
                    buf = reader.pte(cr3, buffer_va + i * K.PAGE_SIZE, phys.active) if buffer_va is not None \
                        else "none"
                    sysp = reader.pte(cr3, system_va + i * K.PAGE_SIZE, phys.active) if system_va is not None \
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
                      ("" if m.flags & K.MDL_IO_SPACE else "; BAD: the MDL lacks MDL_IO_SPACE") + f")  "
                      f"{bufs:<12} {syss:<12}")
                continue
            e = db[pfn]
            loc, usage = int(e["PageLocation"]), int(e["Usage"])
            refs, shares, deleted = int(e["ReferenceCount"]), int(e["ShareCount"]), int(e["PteDeleted"])
            want = expected_references(loc, usage, shares, deleted, to_int(e["PteAddress"]))
            locks = "-" if want is None else str(refs - want)
            flags = " ".join(n for n, v in (("PteDeleted", deleted), ("Modified", int(e["Modified"]))) if v)
            print(f"    {i:>4} {pfn:>#10x}  {enum_name(K.LIST_SHORT, loc):<10} {refs:>4} {shares:>6} {locks:>5}  "
                  f"{enum_name(K.USAGE_NAMES, usage):<14} {bufs:<12} {syss:<12} {flags}")
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
        for name, site in zip(K.MDL_SITES, t["Site"]):
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
            print(f"  {pfn:>#10x}  {enum_name(K.LIST_SHORT, loc):<10} {refs:>4} {shares:>6} {want:>5} {locks:>5}  "
                  f"{enum_name(K.USAGE_NAMES, usage):<14} {held}{mark}{' [' + why + ']' if why else ''}")
        if mdls:
            print(f"  locked MDLs the verifier tracks{who}: {len(mdls)}")
            for m, pfns, t in mdls:
                locked_at, allocated_at = t["Site"][K.enum("MI_SITE_LOCK")], t["Site"][K.enum("MI_SITE_ALLOC")]
                site = locked_at or allocated_at
                how = ("locked" if locked_at else "allocated") + " by " + describe_site(site) if site else ""
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
                for j in (j for j, loc in enumerate(locs) if loc == K.ACTIVE):
                    b = j * size
                    refs = unpack_field(data, b, f["ReferenceCount"], 2)
                    shares = unpack_field(data, b, f["ShareCount"], 4)
                    usage = unpack_field(data, b, f["Usage"], 1)
                    deleted = unpack_field(data, b, f["PteDeleted"], 1)
                    pte = unpack_field(data, b, f["PteAddress"], 8)
                    want = expected_references(K.ACTIVE, usage, shares, deleted, pte)
                    if refs > want:
                        out[first + j] = (K.ACTIVE, refs, shares, want, usage, deleted, pte)
        return out, scanned
