"""What every mdlos GDB command uses: memory reads, type and symbol lookups,
the kernel's constants (read from its DWARF and its read-only data, class
Kernel below), list walking, formatting and the Command base class."""
import struct

import gdb

# ---- constants that are not the kernel's to choose ----
# x86-64 4-level paging: user addresses are the lower canonical half.
USER_LIMIT = 1 << 47

# ---- #define constants: DWARF has no macros (the kernel is built with -g,
# not -g3) and no variable or field holds these, so they are copied here.
# Each names the header that defines it; keep them in step with it.
# (The MM_*, PAGE_*, MDL_* and MI_POOL_HDR_* values are enums in their
# headers, so they come from the DWARF: see Kernel.)
# mm/mi.h MI_PTE_COMMITTED: a not-valid, not-transition PTE that is committed
# (a 64-bit constant: an enum would make it an int).
MI_PTE_COMMITTED = 1 << 12
# mm/mi.h MI_COMMIT_RESERVE_PAGES (used in the commit limit, as MiCommitLimit does).
MI_COMMIT_RESERVE_PAGES = 512
# The PAT layout MiInitializePat (mm/pagetable.c) programs into the IA32_PAT
# MSR, which the gdbstub cannot read: index = PAT<<2 | PCD<<1 | PWT.
PAT_TYPES = ["WB", "WC", "UC-", "UC", "WB", "WC", "UC-", "UC"]


# ---------------------------------------------------------------- the kernel's constants

class Kernel:
    """The kernel's constants, read on first use from the symbol file GDB
    has loaded (so nothing is read when the gdbinit is sourced, before
    `file build/kernel.elf`), and forgotten when the symbols change:

      PAGE_SHIFT, PAGE_SIZE, PFN_MASK  MMPTE_HARDWARE.PageFrameNumber's bit range
      PFN_LIST_END (= PFN_NONE)        (PFN_NUMBER)-1, from sizeof(MMPFN.Flink)
      PTE_BASE                         the self-map region of MiAddressMap (mm/mminit.c)
      SELFMAP_INDEX, PDE_BASE, PPE_BASE, PXE_BASE, LEVELS   derived from PTE_BASE as
                                       MiGetPteAddress and friends (mm/mi.h) do
      LIST_ENUM                        the MMLISTS enumerators, by value
      LIST_SHORT, USAGE_NAMES          mm/pfn.c's list_names[] and usage_names[] (what
                                       MiListName and MiUsageName print)
      VAD_TYPES, THREAD_STATES         the MI_VAD_TYPE and KTHREAD_STATE enumerators,
                                       without their Vad / Thread prefix
      MDL_SITES                        the MI_SITE_* enumerators (mm/mdl.h), as words
      PROTECTION_NAMES, PROTECTION_MODIFIERS   the MM_* enumerators (mm/mi.h)
      PAGE_PROTECTIONS, PAGE_MODIFIERS the PAGE_* enumerators (kernel/ntsyscall.h)
      MDL_FLAGS, MDL_*                 the MdlFlags enumerators (io/io.h)
      PROTOTYPE_, TRANSITION_, PROTECTION_, PAGEFILE_LOW_, PAGEFILE_HIGH_,
      PROTO_ADDRESS_ + SHIFT / MASK   the software PTE fields (MMPTE_SOFTWARE,
                                       MMPTE_PROTOTYPE in mm/mi.h)
      enum("NAME")                     any enumerator's value (ActiveAndValid, MiUsageImage)

    Enumerators are looked up by name: GDB finds them even when the enum's
    typedef was left out of the DWARF (MI_VAD_TYPE, KOBJECTS: no variable
    has that type). Arrays of constants are read from the ELF file itself
    (read_only_data), not from the target: the same bytes, but readable
    before paging is on and while PhysicalMemory has GDB reading physical
    memory."""

    def __init__(self):
        self._values = None

    def reset(self, *_):
        self._values = None

    def load(self):
        if self._values is None:
            self._values = read_constants()

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        self.load()
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    @staticmethod
    def enum(name):
        return enum_value(name)


def enum_value(name):
    """The value of enumerator NAME (gdb.parse_and_eval of an enumerator
    reads no memory)."""
    try:
        v = gdb.parse_and_eval(name)
    except gdb.error as e:
        raise gdb.GdbError(f"the kernel's DWARF has no enumerator {name} ({e}); are its symbols loaded "
                           f"(file build/kernel.elf)?")
    if v.type.strip_typedefs().code != gdb.TYPE_CODE_ENUM:
        raise gdb.GdbError(f"{name} is not an enumerator in the kernel's DWARF")
    return int(v)


def enumerators(member):
    """[(name, value)] of the enum that enumerator MEMBER belongs to, by value."""
    try:
        t = gdb.parse_and_eval(member).type.strip_typedefs()
    except gdb.error as e:
        raise gdb.GdbError(f"the kernel's DWARF has no enumerator {member} ({e}); are its symbols loaded "
                           f"(file build/kernel.elf)?")
    return sorted(((f.name, f.enumval) for f in t.fields()), key=lambda x: x[1])


def enum_names(member, prefix=""):
    """The names of MEMBER's enum as a list indexed by value (values 0..n-1),
    PREFIX taken off each."""
    pairs = enumerators(member)
    if [v for _, v in pairs] != list(range(len(pairs))):
        raise gdb.GdbError(f"the enum of {member} is not 0..n-1: {pairs}")
    return [n[len(prefix):] if prefix and n.startswith(prefix) else n for n, _ in pairs]


def bit_range(type_name, field):
    """(first bit, bit count) of a bitfield of struct TYPE_NAME."""
    for f in lookup_type(type_name).strip_typedefs().fields():
        if f.name == field:
            return f.bitpos, f.bitsize or 8 * f.type.sizeof
    raise gdb.GdbError(f"{type_name} has no field {field} in the kernel's DWARF")


_elf_cache = {}


def read_only_data(address, size):
    """SIZE bytes at ADDRESS read from the kernel's ELF file (its PT_LOAD
    segments), for constant data: MiAddressMap, the name tables."""
    path = gdb.current_progspace().filename
    if not path:
        raise gdb.GdbError("no kernel file loaded (file build/kernel.elf)")
    if path not in _elf_cache:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] != 2:
            raise gdb.GdbError(f"{path} is not a 64-bit ELF file")
        phoff, = struct.unpack_from("<Q", data, 0x20)
        phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
        segments = []
        for i in range(phnum):
            p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
            if p_type == 1:   # PT_LOAD
                segments.append((p_vaddr, p_filesz, p_offset))
        _elf_cache.clear()
        _elf_cache[path] = (data, segments)
    data, segments = _elf_cache[path]
    for vaddr, filesz, offset in segments:
        if vaddr <= address and address + size <= vaddr + filesz:
            return data[offset + address - vaddr:offset + address - vaddr + size]
    raise gdb.GdbError(f"{address:#x} is not in the file's loaded data")


def read_only_string(address):
    out = b""
    while b"\0" not in out:
        out += read_only_data(address + len(out), 16)
    return out.split(b"\0", 1)[0].decode("ascii", "replace")


def static_string_table(name):
    """A static `const char *const NAME[]` (mm/pfn.c's tables) as strings."""
    sym = gdb.lookup_static_symbol(name) or gdb.lookup_global_symbol(name)
    if sym is None:
        raise gdb.GdbError(f"no table {name} in the kernel's symbols")
    v = sym.value()
    n = v.type.strip_typedefs().range()[1] + 1
    raw = read_only_data(to_int(v.address), n * 8)
    return [read_only_string(p) for p in struct.unpack(f"<{n}Q", raw)]


def read_constants():
    k = {}
    first, bits = bit_range("MMPTE_HARDWARE", "PageFrameNumber")
    k["PAGE_SHIFT"] = first
    k["PAGE_SIZE"] = 1 << first
    k["PFN_MASK"] = ((1 << bits) - 1) << first
    flink = lookup_type("MMPFN").strip_typedefs()["Flink"].type.sizeof
    k["PFN_LIST_END"] = k["PFN_NONE"] = (1 << (8 * flink)) - 1
    # The self-map: the region of the address map (mm/mminit.c) that starts
    # at PTE_BASE; the other bases follow from its PML4 slot (mm/mi.h).
    index_bits = (k["PAGE_SIZE"] // lookup_type("MMPTE").sizeof).bit_length() - 1   # 9: 512 entries a table
    region = lookup_type("MI_REGION").strip_typedefs()
    off = {f.name: f.bitpos // 8 for f in region.fields()}
    amap = kernel_value("MiAddressMap")
    count, = struct.unpack("<I", read_only_data(to_int(kernel_value("MiAddressMapCount").address), 4))
    raw = read_only_data(to_int(amap.address), count * region.sizeof)
    pte_base = None
    for i in range(count):
        b = i * region.sizeof
        name = read_only_string(struct.unpack_from("<Q", raw, b + off["name"])[0])
        if "self-map" in name:
            pte_base = struct.unpack_from("<Q", raw, b + off["start"])[0]
    if pte_base is None:
        raise gdb.GdbError("MiAddressMap (mm/mminit.c) has no self-map region: cannot place the page tables")
    top = k["PAGE_SHIFT"] + 4 * index_bits - 1                      # 47: the highest bit of a VA
    index = pte_base >> top - index_bits + 1 & ((1 << index_bits) - 1)
    k["PTE_BASE"] = pte_base
    k["SELFMAP_INDEX"] = index
    k["PDE_BASE"] = pte_base + (index << k["PAGE_SHIFT"] + 2 * index_bits)
    k["PPE_BASE"] = k["PDE_BASE"] + (index << k["PAGE_SHIFT"] + index_bits)
    k["PXE_BASE"] = k["PPE_BASE"] + (index << k["PAGE_SHIFT"])
    # LEVELS: name, VA shift, self-map base, mask applied to (VA >> shift2), shift2
    k["LEVELS"] = [(name, k["PAGE_SHIFT"] + index_bits * (3 - level), k[base],
                    ((1 << index_bits * (level + 1)) - 1) << 3, k["PAGE_SHIFT"] + index_bits * (3 - level) - 3)
                   for level, (name, base) in enumerate((("PML4E", "PXE_BASE"), ("PDPTE", "PPE_BASE"),
                                                         ("PDE", "PDE_BASE"), ("PTE", "PTE_BASE")))]
    k["LIST_ENUM"] = enum_names("ActiveAndValid")
    k["LIST_SHORT"] = static_string_table("list_names")
    k["USAGE_NAMES"] = static_string_table("usage_names")
    k["VAD_TYPES"] = enum_names("VadPrivate", "Vad")
    k["THREAD_STATES"] = enum_names("ThreadRunning", "Thread")
    words = {"ALLOC": "allocated", "BUILD": "built", "LOCK": "locked", "MAP": "mapped"}
    k["MDL_SITES"] = [words.get(n[len("MI_SITE_"):], n) for n, v in enumerators("MI_SITE_ALLOC")
                      if n != "MI_SITE_COUNT"]
    k["ACTIVE"] = enum_value("ActiveAndValid")
    k["USAGE_PAGE_TABLE"] = enum_value("MiUsagePageTable")
    k["USAGE_DRIVER"] = enum_value("MiUsageDriver")
    k["USAGE_IMAGE"] = enum_value("MiUsageImage")
    # MM_* protections kept in software PTEs (mm/mi.h): 0..7, and the cache
    # and guard modifiers above them.
    mm = enumerators("MM_READWRITE")
    k["PROTECTION_NAMES"] = [n[3:] for n, v in mm if v < 8]
    k["PROTECTION_MODIFIERS"] = {v: n[3:] for n, v in mm if v >= 8}
    k["PROTECTION_MODIFIER_MASK"] = 0
    for v in k["PROTECTION_MODIFIERS"]:
        k["PROTECTION_MODIFIER_MASK"] |= v
    k["PROTECTION_BASE_MASK"] = len(k["PROTECTION_NAMES"]) - 1
    # PAGE_* (kernel/ntsyscall.h): one of the base protections, plus modifiers.
    page = enumerators("PAGE_READWRITE")
    top = enum_value("PAGE_EXECUTE_WRITECOPY")
    k["PAGE_PROTECTIONS"] = {v: n for n, v in page if v <= top}
    k["PAGE_BASE_MASK"] = (top << 1) - 1
    k["PAGE_MODIFIERS"] = [(v, n) for n, v in page if v > top]
    # MdlFlags (io/io.h), by value, and each by name (K.MDL_PAGES_LOCKED).
    mdl = enumerators("MDL_PAGES_LOCKED")
    k["MDL_FLAGS"] = [(v, n) for n, v in mdl]
    k.update({n: v for n, v in mdl})
    # NT's software PTE formats (mm/mi.h's MMPTE_SOFTWARE, MMPTE_TRANSITION,
    # MMPTE_PROTOTYPE): the kernel's own choice of bits, unlike the
    # hardware bits of a valid PTE, which are the CPU's.
    for name, (type_name, field) in {"PROTOTYPE": ("MMPTE_SOFTWARE", "Prototype"),
                                     "TRANSITION": ("MMPTE_SOFTWARE", "Transition"),
                                     "PROTECTION": ("MMPTE_SOFTWARE", "Protection"),
                                     "PAGEFILE_LOW": ("MMPTE_SOFTWARE", "PageFileLow"),
                                     "PAGEFILE_HIGH": ("MMPTE_SOFTWARE", "PageFileHigh"),
                                     "PROTO_ADDRESS": ("MMPTE_PROTOTYPE", "ProtoAddress")}.items():
        k[name + "_SHIFT"], bits = bit_range(type_name, field)
        k[name + "_MASK"] = ((1 << bits) - 1) << k[name + "_SHIFT"]
    return k


K = Kernel()
gdb.events.new_objfile.connect(K.reset)
gdb.events.clear_objfiles.connect(K.reset)


# ---------------------------------------------------------------- memory, types, symbols

def to_int(value):
    """An integer from a gdb.Value: the address of a function or array,
    the value of a pointer, enum or integer."""
    t = value.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_FUNC, gdb.TYPE_CODE_ARRAY):
        value = value.address
    return int(value.cast(gdb.lookup_type("unsigned long long"))) & (2 ** 64 - 1)


def eval_int(expr):
    return to_int(gdb.parse_and_eval(expr))


def kernel_value(name):
    try:
        return gdb.parse_and_eval(name)
    except gdb.error as e:
        raise gdb.GdbError(f"cannot read {name} ({e}); are the kernel's symbols loaded (file build/kernel.elf)?")


def read_virtual(addr, size):
    return bytes(gdb.selected_inferior().read_memory(addr, size))


def read_u64_virtual(addr):
    return struct.unpack("<Q", read_virtual(addr, 8))[0]


def sign_extend(va):
    va &= (1 << 48) - 1
    return va | (0xFFFF << 48) if va & (1 << 47) else va


def is_canonical(va):
    top = va >> 47
    return top == 0 or top == 0x1FFFF


def enum_name(names, value):
    return names[value] if 0 <= value < len(names) else "?"


def lookup_type(name):
    try:
        return gdb.lookup_type(name)
    except gdb.error as e:
        raise gdb.GdbError(f"no type {name} in the symbols ({e}); are the kernel's symbols loaded "
                           f"(file build/kernel.elf), and is it a kernel with processes?")


def field_offset(type_name, field):
    t = lookup_type(type_name).strip_typedefs()
    for f in t.fields():
        if f.name == field:
            return f.bitpos // 8
    raise gdb.GdbError(f"{type_name} has no field {field}: does this script match the kernel?")


def c_string(value):
    """A char array field as a Python string (up to its first NUL)."""
    data = read_virtual(to_int(value.address), value.type.strip_typedefs().sizeof)
    return data.split(b"\0", 1)[0].decode("ascii", "replace")


def list_entries(head_address, type_name, field, limit=100000):
    """The structures of type TYPE_NAME linked through their LIST_ENTRY
    FIELD on the list whose head is at HEAD_ADDRESS (CONTAINING_RECORD),
    in Flink order. A list that does not come back to its head (NULL,
    unreadable or looping links) is an error that says where it broke."""
    off = field_offset(type_name, field)
    ptr = lookup_type(type_name).pointer()
    seen = set()
    link = read_u64_virtual(head_address)
    if link == 0:
        raise gdb.GdbError(f"the list head at {head_address:#x} ({type_name}.{field}) is not initialized yet "
                           f"(its Flink is NULL): stop later in the boot, after PsInitialize")
    while link != head_address:
        if link == 0 or link in seen or len(seen) >= limit:
            why = "a NULL Flink" if link == 0 else "a loop" if link in seen else f"more than {limit} entries"
            raise gdb.GdbError(f"the list at {head_address:#x} ({type_name}.{field}) is corrupt: {why} "
                               f"after {len(seen)} entries")
        seen.add(link)
        yield gdb.Value(link - off).cast(ptr).dereference()
        try:
            link = read_u64_virtual(link)
        except gdb.MemoryError:
            raise gdb.GdbError(f"the list at {head_address:#x} ({type_name}.{field}) is corrupt: entry "
                               f"{link:#x} cannot be read")


def struct_fields(t):
    """{field: (byte offset, bit offset in that byte, bit size or 0)} of struct type T."""
    out = {}
    for f in t.strip_typedefs().fields():
        out[f.name] = (f.bitpos // 8, f.bitpos % 8, f.bitsize)
    return out


def unpack_field(data, base, spec, size):
    """An unsigned field of SIZE bytes (or a bitfield) from DATA at BASE."""
    off, bit, bits = spec
    if bits:
        raw = int.from_bytes(data[base + off:base + off + 8], "little")
        return raw >> bit & ((1 << bits) - 1)
    return int.from_bytes(data[base + off:base + off + size], "little")


def symbolize(addr):
    try:
        text = gdb.execute(f"info symbol {addr:#x}", to_string=True).strip()
    except gdb.error:
        text = ""
    if not text or text.startswith("No symbol"):
        return f"{addr:#x}"
    return f"{addr:#x} <{text.split(' in section')[0]}>"


def flush_cache():
    try:
        gdb.execute("maintenance flush dcache", to_string=True)
    except gdb.error:
        pass


class PhysicalMemory:
    """While active, GDB's memory accesses go to guest physical memory
    (QEMU gdbstub extension). Always switches back on exit."""

    def __init__(self):
        self.active = False

    def __enter__(self):
        try:
            reply = gdb.execute("maintenance packet Qqemu.PhyMemMode:1", to_string=True)
        except gdb.error:
            reply = ""
        self.active = '"OK"' in reply
        flush_cache()
        return self

    def __exit__(self, *exc):
        if self.active:
            gdb.execute("maintenance packet Qqemu.PhyMemMode:0", to_string=True)
            self.active = False
            flush_cache()
        return False


def current_cr3():
    try:
        return eval_int("$cr3")
    except gdb.error as e:
        raise gdb.GdbError(f"cannot read $cr3 ({e}); is GDB attached to QEMU (target remote)?")


def paging_mode():
    """None in 4-level long-mode paging, else what the CPU is doing instead."""
    try:
        cr0 = eval_int("$cr0")
    except gdb.error:
        return None
    if not cr0 >> 31 & 1:
        return "paging is off (CR0.PG = 0): addresses are physical"
    try:
        efer = eval_int("$efer")
    except gdb.error:
        return None
    if not efer >> 10 & 1:
        return "the CPU is not in long mode yet (EFER.LMA = 0): 32-bit paging, not the 4-level tables"
    return None


def ram_ranges():
    n = int(kernel_value("MiRamRangeCount"))
    arr = kernel_value("MiRamRanges")
    return [(int(arr[i]["start"]), int(arr[i]["end"])) for i in range(n)]


def pfn_layout():
    db = kernel_value("MmPfnDatabase")
    t = db.type.strip_typedefs().target().strip_typedefs()
    offsets = {f.name: f.bitpos // 8 for f in t.fields()}
    return to_int(db), t.sizeof, offsets


def region_name(va):
    """The MiAddressMap region holding VA, or None."""
    try:
        regions = kernel_value("MiAddressMap")
        for i in range(int(kernel_value("MiAddressMapCount"))):
            r = regions[i]
            if to_int(r["start"]) <= va <= to_int(r["end"]):
                return r["name"].string().split(" (")[0]
    except (gdb.GdbError, gdb.error):
        pass
    return None


class Command(gdb.Command):
    """Base of the commands here: a kernel structure that cannot be read
    (paging off, the memory manager not yet started, a bad address) is a
    one-line error, not a Python traceback."""

    def invoke(self, arg, from_tty):
        try:
            self.run(arg)
        except gdb.MemoryError as e:
            raise gdb.GdbError(f"{self._command}: {e} (is the kernel running with its own page tables yet? "
                               f"`continue` to kmain or later)")

    def __init__(self, name, command_class, completer):
        self._command = name
        super().__init__(name, command_class, completer)
