/*
 * The boot command line (from grub.cfg's multiboot2 line) as options:
 *   ktest=mm.*   verifier=1   quiet   name="a value with spaces"
 * Words are separated by spaces; a value may be double-quoted.
 */
#include "kernel/ki.h"

static KI_OPTIONS options;

int KiParseCommandLine(const char *p, KI_OPTIONS *out)
{
    out->count = 0;
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            return out->count;
        if (out->count == KI_MAX_OPTIONS)
            return -1;
        KI_OPTION *o = &out->opt[out->count];
        size_t n = 0;
        while (*p && *p != '=' && *p != ' ' && *p != '\t') {
            if (n + 1 >= sizeof(o->name))
                return -1;
            o->name[n++] = *p++;
        }
        o->name[n] = 0;
        n = 0;
        if (*p == '=') {
            p++;
            bool quoted = *p == '"';
            if (quoted)
                p++;
            while (*p && (quoted ? *p != '"' : (*p != ' ' && *p != '\t'))) {
                if (n + 1 >= sizeof(o->value))
                    return -1;
                o->value[n++] = *p++;
            }
            if (quoted) {
                if (*p != '"')
                    return -1;
                p++;
            }
        }
        o->value[n] = 0;
        if (o->name[0] == 0)
            return -1; /* "=x" */
        out->count++;
    }
}

const char *KiFindOption(const KI_OPTIONS *opts, const char *name)
{
    /* The last one wins, so a later word can override an earlier one. */
    for (int i = opts->count - 1; i >= 0; i--)
        if (strcmp(opts->opt[i].name, name) == 0)
            return opts->opt[i].value;
    return NULL;
}

void KiInitCommandLine(const char *line)
{
    if (KiParseCommandLine(line, &options) < 0) {
        kprintf("cmdline: cannot parse \"%s\"; ignoring it\n", line);
        options.count = 0;
    }
}

const char *KeGetOption(const char *name)
{
    return KiFindOption(&options, name);
}

BOOLEAN KeOptionEnabled(const char *name)
{
    const char *v = KeGetOption(name);
    if (!v)
        return FALSE;
    return v[0] == 0 || strcmp(v, "1") == 0 || strcmp(v, "on") == 0 ||
           strcmp(v, "yes") == 0 || strcmp(v, "true") == 0;
}
