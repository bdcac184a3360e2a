/* MDL internals shared by io/mdl.c, mm/mdl*.c and the verifier. */
#pragma once
#include "io/io.h"
#include "kernel/ps/psp.h"

extern BOOLEAN MiVerifierEnabled;

enum { MI_SITE_ALLOC, MI_SITE_BUILD, MI_SITE_LOCK, MI_SITE_MAP, MI_SITE_COUNT };
typedef struct _MI_MDL_TRACK {
    PMDL Mdl;
    ULONG_PTR Site[MI_SITE_COUNT];   /* return addresses into the callers */
    struct _EPROCESS *Process;
    BOOLEAN EverLocked;
    ULONG UserViews;                 /* UserMode maps not yet torn down (unmap or process exit) */
} MI_MDL_TRACK;

/* References MDLs hold on frames, for the per-test leak check: one per RAM
 * frame per MmProbeAndLockPages, one per RAM frame per UserMode view. */
extern volatile ULONG64 MiMdlLockedFrames, MiMdlViewFrames;
/* The most pages one MDL can describe: its CSHORT Size holds the header
 * and one PFN per page. */
#define MI_MDL_MAX_PAGES ((0xFFFF - sizeof(MDL)) / sizeof(PFN_NUMBER))

void MiInitializeMdlVerifier(void);
MI_MDL_TRACK *MiTrackMdl(PMDL mdl, BOOLEAN create);
void MiForgetMdl(PMDL mdl);
void MiNoteMdlSite(PMDL mdl, int which, ULONG_PTR site);
PMDL MiFindMdlLockedInProcess(struct _EPROCESS *p, ULONG_PTR *site);
/* The verifier's count of MDL's user views: changed by DELTA, and read. */
void MiNoteMdlUserView(PMDL mdl, LONG delta);
ULONG MiMdlUserViews(PMDL mdl);
/* Report a broken MDL rule: 0xC4 with sub-code SUB (only when the verifier is on). */
__attribute__((noreturn)) void MiMdlViolation(ULONG sub, PMDL mdl, ULONG_PTR p3, ULONG_PTR p4, const char *rule);
#define MI_VERIFY(cond, sub, mdl, p3, p4, rule) \
    do { if (MiVerifierEnabled && !(cond)) MiMdlViolation((sub), (mdl), (ULONG_PTR)(p3), (ULONG_PTR)(p4), (rule)); } while (0)
#define MI_MDL_PAGES(m) ADDRESS_AND_SIZE_TO_SPAN_PAGES((m)->ByteOffset, (m)->ByteCount)
