/* Symbolization from the kernel's own linked-in symbol table. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"


KTEST(ksym, names_known_functions)
{
    ULONG_PTR off = 99;
    KT_STREQ(KdLookupSymbol((ULONG_PTR)kprintf, &off), "kprintf");
    KT_EQ(off, 0);
    KT_STREQ(KdLookupSymbol((ULONG_PTR)kmain + 5, &off), "kmain");
    KT_EQ(off, 5);
    KT_STREQ(KdLookupSymbol((ULONG_PTR)KeBugCheckEx, &off), "KeBugCheckEx");
    KT_EQ(KdSymbolAddress("kmain"), (ULONG_PTR)kmain);
    KT_EQ(KdSymbolAddress("KdLookupSymbol"), (ULONG_PTR)KdLookupSymbol);
    KT_EQ(KdSymbolAddress("no_such_function_anywhere"), 0);
}

KTEST(ksym, asm_symbols_too)
{
    extern char _start32[], KiTrapCommon[];
    ULONG_PTR off;
    KT_STREQ(KdLookupSymbol((ULONG_PTR)_start32, &off), "_start32");
    KT_STREQ(KdLookupSymbol((ULONG_PTR)KiTrapCommon + 3, &off), "KiTrapCommon");
    KT_EQ(off, 3);
}

KTEST(ksym, outside_text_is_unknown)
{
    static int data_object;
    ULONG_PTR off;
    KT_ASSERT(KdLookupSymbol((ULONG_PTR)&data_object, &off) == NULL);
    KT_ASSERT(KdLookupSymbol(0x1000, &off) == NULL);
    KT_ASSERT(KdLookupSymbol(0xFFFFFFFFFFFFF000ULL, &off) == NULL);
}

/* Three real frames, so the walk must find c, b, a in that order. */
static int depth_result[3];
static ULONG_PTR walked[8];
static int walked_n;

__attribute__((noinline)) static void frame_c(void)
{
    walked_n = KdWalkStack(read_rbp(), walked, ARRAYSIZE(walked));
    __asm__ volatile("" ::: "memory");
}
__attribute__((noinline)) static void frame_b(void) { frame_c(); depth_result[1]++; }
__attribute__((noinline)) static void frame_a(void) { frame_b(); depth_result[0]++; }

KTEST(ksym, backtrace_walks_real_frames)
{
    frame_a();
    KT_GE(walked_n, 3);
    /* walked[0] returns into frame_b, [1] into frame_a, [2] into this test. */
    KT_STREQ(KdLookupSymbol(walked[0] - 1, NULL), "frame_b");
    KT_STREQ(KdLookupSymbol(walked[1] - 1, NULL), "frame_a");
    KT_STREQ(KdLookupSymbol(walked[2] - 1, NULL), "ktest_ksym_backtrace_walks_real_frames");
}

/* A function whose last instruction is a call (to a noreturn function, as
 * every KeBugCheckEx caller's may be), and the function right after it:
 * the call's return address is the next function's first byte. */
__asm__(".text\n"
        ".p2align 4\n"
        ".globl ktest_ends_in_call\n"
        "ktest_ends_in_call:\n"
        "    call ktest_never_called\n"
        ".globl ktest_next_function\n"
        "ktest_next_function:\n"
        "    ret\n"
        ".globl ktest_never_called\n"
        "ktest_never_called:\n"
        "    ud2\n");
extern char ktest_ends_in_call[], ktest_next_function[];

KTEST(ksym, return_address_names_the_caller)
{
    char line[160], want[160];
    ULONG_PTR ret = (ULONG_PTR)ktest_next_function;   /* what the call pushes */
    KT_EQ(ret - (ULONG_PTR)ktest_ends_in_call, 5);    /* call rel32 is 5 bytes */
    /* As a return address (frame #0 of every KeBugCheckEx report, and
     * every frame walked): the caller, at offset 5 - not the next one. */
    KdFormatBacktraceFrame(line, sizeof(line), 0, ret, TRUE);
    ksnprintf(want, sizeof(want), "  #0  %p ktest_ends_in_call+0x5", (void *)ret);
    KT_STREQ(line, want);
    /* As a faulting RIP (a trap frame's): exactly the instruction there. */
    KdFormatBacktraceFrame(line, sizeof(line), 0, ret, FALSE);
    ksnprintf(want, sizeof(want), "  #0  %p ktest_next_function+0", (void *)ret);
    KT_STREQ(line, want);
}
