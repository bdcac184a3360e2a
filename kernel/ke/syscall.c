/*
 * System services: the SYSCALL entry (kernel/ke/trapentry.asm) saves the user
 * registers in a KTRAP_FRAME and calls KiSystemService, which looks the
 * number up in the service table and calls the Nt routine with the
 * argument registers. Every Nt routine treats its pointer arguments as
 * hostile: probed and copied inside ExTry, a bad one is an NTSTATUS.
 */
#include "kernel/ps/psp.h"
#include "kernel/hal/x86.h"

typedef NTSTATUS (*SERVICE)(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64);
static SERVICE service_table[SYS_COUNT];
/* Services with more than six arguments: all of them as one array. */
static KI_SERVICE_N service_table_n[SYS_COUNT];
static UCHAR service_argc[SYS_COUNT];
ULONG64 KiSystemCalls;

void KiRegisterService(ULONG number, SERVICE fn)
{
    ASSERT(number < SYS_COUNT);
    service_table[number] = fn;
}

void KiRegisterServiceN(ULONG number, KI_SERVICE_N fn, ULONG argc)
{
    ASSERT(number < SYS_COUNT && argc > 6 && argc <= KI_MAX_SERVICE_ARGS);
    service_table_n[number] = fn;
    service_argc[number] = (UCHAR)argc;
}

/* Arguments 7 and on, from the user stack (kernel/ntsyscall.h): RSP
 * points at the stub's return address, argument 7 is the next slot up.
 * NT's dispatcher copies them the same way, under a probe, before the
 * service runs: a stack that is not the caller's to read is
 * STATUS_ACCESS_VIOLATION, and the service never sees a half-copied set. */
static NTSTATUS capture_stack_arguments(PKTRAP_FRAME f, ULONG64 *args, ULONG argc)
{
    args[0] = f->rdi, args[1] = f->rsi, args[2] = f->rdx, args[3] = f->r10, args[4] = f->r8, args[5] = f->r9;
    return ExCaptureUser(&args[6], (const void *)(f->rsp + 8), (argc - 6) * sizeof(ULONG64), 8);
}

NTSTATUS KiCallServiceN(ULONG number, const ULONG64 *args)
{
    return number < SYS_COUNT && service_table_n[number] ? service_table_n[number](args)
                                                          : STATUS_INVALID_SYSTEM_SERVICE;
}

/* The routine registered for service NUMBER (NULL if none): lets a kernel
 * test run a service's own code path (with kernel-mode NULL pointers). */
SERVICE KiLookupService(ULONG number)
{
    return number < SYS_COUNT ? service_table[number] : NULL;
}

/* RFLAGS bits (Intel SDM vol. 1, 3.4.3). */
#define RFLAGS_CF   (1ULL << 0)
#define RFLAGS_TF   (1ULL << 8)
#define RFLAGS_IF   (1ULL << 9)
#define RFLAGS_DF   (1ULL << 10)
#define RFLAGS_IOPL (3ULL << 12)
#define RFLAGS_NT   (1ULL << 14)
#define RFLAGS_RF   (1ULL << 16)
#define RFLAGS_VM   (1ULL << 17)
#define RFLAGS_AC   (1ULL << 18)
#define RFLAGS_ID   (1ULL << 21)

/* What SYSCALL must not carry from ring 3 into the kernel (IA32_FMASK).
 * SYSCALL, unlike an interrupt, clears only what FMASK names:
 *   IF   the entry runs with interrupts off until it is on its own stack;
 *   TF   else the first kernel instruction would single-step (#DB in ring 0);
 *   DF   the C ABI assumes string instructions count upwards;
 *   AC   in ring 0 AC means "SMAP off" (STAC);
 *   NT   the kernel leaves by IRETQ, and IRETQ with NT set raises #GP
 *        (there are no task switches in long mode) - in ring 0, after the
 *        SWAPGS, which is how a user program used to double-fault it;
 *   RF   would suppress an instruction breakpoint on the kernel's first
 *        instruction;
 *   IOPL, VM are 0 in ring 3 already (POPF cannot set them there); masked
 *        so the kernel never depends on that.
 * NT itself masks TF, IF, DF and NT. */
#define KI_SYSCALL_FMASK (RFLAGS_IF | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | RFLAGS_NT | RFLAGS_RF | RFLAGS_IOPL | RFLAGS_VM)

/* The bits of RFLAGS a user program owns and keeps across the kernel: the
 * arithmetic flags, TF (single-stepping itself: STATUS_SINGLE_STEP), DF,
 * AC (alignment checking in ring 3), RF (the CPU sets it in a fault's
 * frame so the instruction restarts past its breakpoint) and ID (CPUID
 * detection toggles it). Everything else is the kernel's: IF is always
 * on in ring 3, IOPL 0 (ring 3 may not do I/O), NT, VM, VIF, VIP 0. */
#define KI_USER_RFLAGS (0xD5 /* CF PF AF ZF SF */ | (1ULL << 11) /* OF */ | RFLAGS_TF | RFLAGS_DF | RFLAGS_AC | \
                        RFLAGS_RF | RFLAGS_ID)

static BOOLEAN KiIsCanonical(ULONG64 va)
{
    return (ULONG64)((LONG64)(va << 16) >> 16) == va;
}

/* Every return to ring 3 goes through KiExitToUser (kernel/ke/trapentry.asm),
 * which calls this with interrupts off, just before its SWAPGS and IRETQ.
 *
 * An IRETQ that faults does so in ring 0 with the user's GS already loaded.
 * Linux lets that happen and repairs it in its #GP handler (an "iret
 * fixup" that turns the fault into a signal). mdlos makes it impossible
 * instead, because here it is simple: IRETQ to ring 3 faults only for a
 * bad CS or SS (only the kernel writes them: the CPU's own or the two
 * pushed by KiSystemCall64), a non-canonical RIP (or one beyond 4 GiB for
 * 32-bit code), or NT set in the current RFLAGS (FMASK clears it). Ring 3
 * cannot choose any of these: the CPU never saves a non-canonical RIP, a
 * SYSCALL's return address is canonical since the top 64 KiB of user space
 * are never mapped (MM_HIGHEST_USER_ADDRESS), and image entry points are
 * checked by the ELF loader. So a frame that fails here is a kernel bug,
 * and it is a bugcheck, with the reason - not a double fault. (A kernel
 * address as RIP, or any RSP, is harmless to IRETQ: the first fetch or
 * push faults in ring 3, and a program may use RSP as it likes.)
 * A service that one day restores a user context (NtContinue,
 * NtSetContextThread) must check the same things and return an error. */
static inline __attribute__((always_inline)) void check_user_frame(PKTRAP_FRAME f)
{
    f->rflags = (f->rflags & KI_USER_RFLAGS) | RFLAGS_IF | 2 /* bit 1 is always 1 */;
    BOOLEAN code32 = f->cs == (KGDT64_R3_CMCODE | 3);
    const char *bad = NULL;
    if (f->cs != (KGDT64_R3_CODE | 3) && !code32)
        bad = "CS is not a user code selector";
    else if (f->ss != (KGDT64_R3_DATA | 3))
        bad = "SS is not the user data selector";
    else if (!KiIsCanonical(f->rip) || (code32 && f->rip > 0xFFFFFFFFULL))
        bad = code32 ? "RIP is beyond the 4 GiB of 32-bit code" : "RIP is not canonical";
    if (bad)
        KeBugCheckRule(UNEXPECTED_KERNEL_MODE_TRAP, 13, 0, f->rip, f->cs,
                       "a trap frame about to return to ring 3 is invalid (%s: CS %#llx SS %#llx RIP %p): "
                       "IRETQ would raise #GP in ring 0 with the user's GS", bad, (unsigned long long)f->cs,
                       (unsigned long long)f->ss, (void *)f->rip);
}

void KiCheckUserFrame(PKTRAP_FRAME f)
{
    check_user_frame(f);
}

/* A service with more than six arguments: its own function, so that the
 * array (and the stack protector's canary check that comes with it) is
 * not in every system call's path. */
static __attribute__((noinline)) NTSTATUS call_service_n(PKTRAP_FRAME f, ULONG n)
{
    ULONG64 args[KI_MAX_SERVICE_ARGS];
    NTSTATUS status = capture_stack_arguments(f, args, service_argc[n]);
    return NT_SUCCESS(status) ? service_table_n[n](args) : status;
}

/* A system service, and the whole way back to ring 3 up to SYSRET
 * (KiSystemCall64 restores its light frame after this): the checks of
 * KiExitToUser - the APC state, the APCs queued, the frame - are the same
 * ones, done here in line. Under TCG every RET is an indirect jump that
 * costs a look-up of the next translated block, and the call-per-check
 * version (service, IRQL, termination, APCs, frame: five returns) spent
 * about a third of a null system call on them. Returns with interrupts
 * off. F is a light frame (kernel/ke/trapentry.asm): its RBX, RCX and
 * R11-R15 slots were never written, and nothing here reads them. */
void KiSystemService(PKTRAP_FRAME f)
{
    ULONG64 n = f->rax;
    PKTHREAD t = KeGetCurrentThread();
    KiSystemCalls++;
    t->TrapFrame = f;
    NTSTATUS status = STATUS_INVALID_SYSTEM_SERVICE;
    if (n < SYS_COUNT && service_table[n]) {
        status = service_table[n](f->rdi, f->rsi, f->rdx, f->r10, f->r8, f->r9);
    } else if (n < SYS_COUNT && service_table_n[n]) {
        status = call_service_n(f, (ULONG)n);
    }
    f->rax = (ULONG64)(LONG64)status;
    if (KeGetCurrentIrql() != PASSIVE_LEVEL)
        KeBugCheckRule(IRQL_GT_ZERO_AT_SYSTEM_SERVICE, n, KeGetCurrentIrql(), 0, 0,
                       "system service %llu returned to user mode at IRQL %u", (unsigned long long)n,
                       KeGetCurrentIrql());
    if (t->Process->TerminateRequested)   /* PsCheckTermination's first condition, tested here without a call */
        PsCheckTermination(f);
    cli();
    KiApcCheckExitToUser(t, f);
    check_user_frame(f);
}

/* SYSCALL's targets (Intel SDM vol. 3, 5.8.8): LSTAR is the entry point
 * from 64-bit code, CSTAR from 32-bit code (AMD; Intel raises #UD), STAR
 * holds the kernel CS (bits 47:32; SS = CS + 8) and the base for SYSRET's
 * user selectors (bits 63:48), FMASK the RFLAGS bits to clear on entry.
 *
 * CR0 is set as NT sets it for ring 3: NE makes an x87 error the #MF
 * exception (not the PC's FERR# line, IRQ 13 - an interrupt a user
 * program could raise at will), MP makes WAIT honour TS, AM lets a program
 * that sets RFLAGS.AC get #AC for a misaligned access (in ring 3 only:
 * alignment checks never apply in ring 0). */
void KiInitializeSystemCalls(void)
{
    extern char KiSystemCall64[], KiSystemCall32[];
    write_cr0(read_cr0() | CR0_NE | CR0_MP | CR0_AM);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | 1);   /* SCE: SYSCALL enabled */
    wrmsr(0xC0000081, ((ULONG64)(KGDT64_R3_CMCODE | 3) << 48) | ((ULONG64)KGDT64_R0_CODE << 32));
    wrmsr(0xC0000082, (ULONG64)KiSystemCall64);
    wrmsr(0xC0000083, (ULONG64)KiSystemCall32);
    wrmsr(0xC0000084, KI_SYSCALL_FMASK);
}
