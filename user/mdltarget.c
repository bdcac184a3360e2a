/*
 * mdltarget: a process for the kernel's MDL tests to attach to and lock
 * (mm/tests/mdl_lock_test.c, mdl_seeds_test.c, mdl_verifier_test.c; the
 * kernel side of this layout is io/tests/mdl_test_util.h, which must agree).
 *
 * It lays out its address space at fixed addresses with the ordinary
 * system calls, writes a control block last, and then sleeps until the
 * kernel test terminates it:
 *
 *   0x20000000  16 pages committed PAGE_READWRITE, every qword written:
 *               qword at byte offset OFF = MT_RW_WORD(OFF)
 *   0x20100000   2 pages written (MT_RO_WORD), then made PAGE_READONLY
 *   0x20200000   4 pages reserved, never committed
 *   0x20300000   4 pages committed, never touched (demand zero)
 *   0x20400000   1 page: the control block (MT_CONTROL), magic written last
 *
 * and two page-aligned pages of initialized .data that it only READS, so
 * that they stay mapped to the image's shared prototype frames, read-only
 * with the copy-on-write bit: cow_page (the kernel probes it for write and
 * must get a private copy) and image_page (probed for read: the prototype
 * itself is locked). Their addresses go into the control block.
 *
 * Exit statuses: it never exits by itself once ready (the test ends it);
 * a failed set-up step exits with 0x100 + the step.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MT_RW_BASE   0x20000000ULL
#define MT_RW_PAGES  16
#define MT_RO_BASE   0x20100000ULL
#define MT_RO_PAGES  2
#define MT_RES_BASE  0x20200000ULL
#define MT_RES_PAGES 4
#define MT_DZ_BASE   0x20300000ULL
#define MT_DZ_PAGES  4
#define MT_CTL_BASE  0x20400000ULL
#define MT_READY_MAGIC 0x594441455254444DULL   /* "MDTREADY" */
#define MT_RW_WORD(off) (0x4D444C5257000000ULL | (uint64_t)(off))   /* "MDLRW" | offset */
#define MT_RO_WORD(off) (0x4D444C524F000000ULL | (uint64_t)(off))   /* "MDLRO" | offset */
#define MT_COW_WORD   0xC0C0C0C0C0C0C0C0ULL
#define MT_IMAGE_WORD 0x1313131313131313ULL

typedef struct {
    uint64_t Magic;
    uint64_t CowPage;     /* address of cow_page */
    uint64_t ImagePage;   /* address of image_page */
    uint64_t Pid;
} MT_CONTROL;

/* Whole pages of initialized data: each in a page of its own, never written. */
__attribute__((aligned(4096))) volatile uint64_t cow_page[512] = { [0 ... 511] = MT_COW_WORD };
__attribute__((aligned(4096))) volatile uint64_t image_page[512] = { [0 ... 511] = MT_IMAGE_WORD };

static void *alloc_at(uint64_t base, size_t size, uint32_t type, uint32_t protect, int step)
{
    void *b = (void *)base;
    NTSTATUS st = NtAllocateVirtualMemory(NtCurrentProcess(), &b, 0, &size, type, protect);
    if (!NT_SUCCESS(st) || (uint64_t)b != base) {
        printf("mdltarget: step %d: NtAllocateVirtualMemory(%#llx) failed: 0x%08x\n", step,
               (unsigned long long)base, (uint32_t)st);
        exit(0x100 + step);
    }
    return b;
}

int main(int argc, char **argv)
{
    (void)argc, (void)argv;
    volatile uint64_t *rw = alloc_at(MT_RW_BASE, MT_RW_PAGES * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, 1);
    for (uint64_t off = 0; off < MT_RW_PAGES * PAGE_SIZE; off += 8)
        rw[off / 8] = MT_RW_WORD(off);

    volatile uint64_t *ro = alloc_at(MT_RO_BASE, MT_RO_PAGES * PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, 2);
    for (uint64_t off = 0; off < MT_RO_PAGES * PAGE_SIZE; off += 8)
        ro[off / 8] = MT_RO_WORD(off);
    void *b = (void *)MT_RO_BASE;
    size_t size = MT_RO_PAGES * PAGE_SIZE;
    uint32_t old = 0;
    if (!NT_SUCCESS(NtProtectVirtualMemory(NtCurrentProcess(), &b, &size, PAGE_READONLY, &old)))
        exit(0x100 + 3);

    alloc_at(MT_RES_BASE, MT_RES_PAGES * PAGE_SIZE, MEM_RESERVE, PAGE_READWRITE, 4);
    /* Reserved, then committed: each page gets a demand-zero PTE (a region
     * reserved and committed in one call has none until touched). */
    alloc_at(MT_DZ_BASE, MT_DZ_PAGES * PAGE_SIZE, MEM_RESERVE, PAGE_READWRITE, 5);
    alloc_at(MT_DZ_BASE, MT_DZ_PAGES * PAGE_SIZE, MEM_COMMIT, PAGE_READWRITE, 5);

    /* Read the image pages: mapped shared, copy-on-write, not copied. */
    if (cow_page[0] != MT_COW_WORD || image_page[7] != MT_IMAGE_WORD)
        exit(0x100 + 6);

    volatile MT_CONTROL *ctl = alloc_at(MT_CTL_BASE, PAGE_SIZE, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE, 7);
    ctl->CowPage = (uint64_t)cow_page;
    ctl->ImagePage = (uint64_t)image_page;
    ctl->Pid = CurrentProcessId();
    __asm__ volatile("" ::: "memory");
    ctl->Magic = MT_READY_MAGIC;

    for (;;)
        SleepMs(1000);   /* until the kernel test terminates us */
}
