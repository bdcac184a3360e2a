/* kprintf's formatter, through ksnprintf: every conversion, flag and size. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

#define CHECK_FMT(want, ...)                         \
    do {                                             \
        char buf_[128];                              \
        int n_ = ksnprintf(buf_, sizeof(buf_), __VA_ARGS__); \
        KT_STREQ(buf_, want);                        \
        KT_EQ(n_, strlen(want));                     \
    } while (0)

/* No format attribute here, so the compiler lets a deliberately odd
 * format through to the formatter. */
static int format_unchecked(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

KTEST(kprintf, signed_decimal)
{
    CHECK_FMT("0", "%d", 0);
    CHECK_FMT("-42 17", "%d %i", -42, 17);
    CHECK_FMT("-2147483648", "%d", (int)0x80000000);
    CHECK_FMT("-9223372036854775808", "%lld", (long long)0x8000000000000000ULL);
    CHECK_FMT("9223372036854775807", "%ld", 0x7FFFFFFFFFFFFFFFL);
    CHECK_FMT("+5 -5", "%+d %+d", 5, -5);
    CHECK_FMT(" 5", "% d", 5);
}

KTEST(kprintf, unsigned_and_hex)
{
    CHECK_FMT("4294967295", "%u", 0xFFFFFFFFu);
    CHECK_FMT("18446744073709551615", "%llu", ~0ULL);
    CHECK_FMT("deadbeef DEADBEEF", "%x %X", 0xDEADBEEFu, 0xDEADBEEFu);
    CHECK_FMT("0x1f 0X1F", "%#x %#X", 31, 31);
    CHECK_FMT("0", "%#x", 0);                 /* no prefix on zero (C rule) */
    CHECK_FMT("17 017", "%o %#o", 15, 15);
    CHECK_FMT("ffffffffffffffff", "%lx", ~0UL);
}

KTEST(kprintf, sizes)
{
    /* hh and h convert the promoted int back to char / short. */
    char buf[32];
    KT_EQ(format_unchecked(buf, sizeof(buf), "%hhd %hhu", 255, 255), 6);
    KT_STREQ(buf, "-1 255");
    KT_EQ(format_unchecked(buf, sizeof(buf), "%hd %hu", 65535, 65535), 8);
    KT_STREQ(buf, "-1 65535");
    CHECK_FMT("123456789012", "%zu", (size_t)123456789012ULL);
    CHECK_FMT("-3", "%zd", (long)-3);
    CHECK_FMT("1099511627776", "%lu", 1UL << 40);
}

KTEST(kprintf, width_and_padding)
{
    CHECK_FMT("   42", "%5d", 42);
    CHECK_FMT("42   |", "%-5d|", 42);
    CHECK_FMT("00042", "%05d", 42);
    CHECK_FMT("-0042", "%05d", -42);                      /* zeros go after the sign */
    CHECK_FMT("0x00ff", "%#06x", 255);                    /* and after the prefix */
    CHECK_FMT("   ab", "%*x", 5, 0xab);
    CHECK_FMT("ab   |", "%*x|", -5, 0xab);                /* negative * width: left */
    CHECK_FMT("  007", "%5.3d", 7);                       /* precision = minimum digits */
    CHECK_FMT("", "%.0d", 0);
    CHECK_FMT("12345", "%3d", 12345);                     /* width never truncates */
}

KTEST(kprintf, strings_chars_percent)
{
    CHECK_FMT("hello", "%s", "hello");
    CHECK_FMT("  hi|hi  |", "%4s|%-4s|", "hi", "hi");
    CHECK_FMT("hel", "%.3s", "hello");
    char nul[16];
    KT_EQ(format_unchecked(nul, sizeof(nul), "%s", (char *)NULL), 6);
    KT_STREQ(nul, "(null)");
    CHECK_FMT("x", "%c", 'x');
    CHECK_FMT("  x", "%3c", 'x');
    CHECK_FMT("100%", "100%%");
    /* An unknown conversion is shown, not guessed at. */
    char odd[16];
    KT_EQ(format_unchecked(odd, sizeof(odd), "<%q>"), 4);
    KT_STREQ(odd, "<%q>");
}

KTEST(kprintf, pointers)
{
    CHECK_FMT("0x0000000000000000", "%p", (void *)0);
    CHECK_FMT("0xffffffff80100000", "%p", (void *)0xFFFFFFFF80100000ULL);
    CHECK_FMT("0x00000000deadbeef", "%p", (void *)0xDEADBEEFULL);
}

KTEST(kprintf, snprintf_truncates_and_counts)
{
    char buf[8];
    memset(buf, 'Z', sizeof(buf));
    int n = ksnprintf(buf, sizeof(buf), "%s-%d", "abcdef", 12345);
    KT_EQ(n, 12);                       /* the length it would have had */
    KT_STREQ(buf, "abcdef-");           /* cut to fit, always terminated */
    n = ksnprintf(buf, 1, "xyz");
    KT_EQ(n, 3);
    KT_EQ(buf[0], 0);
    buf[0] = 'Q';
    n = ksnprintf(buf, 0, "xyz");       /* size 0 writes nothing at all */
    KT_EQ(n, 3);
    KT_EQ(buf[0], 'Q');
}

KBENCH(kprintf, format)
{
    char buf[128];
    enum { N = 2000 };
    uint64_t t0 = rdtsc();
    for (int i = 0; i < N; i++)
        ksnprintf(buf, sizeof(buf), "%s %d %#llx %p", "bench", i, (unsigned long long)i * 0x1234567, buf);
    uint64_t t1 = rdtsc();
    KtBenchReport("cycles_per_call", (t1 - t0) / N, "cycles");
}
