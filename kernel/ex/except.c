/*
 * ExTry / ExExcept: kernel exception handling. Each ExTry pushes a frame
 * (saved callee registers, stack pointer, resume address) on the current
 * thread's chain; raising an exception pops the innermost frame and
 * resumes there with the status, discarding everything the stack held
 * above it - the "unwind". No frame: the kernel has a bug, 0x1E.
 */
#include "kernel/ke/ki.h"
#include "kernel/ex/ex.h"
#include "kernel/hal/x86.h"

_Static_assert(sizeof(KI_JMP_BUF_PUBLIC) == sizeof(KI_JMP_BUF), "EX_FRAME's jump buffer must match KI_JMP_BUF");

static EX_FRAME **chain(void)
{
    return &KeGetCurrentThread()->ExceptionList;
}

void ExpPushFrame(EX_FRAME *f)
{
    f->Next = *chain();
    f->Status = STATUS_SUCCESS;
    f->InterruptsEnabled = (read_rflags() >> 9) & 1;
    *chain() = f;
}

void ExpPopFrame(EX_FRAME *f)
{
    if (*chain() != f)
        KeBugCheckRule(KMODE_EXCEPTION_NOT_HANDLED, (ULONG)STATUS_UNSUCCESSFUL, (ULONG_PTR)f, 0, 0,
                       "ExTry frames were not left in order (a return or goto out of an ExTry block?)");
    *chain() = f->Next;
}

/* Resume the innermost ExTry with STATUS. */
__attribute__((noreturn)) static void dispatch(NTSTATUS status, ULONG_PTR address)
{
    PKTHREAD t = KeGetCurrentThread();
    EX_FRAME *f = t ? t->ExceptionList : NULL;
    if (!f)
        KeBugCheckRule(KMODE_EXCEPTION_NOT_HANDLED, (ULONG)status, address, 0, 0,
                       "exception %#x was raised at %p with no ExTry block to handle it", (unsigned)status,
                       (void *)address);
    t->ExceptionList = f->Next;
    f->Status = status;
    __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");   /* leave no AC (SMAP off) behind */
    if (f->InterruptsEnabled)
        sti();   /* a fault arrives with IF clear; the ExTry site had it set */
    KiLongJmp((KI_JMP_BUF *)&f->Jmp, 1);
}

void ExRaiseStatus(NTSTATUS status)
{
    dispatch(status, (ULONG_PTR)__builtin_return_address(0));
}

BOOLEAN ExExceptionHandlerActive(void)
{
    PKTHREAD t = KeGetCurrentThread();
    return t && t->ExceptionList;
}

void ExRaiseFromTrap(PKTRAP_FRAME frame, NTSTATUS status)
{
    dispatch(status, frame->rip);
}

/* ---- probing user buffers ---- */

static void check_range(const volatile void *p, SIZE_T n, ULONG align)
{
    ULONG_PTR a = (ULONG_PTR)p;
    if (align && (a & (align - 1)))
        ExRaiseStatus(STATUS_DATATYPE_MISALIGNMENT);
    if (a + n < a || a + n > MmUserProbeAddress)
        ExRaiseStatus(STATUS_ACCESS_VIOLATION);
}

void ProbeForRead(const volatile void *p, SIZE_T n, ULONG align)
{
    if (n == 0)
        return;
    check_range(p, n, align);
}

/* SMAP makes the kernel fault on user pages unless EFLAGS.AC is set; STAC
 * and CLAC bracket the few places that are meant to touch them. */
/* Written as flag updates, not the STAC/CLAC instructions, which fault on
 * CPUs without SMAP; the AC flag itself exists on every x86-64 CPU. */
static inline void stac(void) { __asm__ volatile("pushfq; orq $0x40000, (%%rsp); popfq" ::: "memory", "cc"); }
static inline void clac(void) { __asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc"); }

void ProbeForWrite(volatile void *p, SIZE_T n, ULONG align)
{
    if (n == 0)
        return;
    check_range(p, n, align);
    volatile UCHAR *c = p;
    ULONG_PTR end = (ULONG_PTR)p + n;
    for (ULONG_PTR a = (ULONG_PTR)p; a < end; a = (a & ~(ULONG_PTR)(PAGE_SIZE - 1)) + PAGE_SIZE) {
        c = (volatile UCHAR *)a;
        stac();
        *c = *c;   /* a write fault now, here, rather than later */
        clac();
    }
}

void ExCopyFromUser(void *dst, const void *src, SIZE_T n)
{
    stac();
    memcpy(dst, src, n);
    clac();
}

void ExCopyToUser(void *dst, const void *src, SIZE_T n)
{
    stac();
    memcpy(dst, src, n);
    clac();
}

/* ---- system-service argument helpers ----
 * Every Nt routine moves its arguments this way: probe, copy, and turn a
 * fault into a status. ALIGN is the alignment of the user's type (8 for a
 * SIZE_T, PVOID or HANDLE, 4 for a ULONG, 1 for characters), as NT's
 * ProbeForRead/ProbeForWrite take it: a misaligned pointer is
 * STATUS_DATATYPE_MISALIGNMENT before anything is touched. WRITABLE also
 * probes SRC for writing, for in-out parameters that must be checked
 * before the call changes anything. */
static NTSTATUS capture(void *dst, const void *user, SIZE_T n, ULONG align, BOOLEAN writable)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        if (writable)
            ProbeForWrite((void *)user, n, align);
        else
            ProbeForRead(user, n, align);
        ExCopyFromUser(dst, user, n);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS ExCaptureUser(void *dst, const void *user, SIZE_T n, ULONG align)
{
    return capture(dst, user, n, align, FALSE);
}

NTSTATUS ExCaptureUserInOut(void *dst, const void *user, SIZE_T n, ULONG align)
{
    return capture(dst, user, n, align, TRUE);
}

NTSTATUS ExReturnToUser(void *user, const void *src, SIZE_T n, ULONG align)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        ProbeForWrite(user, n, align);
        ExCopyToUser(user, src, n);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}

NTSTATUS ExProbeUserOutput(void *user, SIZE_T checked, SIZE_T touched, ULONG align)
{
    volatile NTSTATUS s = STATUS_SUCCESS;
    ExTry {
        ProbeForRead(user, checked, align);   /* the whole range: user space, no wrap, aligned */
        ProbeForWrite(user, touched < checked ? touched : checked, align);
    } ExExcept(status) {
        s = status;
    } ExEndTry;
    return s;
}
