/*
 * Symbols and backtraces. The build links the kernel twice: the first
 * image's function symbols (from nm) become a sorted table (.ksyms, built
 * by scripts/gen-ksyms.sh) linked into the second. The table sits after all
 * code, so adding it moves no function (the Makefile checks this).
 */
#include "kernel/ke/ki.h"
#include "kernel/kd/kd.h"



LONG KdSymbolIndex(ULONG_PTR addr)
{
    uint64_t n = KiSymbolCount;
    if (n == 0 || addr < KiSymbolTable[0].addr || addr >= (ULONG_PTR)__text_end)
        return -1;
    uint64_t lo = 0, hi = n; /* find the last symbol with addr <= ADDR */
    while (hi - lo > 1) {
        uint64_t mid = (lo + hi) / 2;
        if (KiSymbolTable[mid].addr <= addr)
            lo = mid;
        else
            hi = mid;
    }
    const struct ksym *s = &KiSymbolTable[lo];
    if (s->size && addr >= s->addr + s->size)
        return -1; /* in padding between functions */
    return (LONG)lo;
}

const char *KdLookupSymbol(ULONG_PTR addr, ULONG_PTR *offset)
{
    LONG i = KdSymbolIndex(addr);
    if (offset)
        *offset = i < 0 ? 0 : addr - KiSymbolTable[i].addr;
    return i < 0 ? NULL : KiSymbolTable[i].name;
}

ULONG_PTR KdSymbolAddress(const char *name)
{
    for (uint64_t i = 0; i < KiSymbolCount; i++)
        if (strcmp(KiSymbolTable[i].name, name) == 0)
            return KiSymbolTable[i].addr;
    return 0;
}

#define MAX_STACKS 32
static struct { ULONG_PTR low, high; } stacks[MAX_STACKS];
static int stack_count;

void KdRegisterStack(ULONG_PTR low, ULONG_PTR high)
{
    if (stack_count < MAX_STACKS) {
        stacks[stack_count].low = low;
        stacks[stack_count].high = high;
        stack_count++;
    }
}

void KdUnregisterStack(ULONG_PTR low, ULONG_PTR high)
{
    for (int i = 0; i < stack_count; i++) {
        if (stacks[i].low == low && stacks[i].high == high) {
            stacks[i] = stacks[--stack_count];
            return;
        }
    }
}

BOOLEAN KdIsAddressOnStack(ULONG_PTR va)
{
    for (int i = 0; i < stack_count; i++)
        if (va >= stacks[i].low && va < stacks[i].high)
            return TRUE;
    return FALSE;
}

/* A frame pointer is followed only if the 16-byte frame record it points
 * to lies inside a known stack; a smashed RBP then ends the walk instead
 * of faulting inside the bugcheck report. */
static bool frame_ok(ULONG_PTR rbp)
{
    if (rbp & 7)
        return false;
    for (int i = 0; i < stack_count; i++)
        if (rbp >= stacks[i].low && rbp + 16 <= stacks[i].high)
            return true;
    return false;
}

/* One backtrace line for code address ADDR. A return address points
 * after its call, and when that call was the last instruction of its
 * function (a call to a noreturn function, such as KeBugCheckEx) it is
 * already the first byte of the next function: so a return address is
 * looked up at ADDR - 1, which is inside the call. A trap frame's RIP is
 * the faulting instruction itself and is looked up as it is (ADDR - 1
 * would name the previous function for a fault at a function's first
 * byte). The offset printed is always ADDR's. */
int KdFormatBacktraceFrame(char *buf, size_t size, int n, ULONG_PTR addr, BOOLEAN is_return)
{
    ULONG_PTR off, lookup = is_return ? addr - 1 : addr;
    const char *name = KdLookupSymbol(lookup, &off);
    if (name)
        return ksnprintf(buf, size, "  #%-2d %p %s+%#lx", n, (void *)addr, name, (unsigned long)(off + (addr - lookup)));
    return ksnprintf(buf, size, "  #%-2d %p ?", n, (void *)addr);
}

static void print_frame(int n, ULONG_PTR addr, BOOLEAN is_return)
{
    char line[160];
    KdFormatBacktraceFrame(line, sizeof(line), n, addr, is_return);
    kprintf("%s\n", line);
}

/* With frame pointers every function starts "push rbp; mov rbp, rsp", so
 * [RBP] is the caller's RBP and [RBP+8] the return address into it. */
int KdWalkStack(ULONG_PTR rbp, ULONG_PTR *returns, int max)
{
    int n = 0;
    while (n < max && frame_ok(rbp)) {
        ULONG_PTR ret = ((ULONG_PTR *)rbp)[1];
        ULONG_PTR next = ((ULONG_PTR *)rbp)[0];
        if (ret == 0)
            break;
        returns[n++] = ret;
        if (next <= rbp)
            break; /* frames must move up the stack */
        rbp = next;
    }
    return n;
}

void KdDumpBacktrace(ULONG_PTR pc, ULONG_PTR rbp, BOOLEAN pc_is_return)
{
    ULONG_PTR returns[31];
    int n = KdWalkStack(rbp, returns, ARRAYSIZE(returns));
    /* Frame #0 is a trap's faulting RIP (exact), or the return address of
     * a call to KeBugCheckEx & co. (the caller says which: guessing from
     * whether PC has a symbol named the next function, since after a call
     * to a noreturn function PC is that function's first byte). */
    print_frame(0, pc, pc_is_return);
    for (int i = 0; i < n; i++) {
        int same = 0;
        while (i + same + 1 < n && returns[i + same + 1] == returns[i])
            same++;
        print_frame(i + 1, returns[i], TRUE);
        if (same) {  /* runaway recursion: one line, not a screenful */
            kprintf("      ... the same frame %d more times%s\n", same, i + same + 1 == n ? " (walk limit)" : "");
            i += same;
        }
    }
}
