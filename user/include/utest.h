/*
 * utest: user-mode tests, reported in the kernel's ktest line protocol
 * (kernel/ktest/ktest.h) so scripts/ktest.py judges them the same way:
 *   [ktest] RUN  user.suite.name
 *   [ktest] PASS user.suite.name
 *   [ktest] FAIL user.suite.name: file:line: message
 *
 *   UTEST(suite, name) { UT_EQ(1 + 1, 2); }
 *       a test named "user.suite.name", run when the pattern matches it.
 *   UTEST_T(suite, name, seconds)
 *       the same with its own time limit (default 60 s).
 *
 * A test program ends with   int main(int c, char **v) { return utest_main(c, v); }
 * and is started by init with the argument `utest=PATTERN` (comma-separated
 * globs with * and ?). utest_main runs each matching test in a process of
 * its own (the same image, command line `PROGRAM utest.one=NAME`), so a test that
 * crashes or hangs is reported by name and the others still run. The
 * program's exit status is (passed << 16) | failed.
 * A failed assertion prints the FAIL line and ends the test's process.
 */
#pragma once
#include <nt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    const char *suite, *name;
    void (*fn)(void);
    const char *file;
    uint32_t line, timeout_s;
} UTEST;

#define UTEST_T(suite, name, timeout)                                                           \
    static void utest_##suite##_##name(void);                                                   \
    static const UTEST utest_desc_##suite##_##name                                              \
        __attribute__((used, section("utests"), aligned(8))) = {                                \
            #suite, #name, utest_##suite##_##name, __FILE__, __LINE__, (timeout) };             \
    static void utest_##suite##_##name(void)
#define UTEST(suite, name) UTEST_T(suite, name, 60)

int utest_main(int argc, char **argv);
/* "user.suite.name" of the running test, or NULL. */
const char *UtCurrentTest(void);
/* The pattern the program was started with (to pass on to helpers). */
const char *UtPattern(void);

__attribute__((noreturn, format(printf, 3, 4))) void UtFail(const char *file, int line, const char *fmt, ...);
/* The name of STATUS for messages: "STATUS_ACCESS_VIOLATION" or "0x...". */
const char *UtStatusText(NTSTATUS status);
/* SIZE bytes of fresh committed read-write memory (fails the test if there is none). */
uint8_t *UtRegion(size_t size);
/* Fill N bytes with, or check them against, a pattern of SEED and each byte's position. */
void UtFill(uint8_t *buf, size_t n, unsigned seed);
int UtCheck(const uint8_t *buf, size_t n, unsigned seed);

#define UT_FAIL(...) UtFail(__FILE__, __LINE__, __VA_ARGS__)

#define UT_ASSERT(cond) \
    do { if (!(cond)) UtFail(__FILE__, __LINE__, "UT_ASSERT(%s)", #cond); } while (0)
#define UT_ASSERT_MSG(cond, ...) \
    do { if (!(cond)) UtFail(__FILE__, __LINE__, __VA_ARGS__); } while (0)

#define UT_CMP_(a, op, b)                                                                         \
    do {                                                                                          \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                          \
        if (!(a_ op b_))                                                                          \
            UtFail(__FILE__, __LINE__, "%s %s %s: 0x%llx (%lld) vs 0x%llx (%lld)", #a, #op, #b,  \
                   (unsigned long long)a_, (long long)a_, (unsigned long long)b_, (long long)b_); \
    } while (0)
#define UT_EQ(a, b) UT_CMP_(a, ==, b)
#define UT_NE(a, b) UT_CMP_(a, !=, b)
#define UT_LT(a, b) UT_CMP_(a, <, b)   /* unsigned comparisons, as KT_LT */
#define UT_LE(a, b) UT_CMP_(a, <=, b)
#define UT_GT(a, b) UT_CMP_(a, >, b)
#define UT_GE(a, b) UT_CMP_(a, >=, b)

#define UT_STREQ(a, b)                                                                        \
    do {                                                                                      \
        const char *a_ = (a), *b_ = (b);                                                      \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                \
            UtFail(__FILE__, __LINE__, "%s == %s: \"%s\" vs \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                   b_ ? b_ : "(null)");                                                       \
    } while (0)

#define UT_MEMEQ(a, b, n)                                                                     \
    do {                                                                                      \
        const unsigned char *a_ = (const unsigned char *)(a), *b_ = (const unsigned char *)(b); \
        size_t n_ = (n), i_ = 0;                                                              \
        while (i_ < n_ && a_[i_] == b_[i_])                                                   \
            i_++;                                                                             \
        if (i_ != n_)                                                                         \
            UtFail(__FILE__, __LINE__, "%s and %s differ at byte %zu of %zu: 0x%02x vs 0x%02x", #a, #b, \
                   i_, n_, a_[i_], b_[i_]);                                                   \
    } while (0)

/* A system call that must succeed. */
#define UT_SUCCESS(expr)                                                                      \
    do {                                                                                      \
        NTSTATUS s_ = (expr);                                                                 \
        if (!NT_SUCCESS(s_))                                                                  \
            UtFail(__FILE__, __LINE__, "%s failed: %s", #expr, UtStatusText(s_));             \
    } while (0)
/* A system call that must fail (any error or warning status). */
#define UT_FAILS(expr)                                                                        \
    do {                                                                                      \
        NTSTATUS s_ = (expr);                                                                 \
        if (NT_SUCCESS(s_))                                                                   \
            UtFail(__FILE__, __LINE__, "%s returned %s; expected a failure status", #expr,   \
                   UtStatusText(s_));                                                         \
    } while (0)
/* A system call that must return exactly WANT. */
#define UT_STATUS(expr, want)                                                                 \
    do {                                                                                      \
        NTSTATUS s_ = (expr), w_ = (want);                                                    \
        if (s_ != w_) {                                                                       \
            char wt_[48];                                                                     \
            snprintf(wt_, sizeof(wt_), "%s", UtStatusText(w_));                               \
            UtFail(__FILE__, __LINE__, "%s returned %s, expected %s", #expr, UtStatusText(s_), wt_); \
        }                                                                                     \
    } while (0)
