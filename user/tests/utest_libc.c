/*
 * user.libc.*: the user-mode C library itself (printf, strings, the command
 * line splitter, malloc on NtAllocateVirtualMemory). Mostly pure code: these
 * pass as soon as processes run at all, and isolate libc bugs from kernel
 * bugs when the other suites fail.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utest.h>

#define FMT(want, ...)                                                                  \
    do {                                                                                \
        char b_[128];                                                                   \
        int n_ = snprintf(b_, sizeof(b_), __VA_ARGS__);                                 \
        UT_STREQ(b_, want);                                                             \
        UT_EQ(n_, strlen(want));                                                        \
    } while (0)

UTEST(libc, printf_formats)
{
    FMT("42", "%d", 42);
    FMT("-42", "%d", -42);
    FMT("-2147483648", "%d", (int)0x80000000);
    FMT("4294967295", "%u", 0xFFFFFFFFu);
    FMT("18446744073709551615", "%llu", ~0ULL);
    FMT("-9223372036854775808", "%lld", (long long)0x8000000000000000ULL);
    FMT("ff FF 0xff 377 0377", "%x %X %#x %o %#o", 255, 255, 255, 255, 255);
    FMT("[   7] [7   ] [0007] [+7] [ 7]", "[%4d] [%-4d] [%04d] [%+d] [% d]", 7, 7, 7, 7, 7);
    FMT("[  -7] [-007]", "[%4d] [%04d]", -7, -7);
    FMT("[007] [  007]", "[%.3d] [%5.3d]", 7, 7);
    FMT("[abc] [  abc] [abc  ] [ab]", "[%s] [%5s] [%-5s] [%.2s]", "abc", "abc", "abc", "abc");
    const char *volatile null_string = NULL;   /* hidden from the format checker */
    FMT("(null)", "%s", null_string);
    FMT("x%y", "x%%y");
    FMT("c=A", "c=%c", 'A');
    FMT("0x400000", "%p", (void *)0x400000);
    FMT("00000000c0000005", "%016llx", 0xC0000005ULL);
    FMT("[  5]", "[%*d]", 3, 5);
    FMT("12 34 56 -1", "%hhd %hd %zd %hhd", (signed char)12, (short)34, (size_t)56, (signed char)0xFF);
    FMT("0", "%x", 0);
}

UTEST(libc, snprintf_truncates)
{
    char buf[8];
    memset(buf, 'Z', sizeof(buf));
    int n = snprintf(buf, 5, "%s", "abcdefgh");
    UT_EQ(n, 8);   /* the length it wanted */
    UT_STREQ(buf, "abcd");
    UT_EQ(buf[5], 'Z');   /* nothing written past SIZE */
    n = snprintf(buf, 0, "%d", 12345);
    UT_EQ(n, 5);
    UT_EQ(buf[0], 'a');
}

UTEST(libc, string_functions)
{
    char buf[32];
    UT_EQ(strlen(""), 0);
    UT_EQ(strlen("hello"), 5);
    UT_ASSERT(strcmp("abc", "abd") < 0);
    UT_ASSERT(strcmp("abd", "abc") > 0);
    UT_EQ(strcmp("abc", "abc"), 0);
    UT_EQ(strncmp("abcx", "abcy", 3), 0);
    UT_ASSERT(strcmp("a", "ab") < 0);
    UT_STREQ(strchr("hello", 'l'), "llo");
    UT_STREQ(strrchr("hello", 'l'), "lo");
    UT_EQ(strchr("hello", 'z'), NULL);
    UT_STREQ(strstr("the needle here", "needle"), "needle here");
    UT_EQ(strlcpy(buf, "truncate me", 5), 11);
    UT_STREQ(buf, "trun");
    strcpy(buf, "ab");
    strcat(buf, "cd");
    UT_STREQ(buf, "abcd");
    memset(buf, 0x5A, sizeof(buf));
    UT_EQ((uint8_t)buf[31], 0x5A);
    memcpy(buf, "0123456789", 10);
    memmove(buf + 2, buf, 8);   /* overlapping, upwards */
    UT_MEMEQ(buf, "0101234567", 10);
    memmove(buf, buf + 2, 8);   /* overlapping, downwards */
    UT_MEMEQ(buf, "0123456767", 10);
    UT_ASSERT(memcmp("abc", "abd", 3) < 0);
    UT_EQ(strtoul("0x1F", NULL, 0), 31);
    UT_EQ(strtoul("017", NULL, 0), 15);
    UT_EQ(strtol("-42", NULL, 10), -42);
    UT_EQ(atoi("123abc"), 123);
}

UTEST(libc, command_line_split)
{
    char line[] = "  one \"two words\"  three\t\"\" x\"y z\"w ";
    char *argv[8];
    int argc = SplitCommandLine(line, argv, 8);
    UT_EQ(argc, 5);
    UT_STREQ(argv[0], "one");
    UT_STREQ(argv[1], "two words");
    UT_STREQ(argv[2], "three");
    UT_STREQ(argv[3], "");
    UT_STREQ(argv[4], "xy zw");
    UT_EQ(argv[5], NULL);
    char empty[] = "   ";
    UT_EQ(SplitCommandLine(empty, argv, 8), 0);
}

/* This very process was started by utest_main as `utest_libc utest.one=NAME`. */
UTEST(libc, own_argv_and_command_line)
{
    char want[128];
    snprintf(want, sizeof(want), "utest_libc utest.one=%s", UtCurrentTest());
    UT_STREQ(GetCommandLine(), want);
    UT_STREQ(__progname, "utest_libc");
}

UTEST(libc, malloc_free)
{
    enum { N = 200 };
    static uint8_t *blocks[N];
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (i * 37) % 700;
        blocks[i] = malloc(size);
        UT_ASSERT_MSG(blocks[i] != NULL, "malloc(%zu) returned NULL (NtAllocateVirtualMemory failing?)", size);
        UT_EQ((uintptr_t)blocks[i] & 15, 0);
        memset(blocks[i], i, size);
    }
    for (int i = 0; i < N; i++) {
        size_t size = 1 + (i * 37) % 700;
        for (size_t j = 0; j < size; j++)
            UT_ASSERT_MSG(blocks[i][j] == (uint8_t)i, "block %d byte %zu was overwritten", i, j);
    }
    UT_EQ(malloc_check(), 0);
    for (int i = 0; i < N; i += 2)
        free(blocks[i]);
    UT_EQ(malloc_check(), 0);
    for (int i = 1; i < N; i += 2)
        free(blocks[i]);
    UT_EQ(malloc_check(), 0);
    MALLOC_STATS st;
    malloc_stats(&st);
    UT_EQ(st.in_use, 0);
    UT_EQ(st.free_blocks, 1);   /* everything merged back together */
    /* The space is reused, not grown. */
    size_t committed = st.committed;
    void *p = malloc(1000);
    UT_NE(p, NULL);
    malloc_stats(&st);
    UT_EQ(st.committed, committed);
    free(p);
}

UTEST(libc, calloc_realloc)
{
    uint8_t *p = malloc(64);
    UT_NE(p, NULL);
    memset(p, 0xEE, 64);
    free(p);
    uint32_t *z = calloc(16, sizeof(uint32_t));   /* likely the same block: must be zeroed again */
    UT_NE(z, NULL);
    for (int i = 0; i < 16; i++)
        UT_EQ(z[i], 0);
    for (int i = 0; i < 16; i++)
        z[i] = i * 3;
    z = realloc(z, 4096 * sizeof(uint32_t));
    UT_NE(z, NULL);
    for (int i = 0; i < 16; i++)
        UT_EQ(z[i], i * 3);
    UT_EQ(calloc((size_t)1 << 62, 8), NULL);   /* overflow is refused, not wrapped */
    free(z);
    UT_EQ(malloc_check(), 0);
}

UTEST(libc, big_blocks_have_their_own_region)
{
    size_t size = 1 << 20;
    uint8_t *p = malloc(size);
    UT_ASSERT_MSG(p != NULL, "malloc(1 MiB) returned NULL");
    for (size_t i = 0; i < size; i += PAGE_SIZE)
        UT_EQ(p[i], 0);   /* fresh demand-zero pages */
    memset(p, 0x77, size);
    MEMORY_BASIC_INFORMATION_T mbi;
    size_t len = 0;
    UT_SUCCESS(NtQueryVirtualMemory(NtCurrentProcess(), p, MemoryBasicInformation, &mbi, sizeof(mbi), &len));
    UT_EQ(mbi.State, MEM_COMMIT);
    UT_EQ(mbi.Protect, PAGE_READWRITE);
    uint64_t region = mbi.AllocationBase;
    free(p);
    UT_SUCCESS(NtQueryVirtualMemory(NtCurrentProcess(), (void *)region, MemoryBasicInformation, &mbi, sizeof(mbi),
                                    &len));
    UT_ASSERT_MSG(mbi.State == MEM_FREE, "free() of a big block released its region: state 0x%x, expected MEM_FREE",
                  mbi.State);
}

UTEST(libc, heap_grows_past_one_arena)
{
    /* 300 blocks of 240 KiB (small blocks, from the arena): 72 MiB, more than
     * one 64 MiB reservation. Only two pages of each are touched. */
    enum { N = 300, SIZE = 240 << 10 };
    static uint8_t *blocks[N];
    for (int i = 0; i < N; i++) {
        blocks[i] = malloc(SIZE);
        UT_ASSERT_MSG(blocks[i] != NULL, "malloc(240 KiB) number %d returned NULL", i);
        blocks[i][0] = (uint8_t)i;
        blocks[i][SIZE - 1] = (uint8_t)i;
    }
    MALLOC_STATS st;
    malloc_stats(&st);
    UT_GE(st.arenas, 2);
    for (int i = 0; i < N; i++) {
        UT_EQ(blocks[i][0], (uint8_t)i);
        UT_EQ(blocks[i][SIZE - 1], (uint8_t)i);
        free(blocks[i]);
    }
    UT_EQ(malloc_check(), 0);
}

int main(int argc, char **argv)
{
    return utest_main(argc, argv);
}
