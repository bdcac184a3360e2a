/* Console internals: COM1 serial mirrored to the VGA text screen. */
#pragma once
#include <stdint.h>

void HalSerialInit(void);
void HalSerialPutChar(char c);
int HalSerialGetChar(void);          /* -1 when nothing is waiting */
void HalVgaInit(void);
void HalVgaPutChar(char c);
void HalVgaSetBuffer(volatile void *buffer);

void HalConsoleInit(void);
void HalConsolePutChar(char c);
/* Interrupts off while a line is written, so lines never interleave; the
 * lock nests so a bugcheck inside kprintf still prints. */
void HalConsoleLock(void);
void HalConsoleUnlock(void);
