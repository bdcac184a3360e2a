"""dmalab.gdb.sglist_shows_your_bounced_list (the DMA lab, docs/labs/dma.md).

The kernel runs dmalab.bounce.write_is_copied_in_at_build: the student's
IoLabBuildScatterGatherList made a list for frames high, low, high, low
and a 27-bit device. GDB stops at the first instruction of the student's
IoLabPutScatterGatherList (Dma in $rdi, List in $rsi), prints what plain
GDB expressions read - the elements (@@@ ELEM) and the map registers'
frames (@@@ REG) - then runs the handout's commands `sglist $rsi` and
`p/x *(struct _IO_LAB_DMA *)$rdi`."""
import gdb


def main():
    try:
        gdb.execute("help sglist", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the sglist command of the mdlos package")
    if gdb.lookup_global_symbol("IoLabPutScatterGatherList") is None:
        return print("@@@ NOTRUN the kernel has no IoLabPutScatterGatherList (io/lab/sg.c)")
    if stop_at("*IoLabPutScatterGatherList") != "IoLabPutScatterGatherList":
        return
    l = "((struct _SCATTER_GATHER_LIST *)$rsi)"
    d = "((struct _IO_LAB_DMA *)$rdi)"
    n = val(l + "->NumberOfElements")
    print("@@@ LIST n=%d" % n, flush=True)
    for i in range(min(n, 64)):
        print("@@@ ELEM %d %#x %#x" % (i, val("%s->Elements[%d].Address.QuadPart" % (l, i)),
                                        val("%s->Elements[%d].Length" % (l, i))), flush=True)
    for i in range(min(val(d + "->MapRegisterCount"), 64)):
        print("@@@ REG %d %#x" % (i, val("%s->MapRegisterPfn[%d]" % (d, i))), flush=True)
    run("sglist $rsi")
    run("p/x *(struct _IO_LAB_DMA *)$rdi")


main()
