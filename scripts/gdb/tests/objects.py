"""gdb.obj_and_handles_show_objects.

An ordinary boot starts init, which starts sh and holds a process handle
to it. GDB stops when sh waits for a line (NtReadConsole); the driver runs
`handles init`, then `obj` on the first object that table names, on the
root directory and on the System process, each framed by @@@."""
import re

import gdb


def handles_init():
    try:
        return gdb.execute("handles init", to_string=True)
    except gdb.error as e:
        return "@@@ ERROR " + str(e) + "\n"


def main():
    try:
        gdb.execute("help handles", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the ob commands of the mdlos package")
    if gdb.lookup_global_symbol("ObpRootDirectory") is None:
        return print("@@@ NOTRUN the kernel has no object manager (ObpRootDirectory)")
    # Run after processes.py on the same machine (ktest.py's user chain),
    # sh may be there already: it reads no line that could bring it back.
    try:
        here = gdb.selected_frame().name()
    except gdb.error:
        here = None
    if here != "NtReadConsole":
        gdb.execute("break NtReadConsole")
        gdb.execute("continue")
    print("@@@ STOPPED " + str(gdb.selected_frame().name()), flush=True)
    out = handles_init()
    m = re.search(r"^\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s", out, re.M)
    if not m:
        # sh can reach NtReadConsole before init's NtCreateProcess has
        # filled the handle slot it reserved (the child runs first): let
        # init go on to its wait for sh, by which time the handle is there.
        gdb.execute("delete")
        gdb.execute("break NtWaitForSingleObject")
        gdb.execute("continue")
        out = handles_init()
        m = re.search(r"^\s+0x[0-9a-f]+\s+(0x[0-9a-f]+)\s", out, re.M)
    print("@@@ BEGIN handles init\n" + out + "@@@ END handles init", flush=True)
    if m:
        print("@@@ FIRST " + m.group(1), flush=True)
        run("obj " + m.group(1))
    run("obj ObpRootDirectory")
    run("obj &PsInitialSystemProcess")
    run("handles")


main()
