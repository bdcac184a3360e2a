/*
 * Attaching a thread to another process's address space (NT's
 * ke\procobj.c): the thread keeps its own process (Process) and runs in
 * the attached one's (ActiveProcess, CR3) until it detaches.
 */
#include "kernel/ke/ki.h"
#include "kernel/hal/x86.h"
#include "kernel/ps/psp.h"

void KeStackAttachProcess(PEPROCESS p, PEPROCESS *saved)
{
    PKTHREAD t = KeGetCurrentThread();
    KIRQL old = KeRaiseIrqlToDpcLevel();   /* no switch while CR3 and ActiveProcess disagree */
    *saved = t->ActiveProcess;
    t->ActiveProcess = p;
    write_cr3(p->DirectoryTableBase);
    KeLowerIrql(old);
}

void KeUnstackDetachProcess(PEPROCESS *saved)
{
    PKTHREAD t = KeGetCurrentThread();
    KIRQL old = KeRaiseIrqlToDpcLevel();
    t->ActiveProcess = *saved;
    write_cr3((*saved)->DirectoryTableBase);
    KeLowerIrql(old);
    KiCheckForApcDelivery();   /* back in its own process: APCs held off while attached run now */
}
