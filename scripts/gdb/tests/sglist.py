"""gdb.sglist_shows_a_zero_copy_list.

The kernel runs dma.user_buffer_zero_copy_addresses_are_the_users_frames:
a 64-bit adapter builds a list for a locked, unaligned, 6-page user
buffer. GDB stops in the test's execution routine (record_list, whose
third argument $rdx is the list), prints what plain GDB expressions read
(@@@ LIST / @@@ ELEM / @@@ MDLPFN), then runs `sglist $rdx`."""
import gdb


def main():
    try:
        gdb.execute("help sglist", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the sglist command of the mdlos package")
    if gdb.lookup_static_symbol("record_list") is None and gdb.lookup_global_symbol("record_list") is None:
        return print("@@@ NOTRUN the kernel has no record_list (io/tests/dma_test.c)")
    where = stop_at("record_list")
    if where != "record_list":
        return
    l = "((struct _SCATTER_GATHER_LIST *)$rdx)"
    n = val(l + "->NumberOfElements")
    print("@@@ LIST n=%d" % n, flush=True)
    for i in range(n):
        print("@@@ ELEM %d %#x %#x" % (i, val("%s->Elements[%d].Address.QuadPart" % (l, i)),
                                        val("%s->Elements[%d].Length" % (l, i))), flush=True)
    run("sglist $rdx")


main()
