/*
 * ki.h: the kernel core's internals (kernel/ke/): the boot information,
 * processor structures, KTRAP_FRAME, KTHREAD, KPRCB, the lock-discipline
 * checks, the dispatcher lock, the service table. Shared with the kernel
 * components docs/architecture.md lets in (ps, mm, io, ex, kd, hal, ktest,
 * init); never with drivers.
 */
#pragma once
#include "kernel/ke/ke.h"
#include "kernel/ex/ex.h"
#include "kernel/ntsyscall.h"   /* SYSTEM_PROFILE_T */

/* ---- what the boot loader told us (kernel/ke/multiboot.c) ---- */
#define KI_MAX_MEMORY_RANGES 64
#define KI_MAX_MODULES 48
#define KI_CMDLINE_MAX 1024

/* Multiboot2 memory-map types */
#define KI_MEMORY_AVAILABLE 1
#define KI_MEMORY_RESERVED  2
#define KI_MEMORY_ACPI      3
#define KI_MEMORY_NVS       4
#define KI_MEMORY_BAD       5

typedef struct {
    uint64_t base, length;
    uint32_t type;
} KI_MEMORY_RANGE;

typedef struct {
    uint64_t start, end;      /* physical, end exclusive */
    char name[64];
} KI_MODULE;

typedef struct {
    uint32_t magic;
    uint64_t info_phys, info_size;   /* the multiboot2 information itself */
    char cmdline[KI_CMDLINE_MAX];
    char loader[64];
    uint32_t range_count;
    KI_MEMORY_RANGE ranges[KI_MAX_MEMORY_RANGES];
    uint32_t module_count;
    KI_MODULE modules[KI_MAX_MODULES];
    uint64_t mem_lower_kb, mem_upper_kb;   /* the basic meminfo tag */
} KI_BOOT_INFO;

extern KI_BOOT_INFO KiBootInfo;
/* Where C begins (kernel/init/kmain.c), called by boot/boot.asm. */
void kmain(uint32_t magic, uint32_t info_phys);

/* Copies everything out of the multiboot2 information, which lives in
 * memory the kernel will later reuse. FALSE if it is malformed. */
BOOLEAN KiParseMultiboot(uint32_t magic, uint64_t info_phys);
/* The same from a multiboot1 block (QEMU -kernel; kernel/ke/multiboot1.c). */
BOOLEAN KiParseMultiboot1(uint64_t info_phys);
uint64_t KiTotalAvailableMemory(void);

/* ---- command line (kernel/ke/cmdline.c) ---- */
#define KI_MAX_OPTIONS 32
typedef struct {
    char name[32];
    char value[256];
} KI_OPTION;
typedef struct {
    int count;
    int rejected;                 /* words skipped, each with a console line */
    KI_OPTION opt[KI_MAX_OPTIONS];
} KI_OPTIONS;
/* Parses "a=1 b c=\"x y\"" into OUT; returns the count of good words. A
 * malformed word (unterminated quote, name or value too long, no name,
 * one more than KI_MAX_OPTIONS) is reported, counted in OUT->rejected and
 * skipped: the words around it still count. */
int KiParseCommandLine(const char *line, KI_OPTIONS *out);
/* Drops (and reports) the options the kernel does not know and the values
 * an option cannot take (a flag that is not a yes or a no, a number that
 * is not one). */
void KiCheckOptions(KI_OPTIONS *opts);
const char *KiFindOption(const KI_OPTIONS *opts, const char *name);
void KiInitCommandLine(const char *line);

/* ---- processor structures (kernel/ke/gdt.c, idt.c) ---- */
#define KGDT64_R0_CODE 0x08
#define KGDT64_R0_DATA 0x10
#define KGDT64_R3_CMCODE 0x18   /* 32-bit user code: unused, keeps the sysret layout */
#define KGDT64_R3_DATA 0x20
#define KGDT64_R3_CODE 0x28
#define KGDT64_SYS_TSS 0x30
void KiInitGdt(void);
void KiInitIdt(void);

/* The register state the trap stubs (kernel/ke/trapentry.asm) save. */
typedef struct _KTRAP_FRAME {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;   /* pushed by the CPU */
} KTRAP_FRAME, *PKTRAP_FRAME;

void KiTrapDispatch(PKTRAP_FRAME frame);
const char *KiExceptionName(uint64_t vector);

/* Print what the CPU reported: vector, error code (decoded for #PF), registers. */
void KiReportException(PKTRAP_FRAME frame);
/* Bugcheck from a trap, after the exception report, with the rule in words. */
__attribute__((noreturn)) void KiBugCheckTrapRule(PKTRAP_FRAME frame, ULONG code, ULONG_PTR p1, ULONG_PTR p2,
                                                  ULONG_PTR p3, ULONG_PTR p4, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Bugcheck from a trap: the backtrace starts at the faulting instruction. */
__attribute__((noreturn)) void KiBugCheckTrap(PKTRAP_FRAME frame, ULONG code, ULONG_PTR p1, ULONG_PTR p2,
                                              ULONG_PTR p3, ULONG_PTR p4);

/* ---- boot-time page tables (boot/boot.asm) until mm/ takes over ---- */
extern uint64_t boot_pml4[512];
extern uint64_t boot_pt_high[4 * 512];
extern char boot_stack_guard[], boot_stack[], boot_stack_top[];
extern char __kernel_start[], __kernel_end[], __text_start[], __text_end[];
extern char __rodata_start[], __rodata_end[], __data_start[], __data_end[];
extern char __bss_start[], __bss_end[];
/* Make one page of the kernel image not present (a guard page). */
void KiBootUnmapPage(void *va);
void KiDropIdentityMap(void);

/* ---- non-local exit (kernel/ke/jmp.asm) ---- */
typedef struct { uint64_t rbx, rbp, r12, r13, r14, r15, rsp, rip; } KI_JMP_BUF;
int KiSetJmp(KI_JMP_BUF *b) __attribute__((returns_twice));
__attribute__((noreturn)) void KiLongJmp(KI_JMP_BUF *b, int value);
ULONG64 KiCallOnStack(ULONG64 (*fn)(ULONG64), ULONG64 arg, PVOID stack_top);

/* Timestamp counter at kmain entry (for make bench). */
extern uint64_t KiBootTsc;
/* `boot.phases`: print the marks KeMarkBootPhase took (kernel/ke/bootphase.c). */
void KiPrintBootPhases(void);

/* ---- threads, the scheduler, per-CPU data ---- */
typedef enum { ThreadInitialized, ThreadReady, ThreadRunning, ThreadWaiting, ThreadTerminated } KTHREAD_STATE;

typedef struct _KWAIT_BLOCK {
    LIST_ENTRY WaitListEntry;     /* on the object's wait list */
    struct _KTHREAD *Thread;
    PVOID Object;
} KWAIT_BLOCK;

typedef struct _EX_FRAME EX_FRAME;
struct _EPROCESS;

struct _KTHREAD {
    DISPATCHER_HEADER Header;     /* a thread is signaled when it ends */
    ULONG64 KernelStack;          /* saved RSP while switched out */
    PVOID StackBase, StackLimit;  /* top and bottom of the kernel stack */
    ULONG StackPages;
    UCHAR State;                  /* KTHREAD_STATE */
    BOOLEAN BootStack;            /* the boot thread: its stack is not ours to free */
    KPRIORITY Priority;
    LONG Quantum;                 /* clock ticks left before round robin moves on */
    LIST_ENTRY ReadyListEntry;
    LIST_ENTRY ThreadListEntry;   /* KiThreadListHead: every thread */
    KWAIT_BLOCK WaitBlock;
    KTIMER WaitTimer;             /* timeouts and KeDelayExecutionThread */
    NTSTATUS WaitStatus;
    PKSTART_ROUTINE StartRoutine;
    PVOID StartContext;
    volatile LONG RefCount;
    NTSTATUS ExitStatus;
    EX_FRAME *ExceptionList;      /* innermost ExTry frame */
    struct _EPROCESS *Process;        /* the process it belongs to */
    struct _EPROCESS *ActiveProcess;  /* whose address space it runs in (KeStackAttachProcess) */
    PKTRAP_FRAME TrapFrame;           /* user-mode state, for user threads */
    BOOLEAN UserWait;                 /* waiting on behalf of user mode: a termination may end the wait */
    volatile BOOLEAN AbortUserWait;   /* its process is being ended: user-mode waits return at once */
    ULONG64 UserEntry, UserStack;     /* where a new user thread starts in ring 3 */
    ULONG64 ContextSwitches;
    LIST_ENTRY IrpList;               /* IRPs it sent and that have not finished (io/cancel.c) */
    struct _IO_PLUG *IoPlug;          /* a batch of requests being sent (io/plug.c), or NULL; a wait that
                                       * blocks sends it first (IoFlushThreadPlug) */
    ULONG64 Id;
    char Name[24];
    /* APCs (kernel/ke/apc.c). The queue, the pending flag and ApcQueueable
     * are the dispatcher lock's; the two counts are changed only by the
     * thread itself and read by KeInsertQueueApc under that lock. */
    LIST_ENTRY ApcListHead;           /* queued special kernel APCs, oldest first */
    volatile BOOLEAN KernelApcPending; /* the queue is not empty */
    BOOLEAN ApcQueueable;             /* FALSE once the thread ran its queue down at exit */
    KIRQL WaitIrql;                   /* the IRQL it waits at: an APC can interrupt a wait at PASSIVE_LEVEL only */
    volatile LONG SpecialApcDisable;  /* guarded-region depth (NT counts down from 0; mdlos counts up) */
    volatile LONG MutexCount;         /* KMUTEX acquisitions it holds (recursive ones too) */
    /* NT's ETHREAD.MemoryMaker: the thread is freeing memory (the modified
     * page writer, a hard fault sending its read), so the frames kept back
     * for that may be given to it (mm/pfn.c, docs/paging.md). A depth. */
    LONG MemoryMaker;
};

/* io/plug.c: a thread about to block sends its plugged batch first (the
 * one call from the dispatcher into the I/O manager: kernel/ke/wait.c). */
void IoFlushThreadPlug(PKTHREAD Thread);

typedef struct _KPRCB {
    struct _KPRCB *Self;          /* at GS:0, so KeGetCurrentPrcb is one load */
    ULONG64 UserRsp;              /* GS:8  the system-call entry parks the user RSP here */
    ULONG64 KernelRsp;            /* GS:16 top of the current thread's kernel stack (= TSS.RSP0) */
    volatile KIRQL Irql;          /* GS:24 (KI_PRCB_IRQL) the IRQL; CR8 holds it too above DISPATCH_LEVEL (KiSetIrql) */
    PKTHREAD CurrentThread;
    PKTHREAD IdleThread;
    PKTHREAD DeadThread;          /* to reap once we are off its stack */
    ULONG Number;
    LIST_ENTRY DpcListHead;
    KSPIN_LOCK DpcLock;
    volatile ULONG DpcQueueDepth;
    volatile BOOLEAN DpcRoutineActive;   /* a DPC's routine is running (KeIsExecutingDpc) */
    volatile BOOLEAN QuantumEnd;   /* the clock says: round robin */
    volatile BOOLEAN ReadyPending; /* a thread of higher priority became ready */
    ULONG64 InterruptCount, DpcCount, ContextSwitches, ClockTicks;
    ULONG64 IdleCycles;           /* TSC cycles the idle thread spent halted (KeQueryIdleCycles) */
    ULONG64 HaltTsc;              /* when the idle thread's HLT began; 0 when not halted */
} KPRCB, *PKPRCB;

_Static_assert(__builtin_offsetof(KPRCB, Irql) == KI_PRCB_IRQL, "KeGetCurrentIrql reads GS:KI_PRCB_IRQL");
_Static_assert(__builtin_offsetof(KPRCB, CurrentThread) == KI_PRCB_CURRENT_THREAD,
               "KeGetCurrentThread reads GS:KI_PRCB_CURRENT_THREAD");

/* The one way the IRQL changes: the PRCB's copy first, then CR8. An
 * interrupt between the two sees the new level as the one to return to,
 * and restores both to it: either way both agree once the interrupted
 * code's CR8 write is done.
 * APC_LEVEL and DISPATCH_LEVEL are software levels, as in NT's x86 HALs:
 * no device interrupt has a priority class at or below DISPATCH_LEVEL
 * (KeConnectInterrupt refuses one; vectors below 0x30 are the CPU's
 * exceptions and the masked legacy PIC), so holding the APIC back at 1 or
 * 2 would hold back nothing. What those levels stop - DPCs, the
 * scheduler, APCs - is decided in software by the level in the PRCB. So
 * CR8 is the IRQL above DISPATCH_LEVEL and 0 at or below it, and a change
 * among PASSIVE, APC and DISPATCH writes no CR8: under QEMU's TCG each CR8
 * write is a helper that takes QEMU's big lock and ends the translated
 * block, and a 4 KiB read made about 33 of them. */
static inline void KiSetIrql(KIRQL irql)
{
    KIRQL was;
    __asm__ volatile("movb %%gs:%c1, %0" : "=q"(was) : "i"(KI_PRCB_IRQL) : "memory");
    __asm__ volatile("movb %0, %%gs:%c1" : : "q"(irql), "i"(KI_PRCB_IRQL) : "memory");
    if (irql > DISPATCH_LEVEL || was > DISPATCH_LEVEL)
        __asm__ volatile("mov %0, %%cr8" : : "r"((ULONG64)(irql > DISPATCH_LEVEL ? irql : 0)) : "memory");
}

static inline PKPRCB KeGetCurrentPrcb(void)
{
    PKPRCB p;
    __asm__ volatile("mov %%gs:0, %0" : "=r"(p));
    return p;
}

/* KeRaiseIrql and KeLowerIrql's bodies, inlined into them and into the
 * spin-lock routines (kernel/ke/irql.c, spinlock.c). Under QEMU's TCG a
 * call is cheap but every return is an indirect jump that looks up its
 * translated block, and the spin-lock path was three calls deep
 * (KeAcquireSpinLock -> KeRaiseIrql, KeAcquireSpinLockAtDpcLevel): those
 * small functions were a third of the kernel's samples in the I/O ring's
 * 4 KiB loop (make prof). Only the rare work below DISPATCH_LEVEL is a
 * call (KiLowerIrqlRunPending). */
__attribute__((noreturn, cold)) void KiRaiseIrqlTooLow(KIRQL cur, KIRQL new_irql);
__attribute__((noreturn, cold)) void KiLowerIrqlTooHigh(KIRQL cur, KIRQL new_irql, ULONG_PTR caller);
void KiLowerIrqlRunPending(KIRQL new_irql);
/* The scheduler runs (set in kernel/ke/sched.c, kept in irql.c): before it, nothing may wait. */
extern BOOLEAN KiSchedulerReady;

static inline __attribute__((always_inline)) KIRQL KiRaiseIrqlInline(KIRQL new_irql)
{
    KIRQL cur = KeGetCurrentIrql();
    if (new_irql < cur || new_irql > HIGH_LEVEL)
        KiRaiseIrqlTooLow(cur, new_irql);
    /* A raise to the level already held (KiAcquireDispatcherLock inside a
     * DPC, a spin lock at DISPATCH_LEVEL) changes nothing: no CR8 write,
     * which under TCG is a helper that takes QEMU's big lock. */
    if (new_irql != cur)
        KiSetIrql(new_irql);
    return cur;
}

static inline __attribute__((always_inline)) BOOLEAN KiWorkPendingInline(void)
{
    PKPRCB prcb = KeGetCurrentPrcb();
    return prcb->DpcQueueDepth || prcb->ReadyPending || prcb->QuantumEnd || prcb->DeadThread;
}

static inline __attribute__((always_inline)) void KiLowerIrqlInline(KIRQL new_irql, ULONG_PTR caller)
{
    KIRQL cur = KeGetCurrentIrql();
    if (new_irql > cur)
        KiLowerIrqlTooHigh(cur, new_irql, caller);
    if (new_irql == cur)
        return;   /* nothing to lower, nothing to run: a drop below DISPATCH_LEVEL is what runs DPCs */
    KiSetIrql(new_irql);
    /* Dropping below DISPATCH_LEVEL is when queued DPCs run and a
     * preemption takes effect (irql.c, KiLowerIrqlRunPending). */
    if (new_irql < DISPATCH_LEVEL && cur >= DISPATCH_LEVEL && KiSchedulerReady && KiWorkPendingInline())
        KiLowerIrqlRunPending(new_irql);
}

/* The spin lock's own acquire and release (no IRQL change), inlined into
 * both flavours of kernel/ke/spinlock.c and into the lookaside lists'
 * lock (see KiRaiseIrqlInline: under TCG each return costs a look-up of
 * its translated block). */
/* Their bugchecks, out of line (kernel/ke/spinlock.c): one copy of each
 * message, not one per place the bodies are inlined. */
__attribute__((noreturn, cold)) void KiSpinLockAcquiredTwice(PKSPIN_LOCK l, ULONG_PTR caller);
__attribute__((noreturn, cold)) void KiSpinLockReleasedUnowned(PKSPIN_LOCK l);

static inline __attribute__((always_inline)) void KiAcquireSpinLockInline(PKSPIN_LOCK l, ULONG_PTR caller)
{
    ULONG_PTR me = (ULONG_PTR)KeGetCurrentPrcb();
    if (*l == me)
        KiSpinLockAcquiredTwice(l, caller);
    for (;;) {
        ULONG_PTR expected = 0;
        if (__atomic_compare_exchange_n(l, &expected, me, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return;
        while (*l)
            __asm__ volatile("pause" ::: "memory");   /* spin on a plain read: no bus-locking storm */
    }
}

static inline __attribute__((always_inline)) void KiReleaseSpinLockInline(PKSPIN_LOCK l)
{
    if (*l != (ULONG_PTR)KeGetCurrentPrcb())
        KiSpinLockReleasedUnowned(l);
    __atomic_store_n(l, 0, __ATOMIC_RELEASE);
}

/* ---- lock discipline (kernel/ke/spinlock.c) ----
 * Cheap checks, always on: one compare, and on failure a bugcheck that
 * names the rule and the routine. docs/mm.md §6 lists every lock, the IRQL
 * it is taken at and the order in which locks may nest.
 *   a routine needs a spin lock that is not held  -> SPIN_LOCK_NOT_OWNED 0x10,
 *       P1 the lock, P2 1 (mdlos: "required by a routine"), P3 the caller
 *   a routine is called with a lock it may take again (or must not run
 *       under)                                   -> SPIN_LOCK_ALREADY_OWNED 0xF,
 *       P1 the lock, P2 1, P3 the caller
 *   IRQL above a routine's limit                  -> IRQL_NOT_LESS_OR_EQUAL 0xA,
 *       P1 0, P2 the IRQL, P3 the limit, P4 the caller
 *   IRQL below what a routine needs               -> IRQL_NOT_GREATER_OR_EQUAL 0x9,
 *       P1 the IRQL, P2 the level needed, P4 the caller */
static inline BOOLEAN KiSpinLockHeldByMe(PKSPIN_LOCK l)
{
    return *l == (ULONG_PTR)KeGetCurrentPrcb();
}
__attribute__((noreturn)) void KiLockNotHeld(PKSPIN_LOCK lock, const char *lock_name, const char *routine,
                                             ULONG_PTR caller);
__attribute__((noreturn)) void KiLockHeld(PKSPIN_LOCK lock, const char *lock_name, const char *routine,
                                          const char *why, ULONG_PTR caller);
__attribute__((noreturn)) void KiIrqlTooHigh(KIRQL irql, KIRQL limit, const char *routine, ULONG_PTR caller);
__attribute__((noreturn)) void KiIrqlTooLow(KIRQL irql, KIRQL needed, const char *routine, ULONG_PTR caller);

#define KI_ASSERT_LOCK_HELD(lock, name)                                                          \
    do {                                                                                         \
        if (!KiSpinLockHeldByMe(lock))                                                           \
            KiLockNotHeld((lock), (name), __func__, (ULONG_PTR)__builtin_return_address(0));    \
    } while (0)
#define KI_ASSERT_LOCK_NOT_HELD(lock, name, why)                                                 \
    do {                                                                                         \
        if (KiSpinLockHeldByMe(lock))                                                            \
            KiLockHeld((lock), (name), __func__, (why), (ULONG_PTR)__builtin_return_address(0)); \
    } while (0)
#define KI_ASSERT_IRQL_LE(level)                                                                 \
    do {                                                                                         \
        KIRQL irql_ = KeGetCurrentIrql();                                                        \
        if (irql_ > (level))                                                                     \
            KiIrqlTooHigh(irql_, (level), __func__, (ULONG_PTR)__builtin_return_address(0));    \
    } while (0)
#define KI_ASSERT_IRQL_GE(level)                                                                 \
    do {                                                                                         \
        KIRQL irql_ = KeGetCurrentIrql();                                                        \
        if (irql_ < (level))                                                                     \
            KiIrqlTooLow(irql_, (level), __func__, (ULONG_PTR)__builtin_return_address(0));     \
    } while (0)

/* The dispatcher lock (kernel/ke/sched.c): ready queues, wait lists, signal
 * states, timers, the thread list. The innermost lock but one (the DPC
 * queue's): while it is held nothing is allocated, freed or signalled. */
extern KSPIN_LOCK KiDispatcherLock;
#define KI_ASSERT_DISPATCHER_LOCK_HELD() KI_ASSERT_LOCK_HELD(&KiDispatcherLock, "the dispatcher lock")
#define KI_ASSERT_DISPATCHER_LOCK_NOT_HELD(why) \
    KI_ASSERT_LOCK_NOT_HELD(&KiDispatcherLock, "the dispatcher lock", (why))

void KiInitializePrcb(void);
void KiInitializeScheduler(void);   /* makes kmain's context the first thread, starts the idle thread */
void KiInitializeInterrupts(void);  /* APIC, IOAPIC, clock */
/* Run DPCs and switch threads if asked; called at DISPATCH_LEVEL. */
void KiDispatchInterrupt(void);
/* Run this CPU's queued DPCs (kernel/ke/dpc.c); free a dead thread's stack (thread.c). */
void KiRetireDpcList(PKPRCB Prcb);
void KiReapThread(PKTHREAD Thread);
/* System calls served since boot (kernel/ke/syscall.c). */
extern ULONG64 KiSystemCalls;
/* One entry stub per vector (kernel/ke/trapentry.asm). */
extern const uint64_t KiTrapStubs[256];
BOOLEAN KiSoftwareWorkPending(void);
/* Ready THREAD (insert in its priority's queue; preempt if it outranks us). */
void KiReadyThread(PKTHREAD Thread);
/* Switch away from the current thread (already Waiting/Terminated/Ready),
 * at DISPATCH_LEVEL with the dispatcher lock held. */
void KiSwapThread(void);
void KiUnwaitThread(PKTHREAD Thread, NTSTATUS Status);
KIRQL KiAcquireDispatcherLock(void);
void KiReleaseDispatcherLock(KIRQL OldIrql);
void KiClockTick(void);
/* Satisfy waits on OBJECT while it stays signaled (dispatcher lock held). */
void KiWaitTest(DISPATCHER_HEADER *Object);
void KiTimerInitialize(void);
/* The profiler's totals (SystemProfileInformation), the running time included. */
void KeQueryProfile(SYSTEM_PROFILE_T *Totals);
void KiSetTimerLocked(PKTIMER Timer, LARGE_INTEGER DueTime, LONG Period, PKDPC Dpc);
void KiCancelTimerLocked(PKTIMER Timer);
extern LIST_ENTRY KiThreadListHead;
extern volatile ULONG64 KiInterruptTime;   /* 100 ns units */

PKTHREAD KiCreateThread(PKSTART_ROUTINE Start, PVOID Context, KPRIORITY Priority, const char *Name,
                        struct _EPROCESS *Process);
void KiSetTssRsp0(ULONG64 Rsp0);
__attribute__((noreturn)) void KiStartUserThread(PKTRAP_FRAME Frame);
/* Make a frame safe to IRETQ to ring 3 (kernel/ke/syscall.c): RFLAGS
 * sanitized, CS/SS/RIP checked (a bad one is a kernel bug: bugcheck). */
void KiCheckUserFrame(PKTRAP_FRAME Frame);
/* APCs (kernel/ke/apc.c): set up a new thread's queue; run the current
 * thread's queued APCs if it may take them at IRQL (its IRQL at the
 * delivery point, which must be the current one or the one a wait
 * returns to); deliver them on the way back to ring 3 (called by
 * KiExitToUser with interrupts off); run the queue down at thread exit. */
void KiInitializeThreadApcs(PKTHREAD Thread);
BOOLEAN KiApcDeliverable(PKTHREAD Thread, KIRQL Irql);
void KiDeliverApc(void);
void KiCheckForApcDelivery(void);
void KiApcExitToUser(PKTRAP_FRAME Frame);
/* KiApcExitToUser when it has something to do (a blocked APC state to
 * report, an APC to deliver): the common case costs two loads and no call. */
static inline void KiApcCheckExitToUser(PKTHREAD t, PKTRAP_FRAME f)
{
    if (t->SpecialApcDisable != 0 || t->MutexCount != 0 || t->ActiveProcess != t->Process || t->KernelApcPending)
        KiApcExitToUser(f);
}
void KiRundownApcs(PKTHREAD Thread);
void KiInitializeSystemCalls(void);
/* The service table (kernel/ke/syscall.c). */
void KiRegisterService(ULONG number, NTSTATUS (*fn)(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64));
NTSTATUS (*KiLookupService(ULONG number))(ULONG64, ULONG64, ULONG64, ULONG64, ULONG64, ULONG64);
/* A service of more than six arguments gets them all as one array: the
 * dispatcher captures 7.. from the user stack first (kernel/ntsyscall.h). */
#define KI_MAX_SERVICE_ARGS 12
typedef NTSTATUS (*KI_SERVICE_N)(const ULONG64 *Args);
void KiRegisterServiceN(ULONG number, KI_SERVICE_N fn, ULONG argc);
/* Call service NUMBER's array routine with ARGS (kernel tests). */
NTSTATUS KiCallServiceN(ULONG number, const ULONG64 *args);

/* The context switch (kernel/ke/swap.asm). */
void KiSwapContext(PKTHREAD Old, PKTHREAD New);
void KiThreadStartup(void);

/* Interrupt vectors: the priority class (vector >> 4) is the IRQL. */
#define KI_CLOCK_VECTOR    0xD1
#define KI_SPURIOUS_VECTOR 0xFF
/* The profiler's sample (kernel/ke/profile.c): class 15, above the clock
 * and every device, so it samples ISRs too. Taken by KiInterruptDispatch
 * before anything else, with interrupts off. */
#define KI_PROFILE_VECTOR  0xFE
void KiInterruptDispatch(PKTRAP_FRAME Frame);
void KiProfileInterrupt(PKTRAP_FRAME Frame, BOOLEAN Halted);
void KiInitializeProfile(void);   /* `prof=HZ`: start sampling at boot */
ULONG64 KiProfileInterruptsTaken(void);   /* since boot, counted or not */
extern BOOLEAN KiProfileArmedAtBoot;      /* the PIT's input unmasked when the kernel's start was done with it */
