/* inspect.c - `mergeguard inspect PATH`: placeholder until io/ lands. */
#include <stdio.h>

#include "cli/cli.h"

int mg_cmd_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "mergeguard inspect: not implemented yet\n");
    return 1;
}
