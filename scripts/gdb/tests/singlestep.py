"""pgtbl.gdb.single_step_recipe (scripts/labhost.py): the single-step
recipe of docs/labs/pgtbl.md and docs/debugging.md, done by GDB.

Break in MiLabWalkPhysical (CR3 in $rdi, VA in $rsi, the MI_LAB_WALK in
$rdx), watch the four Entry[] slots of the walk record and continue: every
time the walk stores a level's entry, GDB stops and shows the new value
(the memset's zeroes are skipped). At the return, `pt VA CR3` walks the
same address in physical memory; the runner compares every level."""
import gdb


def main():
    if gdb.lookup_global_symbol("MiLabWalkPhysical") is None:
        return print("@@@ NOTRUN the kernel has no MiLabWalkPhysical (mm/lab/pgtbl.c)")
    # The first instruction, not after the prologue: only there are the
    # arguments certainly in RDI/RSI/RDX and the return address at [RSP]
    # (clang's prologue moves them; reading them later read another walk).
    where = stop_at("*MiLabWalkPhysical")
    if where != "MiLabWalkPhysical":
        return
    cr3, va, walk = val("$rdi"), val("$rsi"), val("$rdx")
    ret = val("*(unsigned long long *)$rsp")
    entry_sp = val("$rsp")
    print("@@@ WALK cr3=%#x va=%#x walk=%#x" % (cr3, va, walk), flush=True)
    gdb.execute("delete")
    slots = {}
    for level in range(4):
        gdb.execute("watch -l *(unsigned long long *)%#x" % (walk + 8 + 8 * level), to_string=True)
    gdb.execute("tbreak *%#x" % ret, to_string=True)
    cleared = False
    for _ in range(64):
        try:
            gdb.execute("continue", to_string=True)
        except gdb.error as e:
            print("@@@ ENDED %s" % e, flush=True)   # the kernel left QEMU: the walk never returned
            return
        pc = val("$pc")
        if pc == ret:
            break
        if val("$rsp") > entry_sp:
            # Unwound without returning (a longjmp: the stub's
            # KtLabNotImplemented ends the test): the stack is reused now.
            print("@@@ UNWOUND in %s" % gdb.selected_frame().name(), flush=True)
            break
        try:
            fn = gdb.selected_frame().name()
        except gdb.error:
            fn = "?"
        entries = [val("*(unsigned long long *)%#x" % (walk + 8 + 8 * level)) for level in range(4)]
        if not cleared:
            # The record is cleared first (memset, maybe inlined as rep stos):
            # nothing counts until all four slots have read zero.
            cleared = not any(entries)
            continue
        for level in range(4):
            v = val("*(unsigned long long *)%#x" % (walk + 8 + 8 * level))
            if v and slots.get(level) != v:
                slots[level] = v
                print("@@@ LEVEL %d entry=%#x in %s" % (level, v, fn), flush=True)
    print("@@@ RETURNED status=%#x" % (val("$rax") & 0xFFFFFFFF), flush=True)
    gdb.execute("delete")
    run("pt %#x %#x" % (va, cr3))

main()
