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

/* The memory manager moves the buffer: the boot mapping disappears with
 * the boot page tables, and MmMapIoSpace maps it again (NULL meanwhile,
 * when only the serial port gets output). */
void HalVgaSetBuffer(volatile void *buffer)
{
    vga = buffer;
}

static void set_cursor(void)
{
    uint16_t pos = (uint16_t)(row * COLS + col);
    outb(0x3D4, 0x0F);
    outb(0x3D5, pos & 0xFF);
    outb(0x3D4, 0x0E);
    outb(0x3D5, pos >> 8);
}

void HalVgaInit(void)
{
    if (!vga)
        return;
    for (int i = 0; i < COLS * ROWS; i++)
        vga[i] = (ATTR << 8) | ' ';
    row = col = 0;
    set_cursor();
}

static void newline(void)
{
    col = 0;
    if (++row < ROWS || !vga)
        return;
    for (int i = 0; i < COLS * (ROWS - 1); i++)
        vga[i] = vga[i + COLS];
    for (int i = COLS * (ROWS - 1); i < COLS * ROWS; i++)
        vga[i] = (ATTR << 8) | ' ';
    row = ROWS - 1;
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
            vga[row * COLS + col] = (ATTR << 8) | (uint8_t)c;
        if (++col == COLS)
            newline();
    }
    set_cursor();
}
