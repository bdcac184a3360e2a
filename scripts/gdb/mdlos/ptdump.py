"""ptdump: the whole page-table tree of an address space, like xv6's
vmprint, in the format the page-table lab's MiLabPrintDumpEntry prints
(mm/lab/pgtbl.c), so the two can be compared line for line."""
import gdb

from .common import K, USER_LIMIT, Command, current_cr3, sign_extend
from .pagetable import with_page_tables

USER_TOP = USER_LIMIT - 1


def dump_lines(tables, cr3, start, end):
    """One line per present entry covering part of [START, END], depth
    first in address order; the self-map slot is listed, never entered."""
    out = []
    dots = ["", ".. ", ".. .. ", ".. .. .. "]

    def visit(table, level, base):
        span = 1 << (39 - 9 * level)
        entries = tables.table(table)
        for i in range(512):
            va = base + i * span
            if level == 0:
                va = sign_extend(va)
            if va + span - 1 < start or va > end:
                continue
            e = entries[i]
            if not e & 1:
                continue
            leaf = level == 3 or (level in (1, 2) and e & 0x80)
            pa = e & K.PFN_MASK & (~(span - 1) if leaf else ~0)
            line = f"{dots[level]}..{i:#05x}: pte {e:#018x} pa {pa:#x}"
            if leaf:
                line += f" va {va:#x}" + {1: " 1G", 2: " 2M"}.get(level, "")
            out.append(line)
            if not leaf and not (level == 0 and i == K.SELFMAP_INDEX):
                visit(e & K.PFN_MASK, level + 1, va)
    visit(cr3 & K.PFN_MASK, 0, 0)
    return out


class PtdumpCommand(Command):
    """Print an address space's page tables as a tree, like xv6's vmprint.

Usage: ptdump [PROCESS | CR3] [-k | -a]
  PROCESS  an image name (init), a pid or an EPROCESS address (see `ps`);
           or a CR3 value (a bare address space of a test); default: the
           address space in $cr3
  -k       the kernel half (0xffff800000000000 and up) instead of the user half
  -a       both halves

One line per present entry, depth first in address order, indented by
level (PML4, PDPT, PD, PT):
  ..0x000: pte 0x0000000000cb3067 pa 0xcb3000
  .. ..0x000: pte ... pa ...
  .. .. .. ..0x010: pte 0x8000000000cb6067 pa 0xcb6000 va 0x10000
A leaf (a PTE, or a 2 MiB / 1 GiB page, marked 2M / 1G) ends with the VA
it maps. The self-map slot 0x1ed is listed but not entered. The tables
are read in physical memory; `pt VA` decodes one walk in detail. The page-
table lab's dump (docs/labs/pgtbl.md) prints exactly these lines after
"pgtbl: "."""

    def __init__(self):
        super().__init__("ptdump", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        from . import process
        argv = gdb.string_to_argv(arg)
        flags = [a for a in argv if a.startswith("-")]
        rest = [a for a in argv if not a.startswith("-")]
        if len(rest) > 1 or any(f not in ("-k", "-a") for f in flags):
            raise gdb.GdbError("usage: ptdump [PROCESS | CR3] [-k | -a]")
        owner = None
        if rest:
            owner, cr3 = process.resolve_address_space(rest[0])
        else:
            cr3 = current_cr3()
        if owner is None:
            owner = process.process_of_cr3_quiet(cr3)
        start, end = 0, USER_TOP
        if "-k" in flags:
            start, end = 0xFFFF800000000000, (1 << 64) - 1
        elif "-a" in flags:
            start, end = 0, (1 << 64) - 1
        lines = with_page_tables(lambda t: dump_lines(t, cr3, start, end))
        whose = f" ({owner.describe()})" if owner else ""
        print(f"page table {cr3 & K.PFN_MASK:#x}{whose}")
        for line in lines:
            print(line)
