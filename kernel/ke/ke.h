/*
 * ke.h: the kernel core's public interface (kernel/ke/): bugcheck, the
 * command line, IRQL, spin locks, DPCs, timers, dispatcher objects and
 * waits, threads, interrupt objects. Every kernel header builds on it; it
 * includes only the base types (kernel/ntdef.h, ntstatus.h, bugcodes.h)
 * and the runtime library (kernel/rtl/rtl.h). Drivers and tests include
 * kernel/mdlos.h, which pulls in every component's public header.
 */
#pragma once
#include "kernel/ntdef.h"
#include "kernel/bugcodes.h"
#include "kernel/rtl/rtl.h"

/* Kernel virtual = physical + KERNEL_VIRT_OFFSET for the kernel image
 * (linker.ld). Nothing else in the system is direct-mapped. */
#define KERNEL_VIRT_OFFSET 0xFFFFFFFF80000000ULL
#define PAGE_SIZE  4096
#define PAGE_SHIFT 12

/* ---- bugcheck (kernel/ke/bugcheck.c) ---- */
__attribute__((noreturn)) void KeBugCheckEx(ULONG Code, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4);
__attribute__((noreturn)) void KeBugCheck(ULONG Code);
/* Like KeBugCheckEx, with the broken rule stated in one sentence (the
 * verifier uses this so every report says what was done wrong). */
__attribute__((noreturn)) void KeBugCheckRule(ULONG Code, ULONG_PTR P1, ULONG_PTR P2, ULONG_PTR P3, ULONG_PTR P4,
                                              const char *rule_fmt, ...) __attribute__((format(printf, 6, 7)));
const char *KeBugCheckName(ULONG Code);

/* A kernel invariant; its failure is a kernel bug, so a bugcheck naming
 * the expression (0x1E with STATUS_ASSERTION_FAILURE, as NT's ASSERT). */
#define ASSERT(e) ((e) ? (void)0 : KiAssertFailed(#e, __FILE__, __LINE__))
__attribute__((noreturn)) void KiAssertFailed(const char *expr, const char *file, int line);

/* ---- boot command line (kernel/ke/cmdline.c) ---- */
/* Value of option NAME ("ktest=mm.*" -> "mm.*"), "" for a bare flag, NULL
 * when absent. */
const char *KeGetOption(const char *name);
/* "1", "on", "yes", "true" or a bare flag are true. */
BOOLEAN KeOptionEnabled(const char *name);
/* The boot's phases by the TSC (kernel/ke/bootphase.c): a mark at the end
 * of each step of the kernel's start, a driver's included; NAME is a
 * string literal. `boot.phases` prints them once the system is up. */
void KeMarkBootPhase(const char *name);

/* ---- the sampling profiler (kernel/ke/profile.c; docs/performance.md
 * "Profiling the guest") ----
 * Start: sample at HZ (0: the boot's prof= rate, else the default) from
 * now on, adding to the counts; STATUS_INVALID_PARAMETER outside
 * MIN..MAX. Stop: no more samples, the counts kept. Clear: the counts
 * zeroed. Print: the report on the console as `prof:` lines, the TOP
 * functions and the TOP_ADDR hottest addresses. QueryFunction: the
 * samples counted in function NAME (tests). */
#define KE_PROFILE_DEFAULT_HZ 1000
#define KE_PROFILE_MIN_HZ 20        /* the PIT's 16-bit divisor: 18.2 Hz at the slowest */
#define KE_PROFILE_MAX_HZ 20000     /* each sample is a trap, a few us under TCG */
NTSTATUS KeStartProfile(ULONG Hz);
void KeStopProfile(void);
void KeClearProfile(void);
BOOLEAN KeProfileRunning(void);
void KePrintProfile(ULONG Top, ULONG TopAddresses);
ULONG KeQueryProfileFunction(const char *Name);
ULONG KeProfileMaxSymbols(void);

/* ---- IRQL (kernel/ke/irql.c) ----
 * On x64 NT keeps the IRQL in CR8, the task-priority register: the local
 * APIC delivers only interrupts whose vector class (vector >> 4) is above
 * it. Raising to DISPATCH_LEVEL stops the scheduler and DPCs on this CPU;
 * code at DISPATCH_LEVEL or above must never take a page fault. */
typedef UCHAR KIRQL, *PKIRQL;
#define PASSIVE_LEVEL  0
#define LOW_LEVEL      0
#define APC_LEVEL      1
#define DISPATCH_LEVEL 2
#define CMCI_LEVEL     5
#define CLOCK_LEVEL    13
#define IPI_LEVEL      14
#define POWER_LEVEL    14
#define PROFILE_LEVEL  15
#define HIGH_LEVEL     15


/* The current IRQL is the PRCB's level at GS:KI_PRCB_IRQL; above
 * DISPATCH_LEVEL CR8 (the local APIC's task priority) holds it too (APC
 * and DISPATCH are software levels: KiSetIrql, kernel/ke/ki.h). Every
 * change goes through kernel/ke/irql.c or the interrupt dispatcher. The
 * read is one load, where reading CR8 is a control-register access (under
 * QEMU's TCG a helper call into the APIC model, about a tenth of a null
 * system call). */
#define KI_PRCB_IRQL 24
static inline KIRQL KeGetCurrentIrql(void)
{
    KIRQL irql;
    __asm__ volatile("movb %%gs:%c1, %0" : "=q"(irql) : "i"(KI_PRCB_IRQL) : "memory");
    return irql;
}
/* Raising to a lower level, or lowering to a higher one, is a bugcheck
 * (0x9 IRQL_NOT_GREATER_OR_EQUAL / 0xA IRQL_NOT_LESS_OR_EQUAL), as on NT. */
void KeRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql);
void KeLowerIrql(KIRQL NewIrql);
KIRQL KeRaiseIrqlToDpcLevel(void);

/* ---- spin locks (kernel/ke/spinlock.c) ----
 * KeAcquireSpinLock raises to DISPATCH_LEVEL first, so the holder cannot be
 * preempted or interrupted by DPCs on its own CPU; the lock word keeps
 * other CPUs out. */
typedef volatile ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;
void KeInitializeSpinLock(PKSPIN_LOCK SpinLock);
void KeAcquireSpinLock(PKSPIN_LOCK SpinLock, PKIRQL OldIrql);
void KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);
void KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
void KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock);

/* ---- time ----
 * NT counts time in 100-nanosecond units; a negative due time is relative. */
typedef union { LONGLONG QuadPart; } LARGE_INTEGER, *PLARGE_INTEGER;
ULONG64 KeQueryInterruptTime(void);    /* 100 ns units since boot */
/* A deadline in interrupt time the clock interrupt checks on every tick:
 * when it passes, ROUTINE runs at CLOCK_LEVEL (once) with the time it was
 * seen. One at a time; ROUTINE NULL disarms it. The test harness's
 * per-test time limit (ktest.limit=) is its user. */
typedef void (*KE_WATCHDOG_ROUTINE)(ULONG64 now);
void KeSetClockWatchdog(ULONG64 due, KE_WATCHDOG_ROUTINE routine);
ULONG64 KeQueryIdleCycles(void);       /* TSC cycles this CPU spent halted in its idle thread */
#define KI_MS(ms) ((LONGLONG)(ms) * 10000)

/* ---- DPCs (kernel/ke/dpc.c) ---- */
struct _KDPC;
typedef void (*PKDEFERRED_ROUTINE)(struct _KDPC *Dpc, PVOID DeferredContext, PVOID SystemArgument1,
                                   PVOID SystemArgument2);
typedef struct _KDPC {
    LIST_ENTRY DpcListEntry;
    PKDEFERRED_ROUTINE DeferredRoutine;
    PVOID DeferredContext, SystemArgument1, SystemArgument2;
    volatile BOOLEAN Inserted;
} KDPC, *PKDPC, *PRKDPC;
void KeInitializeDpc(PRKDPC Dpc, PKDEFERRED_ROUTINE DeferredRoutine, PVOID DeferredContext);
/* Queue DPC to run at DISPATCH_LEVEL as soon as this CPU's IRQL drops
 * below it. FALSE if it was already queued. */
BOOLEAN KeInsertQueueDpc(PRKDPC Dpc, PVOID SystemArgument1, PVOID SystemArgument2);
BOOLEAN KeIsExecutingDpc(void);   /* inside a DPC's routine (NT's name) */
BOOLEAN KeRemoveQueueDpc(PRKDPC Dpc);

/* ---- dispatcher objects and waits (kernel/ke/wait.c) ---- */
typedef enum { NotificationEvent, SynchronizationEvent } EVENT_TYPE;
typedef enum { KeEventObject = 1, KeSemaphoreObject, KeMutexObject, KeTimerObject, KeThreadObject,
               KeProcessObject } KOBJECTS;
typedef struct _DISPATCHER_HEADER {
    UCHAR Type;          /* KOBJECTS */
    UCHAR Absolute;
    UCHAR Size;
    UCHAR Inserted;
    LONG SignalState;
    LIST_ENTRY WaitListHead;
} DISPATCHER_HEADER;

typedef struct _KEVENT { DISPATCHER_HEADER Header; UCHAR EventType; } KEVENT, *PKEVENT, *PRKEVENT;
typedef struct _KSEMAPHORE { DISPATCHER_HEADER Header; LONG Limit; } KSEMAPHORE, *PKSEMAPHORE, *PRKSEMAPHORE;
struct _KTHREAD;
typedef struct _KMUTEX {
    DISPATCHER_HEADER Header;   /* SignalState 1 = free, <= 0 = owned (recursion) */
    struct _KTHREAD *OwnerThread;
} KMUTEX, *PKMUTEX, *PRKMUTEX;
typedef struct _KTIMER {
    DISPATCHER_HEADER Header;
    ULONG64 DueTime;            /* interrupt time at which it expires */
    LIST_ENTRY TimerListEntry;
    PKDPC Dpc;
    LONG Period;                /* ms; 0 = one-shot */
    struct _KTHREAD *WaitThread; /* a thread's own timeout timer: wakes it */
} KTIMER, *PKTIMER, *PRKTIMER;

typedef enum { Executive = 0, UserRequest = 6, DelayExecution = 4 } KWAIT_REASON;

typedef CHAR KPROCESSOR_MODE;
#define KernelMode 0
#define UserMode 1
typedef LONG KPRIORITY;
#define LOW_PRIORITY 0
#define LOW_REALTIME_PRIORITY 16
#define HIGH_PRIORITY 31
#define KI_DEFAULT_PRIORITY 8


void KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State);
LONG KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait);
LONG KeResetEvent(PRKEVENT Event);
void KeClearEvent(PRKEVENT Event);
LONG KeReadStateEvent(PRKEVENT Event);
void KeInitializeSemaphore(PRKSEMAPHORE Semaphore, LONG Count, LONG Limit);
LONG KeReleaseSemaphore(PRKSEMAPHORE Semaphore, KPRIORITY Increment, LONG Adjustment, BOOLEAN Wait);
void KeInitializeMutex(PRKMUTEX Mutex, ULONG Level);
LONG KeReleaseMutex(PRKMUTEX Mutex, BOOLEAN Wait);
void KeInitializeTimer(PKTIMER Timer);
/* DueTime in 100 ns units, negative = relative; Period in ms (0 = once). */
BOOLEAN KeSetTimerEx(PKTIMER Timer, LARGE_INTEGER DueTime, LONG Period, PKDPC Dpc);
BOOLEAN KeSetTimer(PKTIMER Timer, LARGE_INTEGER DueTime, PKDPC Dpc);
BOOLEAN KeCancelTimer(PKTIMER Timer);
BOOLEAN KeReadStateTimer(PKTIMER Timer);
/* Wait for OBJECT (an event, semaphore, mutex, timer or thread). Timeout
 * NULL waits forever, 0 just polls. Above APC_LEVEL only a zero timeout is
 * allowed: a bugcheck otherwise, since the CPU could not switch threads. */
NTSTATUS KeWaitForSingleObject(PVOID Object, KWAIT_REASON WaitReason, KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                               PLARGE_INTEGER Timeout);
NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable, PLARGE_INTEGER Interval);

/* ---- threads (kernel/ke/thread.c, kernel/ke/sched.c) ---- */
typedef void (*PKSTART_ROUTINE)(PVOID StartContext);
typedef struct _KTHREAD KTHREAD, *PKTHREAD, *PRKTHREAD;
/* A kernel thread on its own guarded stack; the thread object is signaled
 * when it ends, so KeWaitForSingleObject(thread) joins it. Release it with
 * KeDereferenceThread. NULL when out of memory. */
PKTHREAD KeCreateSystemThread(PKSTART_ROUTINE Start, PVOID Context, KPRIORITY Priority, const char *Name);
/* End the current thread (signal it, switch away for good); what
 * PsTerminateSystemThread does once the process side is done. */
__attribute__((noreturn)) void KeTerminateThread(NTSTATUS ExitStatus);
void KeDereferenceThread(PKTHREAD Thread);
/* Run in PROCESS's address space until KeUnstackDetachProcess (kernel/ke/procobj.c). */
struct _EPROCESS;
void KeStackAttachProcess(struct _EPROCESS *Process, struct _EPROCESS **Saved);
void KeUnstackDetachProcess(struct _EPROCESS **Saved);
/* The PRCB's CurrentThread, at GS:KI_PRCB_CURRENT_THREAD: one load (x64
 * NT's KeGetCurrentThread is the same single GS-relative load). */
#define KI_PRCB_CURRENT_THREAD 32
static inline PKTHREAD KeGetCurrentThread(void)
{
    PKTHREAD t;
    __asm__ volatile("mov %%gs:%c1, %0" : "=r"(t) : "i"(KI_PRCB_CURRENT_THREAD) : "memory");
    return t;
}
KPRIORITY KeSetPriorityThread(PKTHREAD Thread, KPRIORITY Priority);
/* Give up the rest of the quantum to another ready thread of equal priority. */
void KeYieldExecution(void);
ULONG KeGetCurrentProcessorNumber(void);

/* ---- asynchronous procedure calls (kernel/ke/apc.c) ----
 * An APC runs a routine in the context of a chosen thread: in its process,
 * at a point where it holds no kernel locks. The I/O manager uses one to
 * finish a request in the requester's context (write the IO_STATUS_BLOCK
 * to its user memory, copy a buffered read back, signal its event).
 * mdlos has NT's special kernel APCs only (NormalRoutine NULL, KernelMode;
 * no user-mode APCs). One is delivered when the thread is at PASSIVE_LEVEL,
 * not attached to another process, owns no mutex (NT keeps them out while
 * the working-set lock is held, for the same reason) and is not in a
 * guarded region: on its way back to ring 3, and in any wait, which it
 * interrupts - the wait resumes afterwards with what is left of its
 * timeout -, and when the last of those obstacles goes. KernelRoutine
 * runs at APC_LEVEL with no spin lock held, as on NT. Details:
 * docs/processes.md §10. */
struct _KAPC;
typedef void (*PKNORMAL_ROUTINE)(PVOID NormalContext, PVOID SystemArgument1, PVOID SystemArgument2);
typedef void (*PKKERNEL_ROUTINE)(struct _KAPC *Apc, PKNORMAL_ROUTINE *NormalRoutine, PVOID *NormalContext,
                                 PVOID *SystemArgument1, PVOID *SystemArgument2);
/* The thread ended with the APC still queued: free what it carries. */
typedef void (*PKRUNDOWN_ROUTINE)(struct _KAPC *Apc);
typedef enum _KAPC_ENVIRONMENT { OriginalApcEnvironment, AttachedApcEnvironment, CurrentApcEnvironment } KAPC_ENVIRONMENT;
typedef struct _KAPC {
    UCHAR Type;                   /* 0x12, NT's ApcObject */
    UCHAR Size;
    struct _KTHREAD *Thread;
    LIST_ENTRY ApcListEntry;
    PKKERNEL_ROUTINE KernelRoutine;
    PKRUNDOWN_ROUTINE RundownRoutine;
    PKNORMAL_ROUTINE NormalRoutine;
    PVOID NormalContext, SystemArgument1, SystemArgument2;
    CCHAR ApcStateIndex;
    KPROCESSOR_MODE ApcMode;
    volatile BOOLEAN Inserted;
} KAPC, *PKAPC, *PRKAPC;
void KeInitializeApc(PRKAPC Apc, struct _KTHREAD *Thread, KAPC_ENVIRONMENT Environment, PKKERNEL_ROUTINE KernelRoutine,
                     PKRUNDOWN_ROUTINE RundownRoutine, PKNORMAL_ROUTINE NormalRoutine, KPROCESSOR_MODE ApcMode,
                     PVOID NormalContext);
/* Queue APC to its thread (any IRQL <= DISPATCH_LEVEL); a waiting thread
 * that can take it is woken to run it. FALSE when it is already queued or
 * the thread has ended. */
BOOLEAN KeInsertQueueApc(PRKAPC Apc, PVOID SystemArgument1, PVOID SystemArgument2, KPRIORITY Increment);
/* Take a queued APC back off its thread's queue: FALSE if it was not queued. */
BOOLEAN KeRemoveQueueApc(PRKAPC Apc);
/* Hold APC delivery off in a region (nesting), as NT's guarded regions. */
void KeEnterGuardedRegion(void);
void KeLeaveGuardedRegion(void);
BOOLEAN KeAreAllApcsDisabled(void);

/* ---- interrupts (kernel/ke/interrupt.c) ---- */
struct _KINTERRUPT;
typedef BOOLEAN (*PKSERVICE_ROUTINE)(struct _KINTERRUPT *Interrupt, PVOID ServiceContext);
typedef struct _KINTERRUPT {
    LIST_ENTRY InterruptListEntry;
    PKSERVICE_ROUTINE ServiceRoutine;
    PVOID ServiceContext;
    ULONG Vector;
    KIRQL Irql;
    ULONG Gsi;             /* IOAPIC input, or KINTERRUPT_MESSAGE_SIGNALED */
    ULONG64 Count;         /* times the routine claimed the interrupt */
} KINTERRUPT, *PKINTERRUPT;
/* Gsi of an interrupt that no IOAPIC input carries: an MSI or MSI-X
 * message, which the device writes straight to the local APIC. The vector
 * is allocated as for a line (in Irql's class) but nothing is routed: the
 * driver programs the device with HalGetMessageSignaledInterrupt's message. */
#define KINTERRUPT_MESSAGE_SIGNALED 0xFFFFFFFFu
/* The kernel's half (kernel/ke/interrupt.c): pick a vector in Interrupt->Irql's
 * class, route Interrupt->Gsi to it (none for KINTERRUPT_MESSAGE_SIGNALED).
 * A GSI already connected is shared: the new object joins its vector (same
 * IRQL only). FALSE when the class is full or the IRQLs differ. */
BOOLEAN KeConnectInterrupt(PKINTERRUPT Interrupt, BOOLEAN LevelTriggered);
void KeDisconnectInterrupt(PKINTERRUPT Interrupt);
