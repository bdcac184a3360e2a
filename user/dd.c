/*
 * dd: copy blocks from a device (or a built-in source) to a device (or a
 * built-in sink) with NtReadFile / NtWriteFile, and say how fast it went.
 *
 *   dd if=SRC of=DST [bs=N] [count=N] [skip=N] [seek=N] [iflag=F] [oflag=F] [depth=N] [status=S]
 *
 *   SRC   a device (\Device\RamDisk0, \Device\Null), or `zero` (zero bytes)
 *         or `pattern` (each 8-byte word holds its byte offset in the input
 *         XOR 0x6D646C6F73, "mdlos": any block says where it came from)
 *   DST   a device, or `null` (discard, no system call) or `check` (compare
 *         with `pattern` at the same input offset: the read-back half of a
 *         test; exits with STATUS_DEVICE_DATA_ERROR at the first difference)
 *   bs    the block size, with K or M (1024-based): 512, 4K, 1M (default 512)
 *   count blocks to copy (default: until the source ends - a disk's end is
 *         its length, IOCTL_DISK_GET_LENGTH_INFO, since a raw disk refuses a
 *         transfer past it; needed for zero and pattern)
 *   skip  blocks to skip at the start of the input; seek: of the output
 *   iflag, oflag  comma-separated: `async` opens the device without
 *         FILE_SYNCHRONOUS_IO_NONALERT and keeps up to `depth` requests in
 *         flight (default 4), each with its own event and IO_STATUS_BLOCK;
 *         `direct` adds FILE_NO_INTERMEDIATE_BUFFERING (the buffer must meet
 *         the device's alignment: ours are page-aligned)
 *   status  `progress` (default: a line a second while it runs), `noxfer`
 *         (no progress), `none` (nothing but errors)
 *
 * At the end: records in and out (full+partial, as dd prints them), the
 * bytes, the time from the kernel's interrupt time (SystemInterruptTime,
 * 100 ns units) and MiB/s.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATTERN_KEY 0x6D646C6F73ULL
#define MAX_DEPTH 16
#define MAX_BS (16u << 20)

enum { END_DEVICE, END_ZERO, END_PATTERN, END_NULL, END_CHECK };

typedef struct {
    const char *name;
    int kind;
    int async, direct;
    HANDLE file;
    uint64_t length;    /* a disk's size in bytes, ~0 when the device is no disk */
} END;

enum { SLOT_FREE, SLOT_READING, SLOT_READ, SLOT_WRITING };

/* One block on its way: the buffer, and the request it is part of. */
typedef struct {
    uint8_t *buf;
    HANDLE event;
    IO_STATUS_BLOCK_T iosb;
    int64_t offset;     /* the request's byte offset (NtReadFile/NtWriteFile keep a pointer to it only during the call) */
    uint64_t in_pos;    /* where the block came from in the input */
    uint64_t out_pos;
    uint32_t len;       /* bytes in the buffer */
    uint64_t seq;       /* blocks are finished oldest first */
    int state;
} SLOT;

static uint32_t bs = 512;
static uint64_t count = ~0ULL, skip, seek;
static int depth = 4, show_progress = 1, show_result = 1;
static END in = { NULL, END_DEVICE, 0, 0, 0, ~0ULL }, out = { NULL, END_DEVICE, 0, 0, 0, ~0ULL };
static SLOT slots[MAX_DEPTH];
static uint64_t full_in, part_in, full_out, part_out, bytes_out;
static int input_ended;

static void print_status(const char *what, NTSTATUS st)
{
    const char *name = NtStatusName(st);
    printf("dd: %s: status 0x%08x%s%s%s\n", what, (uint32_t)st, name ? " (" : "", name ? name : "", name ? ")" : "");
}

/* "4K" -> 4096; 0 with *OK = 0 when it is not a number. */
static uint64_t parse_size(const char *s, int *ok)
{
    char *end;
    uint64_t v = strtoull(s, &end, 0);
    *ok = end != s;
    if (*end == 'K' || *end == 'k')
        v <<= 10, end++;
    else if (*end == 'M' || *end == 'm')
        v <<= 20, end++;
    else if (*end == 'G' || *end == 'g')
        v <<= 30, end++;
    if (*end == 'i' && end[1] == 'B')   /* KiB, MiB */
        end += 2;
    else if (*end == 'B')
        end++;
    if (*end)
        *ok = 0;
    return v;
}

static void parse_flags(const char *s, END *e)
{
    char copy[64];
    strlcpy(copy, s, sizeof(copy));
    char *save, *w;
    for (w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
        if (strcmp(w, "async") == 0)
            e->async = 1;
        else if (strcmp(w, "direct") == 0)
            e->direct = 1;
        else
            printf("dd: unknown flag '%s' (async, direct)\n", w);
    }
}

static void usage(void)
{
    printf("usage: dd if=SRC of=DST [bs=N[K|M]] [count=N] [skip=N] [seek=N] [iflag=async,direct] "
           "[oflag=async,direct] [depth=N] [status=progress|noxfer|none]\n"
           "  SRC: a device (\\Device\\RamDisk0), zero, pattern   DST: a device, null, check\n");
}

/* Pattern bytes for input bytes [POS, POS+LEN). */
static void fill_pattern(uint8_t *b, uint64_t pos, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        uint64_t p = pos + i, word = (p & ~7ULL) ^ PATTERN_KEY;
        b[i] = (uint8_t)(word >> (8 * (p & 7)));
    }
}

/* 0, or the input offset of the first byte that differs from the pattern + 1. */
static uint64_t check_pattern(const uint8_t *b, uint64_t pos, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++) {
        uint64_t p = pos + i, word = (p & ~7ULL) ^ PATTERN_KEY;
        if (b[i] != (uint8_t)(word >> (8 * (p & 7))))
            return p + 1;
    }
    return 0;
}

static NTSTATUS open_end(END *e, int write)
{
    if (e->kind != END_DEVICE)
        return STATUS_SUCCESS;
    uint32_t options = e->async ? 0 : FILE_SYNCHRONOUS_IO_NONALERT;
    if (e->direct)
        options |= FILE_NO_INTERMEDIATE_BUFFERING;
    /* Read access too for the output: a disk's length query needs it. */
    NTSTATUS st = OpenDevice(e->name, write ? FILE_READ_DATA | FILE_WRITE_DATA : FILE_READ_DATA, options, &e->file);
    if (!NT_SUCCESS(st)) {
        char what[96];
        snprintf(what, sizeof(what), "cannot open %s", e->name);
        print_status(what, st);
        return st;
    }
    if (!NT_SUCCESS(DiskLength(e->file, &e->length)))
        e->length = ~0ULL;
    return STATUS_SUCCESS;
}

/* ---- the blocks ---- */

static __attribute__((noreturn)) void die(NTSTATUS st);

static void read_done(SLOT *s, NTSTATUS st)
{
    if (st == STATUS_END_OF_FILE) {
        s->len = 0;   /* past the end of the device */
    } else if (!NT_SUCCESS(st)) {
        print_status("read", st);
        if (st == STATUS_INVALID_PARAMETER && in.length != ~0ULL)
            printf("dd: a disk reads whole 512-byte sectors at sector offsets: bs, skip*bs\n");
        die(st);
    } else {
        s->len = (uint32_t)s->iosb.Information;
    }
    s->state = SLOT_READ;
    if (s->len == bs)
        full_in++;
    else if (s->len)
        part_in++;
    if (s->len < bs)
        input_ended = 1;   /* a short read is the end of the device */
}

static void write_done(SLOT *s, NTSTATUS st)
{
    if (!NT_SUCCESS(st)) {
        print_status("write", st);
        if (st == STATUS_INVALID_PARAMETER && out.length != ~0ULL)
            printf("dd: a disk writes whole 512-byte sectors at sector offsets, before its end (%llu bytes)\n",
                   (unsigned long long)out.length);
        die(st);
    }
    uint64_t n = s->iosb.Information;
    if (n == bs)
        full_out++;
    else if (n)
        part_out++;
    bytes_out += n;
    s->state = SLOT_FREE;
}

static void start_write(SLOT *s)
{
    if (!s->len) {
        s->state = SLOT_FREE;
        return;
    }
    if (out.kind == END_CHECK) {
        uint64_t bad = check_pattern(s->buf, s->in_pos, s->len);
        if (bad) {
            printf("dd: check: input byte %llu differs from the pattern\n", (unsigned long long)(bad - 1));
            die(STATUS_DEVICE_DATA_ERROR);
        }
    }
    if (out.kind != END_DEVICE) {
        s->iosb.Information = s->len;
        write_done(s, STATUS_SUCCESS);
        return;
    }
    s->offset = (int64_t)s->out_pos;
    memset(&s->iosb, 0, sizeof(s->iosb));
    NTSTATUS st = NtWriteFile(out.file, out.async ? s->event : 0, NULL, NULL, &s->iosb, s->buf, s->len, &s->offset,
                              NULL);
    if (st == STATUS_PENDING)
        s->state = SLOT_WRITING;
    else
        write_done(s, st);
}

static void start_read(SLOT *s, uint64_t block)
{
    s->in_pos = (skip + block) * bs;
    s->out_pos = (seek + block) * bs;
    uint32_t want = bs;
    if (in.length != ~0ULL) {   /* a disk: not past its end */
        uint64_t left = in.length > s->in_pos ? in.length - s->in_pos : 0;
        if (left < want)
            want = (uint32_t)left;
        if (!want) {
            s->iosb.Information = 0;
            read_done(s, STATUS_SUCCESS);
            start_write(s);
            return;
        }
    }
    if (in.kind != END_DEVICE) {
        if (in.kind == END_ZERO)
            memset(s->buf, 0, bs);
        else
            fill_pattern(s->buf, s->in_pos, bs);
        s->iosb.Information = bs;
        read_done(s, STATUS_SUCCESS);
        start_write(s);
        return;
    }
    s->offset = (int64_t)s->in_pos;
    memset(&s->iosb, 0, sizeof(s->iosb));
    /* With an event on an asynchronous file the call may return
     * STATUS_PENDING at once: the request goes on without us, and the
     * event is signalled and the status block written when it completes.
     * On a synchronous file the call itself waits. */
    NTSTATUS st = NtReadFile(in.file, in.async ? s->event : 0, NULL, NULL, &s->iosb, s->buf, want, &s->offset, NULL);
    if (st == STATUS_PENDING) {
        s->state = SLOT_READING;
        return;
    }
    read_done(s, st);
    start_write(s);
}

/* A pended request's end: its event, then its status block. */
static NTSTATUS wait_slot(SLOT *s)
{
    NTSTATUS st = NtWaitForSingleObject(s->event, 0, NULL);
    if (!NT_SUCCESS(st)) {
        print_status("NtWaitForSingleObject", st);
        NtTerminateCurrentProcess(st);
    }
    return s->iosb.Status;
}

/* "12.3" from a value in tenths. */
static void print_rate(char *b, size_t n, uint64_t bytes, uint64_t t100ns)
{
    if (!t100ns) {
        snprintf(b, n, "? MiB/s");
        return;
    }
    /* tenths of MiB/s = bytes * 10 / (t / 10^7 s) / 2^20, in integers */
    uint64_t tenths = bytes / t100ns * 10000000ULL * 10 / 1048576 +
                      bytes % t100ns * 10000000ULL * 10 / t100ns / 1048576;
    snprintf(b, n, "%llu.%llu MiB/s", (unsigned long long)(tenths / 10), (unsigned long long)(tenths % 10));
}

static void report(const char *what, uint64_t t100ns)
{
    char rate[32];
    print_rate(rate, sizeof(rate), bytes_out, t100ns);
    uint64_t ms = t100ns / 10000;
    printf("%s%llu bytes (%llu KiB) copied, %llu.%03llu s, %s\n", what, (unsigned long long)bytes_out,
           (unsigned long long)(bytes_out >> 10), (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
           rate);
}

static uint64_t t_start;

/* A failed transfer: what was copied until then, then the status (the
 * shell prints it), as dd does. */
static __attribute__((noreturn)) void die(NTSTATUS st)
{
    if (show_result) {
        printf("%llu+%llu records in\n%llu+%llu records out\n", (unsigned long long)full_in,
               (unsigned long long)part_in, (unsigned long long)full_out, (unsigned long long)part_out);
        report("", InterruptTime100ns() - t_start);
    }
    NtTerminateCurrentProcess(st);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int ok = 1;
        if (strncmp(a, "if=", 3) == 0)
            in.name = a + 3;
        else if (strncmp(a, "of=", 3) == 0)
            out.name = a + 3;
        else if (strncmp(a, "bs=", 3) == 0)
            bs = (uint32_t)parse_size(a + 3, &ok);
        else if (strncmp(a, "count=", 6) == 0)
            count = parse_size(a + 6, &ok);
        else if (strncmp(a, "skip=", 5) == 0)
            skip = parse_size(a + 5, &ok);
        else if (strncmp(a, "seek=", 5) == 0)
            seek = parse_size(a + 5, &ok);
        else if (strncmp(a, "depth=", 6) == 0)
            depth = (int)parse_size(a + 6, &ok);
        else if (strncmp(a, "iflag=", 6) == 0)
            parse_flags(a + 6, &in);
        else if (strncmp(a, "oflag=", 6) == 0)
            parse_flags(a + 6, &out);
        else if (strcmp(a, "status=none") == 0)
            show_progress = show_result = 0;
        else if (strcmp(a, "status=noxfer") == 0)
            show_progress = 0;
        else if (strcmp(a, "status=progress") == 0)
            show_progress = 1;
        else
            ok = 0;
        if (!ok) {
            printf("dd: bad argument '%s'\n", a);
            usage();
            return STATUS_INVALID_PARAMETER;
        }
    }
    if (!in.name || !out.name || !bs || bs > MAX_BS || depth < 1 || depth > MAX_DEPTH) {
        if (bs > MAX_BS || !bs)
            printf("dd: bs must be 1 to %u bytes\n", MAX_BS);
        if (depth < 1 || depth > MAX_DEPTH)
            printf("dd: depth must be 1 to %d\n", MAX_DEPTH);
        usage();
        return STATUS_INVALID_PARAMETER;
    }
    in.kind = strcmp(in.name, "zero") == 0 ? END_ZERO : strcmp(in.name, "pattern") == 0 ? END_PATTERN : END_DEVICE;
    out.kind = strcmp(out.name, "null") == 0 ? END_NULL : strcmp(out.name, "check") == 0 ? END_CHECK : END_DEVICE;
    if (in.kind != END_DEVICE && count == ~0ULL) {
        printf("dd: if=%s never ends: give count=\n", in.name);
        return STATUS_INVALID_PARAMETER;
    }
    if (!in.async && !out.async)
        depth = 1;   /* one block at a time: each call finishes before it returns */
    NTSTATUS st;
    if (!NT_SUCCESS(st = open_end(&in, 0)) || !NT_SUCCESS(st = open_end(&out, 1)))
        return st;

    /* The buffers: page-aligned, from NtAllocateVirtualMemory (a direct
     * transfer locks these very pages into an MDL for each request). */
    void *base = NULL;
    size_t size = (size_t)bs * depth;
    if (!NT_SUCCESS(st = NtAllocateVirtualMemory(NtCurrentProcess(), &base, 0, &size, MEM_RESERVE | MEM_COMMIT,
                                                 PAGE_READWRITE))) {
        print_status("NtAllocateVirtualMemory", st);
        return st;
    }
    for (int i = 0; i < depth; i++) {
        slots[i].buf = (uint8_t *)base + (size_t)i * bs;
        if (!NT_SUCCESS(st = CreateEventHandle(&slots[i].event, 0, 0))) {
            print_status("NtCreateEvent", st);
            return st;
        }
    }

    uint64_t t0 = InterruptTime100ns(), last = t0, next_block = 0, seq = 0;
    t_start = t0;
    for (;;) {
        /* Start as many blocks as there are free slots. */
        for (int i = 0; i < depth && !input_ended && next_block < count; i++) {
            if (slots[i].state == SLOT_FREE) {
                slots[i].seq = seq++;
                start_read(&slots[i], next_block++);
            }
        }
        /* Finish the oldest request in flight. */
        SLOT *s = NULL;
        for (int i = 0; i < depth; i++)
            if (slots[i].state != SLOT_FREE && (!s || slots[i].seq < s->seq))
                s = &slots[i];
        if (!s && (input_ended || next_block >= count))
            break;
        if (s && s->state == SLOT_READING) {
            read_done(s, wait_slot(s));
            start_write(s);
        } else if (s && s->state == SLOT_WRITING) {
            write_done(s, wait_slot(s));
        }
        if (show_progress) {
            uint64_t now = InterruptTime100ns();
            if (now - last >= 10000000ULL) {   /* a line a second */
                report("dd: ", now - t0);
                last = now;
            }
        }
    }
    uint64_t t = InterruptTime100ns() - t0;
    if (show_result) {
        printf("%llu+%llu records in\n%llu+%llu records out\n", (unsigned long long)full_in,
               (unsigned long long)part_in, (unsigned long long)full_out, (unsigned long long)part_out);
        report("", t);
    }
    for (int i = 0; i < depth; i++)
        NtClose(slots[i].event);
    if (in.file)
        NtClose(in.file);
    if (out.file)
        NtClose(out.file);
    size = 0;
    NtFreeVirtualMemory(NtCurrentProcess(), &base, &size, MEM_RELEASE);
    return 0;
}
