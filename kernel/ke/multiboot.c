/*
 * Reading the multiboot2 boot information (GRUB, Multiboot2 spec sect. 3.6):
 * a u32 total size, a reserved u32, then tags {u32 type, u32 size, data}
 * each padded to 8 bytes, ending with a type-0 tag. We copy out what we
 * need so the memory it occupies can be reused.
 */
#include "kernel/ke/ki.h"

KI_BOOT_INFO KiBootInfo;

#define MB2_BOOT_MAGIC 0x36D76289
#define MB1_BOOT_MAGIC 0x2BADB002   /* QEMU's -kernel loader: kernel/ke/multiboot1.c */
#define TAG_END        0
#define TAG_CMDLINE    1
#define TAG_LOADER     2
#define TAG_MODULE     3
#define TAG_MEMINFO    4
#define TAG_MMAP       6

struct tag { uint32_t type, size; };
struct mmap_entry { uint64_t base, length; uint32_t type, reserved; };

/* The boot tables map physical 0..1 GiB at KERNEL_VIRT_OFFSET. */
static const void *phys_to_boot_va(uint64_t pa)
{
    return (const void *)(KERNEL_VIRT_OFFSET + pa);
}

BOOLEAN KiParseMultiboot(uint32_t magic, uint64_t info_phys)
{
    KiBootInfo.magic = magic;
    KiBootInfo.info_phys = info_phys;
    if (magic == MB1_BOOT_MAGIC)
        return KiParseMultiboot1(info_phys);
    if (magic != MB2_BOOT_MAGIC || (info_phys & 7) || info_phys >= 0x40000000)
        return FALSE;
    const uint8_t *info = phys_to_boot_va(info_phys);
    uint32_t total = *(const uint32_t *)info;
    if (total < 16 || info_phys + total > 0x40000000)
        return FALSE;
    KiBootInfo.info_size = total;

    for (uint32_t off = 8; off + sizeof(struct tag) <= total;) {
        const struct tag *t = (const struct tag *)(info + off);
        if (t->type == TAG_END)
            return TRUE;
        if (t->size < sizeof(struct tag) || off + t->size > total)
            return FALSE;
        const uint8_t *data = (const uint8_t *)(t + 1);
        uint32_t data_len = t->size - sizeof(struct tag);
        switch (t->type) {
        case TAG_CMDLINE:
            strlcpy(KiBootInfo.cmdline, (const char *)data,
                    data_len < KI_CMDLINE_MAX ? data_len + 1 : KI_CMDLINE_MAX);
            break;
        case TAG_LOADER:
            strlcpy(KiBootInfo.loader, (const char *)data,
                    data_len < sizeof(KiBootInfo.loader) ? data_len + 1 : sizeof(KiBootInfo.loader));
            break;
        case TAG_MEMINFO:
            KiBootInfo.mem_lower_kb = ((const uint32_t *)data)[0];
            KiBootInfo.mem_upper_kb = ((const uint32_t *)data)[1];
            break;
        case TAG_MODULE:
            if (KiBootInfo.module_count < KI_MAX_MODULES) {
                KI_MODULE *m = &KiBootInfo.modules[KiBootInfo.module_count++];
                m->start = ((const uint32_t *)data)[0];
                m->end = ((const uint32_t *)data)[1];
                strlcpy(m->name, (const char *)(data + 8),
                        data_len - 8 < sizeof(m->name) ? data_len - 8 + 1 : sizeof(m->name));
            }
            break;
        case TAG_MMAP: {
            uint32_t entry_size = ((const uint32_t *)data)[0];
            if (entry_size < sizeof(struct mmap_entry))
                return FALSE;
            for (uint32_t e = 8; e + entry_size <= data_len; e += entry_size) {
                const struct mmap_entry *me = (const struct mmap_entry *)(data + e);
                if (KiBootInfo.range_count < KI_MAX_MEMORY_RANGES) {
                    KI_MEMORY_RANGE *r = &KiBootInfo.ranges[KiBootInfo.range_count++];
                    r->base = me->base;
                    r->length = me->length;
                    r->type = me->type;
                }
            }
            break;
        }
        default:
            break;
        }
        off += (t->size + 7) & ~7u;
    }
    return FALSE; /* ran off the end without an end tag */
}

uint64_t KiTotalAvailableMemory(void)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < KiBootInfo.range_count; i++)
        if (KiBootInfo.ranges[i].type == KI_MEMORY_AVAILABLE)
            total += KiBootInfo.ranges[i].length;
    return total;
}
