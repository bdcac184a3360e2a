/*
 * The page-fault handler. User addresses (from ring 3, or touched by the
 * kernel through ExCopyFromUser/an MDL) go to MiUserFault in
 * mm/userfault.c; kernel addresses are handled here. The CPU reports the address in CR2 and why in the error
 * code: P (a present page was misused, vs. not present), W (write), U
 * (from ring 3), I (instruction fetch). Follow a kernel fault here:
 *   1. a protection violation on a present page is a bug: a write to
 *      read-only memory (0xBE) or executing no-execute memory (0xFC);
 *   2. a not-present page at DISPATCH_LEVEL or above cannot be waited for:
 *      IRQL_NOT_LESS_OR_EQUAL (0xA);
 *   3. a transition PTE in paged pool is a soft fault: MiResolveTransitionFault
 *      (mm/wslist.c), the same routine a process page's soft fault uses;
 *      a pagefile PTE there is a hard fault: MiResolvePageFileFault
 *      (mm/pagefault.c) reads the page back;
 *   4. anything else is a reference to nothing: PAGE_FAULT_IN_NONPAGED_AREA (0x50).
 */
#include "mm/mi.h"
#include "kernel/ex/ex.h"
#include "kernel/ps/psp.h"
#include "kernel/hal/x86.h"

#define PF_P (1u << 0)
#define PF_W (1u << 1)
#define PF_U (1u << 2)
#define PF_I (1u << 4)
#define USER_LIMIT 0x0000800000000000ULL

static BOOLEAN in_paged_pool(ULONG64 va)
{
    return va >= MI_PAGED_POOL_START && va < MI_PAGED_POOL_START + MI_PAGED_POOL_PAGES * PAGE_SIZE;
}

NTSTATUS MmAccessFault(ULONG64 error, PVOID address, PKTRAP_FRAME frame)
{
    ULONG64 va = (ULONG64)address;
    KIRQL irql = KeGetCurrentIrql();
    MMPTE pte = { .u.Long = 0 };
    if (MiIsPteAccessible(address))
        pte = *MiGetPteAddress(address);

    /* From ring 3: a user address is resolved or refused; a kernel address
     * is refused (the supervisor bit). The caller ends the process. */
    /* A fault taken in ring 3 without the U bit is an implicit supervisor
     * access the CPU made for ring 3 code: on hardware only to the GDT,
     * IDT or TSS (never user pages); QEMU's TCG also pops a far return's
     * stack this way, which SMAP then refuses. It is the program's fault,
     * not the kernel's: an access violation (retrying would loop). */
    if (!(error & PF_U) && (frame->cs & 3))
        return STATUS_ACCESS_VIOLATION;
    if (error & PF_U) {
        if (va >= USER_LIMIT)
            return STATUS_ACCESS_VIOLATION;
        if (frame->rflags & (1 << 9))
            sti();   /* resolving may wait (address-space lock, allocation) */
        return MiUserFault(KeGetCurrentThread()->ActiveProcess, va, error, TRUE);
    }
    if (va < USER_LIMIT) {
        if (irql >= DISPATCH_LEVEL)
            KiBugCheckTrapRule(frame, IRQL_NOT_LESS_OR_EQUAL, va, irql, ((error & PF_W) ? 1 : 0) | ((error & PF_I) ? 8 : 0),
                               frame->rip, "the kernel touched user address %p at IRQL %u; user memory is pageable "
                               "and may be touched only below DISPATCH_LEVEL", address, irql);
        if ((error & PF_P) && (error & PF_I))
            KiBugCheckTrapRule(frame, ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY, va, pte.u.Long, 0, 0,
                               "the kernel jumped to user address %p (SMEP forbids ring 0 running user code)", address);
        if ((error & PF_P) && !(frame->rflags & (1 << 18)) && (pte.u.Long & MI_PTE_OWNER)) {
            /* SMAP refused a present user page: retrying would fault forever. */
            if (ExExceptionHandlerActive())
                return STATUS_ACCESS_VIOLATION;
            KiBugCheckTrapRule(frame, PAGE_FAULT_IN_NONPAGED_AREA, va, error & (PF_W | PF_I), frame->rip, 0,
                               "the kernel touched user address %p directly (SMAP): user memory is reached only "
                               "through ExCopyFromUser/ExCopyToUser or an MDL, inside ExTry", address);
        }
        if (frame->rflags & (1 << 9))
            sti();
        /* The address space the thread is in now: its own, or the one it
         * attached to with KeStackAttachProcess. */
        NTSTATUS s = MiUserFault(KeGetCurrentThread()->ActiveProcess, va, error & ~(ULONG64)PF_P, FALSE);
        if (NT_SUCCESS(s))
            return s;
        /* A kernel fault on a bad user address inside ExTry (a bad pointer
         * from user mode) is an access violation for the caller - except a
         * guard page, which (as on NT) the service reports as
         * STATUS_GUARD_PAGE_VIOLATION; MiUserFault has cleared the guard,
         * so the next call with the same buffer goes through. */
        if (ExExceptionHandlerActive())
            return s == STATUS_GUARD_PAGE_VIOLATION || s == STATUS_IN_PAGE_ERROR ? s : STATUS_ACCESS_VIOLATION;
    }

    if (error & PF_P) {
        if (error & PF_I)
            KiBugCheckTrapRule(frame, ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY, va, pte.u.Long, 0, 0,
                           "the kernel jumped to %p, which is mapped no-execute (W^X: data is never code)", address);
        if (error & PF_W)
            KiBugCheckTrapRule(frame, ATTEMPTED_WRITE_TO_READONLY_MEMORY, va, pte.u.Long, 0, 0,
                           "the kernel wrote to %p, which is mapped read-only (W^X: code and constants are read-only)",
                           address);
    }
    /* NT's P3 for 0xA: bit 0 write, bit 3 execute. */
    ULONG64 access = ((error & PF_W) ? 1 : 0) | ((error & PF_I) ? 8 : 0);
    if (irql >= DISPATCH_LEVEL)
        KiBugCheckTrapRule(frame, IRQL_NOT_LESS_OR_EQUAL, va, irql, access, frame->rip,
                       "%p was touched at IRQL %u but is not resident (%s); code at DISPATCH_LEVEL or above "
                       "must touch only nonpaged memory", address, irql,
                       pte.u.Soft.Transition ? "a trimmed pageable page"
                       : MiIsPageFilePte(pte.u.Long) ? "a pageable page out in the paging file" : "no valid mapping");
    if (!(error & PF_P) && pte.u.Soft.Transition && in_paged_pool(va)) {
        if (frame->rflags & (1 << 9))
            sti();   /* it may wait for another fault's read (a collided fault) */
        return MiResolveTransitionFault(address, MiGetPteAddress(address), NULL, error);   /* the system working set */
    }
    if (!(error & PF_P) && MiIsPageFilePte(pte.u.Long) && in_paged_pool(va)) {
        if (frame->rflags & (1 << 9))
            sti();   /* the read is waited for: the disk's interrupt must get through */
        return MiResolvePageFileFault(address, MiGetPteAddress(address), NULL, error);     /* a hard fault (mm/pagefault.c) */
    }

    /* x64 NT's P2: the hardware access bits; P4 2 = no valid PTE. */
    KiBugCheckTrapRule(frame, PAGE_FAULT_IN_NONPAGED_AREA, va, error & (PF_W | PF_I), frame->rip, (error & PF_P) ? 0 : 2,
                   "the kernel touched %p, which is not validly mapped%s", address,
                   va < 0x10000 ? " (a NULL pointer plus a small offset?)" : "");
}
