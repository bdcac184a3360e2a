/*
 * ioringp.h: the I/O ring's object, shared by io/ioring.c (the object, the
 * queues, the services) and io/ioring_register.c (registered buffers and
 * files). Not for drivers.
 */
#pragma once
#include "io/iop.h"
#include "kernel/ps/ps.h"
#include "kernel/ntsyscall.h"

typedef struct _IOP_RING {
    KEVENT Ready;                  /* set when a waiter's count of CQEs is there */
    KEVENT SubmitLock;             /* one NtSubmitIoRing at a time (SqHead) */
    KSPIN_LOCK Lock;               /* CqTail, InFlight, WaitFor, Held, Closed */
    PEPROCESS Owner;               /* the views are in its address space (not referenced: it holds the handles) */
    ULONG SqSize, CqSize;          /* powers of two */
    ULONG SqHead;                  /* the kernel's own copies: the shared ones are only written from these */
    ULONG CqTail;
    ULONG InFlight;                /* entries taken off the SQ whose CQE is not written yet: each holds a slot */
    ULONG WaitFor;                 /* a waiter's count of unread CQEs; 0: nobody waits */
    ULONG HeldCount;
    LIST_ENTRY Held;               /* CQEs that found no room (a ring 3 that moved the CQ head back) */
    BOOLEAN Closed;                /* the last handle is gone: CQEs are no longer written */
    ULONG Pages;
    PMDL SubmitMdl, CompleteMdl;
    IORING_SUBMIT_AREA_T *Submit;      /* system views */
    IORING_COMPLETE_AREA_T *Complete;
    PVOID SubmitUser, CompleteUser;    /* the process's views; NULL once removed */
    /* Registered buffers: ring 3's pages locked once (IORING_OP_REGISTER_BUFFERS);
     * a request on one gets a partial MDL of it. BufferUsers: such requests
     * in flight - the set is replaced or unlocked only when there are none. */
    PMDL Buffers[IORING_REGISTERED_BUFFERS_MAX];
    ULONG BufferCount, BufferPages;
    volatile LONG BufferUsers;
    /* Registered files (IORING_OP_REGISTER_FILES): referenced once, with
     * the access their handles granted; a request on one looks up no handle. */
    PFILE_OBJECT Files[IORING_REGISTERED_FILES_MAX];
    ACCESS_MASK FileAccess[IORING_REGISTERED_FILES_MAX];
    ULONG FileCount;
} IOP_RING;

typedef struct {
    LIST_ENTRY Link;
    IORING_CQE_T Cqe;
} HELD_CQE;

/* All rings' registered pages (the leak check's counter). */
extern volatile LONG IopRingRegisteredPages;

/* IORING_OP_REGISTER_BUFFERS / _FILES for entry E (the kernel's copy): the
 * CQE's status. */
NTSTATUS IopRingRegisterBuffers(IOP_RING *Ring, const IORING_SQE_T *E);
NTSTATUS IopRingRegisterFiles(IOP_RING *Ring, const IORING_SQE_T *E);
/* The sets let go: only with no request using the buffers. */
void IopRingDropBuffers(IOP_RING *Ring);
void IopRingDropFiles(IOP_RING *Ring);
