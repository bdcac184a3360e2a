"""The object manager (kernel/ob): `obj ADDR` (an object's header and what
its type holds) and `handles [PROC]` (a process's handle table). Both read
OBJECT_HEADER, OBJECT_TYPE and HANDLE_TABLE (kernel/ob/obp.h) and the
I/O structures (io/iomgr.h) through the kernel's DWARF."""
import gdb

from .common import Command, c_string, current_cr3, enumerators, kernel_value, lookup_type, to_int
from .process import find_process, process_of_cr3, processes


def struct_type(name):
    """NAME's type: the typedef if the DWARF has it, else struct _NAME
    (a typedef used only through its pointer type is not emitted)."""
    try:
        return gdb.lookup_type(name)
    except gdb.error:
        try:
            return gdb.lookup_type("struct _" + name)
        except gdb.error:
            return lookup_type(name)   # its error message


def header_of(body):
    """The OBJECT_HEADER (a gdb.Value) of the object whose body is at BODY."""
    system = to_int(kernel_value("PsInitialSystemProcess").address)
    if body == system:
        return kernel_value("ObpSystemProcessHeader")
    t = struct_type("OBJECT_HEADER")
    return gdb.Value(body - t.sizeof).cast(t.pointer()).dereference()


def counted(value):
    """An ANSI_STRING (Length, Buffer) as a Python string."""
    n, buf = int(value["Length"]), to_int(value["Buffer"])
    if not n or not buf:
        return ""
    data = bytes(gdb.selected_inferior().read_memory(buf, min(n, 255)))
    return data.decode("ascii", "replace")


def char_ptr(value):
    p = to_int(value)
    if not p:
        return ""
    data = bytes(gdb.selected_inferior().read_memory(p, 256))
    return data.split(b"\0", 1)[0].decode("ascii", "replace")


def type_name(header):
    return c_string(header["Type"].dereference()["Name"])


def object_name(body):
    try:
        return char_ptr(header_of(body)["Name"])
    except gdb.error:
        return "?"


def flags_text(flags):
    names = [n[len("OB_FLAG_"):].lower() for n, v in enumerators("OB_FLAG_INSERTED") if flags & v]
    return ",".join(names) or "-"


def details(body, kind):
    """One line of what the type holds (or None)."""
    if kind == "Event":
        e = gdb.Value(body).cast(struct_type("KEVENT").pointer()).dereference()
        t = "synchronization" if int(e["EventType"]) == 1 else "notification"
        return f"event: {t}, {'signaled' if int(e['Header']['SignalState']) else 'not signaled'}"
    if kind == "Process":
        p = gdb.Value(body).cast(struct_type("EPROCESS").pointer()).dereference()
        state = "exiting" if int(p["Exiting"]) else "running"
        if int(p["Header"]["SignalState"]):
            state = f"ended with {int(p['ExitStatus']) & 0xFFFFFFFF:#x}"
        return f"process: pid {int(p['UniqueProcessId'])}, {c_string(p['ImageName'])}, {state}"
    if kind == "SymbolicLink":
        l = gdb.Value(body).cast(struct_type("OBJECT_SYMBOLIC_LINK").pointer()).dereference()
        return f"symbolic link -> {c_string(l['Target'])}"
    if kind == "Directory":
        d = gdb.Value(body).cast(struct_type("OBJECT_DIRECTORY").pointer()).dereference()
        return f"directory: {int(d['Count'])} entries"
    if kind == "Device":
        d = gdb.Value(body).cast(struct_type("DEVICE_OBJECT").pointer()).dereference()
        drv = to_int(d["DriverObject"])
        dname = counted(gdb.Value(drv).cast(struct_type("DRIVER_OBJECT").pointer()).dereference()["DriverName"]) \
            if drv else "-"
        return (f"device: driver {dname}, flags {int(d['Flags']):#x}, StackSize {int(d['StackSize'])}, "
                f"attached above it {to_int(d['AttachedDevice']):#x}, open files {int(d['ReferenceCount'])}")
    if kind == "Driver":
        d = gdb.Value(body).cast(struct_type("DRIVER_OBJECT").pointer()).dereference()
        return f"driver: {counted(d['DriverName'])}, first device {to_int(d['DeviceObject']):#x}"
    if kind == "File":
        f = gdb.Value(body).cast(struct_type("FILE_OBJECT").pointer()).dereference()
        dev = to_int(f["DeviceObject"])
        return (f"file: on device {dev:#x} {object_name(dev) if dev else ''}, name {counted(f['FileName'])!r}, "
                f"offset {int(f['CurrentByteOffset']['QuadPart'])}")
    return None


class ObjCommand(Command):
    """Show an object: its OBJECT_HEADER and what its type holds.

Usage: obj ADDR

ADDR is the object's body (what ObCreateObject returned, what a handle
names: SystemHandleList's Object, `handles`' OBJECT column). Prints the
header (body - sizeof(OBJECT_HEADER); the System process's is
ObpSystemProcessHeader): the magic (a bad one means this is no object,
or a freed one), the type, PointerCount and HandleCount, the flags
(inserted, named, permanent, static, delete_queued) and the name; then a
line for the type: an event's kind and state, a process's pid, image and
state, a link's target, a directory's entry count, a device's driver and
stack, a driver's name, a file's device and name."""

    def __init__(self):
        super().__init__("obj", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        if not arg.strip():
            raise gdb.GdbError("usage: obj ADDR   (an object's body address)")
        body = to_int(gdb.parse_and_eval(arg))
        h = header_of(body)
        magic = int(h["Magic"])
        want = 0x6A624F21   # OB_HEADER_MAGIC (kernel/ob/obp.h)
        if magic != want:
            dead = magic == 0x64656144
            raise gdb.GdbError(f"{body:#x} is not a live object: the header at {to_int(h.address):#x} has magic "
                               f"{magic:#x}" + (" (freed: its last reference was dropped)" if dead else ""))
        kind = type_name(h)
        print(f"object {body:#x}  header {to_int(h.address):#x}  type {kind} ({to_int(h['Type']):#x})")
        print(f"  PointerCount {int(h['PointerCount'])}  HandleCount {int(h['HandleCount'])}  "
              f"flags {flags_text(int(h['Flags']))}  name {char_ptr(h['Name']) or '-'}")
        try:
            line = details(body, kind)
        except gdb.error as e:
            line = f"({kind}: cannot read the body: {e})"
        if line:
            print("  " + line)


class HandlesCommand(Command):
    """List a process's handles (EPROCESS.ObjectTable, kernel/ob/handle.c).

Usage: handles [PROC]

PROC: an image name, a pid or an EPROCESS address; default: the process
whose address space is in CR3 (the System process if none). One line per
open handle: its value ((index + 1) * 4), the object's body address (give
it to `obj`), the access the handle was granted, the object's type,
pointer and handle counts, and its name (a process: its image name)."""

    def __init__(self):
        super().__init__("handles", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        if arg.strip():
            p, _ = find_process(arg)
        else:
            try:
                p = process_of_cr3(current_cr3())
            except gdb.GdbError:
                p = None
            p = p or processes()[0]
        t = p.value["ObjectTable"]
        cap, used = int(t["Capacity"]), int(t["InUse"])
        print(f"{p.describe()}: {used} handle(s) in a table of {cap}" + (" (closed: process ended)" if int(t["Dead"]) else ""))
        if not cap:
            return
        print(f"  {'HANDLE':>8} {'OBJECT':>18} {'ACCESS':>10}  {'TYPE':<12} {'PTR':>4} {'HND':>4}  NAME")
        for i in range(cap):
            e = t["Entries"][i]
            o = to_int(e["Object"])
            if o in (0, 1):
                continue
            h = header_of(o)
            kind = type_name(h)
            name = char_ptr(h["Name"])
            if kind == "Process":
                pr = gdb.Value(o).cast(struct_type("EPROCESS").pointer()).dereference()
                name = f"{c_string(pr['ImageName'])} (pid {int(pr['UniqueProcessId'])})"
            print(f"  {(i + 1) * 4:#8x} {o:#18x} {int(e['GrantedAccess']):#10x}  {kind:<12} "
                  f"{int(h['PointerCount']):>4} {int(h['HandleCount']):>4}  {name}")
