#!/usr/bin/env python3
"""The layout rule of docs/architecture.md, checked: a routine's NT prefix
names the folder that defines it (Ke/Ki in kernel/ke, Mm/Mi in mm/, Io/Iop in
io/, ...). Every non-static function definition in kernel/, mm/, io/ and
drivers/ (tests excepted) whose name starts with an NT prefix is looked up;
one defined elsewhere is reported with its file and line.

    python3 scripts/check_layout.py [ROOT]     exit 0: clean, 1: violations

The Ex* pool routines live in mm/ as in ntoskrnl (docs/architecture.md), and
Nt* system services live with the component whose service they are, so Nt
is not checked. Python 3 standard library only.
"""
import os
import re
import sys

# prefix -> the folders that may define it (longest prefixes first in the regex)
FOLDERS = {
    "Ke": ("kernel/ke/",), "Ki": ("kernel/ke/",),
    "Mm": ("mm/",), "Mi": ("mm/",),
    "Io": ("io/",), "Iop": ("io/",),
    "Ex": ("kernel/ex/", "mm/"), "Exp": ("kernel/ex/", "mm/"),
    "Ps": ("kernel/ps/",), "Psp": ("kernel/ps/",),
    "Ob": ("kernel/ob/",), "Obp": ("kernel/ob/",),
    "Rtl": ("kernel/rtl/",),
    "Kd": ("kernel/kd/",),
    "Hal": ("kernel/hal/",), "Halp": ("kernel/hal/",),
    "Kt": ("kernel/ktest/",),
}
PREFIXES = sorted(FOLDERS, key=len, reverse=True)
# A definition starts at column 0, is not static, and its line has no ';'
# (a prototype or a call would).
DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b((%s)[A-Z]\w*)\s*\([^;]*$" % "|".join(PREFIXES))


def violations(root):
    found = []
    for top in ("kernel", "mm", "io", "drivers"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "tests")
            rel = os.path.relpath(dirpath, root).replace(os.sep, "/") + "/"
            for f in sorted(filenames):
                if not f.endswith(".c"):
                    continue
                with open(os.path.join(dirpath, f), encoding="utf-8", errors="replace") as src:
                    for n, line in enumerate(src, 1):
                        m = DEFINITION.match(line)
                        if m and not rel.startswith(FOLDERS[m.group(2)]):
                            found.append(f"{rel}{f}:{n}: {m.group(1)} is defined outside "
                                         f"{' or '.join(FOLDERS[m.group(2)])}")
    return found


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    bad = violations(root)
    for line in bad:
        print(line)
    print(f"layout: {len(bad)} routine(s) outside the folder their prefix names")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
