/*
 * ex.h: the executive support's public interface (kernel/ex/): structured
 * exceptions (ExTry), probing and capturing user buffers. The pool and
 * lookaside-list routines (Ex* by NT's names) are declared with the memory
 * manager, in mm/mm.h: see docs/architecture.md, "Names".
 */
#pragma once
#include "kernel/ke/ke.h"

/* ---- structured exceptions (kernel/ex/except.c) ----
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
/* Inside ExExcept: the exception's status, as NT's GetExceptionCode()
 * (ExExcept(status) names it too). */
#define ExExceptionCode() (ex_frame_.Status)
#define ExEndTry                               \
        }                                      \
    } while (0)

__attribute__((noreturn)) void ExRaiseStatus(NTSTATUS Status);

/* Event objects (kernel/ex/event.c): ExEventObjectType and the Nt*Event
 * services; at boot, after ObInitSystem. */
void ExInitializeEventObjects(void);
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

/* For the trap handler (kernel/ke/trap.c) and the fault handler (mm/fault.c):
 * is an ExTry active on this thread, and resume it from a trap with STATUS. */
struct _KTRAP_FRAME;
BOOLEAN ExExceptionHandlerActive(void);
__attribute__((noreturn)) void ExRaiseFromTrap(struct _KTRAP_FRAME *frame, NTSTATUS status);
