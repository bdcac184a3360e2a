/* lxb_cpu.c: `lxbench cpu`, the figures issue 14 compares with Linux:
 *   null_syscall            getppid through a bare SYSCALL instruction
 *   null_syscall_enosys     an unused system call number (what mdlos's
 *                           ubench times: the shortest trip in and out)
 *   demand_zero_fault*      first touch of anonymous pages, per 4 KiB page,
 *                           of frames reused from the last unmap and of
 *                           fresh ones
 *   pin_unpin_256           io_uring buffer registration (pin_user_pages,
 *                           FOLL_LONGTERM) + unregistration, per page
 *   mlock_munlock_256       the same 256 resident pages through mlock/munlock
 * Times are TSC cycles converted with the calibrated rate; each figure is
 * REPS repetitions after WARM untimed ones, so TCG's first translation of
 * a code path is never what is measured. */
#include "lxb.h"

#include <linux/io_uring.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* Many short repetitions rather than a few long ones: on a shared host the
 * vCPU thread is descheduled now and then, and a short repetition often
 * runs whole between two such gaps, so the minimum and median stay close
 * to the uncontended cost while the maximum shows the noise. */
enum { REPS = 31, WARM = 3, CALLS = 2000, PAGES = 256, PAGE = 4096 };

static inline long bare_syscall0(long nr)
{
    long r;
    /* The instruction itself, not glibc's wrapper: no errno handling, no
     * vDSO, nothing but the kernel's entry and exit. */
    __asm__ volatile("syscall" : "=a"(r) : "a"(nr) : "rcx", "r11", "memory");
    return r;
}

static void null_syscalls(void)
{
    static const struct { const char *name; long nr; } calls[] = {
        { "null_syscall", SYS_getppid },
        { "null_syscall_enosys", 9999 },
    };
    for (unsigned k = 0; k < sizeof(calls) / sizeof(calls[0]); k++) {
        double ns[REPS], cy[REPS];
        for (int r = -WARM; r < REPS; r++) {
            uint64_t t0 = lxb_rdtsc();
            for (int i = 0; i < CALLS; i++)
                bare_syscall0(calls[k].nr);
            uint64_t c = lxb_rdtsc() - t0;
            if (r >= 0) {
                cy[r] = (double)c / CALLS;
                ns[r] = lxb_cycles_to_ns(c) / CALLS;
            }
        }
        char name[64];
        lxb_report(calls[k].name, "ns", ns, REPS);
        snprintf(name, sizeof(name), "%s.cycles", calls[k].name);
        lxb_report(name, "cycles", cy, REPS);
    }
}

static char *map_anon(size_t bytes, int advice)
{
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        lxb_die("mmap");
    /* 4 KiB pages, as mdlos has. (Linux itself turns transparent huge
     * pages off on a machine with less than 512 MiB, as this one is; the
     * advice makes that explicit.) */
    if (madvise(p, bytes, advice) != 0)
        lxb_die("madvise");
    return p;
}

/* Touch (write) each page of P once: one demand-zero fault per page.
 * Returns the TSC cycles the loop took. */
static uint64_t touch_pages(char *p, int pages)
{
    uint64_t t0 = lxb_rdtsc();
    for (int i = 0; i < pages; i++)
        ((volatile char *)p)[(size_t)i * PAGE] = 1;
    return lxb_rdtsc() - t0;
}

static void demand_zero(void)
{
    double fault[REPS], cycle[REPS], fresh[REPS], fresh_cy[REPS], reused_cy[REPS];
    const size_t bytes = (size_t)PAGES * PAGE;

    /* Warm-up: the fault path translated by TCG once. */
    for (int r = 0; r < WARM; r++) {
        char *p = map_anon(bytes, MADV_NOHUGEPAGE);
        touch_pages(p, PAGES);
        munmap(p, bytes);
    }
    /* Fresh frames: the free page lists are last-in-first-out, so the
     * warm-up's frames come back first; an untimed 8 MiB mapping held
     * during the fresh rounds soaks those (and the per-CPU lists) up. Each
     * fresh round then keeps its pages mapped, so every round's frames
     * come from the buddy allocator's free memory, which nothing has
     * touched since QEMU started (the host's own first touch of guest RAM
     * is part of this figure, as it is for mdlos's FIFO free list). */
    char *soak = map_anon(8 << 20, MADV_NOHUGEPAGE);
    touch_pages(soak, (8 << 20) / PAGE);
    char *held[REPS];
    for (int r = 0; r < REPS; r++) {
        held[r] = map_anon(bytes, MADV_NOHUGEPAGE);
        uint64_t c = touch_pages(held[r], PAGES);
        fresh_cy[r] = (double)c / PAGES;
        fresh[r] = lxb_cycles_to_ns(c) / PAGES;
    }
    for (int r = 0; r < REPS; r++)
        munmap(held[r], bytes);
    munmap(soak, 8 << 20);

    /* Reused frames: map, touch, unmap, again; each round's frames are the
     * ones the previous round freed. */
    for (int r = -WARM; r < REPS; r++) {
        uint64_t t0 = lxb_rdtsc();
        char *p = map_anon(bytes, MADV_NOHUGEPAGE);
        uint64_t c = touch_pages(p, PAGES);
        munmap(p, bytes);
        uint64_t all = lxb_rdtsc() - t0;
        if (r >= 0) {
            reused_cy[r] = (double)c / PAGES;
            fault[r] = lxb_cycles_to_ns(c) / PAGES;
            cycle[r] = lxb_cycles_to_ns(all) / PAGES;
        }
    }
    lxb_report("demand_zero_fault", "ns", fault, REPS);
    lxb_report("demand_zero_fault.cycles", "cycles", reused_cy, REPS);
    lxb_report("demand_zero_fault_fresh", "ns", fresh, REPS);
    lxb_report("demand_zero_fault_fresh.cycles", "cycles", fresh_cy, REPS);
    lxb_report("demand_zero_mmap_touch_munmap", "ns", cycle, REPS);
}

static void pins(void)
{
    const size_t bytes = (size_t)PAGES * PAGE;
    char *buf = map_anon(bytes, MADV_NOHUGEPAGE);
    memset(buf, 7, bytes);   /* resident: what is timed is the pin, not a fault */

    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    int ring = (int)syscall(__NR_io_uring_setup, 4, &params);
    if (ring < 0) {
        printf("lx: info io_uring_setup failed: no io_uring pin figure\n");
    } else {
        /* IORING_REGISTER_BUFFERS pins the buffer's pages for as long as the
         * ring lives (pin_user_pages with FOLL_LONGTERM, the pages' refcount
         * raised by GUP_PIN_COUNTING_BIAS) and builds a bio_vec per page:
         * Linux's counterpart of probing and locking an MDL.
         * IORING_UNREGISTER_BUFFERS drops the pins, but in 6.1 it first
         * quiesces the ring's resource node (a percpu_ref killed and waited
         * for: an RCU grace period, milliseconds whatever the size), so it
         * is reported apart from the pin. */
        struct iovec iov = { buf, bytes };
        double both[REPS], reg[REPS], unreg[REPS];
        for (int r = -WARM; r < REPS; r++) {
            uint64_t t0 = lxb_rdtsc();
            if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1) != 0)
                lxb_die("IORING_REGISTER_BUFFERS");
            uint64_t t1 = lxb_rdtsc();
            if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0) != 0)
                lxb_die("IORING_UNREGISTER_BUFFERS");
            uint64_t t2 = lxb_rdtsc();
            if (r >= 0) {
                both[r] = lxb_cycles_to_ns(t2 - t0) / PAGES;
                reg[r] = lxb_cycles_to_ns(t1 - t0) / PAGES;
                unreg[r] = lxb_cycles_to_ns(t2 - t1) / PAGES;
            }
        }
        lxb_report("pin_unpin_256", "ns", both, REPS);
        lxb_report("pin_256_register", "ns", reg, REPS);
        lxb_report("unpin_256_unregister", "ns", unreg, REPS);
        close(ring);
    }

    /* mlock/munlock: the VMA is marked VM_LOCKED and each page is put on
     * the unevictable list and back; no per-page reference like a pin. */
    double ml[REPS];
    for (int r = -WARM; r < REPS; r++) {
        uint64_t t0 = lxb_rdtsc();
        if (mlock(buf, bytes) != 0)
            lxb_die("mlock");
        if (munlock(buf, bytes) != 0)
            lxb_die("munlock");
        uint64_t c = lxb_rdtsc() - t0;
        if (r >= 0)
            ml[r] = lxb_cycles_to_ns(c) / PAGES;
    }
    lxb_report("mlock_munlock_256", "ns", ml, REPS);
    munmap(buf, bytes);
}

int lxb_cpu_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    null_syscalls();
    demand_zero();
    pins();
    return 0;
}
