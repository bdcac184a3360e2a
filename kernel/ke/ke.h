/*
 * ke.h: the kernel core's public interface (Ke = kernel, Kd = debugger
 * output, Rtl = runtime library). Drivers and tests include kernel/mdlos.h,
 * which pulls this in.
 */
#pragma once
#include "kernel/ntdef.h"
#include "kernel/bugcodes.h"

/* Kernel virtual = physical + KERNEL_VIRT_OFFSET for the kernel image
 * (linker.ld). Nothing else in the system is direct-mapped. */
#define KERNEL_VIRT_OFFSET 0xFFFFFFFF80000000ULL
#define PAGE_SIZE  4096
#define PAGE_SHIFT 12

/* ---- console and formatted output (kernel/kprintf.c, console.c) ---- */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);
int ksnprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
#define DbgPrint kprintf

/* ---- bugcheck (kernel/bugcheck.c) ---- */
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

/* ---- boot command line (kernel/cmdline.c) ---- */
/* Value of option NAME ("ktest=mm.*" -> "mm.*"), "" for a bare flag, NULL
 * when absent. */
const char *KeGetOption(const char *name);
/* "1", "on", "yes", "true" or a bare flag are true. */
BOOLEAN KeOptionEnabled(const char *name);

/* ---- symbols and backtraces (kernel/ksym.c) ---- */
/* Name of the function containing ADDR and the offset into it, NULL when
 * ADDR is outside the kernel's text. */
const char *KdLookupSymbol(ULONG_PTR addr, ULONG_PTR *offset);
/* Address of function NAME, 0 when unknown. */
ULONG_PTR KdSymbolAddress(const char *name);
void KdDumpBacktrace(ULONG_PTR pc, ULONG_PTR rbp, BOOLEAN pc_is_return);
/* One backtrace line ("  #N addr name+off"): a return address is looked
 * up at addr - 1 (the call), a faulting RIP at addr. */
int KdFormatBacktraceFrame(char *buf, size_t size, int n, ULONG_PTR addr, BOOLEAN is_return);
/* Follow the frame-pointer chain from RBP; fills RETURNS with up to MAX
 * return addresses, innermost first, and returns how many. */
int KdWalkStack(ULONG_PTR rbp, ULONG_PTR *returns, int max);
/* Frame-pointer walks only follow RBP inside a registered stack. */
void KdRegisterStack(ULONG_PTR low, ULONG_PTR high);
void KdUnregisterStack(ULONG_PTR low, ULONG_PTR high);
/* Is VA inside a known kernel stack (boot, IST, thread stacks)? */
BOOLEAN KdIsAddressOnStack(ULONG_PTR va);

/* ---- hardware (kernel/hal.c) ---- */
/* Leave QEMU through the isa-debug-exit device: QEMU's exit status becomes
 * (code << 1) | 1. Returns only when the device is absent. */
void HalQemuExit(uint8_t code);
#define QEMU_EXIT_PASS     0x10
#define QEMU_EXIT_FAIL     0x11
#define QEMU_EXIT_BUGCHECK 0x12
__attribute__((noreturn)) void HalHaltSystem(void);

/* ---- runtime library (kernel/rtl.c; the string routines are in
 * kernel/rtlstring.c, which the user-mode libc shares) ---- */
#include "kernel/rtl/rtlstring.h"   /* the string and memory routines, declared once */

#define RtlZeroMemory(d, n) memset((d), 0, (n))
#define RtlCopyMemory(d, s, n) memcpy((d), (s), (n))
#define RtlMoveMemory(d, s, n) memmove((d), (s), (n))
#define RtlFillMemory(d, n, c) memset((d), (c), (n))
/* How many leading bytes of A and B are equal (N when all are). */
SIZE_T RtlCompareMemory(const void *a, const void *b, SIZE_T n);

/* ---- IRQL (kernel/irql.c) ----
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


KIRQL KeGetCurrentIrql(void);
/* Raising to a lower level, or lowering to a higher one, is a bugcheck
 * (0x9 IRQL_NOT_GREATER_OR_EQUAL / 0xA IRQL_NOT_LESS_OR_EQUAL), as on NT. */
void KeRaiseIrql(KIRQL NewIrql, PKIRQL OldIrql);
void KeLowerIrql(KIRQL NewIrql);
KIRQL KeRaiseIrqlToDpcLevel(void);

/* ---- bitmaps (kernel/rtlbitmap.c) ---- */
void RtlInitializeBitMap(PRTL_BITMAP Bitmap, PULONG64 Buffer, ULONG Bits);
/* Find NUMBER clear bits in a row, starting the search at HINT and
 * wrapping; set them and return the first index, or 0xFFFFFFFF. */
ULONG RtlFindClearBitsAndSet(PRTL_BITMAP Bitmap, ULONG Number, ULONG Hint);
void RtlSetBits(PRTL_BITMAP Bitmap, ULONG Start, ULONG Number);
void RtlClearBits(PRTL_BITMAP Bitmap, ULONG Start, ULONG Number);
BOOLEAN RtlCheckBit(PRTL_BITMAP Bitmap, ULONG Index);
ULONG RtlNumberOfSetBits(PRTL_BITMAP Bitmap);

/* ---- spin locks (kernel/spinlock.c) ----
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
#define KI_MS(ms) ((LONGLONG)(ms) * 10000)

/* ---- DPCs (kernel/dpc.c) ---- */
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
BOOLEAN KeRemoveQueueDpc(PRKDPC Dpc);

/* ---- dispatcher objects and waits (kernel/wait.c) ---- */
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

/* ---- threads (kernel/thread.c, kernel/sched.c) ---- */
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
PKTHREAD KeGetCurrentThread(void);
KPRIORITY KeSetPriorityThread(PKTHREAD Thread, KPRIORITY Priority);
/* Give up the rest of the quantum to another ready thread of equal priority. */
void KeYieldExecution(void);
ULONG KeGetCurrentProcessorNumber(void);

/* ---- interrupts (kernel/interrupt.c) ---- */
struct _KINTERRUPT;
typedef BOOLEAN (*PKSERVICE_ROUTINE)(struct _KINTERRUPT *Interrupt, PVOID ServiceContext);
typedef struct _KINTERRUPT {
    LIST_ENTRY InterruptListEntry;
    PKSERVICE_ROUTINE ServiceRoutine;
    PVOID ServiceContext;
    ULONG Vector;
    KIRQL Irql;
    ULONG Gsi;             /* IOAPIC input, or ~0 for a local vector */
    ULONG64 Count;         /* times the routine claimed the interrupt */
} KINTERRUPT, *PKINTERRUPT;
/* Connect ISR to the device interrupt on IOAPIC input GSI at IRQL (3..12):
 * the vector is chosen in IRQL's priority class, so the APIC's priority
 * logic is NT's IRQL. The ISR runs at IRQL and should queue a DPC. */
NTSTATUS IoConnectInterruptEx(PKINTERRUPT *Interrupt, PKSERVICE_ROUTINE ServiceRoutine, PVOID ServiceContext,
                              ULONG Gsi, KIRQL Irql, BOOLEAN LevelTriggered);
void IoDisconnectInterrupt(PKINTERRUPT Interrupt);
/* The kernel's half (kernel/ke/interrupt.c): pick a vector in Interrupt->Irql's
 * class, route Interrupt->Gsi to it. FALSE when the class is full. */
BOOLEAN KeConnectInterrupt(PKINTERRUPT Interrupt, BOOLEAN LevelTriggered);
void KeDisconnectInterrupt(PKINTERRUPT Interrupt);

/* ---- structured exceptions (kernel/except.c) ----
 * NT's kernel code uses the compiler's __try/__except; mdlos has no
 * compiler SEH, so ExTry blocks are built on a per-thread chain of
 * setjmp-style frames. An exception (ExRaiseStatus, or a fault on a user
 * address, or any CPU exception in kernel code) inside ExTry resumes in
 * the matching ExExcept with the status; outside any ExTry it bugchecks
 * KMODE_EXCEPTION_NOT_HANDLED (0x1E). As with __try: never return, break
 * or goto out of an ExTry block, and make locals you change inside it and
 * read in ExExcept volatile.
 *
 *     ExTry {
 *         ProbeForWrite(UserBuffer, Length, 1);
 *         ...
 *     } ExExcept(status) {
 *         return status;
 *     } ExEndTry;
 */
typedef struct _KI_JMP_BUF_PUBLIC { uint64_t regs[8]; } KI_JMP_BUF_PUBLIC;
typedef struct _EX_FRAME {
    KI_JMP_BUF_PUBLIC Jmp;
    struct _EX_FRAME *Next;
    NTSTATUS Status;
    BOOLEAN InterruptsEnabled;
} EX_FRAME;
void ExpPushFrame(EX_FRAME *Frame);
void ExpPopFrame(EX_FRAME *Frame);
int ExpSetJmp(EX_FRAME *Frame) __attribute__((returns_twice));
#define ExTry                                  \
    do {                                       \
        EX_FRAME ex_frame_;                    \
        ExpPushFrame(&ex_frame_);              \
        if (ExpSetJmp(&ex_frame_) == 0) {
#define ExExcept(status_var)                   \
        ExpPopFrame(&ex_frame_);               \
        } else {                               \
            NTSTATUS status_var = ex_frame_.Status; \
            (void)status_var;
#define ExEndTry                               \
        }                                      \
    } while (0)

__attribute__((noreturn)) void ExRaiseStatus(NTSTATUS Status);
/* The highest user address + 1 that a user range may reach. */
#define MM_HIGHEST_USER_ADDRESS ((PVOID)0x00007FFFFFFEFFFFULL)
#define MmUserProbeAddress ((ULONG_PTR)0x00007FFFFFFF0000ULL)
/* The highest address a VAD may cover: NT keeps the top 64 KiB below
 * MM_HIGHEST_USER_ADDRESS out of every VAD (a no-access guard between user
 * space and the probe boundary), so nothing can be mapped there. */
#define MM_HIGHEST_VAD_ADDRESS ((PVOID)((ULONG_PTR)MM_HIGHEST_USER_ADDRESS - 64 * 1024))
/* Raise STATUS_ACCESS_VIOLATION unless [Address, Address+Length) is user
 * space (STATUS_DATATYPE_MISALIGNMENT if misaligned). ProbeForWrite also
 * writes each page, so a read-only page raises too. */
void ProbeForRead(const volatile void *Address, SIZE_T Length, ULONG Alignment);
void ProbeForWrite(volatile void *Address, SIZE_T Length, ULONG Alignment);
/* Copy from/to user memory (SMAP: only these may touch user pages). */
void ExCopyFromUser(void *Dst, const void *UserSrc, SIZE_T Length);
void ExCopyToUser(void *UserDst, const void *Src, SIZE_T Length);
/* The same, probed and inside ExTry: a bad pointer is a returned status
 * (STATUS_ACCESS_VIOLATION, STATUS_GUARD_PAGE_VIOLATION for a guard page,
 * whose guard is then gone, or STATUS_DATATYPE_MISALIGNMENT when the
 * pointer is not a multiple of ALIGNMENT, the alignment of the user's
 * type). ExCaptureUserInOut also checks the source is writable (an in-out
 * parameter), so a call can fail before it changes anything. */
NTSTATUS ExCaptureUser(void *Dst, const void *UserSrc, SIZE_T Length, ULONG Alignment);
NTSTATUS ExCaptureUserInOut(void *Dst, const void *UserSrc, SIZE_T Length, ULONG Alignment);
NTSTATUS ExReturnToUser(void *UserDst, const void *Src, SIZE_T Length, ULONG Alignment);
/* Check an output buffer before a service does anything: all CHECKED bytes
 * must be user space (no wrap, aligned), and the first TOUCHED bytes (what
 * the service will write) writable. NT's ProbeForWrite writes every page
 * of the length; mdlos touches only what it will write, so a huge length
 * costs no loop ring 3 chooses. */
NTSTATUS ExProbeUserOutput(void *UserDst, SIZE_T Checked, SIZE_T Touched, ULONG Alignment);
