/*
 * The user-mode test runner (see user/include/utest.h). Descriptors are in
 * the `utests` section (user/user.ld gathers them between __utests_start and
 * __utests_end), so adding a test is adding a function.
 */
#include <nt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>
#include "kernel/rtl/rtlstring.h"   /* RtlGlobMatch: the kernel's test-name matcher */

extern const UTEST __utests_start[], __utests_end[];

static char current[128];
static const char *pattern = "*";

const char *UtCurrentTest(void)
{
    return current[0] ? current : NULL;
}

const char *UtPattern(void)
{
    return pattern;
}

const char *UtStatusText(NTSTATUS status)
{
    static char buf[4][64];
    static int next;
    char *b = buf[next++ & 3];
    const char *name = NtStatusName(status);
    if (name)
        snprintf(b, sizeof(buf[0]), "0x%08x (%s)", (uint32_t)status, name);
    else
        snprintf(b, sizeof(buf[0]), "0x%08x", (uint32_t)status);
    return b;
}

void UtFail(const char *file, int line, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fflush(stdout);
    printf("[ktest] FAIL %s: %s:%d: %s\n", current[0] ? current : "user.?", file, line, msg);
    exit(1);
}


/* Does NAME match PATTERNS, comma-separated globs? A glob that starts
 * with '-' leaves out what it matches, whatever else matches: a full run
 * of the runner leaves two commit tests out of the shards (`*,-NAME,...`)
 * and runs them on a smaller machine of their own (scripts/ktest.py,
 * SMALL_UTESTS). */
static int matches(const char *patterns, const char *name)
{
    char pat[128];
    int in = 0;
    const char *p = patterns;
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n < sizeof(pat)) {
            memcpy(pat, p, n);
            pat[n] = 0;
            if (pat[0] == '-' && RtlGlobMatch(pat + 1, name))
                return 0;
            if (n && pat[0] != '-' && RtlGlobMatch(pat, name))
                in = 1;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    return in;
}

static void full_name(const UTEST *t, char *buf, size_t size)
{
    snprintf(buf, size, "user.%s.%s", t->suite, t->name);
}

/* Tests in source order (file, then line) whatever order the compiler
 * emitted the descriptors in. */
static int sorted(const UTEST **out, int max)
{
    int n = 0;
    for (const UTEST *t = __utests_start; t < __utests_end && n < max; t++) {
        int i = n++;
        while (i > 0) {
            int c = strcmp(out[i - 1]->file, t->file);
            if (c < 0 || (c == 0 && out[i - 1]->line < t->line))
                break;
            out[i] = out[i - 1];
            i--;
        }
        out[i] = t;
    }
    return n;
}

static int run_one(const char *name)
{
    char full[128];
    for (const UTEST *t = __utests_start; t < __utests_end; t++) {
        full_name(t, full, sizeof(full));
        if (strcmp(full, name) != 0)
            continue;
        strlcpy(current, full, sizeof(current));
        printf("[ktest] RUN  %s\n", full);
        t->fn();
        printf("[ktest] PASS %s\n", full);
        current[0] = 0;
        return 0;
    }
    printf("[ktest] FAIL %s: %s has no such test\n", name, __progname);
    return 1;
}

/* Runs test T in a child process of this image; 1 when it passed. */
static int run_isolated(const UTEST *t)
{
    char full[128], args[200];
    full_name(t, full, sizeof(full));
    snprintf(args, sizeof(args), "%s utest.one=%s", __progname, full);
    HANDLE h = 0;
    NTSTATUS st = NtCreateProcess(__progname, args, &h);
    if (!NT_SUCCESS(st)) {
        printf("[ktest] FAIL %s: %s:%u: could not start the test's process: NtCreateProcess(\"%s\", \"%s\") "
               "returned %s\n", full, t->file, t->line, __progname, args, UtStatusText(st));
        return 0;
    }
    int64_t timeout = -(int64_t)t->timeout_s * 10000000LL;
    st = NtWaitForSingleObject(h, 0, &timeout);
    int ok = 0;
    if (st == STATUS_TIMEOUT) {
        NTSTATUS kill = NtTerminateProcess(h, STATUS_TIMEOUT);
        int64_t grace = -5 * 10000000LL;
        NTSTATUS w = NtWaitForSingleObject(h, 0, &grace);
        printf("[ktest] FAIL %s: %s:%u: did not finish within %u s (terminated it: NtTerminateProcess %s, "
               "wait %s)\n", full, t->file, t->line, t->timeout_s, UtStatusText(kill), UtStatusText(w));
    } else if (!NT_SUCCESS(st) || st != STATUS_WAIT_0) {
        printf("[ktest] FAIL %s: %s:%u: NtWaitForSingleObject on the test's process returned %s\n", full, t->file,
               t->line, UtStatusText(st));
    } else {
        NTSTATUS code = 0;
        st = ProcessExitStatus(h, &code);
        if (!NT_SUCCESS(st))
            printf("[ktest] FAIL %s: %s:%u: NtQueryInformationProcess(ProcessBasicInformation) on the test's "
                   "process returned %s\n", full, t->file, t->line, UtStatusText(st));
        else if (code == 0)
            ok = 1;
        else if (code != 1)   /* 1: the test printed its own FAIL line */
            printf("[ktest] FAIL %s: %s:%u: the test's process ended with status %s instead of finishing%s\n", full,
                   t->file, t->line, UtStatusText(code),
                   code == STATUS_PENDING ? " (the wait returned while it still runs)" : " (it crashed?)");
    }
    NtClose(h);
    return ok;
}

int utest_main(int argc, char **argv)
{
    const char *one = NULL, *shard = NULL;
    int list = 0;
    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "utest.one=", 10) == 0)
            one = argv[i] + 10;
        else if (strncmp(argv[i], "utest.shard=", 12) == 0)
            shard = argv[i] + 12;
        else if (strncmp(argv[i], "utest=", 6) == 0)
            pattern = argv[i][6] ? argv[i] + 6 : "*";
        else if (strcmp(argv[i], "--list") == 0)
            list = 1;
        else if (!strchr(argv[i], '='))
            pattern = argv[i];
    }
    if (one)
        return run_one(one);

    static const UTEST *tests[512];
    int n = sorted(tests, 512);
    unsigned passed = 0, failed = 0;
    if (shard && !list) {
        /* The runner adds these up over its boots: the shares must make the whole. */
        int all = 0, mine = 0;
        for (int i = 0; i < n; i++) {
            char full[128];
            full_name(tests[i], full, sizeof(full));
            if (matches(pattern, full)) {
                all++;
                mine += RtlTestInShard(shard, full);
            }
        }
        printf("[ktest] shard %s: %d of %d tests\n", shard, mine, all);
    }
    for (int i = 0; i < n; i++) {
        char full[128];
        full_name(tests[i], full, sizeof(full));
        if (list) {
            printf("  %s\n", full);
            continue;
        }
        if (!matches(pattern, full) || !RtlTestInShard(shard, full))
            continue;
        if (run_isolated(tests[i]))
            passed++;
        else
            failed++;
    }
    fflush(stdout);
    if (passed > 0x7FFF)
        passed = 0x7FFF;
    if (failed > 0xFFFF)
        failed = 0xFFFF;
    return (int)((passed << 16) | failed);
}

uint8_t *UtRegion(size_t size)
{
    void *b = NULL;
    UT_SUCCESS(NtAllocateVirtualMemory(NtCurrentProcess(), &b, 0, &size, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
    return b;
}

void UtFill(uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 13 + seed + (i >> 9));
}

int UtCheck(const uint8_t *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != (uint8_t)(i * 13 + seed + (i >> 9)))
            return 0;
    return 1;
}
