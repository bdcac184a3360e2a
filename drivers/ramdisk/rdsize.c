/*
 * The RAM disks' default sizes, from the RAM. Their storage is nonpaged
 * pool taken whole when the driver starts (rdstore.c), so it is RAM the
 * rest of the system never gets back: 4 + 2 MiB is nothing on the usual
 * 256 MiB test machine and two fifths of what a 16 MiB one has left after
 * the kernel. Each disk keeps its figure while it is at most an eighth
 * (RamDisk0) or a sixteenth (the bench pair) of the RAM, and shrinks to
 * that fraction below, in whole MiB and never under 1: a 64 MiB machine
 * still gets 4 and 2, a 32 MiB one 3 and 1, a 16 MiB one 1 and 1.
 */
#include "drivers/ramdisk/ramdisk.h"

static ULONG64 fraction_mib(PFN_NUMBER ram_pages, ULONG64 divisor, ULONG64 ceiling)
{
    ULONG64 mib = (ram_pages >> (20 - PAGE_SHIFT)) / divisor;
    return mib < 1 ? 1 : mib > ceiling ? ceiling : mib;
}

ULONG64 RdDefaultDiskMib(PFN_NUMBER ram_pages)
{
    return fraction_mib(ram_pages, 8, RD_DEFAULT_MIB);
}

ULONG64 RdBenchDiskMib(PFN_NUMBER ram_pages)
{
    return fraction_mib(ram_pages, 16, RD_BENCH_MIB);
}
