"""Processes and threads (ps), VADs (vad) and working sets (ws), and
finding a process by name, pid, EPROCESS address or CR3."""
import struct

import gdb

from .common import (K, USER_LIMIT, Command, c_string, current_cr3, enum_name,
                     enum_value, eval_int, kernel_value, list_entries, lookup_type, ram_ranges, read_virtual,
                     symbolize, to_int)
from .pagetable import decode_present, pte_kind, with_page_tables


class Process:
    """What the commands need from one EPROCESS (kernel/ps/psp.h), read once."""

    def __init__(self, value, listed=True):
        self.value = value
        self.address = to_int(value.address)
        self.pid = int(value["UniqueProcessId"])
        self.ppid = int(value["ParentId"])
        self.name = c_string(value["ImageName"])
        self.cr3 = int(value["DirectoryTableBase"])
        self.system = self.address == to_int(kernel_value("PsInitialSystemProcess").address)
        self.listed = listed

    def describe(self):
        return f"process {self.name} pid {self.pid}, EPROCESS {self.address:#x}"


def processes():
    """The system process (PsInitialSystemProcess, not on the list), then
    every process on PsActiveProcessHead."""
    out = [Process(kernel_value("PsInitialSystemProcess"))]
    head = to_int(kernel_value("PsActiveProcessHead").address)
    out += [Process(v) for v in list_entries(head, "EPROCESS", "ProcessListEntry")]
    return out


def process_of_cr3(cr3, procs=None):
    for p in procs if procs is not None else processes():
        if p.cr3 and (p.cr3 & K.PFN_MASK) == (cr3 & K.PFN_MASK):
            return p
    return None


def find_process(text, allow_cr3=False):
    """A process named by TEXT: its image name, its pid, or its EPROCESS
    address (an expression). With ALLOW_CR3, a number that is none of
    those is a CR3 value: returns (process or None, cr3)."""
    procs = processes()
    text = text.strip()
    named = [p for p in procs if p.name == text] or [p for p in procs if p.name.lower() == text.lower()]
    if len(named) == 1:
        return named[0], named[0].cr3
    if len(named) > 1:
        raise gdb.GdbError(f"{len(named)} processes are named {text!r} (pids " +
                           ", ".join(str(p.pid) for p in named) + "): give a pid")
    try:
        n = eval_int(text)
    except gdb.error as e:
        raise gdb.GdbError(f"no process named {text!r} ({e}); processes: " +
                           ", ".join(f"{p.name} ({p.pid})" for p in procs))
    for p in procs:
        if p.pid == n:
            return p, p.cr3
    for p in procs:
        if p.address == n:
            return p, p.cr3
    if allow_cr3:
        p = process_of_cr3(n, procs)
        if p and (p.cr3 & K.PFN_MASK) == (n & K.PFN_MASK):
            return p, n
    if n >= 0xFFFF800000000000:
        # An EPROCESS that left the list (an ended process someone still
        # holds a handle to): read it, but say so.
        try:
            v = gdb.Value(n).cast(lookup_type("EPROCESS").pointer()).dereference()
            kind = int(v["Header"]["Type"])
        except gdb.MemoryError as e:
            raise gdb.GdbError(f"{n:#x} is no process on the list and cannot be read as an EPROCESS ({e})")
        want = process_object_type()
        if kind != want:
            raise gdb.GdbError(f"{n:#x} is no process on the list, and not an EPROCESS either (its Header.Type "
                               f"is {kind}, not KeProcessObject = {want})")
        p = Process(v, listed=False)
        print(f"note: {n:#x} is not on PsActiveProcessHead (an ended process?); reading it as an EPROCESS "
              f"anyway: {p.name!r}, pid {p.pid}")
        return p, p.cr3
    if allow_cr3:
        if n & ~K.PFN_MASK & ~0xFFF or n >= 1 << 52:
            raise gdb.GdbError(f"{n:#x} is neither a process (pid, name, EPROCESS) nor a CR3 value")
        return None, n
    raise gdb.GdbError(f"no process {text!r}: not an image name, pid or EPROCESS address; processes: " +
                       ", ".join(f"{p.name} ({p.pid})" for p in procs))


def process_object_type():
    return enum_value("KeProcessObject")


def resolve_address_space(text):
    """(process or None, CR3) for `pt`'s second argument. Before the
    process list exists (early boot) a number is simply a CR3."""
    try:
        procs_ok = bool(processes())
    except (gdb.GdbError, gdb.error):
        procs_ok = False
    if not procs_ok:
        try:
            return None, eval_int(text)
        except gdb.error as e:
            raise gdb.GdbError(f"{text!r} is not a number ({e}), and there is no process list yet "
                               f"(before PsInitialize): give a CR3 value")
    return find_process(text, allow_cr3=True)


def process_of_cr3_quiet(cr3):
    """The process owning CR3, or None (also when there is no process list yet)."""
    try:
        return process_of_cr3(cr3)
    except (gdb.GdbError, gdb.error):
        return None


def chosen_process(arg, command):
    """The process ARG names, or the one whose CR3 is current."""
    if arg.strip():
        return find_process(arg)[0]
    cr3 = current_cr3()
    procs = processes()
    p = process_of_cr3(cr3, procs)
    if p is None:
        raise gdb.GdbError(f"{command}: no process has the current CR3 {cr3:#x}; name one: " +
                           ", ".join(f"{q.name} ({q.pid})" for q in procs))
    return p


def thread_state(state):
    return enum_name(K.THREAD_STATES, state) if 0 <= state < len(K.THREAD_STATES) else f"?{state}"


def current_thread_address():
    """The PRCB's CurrentThread (prcb0 is static in kernel/ke/sched.c, but in
    the symbols), or None."""
    try:
        return to_int(gdb.parse_and_eval("prcb0")["CurrentThread"])
    except gdb.error:
        return None


def protection_text(prot):
    base = K.PAGE_PROTECTIONS.get(prot & K.PAGE_BASE_MASK, f"{prot & K.PAGE_BASE_MASK:#x}?")
    extra = [n for bit, n in K.PAGE_MODIFIERS if prot & bit]
    return "|".join([base] + extra)


def vads(proc):
    head = to_int(proc.value["VadListHead"].address)
    return list(list_entries(head, "MMVAD", "Links"))


def vad_backing(v):
    """Image name and segment of an image VAD (with its ELF layout)."""
    t = int(v["Type"])
    if t == K.enum("VadImage") and to_int(v["Image"]):
        im = v["Image"].dereference()
        seg = int(v["Segment"])
        name = c_string(im["Name"])
        if seg < int(im["SegmentCount"]):
            sg = im["Segment"][seg]
            return (f"image {name} segment {seg}: vaddr {int(sg['Vaddr']):#x} memsz {int(sg['Memsz']):#x} "
                    f"filesz {int(sg['Filesz']):#x} at file offset {int(sg['Offset']):#x}")
        return f"image {name} segment {seg} (out of range: the image has {int(im['SegmentCount'])})"
    if t == K.enum("VadLockedView"):
        return f"locked view, MDL {to_int(v['Owner']):#x}"
    if t == K.enum("VadStack"):
        return "user stack (grows down one guard page at a time)"
    return "private (pagefile-backed in NT; here memory only)"


def describe_user_va(proc, va, last):
    """One line for `pt`: the VAD of PROC holding user address VA, and what
    a touch of it does when the walk ended at LAST (a not-present entry)."""
    try:
        vs = vads(proc)
    except gdb.GdbError as e:
        return f"(the VADs cannot be read: {e})"
    page = va >> K.PAGE_SHIFT
    for v in vs:
        start, end = int(v["StartVpn"]), int(v["EndVpn"])
        if start <= page <= end:
            t = int(v["Type"])
            what = (f"VAD {start << K.PAGE_SHIFT:#x}-{((end + 1) << K.PAGE_SHIFT) - 1:#x} {enum_name(K.VAD_TYPES, t)} "
                    f"{protection_text(int(v['Protection']))}")
            if "stop" not in last or last["entry"] != 0 and last["level"] == 3:
                return what
            if t == K.enum("VadImage"):
                return what + f" ({vad_backing(v).split(':')[0]}): a touch maps the image page (MiResolveProtoPteFault)"
            if t == K.enum("VadStack") and page == start:
                return what + ": the stack's last page, never committed: a touch is STATUS_STACK_OVERFLOW"
            return what + ": reserved, not committed: a touch is an access violation"
    return "no VAD holds this address: a touch from user mode is an access violation"


def process_label(address, procs=None):
    if not address:
        return "none"
    try:
        for p in procs if procs is not None else processes():
            if p.address == address:
                return f"{p.name} pid {p.pid} ({address:#x})"
    except (gdb.GdbError, gdb.error):
        pass
    return f"EPROCESS {address:#x}"


class PsCommand(Command):
    """List the processes and the threads (kernel/ps/psp.h, kernel/ke/ki.h).

Usage: ps

Processes: the system process (PsInitialSystemProcess, pid 0, which owns
the kernel threads and is not on the list) and every EPROCESS on
PsActiveProcessHead, one line each: pid, parent pid, image name, EPROCESS
address, CR3 (DirectoryTableBase), working-set size and peak in pages
(Vm.Count, Vm.Peak), committed private pages and pages locked by MDLs,
the fault counters (Vm.Counters: demand-zero / soft / copy-on-write /
image / hard) and the state: running, exiting (PsExitCurrentProcess has
begun), or ended with its exit status. `*` marks the process whose
address space is in CR3 now.

Threads: every KTHREAD on KiThreadListHead: id, name, state
(KTHREAD_STATE), priority, context switches, the process it belongs to
(and the one it is attached to, if another: KeStackAttachProcess), and
for a waiting thread the object it waits on. `*` marks the PRCB's
CurrentThread."""

    def __init__(self):
        super().__init__("ps", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        if arg.strip():
            raise gdb.GdbError("usage: ps   (no arguments; `vad PROC` and `ws PROC` show one process)")
        procs = processes()
        try:
            cr3 = current_cr3() & K.PFN_MASK
        except gdb.GdbError:
            cr3 = None
        by_address = {p.address: p for p in procs}
        print(f"Processes: {len(procs) - 1} on PsActiveProcessHead, plus the system process")
        print(f"  {'pid':>5} {'ppid':>5} {'image':<12} {'EPROCESS':<18} {'CR3':>10} {'ws':>5} {'peak':>5} "
              f"{'priv':>5} {'lock':>4}  {'faults dz/soft/cow/img/hard':<27} state")
        for p in procs:
            v = p.value
            vm = v["Vm"]
            c = vm["Counters"]
            # The fault counters are the *Faults fields of PROCESS_FAULT_COUNTERS_T, in its order.
            faults = "/".join(str(int(c[f.name])) for f in c.type.strip_typedefs().fields()
                              if f.name.endswith("Faults"))
            if p.system:
                state = "system (kernel threads)"
            elif int(v["Header"]["SignalState"]):
                state = f"ended, status {int(v['ExitStatus']) & 0xFFFFFFFF:#010x}"
            elif int(v["Exiting"]):
                state = f"exiting, status {int(v['ExitStatus']) & 0xFFFFFFFF:#010x}"
            else:
                state = "running"
            mark = "*" if cr3 is not None and p.cr3 and (p.cr3 & K.PFN_MASK) == cr3 else " "
            print(f"{mark} {p.pid:>5} {p.ppid if not p.system else '-':>5} {p.name:<12} {p.address:#018x} "
                  f"{p.cr3:>#10x} {int(vm['Count']):>5} {int(vm['Peak']):>5} {int(c['PrivatePages']):>5} "
                  f"{int(v['LockedPages']):>4}  {faults:<27} {state}")
        current = current_thread_address()
        head = to_int(kernel_value("KiThreadListHead").address)
        threads = list(list_entries(head, "KTHREAD", "ThreadListEntry"))
        print(f"Threads: {len(threads)} on KiThreadListHead")
        print(f"  {'id':>5} {'name':<16} {'state':<11} {'pri':>3} {'switches':>8} {'KTHREAD':<18} process")
        for t in threads:
            addr = to_int(t.address)
            state = int(t["State"])
            owner = by_address.get(to_int(t["Process"]))
            active = by_address.get(to_int(t["ActiveProcess"]))
            where = f"{owner.name} ({owner.pid})" if owner else f"EPROCESS {to_int(t['Process']):#x}"
            if to_int(t["ActiveProcess"]) != to_int(t["Process"]):
                where += (f", attached to {active.name} ({active.pid})" if active
                          else f", attached to EPROCESS {to_int(t['ActiveProcess']):#x}")
            if state == K.enum("ThreadWaiting"):
                obj = to_int(t["WaitBlock"]["Object"])
                if obj:
                    target = by_address.get(obj)
                    what = f"process {target.name} ({target.pid})" if target else symbolize(obj)
                    where += f"; waits on {what}"
                else:
                    where += "; waits for its timer (a delay)"
            mark = "*" if (addr == current if current is not None else state == K.enum("ThreadRunning")) else " "
            print(f"{mark} {int(t['Id']):>5} {c_string(t['Name']):<16} {thread_state(state):<11} "
                  f"{int(t['Priority']):>3} {int(t['ContextSwitches']):>8} {addr:#018x} {where}")


class VadCommand(Command):
    """The VADs of a process: what its address space has reserved (kernel/ps/psp.h).

Usage: vad [PROCESS]
  PROCESS  an image name (init), a pid (4) or an EPROCESS address;
           default: the process whose DirectoryTableBase is the current CR3

One line per MMVAD on the process's VadListHead, in list order (sorted by
address, as MiInsertVad keeps it): first and last address (StartVpn and
EndVpn are inclusive page numbers), size, type (MI_VAD_TYPE: Private from
NtAllocateVirtualMemory, Image segment, Stack, LockedView), the PAGE_*
protection given at reservation, NoFree, then what is in its PTEs, read
in that process's page tables in physical memory: valid pages, transition
pages (trimmed, the frame still on a list), committed pages without a frame
yet (demand zero), and for images the ELF segment the VAD maps. Overlapping
or unsorted VADs are marked BAD."""

    def __init__(self):
        super().__init__("vad", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    def run(self, arg):
        p = chosen_process(arg, "vad")
        if p.system:
            print(f"vad: {p.describe()}: the system process has no user address space and no VADs")
            return
        vs = vads(p)
        print(f"vad: {p.describe()}, CR3 {p.cr3:#x}: {len(vs)} VADs")
        if not vs:
            return
        ranges = [(int(v["StartVpn"]) << K.PAGE_SHIFT, ((int(v["EndVpn"]) + 1) << K.PAGE_SHIFT) - 1) for v in vs]
        counts = with_page_tables(lambda pt: [pt.scan(p.cr3, s, e) for s, e in ranges])
        print(f"  {'start':<18} {'end':<18} {'pages':>6}  {'type':<10} {'protection':<24} "
              f"{'valid':>5} {'trans':>5} {'commit':>6} {'proto':>5}  backing")
        previous_end = -1
        for v, (start, end), ptes in zip(vs, ranges, counts):
            kinds = [pte_kind(e) for _, e in ptes]
            t = int(v["Type"])
            note = []
            if int(v["NoFree"]):
                note.append("NoFree")
            if start <= previous_end:
                note.append("BAD: overlaps or is out of order with the VAD before it")
            if end < start:
                note.append("BAD: EndVpn < StartVpn")
            if kinds.count("other"):
                note.append(f"{kinds.count('other')} PTEs in no known format")
            previous_end = max(previous_end, end)
            print(f"  {start:#018x} {end:#018x} {(end - start + 1) >> K.PAGE_SHIFT:>6}  "
                  f"{enum_name(K.VAD_TYPES, t):<10} {protection_text(int(v['Protection'])):<24} "
                  f"{kinds.count('valid'):>5} {kinds.count('transition'):>5} {kinds.count('committed'):>6} "
                  f"{kinds.count('prototype'):>5}  "
                  f"{vad_backing(v)}" + ("  [" + "; ".join(note) + "]" if note else ""))
        outside = with_page_tables(lambda pt: pt.scan(p.cr3, 0, USER_LIMIT - 1))
        stray = [va for va, _ in outside if not any(s <= va <= e for s, e in ranges)]
        if stray:
            print(f"  BAD: {len(stray)} nonzero user PTEs outside every VAD, first at {stray[0]:#x}")


class WsCommand(Command):
    """The working set of a process: its user pages that are valid now.

Usage: ws [-a] [PROCESS]
  PROCESS  an image name (init), a pid (4) or an EPROCESS address;
           default: the process whose DirectoryTableBase is the current CR3
  -a       every entry (otherwise the first 64 lines, then a summary)

Prints the size, peak and capacity of Vm (MMSUPPORT), then one line per
VA in Vm.List, in list order (# is the index: the working-set manager
trims from the front, MmTrimProcessWorkingSet from the back): the VAD
holding it, its PTE as the CPU sees it (read in
that process's page tables in physical memory, as `pt VA PROCESS` would),
its flags, and the frame's PFN entry (`pfn N`): state, ReferenceCount,
ShareCount and usage (user = private, image = a frame owned by its prototype PTE, shared by
every process running the image). Then the cross-checks: working-set
entries whose PTE is not valid (STALE), valid user PTEs that are not in
the list (UNTRACKED: they cannot be trimmed; locked-view VADs excepted),
duplicate entries, and the transition PTEs
left by trimming (`MmTrimProcessWorkingSet`), whose frames wait on the
modified or standby list for a soft fault."""

    def __init__(self):
        super().__init__("ws", gdb.COMMAND_DATA, gdb.COMPLETE_EXPRESSION)

    LIMIT = 64

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        show_all = "-a" in argv
        argv = [a for a in argv if a != "-a"]
        if len(argv) > 1:
            raise gdb.GdbError("usage: ws [-a] [PROCESS]")
        p = chosen_process(argv[0] if argv else "", "ws")
        if p.system:
            print(f"ws: {p.describe()}: the system process has no user working set")
            return
        vm = p.value["Vm"]
        count, cap = int(vm["Count"]), int(vm["Capacity"])
        lst = to_int(vm["List"])
        if count > cap or (count and not lst):
            raise gdb.GdbError(f"ws: Vm.Count {count} but Vm.Capacity {cap}, List {lst:#x}: corrupt")
        raw = read_virtual(lst, count * 8) if count else b""
        vas = list(struct.unpack(f"<{count}Q", raw))
        vs = vads(p)
        ranges = [(int(v["StartVpn"]) << K.PAGE_SHIFT, ((int(v["EndVpn"]) + 1) << K.PAGE_SHIFT) - 1, v) for v in vs]

        def read(pt):
            return [pt.pte(p.cr3, va) for va in vas], pt.scan(p.cr3, 0, USER_LIMIT - 1)
        ptes, every = with_page_tables(read)
        print(f"ws: {p.describe()}, CR3 {p.cr3:#x}: {count} pages (peak {int(vm['Peak'])}, capacity {cap}), "
              f"{int(vm['Counters']['PrivatePages'])} private pages committed")
        db = kernel_value("MmPfnDatabase")
        ram = ram_ranges()
        print(f"  {'#':>4} {'VA':<18} {'VAD':<14} {'PTE':<18} {'flags':<24} {'PFN':>8}  state      refs shares "
              f"usage")
        stale = 0
        kinds = {}
        for index, (va, (pte, level)) in enumerate(zip(vas, ptes)):
            quiet = not show_all and index >= self.LIMIT
            if quiet and index == self.LIMIT:
                print(f"  ... {count - self.LIMIT} more entries (`ws -a` shows them); checks below cover all")
            vad = next((v for s, e, v in ranges if s <= va <= e), None)
            if vad is None:
                where = "NO VAD"
            else:
                t = int(vad["Type"])
                where = enum_name(K.VAD_TYPES, t) + (f" seg {int(vad['Segment'])}" if t == K.enum("VadImage") else "")
            lead = f"  {index:>4} {va:#018x} {where:<14}"
            if pte is None or not pte & 1:
                stale += 1
                print(f"{lead} " + (f"STALE: the {level} is not present" if pte is None else
                                    f"{pte:#018x} STALE: not valid ({pte_kind(pte)})"))
                continue
            pfn = (pte & K.PFN_MASK) >> K.PAGE_SHIFT
            flags = decode_present(pte, 3, False)
            if not any(s <= pfn < e for s, e in ram):
                print(f"{lead} {pte:#018x} {flags:<24} {pfn:>#8x}  not RAM")
                continue
            if quiet:
                key = where.split(" seg")[0]
                kinds[key] = kinds.get(key, 0) + 1
                continue
            e = db[pfn]
            usage = enum_name(K.USAGE_NAMES, int(e["Usage"]))
            if int(e["Usage"]) == K.USAGE_IMAGE:
                usage += " (shared prototype)"
            print(f"{lead} {pte:#018x} {flags:<24} {pfn:>#8x}  "
                  f"{enum_name(K.LIST_SHORT, int(e['PageLocation'])):<10} {int(e['ReferenceCount']):>4} "
                  f"{int(e['ShareCount']):>6} {usage}")
        if kinds:
            print("  (not shown: " + ", ".join(f"{n} in {k} VADs" for k, n in sorted(kinds.items())) + ")")
        listed = set(vas)
        valid = [va for va, e in every if e & 1]
        views = [(s_, e_) for s_, e_, v in ranges if int(v["Type"]) == K.enum("VadLockedView")]
        untracked = [va for va in valid if va not in listed and not any(s_ <= va <= e_ for s_, e_ in views)]
        in_views = sum(1 for va in valid if va not in listed and any(s_ <= va <= e_ for s_, e_ in views))
        if in_views:
            print(f"  {in_views} valid pages of locked views (MDL mappings: not in the working set by design)")
        trans = [va for va, e in every if pte_kind(e) == "transition"]
        dups = count - len(listed)
        print(f"  valid user PTEs in the page tables: {len(valid)}; working-set entries: {count}"
              + (f" ({dups} DUPLICATE)" if dups else ""))
        print(f"  STALE entries (listed, not valid): {stale}" if stale else "  no stale entries")
        if untracked:
            print(f"  UNTRACKED valid pages (not in Vm.List, never trimmed): {len(untracked)}: " +
                  ", ".join(f"{va:#x}" for va in untracked[:8]) + (" ..." if len(untracked) > 8 else ""))
        else:
            print("  every valid user page is in the working set")
        print(f"  transition PTEs (trimmed, frame on the modified/standby list; a touch is a soft fault): "
              f"{len(trans)}")
        protos = sum(1 for _, e in every if pte_kind(e) == "prototype")
        print(f"  prototype-format PTEs (trimmed shared image pages; a touch resolves through the prototype): "
              f"{protos}")
