/*
 * Reading multiboot (version 1) boot information: what QEMU's own loader
 * (-kernel, used by the test runner instead of GRUB for speed) passes.
 * Multiboot spec 0.6.96 sect. 3.3: a fixed block of u32 fields whose
 * presence the flags word announces, pointing (by 32-bit physical address)
 * to the command line, a module list and a memory map. It fills the same
 * KiBootInfo as the multiboot2 reader, so nothing after it knows which
 * loader ran.
 */
#include "kernel/ke/ki.h"

#define MB1_INFO_MEMORY  (1u << 0)
#define MB1_INFO_CMDLINE (1u << 2)
#define MB1_INFO_MODULES (1u << 3)
#define MB1_INFO_MMAP    (1u << 6)
#define MB1_INFO_LOADER  (1u << 9)

struct mb1_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
    uint32_t mods_count, mods_addr;
    uint32_t syms[4];
    uint32_t mmap_length, mmap_addr;
    uint32_t drives_length, drives_addr, config_table, boot_loader_name;
};
struct mb1_module { uint32_t start, end, string, reserved; };
/* Each map entry is preceded by its size, which does not count itself. */
struct __attribute__((packed)) mb1_mmap { uint32_t size; uint64_t base, length; uint32_t type; };

#define BOOT_MAPPED 0x40000000ull   /* the boot tables map physical 0..1 GiB */

static const void *boot_va(uint64_t pa, uint64_t len)
{
    if (pa == 0 || pa >= BOOT_MAPPED || len > BOOT_MAPPED - pa)
        return NULL;
    return (const void *)(KERNEL_VIRT_OFFSET + pa);
}

/* A loader's string: at most MAX - 1 bytes copied, always terminated.
 * FALSE if it is not in mapped memory. */
static BOOLEAN copy_string(char *dst, size_t max, uint32_t pa)
{
    const char *s = boot_va(pa, 1);
    if (!s)
        return FALSE;
    size_t n = 0;
    while (n + 1 < max && pa + n < BOOT_MAPPED && s[n])
        n++;
    memcpy(dst, s, n);
    dst[n] = 0;
    return TRUE;
}

BOOLEAN KiParseMultiboot1(uint64_t info_phys)
{
    const struct mb1_info *mbi = boot_va(info_phys, sizeof(struct mb1_info));
    if (!mbi || (info_phys & 3))
        return FALSE;
    KiBootInfo.info_size = sizeof(struct mb1_info);
    /* Without a memory map the kernel has no RAM to manage. */
    if (!(mbi->flags & MB1_INFO_MMAP))
        return FALSE;
    if (mbi->flags & MB1_INFO_MEMORY) {
        KiBootInfo.mem_lower_kb = mbi->mem_lower;
        KiBootInfo.mem_upper_kb = mbi->mem_upper;
    }
    if (mbi->flags & MB1_INFO_CMDLINE) {
        /* A multiboot1 command line starts with the kernel's own file name
         * (QEMU: "-kernel FILE -append ARGS" gives "FILE ARGS"): the
         * options are what follows the first word. */
        char line[KI_CMDLINE_MAX];
        if (!copy_string(line, sizeof(line), mbi->cmdline))
            return FALSE;
        const char *args = line;
        while (*args && *args != ' ')
            args++;
        while (*args == ' ')
            args++;
        strlcpy(KiBootInfo.cmdline, args, KI_CMDLINE_MAX);
    }
    if (mbi->flags & MB1_INFO_LOADER)
        copy_string(KiBootInfo.loader, sizeof(KiBootInfo.loader), mbi->boot_loader_name);

    const uint8_t *map = boot_va(mbi->mmap_addr, mbi->mmap_length);
    if (!map)
        return FALSE;
    for (uint32_t off = 0; off + sizeof(struct mb1_mmap) <= mbi->mmap_length;) {
        const struct mb1_mmap *e = (const struct mb1_mmap *)(map + off);
        if (e->size < sizeof(struct mb1_mmap) - 4)
            return FALSE;
        /* qboot's map ends with an entry of length 0, which describes
         * nothing: left out, so every range kept is a real one. */
        if (e->length && KiBootInfo.range_count < KI_MAX_MEMORY_RANGES) {
            KI_MEMORY_RANGE *r = &KiBootInfo.ranges[KiBootInfo.range_count++];
            r->base = e->base;
            r->length = e->length;
            r->type = e->type;
        }
        off += e->size + 4;
    }

    if (mbi->flags & MB1_INFO_MODULES) {
        const struct mb1_module *mods = boot_va(mbi->mods_addr, (uint64_t)mbi->mods_count * sizeof(*mods));
        if (!mods && mbi->mods_count)
            return FALSE;
        for (uint32_t i = 0; i < mbi->mods_count && KiBootInfo.module_count < KI_MAX_MODULES; i++) {
            KI_MODULE *m = &KiBootInfo.modules[KiBootInfo.module_count++];
            m->start = mods[i].start;
            m->end = mods[i].end;
            /* QEMU gives each module the string "PATH NAME" from
             * -initrd "PATH NAME,..." (GRUB's multiboot2 gives just the
             * NAME): the name the kernel finds the image by is the last
             * word. */
            char s[256];
            if (!copy_string(s, sizeof(s), mods[i].string))
                return FALSE;
            const char *name = s;
            for (const char *p = s; *p; p++)
                if (*p == ' ')
                    name = p + 1;
            strlcpy(m->name, name, sizeof(m->name));
        }
    }
    return TRUE;
}
