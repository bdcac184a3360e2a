/* The way back to ring 3 (kernel/ke/syscall.c KiCheckUserFrame, the exits in
 * kernel/ke/trapentry.asm): what IRETQ gets is made safe, and a fault of the
 * IRETQ itself is reported, not turned into a double fault. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

KTEST(userframe, user_frame_rflags_are_sanitized)
{
    KTRAP_FRAME f;
    memset(&f, 0, sizeof(f));
    f.rip = 0x400000;
    f.cs = KGDT64_R3_CODE | 3;
    f.ss = KGDT64_R3_DATA | 3;
    f.rflags = 0xFFFFFFFFFFFFFFFFULL;
    KiCheckUserFrame(&f);
    /* Kept: CF PF AF ZF SF TF DF OF RF AC ID (and bit 1); IF forced on;
     * IOPL, NT, VM, VIF, VIP and every reserved bit cleared. */
    KT_EQ(f.rflags, 0x250FD7);
    f.rflags = 0;
    KiCheckUserFrame(&f);
    KT_EQ(f.rflags, 0x202);
    f.cs = KGDT64_R3_CMCODE | 3;   /* 32-bit code below 4 GiB is fine too */
    KiCheckUserFrame(&f);
    KT_EQ(f.cs, KGDT64_R3_CMCODE | 3);
}

KTEST_BUGCHECK(userframe, user_frame_with_kernel_cs, UNEXPECTED_KERNEL_MODE_TRAP, 13, 0, 0x400000, KGDT64_R0_CODE)
{
    KTRAP_FRAME f;
    memset(&f, 0, sizeof(f));
    f.rip = 0x400000;
    f.cs = KGDT64_R0_CODE;
    f.ss = KGDT64_R3_DATA | 3;
    KiCheckUserFrame(&f);
}

KTEST_BUGCHECK(userframe, user_frame_with_noncanonical_rip, UNEXPECTED_KERNEL_MODE_TRAP, 13, 0, 0x0000800000000000ULL,
               KGDT64_R3_CODE | 3)
{
    KTRAP_FRAME f;
    memset(&f, 0, sizeof(f));
    f.rip = 0x0000800000000000ULL;
    f.cs = KGDT64_R3_CODE | 3;
    f.ss = KGDT64_R3_DATA | 3;
    KiCheckUserFrame(&f);
}

/* If an IRETQ to ring 3 ever faults (here: a frame that skipped the check,
 * with the kernel's data segment as SS: #GP with the selector as error
 * code, raised before the CPU leaves ring 0), it does so after the
 * SWAPGS, with the user's GS. The entry must notice (IA32_GS_BASE is not
 * the PRCB), swap back and report it: before, the report itself faulted
 * on GS, into a double fault (0x7F with P1 8). (A non-canonical RIP would
 * not do here: QEMU raises that #GP after the switch to ring 3.) */
KTEST_BUGCHECK(userframe, iretq_fault_with_user_gs_is_reported, UNEXPECTED_KERNEL_MODE_TRAP, 13, KGDT64_R0_DATA,
               0x400000, KGDT64_R3_CODE | 3)
{
    ULONG64 frame[5] = { 0x400000, KGDT64_R3_CODE | 3, 0x2, 0x10000, KGDT64_R0_DATA | 3 };
    /* The user GS base SWAPGS brings in: an unmapped user address. */
    wrmsr(0xC0000102 /* IA32_KERNEL_GS_BASE */, 0x00007FFF00000000ULL);
    __asm__ volatile("cli\n\t"
                     "mov %0, %%rsp\n\t"       /* the #GP frame goes on the stack below */
                     "swapgs\n\t"
                     "jmp KiIretToUser" : : "r"(frame) : "memory");
}
