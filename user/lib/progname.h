/*
 * Force-included (-include) into each program's main file by the Makefile,
 * which defines USER_PROGRAM_NAME as the image name: the name GRUB gives the
 * module, the name NtCreateProcess takes, and argv[0].
 */
const char __progname[] = USER_PROGRAM_NAME;
