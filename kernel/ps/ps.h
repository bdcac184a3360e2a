/*
 * ps.h: the process manager's public interface (kernel/ps/). A process is
 * opaque here, as EPROCESS is to an NT driver; its layout is in
 * kernel/ps/psp.h, for ps/ and the memory manager.
 */
#pragma once
#include "kernel/ke/ke.h"

typedef struct _EPROCESS EPROCESS, *PEPROCESS;

extern EPROCESS PsInitialSystemProcess;

/* The process whose address space the thread runs in (the attached one
 * while KeStackAttachProcess is in effect), as NT's PsGetCurrentProcess. */
PEPROCESS PsGetCurrentProcess(void);
/* The thread's own process, attached elsewhere or not (NT's
 * PsGetCurrentThreadProcess). */
PEPROCESS PsGetCurrentThreadProcess(void);
/* Start IMAGE (a GRUB module name) as a new process. */
NTSTATUS PsCreateProcess(const char *image, const char *cmdline, PEPROCESS parent, PEPROCESS *out);
/* End the current process with STATUS (from its own thread). */
__attribute__((noreturn)) void PsExitCurrentProcess(NTSTATUS status);
void PsDereferenceProcess(PEPROCESS p);
void PsInitialize(void);
/* End the current system thread (drivers' worker threads). */
__attribute__((noreturn)) void PsTerminateSystemThread(NTSTATUS ExitStatus);
/* End P with STATUS (from any thread). */
NTSTATUS PsTerminateProcess(PEPROCESS p, NTSTATUS status);
/* The Nt* services that are not the memory manager's (kernel/ps/ntapi.c). */
void PsRegisterNtServices(void);
