/* hello: the smallest user program. `hello a "b c"` prints its arguments. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("hello from user mode\n");
    for (int i = 0; i < argc; i++)
        printf("argv[%d] = \"%s\"\n", i, argv[i]);
    return 0;
}
