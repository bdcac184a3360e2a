/*
 * iotest_ioctl.h: the test devices' IOCTLs, for kernel tests and user/
 * (only #defines and fixed-size types). The devices are
 * \Device\IoTestBuffered (DO_BUFFERED_IO), \Device\IoTestDirect
 * (DO_DIRECT_IO) and \Device\IoTestNeither (no flag); each has a 64 KiB
 * byte-addressable store that NtReadFile/NtWriteFile reach at any offset
 * and length (a read or write is cut at the end of the store; a read
 * starting at or past it is STATUS_END_OF_FILE, a write STATUS_DISK_FULL).
 * Every device answers every IOCTL below: the IOCTL's method, not the
 * device's flag, decides how its buffers travel.
 */
#pragma once
#include <stdint.h>
#include "kernel/ntioapi.h"

#define IOT_DEVICE_TYPE  0x8000u            /* 0x8000 and up: a vendor's device type */
#define IOT_STORE_SIZE   (64u * 1024)

/* One IOCTL per transfer method. */
/* METHOD_BUFFERED: output[i] = input[i] + 1 for the InputBufferLength
 * bytes; Information = InputBufferLength. An output shorter than the input
 * is STATUS_BUFFER_TOO_SMALL. */
#define IOCTL_IOTEST_ECHO       CTL_CODE(IOT_DEVICE_TYPE, 0x800, METHOD_BUFFERED, FILE_ANY_ACCESS)
/* METHOD_IN_DIRECT: the driver reads the MDL-described (output) buffer and
 * returns its FNV-1a checksum (32 bits, IOT_FNV_*) in Information. */
#define IOCTL_IOTEST_CHECKSUM   CTL_CODE(IOT_DEVICE_TYPE, 0x801, METHOD_IN_DIRECT, FILE_ANY_ACCESS)
#define IOT_FNV_OFFSET 2166136261u
#define IOT_FNV_PRIME  16777619u         /* h = (h ^ byte) * prime, for each byte */
/* METHOD_OUT_DIRECT: input a uint32_t seed; the MDL-described buffer is
 * filled with IOT_PATTERN(seed, i); Information = OutputBufferLength. An
 * input shorter than 4 bytes is STATUS_INVALID_PARAMETER. */
#define IOCTL_IOTEST_FILL       CTL_CODE(IOT_DEVICE_TYPE, 0x802, METHOD_OUT_DIRECT, FILE_ANY_ACCESS)
#define IOT_PATTERN(seed, i)    ((uint8_t)((seed) + (i) * 7u + ((i) >> 8)))
/* METHOD_NEITHER: the raw pointers; the driver probes (for a UserMode
 * requestor) and copies output[i] = input[i] + 1 in the caller's context;
 * Information = InputBufferLength. A bad pointer completes the IRP with the
 * probe's or the copy's exception status (STATUS_ACCESS_VIOLATION...). At
 * most IOT_NEITHER_MAX bytes (else STATUS_INVALID_PARAMETER). */
#define IOCTL_IOTEST_NEITHER    CTL_CODE(IOT_DEVICE_TYPE, 0x803, METHOD_NEITHER, FILE_ANY_ACCESS)
#define IOT_NEITHER_MAX         (1u << 20)

/* What the last read, write or method IOCTL on the device looked like at
 * its dispatch (METHOD_BUFFERED, output IOT_LAST_REQUEST). RefsNow is read
 * when this IOCTL runs: a frame that was locked for the request has one
 * reference more in RefsAtDispatch than in RefsNow once the request has
 * completed (mm: one reference per MmProbeAndLockPages). */
#define IOCTL_IOTEST_LAST_REQUEST CTL_CODE(IOT_DEVICE_TYPE, 0x810, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOT_MAX_PFNS 16
typedef struct {
    uint32_t MajorFunction;      /* IRP_MJ_READ 3, WRITE 4, DEVICE_CONTROL 0xE */
    uint32_t IoControlCode;
    uint32_t RequestorMode;      /* 0 KernelMode, 1 UserMode */
    uint32_t HadMdl;             /* Irp->MdlAddress was set */
    uint32_t MdlFlags;           /* at dispatch: MDL_PAGES_LOCKED 0x2, MDL_WRITE_OPERATION 0x80... */
    uint32_t MdlByteCount;
    uint32_t MdlByteOffset;
    uint32_t PfnCount;           /* pages the MDL spans (only the first IOT_MAX_PFNS recorded) */
    uint64_t MdlVirtualAddress;  /* MmGetMdlVirtualAddress: the caller's address */
    uint64_t SystemBuffer;       /* Irp->AssociatedIrp.SystemBuffer (a kernel address) or 0 */
    uint64_t UserBuffer;         /* Irp->UserBuffer */
    uint64_t Type3InputBuffer;   /* METHOD_NEITHER's input pointer */
    uint64_t Length;             /* Read/Write Length, or OutputBufferLength */
    uint64_t InputLength;        /* InputBufferLength */
    uint64_t Sequence;           /* requests recorded so far, this one included */
    uint64_t Pfn[IOT_MAX_PFNS];
    uint32_t RefsAtDispatch[IOT_MAX_PFNS];   /* the frames' reference counts (0xFFFFFFFF: not RAM) */
    uint32_t RefsNow[IOT_MAX_PFNS];
} IOT_LAST_REQUEST;

/* Pend mode, for the IRPs of one open file (or, for IRPs sent with no file
 * object, of the device). METHOD_BUFFERED, input IOT_PEND. Reads, writes
 * and the four method IOCTLs then do their transfer in dispatch, in the
 * caller's context, and return STATUS_PENDING; they complete later: */
#define IOCTL_IOTEST_SET_PEND   CTL_CODE(IOT_DEVICE_TYPE, 0x811, METHOD_BUFFERED, FILE_ANY_ACCESS)
#define IOT_PEND_NONE  0u        /* complete in dispatch */
#define IOT_PEND_TIMER 1u        /* from a timer DPC after DelayMs (DISPATCH_LEVEL, any thread) */
#define IOT_PEND_HOLD  2u        /* held, cancelable, until IOCTL_IOTEST_RELEASE, a cancel or cleanup */
/* Below the I/O manager's 5 s wait for cancelled requests at process exit:
 * timer-pended IRPs are not cancelable, they must finish within it. */
#define IOT_PEND_MAX_DELAY_MS 2000u
typedef struct {
    uint32_t Mode;
    uint32_t DelayMs;            /* IOT_PEND_TIMER: 0..IOT_PEND_MAX_DELAY_MS */
} IOT_PEND;
/* Complete the held IRPs of the calling file (all of the device's when
 * sent with no file object) with their results. Output (optional): a
 * uint32_t, how many were released. METHOD_BUFFERED. */
#define IOCTL_IOTEST_RELEASE    CTL_CODE(IOT_DEVICE_TYPE, 0x812, METHOD_BUFFERED, FILE_ANY_ACCESS)
/* The device's pend counters (METHOD_BUFFERED, output IOT_PEND_STATS). */
#define IOCTL_IOTEST_PEND_STATS CTL_CODE(IOT_DEVICE_TYPE, 0x813, METHOD_BUFFERED, FILE_ANY_ACCESS)
typedef struct {
    uint64_t Held;               /* now in the hold queue */
    uint64_t TimersOutstanding;  /* pended on a timer, not yet completed */
    uint64_t Pended;             /* ever pended (both modes) */
    uint64_t CompletedFromTimer; /* completed by the DPC */
    uint64_t Released;           /* completed by IOCTL_IOTEST_RELEASE */
    uint64_t Cancelled;          /* completed STATUS_CANCELLED (cancel routine, or the queueing race) */
    uint64_t CleanedUp;          /* completed STATUS_CANCELLED by IRP_MJ_CLEANUP or unload */
    uint32_t LastTimerIrql;      /* the IRQL the last timer completion ran at (2) */
    uint32_t Reserved;
} IOT_PEND_STATS;
