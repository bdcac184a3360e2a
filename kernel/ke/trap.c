/*
 * What happens when the CPU raises an exception in the kernel. Until the
 * kernel has exception handlers (ExTry, issue 4) every exception is fatal:
 * we print what the CPU told us, then bugcheck with NT's code for it.
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"
#include "kernel/ex/ex.h"
#include "kernel/hal/x86.h"
#include "mm/mi.h"
#include "kernel/ps/psp.h"

static const char *const exception_names[32] = {
    "#DE Divide Error", "#DB Debug", "NMI Non-Maskable Interrupt", "#BP Breakpoint",
    "#OF Overflow", "#BR BOUND Range Exceeded", "#UD Invalid Opcode", "#NM Device Not Available",
    "#DF Double Fault", "Coprocessor Segment Overrun", "#TS Invalid TSS", "#NP Segment Not Present",
    "#SS Stack-Segment Fault", "#GP General Protection", "#PF Page Fault", "Reserved (15)",
    "#MF x87 Floating-Point Error", "#AC Alignment Check", "#MC Machine Check", "#XM SIMD Floating-Point",
    "#VE Virtualization", "#CP Control Protection", "Reserved (22)", "Reserved (23)",
    "Reserved (24)", "Reserved (25)", "Reserved (26)", "Reserved (27)",
    "#HV Hypervisor Injection", "#VC VMM Communication", "#SX Security", "Reserved (31)",
};

const char *KiExceptionName(uint64_t vector)
{
    return vector < 32 ? exception_names[vector] : "external interrupt";
}

/* #PF error code bits (Intel SDM vol. 3, 4.7) */
#define PF_P    (1u << 0)   /* 0: page not present, 1: protection violation */
#define PF_W    (1u << 1)   /* write access */
#define PF_U    (1u << 2)   /* from ring 3 */
#define PF_RSVD (1u << 3)   /* a reserved bit was set in a paging entry */
#define PF_I    (1u << 4)   /* instruction fetch */
#define PF_PK   (1u << 5)   /* protection key */
#define PF_SS   (1u << 6)   /* shadow stack */

static void print_pf_error(uint64_t e)
{
    kprintf("    error code %#llx: %s, %s, %s mode%s%s%s%s\n", (unsigned long long)e,
            (e & PF_P) ? "protection violation" : "page not present",
            (e & PF_I) ? "instruction fetch" : (e & PF_W) ? "write" : "read",
            (e & PF_U) ? "user" : "supervisor",
            (e & PF_RSVD) ? ", reserved bit set in a paging entry" : "",
            (e & PF_PK) ? ", protection key" : "", (e & PF_SS) ? ", shadow stack" : "",
            ((e & (PF_P | PF_I)) == (PF_P | PF_I)) ? " (NX page or SMEP)" : "");
}

static void print_frame(PKTRAP_FRAME f)
{
    ULONG_PTR off;
    const char *sym = KdLookupSymbol(f->rip, &off);
    kprintf("    RIP %p %s+%#lx  CS %#llx  RFLAGS %#llx\n", (void *)f->rip, sym ? sym : "?",
            (unsigned long)off, (unsigned long long)f->cs, (unsigned long long)f->rflags);
    kprintf("    RSP %p  SS %#llx  CR2 %p  CR3 %p\n", (void *)f->rsp, (unsigned long long)f->ss,
            (void *)read_cr2(), (void *)read_cr3());
    kprintf("    RAX %016llx RBX %016llx RCX %016llx\n", (unsigned long long)f->rax,
            (unsigned long long)f->rbx, (unsigned long long)f->rcx);
    kprintf("    RDX %016llx RSI %016llx RDI %016llx\n", (unsigned long long)f->rdx,
            (unsigned long long)f->rsi, (unsigned long long)f->rdi);
    kprintf("    RBP %016llx R8  %016llx R9  %016llx\n", (unsigned long long)f->rbp,
            (unsigned long long)f->r8, (unsigned long long)f->r9);
    kprintf("    R10 %016llx R11 %016llx R12 %016llx\n", (unsigned long long)f->r10,
            (unsigned long long)f->r11, (unsigned long long)f->r12);
    kprintf("    R13 %016llx R14 %016llx R15 %016llx\n", (unsigned long long)f->r13,
            (unsigned long long)f->r14, (unsigned long long)f->r15);
}

/* A #GP in ring 3 is either a bad memory reference or an instruction only
 * ring 0 may execute; NT tells them apart by looking at the instruction. */
static BOOLEAN KiIsPrivilegedInstruction(ULONG64 rip)
{
    UCHAR op[3] = { 0 };
    volatile BOOLEAN ok = TRUE;
    ExTry {
        ExCopyFromUser(op, (const void *)rip, sizeof(op));
    } ExExcept(status) {
        ok = FALSE;
    } ExEndTry;
    if (!ok)
        return FALSE;
    switch (op[0]) {
    case 0xF4:                          /* HLT */
    case 0xFA: case 0xFB:               /* CLI, STI */
    case 0xE4: case 0xE5: case 0xE6: case 0xE7:
    case 0xEC: case 0xED: case 0xEE: case 0xEF:   /* IN, OUT */
    case 0x6C: case 0x6D: case 0x6E: case 0x6F:   /* INS, OUTS */
        return TRUE;
    case 0x0F:
        return op[1] == 0x01 || op[1] == 0x06 || op[1] == 0x08 || op[1] == 0x09 || op[1] == 0x20 ||
               op[1] == 0x22 || op[1] == 0x21 || op[1] == 0x23 || op[1] == 0x30 || op[1] == 0x32 ||
               op[1] == 0x00;           /* LGDT/INVLPG.., CLTS, INVD, WBINVD, MOV CR/DR, WRMSR, RDMSR, LLDT.. */
    default:
        return FALSE;
    }
}

/* #MF: which unmasked x87 exception it was, as NT reports it. The x87
 * state is the faulting thread's still (nothing ran in between). User
 * programs are built without x87 code (-mno-80387) and mdlos does not
 * save x87 state per thread, so the state is reset here: a pending error
 * must not fire in the next program that touches the x87 unit. */
static NTSTATUS KiX87ErrorStatus(void)
{
    USHORT sw, cw;
    __asm__ volatile("fnstsw %0\n\tfnstcw %1\n\tfninit" : "=m"(sw), "=m"(cw));
    USHORT e = sw & ~cw & 0x3F;
    if ((e & 1) && (sw & (1 << 6)))
        return STATUS_FLOAT_STACK_CHECK;   /* IE with SF: stack overflow or underflow */
    if (e & 1)
        return STATUS_FLOAT_INVALID_OPERATION;
    if (e & 4)
        return STATUS_FLOAT_DIVIDE_BY_ZERO;
    if (e & 2)
        return STATUS_FLOAT_DENORMAL_OPERAND;
    if (e & 8)
        return STATUS_FLOAT_OVERFLOW;
    if (e & 16)
        return STATUS_FLOAT_UNDERFLOW;
    return STATUS_FLOAT_INEXACT_RESULT;
}

void KiReportException(PKTRAP_FRAME f)
{
    uint64_t v = f->vector;
    kprintf("\n*** EXCEPTION %s (vector %llu) in %s mode\n", KiExceptionName(v), (unsigned long long)v,
            (f->cs & 3) ? "user" : "kernel");
    if (v == 14)
        print_pf_error(f->error_code);
    else
        kprintf("    error code %#llx\n", (unsigned long long)f->error_code);
    print_frame(f);
}

void KiTrapDispatch(PKTRAP_FRAME f)
{
    uint64_t v = f->vector;
    uint64_t cr2 = read_cr2();

    if (v >= 32) {
        KiInterruptDispatch(f);
        return;
    }
    /* Page faults first: most are resolved (soft faults) and return; the
     * rest either bugcheck inside MmAccessFault or, for a user address
     * under ExTry, become an access violation there. */
    if (v == 14) {
        NTSTATUS s = MmAccessFault(f->error_code, (PVOID)cr2, f);
        if (s == STATUS_SUCCESS)
            return;
        cli();
        if (f->cs & 3)
            PsRaiseUserException(f, s, cr2);   /* ends only that process */
        ExRaiseFromTrap(f, s);
    }
    /* Under ExTry, CPU exceptions are exceptions like any other. */
    static const NTSTATUS status_of[32] = {
        [0] = STATUS_INTEGER_DIVIDE_BY_ZERO, [3] = STATUS_BREAKPOINT, [6] = STATUS_ILLEGAL_INSTRUCTION,
        [13] = STATUS_ACCESS_VIOLATION, [17] = STATUS_DATATYPE_MISALIGNMENT,
    };
    if (f->cs & 3) {
        /* From ring 3 every vector ends the process with NT's status for
         * it (or the fault was resolved above): ring 3 may raise #DB (TF,
         * INT1), #BP and #OF (INT3, INT 4: DPL-3 gates), #BR (BOUND, in
         * 32-bit code), #MF (x87), #AC, and #GP for any other INT n. */
        NTSTATUS s = status_of[v] ? status_of[v] : STATUS_ACCESS_VIOLATION;
        if (v == 1)
            s = STATUS_SINGLE_STEP;       /* TF single-step, or INT1 (ICEBP) */
        else if (v == 4)
            s = STATUS_INTEGER_OVERFLOW;  /* #OF */
        else if (v == 5)
            s = STATUS_ARRAY_BOUNDS_EXCEEDED;
        else if (v == 16)
            s = KiX87ErrorStatus();
        else if (v == 13 && KiIsPrivilegedInstruction(f->rip))
            s = STATUS_PRIVILEGED_INSTRUCTION;
        PsRaiseUserException(f, s, f->rip);
    }
    /* A fault at the IRETQ to ring 3 itself: KiCheckUserFrame checked that
     * frame, so this cannot happen - if it does, say so plainly (we get
     * here with the kernel's GS: the entry saw the user's and swapped). */
    extern char KiIretToUser[];
    if (f->rip == (ULONG64)KiIretToUser) {
        PKTRAP_FRAME u = (PKTRAP_FRAME)((ULONG64 *)f->rsp - 17);   /* the frame IRETQ was popping */
        KiBugCheckTrapRule(f, UNEXPECTED_KERNEL_MODE_TRAP, v, f->error_code, u->rip, u->cs,
                           "IRETQ to ring 3 raised %s (error code %#llx) for RIP %p CS %#llx RFLAGS %#llx; "
                           "KiCheckUserFrame must reject such a frame", KiExceptionName(v),
                           (unsigned long long)f->error_code, (void *)u->rip, (unsigned long long)u->cs,
                           (unsigned long long)u->rflags);
    }
    if (status_of[v] && ExExceptionHandlerActive())
        ExRaiseFromTrap(f, status_of[v]);

    KiReportException(f);

    /* NT's bugcheck for each kind of unhandled kernel-mode exception. */
    switch (v) {
    case 14:
        /* MmAccessFault bugchecks for every fault it cannot resolve. */
        KiBugCheckTrap(f, PAGE_FAULT_IN_NONPAGED_AREA, cr2, f->error_code & (PF_W | PF_I), f->rip, 0);
    case 0:
        KiBugCheckTrap(f, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_INTEGER_DIVIDE_BY_ZERO, f->rip, 0, 0);
    case 3:
        KiBugCheckTrap(f, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_BREAKPOINT, f->rip, 0, 0);
    case 6:
        KiBugCheckTrap(f, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_ILLEGAL_INSTRUCTION, f->rip, 0, 0);
    case 13:
        /* A #GP in the kernel is a non-canonical address or a privileged
         * misuse; NT reports it as an access violation. */
        KiBugCheckTrap(f, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_ACCESS_VIOLATION, f->rip, 0,
                       0xFFFFFFFFFFFFFFFFULL);
    case 17:
        KiBugCheckTrap(f, KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_DATATYPE_MISALIGNMENT, f->rip, 0, 0);
    case 2:
        KiBugCheckTrap(f, NMI_HARDWARE_FAILURE, 0, 0, 0, 0);
    case 18:
        KiBugCheckTrap(f, MACHINE_CHECK_EXCEPTION, 0, 0, 0, 0);
    default:
        /* #DF, #TS, #NP, #SS and the rest: NT's UNEXPECTED_KERNEL_MODE_TRAP
         * with the vector in P1. */
        KiBugCheckTrap(f, UNEXPECTED_KERNEL_MODE_TRAP, v, f->error_code, f->rip, 0);
    }
}
