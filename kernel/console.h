/* Console internals: COM1 serial mirrored to the VGA text screen. */
#pragma once
#include <stdint.h>

void KiSerialInit(void);
void KiSerialPutChar(char c);
int KiSerialGetChar(void);          /* -1 when nothing is waiting */
void KiVgaInit(void);
void KiVgaPutChar(char c);
void KiVgaSetBuffer(volatile void *buffer);

void KiConsoleInit(void);
void KiConsolePutChar(char c);
/* Interrupts off while a line is written, so lines never interleave; the
 * lock nests so a bugcheck inside kprintf still prints. */
void KiConsoleLock(void);
void KiConsoleUnlock(void);
