/* stdio.h: console output for mdlos user programs (user/lib/printf.c).
 * Everything goes to the console through NtDisplayString, a line at a time. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

typedef struct _FILE FILE;
extern FILE *const stdout, *const stderr;
#define EOF (-1)

int printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int vprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
int fprintf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int vfprintf(FILE *f, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int snprintf(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap) __attribute__((format(printf, 3, 0)));
int sprintf(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int puts(const char *s);
int fputs(const char *s, FILE *f);
int putchar(int c);
int fputc(int c, FILE *f);
/* Writes out the line buffer (stdout and stderr share it). */
int fflush(FILE *f);
