/*
 * kprintf and ksnprintf: one formatter, two sinks (console, buffer).
 * Conversions: d i u x X o p s c %; flags - 0 + space #; width and
 * precision (numbers or *); sizes hh h l ll z j t. %p prints 0x and 16
 * hex digits so kernel addresses line up in reports.
 */
#include "kernel/ke/ke.h"
#include "kernel/hal/hal.h"

struct sink {
    void (*put)(struct sink *, char);
    char *buf;
    size_t size, len; /* len counts every character, even those cut off */
};

static void put_buf(struct sink *s, char c)
{
    if (s->len + 1 < s->size)
        s->buf[s->len] = c;
    s->len++;
}

static void put_console(struct sink *s, char c)
{
    HalConsolePutChar(c);
    s->len++;
}

static void pad(struct sink *s, char c, int n)
{
    while (n-- > 0)
        s->put(s, c);
}

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8, F_ALT = 16 };

static void emit_number(struct sink *s, uint64_t v, bool negative, unsigned base, bool upper,
                        int flags, int width, int prec)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24];
    int n = 0;
    while (v) {
        tmp[n++] = digits[v % base];
        v /= base;
    }
    if (prec < 0 && n == 0)
        tmp[n++] = '0';          /* plain 0; with precision 0 a zero prints nothing (C rule) */
    int zeros = prec > n ? prec - n : 0;

    char sign = 0;
    if (negative)
        sign = '-';
    else if (flags & F_PLUS)
        sign = '+';
    else if (flags & F_SPACE)
        sign = ' ';
    const char *prefix = "";
    if ((flags & F_ALT) && base == 16 && n && !(n == 1 && tmp[0] == '0'))
        prefix = upper ? "0X" : "0x";
    else if ((flags & F_ALT) && base == 8 && zeros == 0 && tmp[n - 1] != '0')
        zeros = 1;

    int len = n + zeros + (sign != 0) + (int)strlen(prefix);
    int fill = width > len ? width - len : 0;
    /* The 0 flag pads after the sign, and is ignored with a precision. */
    bool zero_fill = (flags & F_ZERO) && !(flags & F_LEFT) && prec < 0;
    if (!(flags & F_LEFT) && !zero_fill)
        pad(s, ' ', fill);
    if (sign)
        s->put(s, sign);
    for (const char *p = prefix; *p; p++)
        s->put(s, *p);
    if (zero_fill)
        pad(s, '0', fill);
    pad(s, '0', zeros);
    while (n)
        s->put(s, tmp[--n]);
    if (flags & F_LEFT)
        pad(s, ' ', fill);
}

static void format(struct sink *s, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            s->put(s, *fmt);
            continue;
        }
        fmt++;
        int flags = 0;
        for (;; fmt++) {
            if (*fmt == '-') flags |= F_LEFT;
            else if (*fmt == '0') flags |= F_ZERO;
            else if (*fmt == '+') flags |= F_PLUS;
            else if (*fmt == ' ') flags |= F_SPACE;
            else if (*fmt == '#') flags |= F_ALT;
            else break;
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
        int prec = -1;
        if (*fmt == '.') {
            fmt++;
            prec = 0;
            if (*fmt == '*') {
                prec = va_arg(ap, int);
                if (prec < 0)
                    prec = -1;
                fmt++;
            } else {
                while (*fmt >= '0' && *fmt <= '9')
                    prec = prec * 10 + (*fmt++ - '0');
            }
        }
        /* Size: 0 int, 1 char (hh), 2 short (h), 3 long/long long/size_t */
        int size = 0;
        if (*fmt == 'h') {
            size = 2;
            if (*++fmt == 'h') { size = 1; fmt++; }
        } else if (*fmt == 'l') {
            size = 3;
            if (*++fmt == 'l') fmt++;
        } else if (*fmt == 'z' || *fmt == 'j' || *fmt == 't') {
            size = 3;
            fmt++;
        }

        switch (*fmt) {
        case 'd':
        case 'i': {
            int64_t v = size == 3 ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (size == 1) v = (signed char)v;
            if (size == 2) v = (short)v;
            /* Negate in unsigned arithmetic so INT64_MIN prints correctly. */
            uint64_t mag = v < 0 ? -(uint64_t)v : (uint64_t)v;
            emit_number(s, mag, v < 0, 10, false, flags, width, prec);
            break;
        }
        case 'u':
        case 'x':
        case 'X':
        case 'o': {
            uint64_t v = size == 3 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            if (size == 1) v = (unsigned char)v;
            if (size == 2) v = (unsigned short)v;
            unsigned base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
            emit_number(s, v, false, base, *fmt == 'X', flags & ~(F_PLUS | F_SPACE), width, prec);
            break;
        }
        case 'p': {
            uint64_t v = (uint64_t)(uintptr_t)va_arg(ap, void *);
            s->put(s, '0');
            s->put(s, 'x');
            emit_number(s, v, false, 16, false, F_ZERO, 16, -1);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str)
                str = "(null)";
            int n = prec >= 0 ? (int)strnlen(str, prec) : (int)strlen(str);
            if (!(flags & F_LEFT))
                pad(s, ' ', width - n);
            for (int i = 0; i < n; i++)
                s->put(s, str[i]);
            if (flags & F_LEFT)
                pad(s, ' ', width - n);
            break;
        }
        case 'c':
            if (!(flags & F_LEFT))
                pad(s, ' ', width - 1);
            s->put(s, (char)va_arg(ap, int));
            if (flags & F_LEFT)
                pad(s, ' ', width - 1);
            break;
        case '%':
            s->put(s, '%');
            break;
        case 0:
            return; /* a lone % at the end */
        default:
            /* Unknown conversion: show it rather than guess. */
            s->put(s, '%');
            s->put(s, *fmt);
            break;
        }
    }
}

int kvsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct sink s = { put_buf, buf, size, 0 };
    format(&s, fmt, ap);
    if (size)
        buf[s.len < size ? s.len : size - 1] = 0;
    return (int)s.len;
}

int ksnprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int kvprintf(const char *fmt, va_list ap)
{
    struct sink s = { put_console, NULL, 0, 0 };
    HalConsoleLock();
    format(&s, fmt, ap);
    HalConsoleUnlock();
    return (int)s.len;
}

int kprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = kvprintf(fmt, ap);
    va_end(ap);
    return n;
}
