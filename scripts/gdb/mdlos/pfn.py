"""The PFN database: one entry (pfn) and the whole database summed up (pfnstats)."""
import re
import struct

import gdb

from .common import (K, USER_LIMIT, MI_COMMIT_RESERVE_PAGES, Command, PhysicalMemory, enum_name, eval_int,
                     kernel_value, pfn_layout, ram_ranges, read_u64_virtual, read_virtual, to_int)
from .pagetable import (decode_not_present, describe_prototype_pte, describe_prototype_value, is_transition,
                        va_mapped_by_pte)


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
        print(f"PFN {pfn:#x}: state={enum_name(K.LIST_SHORT, loc)} refs={refs} shares={shares} "
              f"usage={enum_name(K.USAGE_NAMES, usage)}")
        print(f"  frame          physical {pfn << K.PAGE_SHIFT:#x}-{(pfn << K.PAGE_SHIFT) + K.PAGE_SIZE - 1:#x}, "
              f"entry at {to_int(e.address):#x}")
        print(f"  PageLocation   {loc} {enum_name(K.LIST_ENUM, loc)}")
        print(f"  Usage          {usage} {enum_name(K.USAGE_NAMES, usage)}")
        print(f"  ReferenceCount {refs}   (1 while mapped or owned, +1 per MDL lock or I/O)")
        print(f"  ShareCount     {shares}   (valid PTEs mapping it; for a page table, entries in use)")
        flink, blink = int(e["Flink"]), int(e["Blink"])

        def link(x):
            return "end" if x == K.PFN_LIST_END else f"{x:#x}"
        note = "" if loc <= K.enum("BadPageList") else "   (not on a list: stale)"
        print(f"  Flink/Blink    {link(flink)} / {link(blink)}{note}")
        pte = to_int(e["PteAddress"])
        if pte:
            line = f"  PteAddress     {pte:#x}"
            if K.PTE_BASE <= pte < K.PTE_BASE + (1 << 39):
                line += f" -> maps VA {va_mapped_by_pte(pte):#x}"
            frame = int(e["PteFrame"])
            user = K.PTE_BASE <= pte < K.PTE_BASE + (USER_LIMIT >> 9)
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
                        now = struct.unpack("<Q", read_virtual((frame << K.PAGE_SHIFT) | (pte & 0xFFF), 8))[0]
                    where = f", read in its page table PFN {frame:#x}"
                else:
                    now = read_u64_virtual(pte)
                    where = ""
                if line is not None:
                    points = (now & 1 or is_transition(now)) and (now & K.PFN_MASK) >> K.PAGE_SHIFT == pfn
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
        if not int(e["PrototypePte"]) and not orig & 1 and orig >> 32 and not orig & 0xC00:
            low, high = (orig >> 1) & 0xF, orig >> 32
            print(f"  pagefile copy  paging file {low}, slot {high:#x} (`pagefile {low} {high:#x}`): "
                  f"the page's contents are there, so the frame may be repurposed")
        if int(e["ReadInProgress"]) or int(e["WriteInProgress"]):
            print(f"  paging I/O     {'ReadInProgress: a hard fault is reading it in (Blink = its in-page block)' if int(e['ReadInProgress']) else 'WriteInProgress: the modified page writer is writing it out'}")
        print(f"  Modified {int(e['Modified'])}  PteDeleted {int(e['PteDeleted'])}  "
              f"CacheAttribute {int(e['CacheAttribute'])}  PrototypePte {int(e['PrototypePte'])}"
              + ("   (a shared image frame: process PTEs map it, its prototype PTE owns it)"
                 if int(e['PrototypePte']) else ""))


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
        heads = {K.enum(e): h for e, h in (("ZeroedPageList", "MmZeroedPageListHead"),
                                           ("FreePageList", "MmFreePageListHead"),
                                           ("StandbyPageList", "MmStandbyPageListHead"),
                                           ("ModifiedPageList", "MmModifiedPageListHead"),
                                           ("BadPageList", "MmBadPageListHead"))}
        for loc in range(len(K.LIST_ENUM)):
            head = heads.get(loc)
            if head:
                t = int(kernel_value(head)["Total"])
                mark = "" if t == per_loc[loc] else "  MISMATCH"
                print(f"  {K.LIST_SHORT[loc]:<16} {t:>10} {per_loc[loc]:>8}{mark}")
            else:
                print(f"  {K.LIST_SHORT[loc]:<16} {'-':>10} {per_loc[loc]:>8}")
        bad = sum(c for loc, c in enumerate(per_loc) if loc >= len(K.LIST_ENUM))
        if bad:
            print(f"  {'invalid location':<16} {'-':>10} {bad:>8}  MISMATCH")
        print("Frames by usage:")
        print(f"  {'usage':<14} {'in use':>8} {'standby':>8} {'modified':>8}")
        usages = sorted({u for (_, u) in counts})
        active, transition, standby, modified, nowrite = (K.enum(n) for n in (
            "ActiveAndValid", "TransitionPage", "StandbyPageList", "ModifiedPageList", "ModifiedNoWritePageList"))
        for u in usages:
            inuse = sum(c for (l, uu), c in counts.items() if uu == u and l in (active, transition))
            sb = counts.get((standby, u), 0)
            md = counts.get((modified, u), 0) + counts.get((nowrite, u), 0)
            if inuse or sb or md:
                print(f"  {enum_name(K.USAGE_NAMES, u):<14} {inuse:>8} {sb:>8} {md:>8}")
        print(f"  {'(all)':<14} {per_loc[active] + per_loc[transition]:>8} {per_loc[standby]:>8} {per_loc[modified] + per_loc[nowrite]:>8}")
        # Commit (mm/commit.c): the limit is the same formula MiCommitLimit uses.
        try:
            charge = int(kernel_value("MmTotalCommittedPages"))
            peak = int(kernel_value("MmPeakCommitment"))
            tables = int(kernel_value("MiUserPageTables"))
            cnt = kernel_value("MiUsageCount")
            backed = int(cnt[K.enum("MiUsageUser")]) - int(kernel_value("MiStandbyUserPages")) + \
                int(cnt[K.enum("MiUsageImage")]) + tables
            reserve = MI_COMMIT_RESERVE_PAGES
            slots = int(kernel_value("MiPageFileTotalSlots")) - int(kernel_value("MiPageFileSystemSlots"))
            limit = max(0, charge + avail - reserve - max(0, charge - backed) + slots)
            print(f"Commit: {charge} pages charged (MmTotalCommittedPages), limit {limit}, peak {peak}; "
                  f"{tables} user page tables")
        except gdb.error:
            pass


class PfnListCommand(Command):
    """Walk one page list (an MMPFNLIST: the kernel's or a lab's) frame by frame.

Usage: pfnlist LIST [MAX]
       LIST: an expression of type MMPFNLIST or a pointer to one -
             MmStandbyPageListHead, &MmFreePageListHead,
             ((MI_LAB_PAGE_LISTS *)$rdi)->Free, Lists->Modified (-g build)
       MAX:  how many frames to show (default 64; 0: all)

The head first (its ListName, Total, Flink = head, Blink = tail), then
one line per frame from the head along Flink: its PFN, PageLocation,
reference and share counts, Modified and PteDeleted, and its Blink. Each
line says what is wrong with it, as the invariant checker would:
"BACK LINK" (Blink is not the frame before), "LOCATION" (PageLocation is
not the list's name), "REFERENCED" (a frame on a list has a reference or
a share). The walk stops at a link to a frame that is not RAM ("NOT RAM",
never read) or to a frame seen already ("CYCLE"). At the end: the frames
walked against Total, and the last frame against the head's Blink
("MISMATCH" when they differ)."""

    def __init__(self):
        super().__init__("pfnlist", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        # LIST may hold spaces (a cast): MAX is the last word when it is a number.
        words = arg.strip().rsplit(None, 1)
        if not words:
            raise gdb.GdbError("usage: pfnlist LIST [MAX]")
        if len(words) == 2 and re.fullmatch(r"0[xX][0-9a-fA-F]+|\d+", words[1]):
            args = words
        else:
            args = [arg.strip()]
        head = gdb.parse_and_eval(args[0])
        if head.type.strip_typedefs().code == gdb.TYPE_CODE_PTR:
            head = head.dereference()
        names = {f.name for f in head.type.strip_typedefs().fields()}
        if not {"Total", "ListName", "Flink", "Blink"} <= names:
            raise gdb.GdbError(f"{args[0]} is a {head.type}, not an MMPFNLIST (Total, ListName, Flink, Blink)")
        limit = eval_int(args[1]) if len(args) > 1 else 64
        end = K.PFN_LIST_END
        name = int(head["ListName"])
        total, first, last = int(head["Total"]), int(head["Flink"]), int(head["Blink"])

        def link(x):
            return "end" if x == end else f"{x:#x}"
        print(f"{enum_name(K.LIST_ENUM, name)} (ListName {name}): Total {total}, "
              f"Flink (head) {link(first)}, Blink (tail) {link(last)}")
        ranges = ram_ranges()
        db = kernel_value("MmPfnDatabase")
        seen, prev, n, pfn, stopped = set(), end, 0, first, None
        while pfn != end:
            if not any(s <= pfn < e for s, e in ranges):
                stopped = f"  -> {pfn:#x}: NOT RAM, a wild link (not followed)"
                break
            if pfn in seen:
                stopped = f"  -> {pfn:#x}: CYCLE, reached a second time (the walk stops)"
                break
            seen.add(pfn)
            e = db[pfn]
            loc, refs, shares = int(e["PageLocation"]), int(e["ReferenceCount"]), int(e["ShareCount"])
            blink = int(e["Blink"])
            bad = []
            if blink != prev:
                bad.append(f"BACK LINK: Blink {link(blink)}, the frame before is {link(prev)}")
            if loc != name:
                bad.append(f"LOCATION: says {enum_name(K.LIST_SHORT, loc)}")
            if refs or shares:
                bad.append("REFERENCED")
            if limit == 0 or n < limit:
                print(f"  [{n}] PFN {pfn:#x} {enum_name(K.LIST_SHORT, loc)} refs={refs} shares={shares} "
                      f"M={int(e['Modified'])} D={int(e['PteDeleted'])} Blink {link(blink)}"
                      + ("   " + "; ".join(bad) if bad else ""))
            elif n == limit:
                print(f"  ... (more; `pfnlist {args[0]} 0` shows every frame)")
            prev, n, pfn = pfn, n + 1, int(e["Flink"])
        if stopped:
            print(stopped)
        count = "" if n == total else "  MISMATCH"
        tail = "" if stopped or prev == last else f"; the last frame is {link(prev)} but Blink says {link(last)}  MISMATCH"
        print(f"walked {n} frames{' before stopping' if stopped else ''}; Total says {total}{count}{tail}")
