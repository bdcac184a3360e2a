"""What every GDB test driver here shares. scripts/ktest.py's gdb.* host
tests run GDB in batch mode with the gdbinit, the kernel and these
commands:

    python mdlos_test_args = {...}      the test's parameters, if any
    source scripts/gdb/tests/harness.py
    source scripts/gdb/tests/DRIVER.py

GDB runs every sourced Python file in the same namespace (__main__), so a
driver finds run(), val(), stop_at() and mdlos_test_args here. A driver says what it saw in
lines starting with @@@, which ktest.py parses and judges:

    @@@ NOTRUN why          the test cannot run here (no such command, symbol)
    @@@ STOPPED FUNCTION    where the kernel stopped
    @@@ BEGIN CMD ... @@@ END CMD   one command's output (run below)
    @@@ ERROR message       inside BEGIN/END: the command raised a gdb.error
"""
import gdb

try:
    mdlos_test_args
except NameError:
    mdlos_test_args = {}


def run(cmd):
    """Run the GDB command CMD, its output framed by @@@ BEGIN/END CMD."""
    print("@@@ BEGIN " + cmd)
    try:
        print(gdb.execute(cmd, to_string=True), end="")
    except gdb.error as e:
        print("@@@ ERROR " + str(e))
    print("@@@ END " + cmd, flush=True)


def val(expr):
    """EXPR as an unsigned 64-bit integer, with GDB's own expression evaluator."""
    return int(gdb.parse_and_eval(expr).cast(gdb.lookup_type("unsigned long long")))


def stop_at(location):
    """Break at LOCATION (and where a kernel stops for good: a bugcheck, the
    halt, kd), continue, report @@@ STOPPED with the function GDB stopped
    in, and return its name."""
    gdb.execute("break " + location)
    for other in ("KeBugCheckEx", "HalHaltSystem", "KdShell"):
        if gdb.lookup_global_symbol(other) is not None:
            gdb.execute("break " + other)
    try:
        gdb.execute("continue")
        f = gdb.selected_frame()
        # At a first instruction (`*function`) gcc may already be inside an
        # inlined helper: name the function it belongs to.
        while f.type() == gdb.INLINE_FRAME and f.older() is not None:
            f = f.older()
        where = f.name()
    except gdb.error as e:
        where = "nowhere (" + str(e) + ")"
    print("@@@ STOPPED " + str(where), flush=True)
    return where
