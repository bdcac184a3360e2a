"""What every GDB test driver here shares. scripts/ktest.py's gdb.* host
tests run GDB in batch mode with the gdbinit, the kernel and these
commands:

    python mdlos_test_args = {...}      the test's parameters, if any
    source scripts/gdb/tests/harness.py
    source scripts/gdb/tests/DRIVER.py

GDB runs every sourced Python file in the same namespace (__main__), so a
driver finds run() and mdlos_test_args here. A driver says what it saw in
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
