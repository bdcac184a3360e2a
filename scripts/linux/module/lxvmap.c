// SPDX-License-Identifier: GPL-2.0
/*
 * lxvmap: the one figure of issue 14 that only the kernel can take, a
 * kernel map + unmap of 16 pages: vmap() of 16 page pointers (a virtual
 * range from the vmalloc area, page-table entries written) and vunmap()
 * (entries cleared; the range and its TLB flush are freed lazily and in
 * batches, Linux's counterpart of NT's flush list). Nothing touches the
 * mapping, as mdlos's mdl.kernel_map_unmap does not.
 * Loaded by scripts/linux/init.sh after `lxbench cpu`, it prints to the
 * kernel log, which init copies to the console:
 *     lx: vmap_vunmap_16 ns V1 ... Vn          per page
 *     lx: vmap_vunmap_16.cycles cycles V1 ...  per page
 *     lx: vm_map_ram_16 ns V1 ...              vm_map_ram + vm_unmap_ram
 * Built against Debian's linux-headers package by mkinitramfs.py; it is not
 * signed, so loading it taints the kernel (CONFIG_MODULE_SIG_FORCE is off
 * in Debian's kernel), which changes nothing measured.
 */
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <asm/msr.h>
#include <asm/tsc.h>

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vmap + vunmap of 16 pages, timed (mdlos's Linux side by side)");

/* vunmap() leaves the range to be purged (page tables freed, one TLB flush
 * for all) once lazy_max_pages are pending: 32 MiB, 8192 pages, on one
 * CPU; a 16-page vmap() area is 17 pages with its guard page, so one purge
 * comes about every 480 unmaps. A repetition of 512 map + unmap pairs holds
 * about one purge whatever its phase, so each pays the batched flush at
 * its share, and is short enough (a few ms) that some repetitions run
 * whole while a busy host leaves QEMU's vCPU thread alone. */
enum { NPAGES = 16, REPS = 31, WARM = 2, ROUNDS = 512 };

static u64 per_page[REPS];

static void report(const char *name, const char *unit, int ns)
{
	char line[REPS * 16 + 64];
	int len = scnprintf(line, sizeof(line), "lx: %s %s", name, unit);
	int r;

	for (r = 0; r < REPS; r++) {
		/* tsc_khz: the kernel's own calibration; tenths of ns. */
		u64 v = ns ? div_u64(per_page[r] * 10000000ull, tsc_khz) : per_page[r] * 10;

		len += scnprintf(line + len, sizeof(line) - len, " %llu.%llu", div_u64(v, 10), v % 10);
	}
	pr_info("%s\n", line);
}

static int time_vmap(struct page **pages)
{
	int r, k;

	for (r = -WARM; r < REPS; r++) {
		u64 t0 = rdtsc_ordered();

		for (k = 0; k < ROUNDS; k++) {
			void *va = vmap(pages, NPAGES, VM_MAP, PAGE_KERNEL);

			if (!va)
				return -ENOMEM;
			vunmap(va);
		}
		if (r >= 0)
			per_page[r] = div_u64(rdtsc_ordered() - t0, ROUNDS * NPAGES);
	}
	return 0;
}

/* vm_map_ram()/vm_unmap_ram(): Linux's own fast path for small, short
 * kernel mappings (a per-CPU vmap block carved into pieces, no vmap_area
 * of its own), what a Linux driver would use for this job; also measured. */
static int time_vm_map_ram(struct page **pages)
{
	int r, k;

	for (r = -WARM; r < REPS; r++) {
		u64 t0 = rdtsc_ordered();

		for (k = 0; k < ROUNDS; k++) {
			void *va = vm_map_ram(pages, NPAGES, NUMA_NO_NODE);

			if (!va)
				return -ENOMEM;
			vm_unmap_ram(va, NPAGES);
		}
		if (r >= 0)
			per_page[r] = div_u64(rdtsc_ordered() - t0, ROUNDS * NPAGES);
	}
	return 0;
}

static int __init lxvmap_init(void)
{
	struct page *pages[NPAGES] = { NULL };
	int i;

	for (i = 0; i < NPAGES; i++) {
		pages[i] = alloc_page(GFP_KERNEL);
		if (!pages[i])
			goto out;
	}
	if (time_vmap(pages) == 0) {
		report("vmap_vunmap_16", "ns", 1);
		report("vmap_vunmap_16.cycles", "cycles", 0);
	} else {
		pr_info("lx: error vmap failed\n");
	}
	if (time_vm_map_ram(pages) == 0)
		report("vm_map_ram_16", "ns", 1);
	else
		pr_info("lx: error vm_map_ram failed\n");
out:
	for (i = 0; i < NPAGES; i++)
		if (pages[i])
			__free_page(pages[i]);
	return 0;
}

static void __exit lxvmap_exit(void)
{
}

module_init(lxvmap_init);
module_exit(lxvmap_exit);
