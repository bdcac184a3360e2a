"""The I/O manager: one IRP with every stack location and its MDL chain
(irp), a device object and the stack it belongs to (devobj), a driver
object with its dispatch table and devices (drvobj)."""
import gdb

from .common import Command, eval_int, lookup_type, read_virtual, symbolize, to_int, enumerators
from .mdl import MdlHeader, mdl_flag_names


def value_at(type_name, address):
    return gdb.Value(address).cast(lookup_type(type_name).pointer()).dereference()


def flag_names(member, value, prefix):
    """Names of the bits of VALUE among the enumerators of MEMBER's enum
    that start with PREFIX (DO_, IRP_, SL_, FO_)."""
    names, rest = [], value
    for name, bit in enumerators(member):
        if name.startswith(prefix) and bit and bit & (bit - 1) == 0 and value & bit and name not in names:
            if rest & bit:
                names.append(name)
                rest &= ~bit
    if rest:
        names.append(f"{rest:#x}")
    return " | ".join(names) or "0"


def major_name(major):
    for name, value in enumerators("IRP_MJ_CREATE"):
        if value == major and name != "IRP_MJ_MAXIMUM_FUNCTION":
            return name
    return f"IRP_MJ_{major:#x}"


def object_name(address):
    """The object manager's name for the object at ADDRESS ("" if none):
    through ObGetObjectName's data structures, if the ob module knows them."""
    try:
        from .ob import object_name as ob_object_name
        return ob_object_name(address) or ""
    except Exception:
        return ""


def device_label(address):
    if not address:
        return "none"
    try:
        d = value_at("struct _DEVICE_OBJECT", address)
        drv = to_int(d["DriverObject"])
        name = object_name(address) or "(unnamed)"
        drv_name = driver_name(drv)
        return f"{address:#x} {name} [{drv_name}]"
    except gdb.error:
        return f"{address:#x} (unreadable)"


def driver_name(address):
    if not address:
        return "?"
    try:
        s = value_at("struct _DRIVER_OBJECT", address)["DriverName"]
        n = int(s["Length"])
        buf = to_int(s["Buffer"])
        return read_virtual(buf, n).decode("ascii", "replace") if buf and n else "?"
    except gdb.error:
        return "?"


def routine(address):
    return symbolize(address) if address else "none"


class IrpCommand(Command):
    """Dump an IRP: its header, every stack location (the current one marked),
    and its MDL chain with each MDL's frames.

Usage: irp ADDRESS
  ADDRESS  an expression: Irp in a dispatch routine's frame, $rsi at
           `break *IoCallDriver`, $rdi at `break *IoCompleteRequest`

Header (struct _IRP in io/iomgr.h): Flags by name (IRP_BUFFERED_IO,
IRP_DEFER_IO_COMPLETION ...), StackCount and CurrentLocation (StackCount+1:
no driver holds it; 1: the lowest driver does), RequestorMode, PendingReturned,
Cancel and the cancel routine, IoStatus, UserIosb, UserEvent, UserBuffer,
SystemBuffer, the requesting thread and the file object.

Stack locations are listed top (the first driver's, the highest in memory)
to bottom. Each: the major function, the device it was sent to (with its
name and driver), the file object, the parameters that matter for the major
function, Control (SL_PENDING_RETURNED, SL_INVOKE_ON_*), and the completion
routine (symbolized) and context that the driver ABOVE set for when this
location completes. `>` marks the current location.

Then the MDL chain (Irp->MdlAddress, ->Next): each MDL's flags, buffer and
frames (`mdl ADDRESS` shows one in full)."""

    def __init__(self):
        super().__init__("irp", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        if not arg.strip():
            raise gdb.GdbError("usage: irp ADDRESS")
        addr = eval_int(arg)
        irp = value_at("struct _IRP", addr)
        if int(irp["Type"]) != 6:
            raise gdb.GdbError(f"irp: {addr:#x} is not an IRP (Type {int(irp['Type'])}, IO_TYPE_IRP is 6)")
        count, cur = int(irp["StackCount"]), int(irp["CurrentLocation"])
        flags = int(irp["Flags"])
        tail = irp["Tail"]["Overlay"]
        print(f"IRP {addr:#x}  Size {int(irp['Size'])}  Flags {flags:#x} ({flag_names('IRP_NOCACHE', flags, 'IRP_')})")
        owner = "no driver (its creator owns it)" if cur > count else f"location {cur}"
        print(f"  StackCount {count}  CurrentLocation {cur}: {owner}")
        print(f"  RequestorMode {'UserMode' if int(irp['RequestorMode']) else 'KernelMode'}  PendingReturned "
              f"{int(irp['PendingReturned'])}  Cancel {int(irp['Cancel'])}  CancelRoutine "
              f"{routine(to_int(irp['CancelRoutine']))}")
        print(f"  IoStatus {{Status {int(irp['IoStatus']['Status']) & 0xFFFFFFFF:#010x}, Information "
              f"{to_int(irp['IoStatus']['Information']):#x}}}  UserIosb {to_int(irp['UserIosb']):#x}  UserEvent "
              f"{to_int(irp['UserEvent']):#x}")
        print(f"  UserBuffer {to_int(irp['UserBuffer']):#x}  AssociatedIrp {to_int(irp['AssociatedIrp']['SystemBuffer']):#x}"
              f"{' (SystemBuffer)' if flags & 0x10 else ''}  MdlAddress {to_int(irp['MdlAddress']):#x}")
        if cur <= count + 1:
            # Tail.Overlay is overwritten by the completion APC once queued.
            print(f"  Thread {to_int(tail['Thread']):#x}  OriginalFileObject {to_int(tail['OriginalFileObject']):#x}")
        sl_type = lookup_type("struct _IO_STACK_LOCATION")
        first = addr + lookup_type("struct _IRP").sizeof
        print("  stack locations (top first):")
        for i in range(count, 0, -1):
            sl = value_at("struct _IO_STACK_LOCATION", first + (i - 1) * sl_type.sizeof)
            mark = ">" if i == cur else " "
            major = int(sl["MajorFunction"])
            dev = to_int(sl["DeviceObject"])
            used = i >= cur and cur <= count
            print(f"  {mark}[{i}] {major_name(major) if used or major else '(unused)'}  minor {int(sl['MinorFunction'])}"
                  f"  Control {int(sl['Control']):#x} ({flag_names('SL_PENDING_RETURNED', int(sl['Control']), 'SL_')})")
            print(f"        device {device_label(dev)}  file {to_int(sl['FileObject']):#x}")
            p = sl["Parameters"]
            if major in (3, 4):
                rw = p["Read"]
                print(f"        Length {int(rw['Length']):#x}  ByteOffset {int(rw['ByteOffset']['QuadPart']):#x}  Key {int(rw['Key'])}")
            elif major in (0xE, 0xF):
                io = p["DeviceIoControl"]
                code = int(io["IoControlCode"])
                print(f"        IoControlCode {code:#x} (device {code >> 16:#x}, function {(code >> 2) & 0xFFF:#x}, "
                      f"method {['BUFFERED', 'IN_DIRECT', 'OUT_DIRECT', 'NEITHER'][code & 3]})  in "
                      f"{int(io['InputBufferLength']):#x}  out {int(io['OutputBufferLength']):#x}  Type3InputBuffer "
                      f"{to_int(io['Type3InputBuffer']):#x}")
            cr = to_int(sl["CompletionRoutine"])
            if cr:
                print(f"        completion {routine(cr)}  context {to_int(sl['Context']):#x}")
        m = to_int(irp["MdlAddress"])
        if m:
            print("  MDL chain:")
        seen = 0
        while m and seen < 16:
            h = MdlHeader(m)
            pfns = h.pfns()
            shown = ", ".join(f"{p:#x}" for p in pfns[:8]) + (" ..." if len(pfns) > 8 else "")
            print(f"    MDL {m:#x}  {h.byte_count:#x} bytes at {h.start_va + h.byte_offset:#x}  "
                  f"flags {mdl_flag_names(h.flags)}")
            print(f"      frames [{shown}]")
            m, seen = h.next, seen + 1


def device_stack(address):
    """The whole stack ADDRESS belongs to, bottom first."""
    d = address
    seen = 0
    while seen < 32:
        ext = to_int(value_at("struct _DEVICE_OBJECT", d)["DeviceObjectExtension"])
        below = to_int(value_at("struct _DEVOBJ_EXTENSION", ext)["AttachedTo"]) if ext else 0
        if not below:
            break
        d, seen = below, seen + 1
    out = []
    while d and len(out) < 32:
        out.append(d)
        d = to_int(value_at("struct _DEVICE_OBJECT", d)["AttachedDevice"])
    return out


class DevobjCommand(Command):
    """Dump a device object and the device stack it is part of.

Usage: devobj ADDRESS
  ADDRESS  an expression: DeviceObject in a dispatch routine, $rdi at
           `break *IoCallDriver`, Irp->Tail.Overlay.CurrentStackLocation->DeviceObject

The device (struct _DEVICE_OBJECT in io/iomgr.h): its name, driver, Flags
(DO_BUFFERED_IO / DO_DIRECT_IO decide the transfer method the I/O manager
uses for requests sent to the top of its stack), DeviceType, StackSize (the
stack locations an IRP sent here needs), AlignmentRequirement, SectorSize,
ReferenceCount (open file objects), DeviceExtension, delete-pending. Then the
stack, bottom to top, `>` marking ADDRESS: requests enter at the top."""

    def __init__(self):
        super().__init__("devobj", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        if not arg.strip():
            raise gdb.GdbError("usage: devobj ADDRESS")
        addr = eval_int(arg)
        d = value_at("struct _DEVICE_OBJECT", addr)
        if int(d["Type"]) != 3:
            raise gdb.GdbError(f"devobj: {addr:#x} is not a device object (Type {int(d['Type'])}, IO_TYPE_DEVICE is 3)")
        flags = int(d["Flags"])
        ext = to_int(d["DeviceObjectExtension"])
        ext_flags = int(value_at("struct _DEVOBJ_EXTENSION", ext)["ExtensionFlags"]) if ext else 0
        print(f"DEVICE_OBJECT {device_label(addr)}")
        print(f"  Flags {flags:#x} ({flag_names('DO_BUFFERED_IO', flags, 'DO_')})  DeviceType {int(d['DeviceType']):#x}"
              f"  Characteristics {int(d['Characteristics']):#x}")
        print(f"  StackSize {int(d['StackSize'])}  AlignmentRequirement {int(d['AlignmentRequirement']):#x}  "
              f"SectorSize {int(d['SectorSize'])}  ReferenceCount {int(d['ReferenceCount'])}  DeviceExtension "
              f"{to_int(d['DeviceExtension']):#x}{'  DELETE PENDING' if ext_flags & 2 else ''}")
        print("  stack (bottom first; requests enter at the top):")
        for level, dev in enumerate(device_stack(addr)):
            v = value_at("struct _DEVICE_OBJECT", dev)
            f = int(v["Flags"])
            print(f"  {'>' if dev == addr else ' '} {level}  {device_label(dev)}  StackSize {int(v['StackSize'])}  "
                  f"{flag_names('DO_BUFFERED_IO', f & 0x14, 'DO_') if f & 0x14 else 'neither'}")


class DrvobjCommand(Command):
    """Dump a driver object: its dispatch table and its devices.

Usage: drvobj ADDRESS
  ADDRESS  an expression: DriverObject in DriverEntry, DeviceObject->DriverObject

Every MajorFunction entry that is not the I/O manager's default
(IopInvalidDeviceRequest, which completes STATUS_INVALID_DEVICE_REQUEST),
symbolized; DriverUnload; and each device (DeviceObject, ->NextDevice) with
the stack it heads or sits in (`devobj` for one in full)."""

    def __init__(self):
        super().__init__("drvobj", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        if not arg.strip():
            raise gdb.GdbError("usage: drvobj ADDRESS")
        addr = eval_int(arg)
        d = value_at("struct _DRIVER_OBJECT", addr)
        if int(d["Type"]) != 4:
            raise gdb.GdbError(f"drvobj: {addr:#x} is not a driver object (Type {int(d['Type'])}, IO_TYPE_DRIVER is 4)")
        print(f"DRIVER_OBJECT {addr:#x} {driver_name(addr)}")
        default = eval_int("&IopInvalidDeviceRequest")
        mf = d["MajorFunction"]
        n = mf.type.strip_typedefs().range()[1] + 1
        for i in range(n):
            fn = to_int(mf[i])
            if fn and fn != default:
                print(f"  {major_name(i):32} {routine(fn)}")
        print(f"  DriverUnload {routine(to_int(d['DriverUnload']))}")
        dev = to_int(d["DeviceObject"])
        seen = 0
        while dev and seen < 64:
            stack = device_stack(dev)
            where = f"level {stack.index(dev)} of {len(stack)}" if dev in stack else ""
            print(f"  device {device_label(dev)}  {where}")
            dev = to_int(value_at("struct _DEVICE_OBJECT", dev)["NextDevice"])
            seen += 1
