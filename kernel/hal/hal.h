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
/* What of 0xB8000 the console uses: the whole 32 KiB text window (it
 * scrolls by moving the screen through it, kernel/hal/vga.c). */
#define HAL_VGA_WINDOW_BYTES 0x8000
/* Text mode's memory mapping for a VGA no video BIOS set up (qboot): the
 * PCI bus driver calls it after turning the VGA's decoding on. */
void HalVgaEnableTextMemory(void);

/* The HAL's interrupt hardware (kernel/hal/apic.c): local APIC, IOAPIC, clock. */
void HalInitializeApic(void);
void HalSendEoi(void);
void HalStartClock(ULONG Hz);
ULONG64 HalTscPerMs(void);
void HalIoApicRoute(ULONG Gsi, ULONG Vector, BOOLEAN Level, BOOLEAN Masked);
BOOLEAN HalIoApicPresent(void);

/* ---- PCI configuration space (kernel/hal/pci.c) ----
 * NT's HAL routines: configuration mechanism #1 (ports 0xCF8/0xCFC) under
 * a lock, in naturally aligned accesses. SlotNumber is a PCI_SLOT_NUMBER's
 * AsULONG; the result is the number of bytes transferred (0 for a bus type
 * other than PCIConfiguration or an offset past 255). A function that is
 * not there reads as all ones (vendor ID 0xFFFF). */
typedef enum _BUS_DATA_TYPE { Cmos = 0, PCIConfiguration = 4 } BUS_DATA_TYPE;
typedef struct _PCI_SLOT_NUMBER {
    union {
        struct {
            ULONG DeviceNumber : 5;
            ULONG FunctionNumber : 3;
            ULONG Reserved : 24;
        } bits;
        ULONG AsULONG;
    } u;
} PCI_SLOT_NUMBER, *PPCI_SLOT_NUMBER;
#define PCI_CONFIG_SPACE_SIZE 256
#define PCI_SLOT(dev, fn) ((ULONG)(((dev) & 0x1F) | ((fn) & 7) << 5))
ULONG HalGetBusDataByOffset(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber, PVOID Buffer, ULONG Offset,
                            ULONG Length);
ULONG HalSetBusDataByOffset(BUS_DATA_TYPE BusDataType, ULONG BusNumber, ULONG SlotNumber, PVOID Buffer, ULONG Offset,
                            ULONG Length);

/* The x86 MSI message that delivers VECTOR to this CPU's local APIC
 * (kernel/hal/apic.c): address 0xFEE00000 | APIC ID << 12 (physical
 * destination, no redirection hint), data = the vector, fixed delivery,
 * edge. What a device writes to raise an MSI or MSI-X interrupt. */
void HalGetMessageSignaledInterrupt(ULONG Vector, PULONG64 MessageAddress, PULONG MessageData);
/* Read back IOAPIC input GSI's redirection entry (the low and high dwords). */
ULONG64 HalIoApicReadRoute(ULONG Gsi);

/* ---- the profiler's clock: the PIT's channel 0 (kernel/hal/pit.c) ----
 * Start: channel 0 at about HZ (the rate it really gives back, the PIT's
 * 1.193182 MHz divided by a whole number), its IRQ 0 routed to VECTOR.
 * Stop: the input masked and the channel left with no more edges. Armed:
 * whether the input is unmasked at the IOAPIC. */
ULONG HalStartProfileTimer(ULONG Hz, ULONG Vector);
void HalStopProfileTimer(void);
BOOLEAN HalProfileTimerArmed(void);
