/* The kernel console: every character goes to COM1 and to the VGA screen. */
#include "kernel/hal/halp.h"
#include "kernel/hal/hal.h"
#include "kernel/hal/x86.h"

static int lock_depth;
static uint64_t saved_flags;

void HalConsoleInit(void)
{
    HalSerialInit();
    HalVgaInit();
}

void HalConsolePutChar(char c)
{
    HalSerialPutChar(c);
    HalVgaPutChar(c);
}

void HalConsoleLock(void)
{
    uint64_t flags = read_rflags();
    cli();
    if (lock_depth++ == 0)
        saved_flags = flags;
}

void HalConsoleUnlock(void)
{
    if (--lock_depth == 0 && (saved_flags & (1 << 9)))
        sti();  /* restore IF only if it was set when the outermost lock began */
}
