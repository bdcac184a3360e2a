/*
 * Shared helpers of the MDL tests (io/tests/mdl_api_test.c,
 * mm/tests/mdl_lock_test.c, mdl_seeds_test.c, mdl_verifier_test.c):
 * the layout of the user program user/mdltarget.c, starting and ending it,
 * attaching to it with assertions that detach before they fail, and small
 * PFN and probe helpers.
 */
#pragma once
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define MDLT_TAG POOL_TAG('M', 'd', 'T', 's')

/* ---- user/mdltarget.c's fixed layout (keep the two in step) ---- */
#define MT_RW_BASE   0x20000000ULL   /* committed read/write, every qword written */
#define MT_RW_PAGES  16
#define MT_RO_BASE   0x20100000ULL   /* written, then PAGE_READONLY */
#define MT_RO_PAGES  2
#define MT_RES_BASE  0x20200000ULL   /* reserved, never committed */
#define MT_RES_PAGES 4
#define MT_DZ_BASE   0x20300000ULL   /* committed, never touched */
#define MT_DZ_PAGES  4
#define MT_CTL_BASE  0x20400000ULL   /* the control block */
#define MT_FREE_VA   0x30000000ULL   /* no VAD there */
#define MT_READY_MAGIC 0x594441455254444DULL
#define MT_RW_WORD(off) (0x4D444C5257000000ULL | (ULONG64)(off))
#define MT_RO_WORD(off) (0x4D444C524F000000ULL | (ULONG64)(off))
#define MT_COW_WORD   0xC0C0C0C0C0C0C0C0ULL
#define MT_IMAGE_WORD 0x1313131313131313ULL

typedef struct {
    ULONG64 Magic;
    ULONG64 CowPage;     /* a .data page mdltarget only read: shared prototype, copy-on-write */
    ULONG64 ImagePage;   /* another such page */
    ULONG64 Pid;
} MT_CONTROL;

/* Start mdltarget (IMAGE "mdltarget") and wait, up to 10 s, until its
 * layout is in place. STATUS_SUCCESS with *OUT and *CTL filled. */
NTSTATUS MdlTestStartTarget(PEPROCESS *Out, MT_CONTROL *Ctl);
/* Terminate it, wait for its end (10 s at most) and drop our reference.
 * Returns its exit status (STATUS_TIMEOUT if it did not end). */
NTSTATUS MdlTestStopTarget(PEPROCESS Process);
/* Wait for PROCESS to end on its own, up to MS; STATUS_TIMEOUT if not. */
NTSTATUS MdlTestWaitProcess(PEPROCESS Process, ULONG Ms);
void MdlTestSleep(ULONG Ms);

/* Attach/detach, remembered so that a failing MT_* assertion detaches first. */
void MdlTestAttach(PEPROCESS Process);
void MdlTestDetach(void);
void MdlTestUnwind(void);

/* MmProbeAndLockPages inside ExTry: the status it raised, or 0. */
NTSTATUS MdlTestProbe(PMDL Mdl, KPROCESSOR_MODE Mode, LOCK_OPERATION Op);
/* MmMapLockedPagesSpecifyCache inside ExTry (user-mode maps raise). */
NTSTATUS MdlTestMap(PMDL Mdl, KPROCESSOR_MODE Mode, MEMORY_CACHING_TYPE Cache, PVOID Requested, ULONG Priority,
                    PVOID *Out);
/* Copy from/to a user address of the current address space, inside ExTry. */
NTSTATUS MdlTestReadUser(PVOID Dst, ULONG64 UserVa, SIZE_T Bytes);
NTSTATUS MdlTestWriteUser(ULONG64 UserVa, const void *Src, SIZE_T Bytes);

/* The frame a valid PTE maps VA to in the current address space; 0 when
 * the PTE is absent or not valid. */
PFN_NUMBER MdlTestPfnOf(const void *Va);
/* The raw PTE (0 when its page table is absent). */
ULONG64 MdlTestPteOf(const void *Va);
static inline USHORT MdlTestRefs(PFN_NUMBER Pfn) { return MI_PFN_ELEMENT(Pfn)->ReferenceCount; }

/* ---- assertions that detach from an attached process before failing ---- */
#define MT_CMP_(a, op, b)                                                                          \
    do {                                                                                           \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                           \
        if (!(a_ op b_)) {                                                                         \
            MdlTestUnwind();                                                                       \
            KtFail(__FILE__, __LINE__, "%s %s %s: 0x%llx (%lld) vs 0x%llx (%lld)", #a, #op, #b,    \
                   (unsigned long long)a_, (long long)a_, (unsigned long long)b_, (long long)b_);  \
        }                                                                                          \
    } while (0)
#define MT_EQ(a, b) MT_CMP_(a, ==, b)
#define MT_NE(a, b) MT_CMP_(a, !=, b)
#define MT_LT(a, b) MT_CMP_(a, <, b)
#define MT_LE(a, b) MT_CMP_(a, <=, b)
#define MT_GT(a, b) MT_CMP_(a, >, b)
#define MT_GE(a, b) MT_CMP_(a, >=, b)
#define MT_ASSERT(c)                                                          \
    do {                                                                      \
        if (!(c)) {                                                           \
            MdlTestUnwind();                                                  \
            KtFail(__FILE__, __LINE__, "MT_ASSERT(%s)", #c);                  \
        }                                                                     \
    } while (0)
