/* The kernel console: every character goes to COM1 and to the VGA screen. */
#include "kernel/console.h"
#include "kernel/x86.h"

static int lock_depth;
static uint64_t saved_flags;

void KiConsoleInit(void)
{
    KiSerialInit();
    KiVgaInit();
}

void KiConsolePutChar(char c)
{
    KiSerialPutChar(c);
    KiVgaPutChar(c);
}

void KiConsoleLock(void)
{
    uint64_t flags = read_rflags();
    cli();
    if (lock_depth++ == 0)
        saved_flags = flags;
}

void KiConsoleUnlock(void)
{
    if (--lock_depth == 0 && (saved_flags & (1 << 9)))
        sti();  /* restore IF only if it was set when the outermost lock began */
}
