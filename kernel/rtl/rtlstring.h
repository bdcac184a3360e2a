/*
 * rtlstring.h: string routines shared by the kernel and the user-mode libc
 * (kernel/rtl/rtlstring.c is compiled into both); the kernel's headers
 * include this one, so each routine is declared once. Only standard types here, so
 * either side can include it.
 */
#pragma once
#include <stddef.h>
#include <stdint.h>

size_t strlen(const char *s);
size_t strnlen(const char *s, size_t max);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
size_t strlcpy(char *d, const char *s, size_t size);
void *memcpy(void *d, const void *s, size_t n);
void *memset(void *d, int c, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
/* Shell-style glob: '*' any run, '?' one character. Nonzero on a match. */
uint8_t RtlGlobMatch(const char *pattern, const char *text);
/* Test sharding (`ktest.shard=I/N[/SALT]`, `utest.shard=...`): parses
 * SPEC (0 <= I < N <= 64) and says whether the test NAME belongs to shard
 * I - by a hash of its suite (NAME up to the last dot) and SALT (FNV-1a),
 * so a suite's tests stay together and in order, the kernel and every
 * user test program split alike without knowing each other's lists, and
 * the runner, which has the same hash, can pick the SALT that balances
 * the shards by the last run's test times. A missing or malformed SPEC is
 * one shard that takes everything. */
uint8_t RtlTestInShard(const char *spec, const char *name);
/* Parse an unsigned number in base 10 or, with 0x, 16. Zero on junk. */
uint8_t RtlParseUlong64(const char *s, uint64_t *out);
