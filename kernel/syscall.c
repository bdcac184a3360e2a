/*
 * System services: the SYSCALL entry (kernel/trapentry.asm) saves the user
 * registers in a KTRAP_FRAME and calls KiSystemService, which looks the
 * number up in the service table and calls the Nt routine with the
 * argument registers. Every Nt routine treats its pointer arguments as
 * hostile: probed and copied inside ExTry, a bad one is an NTSTATUS.
 */
#include "kernel/ps.h"
#include "kernel/x86.h"

typedef NTSTATUS (*SERVICE)(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64);
static SERVICE service_table[SYS_COUNT];
ULONG64 KiSystemCalls;

void KiRegisterService(ULONG number, SERVICE fn)
{
    ASSERT(number < SYS_COUNT);
    service_table[number] = fn;
}

/* The routine registered for service NUMBER (NULL if none): lets a kernel
 * test run a service's own code path (with kernel-mode NULL pointers). */
SERVICE KiLookupService(ULONG number)
{
    return number < SYS_COUNT ? service_table[number] : NULL;
}

void KiSystemService(PKTRAP_FRAME f)
{
    ULONG64 n = f->rax;
    KiSystemCalls++;
    KeGetCurrentThread()->TrapFrame = f;
    NTSTATUS status = STATUS_INVALID_SYSTEM_SERVICE;
    if (n < SYS_COUNT && service_table[n])
        status = service_table[n](f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9);
    f->rax = (ULONG64)(LONG64)status;
    if (KeGetCurrentIrql() != PASSIVE_LEVEL)
        KeBugCheckRule(0x4A /* IRQL_GT_ZERO_AT_SYSTEM_SERVICE */, n, KeGetCurrentIrql(), 0, 0,
                       "system service %llu returned to user mode at IRQL %u", (unsigned long long)n,
                       KeGetCurrentIrql());
    PsCheckTermination(f);
}

/* SYSCALL's targets (Intel SDM vol. 3, 5.8.8): LSTAR is the entry point,
 * STAR holds the kernel CS (bits 47:32; SS = CS + 8) and the base for
 * SYSRET's user selectors (bits 63:48), FMASK the RFLAGS bits to clear on
 * entry - IF among them, so the entry runs with interrupts off until it
 * is on the kernel stack. */
void KiInitializeSystemCalls(void)
{
    extern char KiSystemCall64[];
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);   /* SCE: SYSCALL enabled */
    wrmsr(0xC0000081, ((ULONG64)(KGDT64_R3_CMCODE | 3) << 48) | ((ULONG64)KGDT64_R0_CODE << 32));
    wrmsr(0xC0000082, (ULONG64)KiSystemCall64);
    wrmsr(0xC0000084, (1 << 9) | (1 << 10) | (1 << 8) | (1 << 18));   /* IF, DF, TF, AC */
}
