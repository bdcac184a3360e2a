/*
 * The VGA console scrolls by moving the CRT controller's start address
 * through the 32 KiB text window (kernel/hal/vga.c). What that risks: the
 * screen the CRTC shows must still be the last 25 lines written, in order,
 * across the copy back to the top of the window.
 */
#include "kernel/mdlos.h"
#include "kernel/hal/halp.h"
#include "kernel/hal/x86.h"

static uint16_t crtc(uint8_t index)
{
    outb(0x3D4, index);
    return inb(0x3D5);
}

KTEST(vga, scrolling_keeps_the_last_lines_on_screen)
{
    PHYSICAL_ADDRESS pa = { 0xB8000 };
    volatile uint16_t *w = MmMapIoSpace(pa, HAL_VGA_WINDOW_BYTES, MmNonCached);
    KT_ASSERT(w != NULL);
    /* 300 lines: more than the window holds, so the copy back happens. */
    HalConsoleLock();
    for (int n = 0; n < 300; n++) {
        char line[16];
        int len = ksnprintf(line, sizeof(line), "vga %03d", n);
        for (int i = 0; i < len; i++)
            HalVgaPutChar(line[i]);
        HalVgaPutChar('\n');
    }
    uint32_t start = (crtc(0x0C) << 8) | crtc(0x0D);
    uint32_t cursor = (crtc(0x0E) << 8) | crtc(0x0F);
    /* Read under the lock: a kprintf from another thread would move it. */
    char got[24][8];
    for (int r = 0; r < 24; r++)
        for (int c = 0; c < 7; c++)
            got[r][c] = (char)(w[start + r * 80 + c] & 0xFF);
    uint16_t blank = w[start + 24 * 80];
    HalConsoleUnlock();
    MmUnmapIoSpace((PVOID)w, HAL_VGA_WINDOW_BYTES);
    KT_EQ(start % 80, 0);
    KT_LE(start + 25 * 80, HAL_VGA_WINDOW_BYTES / 2);
    KT_EQ(cursor, start + 24 * 80);          /* the start of the bottom row */
    KT_EQ(blank, 0x0720);                    /* a cleared cell: grey on black space */
    for (int r = 0; r < 24; r++) {
        char want[8];
        ksnprintf(want, sizeof(want), "vga %03d", 276 + r);
        if (memcmp(got[r], want, 7) != 0)
            KtFail(__FILE__, __LINE__, "screen row %d shows '%.7s', not '%s'", r, got[r], want);
    }
}
