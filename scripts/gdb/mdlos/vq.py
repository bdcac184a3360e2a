"""The virtio-blk driver's split virtqueue (drivers/virtio/vblk.h): `vq`.
It reads the driver's VB_DISK (VblkDisks[]) and the ring in the common
buffer through the kernel's DWARF: the indices both sides keep, every
request the driver has handed out with its IRP and its chain of
descriptors (an indirect table followed), and the IRPs still waiting."""
import gdb

from .common import Command, eval_int, kernel_value, to_int
from .io import object_name

DESC_F = ((1, "NEXT"), (2, "WRITE"), (4, "INDIRECT"))
TYPES = {0: "IN", 1: "OUT", 4: "FLUSH", 8: "GET_ID"}
FEATURES = ((2, "SEG_MAX"), (6, "BLK_SIZE"), (9, "FLUSH"), (28, "INDIRECT_DESC"), (29, "EVENT_IDX"),
            (32, "VERSION_1"))
IND_ENTRIES_FALLBACK = 131   # VB_IND_ENTRIES in vblk.h, if the DWARF cannot say


def desc_flags(f):
    names = [n for bit, n in DESC_F if f & bit]
    return "|".join(names) if names else "-"


def u(v):
    return int(v) & (2 ** 64 - 1)


def ind_entries(x):
    """VB_IND_ENTRIES: a #define, so from the table's size per head."""
    q = int(x["QueueSize"])
    n = int(x["IndBytes"])
    if q and n:
        # IndBytes = ROUND_TO_PAGES(q * entries * 16): the largest entries that fits.
        for e in range(n // (16 * q), 0, -1):
            if (q * e * 16 + 4095) // 4096 * 4096 == n:
                return e
    return IND_ENTRIES_FALLBACK


def chain(x, head, indirect, slots_pa):
    """The descriptor lines of the chain at HEAD."""
    out = []
    desc = x["Desc"]
    q = int(x["QueueSize"])
    d = desc[head]
    flags = int(d["Flags"])
    if indirect or flags & 4:
        out.append("      desc[%u] %#014x len %#x %s -> indirect table of %u" % (
            head, u(d["Addr"]), int(d["Len"]), desc_flags(flags), int(d["Len"]) // 16))
        table_pa = u(d["Addr"])
        base_pa = u(x["IndPa"]["QuadPart"])
        k = (table_pa - base_pa) // 16
        t = x["Ind"]
        for i in range(min(int(d["Len"]) // 16, 512)):
            e = t[k + i]
            out.append("        [%u] %#014x len %#x %s%s%s" % (
                i, u(e["Addr"]), int(e["Len"]), desc_flags(int(e["Flags"])),
                " next %u" % int(e["Next"]) if int(e["Flags"]) & 1 else "", label(u(e["Addr"]), slots_pa, head)))
        return out
    seen = 0
    i = head
    while seen < q:
        d = desc[i]
        flags = int(d["Flags"])
        out.append("      desc[%u] %#014x len %#x %s%s%s" % (
            i, u(d["Addr"]), int(d["Len"]), desc_flags(flags), " next %u" % int(d["Next"]) if flags & 1 else "",
            label(u(d["Addr"]), slots_pa, head)))
        seen += 1
        if not flags & 1:
            break
        i = int(d["Next"])
    return out


def label(addr, slots_pa, head):
    slot = slots_pa + head * 32
    if addr == slot:
        return "  (header)"
    if addr == slot + 16:
        return "  (status byte)"
    return ""


def show_disk(i, x):
    dev = to_int(x["Device"])
    name = object_name(dev) or "(unnamed)"
    feats = u(x["Features"])
    q = int(x["QueueSize"])
    indirect = bool(int(x["Indirect"]))
    print("vblk disk %u: %s  VB_DISK %#x  device %#x" % (i, name, to_int(x.address), dev))
    print("  features %#x (%s)  %s  queue %u  seg_max %u  elements per sub-request %u" % (
        feats, " ".join(n for bit, n in FEATURES if feats >> bit & 1), "MSI-X" if int(x["Msix"]) else "INTx",
        q, int(x["SegMax"]), int(x["SegLimit"])))
    ring_pa = u(x["RingPa"]["QuadPart"])
    print("  ring %#x (pa %#x, %u bytes)%s" % (to_int(x["Ring"]), ring_pa, int(x["RingBytes"]),
                                               "  indirect tables pa %#x (%u bytes, %u entries each)" % (
                                                   u(x["IndPa"]["QuadPart"]), int(x["IndBytes"]), ind_entries(x))
                                               if indirect else ""))
    avail = x["Avail"]
    used = x["Used"]
    a_idx, u_idx = int(avail[1]), int(used[1])
    print("  avail.idx %u (driver's %u)  used.idx %u  driver has seen up to %u  used.flags %#x%s" % (
        a_idx, int(x["AvailIdx"]), u_idx, int(x["LastUsed"]), int(used[0]),
        "" if a_idx == int(x["AvailIdx"]) else "  (published index differs!)"))
    st = x["Stats"]
    print("  descriptors free %u, unreserved %u; on the device %u (most %u); requests %u, sub-requests %u "
          "(%u indirect), interrupts %u, DPCs %u, notifies %u" % (
              int(x["FreeCount"]), int(x["Unreserved"]), int(st["InFlight"]), int(st["MaxInFlight"]),
              u(st["Requests"]), u(st["SubRequests"]), u(st["Indirect"]), u(st["Interrupts"]), u(st["Dpcs"]),
              u(st["Notifies"])))
    if u_idx != int(x["LastUsed"]):
        ents = []
        k = int(x["LastUsed"])
        while k != u_idx and len(ents) < q:
            base = used.cast(gdb.lookup_type("unsigned int").pointer()) + 1   # past flags and idx (2 x u16)
            ents.append("{id %u, len %u}" % (int(base[2 * (k % q)]), int(base[2 * (k % q) + 1])))
            k = (k + 1) & 0xFFFF
        print("  used ring, not yet seen by the DPC: " + " ".join(ents))
    slots_pa = u(x["SlotsPa"])
    subs = x["Subs"]
    n = 0
    for h in range(q):
        s = subs[h]
        req = to_int(s["Req"])
        if not req:
            continue
        n += 1
        r = s["Req"].dereference()
        irp = to_int(r["Irp"])
        slot = x["Slots"][h]
        t = int(slot["Type"])
        print("  head %u: %s IRP %#x  %s sector %u  bytes %#x at +%#x of %#x  status %#x  %s" % (
            h, "on the device" if int(s["OnDevice"]) else "being built", irp, TYPES.get(t, "type %u" % t),
            u(slot["Sector"]), int(s["Chunk"]), int(s["Offset"]), int(r["Length"]), int(slot["Status"]),
            "%u ring descriptor%s" % (int(s["Descriptors"]), "" if int(s["Descriptors"]) == 1 else "s")))
        # IRPs merged behind it into this one device request (a plugged
        # batch's adjacent requests: docs/io.md section 10, "Merging").
        m, k = to_int(s["Members"]), 0
        while m and k < 1024:
            mem = gdb.Value(m).cast(gdb.lookup_type("struct _VB_MEMBER").pointer()).dereference()
            mr = mem["Req"].dereference()
            print("    + merged IRP %#x  bytes %#x at sector %u, its own list %#x" % (
                to_int(mr["Irp"]), int(mr["Length"]), to_int(mr["Offset"]) // 512, to_int(mem["Sg"])))
            m, k = to_int(mem["Next"]), k + 1
        if int(s["OnDevice"]):
            for line in chain(x, h, bool(int(s["Indirect"])), slots_pa):
                print(line)
    print("  %u sub-request%s handed out" % (n, "" if n == 1 else "s"))
    waiting = x["Waiting"]
    head = to_int(waiting.address)
    e = to_int(waiting["Flink"])
    w = 0
    while e and e != head and w < 1024:
        r = gdb.Value(e).cast(gdb.lookup_type("struct _VB_REQ").pointer()).dereference()
        print("  waiting: IRP %#x  %s of %#x bytes, %#x handed out" % (
            to_int(r["Irp"]), TYPES.get(int(r["Type"]), str(int(r["Type"]))), int(r["Length"]), int(r["Issued"])))
        e = to_int(r["Link"]["Flink"])
        w += 1


class VqCommand(Command):
    """Show the virtio-blk driver's virtqueue (drivers/virtio/vblk.h).

Usage: vq [N | ADDRESS]
  N        one disk, VblkDisks[N] (0 = \\Device\\Harddisk0\\DR0)
  ADDRESS  a VB_DISK (a disk device's DeviceExtension)
  (none)   every disk

For each disk: the features taken, the ring's place in memory, the
available index (published; the driver's copy) and the used index (the
device's; how far the DPC has read), free and unreserved descriptors, what
is on the device; the used entries the DPC has not yet seen; then each
sub-request the driver has handed out, by its head descriptor: on the
device or still being built, its IRP, the header's type and sector, its
bytes and where they lie in the IRP, the status byte (0xff until the
device writes it), and its descriptors - the ring's chain, or the one
INDIRECT descriptor and the table it points at (header, the data
descriptors = the scatter/gather list's elements, WRITE for a read, and
the status byte), with the IRPs merged into it ("+ merged IRP": a plugged
batch's adjacent requests, whose elements follow in the table); last, the
IRPs waiting in the driver for descriptors."""

    def __init__(self):
        super().__init__("vq", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        arg = arg.strip()
        disks = kernel_value("VblkDisks")
        count = int(kernel_value("VblkDiskCount"))
        if arg:
            v = eval_int(arg)
            if v < 16:
                p = to_int(disks[v])
                if not p:
                    raise gdb.GdbError("vq: VblkDisks[%u] is empty" % v)
                show_disk(v, disks[v].dereference())
                return
            show_disk(-1, gdb.Value(v).cast(gdb.lookup_type("struct _VB_DISK").pointer()).dereference())
            return
        shown = 0
        for i in range(int(disks.type.range()[1]) + 1):
            if to_int(disks[i]):
                show_disk(i, disks[i].dereference())
                shown += 1
        if not shown:
            print("vq: no virtio-blk disk (VblkDiskCount %u)" % count)
