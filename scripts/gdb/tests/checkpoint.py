"""gdb.pt_and_pfn_agree_with_kernel and gdb.memmap_and_pool_commands_run.

The kernel booted with `gdbcheck=1` prints its own view of a few addresses
(mm/mminit.c, MiGdbCheckpoint), one line each:
  mm: translate VA -> PA pte=PTE pfn=PFN state=LIST refs=N shares=N
and then calls MiGdbCheckpointDone, where GDB stops. This driver reads
those lines from the serial log and runs `pt VA` and `pfn PFN` for each
(with translate), then the fixed commands.
mdlos_test_args: serial (the serial log's path), translate (True/False),
commands (a list of GDB commands)."""
import re

import gdb

SERIAL = mdlos_test_args["serial"]
TRANSLATE = mdlos_test_args["translate"]
COMMANDS = mdlos_test_args["commands"]


def main():
    try:
        gdb.execute("help pfnstats", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the mdlos package's commands")
    if gdb.lookup_global_symbol("MiGdbCheckpointDone") is None:
        return print("@@@ NOTRUN the kernel has no MiGdbCheckpointDone")
    gdb.execute("break MiGdbCheckpointDone")
    for other in ("HalHaltSystem", "KdShell"):   # a bugcheck, or a boot that never checkpoints
        if gdb.lookup_global_symbol(other) is not None:
            gdb.execute("break " + other)
    gdb.execute("continue")
    where = gdb.selected_frame().name()
    print("@@@ STOPPED " + str(where), flush=True)
    if where != "MiGdbCheckpointDone":
        return
    if TRANSLATE:
        for line in open(SERIAL, errors="replace").read().splitlines():
            m = re.match(r"mm: translate (\S+) -> \S+ pte=\S+ pfn=(\S+) ", line)
            if m:
                run("pt " + m.group(1))
                run("pfn " + m.group(2))
    for c in COMMANDS:
        run(c)

main()
