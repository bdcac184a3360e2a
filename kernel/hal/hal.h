/*
 * hal.h: the hardware abstraction layer's public interface (kernel/hal/):
 * the console (COM1 mirrored to the VGA text screen), the interrupt
 * hardware (local APIC timer and EOI, IOAPIC routing), leaving QEMU.
 * Port I/O, control registers and MSRs are kernel/hal/x86.h.
 */
#pragma once
#include "kernel/ke/ke.h"

/* ---- hardware (kernel/hal/hal.c) ---- */
/* Leave QEMU through the isa-debug-exit device: QEMU's exit status becomes
 * (code << 1) | 1. Returns only when the device is absent. */
void HalQemuExit(uint8_t code);
#define QEMU_EXIT_PASS     0x10
#define QEMU_EXIT_FAIL     0x11
#define QEMU_EXIT_BUGCHECK 0x12
__attribute__((noreturn)) void HalHaltSystem(void);

/* ---- console (kernel/hal/console.c, serial.c, vga.c) ---- */
void HalConsoleInit(void);
void HalConsolePutChar(char c);
/* Interrupts off while a line is written, so lines never interleave; the
 * lock nests so a bugcheck inside kprintf still prints. */
void HalConsoleLock(void);
void HalConsoleUnlock(void);
int HalSerialGetChar(void);          /* -1 when nothing is waiting */
/* The memory manager maps the VGA buffer and hands it over (mm/mminit.c). */
void HalVgaSetBuffer(volatile void *buffer);

/* The HAL's interrupt hardware (kernel/hal/apic.c): local APIC, IOAPIC, clock. */
void HalInitializeApic(void);
void HalSendEoi(void);
void HalStartClock(ULONG Hz);
ULONG64 HalTscPerMs(void);
void HalIoApicRoute(ULONG Gsi, ULONG Vector, BOOLEAN Level, BOOLEAN Masked);
BOOLEAN HalIoApicPresent(void);
