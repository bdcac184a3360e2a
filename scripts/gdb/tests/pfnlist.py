"""gdb.pfnlist_walks_a_lab_page_list.

The kernel runs pfnlab.check.counts_and_tails, which links the PFN lab's
lists by hand and then calls MiLabCheckPageLists over them - the same
with the lab's stubs, since nothing of the student's has run yet. GDB
stops at the entry of that call (the lists are the first argument,
$rdi), prints the free list as plain GDB expressions read it (@@@ HEAD /
@@@ FRAME) and runs `pfnlist` over it; then sets the list's Total one too
high, does the same, and puts Total back."""
import gdb

TEST = "pfnlab.check.counts_and_tails"
LISTS = "((struct _MI_LAB_PAGE_LISTS *)$rdi)"


def plain(tag):
    h = LISTS + "->Free"
    end = val("(unsigned long long)-1")
    print("@@@ HEAD %s total=%d flink=%#x blink=%#x" % (tag, val(h + ".Total"), val(h + ".Flink"),
                                                       val(h + ".Blink")))
    pfn, n = val(h + ".Flink"), 0
    while pfn != end and n < 40:
        e = "MmPfnDatabase[%d]" % pfn
        print("@@@ FRAME %s %d pfn=%#x loc=%d blink=%#x" % (tag, n, pfn, val(e + ".PageLocation"),
                                                           val(e + ".Blink")), flush=True)
        pfn, n = val(e + ".Flink"), n + 1


def main():
    try:
        gdb.execute("help pfnlist", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the pfnlist command of the mdlos package")
    if gdb.lookup_global_symbol("MiLabCheckPageLists") is None:
        return print("@@@ NOTRUN the kernel has no MiLabCheckPageLists (the PFN lab)")
    if stop_at("*MiLabCheckPageLists") != "MiLabCheckPageLists":
        return
    plain("sound")
    run("pfnlist %s->Free" % LISTS)
    # The corruption is made here, not by the test's next step: with the
    # lab's stubs the checker ends the test at this first call.
    gdb.execute("set var %s->Free.Total = 4" % LISTS)
    plain("corrupt")
    run("pfnlist %s->Free 2" % LISTS)
    gdb.execute("set var %s->Free.Total = 3" % LISTS)


main()
