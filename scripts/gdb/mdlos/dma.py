"""NT's DMA model: one scatter/gather list with what each element is
(sglist)."""
import gdb

from .common import Command, eval_int, lookup_type, to_int
from .mdl import MdlHeader

PAGE = 4096


def value_at(type_name, address):
    return gdb.Value(address).cast(lookup_type(type_name).pointer()).dereference()


def magic_of(text):
    """POOL_TAG('S','g','L','!') as the kernel computes it (little-endian chars)."""
    return int.from_bytes(text.encode(), "little")


class SgListCommand(Command):
    """Dump a scatter/gather list: each element's bus address and length,
    the frames it covers, and whether they are the MDL's own frames (zero
    copy) or map registers standing in for them (a bounce).

Usage: sglist ADDRESS
  ADDRESS  an expression: ScatterGather in an execution routine
           (PDRIVER_LIST_CONTROL: $rdx at its first instruction), the list a
           driver keeps for its request

The list (SCATTER_GATHER_LIST in io/dma.h): NumberOfElements, then each
element's Address and Length, where it ends and which page frames it
covers. While the list is out (between GetScatterGatherList or
BuildScatterGatherList and PutScatterGatherList), Reserved points at the I/O
manager's record (IOP_SG_PRIVATE in io/dmap.h): the direction, the MDL and
the CurrentVa/Length the list was made for, and the bounced pieces. Each
element is then labelled: `MDL frames` when every frame it covers is one of
the MDL chain's PFNs (the device reaches the buffer itself), `map register`
when it is a bounce page (a copy: the buffer's frame is out of the device's
reach), with the original frame it stands for."""

    def __init__(self):
        super().__init__("sglist", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        if not arg.strip():
            raise gdb.GdbError("usage: sglist ADDRESS")
        addr = eval_int(arg)
        sg = value_at("struct _SCATTER_GATHER_LIST", addr)
        n = int(sg["NumberOfElements"])
        if n > 4096:
            raise gdb.GdbError(f"sglist: {addr:#x} says {n} elements: not a scatter/gather list?")
        elem_size = lookup_type("struct _SCATTER_GATHER_ELEMENT").sizeof
        first = addr + lookup_type("struct _SCATTER_GATHER_LIST").sizeof
        elements = []
        for i in range(n):
            e = value_at("struct _SCATTER_GATHER_ELEMENT", first + i * elem_size)
            elements.append((int(e["Address"]["QuadPart"]) & (2 ** 64 - 1), int(e["Length"])))
        total = sum(length for _, length in elements)
        print(f"SCATTER_GATHER_LIST {addr:#x}: {n} element{'s' if n != 1 else ''}, {total:#x} bytes")

        # The I/O manager's record, if the list is out.
        mdl_pfns, bounces, record = set(), {}, None
        priv = to_int(sg["Reserved"])
        if priv:
            try:
                p = value_at("struct _IOP_SG_PRIVATE", priv)
                if int(p["Magic"]) == magic_of("SgL!"):
                    record = p
            except gdb.error:
                record = None
        if record is not None:
            mdl = to_int(record["Mdl"])
            direction = "to the device (write)" if int(record["WriteToDevice"]) else "from the device (read)"
            print(f"  record {priv:#x}: {direction}, MDL {mdl:#x}, CurrentVa {to_int(record['CurrentVa']):#x}, "
                  f"Length {int(record['Length']):#x}, map registers {int(record['MapRegisters'])}"
                  f"{', waiting for map registers' if int(record['Queued']) else ''}")
            seen = 0
            while mdl and seen < 64:
                h = MdlHeader(mdl)
                mdl_pfns.update(h.pfns())
                mdl, seen = h.next, seen + 1
            adapter = to_int(record["Adapter"])
            try:
                a = value_at("struct _IOP_DMA_ADAPTER", adapter)
                regs_mdl = to_int(a["MapRegisterMdl"])
                if regs_mdl:
                    reg_pfns = MdlHeader(regs_mdl).pfns()
                else:
                    reg_pfns = []
            except gdb.error:
                reg_pfns = []
            b_type = lookup_type("struct _IOP_SG_BOUNCE")
            count = int(record["MapRegisters"])
            base = priv + lookup_type("struct _IOP_SG_PRIVATE").sizeof
            for k in range(min(count, 1024)):
                b = value_at("struct _IOP_SG_BOUNCE", base + k * b_type.sizeof)
                reg = int(b["MapRegister"])
                if reg < len(reg_pfns):
                    bounces[reg_pfns[reg]] = (int(b["Pfn"]), int(b["Offset"]), int(b["Length"]))
        for i, (address, length) in enumerate(elements):
            frames = list(range(address // PAGE, (address + length + PAGE - 1) // PAGE)) if length else []
            label = ""
            if record is not None:
                if frames and all(f in bounces for f in frames):
                    orig = bounces[frames[0]]
                    label = f"  map register (bounce of pfn {orig[0]:#x} +{orig[1]:#x})"
                elif frames and all(f in mdl_pfns for f in frames):
                    label = "  MDL frames"
                else:
                    label = "  NOT the MDL's frames"
            shown = ", ".join(f"{f:#x}" for f in frames[:6]) + (" ..." if len(frames) > 6 else "")
            print(f"  [{i}] {address:#014x} + {length:#x} -> {address + length:#014x}  pfn [{shown}]{label}")
