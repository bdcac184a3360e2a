/*
 * The VGA text screen: 80x25 cells of (character, attribute) at physical
 * 0xB8000. The boot page tables map low physical memory at
 * KERNEL_VIRT_OFFSET, so the buffer is reached there.
 */
#include "kernel/hal/halp.h"
#include "kernel/hal/hal.h"
#include "kernel/ke/ke.h"
#include "kernel/hal/x86.h"

#define COLS 80
#define ROWS 25
#define ATTR 0x07 /* light grey on black */

static volatile uint16_t *vga = (volatile uint16_t *)(KERNEL_VIRT_OFFSET + 0xB8000);
static int row, col;
/*
 * Scrolling moves the screen, not the text: the CRT controller shows the
 * 25 rows starting at its start address (registers 0x0C/0x0D, in cells),
 * so a new line only clears one row and moves the start address on by a
 * row. The 32 KiB window at 0xB8000 holds WINDOW_ROWS rows; when the
 * screen reaches its end, the 24 rows still shown are copied back to the
 * top, once every ~175 lines. Copying the whole screen up on every line
 * instead costs 4000 accesses to device memory per line, each a trip
 * through QEMU's VGA model under TCG: it made kernel tests that print a
 * lot a quarter slower.
 */
#define WINDOW_ROWS (HAL_VGA_WINDOW_BYTES / 2 / COLS)   /* 204 */
static int top;           /* the window row shown first */

/* The memory manager moves the buffer: the boot mapping disappears with
 * the boot page tables, and MmMapIoSpace maps it again (NULL meanwhile,
 * when only the serial port gets output). */
void HalVgaSetBuffer(volatile void *buffer)
{
    vga = buffer;
}

static volatile uint16_t *cell(int r, int c)
{
    return &vga[(top + r) * COLS + c];
}

static void set_start(void)
{
    uint16_t at = (uint16_t)(top * COLS);
    outb(0x3D4, 0x0C);
    outb(0x3D5, at >> 8);
    outb(0x3D4, 0x0D);
    outb(0x3D5, at & 0xFF);
}

/* The cursor, like the start address, is a cell number in the window. */
static void set_cursor(void)
{
    uint16_t pos = (uint16_t)((top + row) * COLS + col);
    outb(0x3D4, 0x0F);
    outb(0x3D5, pos & 0xFF);
    outb(0x3D4, 0x0E);
    outb(0x3D5, pos >> 8);
}

void HalVgaInit(void)
{
    if (!vga)
        return;
    top = 0;
    for (int i = 0; i < COLS * ROWS; i++)
        vga[i] = (ATTR << 8) | ' ';
    row = col = 0;
    set_start();
    set_cursor();
}

/*
 * A firmware without a video BIOS (qboot) leaves the VGA as reset: no
 * plane writable and the window at 0xA0000 in planar mode, so the text
 * buffer at 0xB8000 is not memory at all. These are the registers of text
 * mode 3 that make it memory again (the VGA's sequencer at 0x3C4/0x3C5
 * and graphics controller at 0x3CE/0x3CF, index then value): characters
 * in plane 0 and attributes in plane 1, interleaved by odd/even
 * addressing, behind the 32 KiB window at 0xB8000. Fonts, timings and the
 * palette are left alone: only the buffer's contents matter here.
 */
void HalVgaEnableTextMemory(void)
{
    outb(0x3C2, 0x67);                  /* misc output: colour I/O (0x3Dx), video RAM on */
    outb(0x3C4, 0x02), outb(0x3C5, 0x03);   /* map mask: planes 0 and 1 writable */
    outb(0x3C4, 0x04), outb(0x3C5, 0x02);   /* memory mode: odd/even on, no chain-4 */
    outb(0x3CE, 0x04), outb(0x3CF, 0x00);   /* read map select: plane 0 (odd/even picks) */
    outb(0x3CE, 0x05), outb(0x3CF, 0x10);   /* graphics mode: odd/even */
    outb(0x3CE, 0x06), outb(0x3CF, 0x0E);   /* misc: text, odd/even chained, window B8000-BFFFF */
    HalVgaInit();
}

static void newline(void)
{
    col = 0;
    if (++row < ROWS || !vga)
        return;
    row = ROWS - 1;
    if (top + ROWS < WINDOW_ROWS) {
        top++;
    } else {
        for (int i = 0; i < COLS * (ROWS - 1); i++)
            vga[i] = vga[(top + 1) * COLS + i];
        top = 0;
    }
    for (int c = 0; c < COLS; c++)
        *cell(row, c) = (ATTR << 8) | ' ';
    set_start();
}

void HalVgaPutChar(char c)
{
    if (c == '\n') {
        newline();
    } else if (c == '\r') {
        col = 0;
    } else if (c == '\t') {
        do
            HalVgaPutChar(' ');
        while (col % 8);
        return;
    } else {
        if (vga)
            *cell(row, col) = (ATTR << 8) | (uint8_t)c;
        if (++col == COLS)
            newline();
    }
    set_cursor();
}
