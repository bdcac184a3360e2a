/*
 * hexdump DEVICE [OFFSET] [LENGTH]: the bytes of a device, 16 a line, as
 * offset, hex and ASCII (the classic `hexdump -C` layout). OFFSET and
 * LENGTH take K and M suffixes and 0x; LENGTH defaults to 256 bytes.
 *
 *   hexdump \Device\RamDisk0 0 64
 *   00000000  73 6f 6c 64 6d 00 00 00  7b 6f 6c 64 6d 00 00 00  |soldm...{oldm...|
 *
 * A raw disk reads whole sectors at sector-aligned offsets (anything else
 * is STATUS_INVALID_PARAMETER, as on NT), so hexdump reads the aligned
 * 512-byte-multiple span around the range, no further than the disk's
 * length (IOCTL_DISK_GET_LENGTH_INFO), and prints only the range. Lines
 * equal to the one before are folded into one `*`, as hexdump does.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECTOR 512u
#define CHUNK (64u * 1024)

static void print_status(const char *what, NTSTATUS st)
{
    const char *name = NtStatusName(st);
    printf("hexdump: %s: status 0x%08x%s%s%s\n", what, (uint32_t)st, name ? " (" : "", name ? name : "",
           name ? ")" : "");
}

static int parse(const char *s, uint64_t *v)
{
    char *end;
    *v = strtoull(s, &end, 0);
    if (end == s)
        return 0;
    if (*end == 'K' || *end == 'k')
        *v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        *v <<= 20, end++;
    return *end == 0;
}

static void line(uint64_t at, const uint8_t *b, unsigned n)
{
    char hex[16 * 3 + 2], asc[17];
    size_t h = 0;
    for (unsigned i = 0; i < 16; i++) {
        if (i < n)
            h += (size_t)snprintf(hex + h, sizeof(hex) - h, "%02x ", b[i]);
        else
            h += (size_t)snprintf(hex + h, sizeof(hex) - h, "   ");
        if (i == 7)
            hex[h++] = ' ', hex[h] = 0;
        asc[i] = i < n ? (b[i] >= 0x20 && b[i] < 0x7F ? (char)b[i] : '.') : 0;
    }
    asc[n < 16 ? n : 16] = 0;
    printf("%08llx  %s |%s|\n", (unsigned long long)at, hex, asc);
}

int main(int argc, char **argv)
{
    uint64_t offset = 0, length = 256;
    if (argc < 2 || (argc > 2 && !parse(argv[2], &offset)) || (argc > 3 && !parse(argv[3], &length)) || argc > 4) {
        printf("usage: hexdump DEVICE [OFFSET] [LENGTH]   e.g. hexdump \\Device\\RamDisk0 0 256\n");
        return STATUS_INVALID_PARAMETER;
    }
    HANDLE f;
    NTSTATUS st = OpenDevice(argv[1], FILE_READ_DATA, FILE_SYNCHRONOUS_IO_NONALERT, &f);
    if (!NT_SUCCESS(st)) {
        char what[96];
        snprintf(what, sizeof(what), "cannot open %s", argv[1]);
        print_status(what, st);
        return st;
    }
    /* A disk refuses a read past its end: stop at its length. */
    uint64_t disk = ~0ULL;
    if (!NT_SUCCESS(DiskLength(f, &disk)))
        disk = ~0ULL;
    uint8_t *buf = malloc(CHUNK);
    if (!buf) {
        printf("hexdump: out of memory\n");
        return STATUS_NO_MEMORY;
    }
    uint8_t prev[16];
    int have_prev = 0, folded = 0;
    uint64_t pos = offset, end = offset + length;
    while (pos < end) {
        /* Whole sectors around [pos, end), at most CHUNK at a time. */
        uint64_t start = pos & ~(uint64_t)(SECTOR - 1);
        uint64_t want = end - start;
        if (want > CHUNK)
            want = CHUNK;
        want = (want + SECTOR - 1) & ~(uint64_t)(SECTOR - 1);
        if (disk != ~0ULL && start + want > disk)
            want = disk > start ? disk - start : 0;
        if (!want)
            break;
        IO_STATUS_BLOCK_T iosb;
        st = ReadAt(f, buf, (uint32_t)want, start, &iosb);
        if (st == STATUS_END_OF_FILE || (NT_SUCCESS(st) && iosb.Information <= pos - start))
            break;
        if (!NT_SUCCESS(st)) {
            print_status("NtReadFile", st);
            NtClose(f);
            return st;
        }
        uint64_t got_end = start + iosb.Information;
        if (got_end > end)
            got_end = end;
        while (pos < got_end) {
            unsigned n = got_end - pos < 16 ? (unsigned)(got_end - pos) : 16;
            const uint8_t *b = buf + (pos - start);
            if (n == 16 && have_prev && memcmp(prev, b, 16) == 0 && pos + 16 < end) {
                if (!folded)
                    printf("*\n");
                folded = 1;
            } else {
                line(pos, b, n);
                folded = 0;
            }
            memcpy(prev, b, n);
            have_prev = n == 16;
            pos += n;
        }
        if (iosb.Information < want)
            break;   /* the end of the device */
    }
    printf("%08llx\n", (unsigned long long)pos);
    free(buf);
    NtClose(f);
    return 0;
}
