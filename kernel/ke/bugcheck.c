/*
 * KeBugCheckEx: the kernel found a bug in itself or in a driver and stops.
 * As on NT the report is a code, four parameters whose meaning depends on
 * the code, and a name; mdlos adds the broken rule in words and a
 * symbolized backtrace so a student can see what went wrong without a
 * debugger. Under `make test` it then leaves QEMU with a failure status;
 * otherwise it halts the CPU.
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"
#include "kernel/hal/hal.h"
#include "kernel/ktest/ktest.h"
#include "kernel/hal/x86.h"

struct bugcode {
    ULONG code;
    const char *name;
    const char *rule;
};

static const struct bugcode bugcodes[] = {
    { APC_INDEX_MISMATCH, "APC_INDEX_MISMATCH",
      "a thread's APC state is wrong: an APC of a kind mdlos does not have, or a thread returning to ring 3 "
      "(or from an APC routine) in a guarded region, owning a mutex or attached (P4 says which, kernel/ke/apc.c)" },
    { IRQL_UNEXPECTED_VALUE, "IRQL_UNEXPECTED_VALUE",
      "the IRQL is not what it must be here (P1 = IRQL << 16 | expected << 8; an APC routine changed it)" },
    { 0x09, "IRQL_NOT_GREATER_OR_EQUAL", "KeRaiseIrql was asked to go to a lower IRQL (P1 current, P2 requested)" },
    { 0x0F, "SPIN_LOCK_ALREADY_OWNED", "a CPU tried to acquire a spin lock it already holds" },
    { 0x10, "SPIN_LOCK_NOT_OWNED", "a spin lock was released by a CPU that does not hold it" },
    { 0x11, "THREAD_NOT_MUTEX_OWNER", "a mutex was released by a thread that does not own it" },
    { 0x4A, "IRQL_GT_ZERO_AT_SYSTEM_SERVICE", "a system service returned to user mode above PASSIVE_LEVEL" },
    { 0xBE, "ATTEMPTED_WRITE_TO_READONLY_MEMORY", "the kernel wrote to read-only memory (P1 address, P2 PTE)" },
    { 0xDA, "SYSTEM_PTE_MISUSE", "system PTEs were released or unmapped in a way that does not match how they were reserved" },
    { 0xFC, "ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY", "the kernel executed no-execute memory (P1 address, P2 PTE)" },
    { IRQL_NOT_LESS_OR_EQUAL, "IRQL_NOT_LESS_OR_EQUAL",
      "pageable or invalid memory was touched at an IRQL too high to take a page fault (P1 address, P2 IRQL, P3 access, P4 RIP)" },
    { BAD_POOL_HEADER, "BAD_POOL_HEADER", "a pool block header was found damaged: something wrote outside its allocation" },
    { KMODE_EXCEPTION_NOT_HANDLED, "KMODE_EXCEPTION_NOT_HANDLED",
      "kernel code raised an exception (P1 status, P2 address) that no exception handler caught" },
    { 0x1A, "MEMORY_MANAGEMENT", "the memory manager found its own structures inconsistent" },
    { 0x31, "PHASE0_INITIALIZATION_FAILED", "the kernel could not start from what the boot loader handed it" },
    { NO_MORE_SYSTEM_PTES, "NO_MORE_SYSTEM_PTES", "a mapping that was not allowed to fail found no free system PTEs" },
    { TARGET_MDL_TOO_SMALL, "TARGET_MDL_TOO_SMALL", "a partial MDL was built into a target MDL too small for the range" },
    { PFN_LIST_CORRUPT, "PFN_LIST_CORRUPT", "the PFN database is inconsistent (a page freed or unlocked twice?)" },
    { PAGE_FAULT_IN_NONPAGED_AREA, "PAGE_FAULT_IN_NONPAGED_AREA",
      "the kernel touched an address that is not validly mapped (P1 address, P2 access, P3 RIP)" },
    { PROCESS_HAS_LOCKED_PAGES, "PROCESS_HAS_LOCKED_PAGES", "a process ended while a driver still had its pages locked" },
    { KERNEL_DATA_INPAGE_ERROR, "KERNEL_DATA_INPAGE_ERROR", "a page of kernel data could not be read back from the paging file" },
    { 0x7E, "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED", "a system thread raised an exception that no handler caught" },
    { UNEXPECTED_KERNEL_MODE_TRAP, "UNEXPECTED_KERNEL_MODE_TRAP",
      "the CPU raised a trap the kernel cannot continue from (P1 vector; 8 is a double fault, often a stack overflow)" },
    { NMI_HARDWARE_FAILURE, "NMI_HARDWARE_FAILURE", "a non-maskable interrupt reported a hardware failure" },
    { MACHINE_CHECK_EXCEPTION, "MACHINE_CHECK_EXCEPTION", "the CPU reported a machine check (hardware error)" },
    { BAD_POOL_CALLER, "BAD_POOL_CALLER", "a pool routine was called wrongly: double free, wrong tag, bad IRQL or a pointer pool never gave out" },
    { DRIVER_VERIFIER_DETECTED_VIOLATION, "DRIVER_VERIFIER_DETECTED_VIOLATION", "the verifier caught a driver breaking a DDI rule (P1 says which)" },
    { DRIVER_VERIFIER_DMA_VIOLATION, "DRIVER_VERIFIER_DMA_VIOLATION", "a driver broke a DMA rule: lists, map registers, common buffers or adapters (P1 says which)" },
    { DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS, "DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS", "a process ended with pages still locked by an MDL" },
    { 0xD1, "DRIVER_IRQL_NOT_LESS_OR_EQUAL", "a driver touched pageable or invalid memory at DISPATCH_LEVEL or above" },
    { MANUALLY_INITIATED_CRASH, "MANUALLY_INITIATED_CRASH", "someone asked for a crash on purpose (the kd 'crash' command)" },
    { INVALID_MDL_RANGE, "INVALID_MDL_RANGE", "a partial MDL was asked for a range outside its source MDL" },
    { KERNEL_SECURITY_CHECK_FAILURE, "KERNEL_SECURITY_CHECK_FAILURE",
      "a security check failed; P1 2 means a function overwrote its own stack frame (the stack cookie changed)" },
};

const char *KeBugCheckName(ULONG code)
{
    for (size_t i = 0; i < ARRAYSIZE(bugcodes); i++)
        if (bugcodes[i].code == code)
            return bugcodes[i].name;
    return "UNKNOWN_BUGCHECK";
}

static const char *default_rule(ULONG code)
{
    for (size_t i = 0; i < ARRAYSIZE(bugcodes); i++)
        if (bugcodes[i].code == code)
            return bugcodes[i].rule;
    return "(no rule text for this code)";
}

static int bugcheck_depth;

/* The backtrace starts at our caller: its return address, and its frame
 * pointer, which our own frame saved at [RBP]. */
#define CALLER_RIP ((ULONG_PTR)__builtin_return_address(0))
#define CALLER_RBP (*(ULONG_PTR *)__builtin_frame_address(0))

/* PC starts the backtrace: a return address (KeBugCheckEx's caller) or a
 * trap's faulting RIP; PC_IS_RETURN says which, for its symbol. */
__attribute__((noreturn)) static void bugcheck(ULONG code, const ULONG_PTR p[4], const char *rule,
                                               ULONG_PTR pc, ULONG_PTR rbp, BOOLEAN pc_is_return)
{
    cli();
    if (++bugcheck_depth > 1) {
        /* Reporting crashed: say so in one line and stop trying. */
        kprintf("\n*** nested STOP 0x%08X while writing a bugcheck report\n", code);
        HalQemuExit(QEMU_EXIT_BUGCHECK);
        HalHaltSystem();
    }
    kprintf("\n*** STOP: 0x%08X (0x%016lx,0x%016lx,0x%016lx,0x%016lx)\n", code, p[0], p[1], p[2], p[3]);
    kprintf("%s\n", KeBugCheckName(code));
    kprintf("Rule: %s\n", rule);
    KtOnBugCheck(code, p);
    kprintf("Backtrace:\n");
    KdDumpBacktrace(pc, rbp, pc_is_return);
    /* A test or bench boot leaves QEMU at once, so that the runner reports
     * the stop instead of waiting out its timeout (utest boots included). */
    if (KeGetOption("ktest") || KeGetOption("utest") || KeGetOption("bench")) {
        kprintf("*** leaving QEMU with the bugcheck status\n");
        HalQemuExit(QEMU_EXIT_BUGCHECK);
    }
    kprintf("*** System halted. In QEMU: Ctrl-A X quits; `make gdb` lets you inspect this state.\n");
    HalHaltSystem();
}

void KeBugCheckEx(ULONG code, ULONG_PTR p1, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4)
{
    ULONG_PTR p[4] = { p1, p2, p3, p4 };
    bugcheck(code, p, default_rule(code), CALLER_RIP, CALLER_RBP, TRUE);
}

void KeBugCheck(ULONG code)
{
    ULONG_PTR p[4] = { 0, 0, 0, 0 };
    bugcheck(code, p, default_rule(code), CALLER_RIP, CALLER_RBP, TRUE);
}

void KeBugCheckRule(ULONG code, ULONG_PTR p1, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4, const char *fmt, ...)
{
    static char rule[512];  /* static: the stack may be what is broken */
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    ULONG_PTR p[4] = { p1, p2, p3, p4 };
    bugcheck(code, p, rule, CALLER_RIP, CALLER_RBP, TRUE);
}

/* A fault's RIP is the faulting instruction; after a trap (INT3, INTO)
 * it is the next one, which may be the next function's first byte. */
static BOOLEAN KiTrapRipIsReturn(PKTRAP_FRAME f)
{
    return f->vector == 3 || f->vector == 4;
}

void KiBugCheckTrap(PKTRAP_FRAME f, ULONG code, ULONG_PTR p1, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4)
{
    ULONG_PTR p[4] = { p1, p2, p3, p4 };
    bugcheck(code, p, default_rule(code), f->rip, f->rbp, KiTrapRipIsReturn(f));
}

void KiBugCheckTrapRule(PKTRAP_FRAME f, ULONG code, ULONG_PTR p1, ULONG_PTR p2, ULONG_PTR p3, ULONG_PTR p4,
                        const char *fmt, ...)
{
    static char rule[512];
    va_list ap;
    va_start(ap, fmt);
    kvsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    KiReportException(f);
    ULONG_PTR p[4] = { p1, p2, p3, p4 };
    bugcheck(code, p, rule, f->rip, f->rbp, KiTrapRipIsReturn(f));
}

void KiAssertFailed(const char *expr, const char *file, int line)
{
    KeBugCheckRule(KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_ASSERTION_FAILURE,
                   (ULONG_PTR)__builtin_return_address(0), 0, 0,
                   "kernel assertion failed: ASSERT(%s) at %s:%d", expr, file, line);
}
