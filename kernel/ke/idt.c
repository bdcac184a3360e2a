/*
 * The IDT: 256 interrupt gates, one assembly stub each (kernel/ke/trapentry.asm).
 * Interrupt gates (type 0xE) clear IF on entry, so a handler starts with
 * interrupts off. Double fault, NMI and machine check switch to their own
 * IST stacks: they can arrive when the current stack is the problem.
 */
#include "kernel/ke/ki.h"

struct gate {
    uint16_t offset_low, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_high, reserved;
} __attribute__((packed));

static struct gate idt[256] __attribute__((aligned(16)));

static void set_gate(int v, uint64_t handler, uint8_t ist, uint8_t dpl)
{
    idt[v] = (struct gate){
        .offset_low = handler & 0xFFFF,
        .selector = KGDT64_R0_CODE,
        .ist = ist,
        .type_attr = 0x80 | (dpl << 5) | 0xE, /* present, DPL, 64-bit interrupt gate */
        .offset_mid = (handler >> 16) & 0xFFFF,
        .offset_high = handler >> 32,
    };
}

void KiInitIdt(void)
{
    for (int v = 0; v < 256; v++)
        set_gate(v, KiTrapStubs[v], 0, 0);
    set_gate(8, KiTrapStubs[8], 1, 0);   /* #DF  -> IST1 */
    set_gate(2, KiTrapStubs[2], 2, 0);   /* NMI  -> IST2 */
    set_gate(18, KiTrapStubs[18], 3, 0); /* #MC  -> IST3 */
    /* INT3 and INTO may be executed by user code (DPL 3); from any other
     * vector a software INT n in ring 3 is a #GP, as it should be. */
    set_gate(3, KiTrapStubs[3], 0, 3);
    set_gate(4, KiTrapStubs[4], 0, 3);
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) idtr = { sizeof(idt) - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" : : "m"(idtr));
}
