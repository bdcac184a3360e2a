"""The pools: statistics, the pool tag table and big pages (pool)."""
import fnmatch
import struct

import gdb

from .common import K, Command, kernel_value, to_int


def tag_text(tag):
    return "".join(chr(b) if 32 <= b < 127 else "." for b in struct.pack("<I", tag & 0xFFFFFFFF))


def tag_matches(tag, pattern):
    text = tag_text(tag)
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(text, pattern) or fnmatch.fnmatchcase(text.rstrip(), pattern)
    return text == pattern.ljust(4)[:4] if len(pattern) <= 4 else False


class PoolCommand(Command):
    """Pool statistics and the pool tag table (mm/pool.h).

Usage: pool [TAG]
  TAG  a four-character tag ("Mdl" means "Mdl "), or a pattern (Gdb*)

First, for each pool (MiNonPagedPool, MiPagedPool): its start, size in
pages, allocations and frees so far, allocations outstanding, bytes and
pages in use, failures. Then MiPoolTags: per tag, allocations, frees and
bytes in use in nonpaged and paged pool. With TAG, only that tag, plus its
whole-page ("big page") allocations from MiBigPages."""

    def __init__(self):
        super().__init__("pool", gdb.COMMAND_DATA, gdb.COMPLETE_NONE)

    def run(self, arg):
        argv = gdb.string_to_argv(arg)
        pattern = argv[0] if argv else None
        lines = [f"{'pool':<9} {'start':<18} {'pages':>6} {'allocs':>8} {'frees':>8} {'outstanding':>11} "
                 f"{'bytes in use':>12} {'pages in use':>12} {'failures':>8}"]
        for name in ("MiNonPagedPool", "MiPagedPool"):
            p = kernel_value(name)
            allocs, frees = int(p["Allocs"]), int(p["Frees"])
            try:
                label = p["Name"].string() if int(p["Name"]) else name
            except gdb.error:
                label = name
            lines.append(f"{label:<9} {to_int(p['Start']):#018x} {int(p['Pages']):>6} {allocs:>8} {frees:>8} "
                  f"{allocs - frees:>11} {int(p['BytesInUse']):>12} {int(p['PagesInUse']):>12} "
                         f"{int(p['Failures']):>8}")
        print("\n".join(lines))
        tags = kernel_value("MiPoolTags")
        n = tags.type.strip_typedefs().range()[1] + 1
        rows = []
        for i in range(n):
            t = tags[i]
            tag = int(t["Tag"])
            if not tag or (pattern and not tag_matches(tag, pattern)):
                continue
            rows.append((tag_text(tag), [int(t[f][k]) for k in (0, 1) for f in ("Allocs", "Frees", "Bytes")]))
        rows.sort()
        print()
        print(f"{'tag':<6} {'NP allocs':>9} {'NP frees':>9} {'NP bytes':>10} {'P allocs':>9} {'P frees':>9} "
              f"{'P bytes':>10}")
        for text, v in rows:
            print(f"{text!r:<6} {v[0]:>9} {v[1]:>9} {v[2]:>10} {v[3]:>9} {v[4]:>9} {v[5]:>10}")
        if not rows:
            print(f"(no tag{' matching ' + repr(pattern) if pattern else ''})")
        if pattern:
            big = kernel_value("MiBigPages")
            nb = big.type.strip_typedefs().range()[1] + 1
            shown = False
            for i in range(nb):
                b = big[i]
                if int(b["Va"]) <= 1 or not tag_matches(int(b["Tag"]), pattern):
                    continue
                if not shown:
                    print("big pages (whole-page allocations):")
                    shown = True
                kind = "paged" if int(b["PoolType"]) & K.enum("MI_POOL_HDR_PAGED") else "nonpaged"
                print(f"  {to_int(b['Va']):#018x} {int(b['Pages']):>4} pages {int(b['Bytes']):>8} bytes "
                      f"{tag_text(int(b['Tag']))!r} {kind}")
