/* hostdisk.c: the host's own O_DIRECT throughput on a raw image, at the
 * sizes and depths `make bench` and `make linux-bench` measure a guest at
 * (scripts/compare.py runs it beside them): what QEMU can at best get from
 * the file system the images live on.
 *
 * It does what QEMU's default disk back end does with a guest's requests
 * (-drive cache=none, aio=threads): each request is one pread/pwrite on an
 * O_DIRECT descriptor, run by a worker thread of a pool. Depth 1 is one
 * thread, depth 32 is 32 threads each taking the next request. The buffers
 * are 2 MiB aligned and advised MADV_HUGEPAGE, as QEMU advises the guest's
 * RAM, because the host kernel pins a buffer's pages for every O_DIRECT
 * request and huge pages make that cheaper (1.0-1.4 against 2.1-3.3 GB/s
 * for 1 MiB reads on this machine, measured when this was written).
 *
 * Request counts, sequence and wrap-around are lxbench's
 * (scripts/linux/src/lxb_disk.c): one untimed run, then five, the median
 * printed as `bench: host.disk.DIR_SIZE_qdN MEDIAN MiB/s (min .., max ..)`.
 * Usage: hostdisk IMAGE (its whole length is the span; it is overwritten). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { REPS = 5, WARM = 1, QD = 32 };

static int fd;
static uint64_t span;
static size_t size;
static int writing, count, next;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *bufs[QD];

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    char *buf = arg;
    for (;;) {
        pthread_mutex_lock(&lock);
        int i = next < count ? next++ : -1;
        pthread_mutex_unlock(&lock);
        if (i < 0)
            return NULL;
        off_t off = (off_t)((uint64_t)i * size % (span / size * size));
        ssize_t n = writing ? pwrite(fd, buf, size, off) : pread(fd, buf, size, off);
        if (n != (ssize_t)size) {
            perror(writing ? "hostdisk: pwrite" : "hostdisk: pread");
            exit(1);
        }
    }
}

/* One run: COUNT requests by THREADS workers; MiB/s. */
static double run(int threads)
{
    pthread_t t[QD];
    next = 0;
    double t0 = now();
    for (int k = 0; k < threads; k++)
        if (pthread_create(&t[k], NULL, worker, bufs[k]) != 0) {
            perror("hostdisk: pthread_create");
            exit(1);
        }
    for (int k = 0; k < threads; k++)
        pthread_join(t[k], NULL);
    return (double)size * count / (1 << 20) / (now() - t0);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    struct stat st;
    if (argc != 2 || (fd = open(argv[1], O_RDWR | O_DIRECT)) < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "usage: hostdisk IMAGE (a raw image on a file system that takes O_DIRECT)\n");
        return 2;
    }
    span = (uint64_t)st.st_size;
    for (int k = 0; k < QD; k++) {
        size_t len = 2u << 20;
        if (posix_memalign((void **)&bufs[k], len, len) != 0) {
            perror("hostdisk: posix_memalign");
            return 1;
        }
        madvise(bufs[k], len, MADV_HUGEPAGE);
        memset(bufs[k], 0x5a, len);   /* resident, and not zeros */
    }
    static const struct { size_t size; const char *name; int qd1, qd32; } sizes[] = {
        { 4096, "4k", 1024, 4096 },
        { 128 << 10, "128k", 256, 512 },
        { 1 << 20, "1m", 64, 128 },
    };
    for (unsigned s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
        for (int qd = 1; qd <= QD; qd += QD - 1)
            for (writing = 1; writing >= 0; writing--) {
                double v[REPS];
                size = sizes[s].size;
                count = qd == 1 ? sizes[s].qd1 : sizes[s].qd32;
                for (int r = -WARM; r < REPS; r++) {
                    double m = run(qd);
                    if (r >= 0)
                        v[r] = m;
                }
                qsort(v, REPS, sizeof(v[0]), cmp);
                printf("bench: host.disk.%s_%s_qd%d %.1f MiB/s (min %.1f, max %.1f)\n", writing ? "write" : "read",
                       sizes[s].name, qd, v[REPS / 2], v[0], v[REPS - 1]);
                fflush(stdout);
            }
    close(fd);
    return 0;
}
