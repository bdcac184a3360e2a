"""gdb.vq_and_one_read_walked_from_ntreadfile_to_ring3.

The kernel runs user.disk.pattern_written_from_unaligned_buffer_by_dma_read_back
(utest_disk reads 5 pages back from \\Device\\Harddisk0\\DR0). GDB follows
that one read through every hand-off docs/debugging.md names, with a
temporary breakpoint at each, printing @@@ HANDOFF lines, and runs `vq 0`
where the chain has just been published (vb_notify) and where the DPC
starts (VbDpc), and `sglist` on the list the execution routine got."""
import gdb

READ_LENGTH = 5 * 4096


def handoff(name, location, condition=None):
    """Continue to LOCATION (a temporary breakpoint, with CONDITION);
    report @@@ HANDOFF NAME FUNCTION. Returns True when GDB stopped there."""
    spec = location + (" if " + condition if condition else "")
    gdb.execute("tbreak " + spec, to_string=True)
    try:
        gdb.execute("continue", to_string=True)
        f = gdb.selected_frame()
        # At a first instruction gcc may already be inside an inlined
        # helper: name the real function it belongs to.
        while f.type() == gdb.INLINE_FRAME and f.older() is not None:
            f = f.older()
        where = f.name()
    except gdb.error as e:
        where = "nowhere (" + str(e).splitlines()[0] + ")"
    print("@@@ HANDOFF %s %s" % (name, where), flush=True)
    return where is not None and where.split("(")[0] == location.split(":")[-1].lstrip("*")


def main():
    try:
        gdb.execute("help vq", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the vq command of the mdlos package")
    for sym in ("NtReadFile_", "vb_read_write", "vb_sg_ready", "vb_notify", "VbDpc", "complete_apc"):
        if gdb.lookup_static_symbol(sym) is None and gdb.lookup_global_symbol(sym) is None:
            return print("@@@ NOTRUN the kernel has no %s" % sym)
    for other in ("KeBugCheckEx", "HalHaltSystem"):
        gdb.execute("break " + other, to_string=True)
    # 1. The system service, for the 5-page read (a[6] is NtReadFile's Length).
    if not handoff("syscall", "NtReadFile_", "a[6] == %d" % READ_LENGTH):
        return
    print("@@@ STOPPED NtReadFile_", flush=True)
    # 2. The I/O manager sends the IRP down the device stack.
    if not handoff("iocalldriver", "IoCallDriver"):
        return
    irp = val("irp")
    print("@@@ IRP %#x" % irp, flush=True)
    print("@@@ MDL %#x" % val("irp->MdlAddress"), flush=True)
    run("irp irp")
    # 3. The driver's dispatch routine.
    if not handoff("dispatch", "vb_read_write", "irp == (void *)%#x" % irp):
        return
    # 4. The DMA adapter builds the list from the MDL's PFN array...
    # At its first instruction (after the prologue clang is already inside
    # the in-line KeGetCurrentIrql, where `mdl` is not in scope): the MDL is
    # the third argument, $rdx.
    if not handoff("getsglist", "*get_scatter_gather_list", "$rdx == %#x" % val("irp->MdlAddress")):
        return
    # 5. ...and calls the driver's execution routine with it, from inside
    # that call (a 64-bit master needs no map registers, so nothing waits).
    # At its first instruction the list is the third argument, $rdx; the
    # second is DeviceObject->CurrentIrp (NT's rule), which this driver does
    # not use: the context names the request.
    if not handoff("sgready", "*vb_sg_ready"):
        return
    sg = val("$rdx")
    n = val("((struct _SCATTER_GATHER_LIST *)$rdx)->NumberOfElements")
    print("@@@ SG %#x n=%d" % (sg, n), flush=True)
    for i in range(n):
        e = "((struct _SCATTER_GATHER_LIST *)%#x)->Elements[%d]" % (sg, i)
        print("@@@ ELEM %d %#x %#x" % (i, val(e + ".Address.QuadPart"), val(e + ".Length")), flush=True)
    run("sglist %#x" % sg)
    # 6. The chain is published; the notify register is next.
    if not handoff("notify", "vb_notify"):
        return
    print("@@@ AVAIL %d" % val("x->AvailIdx"), flush=True)
    run("vq 0")
    # 7. The device's MSI-X message: the ISR.
    if not handoff("isr", "VbIsrMsix"):
        return
    # 8. The DPC walks the used ring.
    if not handoff("dpc", "VbDpc"):
        return
    run("vq 0")
    # 9. The IRP completes...
    # At a function's first instruction its first argument is in RDI (the
    # SysV calling convention), whatever the compiler later does with it; a
    # breakpoint after the prologue (GDB's default) can sit in a block that
    # clang's code skips, and then never stops.
    if not handoff("complete", "*IoCompleteRequest", "$rdi == %#x" % irp):
        return
    # 10. ...and its second stage runs in the requester's thread, as an APC.
    if not handoff("apc", "*complete_apc", "$rdi == (long)&((struct _IRP *)%#x)->Tail.Apc" % irp):
        return
    # 11. Back to ring 3: the IRETQ, then one instruction in user mode.
    if not handoff("iret", "KiIretToUser"):
        return
    gdb.execute("stepi", to_string=True)
    print("@@@ USER rip=%#x cs=%#x" % (val("$rip"), val("$cs")), flush=True)


main()
