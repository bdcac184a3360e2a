"""pgtbl.dump.matches_gdb_ptdump (scripts/labhost.py).

The kernel runs the manual test pgtbl.dump_for_gdb: it builds a process,
prints the student's dump of it (lines "pgtbl: ...") and calls
MiLabDumpCheckpoint(CR3), where GDB stops and runs `ptdump CR3`."""
import gdb


def main():
    try:
        gdb.execute("help ptdump", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the ptdump command")
    if gdb.lookup_global_symbol("MiLabDumpCheckpoint") is None:
        return print("@@@ NOTRUN the kernel has no MiLabDumpCheckpoint (mm/lab/tests/pgtbl_test.c)")
    where = stop_at("MiLabDumpCheckpoint")
    if where != "MiLabDumpCheckpoint":
        return
    cr3 = val("$rdi")
    print("@@@ CR3 %#x" % cr3, flush=True)
    run("ptdump %#x" % cr3)

main()
