/*
 * mdlshare ADDRESS PAGES: the user side of seed 004 (mm/tests/mdl_seeds_test.c):
 * a nonpaged kernel buffer shared into this process with
 * MmMapLockedPagesSpecifyCache(UserMode) at ADDRESS (PAGES pages).
 *
 *  1. wait (up to 10 s) until ADDRESS is committed: the kernel maps it
 *     while attached, usually before we even run;
 *  2. NtQueryVirtualMemory: a MEM_MAPPED region of PAGES pages, not executable;
 *  3. each page holds the kernel's pattern: qword OFF/8 = MS_KERNEL_WORD(page, OFF);
 *  4. NtFreeVirtualMemory (release and decommit) and NtProtectVirtualMemory
 *     (to PAGE_EXECUTE_READWRITE) must all fail, and change nothing;
 *  5. write our own pattern at offset 0x800 of each page (MS_USER_WORD),
 *     then the verdict at page 0 offset 0xF08 and MS_DONE_MAGIC at 0xF00,
 *     which the kernel polls from its side of the buffer;
 *  6. wait (up to 10 s) until the kernel has unmapped the view (MEM_FREE),
 *     and exit with the verdict: 0 = everything held, else MS_E_* bits.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_KERNEL_WORD(page, off) (0x4B45524E00000000ULL | ((uint64_t)(page) << 16) | (uint64_t)(off))   /* "KERN" */
#define MS_USER_WORD(page)        (0x5553455200000000ULL | (uint64_t)(page))                              /* "USER" */
#define MS_USER_OFFSET  0x800
#define MS_DONE_OFFSET  0xF00
#define MS_VERDICT_OFFSET 0xF08
#define MS_DONE_MAGIC   0x454E4F4445524853ULL   /* "SHREDONE" */

#define MS_E_ARGS          0x0001
#define MS_E_NEVER_MAPPED  0x0002
#define MS_E_NOT_MAPPED_TYPE 0x0004   /* not MEM_MAPPED, or the wrong size */
#define MS_E_EXECUTABLE    0x0008
#define MS_E_KERNEL_DATA   0x0010   /* the kernel's pattern was not there */
#define MS_E_FREE_WORKED   0x0020   /* NtFreeVirtualMemory(MEM_RELEASE) succeeded */
#define MS_E_DECOMMIT_WORKED 0x0040
#define MS_E_PROTECT_WORKED  0x0080
#define MS_E_GONE_AFTER_TRIES 0x0100 /* the view changed after the refused calls */
#define MS_E_NEVER_UNMAPPED  0x0200

static int query(uint64_t address, MEMORY_BASIC_INFORMATION_T *m)
{
    size_t len = 0;
    memset(m, 0, sizeof(*m));
    return NT_SUCCESS(NtQueryVirtualMemory(NtCurrentProcess(), (const void *)address, MemoryBasicInformation, m,
                                           sizeof(*m), &len));
}

static int wait_state(uint64_t address, uint32_t state)
{
    MEMORY_BASIC_INFORMATION_T m;
    for (int i = 0; i < 1000; i++) {
        if (query(address, &m) && m.State == state)
            return 1;
        SleepMs(10);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return MS_E_ARGS;
    uint64_t address = strtoull(argv[1], NULL, 0);
    uint64_t pages = strtoull(argv[2], NULL, 0);
    if (!address || !pages || (address & (PAGE_SIZE - 1)))
        return MS_E_ARGS;
    uint32_t verdict = 0;
    if (!wait_state(address, MEM_COMMIT))
        return MS_E_NEVER_MAPPED;

    MEMORY_BASIC_INFORMATION_T m;
    if (!query(address, &m) || m.Type != MEM_MAPPED || m.BaseAddress != address ||
        m.RegionSize != pages * PAGE_SIZE)
        verdict |= MS_E_NOT_MAPPED_TYPE;
    if (m.Protect & (PAGE_EXECUTE | PAGE_EXECUTE_READ | PAGE_EXECUTE_READWRITE | PAGE_EXECUTE_WRITECOPY))
        verdict |= MS_E_EXECUTABLE;

    volatile uint64_t *v = (volatile uint64_t *)address;
    for (uint64_t p = 0; p < pages; p++)
        for (uint64_t off = 0; off < PAGE_SIZE; off += 8)
            if (v[(p * PAGE_SIZE + off) / 8] != MS_KERNEL_WORD(p, off))
                verdict |= MS_E_KERNEL_DATA;

    /* A view of locked pages is not ours to free or to make executable. */
    void *b = (void *)address;
    size_t size = 0;
    if (NT_SUCCESS(NtFreeVirtualMemory(NtCurrentProcess(), &b, &size, MEM_RELEASE)))
        verdict |= MS_E_FREE_WORKED;
    b = (void *)address;
    size = PAGE_SIZE;
    if (NT_SUCCESS(NtFreeVirtualMemory(NtCurrentProcess(), &b, &size, MEM_DECOMMIT)))
        verdict |= MS_E_DECOMMIT_WORKED;
    b = (void *)address;
    size = PAGE_SIZE;
    uint32_t old = 0;
    if (NT_SUCCESS(NtProtectVirtualMemory(NtCurrentProcess(), &b, &size, PAGE_EXECUTE_READWRITE, &old)))
        verdict |= MS_E_PROTECT_WORKED;
    if (!query(address, &m) || m.State != MEM_COMMIT || m.Type != MEM_MAPPED || v[1] != MS_KERNEL_WORD(0, 8))
        verdict |= MS_E_GONE_AFTER_TRIES;

    /* Our side of the conversation, then the verdict, DONE last. */
    if (!(verdict & MS_E_GONE_AFTER_TRIES)) {
        for (uint64_t p = 0; p < pages; p++)
            v[(p * PAGE_SIZE + MS_USER_OFFSET) / 8] = MS_USER_WORD(p);
        v[MS_VERDICT_OFFSET / 8] = verdict;
        __asm__ volatile("" ::: "memory");
        v[MS_DONE_OFFSET / 8] = MS_DONE_MAGIC;
    }

    if (!wait_state(address, MEM_FREE))
        verdict |= MS_E_NEVER_UNMAPPED;
    if (verdict)
        printf("mdlshare: verdict %#x\n", verdict);
    return (int)verdict;
}
