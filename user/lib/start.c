/*
 * From _start (crt0.S) to main: fetch the command line from the kernel,
 * split it into argv, run main, and end the process with its return value.
 *
 * Command lines are NT-style: the whole line, program name first
 * ("crasher null_read"), split at blanks, double quotes grouping words.
 * A line that does not start with the program's own name (init gets the
 * boot command line) is all arguments, and argv[0] is the image name.
 */
#include <nt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t __stack_chk_guard;

__attribute__((noreturn)) void __stack_chk_fail(void)
{
    static const char msg[] = "*** stack smashing detected: process terminated (STATUS_STACK_BUFFER_OVERRUN)\n";
    NtDisplayString(msg, sizeof(msg) - 1);
    NtTerminateCurrentProcess(STATUS_STACK_BUFFER_OVERRUN);
}

#define MAX_ARGS 64

static char cmdline_static[1024];
static const char *cmdline = "";

const char *GetCommandLine(void)
{
    return cmdline;
}

int SplitCommandLine(char *line, char **argv, int max)
{
    int argc = 0;
    char *in = line;
    for (;;) {
        while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
            in++;
        if (!*in)
            break;
        /* A word runs to the next blank outside quotes; quotes are removed. */
        char *out = in, *word = in;
        int quoted = 0;
        while (*in && (quoted || (*in != ' ' && *in != '\t' && *in != '\n' && *in != '\r'))) {
            if (*in == '"')
                quoted = !quoted;
            else
                *out++ = *in;
            in++;
        }
        int more = *in != 0;
        if (more)
            in++;
        *out = 0;
        if (argc < max)
            argv[argc++] = word;
        if (!more)
            break;
    }
    if (argc < max)
        argv[argc] = NULL;
    return argc;
}

static void fetch_command_line(void)
{
    size_t needed = 0;
    NTSTATUS st = NtGetCommandLine(cmdline_static, sizeof(cmdline_static), &needed);
    if (NT_SUCCESS(st)) {
        cmdline_static[sizeof(cmdline_static) - 1] = 0;
        cmdline = cmdline_static;
        return;
    }
    if (needed > sizeof(cmdline_static) && needed < (1u << 20)) {
        char *big = malloc(needed + 1);
        if (big && NT_SUCCESS(NtGetCommandLine(big, needed + 1, &needed))) {
            big[needed] = 0;
            cmdline = big;
            return;
        }
    }
    cmdline = "";   /* no command line: run with argv[0] alone */
}

int main(int argc, char **argv);

__attribute__((noreturn, used)) void __libc_start(void)
{
    static char *argv[MAX_ARGS + 2];
    static char words[sizeof(cmdline_static)];
    fetch_command_line();
    /* Programs that never call malloc never allocate memory at startup. */
    size_t len = strlen(cmdline);
    char *copy = len < sizeof(words) ? words : malloc(len + 1);
    int argc = 0;
    if (copy) {
        strcpy(copy, cmdline);
        argc = SplitCommandLine(copy, argv + 1, MAX_ARGS);
    }
    if (argc && strcmp(argv[1], __progname) == 0) {
        for (int i = 0; i < argc; i++)   /* the line names the program: that is argv[0] */
            argv[i] = argv[i + 1];
    } else {
        argv[0] = (char *)__progname;
        argc++;
    }
    argv[argc] = NULL;
    exit(main(argc, argv));
}

void exit(int status)
{
    fflush(stdout);
    NtTerminateCurrentProcess((NTSTATUS)status);
}

void abort(void)
{
    fflush(stdout);
    static const char msg[] = "*** abort()\n";
    NtDisplayString(msg, sizeof(msg) - 1);
    NtTerminateCurrentProcess(STATUS_UNSUCCESSFUL);
}
