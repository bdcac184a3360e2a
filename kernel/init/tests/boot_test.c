/* What the boot path set up: memory map, CPU modes, guard pages, cookie. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"


static uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg | 0x80); /* bit 7 keeps NMIs masked while we poke CMOS */
    return inb(0x71);
}

/* QEMU's firmware interface stores the RAM size in CMOS like a PC BIOS:
 * registers 0x34/0x35 count 64 KiB blocks above 16 MiB. */
static uint64_t cmos_ram_bytes(void)
{
    uint64_t blocks = cmos_read(0x34) | ((uint64_t)cmos_read(0x35) << 8);
    return (16ULL << 20) + (blocks << 16);
}

KTEST(boot, memory_map_matches_qemu_ram)
{
    uint64_t ram = cmos_ram_bytes();
    const char *mib = KeGetOption("test.mem_mib");
    if (mib) {  /* the runner tells us QEMU's -m; CMOS must agree */
        ULONG64 m;
        KT_ASSERT(RtlParseUlong64(mib, &m));
        KT_EQ(ram, m << 20);
    }
    uint64_t avail = KiTotalAvailableMemory();
    /* Everything available is RAM; the firmware keeps under 2 MiB of it
     * (the legacy hole 640K-1M, ACPI tables at the top). */
    KT_LE(avail, ram);
    KT_GE(avail, ram - (2ULL << 20));
    KT_GE(KiBootInfo.range_count, 2);
}

KTEST(boot, memory_map_is_sane)
{
    bool kernel_inside = false;
    uint64_t kstart = (uint64_t)__kernel_start - KERNEL_VIRT_OFFSET;
    uint64_t kend = (uint64_t)__kernel_end - KERNEL_VIRT_OFFSET;
    for (uint32_t i = 0; i < KiBootInfo.range_count; i++) {
        const KI_MEMORY_RANGE *a = &KiBootInfo.ranges[i];
        KT_NE(a->length, 0);
        if (a->type != KI_MEMORY_AVAILABLE)
            continue;
        if (a->base <= kstart && kend <= a->base + a->length)
            kernel_inside = true;
        for (uint32_t j = i + 1; j < KiBootInfo.range_count; j++) {
            const KI_MEMORY_RANGE *b = &KiBootInfo.ranges[j];
            if (b->type == KI_MEMORY_AVAILABLE) /* available ranges never overlap */
                KT_ASSERT(a->base + a->length <= b->base || b->base + b->length <= a->base);
        }
    }
    KT_ASSERT(kernel_inside);  /* the loader put us at 1 MiB, in RAM */
    KT_EQ(kstart, 0x100000);
    /* GRUB from the ISO (multiboot2), or QEMU's own -kernel loader
     * (multiboot1, the test runner's direct boot): each names itself. */
    if (KiBootInfo.magic == 0x36D76289)
        KT_ASSERT(strncmp(KiBootInfo.loader, "GRUB", 4) == 0);
    else
        KT_EQ(strcmp(KiBootInfo.loader, "qemu"), 0);
}

KTEST(boot, cpu_is_in_long_mode_with_protections)
{
    uint64_t efer = rdmsr(MSR_EFER);
    KT_ASSERT(efer & (1ULL << 10));          /* LMA: long mode active */
    KT_ASSERT(efer & EFER_NXE);              /* PTE bit 63 = no-execute */
    KT_ASSERT(read_cr0() & CR0_WP);          /* ring 0 honours read-only pages */
    KT_ASSERT(read_cr0() & (1ULL << 31));    /* paging */
    KT_ASSERT(read_cr4() & (1ULL << 5));     /* PAE */
    uint16_t tr;
    __asm__ volatile("str %0" : "=r"(tr));
    KT_EQ(tr, KGDT64_SYS_TSS);
    uint16_t cs;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    KT_EQ(cs, KGDT64_R0_CODE);
}

static uint64_t boot_pte(const void *va)
{
    return boot_pt_high[((uint64_t)va - KERNEL_VIRT_OFFSET) >> PAGE_SHIFT];
}

KTEST(boot, higher_half_and_guard_pages)
{
    uint64_t rsp;
    __asm__ volatile("mov %%rsp, %0" : "=r"(rsp));
    KT_GE((uint64_t)__text_start, KERNEL_VIRT_OFFSET);
    KT_GE(rsp, (uint64_t)boot_stack);        /* on the boot stack, in the image */
    KT_LT(rsp, (uint64_t)boot_stack_top);
    KT_EQ(boot_pte(boot_stack_guard), 0);    /* the guard page is not present */
    KT_EQ(boot_pte(boot_stack) & 1, 1);      /* the stack above it is */
    KT_EQ(boot_pte((const void *)((uintptr_t)boot_stack_guard - PAGE_SIZE)) & 1, 1);
    KT_EQ(boot_pml4[0], 0);                  /* the boot identity map is gone */
    KT_NE(boot_pml4[511], 0);
}

KTEST(boot, stack_cookie_is_per_boot)
{
    /* boot.asm replaced the link-time value from the TSC before any C ran. */
    KT_NE(__stack_chk_guard, 0x2B992DDFA23249D6ULL);
    KT_NE(__stack_chk_guard, 0);
}
