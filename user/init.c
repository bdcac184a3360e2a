/*
 * init: the first process. The kernel starts it with the boot command line
 * (or at least its `utest=` option).
 *
 * - With `utest=PATTERN`: runs every user test program (user/tests/utest_*)
 *   as a child with the command line `PROGRAM utest=PATTERN`, one after
 *   another. A test
 *   program prints the ktest lines of its tests and exits with
 *   (passed << 16) | failed; init adds them up, prints the summary line
 *   `[ktest] N passed, M failed` that scripts/ktest.py judges, and exits
 *   with 0 when nothing failed (1 otherwise). The kernel then leaves QEMU.
 * - Otherwise: starts the shell `sh` and waits for it; when it exits, starts
 *   it again.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every user test program: the Makefile passes the names of
 * user/tests/utest_*.c, so a new test program needs no edit here. */
#ifndef USER_TEST_PROGRAMS
#define USER_TEST_PROGRAMS "utest_fault", "utest_libc", "utest_proc", "utest_syscall", "utest_vm",
#endif
static const char *const test_programs[] = { USER_TEST_PROGRAMS };

/* The value of option NAME= in the command line, copied to BUF; NULL when
 * absent. Options are blank-separated words, as on the kernel's line. */
static const char *option(const char *cmdline, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    const char *p = cmdline;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t");
        if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
            size_t v = len - n - 1;
            if (v >= size)
                v = size - 1;
            memcpy(buf, p + n + 1, v);
            buf[v] = 0;
            /* Strip quotes: utest="a b" is the same pattern. */
            if (v >= 2 && buf[0] == '"' && buf[v - 1] == '"') {
                memmove(buf, buf + 1, v - 2);
                buf[v - 2] = 0;
            }
            return buf;
        }
        p += len;
    }
    return NULL;
}

static int run_tests(const char *pattern, const char *shard)
{
    unsigned passed = 0, failed = 0;
    printf("init: running user-mode tests matching '%s'%s%s\n", pattern, shard ? ", shard " : "", shard ? shard : "");
    for (size_t i = 0; i < sizeof(test_programs) / sizeof(test_programs[0]); i++) {
        const char *prog = test_programs[i];
        char args[300];
        /* utest.shard=I/N: each program runs its share of the tests (the
         * runner boots the N shares at once; kernel/rtl RtlTestInShard). */
        snprintf(args, sizeof(args), "%s utest=%s%s%s", prog, pattern, shard ? " utest.shard=" : "",
                 shard ? shard : "");
        NTSTATUS status = 0;
        NTSTATUS st = RunProcess(prog, args, 0, &status);
        if (!NT_SUCCESS(st)) {
            const char *name = NtStatusName(st);
            printf("[ktest] FAIL user.%s: init could not run the test program %s: status 0x%08x%s%s%s\n", prog,
                   prog, (uint32_t)st, name ? " (" : "", name ? name : "", name ? ")" : "");
            failed++;
        } else if (status < 0 || status == STATUS_PENDING) {
            /* An NTSTATUS error: the test program itself died (its tests run
             * in processes of their own, so this is a bug in the program or
             * in process management). */
            const char *name = NtStatusName(status);
            printf("[ktest] FAIL user.%s: the test program %s ended with status 0x%08x%s%s%s instead of its "
                   "counts\n", prog, prog, (uint32_t)status, name ? " (" : "", name ? name : "", name ? ")" : "");
            failed++;
        } else {
            passed += (uint32_t)status >> 16;
            failed += (uint32_t)status & 0xFFFF;
        }
    }
    printf("[ktest] %u passed, %u failed\n", passed, failed);
    return failed ? 1 : 0;
}

static void run_shell(void)
{
    for (;;) {
        NTSTATUS status = 0;
        NTSTATUS st = RunProcess("sh", "sh", 0, &status);
        if (!NT_SUCCESS(st)) {
            printf("init: cannot start sh: status 0x%08x; retrying in 5 s\n", (uint32_t)st);
            SleepMs(5000);
        } else if (status != 0) {
            const char *name = NtStatusName(status);
            printf("init: sh ended with status 0x%08x%s%s%s; restarting it\n", (uint32_t)status, name ? " (" : "",
                   name ? name : "", name ? ")" : "");
            SleepMs(1000);   /* a shell that dies at once must not flood the console */
        }
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    char pattern[256], shard[16];
    if (option(GetCommandLine(), "utest", pattern, sizeof(pattern)))
        return run_tests(pattern[0] ? pattern : "*", option(GetCommandLine(), "utest.shard", shard, sizeof(shard)));
    run_shell();
    return 0;
}
