/* lxb_disk.c: `lxbench disk DEVICE`, O_DIRECT throughput and per-request
 * latency on a virtio-blk disk, what issue 11 item 7 compares with Linux:
 * 4 KiB, 128 KiB and 1 MiB requests, sequential, writes then reads of the
 * same region (so every read finds blocks the host file system has
 * allocated, not a sparse image's holes),
 *   qd1   pread/pwrite on an O_DIRECT descriptor: one request in flight;
 *   qd32  Linux AIO (io_setup/io_submit/io_getevents, bare system calls,
 *         no libaio): 32 requests in flight, each completion refilled.
 * Per repetition: MiB/s (MiB = 2^20 bytes, over the whole batch) and the
 * median request latency in microseconds (submission to completion). */
#define _GNU_SOURCE   /* O_DIRECT */
#include "lxb.h"

#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum { REPS = 5, WARM = 1, QD = 32, MAXREQ = 4096 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int fd;
static char *buf;
static uint64_t disk_bytes;
static double lat[MAXREQ];

/* Offset of request I of SIZE bytes: sequential, wrapping inside the disk. */
static uint64_t offset_of(int i, size_t size)
{
    uint64_t span = disk_bytes / size * size;
    return (uint64_t)i * size % span;
}

/* COUNT requests of SIZE bytes, one at a time. Returns MiB/s and sets
 * *lat_us to the median latency. */
static double run_qd1(int write, size_t size, int count, double *lat_us)
{
    uint64_t start = lxb_rdtsc();
    for (int i = 0; i < count; i++) {
        uint64_t t0 = lxb_rdtsc();
        ssize_t n = write ? pwrite(fd, buf, size, (off_t)offset_of(i, size))
                          : pread(fd, buf, size, (off_t)offset_of(i, size));
        if (n != (ssize_t)size)
            lxb_die(write ? "pwrite" : "pread");
        lat[i] = lxb_cycles_to_ns(lxb_rdtsc() - t0) / 1000;
    }
    double ns = lxb_cycles_to_ns(lxb_rdtsc() - start);
    *lat_us = median(lat, count);
    return (double)size * count / (1 << 20) / (ns / 1e9);
}

static double run_qd32(int write, size_t size, int count, double *lat_us)
{
    aio_context_t ctx = 0;
    if (syscall(__NR_io_setup, QD, &ctx) != 0)
        lxb_die("io_setup");
    struct iocb cb[QD], *list[QD];
    uint64_t sent_at[QD];
    struct io_event ev[QD];
    int next = 0, done = 0, lats = 0;

    /* Request slot S always uses buffer S (its own SIZE bytes). */
    uint64_t start = lxb_rdtsc();
    int n = 0;
    for (int s = 0; s < QD && next < count; s++, next++) {
        memset(&cb[s], 0, sizeof(cb[s]));
        cb[s].aio_fildes = (uint32_t)fd;
        cb[s].aio_lio_opcode = write ? IOCB_CMD_PWRITE : IOCB_CMD_PREAD;
        cb[s].aio_buf = (uint64_t)(uintptr_t)(buf + (size_t)s * size);
        cb[s].aio_nbytes = size;
        cb[s].aio_offset = (int64_t)offset_of(next, size);
        cb[s].aio_data = (uint64_t)s;
        list[n++] = &cb[s];
        sent_at[s] = lxb_rdtsc();
    }
    if (syscall(__NR_io_submit, ctx, (long)n, list) != n)
        lxb_die("io_submit");
    while (done < count) {
        long got = syscall(__NR_io_getevents, ctx, 1L, (long)QD, ev, NULL);
        if (got < 1)
            lxb_die("io_getevents");
        uint64_t now = lxb_rdtsc();
        n = 0;
        for (long e = 0; e < got; e++) {
            int s = (int)ev[e].data;
            if (ev[e].res != (int64_t)size)
                lxb_die(write ? "aio write" : "aio read");
            if (lats < MAXREQ)
                lat[lats++] = lxb_cycles_to_ns(now - sent_at[s]) / 1000;
            done++;
            if (next < count) {
                cb[s].aio_offset = (int64_t)offset_of(next++, size);
                list[n++] = &cb[s];
            }
        }
        if (n) {
            uint64_t t = lxb_rdtsc();
            for (int k = 0; k < n; k++)
                sent_at[list[k]->aio_data] = t;
            if (syscall(__NR_io_submit, ctx, (long)n, list) != n)
                lxb_die("io_submit");
        }
    }
    double ns = lxb_cycles_to_ns(lxb_rdtsc() - start);
    syscall(__NR_io_destroy, ctx);
    *lat_us = median(lat, lats);
    return (double)size * count / (1 << 20) / (ns / 1e9);
}

/* The disk's counters (/sys/block/NAME/stat): requests completed and
 * requests merged into others, reads [0] and writes [1]. Linux's block
 * layer merges sequential requests queued together (io_submit plugs the
 * queue for its batch): the counts say how many reached the device. */
static const char *stat_path;
static void disk_stat(unsigned long long ios[2], unsigned long long merges[2])
{
    unsigned long long v[8] = { 0 };
    FILE *f = stat_path ? fopen(stat_path, "r") : NULL;
    if (f) {
        if (fscanf(f, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                   &v[7]) != 8)
            memset(v, 0, sizeof(v));
        fclose(f);
    }
    ios[0] = v[0], merges[0] = v[1], ios[1] = v[4], merges[1] = v[5];
}

int lxb_disk_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lxbench disk DEVICE\n");
        return 2;
    }
    fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0)
        lxb_die("open O_DIRECT");
    if (ioctl(fd, BLKGETSIZE64, &disk_bytes) != 0)
        lxb_die("BLKGETSIZE64");
    printf("lx: info disk %s %llu bytes\n", argv[1], (unsigned long long)disk_bytes);
    static char path[128];
    const char *base = strrchr(argv[1], '/');
    snprintf(path, sizeof(path), "/sys/block/%s/stat", base ? base + 1 : argv[1]);
    stat_path = path;
    const size_t bufsize = (size_t)QD << 20;
    if (posix_memalign((void **)&buf, 4096, bufsize) != 0)
        lxb_die("posix_memalign");
    memset(buf, 0x5a, bufsize);   /* resident, and not zeros */

    static const struct { size_t size; const char *name; int qd1, qd32; } sizes[] = {
        /* Request counts: about a second of work each under TCG. */
        { 4096, "4k", 1024, 4096 },
        { 128 << 10, "128k", 256, 512 },
        { 1 << 20, "1m", 64, 128 },
    };
    for (unsigned k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        for (int qd = 1; qd <= QD; qd += QD - 1) {
            for (int write = 1; write >= 0; write--) {
                double mibs[REPS], lus[REPS];
                int count = qd == 1 ? sizes[k].qd1 : sizes[k].qd32;
                unsigned long long ios0[2], mg0[2], ios1[2], mg1[2];
                disk_stat(ios0, mg0);
                for (int r = -WARM; r < REPS; r++) {
                    double l, m = qd == 1 ? run_qd1(write, sizes[k].size, count, &l)
                                          : run_qd32(write, sizes[k].size, count, &l);
                    if (r >= 0) {
                        mibs[r] = m;
                        lus[r] = l;
                    }
                }
                char name[64];
                snprintf(name, sizeof(name), "disk.%s_%s_qd%d", write ? "write" : "read", sizes[k].name, qd);
                lxb_report(name, "MiB/s", mibs, REPS);
                disk_stat(ios1, mg1);
                printf("lx: info %s: %d requests sent, %llu reached the device, %llu merged\n", name,
                       count * (REPS + WARM), ios1[write] - ios0[write], mg1[write] - mg0[write]);
                snprintf(name, sizeof(name), "disk.%s_%s_qd%d_latency", write ? "write" : "read", sizes[k].name, qd);
                lxb_report(name, "us", lus, REPS);
            }
        }
    }
    close(fd);
    return 0;
}
