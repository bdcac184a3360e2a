/*
 * Deliberate kernel faults. Each must end in NT's bugcheck with the right
 * parameters; the runner boots each on its own and checks the STOP line.
 * The faulting instruction carries a global label so the test can name
 * the exact RIP it expects in the report.
 */
#include "kernel/mdlos.h"

extern char ktest_ud2_site[], ktest_pf_write_site[], ktest_pf_read_site[], ktest_div_site[];

KTEST_BUGCHECK(trap, invalid_opcode, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_ILLEGAL_INSTRUCTION, KT_ANY, 0, 0)
{
    KtExpectParam(2, (uint64_t)ktest_ud2_site);   /* P2 = the faulting RIP */
    __asm__ volatile(".globl ktest_ud2_site\nktest_ud2_site: ud2");
}

KTEST_BUGCHECK(trap, page_fault_write_near_null, PAGE_FAULT_IN_NONPAGED_AREA, 0x10, 2, KT_ANY, 2)
{
    /* P1 address, P2 2 = a write (x64 access bits), P3 RIP, P4 2 = not present.
     * Address 0x10 is unmapped: kmain dropped the boot identity map. */
    KtExpectParam(3, (uint64_t)ktest_pf_write_site);
    __asm__ volatile(".globl ktest_pf_write_site\nktest_pf_write_site: movq $1, (%0)" : : "r"(0x10UL) : "memory");
}

KTEST_BUGCHECK(trap, page_fault_read_null, PAGE_FAULT_IN_NONPAGED_AREA, 0, 0, KT_ANY, 2)
{
    uint64_t v;
    KtExpectParam(3, (uint64_t)ktest_pf_read_site);
    __asm__ volatile(".globl ktest_pf_read_site\nktest_pf_read_site: movq (%1), %0" : "=r"(v) : "r"(0UL) : "memory");
    kprintf("read %llu from NULL?\n", (unsigned long long)v);
}

KTEST_BUGCHECK(trap, divide_by_zero, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_INTEGER_DIVIDE_BY_ZERO, KT_ANY, 0, 0)
{
    KtExpectParam(2, (uint64_t)ktest_div_site);
    __asm__ volatile("xor %%edx, %%edx\n\txor %%ecx, %%ecx\n\tmov $7, %%eax\n"
                     ".globl ktest_div_site\nktest_div_site: divl %%ecx" : : : "eax", "ecx", "edx");
}

/* Recurse until the boot stack runs into its guard page. The #PF cannot
 * be delivered on the same (exhausted) stack, so the CPU raises a double
 * fault, which the IDT sends to its own IST stack: bugcheck 0x7F, P1 = 8. */
static volatile uint64_t recursion_limit = ~0ULL;  /* volatile: the compiler cannot see the end */

__attribute__((noinline)) static uint64_t recurse(uint64_t n)
{
    volatile uint8_t pad[256];
    pad[0] = (uint8_t)n;
    if (n >= recursion_limit)
        return n;
    return recurse(n + 1) + pad[0];
}

KTEST_BUGCHECK(trap, stack_overflow_hits_guard_page, UNEXPECTED_KERNEL_MODE_TRAP, 8, 0, KT_ANY, 0)
{
    kprintf("recursing: %llu\n", (unsigned long long)recurse(0));
}

/* Fills a 16-byte local array, or, with OVERRUN, everything from the array
 * up to the saved frame pointer: whatever the compiler's layout, that
 * covers the stack cookie, which it checks before this function returns. */
__attribute__((noinline)) static void smash(bool overrun)
{
    char buf[16];
    volatile char *p = buf;
    size_t count = overrun ? (size_t)((char *)__builtin_frame_address(0) - buf) : sizeof(buf);
    for (size_t i = 0; i < count; i++)
        p[i] = 'A';
    __asm__ volatile("" : : "r"(buf) : "memory");
}

KTEST(trap, stack_cookie_intact_in_bounds)
{
    smash(false);   /* in bounds: returns normally */
}

KTEST_BUGCHECK(trap, stack_protector_catches_overrun, KERNEL_SECURITY_CHECK_FAILURE,
               FAST_FAIL_STACK_COOKIE_CHECK_FAILURE, 0, 0, 0)
{
    smash(true);
}

KTEST_BUGCHECK(trap, assert_failure, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_ASSERTION_FAILURE, KT_ANY, 0, 0)
{
    volatile int x = 1;
    ASSERT(x == 2);
}
