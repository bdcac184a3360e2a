"""gdb.mdl_command_shows_a_locked_mdl.

The kernel runs the MDL ktests named in mdlos_test_args["tests"] (each
locks a paged-pool buffer, maps it with MmGetSystemAddressForMdlSafe and
unlocks it); GDB stops at the entry of the first MmUnlockPages whose MDL
(the first argument, $rdi) is locked and mapped, prints the MDL's fields
and frames read with plain GDB expressions (@@@ FIELDS / @@@ FRAME), then
runs the commands."""
import gdb

TESTS = mdlos_test_args["tests"]


def main():
    try:
        gdb.execute("help locked", to_string=True)
    except gdb.error:
        return print("@@@ NOTRUN the gdbinit did not load the mdl and locked commands of the mdlos package")
    if gdb.lookup_global_symbol("MmUnlockPages") is None:
        return print("@@@ NOTRUN the kernel has no MmUnlockPages")
    def exists(test):
        sym = "ktest_desc_" + test.replace(".", "_")
        return gdb.lookup_static_symbol(sym) is not None or gdb.lookup_global_symbol(sym) is not None
    if not any(exists(t) for t in TESTS):
        return print("@@@ NOTRUN the kernel has none of the ktests " + ", ".join(TESTS))
    where = stop_at("*MmUnlockPages if (((struct _MDL *)$rdi)->MdlFlags & 3) == 3")
    if where != "MmUnlockPages":
        return
    m = "((struct _MDL *)$rdi)"
    mdl = val("$rdi")
    span = ((val(m + "->ByteOffset") & 0xFFF) + val(m + "->ByteCount") + 0xFFF) >> 12
    print("@@@ FIELDS mdl=%#x flags=%#x count=%d offset=%d start=%#x sys=%#x process=%#x size=%d span=%d" % (
        mdl, val(m + "->MdlFlags") & 0xFFFF, val(m + "->ByteCount"), val(m + "->ByteOffset"),
        val(m + "->StartVa"), val(m + "->MappedSystemVa"), val(m + "->Process"), val(m + "->Size"), span))
    for i in range(span):
        pfn = val("((unsigned long long *)(%s + 1))[%d]" % (m, i))
        e = "MmPfnDatabase[%d]" % pfn
        print("@@@ FRAME %d pfn=%#x loc=%d refs=%d shares=%d" % (
            i, pfn, val(e + ".PageLocation"), val(e + ".ReferenceCount"), val(e + ".ShareCount")), flush=True)
    for c in ("mdl $rdi", "locked", "locked 0", "pt %#x" % val(m + "->MappedSystemVa")):
        run(c)

main()
