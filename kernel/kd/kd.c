/*
 * A tiny kernel debugger shell on the serial console: what `make run
 * CMDLINE=kd` lands in (kmain skips init), and where the kernel goes when
 * init cannot start. Commands are read byte by byte from COM1 by polling.
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"
#include "kernel/hal/hal.h"
#include "kernel/ktest/ktest.h"
#include "kernel/hal/x86.h"
#include "mm/mm.h"
#include "kernel/ob/obp.h"
#include "drivers/pci/pci.h"


static int read_line(char *buf, int size)
{
    int n = 0;
    for (;;) {
        int c = HalSerialGetChar();
        if (c < 0) {
            cpu_pause();
            continue;
        }
        if (c == '\r' || c == '\n') {
            kprintf("\n");
            buf[n] = 0;
            return n;
        }
        if ((c == 0x7F || c == 8) && n > 0) {
            n--;
            kprintf("\b \b");
        } else if (c >= ' ' && c < 0x7F && n + 1 < size) {
            buf[n++] = (char)c;
            kprintf("%c", c);
        }
    }
}

static void cmd_sym(const char *arg)
{
    ULONG64 addr;
    if (RtlParseUlong64(arg, &addr)) {
        ULONG_PTR off;
        const char *name = KdLookupSymbol(addr, &off);
        if (name)
            kprintf("%p = %s+%#lx\n", (void *)addr, name, (unsigned long)off);
        else
            kprintf("%p is not in the kernel's text\n", (void *)addr);
    } else {
        ULONG_PTR a = KdSymbolAddress(arg);
        if (a)
            kprintf("%s = %p\n", arg, (void *)a);
        else
            kprintf("no function named \"%s\"\n", arg);
    }
}

static void cmd_tests(void)
{
    for (const KTEST *t = __ktests_start; t < __ktests_end; t++)
        kprintf("  %s.%s%s%s\n", t->suite, t->name, (t->flags & KTEST_F_BUGCHECK) ? "  (expects a bugcheck)" : "",
                (t->flags & KTEST_F_MANUAL) ? "  (manual)" : "");
}

/* Every process's handles (or PID's), from the object manager's snapshot
 * (the buffer is allocated before its locks are taken, as SystemHandleList's). */
static void cmd_handles(const char *arg)
{
    ULONG64 pid = 0;
    BOOLEAN one = arg[0] && RtlParseUlong64(arg, &pid);
    ULONG cap = (ULONG)ObpTotalHandles + 16;
    SYSTEM_HANDLE_T *snap = ExAllocatePoolWithTag(NonPagedPoolNx, cap * sizeof(*snap), POOL_TAG('K', 'd', 'H', 's'));
    if (!snap) {
        kprintf("handles: out of pool\n");
        return;
    }
    ULONG n = ObpSnapshotHandles(snap, cap);
    kprintf("%6s %8s %-12s %10s %4s %4s %-18s %s\n", "PID", "HANDLE", "TYPE", "ACCESS", "PTR", "HND", "OBJECT", "NAME");
    for (ULONG i = 0; i < n && i < cap; i++) {
        SYSTEM_HANDLE_T *h = &snap[i];
        if (one && h->ProcessId != pid)
            continue;
        kprintf("%6llu %#8llx %-12s %#10x %4u %4u %p %s\n", (unsigned long long)h->ProcessId,
                (unsigned long long)h->Handle, h->TypeName, h->GrantedAccess, h->PointerCount, h->HandleCount,
                (void *)h->Object, h->Name);
    }
    kprintf("%u handle(s) in all processes\n", n);
    ExFreePoolWithTag(snap, POOL_TAG('K', 'd', 'H', 's'));
}

void KdShell(void)
{
    char line[128];
    kprintf("\nType 'help' for commands.\n");
    for (;;) {
        kprintf("kd> ");
        read_line(line, sizeof(line));
        char *arg = strchr(line, ' ');
        if (arg)
            *arg++ = 0;
        else
            arg = "";
        if (strcmp(line, "help") == 0) {
            kprintf("help            this list\n"
                    "mem             the physical memory map GRUB gave us, and the commit charge\n"
                    "cmdline         the boot command line\n"
                    "sym NAME|ADDR   look up a kernel function or address\n"
                    "bt              backtrace of this shell\n"
                    "tests           the self-tests built into this kernel\n"
                    "handles [PID]   every process's handles, or one process's\n"
                    "pci             the PCI functions the bus driver found: IDs, BARs, interrupts\n"
                    "crash           bugcheck 0xE2 MANUALLY_INITIATED_CRASH, to see a stop report\n"
                    "quit            leave QEMU\n");
        } else if (strcmp(line, "mem") == 0) {
            for (uint32_t i = 0; i < KiBootInfo.range_count; i++)
                kprintf("  0x%012llx +%#llx type %u\n", (unsigned long long)KiBootInfo.ranges[i].base,
                        (unsigned long long)KiBootInfo.ranges[i].length, KiBootInfo.ranges[i].type);
            kprintf("  %llu KiB available\n", (unsigned long long)(KiTotalAvailableMemory() >> 10));
            MmPrintCommit();
        } else if (strcmp(line, "cmdline") == 0) {
            kprintf("%s\n", KiBootInfo.cmdline);
        } else if (strcmp(line, "sym") == 0) {
            cmd_sym(arg);
        } else if (strcmp(line, "bt") == 0) {
            KdDumpBacktrace((ULONG_PTR)KdShell, read_rbp(), FALSE);
        } else if (strcmp(line, "tests") == 0) {
            cmd_tests();
        } else if (strcmp(line, "handles") == 0) {
            cmd_handles(arg);
        } else if (strcmp(line, "pci") == 0) {
            PciDumpDevices();
        } else if (strcmp(line, "crash") == 0) {
            KeBugCheckEx(MANUALLY_INITIATED_CRASH, 0, 0, 0, 0);
        } else if (strcmp(line, "quit") == 0 || strcmp(line, "exit") == 0) {
            HalQemuExit(QEMU_EXIT_PASS);
            kprintf("no isa-debug-exit device; halting\n");
            HalHaltSystem();
        } else if (line[0]) {
            kprintf("unknown command \"%s\"; try help\n", line);
        }
    }
}
