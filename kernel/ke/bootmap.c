/*
 * Edits to the boot page tables (boot/boot.asm) until the memory manager
 * builds its own (issue 3). The boot tables map the first 8 MiB of physical
 * memory at KERNEL_VIRT_OFFSET in 4 KiB pages, so any single page of the
 * kernel image can be made not present.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"

void KiBootUnmapPage(void *va)
{
    uint64_t index = ((uint64_t)va - KERNEL_VIRT_OFFSET) >> PAGE_SHIFT;
    ASSERT(((uint64_t)va & (PAGE_SIZE - 1)) == 0);
    ASSERT(index < ARRAYSIZE(boot_pt_high));
    boot_pt_high[index] = 0;
    invlpg(va); /* the TLB may still hold the old translation */
}

void KiDropIdentityMap(void)
{
    /* PML4 slot 0 identity-mapped the first 1 GiB for the instant paging
     * was switched on. Removing it makes every low address, NULL
     * included, fault. Reloading CR3 flushes the non-global TLB entries. */
    boot_pml4[0] = 0;
    write_cr3(read_cr3());
}
