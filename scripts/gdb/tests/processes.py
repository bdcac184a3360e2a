"""gdb.ps_and_vad_show_a_user_process.

An ordinary boot (no ktest=) starts init, which starts sh; GDB stops when
a user process is inside the kernel with its address space current: sh
waiting for a line (NtReadConsole) or any process ending
(PsExitCurrentProcess, still on the process list). The driver prints the
stopped process's image name, then each command framed by @@@, then the
stopped process's first prototype PTE and `pfn` on its frame."""
import gdb


def main():
    try:
        gdb.execute("help vad", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the process commands of the mdlos package")
    stops = [f for f in ("PsExitCurrentProcess", "NtReadConsole", "KdShell", "HalHaltSystem")
             if gdb.lookup_global_symbol(f) is not None or gdb.lookup_static_symbol(f) is not None]
    if "PsExitCurrentProcess" not in stops:
        return print("@@@ NOTRUN the kernel has no PsExitCurrentProcess")
    for f in stops:
        gdb.execute("break " + f)
    gdb.execute("continue")
    print("@@@ STOPPED " + str(gdb.selected_frame().name()), flush=True)
    try:
        p = gdb.parse_and_eval("prcb0.CurrentThread->Process")
        print("@@@ IMAGE " + p["ImageName"].string(), flush=True)
    except gdb.error as e:
        print("@@@ IMAGE ? " + str(e), flush=True)
    for c in ("ps", "vad", "ws -a", "vad init", "pt 0x400000 init"):
        run(c)
    # The frame of the stopped process's first image page, through its
    # prototype PTE (mm/image.c): `pfn` must show it is owned by that prototype.
    try:
        v = int(gdb.parse_and_eval("prcb0.CurrentThread->Process->Image->PrototypePte[0].u.Long")) & (2 ** 64 - 1)
        print("@@@ PROTO %#x" % v, flush=True)
        if v & 1:
            run("pfn %#x" % ((v & 0x000FFFFFFFFFF000) >> 12))
    except gdb.error as e:
        print("@@@ PROTO ? " + str(e), flush=True)

main()
