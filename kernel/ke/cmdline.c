/*
 * The boot command line (from grub.cfg's multiboot2 line) as options:
 *   ktest=mm.*   verifier=1   quiet   name="a value with spaces"
 * Words are separated by spaces; a value may be double-quoted.
 *
 * One bad word costs only itself: a word that cannot be parsed (an
 * unterminated quote, a name or value too long, no name), an option the
 * kernel does not know, or a value its option cannot take is reported on
 * the console, by name, and skipped; every other option still counts.
 * (Dropping the whole line for one typo silently lost `verifier=1` too.)
 */
#include "kernel/ke/ki.h"

static KI_OPTIONS options;

static void reject(KI_OPTIONS *out, const char *word, size_t len, const char *why)
{
    out->rejected++;
    kprintf("cmdline: ignoring \"%.*s\": %s\n", (int)(len > 80 ? 80 : len), word, why);
}

/* Parses one word at P into O; returns NULL when it is good, else why not.
 * *END is where the word ends (for a bad one too), so parsing goes on. */
static const char *parse_word(const char *p, KI_OPTION *o, const char **end)
{
    const char *why = NULL;
    size_t n = 0;
    while (*p && *p != '=' && *p != ' ' && *p != '\t') {
        if (n + 1 < sizeof(o->name))
            o->name[n] = *p;
        else
            why = "the name is longer than 31 characters";
        n++, p++;
    }
    o->name[n < sizeof(o->name) ? n : sizeof(o->name) - 1] = 0;
    if (n == 0 && !why)
        why = "no option name before '='";
    n = 0;
    if (*p == '=') {
        p++;
        bool quoted = *p == '"';
        if (quoted)
            p++;
        while (*p && (quoted ? *p != '"' : (*p != ' ' && *p != '\t'))) {
            if (n + 1 < sizeof(o->value))
                o->value[n] = *p;
            else if (!why)
                why = "the value is longer than 255 characters";
            n++, p++;
        }
        if (quoted) {
            if (*p == '"') {
                p++;
                if (*p && *p != ' ' && *p != '\t' && !why)
                    why = "text right after the closing quote";
            } else if (!why) {
                why = "the quote is not closed";
            }
        }
    }
    o->value[n < sizeof(o->value) ? n : sizeof(o->value) - 1] = 0;
    /* A bad word still ends at the next blank (an unclosed quote runs to
     * the end of the line: there is no telling where it meant to stop). */
    while (*p && *p != ' ' && *p != '\t')
        p++;
    *end = p;
    return why;
}

int KiParseCommandLine(const char *p, KI_OPTIONS *out)
{
    out->count = 0;
    out->rejected = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return out->count;
        const char *start = p;
        KI_OPTION scratch, *o = out->count < KI_MAX_OPTIONS ? &out->opt[out->count] : &scratch;
        const char *why = parse_word(p, o, &p);
        if (!why && o == &scratch)
            why = "more than 32 options";
        if (why)
            reject(out, start, (size_t)(p - start), why);
        else
            out->count++;
    }
}

/* ---- the options the kernel knows, and what each may be set to ---- */

enum option_kind { OPT_TEXT, OPT_FLAG, OPT_NUMBER };
static const struct {
    const char *name;
    enum option_kind kind;
} known_options[] = {
    { "ktest", OPT_TEXT },          /* run the kernel tests matching these globs (kernel/ktest/ktest.c) */
    { "ktest.expect", OPT_FLAG },   /* a bugcheck test's own boot: print EXPECT lines */
    { "ktest.after", OPT_TEXT },    /* resume a run after this (crashed) test */
    { "ktest.limit", OPT_NUMBER },  /* seconds one test may run (graded boots) */
    { "ktest.limit_ms", OPT_NUMBER },  /* the same in milliseconds (wins over ktest.limit) */
    { "ktest.shard", OPT_TEXT },    /* I/N: run the I-th of N parts (RtlTestInShard) */
    { "ktest.then_init", OPT_FLAG },   /* after the tests, start init (utest=) instead of leaving QEMU */
    { "fuzz.n", OPT_NUMBER },       /* `make fuzz N=`: the fuzzer's calls (kernel/ps/tests/fuzz_test.c) */
    { "fuzz.seed", OPT_TEXT },      /* `make fuzz SEED=` */
    { "fuzz.trace", OPT_NUMBER },   /* `make fuzz TRACE=` */
    { "fuzz.huge", OPT_FLAG },      /* `make fuzz HUGE=0` */
    { "bench", OPT_TEXT },          /* run the kernel benchmarks matching these globs */
    { "bench.runs", OPT_NUMBER },   /* timed runs of each after its warm-up (default 5) */
    { "utest", OPT_TEXT },          /* init runs the user-mode tests matching these globs */
    { "utest.shard", OPT_TEXT },    /* I/N: of those, the I-th of N parts */
    { "ubench", OPT_TEXT },         /* run the user-mode benchmark instead of init */
    { "prof", OPT_NUMBER },         /* sample the kernel at this rate from the boot on (kernel/ke/profile.c) */
    { "kd", OPT_FLAG },             /* no init: the kd> shell right after the tests (make run CMDLINE=kd) */
    { "verifier", OPT_FLAG },       /* the MDL and pool verifier (mm/mdlverify.c) */
    { "zeropages", OPT_NUMBER },    /* frames the zero-page thread keeps zeroed; 0: no thread (mm/zeropage.c) */
    { "gdbcheck", OPT_FLAG },       /* the GDB driver's boot (scripts/ktest.py) */
    { "ktest.serve", OPT_FLAG },    /* after the boot, run the test named on the serial line (kernel/init) */
    { "boot.phases", OPT_FLAG },    /* print the boot's phases in TSC cycles (kernel/ke/bootphase.c) */
    { "test.mem_mib", OPT_NUMBER }, /* the RAM the runner gave QEMU, checked by boot.memory_* */
    { "ramdisk", OPT_NUMBER },      /* \Device\RamDisk0's size in MiB, 1..32 (default from the RAM: drivers/ramdisk/rdsize.c) */
    { "vblk.intx", OPT_FLAG },      /* virtio-blk skips MSI-X and uses INTx (drivers/virtio) */
    { "vblk.noindirect", OPT_FLAG }, /* virtio-blk does not take VIRTIO_F_INDIRECT_DESC (drivers/virtio) */
    { "vblk.nodefer", OPT_FLAG },   /* virtio-blk notifies for every request, even while the device is busy */
    { "vblk.nomerge", OPT_FLAG },   /* virtio-blk sends a plugged batch's adjacent requests one by one */
    { "vblk.piece_pages", OPT_NUMBER }, /* virtio-blk: at most this many pages' bytes per sub-request (benchmarks) */
    { "vblk.merge_pages", OPT_NUMBER }, /* virtio-blk: at most this many pages' bytes per merged request */
    { "test.disk_sectors", OPT_TEXT }, /* A,B: the disk images' sizes, checked by pci.virtio_blk_capacity_* */
    { "pagefile", OPT_TEXT },       /* a disk to page to: Harddisk1 or /Device/Harddisk1/DR0 (mm/pagefile.c) */
    { "pagefile.offset_mib", OPT_NUMBER }, /* where on that disk the paging file starts */
    { "pagefile.mib", OPT_NUMBER }, /* its size (default: to the disk's end) */
    { "io.cancel_wait_ms", OPT_NUMBER }, /* how long exit and NtCancelIoFile wait for cancelled IRPs (io/cancel.c) */
};

/* A flag's values: nothing ("quiet", "verifier="), or a yes or a no. */
static int flag_value(const char *v)
{
    if (v[0] == 0 || strcmp(v, "1") == 0 || strcmp(v, "on") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "true") == 0)
        return 1;
    if (strcmp(v, "0") == 0 || strcmp(v, "off") == 0 || strcmp(v, "no") == 0 || strcmp(v, "false") == 0)
        return 0;
    return -1;
}

static const char *check_option(const KI_OPTION *o)
{
    for (size_t i = 0; i < ARRAYSIZE(known_options); i++) {
        if (strcmp(known_options[i].name, o->name) != 0)
            continue;
        ULONG64 n;
        if (known_options[i].kind == OPT_FLAG && flag_value(o->value) < 0)
            return "not a flag value (1/0, on/off, yes/no, true/false, or none)";
        if (known_options[i].kind == OPT_NUMBER && !RtlParseUlong64(o->value, &n))
            return "not a number";
        return NULL;
    }
    return "no such option";
}

void KiCheckOptions(KI_OPTIONS *opts)
{
    int kept = 0;
    for (int i = 0; i < opts->count; i++) {
        const KI_OPTION *o = &opts->opt[i];
        const char *why = check_option(o);
        if (why) {
            char word[300];
            int len = ksnprintf(word, sizeof(word), o->value[0] ? "%s=%s" : "%s", o->name, o->value);
            reject(opts, word, (size_t)len, why);
            continue;
        }
        if (kept != i)
            opts->opt[kept] = *o;
        kept++;
    }
    opts->count = kept;
}

const char *KiFindOption(const KI_OPTIONS *opts, const char *name)
{
    /* The last one wins, so a later word can override an earlier one. */
    for (int i = opts->count - 1; i >= 0; i--)
        if (strcmp(opts->opt[i].name, name) == 0)
            return opts->opt[i].value;
    return NULL;
}

void KiInitCommandLine(const char *line)
{
    KiParseCommandLine(line, &options);
    KiCheckOptions(&options);
}

const char *KeGetOption(const char *name)
{
    return KiFindOption(&options, name);
}

BOOLEAN KeOptionEnabled(const char *name)
{
    const char *v = KeGetOption(name);
    return v && flag_value(v) == 1;
}
