"""gdb.irp_devobj_drvobj_show_a_held_irp.

The kernel runs the ktest irp.cancel_while_pended_runs_the_cancel_routine:
an IRP sent down a three-device stack (top -> mid -> bottom) is held by
the bottom driver with a cancel routine. GDB stops at IoCancelIrp, whose
first argument ($rdi) is that IRP, prints what plain GDB expressions say
about it (@@@ IRP / @@@ LOC / @@@ DEV), then runs irp, devobj and drvobj."""
import gdb



def sym(addr):
    """The function at ADDR, as GDB's own `info symbol` names it (a block
    lookup would name a function inlined at its first instruction)."""
    if not addr:
        return "none"
    text = gdb.execute("info symbol %#x" % addr, to_string=True).strip()
    return text.split(" in section")[0].split(" + ")[0] if not text.startswith("No symbol") else "?"


def main():
    try:
        gdb.execute("help irp", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the irp command of the mdlos package")
    if gdb.lookup_global_symbol("IoCancelIrp") is None:
        return print("@@@ NOTRUN the kernel has no IoCancelIrp")
    where = stop_at("*IoCancelIrp")
    if where != "IoCancelIrp":
        return
    i = "((IRP *)$rdi)"
    irp = val("$rdi")
    count, cur = val(i + "->StackCount") & 0xFF, val(i + "->CurrentLocation") & 0xFF
    print("@@@ IRP irp=%#x count=%d current=%d flags=%#x cancel=%s" % (
        irp, count, cur, val(i + "->Flags"), sym(val("(unsigned long long)" + i + "->CancelRoutine"))))
    first = "((struct _IO_STACK_LOCATION *)(%s + 1))" % i
    for k in range(count):
        loc = "%s[%d]" % (first, k)
        print("@@@ LOC %d major=%d dev=%#x routine=%s" % (
            k + 1, val(loc + ".MajorFunction") & 0xFF, val("(unsigned long long)" + loc + ".DeviceObject"),
            sym(val("(unsigned long long)" + loc + ".CompletionRoutine"))), flush=True)
    bottom = val("(unsigned long long)%s[0].DeviceObject" % first)
    driver = val("(unsigned long long)((struct _DEVICE_OBJECT *)%#x)->DriverObject" % bottom)
    print("@@@ DEV bottom=%#x driver=%#x stack=%d" % (bottom, driver,
                                                        val("((struct _DEVICE_OBJECT *)%#x)->StackSize" % bottom) & 0xFF))
    for c in ("irp $rdi", "devobj %#x" % bottom, "drvobj %#x" % driver):
        run(c)


main()
