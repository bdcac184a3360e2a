"""mdlos memory-manager, process and MDL commands for GDB (loaded by scripts/gdb/gdbinit).

  pt VA [CR3|PROC]  walk the page tables for VA in physical memory, level by level
  ptdump [PROC]     the whole page-table tree, like xv6's vmprint (-k kernel half)
  pfn N             one PFN database entry, decoded
  pfnstats          the page lists, and what every frame of RAM is used for
  pfnlist LIST [MAX]  walk one page list (MMPFNLIST: the kernel's or a lab's),
                    checking each frame's back link, location and counts
  pool [TAG]        pool statistics and the pool tag table
  memmap [VA]       the kernel's address map (and which region holds VA)
  ps                every process and every thread
  vad [PROC]        a process's VADs (default: the process whose CR3 is current)
  ws [-a] [PROC]    a process's working set, each page with its PTE and PFN entry
  mdl [-a] ADDR     an MDL: fields, flags, frames with their PFN entries, the verifier's record
  locked [PROC]     frames locked by MDLs, and (with verifier=1) the MDLs holding them
  obj ADDR          an object: its header (type, references, handles, name) and its type's state
  handles [PROC]    a process's handle table
  irp ADDR          an IRP: every stack location (current marked), completion routines, MDL chain
  devobj ADDR       a device object and its device stack
  drvobj ADDR       a driver object: dispatch table and devices
  sglist ADDR       a scatter/gather list: elements, frames, MDL frame or bounce
  pci               the PCI functions the bus driver found: BARs, interrupts, capabilities, driver
  pagefile [N SLOT] the paging files, slots in use, the writer's counters; a file's bitmap around a slot
  vq [N|ADDR]       the virtio-blk virtqueue: indices, requests in flight with their IRPs, descriptors
  mdlos             this list

The modules (README.md says which holds what): common (memory reads,
types, the kernel's constants read from its DWARF, formatting),
pagetable (pt, memmap), pfn (pfn, pfnstats), pool (pool), process (ps,
vad, ws), mdl (mdl, locked), ob (obj, handles), io (irp, devobj, drvobj),
pci (pci), paging (pagefile), vq (vq). They read the kernel's own structures by
name, so the kernel's symbols must be loaded (`file build/kernel.elf`).
Python 3 standard library only.
"""
import gdb

from .common import Command
from .dma import SgListCommand
from .io import DevobjCommand, DrvobjCommand, IrpCommand
from .mdl import LockedCommand, MdlCommand
from .ob import HandlesCommand, ObjCommand
from .pagetable import MemmapCommand, PtCommand
from .paging import PagefileCommand
from .pci import PciCommand
from .pfn import PfnCommand, PfnListCommand, PfnStatsCommand
from .ptdump import PtdumpCommand
from .pool import PoolCommand
from .process import PsCommand, VadCommand, WsCommand
from .vq import VqCommand


class MdlosCommand(Command):
    """mdlos memory-manager and process commands (the scripts/gdb/mdlos package).

  pt VA [CR3|PROC]  walk the page tables for VA in physical memory, level by level
  ptdump [PROC] [-k|-a]  every present entry of an address space's tables, as a
                    tree (xv6's vmprint; the page-table lab prints the same lines)
  pfn N             one PFN database entry (MmPfnDatabase[N]), decoded
  pfnstats          the page lists, and what every frame of RAM is used for
  pfnlist LIST [MAX]  walk one page list (MMPFNLIST: the kernel's or a lab's),
                    checking each frame's back link, location and counts
  pool [TAG]        pool statistics and the pool tag table
  memmap [VA]       the kernel's address map (and which region holds VA)
  ps                every process (EPROCESS) and every thread (KTHREAD)
  vad [PROC]        a process's VADs, with what their PTEs hold
  ws [-a] [PROC]    a process's working set: each page's PTE and PFN entry
  mdl [-a] ADDR     an MDL (struct _MDL): fields, MdlFlags by name, each frame's
                    PFN entry, and who allocated/locked/mapped it (verifier=1)
  locked [PROC]     frames whose ReferenceCount their mappings do not explain
                    (MDL locks), with the tracked MDLs holding them
  obj ADDR          an object (OBJECT_HEADER before the body): type, counts, flags,
                    name, and its type's state (event, process, link, device, file)
  handles [PROC]    a process's handle table: value, object, access, type, name
  irp ADDR          an IRP (struct _IRP): flags, every stack location with its
                    device and completion routine (current one marked), MDL chain
  devobj ADDR       a device object and the device stack it is in
  drvobj ADDR       a driver object: its MajorFunction table and devices
  sglist ADDR       a scatter/gather list (io/dma.h): each element's bus address
                    and length, its frames, whether they are the MDL's or map
                    registers (a bounce)
  pci               the PCI bus driver's table (PciDevices[]): IDs, BARs, interrupt
                    pin/line, capabilities, MSI-X, virtio cfg_types, driver
  pagefile [N SLOT] the paging files (MmPagingFile[]): slots in use, the modified
                    page writer's and the hard faults' counters; with N SLOT, file
                    N's bitmap around SLOT and where that slot is on the disk
  vq [N|ADDR]       the virtio-blk driver's virtqueue (VblkDisks[N]): available and
                    used indices, each request handed out with its IRP, header,
                    status byte and descriptors (indirect tables followed), the
                    IRPs waiting for descriptors

PROC: an image name (init), a pid (4) or an EPROCESS address; default: the
process whose address space is in CR3. `help COMMAND` for each. They need
the kernel's symbols (file build/kernel.elf)."""

    def __init__(self):
        super().__init__("mdlos", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        print(self.__doc__)


def register():
    """Create every command (GDB keeps them); called once, at import."""
    for command in (MdlosCommand, MdlCommand, LockedCommand, PsCommand, VadCommand, WsCommand, PtCommand,
                    PfnCommand, PfnStatsCommand, PfnListCommand, PoolCommand, MemmapCommand, ObjCommand,
                    HandlesCommand, IrpCommand, DevobjCommand, DrvobjCommand, PciCommand, SgListCommand,
                    PagefileCommand, VqCommand, PtdumpCommand):
        command()


register()
