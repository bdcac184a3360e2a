/*
 * faultlab: ring-3 faults for the demand-paging lab (docs/labs/fault.md,
 * the faultlab.ring3.* test in mm/lab/tests/fault_test.c). The test starts
 * it with its faults routed to the student's resolvers (KtRunProgram), so
 * every demand-zero and copy-on-write fault below - taken in ring 3, with
 * the U/S bit set in the #PF error code - and its own stack's, runs the
 * student's code.
 *
 * It checks what it sees and exits with 0 when all of it holds, or with
 * 0x100 + the number of the first check that failed:
 *   1-3  8 committed pages: each reads zero, keeps what is written;
 *   4-5  a page of its image's .data, read (shared with the image), then
 *        written (a private copy): the image's value, then its own;
 *   6-8  a PAGE_WRITECOPY page: reads zero, written (copied), read back;
 *   9    its own counters agree: at least 9 demand-zero, 2 copy-on-write.
 */
#include <nt.h>

#define PAGES 8
#define WORD(i) (0xFA017AB000000000ULL | (uint64_t)(i))
#define IMAGE_WORD 0x1A6E0DA7A0000001ULL

/* Initialized, so in the image's .data; alone on its page, so nothing
 * before main (the C library's start-up) touches that page. */
static volatile uint64_t image_page[PAGE_SIZE / 8] __attribute__((aligned(PAGE_SIZE))) = { IMAGE_WORD };

static void *allocate(size_t bytes, uint32_t protect)
{
    void *base = 0;
    size_t size = bytes;
    if (!NT_SUCCESS(NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_RESERVE | MEM_COMMIT, protect)))
        return 0;
    return base;
}

int main(void)
{
    volatile uint64_t *q = allocate(PAGES * PAGE_SIZE, PAGE_READWRITE);
    if (!q)
        return 0x101;
    for (uint64_t i = 0; i < PAGES; i++) {
        volatile uint64_t *w = q + i * (PAGE_SIZE / 8) + i;   /* a different word of each page */
        if (*w != 0)
            return 0x102;
        *w = WORD(i);
    }
    for (uint64_t i = 0; i < PAGES; i++)
        if (q[i * (PAGE_SIZE / 8) + i] != WORD(i))
            return 0x103;

    if (image_page[0] != IMAGE_WORD)    /* an image fault: the shared frame */
        return 0x104;
    image_page[0] = IMAGE_WORD + 1;      /* copy-on-write */
    if (image_page[0] != IMAGE_WORD + 1 || image_page[1] != 0)
        return 0x105;

    volatile uint64_t *c = allocate(PAGE_SIZE, PAGE_WRITECOPY);
    if (!c || c[7] != 0)                 /* demand zero, mapped copy-on-write */
        return 0x106;
    c[7] = WORD(7);                      /* copy-on-write of a private frame */
    if (c[7] != WORD(7))
        return 0x107;
    if (c[0] != 0)
        return 0x108;

    PROCESS_FAULT_COUNTERS_T f;
    if (!NT_SUCCESS(NtQueryInformationProcess(NtCurrentProcess(), ProcessFaultCounters, &f, sizeof(f), 0)) ||
        f.DemandZeroFaults < PAGES + 1 || f.CopyOnWriteFaults < 2)
        return 0x109;
    return 0;
}
