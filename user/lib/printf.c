/*
 * printf and friends. Formatting: %d %i %u %x %X %o %c %s %p %% with the
 * flags - 0 + space #, a width and precision (numbers or *), and the length
 * modifiers hh h l ll z t j. No floating point (user code has no SSE).
 *
 * stdout is line-buffered: text collects in one buffer and goes to the
 * console (NtDisplayString) at each newline, when the buffer fills, on
 * fflush and at exit. stderr shares the buffer, so lines never interleave.
 */
#include <nt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct _FILE {
    int unused;
};
static struct _FILE out_file, err_file;
FILE *const stdout = &out_file, *const stderr = &err_file;

static char line[512];
static size_t line_len;

int fflush(FILE *f)
{
    (void)f;
    if (line_len) {
        NtDisplayString(line, line_len);
        line_len = 0;
    }
    return 0;
}

static void out_char(char c)
{
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof(line))
        fflush(stdout);
}

/* ---- the formatter: calls EMIT for every character ---- */

typedef struct {
    void (*emit)(void *ctx, char c);
    void *ctx;
    size_t count;
} SINK;

static void put(SINK *s, char c)
{
    s->emit(s->ctx, c);
    s->count++;
}

static void put_repeat(SINK *s, char c, int n)
{
    while (n-- > 0)
        put(s, c);
}

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16 };

static void format_number(SINK *s, uint64_t v, int negative, unsigned base, int upper, int flags, int width,
                          int precision)
{
    char digits[24];
    int n = 0;
    const char *set = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    if (v == 0 && precision == 0)
        n = 0;   /* "%.0d" of 0 prints nothing */
    else
        do {
            digits[n++] = set[v % base];
            v /= base;
        } while (v);
    char prefix[3];
    int plen = 0;
    if (negative)
        prefix[plen++] = '-';
    else if (flags & F_PLUS)
        prefix[plen++] = '+';
    else if (flags & F_SPACE)
        prefix[plen++] = ' ';
    if (flags & F_ALT) {
        if (base == 16 && n && !(n == 1 && digits[0] == '0')) {
            prefix[plen++] = '0';
            prefix[plen++] = upper ? 'X' : 'x';
        } else if (base == 8 && (n == 0 || digits[n - 1] != '0') && precision <= n) {
            precision = n + 1;
        }
    }
    int zeros = precision > n ? precision - n : 0;
    int total = plen + zeros + n;
    if (precision < 0 && (flags & F_ZERO) && !(flags & F_LEFT) && width > total) {
        zeros += width - total;
        total = width;
    }
    if (!(flags & F_LEFT))
        put_repeat(s, ' ', width - total);
    for (int i = 0; i < plen; i++)
        put(s, prefix[i]);
    put_repeat(s, '0', zeros);
    while (n)
        put(s, digits[--n]);
    if (flags & F_LEFT)
        put_repeat(s, ' ', width - total);
}

static void format(SINK *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(s, *fmt);
            continue;
        }
        const char *start = fmt++;
        int flags = 0;
        for (;; fmt++) {
            if (*fmt == '-')
                flags |= F_LEFT;
            else if (*fmt == '0')
                flags |= F_ZERO;
            else if (*fmt == '+')
                flags |= F_PLUS;
            else if (*fmt == ' ')
                flags |= F_SPACE;
            else if (*fmt == '#')
                flags |= F_ALT;
            else
                break;
        }
        int width = 0;
        if (*fmt == '*') {
            width = va_arg(ap, int);
            if (width < 0) {
                flags |= F_LEFT;
                width = -width;
            }
            fmt++;
        } else {
            while (*fmt >= '0' && *fmt <= '9')
                width = width * 10 + (*fmt++ - '0');
        }
        int precision = -1;
        if (*fmt == '.') {
            fmt++;
            precision = 0;
            if (*fmt == '*') {
                precision = va_arg(ap, int);
                if (precision < 0)
                    precision = -1;
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    precision = precision * 10 + (*fmt++ - '0');
            }
        }
        int size = 0;   /* -2 hh, -1 h, 0 int, 1 long, 2 long long / size_t / ptrdiff_t / intmax_t */
        if (*fmt == 'h') {
            size = -1;
            if (*++fmt == 'h') {
                size = -2;
                fmt++;
            }
        } else if (*fmt == 'l') {
            size = 1;
            if (*++fmt == 'l') {
                size = 2;
                fmt++;
            }
        } else if (*fmt == 'z' || *fmt == 't' || *fmt == 'j') {
            size = 2;
            fmt++;
        }
        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = size >= 1 ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (size == -1)
                v = (short)v;
            else if (size == -2)
                v = (signed char)v;
            format_number(s, v < 0 ? -(uint64_t)v : (uint64_t)v, v < 0, 10, 0, flags, width, precision);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t v = size >= 1 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            if (size == -1)
                v = (unsigned short)v;
            else if (size == -2)
                v = (unsigned char)v;
            unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
            format_number(s, v, 0, base, *fmt == 'X', flags & ~(F_PLUS | F_SPACE), width, precision);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            format_number(s, v, 0, 16, 0, (flags | F_ALT) & ~(F_PLUS | F_SPACE), width, precision);
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            if (!(flags & F_LEFT))
                put_repeat(s, ' ', width - 1);
            put(s, c);
            if (flags & F_LEFT)
                put_repeat(s, ' ', width - 1);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            int n = (int)(precision >= 0 ? strnlen(str, precision) : strlen(str));
            if (!(flags & F_LEFT))
                put_repeat(s, ' ', width - n);
            for (int i = 0; i < n; i++)
                put(s, str[i]);
            if (flags & F_LEFT)
                put_repeat(s, ' ', width - n);
            break;
        }
        case '%':
            put(s, '%');
            break;
        default:
            /* Unknown conversion: print it as written. */
            for (const char *p = start; p <= fmt && *p; p++)
                put(s, *p);
            if (!*fmt)
                return;
            break;
        }
    }
}

/* ---- the front ends ---- */

static void emit_console(void *ctx, char c)
{
    (void)ctx;
    out_char(c);
}

int vfprintf(FILE *f, const char *fmt, va_list ap)
{
    (void)f;
    SINK s = { emit_console, NULL, 0 };
    format(&s, fmt, ap);
    return (int)s.count;
}

int vprintf(const char *fmt, va_list ap)
{
    return vfprintf(stdout, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(stdout, fmt, ap);
    va_end(ap);
    return n;
}

int fprintf(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vfprintf(f, fmt, ap);
    va_end(ap);
    return n;
}

typedef struct {
    char *buf;
    size_t size, pos;
} STRBUF;

static void emit_string(void *ctx, char c)
{
    STRBUF *b = ctx;
    if (b->pos + 1 < b->size)
        b->buf[b->pos] = c;
    b->pos++;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    STRBUF b = { buf, size, 0 };
    SINK s = { emit_string, &b, 0 };
    format(&s, fmt, ap);
    if (size)
        buf[b.pos < size ? b.pos : size - 1] = 0;
    return (int)s.count;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int sprintf(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, (size_t)-1 >> 1, fmt, ap);
    va_end(ap);
    return n;
}

int fputs(const char *s, FILE *f)
{
    (void)f;
    while (*s)
        out_char(*s++);
    return 0;
}

int puts(const char *s)
{
    fputs(s, stdout);
    out_char('\n');
    return 0;
}

int fputc(int c, FILE *f)
{
    (void)f;
    out_char((char)c);
    return (unsigned char)c;
}

int putchar(int c)
{
    return fputc(c, stdout);
}
