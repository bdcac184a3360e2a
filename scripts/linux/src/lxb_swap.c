/* lxb_swap.c: `lxbench swap MIB`, issue 12 item 7's workload on Linux: a
 * machine with less RAM than MIB (init.sh has made a swap device on the
 * second virtio disk) writes a checksummed pattern over MIB of anonymous
 * memory and reads every byte back, sequentially and in random order:
 *   seq_write     fill every page (seed 1), in address order
 *   seq_verify    check every page, in address order
 *   rand_rewrite  in a random order: check each page, refill it (seed 2)
 *   rand_verify   in another random order: check each page (seed 2)
 * Per phase and in all: seconds, and from /proc/vmstat the pages swapped
 * in and out (pswpin, pswpout) and the major faults (pgmajfault).
 * Hard-fault latency: in the two random phases, the first touch of each
 * page is timed, and getrusage says whether that touch was a major fault
 * (a read from the swap device; a page that readahead brought into the
 * swap cache is a minor fault, not counted). */
#include "lxb.h"

#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

enum { PAGE = 4096, WORDS = PAGE / 8 };

static uint64_t mix(uint64_t x)   /* splitmix64's finaliser */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Word J of page I for SEED: a per-page value from the hash, then a cheap
 * step per word, so a page that came back wrong, from the wrong slot or
 * half-written, cannot pass, and filling 128 MiB costs little CPU. */
static inline uint64_t word(uint64_t seed, uint64_t i, uint64_t j, uint64_t base)
{
    (void)seed;
    (void)i;
    return base + j * 0x9e3779b97f4a7c15ull;
}

static void fill(uint64_t *pg, uint64_t seed, uint64_t i)
{
    uint64_t base = mix(seed << 40 ^ i);
    for (uint64_t j = 0; j < WORDS; j++)
        pg[j] = word(seed, i, j, base);
}

static int check(const uint64_t *pg, uint64_t seed, uint64_t i)
{
    uint64_t base = mix(seed << 40 ^ i), bad = 0;
    for (uint64_t j = 0; j < WORDS; j++)
        bad |= pg[j] ^ word(seed, i, j, base);
    return bad != 0;
}

struct vm { uint64_t pswpin, pswpout, pgmajfault; };

static struct vm vmstat(void)
{
    struct vm v = { 0, 0, 0 };
    FILE *f = fopen("/proc/vmstat", "r");
    if (!f)
        lxb_die("/proc/vmstat");
    char key[64];
    unsigned long long val;
    while (fscanf(f, "%63s %llu", key, &val) == 2) {
        if (strcmp(key, "pswpin") == 0)
            v.pswpin = val;
        else if (strcmp(key, "pswpout") == 0)
            v.pswpout = val;
        else if (strcmp(key, "pgmajfault") == 0)
            v.pgmajfault = val;
    }
    fclose(f);
    return v;
}

static long majflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_majflt;
}

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void shuffle(uint32_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        v[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t k = (uint32_t)(next_rand() % (i + 1)), t = v[i];
        v[i] = v[k];
        v[k] = t;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double *hard;   /* latencies (us) of first touches that were major faults */
static uint32_t nhard;

/* A random phase: for each page in ORDER, time its first touch, check it
 * against OLD, and refill it with NEW if NEW is not 0. Returns bad pages. */
static uint32_t random_phase(char *mem, const uint32_t *order, uint32_t pages, uint64_t old, uint64_t new)
{
    uint32_t bad = 0;
    for (uint32_t k = 0; k < pages; k++) {
        uint64_t i = order[k];
        uint64_t *pg = (uint64_t *)(mem + i * PAGE);
        long m0 = majflt();
        uint64_t t0 = lxb_rdtsc();
        (void)*(volatile uint64_t *)pg;
        uint64_t c = lxb_rdtsc() - t0;
        if (majflt() != m0)
            hard[nhard++] = lxb_cycles_to_ns(c) / 1000;
        bad += (uint32_t)check(pg, old, i);
        if (new)
            fill(pg, new, i);
    }
    return bad;
}

int lxb_swap_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lxbench swap MIB\n");
        return 2;
    }
    uint32_t pages = (uint32_t)(strtoul(argv[1], NULL, 0) << 20 >> 12);
    size_t bytes = (size_t)pages * PAGE;
    char *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uint32_t *order = malloc(pages * sizeof(*order));
    hard = malloc(2 * (size_t)pages * sizeof(*hard));
    if (mem == MAP_FAILED || !order || !hard)
        lxb_die("allocating the workload");
    /* 4 KiB pages: swap-out splits a transparent huge page anyway, and
     * mdlos pages 4 KiB at a time. */
    madvise(mem, bytes, MADV_NOHUGEPAGE);

    static const char *const names[] = { "seq_write", "seq_verify", "rand_rewrite", "rand_verify" };
    double secs[4];
    struct vm v[5];
    uint32_t bad = 0;
    uint64_t t_all = lxb_rdtsc();
    for (int ph = 0; ph < 4; ph++) {
        v[ph] = vmstat();
        uint64_t t0 = lxb_rdtsc();
        switch (ph) {
        case 0:
            for (uint64_t i = 0; i < pages; i++)
                fill((uint64_t *)(mem + i * PAGE), 1, i);
            break;
        case 1:
            for (uint64_t i = 0; i < pages; i++)
                bad += (uint32_t)check((uint64_t *)(mem + i * PAGE), 1, i);
            break;
        case 2:
            shuffle(order, pages);
            bad += random_phase(mem, order, pages, 1, 2);
            break;
        case 3:
            shuffle(order, pages);
            bad += random_phase(mem, order, pages, 2, 0);
            break;
        }
        secs[ph] = lxb_cycles_to_ns(lxb_rdtsc() - t0) / 1e9;
    }
    double total = lxb_cycles_to_ns(lxb_rdtsc() - t_all) / 1e9;
    v[4] = vmstat();

    for (int ph = 0; ph < 4; ph++) {
        char name[64];
        double x;
        snprintf(name, sizeof(name), "swap.%s_seconds", names[ph]);
        lxb_report(name, "s", &secs[ph], 1);
        printf("lx: info swap.%s pswpin %llu pswpout %llu pgmajfault %llu\n", names[ph],
               (unsigned long long)(v[ph + 1].pswpin - v[ph].pswpin),
               (unsigned long long)(v[ph + 1].pswpout - v[ph].pswpout),
               (unsigned long long)(v[ph + 1].pgmajfault - v[ph].pgmajfault));
        x = (double)(v[ph + 1].pgmajfault - v[ph].pgmajfault) / secs[ph];
        snprintf(name, sizeof(name), "swap.%s_major_faults_per_s", names[ph]);
        lxb_report(name, "1/s", &x, 1);
    }
    double x = total;
    lxb_report("swap.completion", "s", &x, 1);
    x = (double)(v[4].pgmajfault - v[0].pgmajfault) / total;
    lxb_report("swap.major_faults_per_s", "1/s", &x, 1);
    x = (double)(v[4].pswpin - v[0].pswpin) / total;
    lxb_report("swap.pswpin_per_s", "pages/s", &x, 1);
    x = (double)(v[4].pswpout - v[0].pswpout) / total;
    lxb_report("swap.pswpout_per_s", "pages/s", &x, 1);
    x = (double)(v[4].pswpout - v[0].pswpout) * PAGE / (1 << 20) / total;
    lxb_report("swap.out_mib_per_s", "MiB/s", &x, 1);
    if (nhard) {
        qsort(hard, nhard, sizeof(*hard), cmp_double);
        x = hard[nhard / 2];
        lxb_report("swap.hard_fault_latency", "us", &x, 1);
        printf("lx: info swap.hard_fault_latency n %u p10 %.1f p90 %.1f us\n", nhard,
               hard[nhard / 10], hard[nhard * 9 / 10]);
    }
    printf("lx: swap.bad_pages %u of %u\n", bad, pages);
    return bad != 0;
}
