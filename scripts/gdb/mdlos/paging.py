"""The paging files (mm/pagefile.c) and the modified page writer's counters (mm/mpw.c): pagefile."""
import gdb

from .common import K, Command, c_string, eval_int, kernel_value, to_int


def paging_files():
    """(index, MMPAGING_FILE value) for each paging file in MmPagingFile[]."""
    files = kernel_value("MmPagingFile")
    out = []
    for k in range(16):
        p = to_int(files[k])
        if p:
            out.append((k, files[k].dereference()))
    return out


def slot_used(f, slot):
    word = int(f["Bitmap"][slot // 64]) & (2 ** 64 - 1)
    return (word >> (slot % 64)) & 1


class PagefileCommand(Command):
    """The paging files: slots used, and the bitmap around a slot.

Usage: pagefile               every paging file (MmPagingFile[]), the counters
       pagefile N SLOT        file N's bitmap around SLOT (one character a slot:
                              # in use, . free), and where SLOT is on the disk

A pagefile PTE (MMPTE_SOFTWARE, `pt` decodes it) names a file
(PageFileLow) and a slot (PageFileHigh, never 0: slot 0 of every file is
kept unused so that 0 means "not in a file"); slot S of file N is at byte
BaseOffset + S * 4096 of the disk. The counters: slots in use (all files,
and how many hold paged pool), pages written by the modified page writer
and in how many clusters (by size), in-page reads (hard faults), collided
faults, and pages in paging I/O now."""

    def __init__(self):
        super().__init__("pagefile", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        args = arg.split()
        files = paging_files()
        if args:
            if len(args) != 2:
                raise gdb.GdbError("usage: pagefile [N SLOT]")
            n, slot = eval_int(args[0]), eval_int(args[1])
            f = dict(files).get(n)
            if f is None:
                raise gdb.GdbError(f"no paging file {n}")
            size = int(f["Size"])
            if not 0 <= slot < size:
                raise gdb.GdbError(f"slot {slot:#x} is past the end of file {n} ({size} slots)")
            first = max(0, slot - 32) // 64 * 64
            last = min(size, first + 128)
            print(f"paging file {n} ({c_string(f['Name'])}): slot {slot:#x} is "
                  f"{'in use' if slot_used(f, slot) else 'free'}, at disk byte "
                  f"{int(f['BaseOffset']) + slot * K.PAGE_SIZE:#x} (sector {(int(f['BaseOffset']) + slot * K.PAGE_SIZE) // 512})")
            for row in range(first, last, 64):
                bits = "".join("#" if slot_used(f, s) else "." for s in range(row, min(last, row + 64)))
                mark = "" if not row <= slot < row + 64 else "   <- slot %#x at column %d" % (slot, slot - row)
                print(f"  {row:#8x} {bits}{mark}")
            return
        if not files:
            print("no paging file (boot with pagefile=Harddisk1)")
        for k, f in files:
            size, free = int(f["Size"]), int(f["FreeSpace"])
            print(f"paging file {k}: {c_string(f['Name'])}, {size} slots ({size * 4} KiB) from disk byte "
                  f"{int(f['BaseOffset']):#x}; {size - 1 - free} in use, {free} free, next-fit hint {int(f['Hint']):#x}; "
                  f"bitmap at {to_int(f['Bitmap']):#x}")
        val = lambda name: int(kernel_value(name))
        print(f"slots in use {val('MiPageFileSlotsInUse')} of {val('MiPageFileTotalSlots')} "
              f"({val('MiPageFileSystemSlots')} hold paged pool); {val('MiPagesInFlight')} pages in paging I/O now")
        sizes = kernel_value("MiMpwClusterSizes")
        hist = ", ".join(f"{i}x{int(sizes[i])}" for i in range(1, 17) if int(sizes[i]))
        print(f"modified page writer: {val('MiMpwPagesWritten')} pages written in {val('MiMpwClusters')} clusters "
              f"({hist or 'none'}), {val('MiMpwWriteErrors')} failed, {val('MiMpwRewrites')} pages to write again")
        print(f"in-page reads {val('MiInPageReads')} ({val('MiInPageErrors')} failed, {val('MiInPagePrefetched')} "
              f"pages read ahead, clusters up to {val('MiReadClusterPages')}), collided faults "
              f"{val('MiCollidedFaults')}; standby {int(kernel_value('MmStandbyPageListHead')['Total'])}, "
              f"modified {int(kernel_value('MmModifiedPageListHead')['Total'])}")
