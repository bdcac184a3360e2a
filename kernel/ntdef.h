/*
 * NT base types, as a WDM driver sees them, so code from the seeds and the
 * Microsoft docs compiles nearly unchanged. x64 is LLP64: ULONG is 32 bits,
 * pointers and ULONG_PTR are 64.
 */
#pragma once
#include <stdint.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdbool.h>

typedef void VOID, *PVOID;
typedef char CHAR, *PCHAR;
typedef const char *PCSTR;
typedef uint8_t UCHAR, *PUCHAR, BOOLEAN, *PBOOLEAN;
typedef int16_t SHORT, CSHORT;
typedef uint16_t USHORT, *PUSHORT;
typedef int32_t LONG, *PLONG;
typedef uint32_t ULONG, *PULONG;
typedef int64_t LONGLONG, LONG64;
typedef uint64_t ULONGLONG, ULONG64, *PULONG64;
typedef int64_t LONG_PTR;
typedef uint64_t ULONG_PTR, *PULONG_PTR, SIZE_T, *PSIZE_T;
typedef LONG NTSTATUS;

#define TRUE  1
#define FALSE 0

#ifndef NULL
#define NULL ((void *)0)
#endif

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)

#define STATUS_SUCCESS                ((NTSTATUS)0x00000000L)
#define STATUS_BREAKPOINT             ((NTSTATUS)0x80000003L)
#define STATUS_UNSUCCESSFUL           ((NTSTATUS)0xC0000001L)
#define STATUS_NOT_IMPLEMENTED        ((NTSTATUS)0xC0000002L)
#define STATUS_ACCESS_VIOLATION       ((NTSTATUS)0xC0000005L)
#define STATUS_INVALID_PARAMETER      ((NTSTATUS)0xC000000DL)
#define STATUS_NO_MEMORY              ((NTSTATUS)0xC0000017L)
#define STATUS_ILLEGAL_INSTRUCTION    ((NTSTATUS)0xC000001DL)
#define STATUS_INTEGER_DIVIDE_BY_ZERO ((NTSTATUS)0xC0000094L)
#define STATUS_PRIVILEGED_INSTRUCTION ((NTSTATUS)0xC0000096L)
#define STATUS_STACK_BUFFER_OVERRUN   ((NTSTATUS)0xC0000409L)
#define STATUS_DATATYPE_MISALIGNMENT  ((NTSTATUS)0x80000002L)
#define STATUS_SINGLE_STEP            ((NTSTATUS)0x80000004L)
#define STATUS_ARRAY_BOUNDS_EXCEEDED  ((NTSTATUS)0xC000008CL)
#define STATUS_FLOAT_DENORMAL_OPERAND ((NTSTATUS)0xC000008DL)
#define STATUS_FLOAT_DIVIDE_BY_ZERO   ((NTSTATUS)0xC000008EL)
#define STATUS_FLOAT_INEXACT_RESULT   ((NTSTATUS)0xC000008FL)
#define STATUS_FLOAT_OVERFLOW         ((NTSTATUS)0xC0000091L)
#define STATUS_FLOAT_STACK_CHECK      ((NTSTATUS)0xC0000092L)
#define STATUS_FLOAT_UNDERFLOW        ((NTSTATUS)0xC0000093L)
#define STATUS_INTEGER_OVERFLOW       ((NTSTATUS)0xC0000095L)
#define STATUS_FLOAT_INVALID_OPERATION ((NTSTATUS)0xC0000090L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_ASSERTION_FAILURE      ((NTSTATUS)0xC0000420L)

#define ARRAYSIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CONTAINING_RECORD(addr, type, field) \
    ((type *)((char *)(addr) - offsetof(type, field)))
#define UNREFERENCED_PARAMETER(p) ((void)(p))

/* Doubly linked lists with the head in the list, as NT writes them. */
typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink, *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

static inline void InitializeListHead(PLIST_ENTRY h) { h->Flink = h->Blink = h; }
static inline BOOLEAN IsListEmpty(const LIST_ENTRY *h) { return h->Flink == h; }
static inline void InsertTailList(PLIST_ENTRY h, PLIST_ENTRY e)
{
    e->Flink = h;
    e->Blink = h->Blink;
    h->Blink->Flink = e;
    h->Blink = e;
}
static inline void InsertHeadList(PLIST_ENTRY h, PLIST_ENTRY e)
{
    e->Flink = h->Flink;
    e->Blink = h;
    h->Flink->Blink = e;
    h->Flink = e;
}
static inline BOOLEAN RemoveEntryList(PLIST_ENTRY e)
{
    PLIST_ENTRY f = e->Flink, b = e->Blink;
    b->Flink = f;
    f->Blink = b;
    return f == b;
}
static inline PLIST_ENTRY RemoveHeadList(PLIST_ENTRY h)
{
    PLIST_ENTRY e = h->Flink;
    RemoveEntryList(e);
    return e;
}

/* Bitmaps, NT's RTL_BITMAP (kernel/rtlbitmap.c). */
typedef struct _RTL_BITMAP {
    ULONG SizeOfBitMap;   /* bits */
    PULONG64 Buffer;
} RTL_BITMAP, *PRTL_BITMAP;
