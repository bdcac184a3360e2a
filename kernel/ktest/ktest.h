/*
 * ktest: in-kernel self-tests and benchmarks.
 *
 *   KTEST(suite, name) { KT_EQ(1 + 1, 2); }
 *       an ordinary test; runs at boot when `ktest=PATTERN` matches
 *       "suite.name". A failed assertion ends the test and marks it FAIL.
 *   KTEST_BUGCHECK(suite, name, code, p1, p2, p3, p4) { ...provoke it... }
 *       a test that must end in bugcheck CODE with those parameters
 *       (KT_ANY matches anything). The runner boots it on its own.
 *       KtExpectParam(n, v) sets parameter n (1-4) at run time, for values
 *       only known then (an address, a RIP).
 *   KTEST_MANUAL(suite, name)
 *       runs only when the pattern names it exactly (the runner's own
 *       self-checks: a test that fails or hangs on purpose).
 *   KTEST_POINTS(suite, name, points), KTEST_BUGCHECK_POINTS(suite, name,
 *   points, code, p1, p2, p3, p4)
 *       the same, worth POINTS in a lab's grade (make grade, docs/labs/).
 *   A name with "__" prints as "." (KTEST(pgtbl, walk__kernel_text) is
 *   pgtbl.walk.kernel_text): test names with more than two parts.
 *   KBENCH(suite, name) { ...; KtBenchReport("cycles_per_x", v, "cycles"); }
 *       runs under `bench=PATTERN` (make bench): once to warm up (its
 *       figures dropped), then `bench.runs` times, each run printing
 *       "bench: suite.name.cycles_per_x VALUE cycles" (scripts/bench.py
 *       takes the minimum, median and maximum).
 *
 * docs/testing.md explains how to write one.
 */
#pragma once
#include "kernel/ke/ke.h"

#define KT_ANY 0xA5A5A5A5DEADBEEFULL   /* "any value" in a bugcheck expectation */

#define KTEST_F_MANUAL   1u
#define KTEST_F_BUGCHECK 2u
#define KTEST_F_BENCH    4u
#define KTEST_F_FINAL    8u

typedef struct _KTEST {
    const char *suite, *name;
    void (*fn)(void);
    const char *file;
    uint32_t line, flags;
    uint32_t bugcheck_code, points;   /* points: a lab's grade for passing (KTEST_POINTS) */
    uint64_t bugcheck_params[4];
} KTEST;

#define KTEST_DEFINE_(sec, suite, name, flags, code, p1, p2, p3, p4) \
    KTEST_DEFINE_P_(sec, suite, name, flags, 0, code, p1, p2, p3, p4)
#define KTEST_DEFINE_P_(sec, suite, name, flags, pts, code, p1, p2, p3, p4)                   \
    static void ktest_##suite##_##name(void);                                                  \
    static const KTEST ktest_desc_##suite##_##name                                             \
        __attribute__((used, section(sec), aligned(8))) = {                                    \
            #suite, #name, ktest_##suite##_##name, __FILE__, __LINE__, (flags), (code), (pts), \
            { (p1), (p2), (p3), (p4) } };                                                      \
    static void ktest_##suite##_##name(void)

#define KTEST(suite, name) KTEST_DEFINE_(".ktests", suite, name, 0, 0, 0, 0, 0, 0)
/* A graded test: POINTS is its weight in `make grade` (scripts/grade.py reads
 * the number from this line in the source, so it must be a literal). */
#define KTEST_POINTS(suite, name, points) KTEST_DEFINE_P_(".ktests", suite, name, 0, points, 0, 0, 0, 0, 0)
#define KTEST_BUGCHECK_POINTS(suite, name, points, code, p1, p2, p3, p4) \
    KTEST_DEFINE_P_(".ktests", suite, name, KTEST_F_BUGCHECK, points, code, p1, p2, p3, p4)
#define KTEST_MANUAL(suite, name) KTEST_DEFINE_(".ktests", suite, name, KTEST_F_MANUAL, 0, 0, 0, 0, 0)
#define KTEST_BUGCHECK(suite, name, code, p1, p2, p3, p4) \
    KTEST_DEFINE_(".ktests", suite, name, KTEST_F_BUGCHECK, code, p1, p2, p3, p4)
#define KBENCH(suite, name) KTEST_DEFINE_(".ktests", suite, name, KTEST_F_BENCH, 0, 0, 0, 0, 0)
/* Runs after every other test of the run (whole-system checks). */
#define KTEST_FINAL(suite, name) KTEST_DEFINE_(".ktests", suite, name, KTEST_F_FINAL, 0, 0, 0, 0, 0)

/* ---- assertions: on failure print file:line and both values, end the test ---- */
__attribute__((noreturn, format(printf, 3, 4))) void KtFail(const char *file, int line, const char *fmt, ...);

#define KT_ASSERT(cond) \
    do { if (!(cond)) KtFail(__FILE__, __LINE__, "KT_ASSERT(%s)", #cond); } while (0)

#define KT_CMP_(a, op, b)                                                                          \
    do {                                                                                           \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                           \
        if (!(a_ op b_))                                                                           \
            KtFail(__FILE__, __LINE__, "%s %s %s: 0x%llx (%lld) vs 0x%llx (%lld)", #a, #op, #b,   \
                   (unsigned long long)a_, (long long)a_, (unsigned long long)b_, (long long)b_); \
    } while (0)
#define KT_EQ(a, b) KT_CMP_(a, ==, b)
#define KT_NE(a, b) KT_CMP_(a, !=, b)
#define KT_LT(a, b) KT_CMP_(a, <, b)   /* unsigned comparisons */
#define KT_LE(a, b) KT_CMP_(a, <=, b)
#define KT_GT(a, b) KT_CMP_(a, >, b)
#define KT_GE(a, b) KT_CMP_(a, >=, b)

#define KT_STREQ(a, b)                                                                    \
    do {                                                                                  \
        const char *a_ = (a), *b_ = (b);                                                  \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                            \
            KtFail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                   b_ ? b_ : "(null)");                                                   \
    } while (0)

#define KT_MEMEQ(a, b, n)                                                                 \
    do {                                                                                  \
        size_t n_ = (n), at_ = RtlCompareMemory((a), (b), n_);                          \
        if (at_ != n_)                                                                    \
            KtFail(__FILE__, __LINE__, "%s and %s differ at byte %zu of %zu", #a, #b, at_, n_); \
    } while (0)

/* The .ktests section, every KTEST descriptor (linker.ld). */
extern const KTEST __ktests_start[], __ktests_end[];

/* Set bugcheck parameter N (1-4) of the running KTEST_BUGCHECK test. */
void KtExpectParam(int n, uint64_t value);
/* Print one benchmark figure: "bench: suite.name.what VALUE UNIT". */
void KtBenchReport(const char *what, uint64_t value, const char *unit);
/* The test being run, NULL outside tests. */
const KTEST *KtCurrentTest(void);

/* Leak checks around every test: a subsystem registers a function that
 * reports counters (frames in use, pool blocks, system PTEs, IRQL...) that a
 * test must leave as it found them. */
typedef struct { const char *name; uint64_t value; } KT_COUNTER;
typedef int (*KT_COUNTER_FN)(KT_COUNTER *out, int max);
void KtRegisterCounters(KT_COUNTER_FN fn);
/* Every registered counter now, at most MAX (a test that must show
 * something given back mid-test: drivers/virtio's unload test). */
int KtSnapshotCounters(KT_COUNTER *out, int max);

/* Test drivers' window on the PFN database (kernel/ktest/ktpfn.c): frame
 * PFN's reference count (one per mapping or I/O, plus one per MDL lock),
 * 0xFFFFFFFF for a frame that is not RAM. A snapshot, read unlocked. */
ULONG KtPfnReferenceCount(ULONG64 Pfn);

/* ---- the course-staff test API (kernel/ktest/ktapi.c, docs/testing.md) ----
 * What a hidden test needs without a component's internals. */
typedef struct _KT_FRAME {
    ULONG ReferenceCount;   /* 1 while mapped or on I/O, +1 per MDL lock */
    ULONG ShareCount;       /* valid PTEs mapping it (a page table: entries in use) */
    ULONG List;             /* the page list (MMLISTS): 0 Zeroed 1 Free 2 Standby 3 Modified ... 6 Active */
    ULONG Usage;            /* what it holds (MI_PFN_USAGE; `pfn` in GDB prints the name) */
    BOOLEAN Modified, PrototypePte;
} KT_FRAME;
/* Frame PFN's PFN entry, a consistent snapshot; FALSE if PFN is not RAM. */
BOOLEAN KtFrameInfo(ULONG64 Pfn, KT_FRAME *Out);
ULONG KtPfnShareCount(ULONG64 Pfn);              /* 0xFFFFFFFF: not RAM */
const char *KtFrameListName(ULONG List);         /* "Zeroed", "Free", ..., "Active" */
ULONG KtSystemPtesInUse(void);                   /* system PTEs allocated now */
ULONG64 KtLockedPages(void);                     /* frame references held by MDL locks */
ULONG64 KtKernelPteOf(const void *Va);           /* a kernel VA's PTE (0: no page table) */

/* A process to run code in the context of: an address space with IMAGE (a
 * user program's module name: "hello") mapped and its stack region
 * reserved, but no thread, so nothing touches its memory unless the test
 * does. KtDeleteProcess gives everything back (the leak check holds). */
typedef struct _KT_PROCESS {
    struct _EPROCESS *Process;
    ULONG64 Cr3, Entry, StackTop;
    BOOLEAN Attached;
} KT_PROCESS;
NTSTATUS KtCreateProcess(const char *Image, KT_PROCESS *Out);
void KtDeleteProcess(KT_PROCESS *P);
/* Run in P's address space (KeStackAttachProcess) until KtDetach: the
 * self-map then shows P's page tables and user addresses are P's. */
void KtAttach(KT_PROCESS *P);
void KtDetach(KT_PROCESS *P);
/* Reserve and commit BYTES of P's user memory with PAGE_* PROTECT (as
 * NtAllocateVirtualMemory from ring 3 would); free it again. */
NTSTATUS KtAllocateUser(KT_PROCESS *P, SIZE_T Bytes, ULONG Protect, ULONG64 *Va);
NTSTATUS KtFreeUser(KT_PROCESS *P, ULONG64 Va);
/* Copy from or to P's user memory (a first touch faults the page in);
 * a bad address is a status, never a bugcheck. */
NTSTATUS KtReadUser(KT_PROCESS *P, ULONG64 Va, void *Buf, SIZE_T Bytes);
NTSTATUS KtWriteUser(KT_PROCESS *P, ULONG64 Va, const void *Buf, SIZE_T Bytes);
/* P's PTE for VA (0 when no page table covers it): the hardware bits when
 * valid (MI_PTE_* in mm/mi.h: bit 0 valid, 1 write, 2 user, 63 NX, the
 * frame in bits 12-51), NT's software format otherwise. */
ULONG64 KtPteOf(KT_PROCESS *P, ULONG64 Va);

/* Called after every ordinary test, passed or failed (the test API gives
 * back what a failed test still held: kernel/ktest/ktapi.c). */
typedef void (*KT_TEST_END_FN)(void);
void KtRegisterTestEndHook(KT_TEST_END_FN fn);

/* A lab's stub (docs/labs/): end the running test as failed with
 * "LAB: not implemented yet: WHAT". The student replaces the call with the
 * solution. Outside a test it is a bugcheck: the kernel itself never runs
 * a lab's student code. */
__attribute__((noreturn)) void KtLabNotImplemented(const char *lab, const char *what);
/* Run a lab's FN(CONTEXT) where ending the test at once would be wrong: a
 * hook in a kernel path that holds a lock its caller releases (the fault
 * lab's, under the address-space lock). A KtLabNotImplemented inside FN
 * returns here with STATUS_NOT_IMPLEMENTED instead of ending the test; the
 * test then fails with that message at its next failed check, or at its
 * end if nothing failed. */
NTSTATUS KtLabCallGuarded(NTSTATUS (*Fn)(void *Context), void *Context);

/* Run the tests (or benchmarks) the command line asks for and leave QEMU;
 * with `ktest.then_init`, KtRunTests returns the number that failed instead. */
int KtRunTests(const char *pattern);
void KtRunBenchmarks(const char *pattern);
/* Called by the bugcheck report: names the test and judges expectations. */
void KtOnBugCheck(ULONG code, const ULONG_PTR p[4]);

/* ---- the course-staff test API, the PFN lab's part (kernel/ktest/ktapi.c,
 * docs/testing.md, docs/labs/pfn.md) ---- */
/* COUNT frames the test owns outright (usage "test": ActiveAndValid, one
 * reference, on no list), at most 64 at a time; their PFN entries may be
 * put in any state. STATUS_INSUFFICIENT_RESOURCES when they cannot all be
 * had (those taken are still given back). */
NTSTATUS KtTakeFrames(ULONG Count, ULONG64 *Pfns);
/* Every frame KtTakeFrames gave: its entry reset, whatever it holds, and
 * the frame freed. Also done at the end of every test. */
void KtReturnFrames(void);
/* Frame PFN's Flink and Blink (MI_PFN_LIST_END, all ones, ends a list);
 * FALSE if PFN is not RAM. */
BOOLEAN KtFrameLinks(ULONG64 Pfn, ULONG64 *Flink, ULONG64 *Blink);
/* Bytes of frame PFN's contents at OFFSET (through hyperspace). Writing is
 * allowed only to a frame from KtTakeFrames (STATUS_ACCESS_DENIED). */
NTSTATUS KtReadFrame(ULONG64 Pfn, ULONG Offset, void *Buf, ULONG Bytes);
NTSTATUS KtWriteFrame(ULONG64 Pfn, ULONG Offset, const void *Buf, ULONG Bytes);
/* ---- the course-staff test API: the fault lab's additions (docs/labs/fault.md) ---- */
/* ON: P's demand-zero and copy-on-write faults go to the fault lab's
 * resolvers (mm/lab/fault.c: MiLabResolveDemandZeroFault, MiLabCopyOnWrite);
 * OFF (as every process starts): the kernel's. Only for a KtCreateProcess
 * process, which nothing but the test touches. */
void KtRouteFaultsToLab(KT_PROCESS *P, BOOLEAN On);
/* P's fault counters (each resolved fault counts once, by kind), working
 * set and private pages, as NtQueryInformationProcess(ProcessFaultCounters)
 * reports them: a snapshot. */
typedef struct _KT_FAULTS {
    ULONG64 DemandZero, Soft, CopyOnWrite, Image, Hard;
    ULONG64 WorkingSetSize;   /* pages in P's working set */
    ULONG64 PrivatePages;     /* committed private pages (an image page's private copy included) */
} KT_FAULTS;
void KtFaultCounters(KT_PROCESS *P, KT_FAULTS *Out);
/* Pages of commit charged to P now (EPROCESS.CommitCharge, mm/commit.c). */
ULONG64 KtCommitCharge(KT_PROCESS *P);
/* Is the page holding VA in P's working set. */
BOOLEAN KtInWorkingSet(KT_PROCESS *P, ULONG64 Va);
/* The first page of P's image's first write-copy segment (its .data: shared
 * until written), 0 if the image has none. */
ULONG64 KtImageWritablePage(KT_PROCESS *P);
/* Run the user program IMAGE (its command line: its name) in a process of
 * its own, its faults routed to the fault lab's resolvers when LABFAULTS
 * (from its creation: its thread's very first fault), wait for it to end
 * (30 s at most, then it is terminated: STATUS_TIMEOUT), and report its
 * exit status and its fault counters as they were at its end (its working
 * set is empty by then: WorkingSetSize is its peak). */
NTSTATUS KtRunProgram(const char *Image, BOOLEAN LabFaults, NTSTATUS *ExitStatus, KT_FAULTS *Counters);
/* ---- the mpw lab's part of the course-staff API (kernel/ktest/ktapi.c,
 * docs/testing.md): a paging file for a test, the kernel's modified page
 * writer paused, and the paging facts of frames and slots. ---- */
/* A paging file (the boot's, or one made now on \Device\Harddisk1\DR0),
 * everything modified so far written by the kernel's writer, and that
 * writer paused until KtEndPaging: the modified list then holds only the
 * pages the test trims. */
NTSTATUS KtBeginPaging(void);
/* Resume the writer, take a file KtBeginPaging made away again (what is
 * out in it must be gone: delete the test's processes first); TRUE when
 * the PFN database checks out. A test that fails half way is cleaned up
 * after it (its processes first). */
BOOLEAN KtEndPaging(void);
ULONG64 KtPageFileSlotsInUse(void);
BOOLEAN KtPageFileSlotInUse(ULONG File, ULONG64 Slot);
/* The 4096 bytes of slot SLOT of paging file FILE, read from its disk. */
NTSTATUS KtReadPageFile(ULONG File, ULONG64 Slot, void *Page);
/* Every request for paging file 0 fails from now on (the disk refuses
 * it: the file is moved past the disk's end), until called with FALSE. */
void KtBreakPagingFile(BOOLEAN Broken);
/* Trim all of P's working set: its dirty pages go to the modified list
 * (the most recently added entry first). */
ULONG KtTrimProcess(KT_PROCESS *P);
/* Repurpose every standby frame: their PTEs become pagefile PTEs. */
ULONG64 KtPurgeStandbyList(void);
/* The modified list from its head (the oldest page first): up to MAX
 * frames in PFNS; returns how many are on it. */
ULONG KtModifiedPages(ULONG64 *Pfns, ULONG Max);
typedef struct _KT_FRAME_PAGING {
    BOOLEAN WriteInProgress, ReadInProgress, PteDeleted;
    BOOLEAN InPageFile;      /* OriginalPte names a pagefile slot: */
    ULONG File;              /*   PageFileLow */
    ULONG64 Slot;            /*   PageFileHigh */
} KT_FRAME_PAGING;
BOOLEAN KtFramePaging(ULONG64 Pfn, KT_FRAME_PAGING *Out);
