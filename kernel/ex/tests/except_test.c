/* ExTry / ExExcept: raising, nesting, unwinding, faults on user addresses. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define STATUS_TEST_A ((NTSTATUS)0xE0000001L)
#define STATUS_TEST_B ((NTSTATUS)0xE0000002L)

__attribute__((noinline)) static int raise_deep(int depth, NTSTATUS s)
{
    volatile char pad[64];
    pad[0] = (char)depth;
    if (depth < 0)
        return 0;
    if (depth == 0)
        ExRaiseStatus(s);
    return raise_deep(depth - 1, s) + pad[0];
}

KTEST(except, raise_is_caught_with_its_status)
{
    volatile int reached = 0;
    volatile NTSTATUS got = 0;
    ExTry {
        raise_deep(10, STATUS_TEST_A);   /* unwinds 11 frames */
        reached = 1;
    } ExExcept(status) {
        got = status;
    } ExEndTry;
    KT_EQ(reached, 0);
    KT_EQ((ULONG)got, (ULONG)STATUS_TEST_A);
    KT_ASSERT(KeGetCurrentThread()->ExceptionList == NULL);   /* the chain is clean again */
}

KTEST(except, nested_tries_resume_the_innermost)
{
    volatile int trace = 0;
    ExTry {
        ExTry {
            ExRaiseStatus(STATUS_TEST_A);
        } ExExcept(inner) {
            KT_EQ((ULONG)inner, (ULONG)STATUS_TEST_A);
            trace = trace * 10 + 1;
        } ExEndTry;
        trace = trace * 10 + 2;
        ExRaiseStatus(STATUS_TEST_B);       /* now the outer one */
    } ExExcept(outer) {
        KT_EQ((ULONG)outer, (ULONG)STATUS_TEST_B);
        trace = trace * 10 + 3;
    } ExEndTry;
    KT_EQ(trace, 123);
    /* A handler may raise again, to the next one out. */
    volatile NTSTATUS last = 0;
    ExTry {
        ExTry {
            ExRaiseStatus(STATUS_TEST_A);
        } ExExcept(s) {
            ExRaiseStatus(s + 1);
        } ExEndTry;
    } ExExcept(s2) {
        last = s2;
    } ExEndTry;
    KT_EQ((ULONG)last, (ULONG)STATUS_TEST_A + 1);
    KT_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_ASSERT(read_rflags() & (1 << 9));       /* interrupts back on */
}

KTEST(except, fault_on_user_address_is_access_violation)
{
    volatile NTSTATUS got = 0;
    ExTry {
        /* Nothing is mapped in user space yet: the page fault becomes an
         * exception at this ExTry instead of a bugcheck. */
        volatile ULONG64 *user = (volatile ULONG64 *)0x0000000000400000ULL;
        ExCopyToUser((void *)user, "x", 1);
    } ExExcept(status) {
        got = status;
    } ExEndTry;
    KT_EQ((ULONG)got, (ULONG)STATUS_ACCESS_VIOLATION);
    KT_ASSERT(!(read_rflags() & (1 << 18)));   /* AC is not left set */
}

KTEST(except, cpu_exceptions_inside_try)
{
    volatile NTSTATUS got = 0;
    ExTry {
        __asm__ volatile("ud2");
    } ExExcept(status) {
        got = status;
    } ExEndTry;
    KT_EQ((ULONG)got, (ULONG)STATUS_ILLEGAL_INSTRUCTION);
    got = 0;
    ExTry {
        volatile ULONG zero = 0;
        volatile ULONG x = 10 / zero;
        (void)x;
    } ExExcept(status) {
        got = status;
    } ExEndTry;
    KT_EQ((ULONG)got, (ULONG)STATUS_INTEGER_DIVIDE_BY_ZERO);
}

static NTSTATUS probe(void (*fn)(void *, SIZE_T, ULONG), ULONG64 addr, SIZE_T len, ULONG align)
{
    volatile NTSTATUS got = STATUS_SUCCESS;
    ExTry {
        fn((void *)addr, len, align);
    } ExExcept(status) {
        got = status;
    } ExEndTry;
    return got;
}
static void probe_read(void *p, SIZE_T n, ULONG a) { ProbeForRead(p, n, a); }
static void probe_write(void *p, SIZE_T n, ULONG a) { ProbeForWrite(p, n, a); }

KTEST(except, probes_check_user_ranges)
{
    /* In range and aligned: ProbeForRead only checks the range. */
    KT_EQ((ULONG)probe(probe_read, 0x10000, 4096, 1), (ULONG)STATUS_SUCCESS);
    KT_EQ((ULONG)probe(probe_read, 0x10000, 0, 1), (ULONG)STATUS_SUCCESS);          /* empty: nothing to check */
    KT_EQ((ULONG)probe(probe_read, 0x10001, 8, 4), (ULONG)STATUS_DATATYPE_MISALIGNMENT);
    KT_EQ((ULONG)probe(probe_read, 0x7FFFFFFEF000ULL, 0x2000, 1), (ULONG)STATUS_ACCESS_VIOLATION);  /* past the top */
    KT_EQ((ULONG)probe(probe_read, 0xFFFFFFFFFFFFF000ULL, 0x2000, 1), (ULONG)STATUS_ACCESS_VIOLATION); /* wraps */
    KT_EQ((ULONG)probe(probe_read, (ULONG64)&KiBootInfo, 8, 1), (ULONG)STATUS_ACCESS_VIOLATION);    /* kernel */
    /* ProbeForWrite touches the pages: unmapped user memory faults. */
    KT_EQ((ULONG)probe(probe_write, 0x10000, 16, 1), (ULONG)STATUS_ACCESS_VIOLATION);
}

KTEST_BUGCHECK(except, unhandled_raise_bugchecks, KMODE_EXCEPTION_NOT_HANDLED, 0xE0000001, KT_ANY, 0, 0)
{
    ExRaiseStatus(STATUS_TEST_A);
}

KTEST_BUGCHECK(except, kernel_address_fault_is_not_catchable, PAGE_FAULT_IN_NONPAGED_AREA, 0xFFFFF88003FFF000ULL,
               0, KT_ANY, 2)
{
    /* As on NT: a bad kernel address is a bug, not an exception - even in ExTry. */
    ExTry {
        volatile ULONG64 v = *(volatile ULONG64 *)0xFFFFF88003FFF000ULL;
        (void)v;
    } ExExcept(status) {
        kprintf("caught %#x?\n", (unsigned)status);
    } ExEndTry;
}
