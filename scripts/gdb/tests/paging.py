"""gdb.pagefile_and_pt_show_a_page_that_is_out.

The kernel boots with pagefile=Harddisk1 and runs the manual test
pagefile_gdb.one_page_out_for_gdb, which writes one paged-pool page out,
repurposes its frame and calls MiTestPagefileGdbStop(VA, PTE). GDB stops
there, says what plain expressions read (@@@ PAGE va pte slot), then runs
`pagefile`, `pagefile 0 SLOT` and `pt VA`; the runner checks that each
shows the page where the PTE says it is."""
import gdb


def main():
    try:
        gdb.execute("help pagefile", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the pagefile command of the mdlos package")
    if stop_at("MiTestPagefileGdbStop") != "MiTestPagefileGdbStop":
        return
    va, pte = val("$rdi"), val("$rsi")
    slot = pte >> 32
    print("@@@ PAGE %#x %#x %#x" % (va, pte, slot))
    run("pagefile")
    run("pagefile 0 %#x" % slot)
    run("pt %#x" % va)


main()
