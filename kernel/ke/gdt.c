/*
 * The GDT and the TSS. In long mode segmentation is mostly off, but the
 * CPU still needs: code/data descriptors whose DPL says kernel or user, a
 * layout that SYSCALL/SYSRET expect (user data right after a 32-bit user
 * code slot, then 64-bit user code), and a TSS whose IST entries give
 * double faults, NMIs and machine checks a known-good stack of their own.
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"

struct tss {
    uint32_t reserved0;
    uint64_t rsp[3];      /* stack loaded on a ring 3 -> ring 0 transition */
    uint64_t reserved1;
    uint64_t ist[7];      /* Interrupt Stack Table: IDT gates pick one */
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
} __attribute__((packed));

#define IST_STACK_SIZE 8192
/* Each IST stack sits above a guard page that is unmapped at boot, so an
 * overflow faults instead of silently corrupting its neighbour. */
static uint8_t ist_area[3][PAGE_SIZE + IST_STACK_SIZE] __attribute__((aligned(PAGE_SIZE)));

static struct tss tss;
static uint64_t gdt[8];

static uint64_t tss_low(uint64_t base, uint32_t limit)
{
    return (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) /* present, 64-bit TSS */
           | ((uint64_t)((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
}

void KiInitGdt(void)
{
    gdt[0] = 0;
    gdt[KGDT64_R0_CODE / 8] = 0x00AF9B000000FFFFULL;   /* L=1, DPL 0, code */
    gdt[KGDT64_R0_DATA / 8] = 0x00CF93000000FFFFULL;   /* DPL 0, data */
    gdt[KGDT64_R3_CMCODE / 8] = 0x00CFFB000000FFFFULL; /* DPL 3, 32-bit code */
    gdt[KGDT64_R3_DATA / 8] = 0x00CFF3000000FFFFULL;   /* DPL 3, data */
    gdt[KGDT64_R3_CODE / 8] = 0x00AFFB000000FFFFULL;   /* L=1, DPL 3, code */
    uint64_t base = (uint64_t)&tss;
    gdt[KGDT64_SYS_TSS / 8] = tss_low(base, sizeof(tss) - 1);
    gdt[KGDT64_SYS_TSS / 8 + 1] = base >> 32;

    for (int i = 0; i < 3; i++) {
        KiBootUnmapPage(ist_area[i]);
        uint64_t low = (uint64_t)ist_area[i] + PAGE_SIZE, high = low + IST_STACK_SIZE;
        tss.ist[i] = high;   /* IST1 #DF, IST2 NMI, IST3 #MC */
        KdRegisterStack(low, high);
    }
    tss.iomap_base = sizeof(tss); /* no I/O permission bitmap */

    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr = { sizeof(gdt) - 1, (uint64_t)gdt };
    __asm__ volatile(
        "lgdt %0\n\t"
        "pushq %1\n\t"              /* reload CS with a far return */
        "leaq 1f(%%rip), %%rax\n\t"
        "pushq %%rax\n\t"
        "lretq\n"
        "1:\n\t"
        "movw %w2, %%ax\n\t"
        "movw %%ax, %%ds\n\t"
        "movw %%ax, %%es\n\t"
        "movw %%ax, %%ss\n\t"
        "ltr %w3\n\t"
        : : "m"(gdtr), "i"(KGDT64_R0_CODE), "r"(KGDT64_R0_DATA), "r"(KGDT64_SYS_TSS) : "rax", "memory");
}

/* Ring 3 -> ring 0 transitions by interrupt or exception load RSP from
 * here: the top of the running thread's kernel stack. */
void KiSetTssRsp0(ULONG64 rsp0)
{
    tss.rsp[0] = rsp0;
}
