/* Command-line parsing: words, values, quotes, errors, the live options. */
#include "kernel/mdlos.h"
#include "kernel/ktest/kt_internal.h"

KTEST(cmdline, words_and_values)
{
    static KI_OPTIONS o;
    KT_EQ(KiParseCommandLine("  ktest=mm.*   verifier=1 quiet\tx=", &o), 4);
    KT_STREQ(o.opt[0].name, "ktest");
    KT_STREQ(o.opt[0].value, "mm.*");
    KT_STREQ(KiFindOption(&o, "verifier"), "1");
    KT_STREQ(KiFindOption(&o, "quiet"), "");      /* a bare flag has an empty value */
    KT_STREQ(KiFindOption(&o, "x"), "");
    KT_ASSERT(KiFindOption(&o, "absent") == NULL);
    KT_ASSERT(KiFindOption(&o, "ktes") == NULL);  /* whole names only */
}

KTEST(cmdline, quotes_and_overrides)
{
    static KI_OPTIONS o;
    KT_EQ(KiParseCommandLine("msg=\"two words\" a=1 a=2", &o), 3);
    KT_STREQ(KiFindOption(&o, "msg"), "two words");
    KT_STREQ(KiFindOption(&o, "a"), "2");         /* the last one wins */
    KT_EQ(KiParseCommandLine("", &o), 0);
    KT_EQ(KiParseCommandLine("   ", &o), 0);
}

KTEST(cmdline, malformed_is_rejected)
{
    static KI_OPTIONS o;
    KT_EQ(KiParseCommandLine("msg=\"unterminated", &o), 0);
    KT_EQ(o.rejected, 1);
    KT_EQ(KiParseCommandLine("=value", &o), 0);
    KT_EQ(o.rejected, 1);
    static char longname[64];
    memset(longname, 'n', 40);
    longname[40] = 0;
    KT_EQ(KiParseCommandLine(longname, &o), 0);   /* names are at most 31 characters */
    KT_EQ(o.rejected, 1);
    static char many[KI_MAX_OPTIONS * 4 + 8];
    char *p = many;
    for (int i = 0; i <= KI_MAX_OPTIONS; i++) {
        *p++ = 'a';
        *p++ = ' ';
    }
    *p = 0;
    KT_EQ(KiParseCommandLine(many, &o), KI_MAX_OPTIONS);   /* one more than fits: that one is dropped */
    KT_EQ(o.rejected, 1);
}

/* One bad word costs only itself (issue 8, item 15): it used to drop the
 * whole line, verifier=1 and ktest= with it. */
KTEST(cmdline, bad_word_keeps_the_others)
{
    static KI_OPTIONS o;
    static char line[400];
    static char longvalue[300];
    memset(longvalue, 'v', 280);
    ksnprintf(line, sizeof(line), "verifier=1 =x a=%s ktest=mm.* b=\"open", longvalue);
    KT_EQ(KiParseCommandLine(line, &o), 2);
    KT_EQ(o.rejected, 3);                          /* "=x", the long value, the open quote */
    KT_STREQ(KiFindOption(&o, "verifier"), "1");
    KT_STREQ(KiFindOption(&o, "ktest"), "mm.*");
    KT_ASSERT(KiFindOption(&o, "a") == NULL);
    KT_ASSERT(KiFindOption(&o, "b") == NULL);
    /* A bad word ends at the next blank: the word after it is whole. */
    KT_EQ(KiParseCommandLine("x=\"a\"junk verifier=1", &o), 1);
    KT_STREQ(KiFindOption(&o, "verifier"), "1");
}

/* Unknown options and values an option cannot take are reported and
 * dropped too - `verifier=garbage` was silently "off". */
KTEST(cmdline, unknown_options_and_bad_values_are_dropped)
{
    static KI_OPTIONS o;
    KT_EQ(KiParseCommandLine("verifier=garbage ktest=x.* verifer=1 test.mem_mib=12z gdbcheck=off "
                             "ktest.expect test.mem_mib=0x100", &o), 7);
    KiCheckOptions(&o);
    KT_EQ(o.rejected, 3);                          /* verifier=garbage, verifer (a typo), 12z */
    KT_EQ(o.count, 4);
    KT_ASSERT(KiFindOption(&o, "verifier") == NULL);
    KT_ASSERT(KiFindOption(&o, "verifer") == NULL);
    KT_STREQ(KiFindOption(&o, "ktest"), "x.*");
    KT_STREQ(KiFindOption(&o, "gdbcheck"), "off");
    KT_STREQ(KiFindOption(&o, "ktest.expect"), "");
    KT_STREQ(KiFindOption(&o, "test.mem_mib"), "0x100");
}

KTEST(cmdline, live_options_from_grub)
{
    /* This very run was started with ktest=...; GRUB passed it in the
     * multiboot2 command-line tag. */
    const char *pattern = KeGetOption("ktest");
    KT_ASSERT(pattern != NULL);
    KT_ASSERT(strlen(KiBootInfo.cmdline) > 0);
    char want[300];
    ksnprintf(want, sizeof(want), "ktest=%s", pattern);
    bool found = false;
    for (const char *c = KiBootInfo.cmdline; *c && !found; c++)
        found = strncmp(c, want, strlen(want)) == 0 && (c == KiBootInfo.cmdline || c[-1] == ' ');
    KT_ASSERT(found);
    KT_ASSERT(KeOptionEnabled("ktest.no-such-option") == FALSE);
}

KTEST(cmdline, glob_and_numbers)
{
    KT_ASSERT(RtlGlobMatch("*", "kprintf.pointers"));
    KT_ASSERT(RtlGlobMatch("kprintf.*", "kprintf.pointers"));
    KT_ASSERT(!RtlGlobMatch("kprintf.*", "cmdline.x"));
    KT_ASSERT(RtlGlobMatch("*.p?inters", "kprintf.pointers"));
    KT_ASSERT(RtlGlobMatch("a*b*c", "aXXbYYbc"));
    KT_ASSERT(!RtlGlobMatch("a*b*c", "aXXbYYbd"));
    KT_ASSERT(RtlGlobMatch("", "") && !RtlGlobMatch("", "x"));
    ULONG64 v;
    KT_ASSERT(RtlParseUlong64("0xffffffff80100000", &v));
    KT_EQ(v, 0xFFFFFFFF80100000ULL);
    KT_ASSERT(RtlParseUlong64("256", &v));
    KT_EQ(v, 256);
    KT_ASSERT(!RtlParseUlong64("12z", &v));
    KT_ASSERT(!RtlParseUlong64("0x", &v));
    KT_ASSERT(!RtlParseUlong64("18446744073709551616", &v));   /* 2^64 overflows */
}
