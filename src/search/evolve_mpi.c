/* evolve_mpi.c - the distribution layer of evolve: Open MPI when built WITH_MPI,
 * single-process no-ops otherwise (see evolve.h). */
#include "search/evolve.h"

#include <stdlib.h>

#ifdef MG_WITH_MPI
#include <mpi.h>

static int g_inited;

void mg_dist_init(int *argc, char ***argv) {
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
        MPI_Init(argc, argv);
        g_inited = 1;
    }
}

void mg_dist_finalize(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (g_inited && !fin) MPI_Finalize();
    g_inited = 0;
}

static int initialized(void) {
    int in = 0, fin = 0;
    MPI_Initialized(&in);
    MPI_Finalized(&fin);
    return in && !fin;
}

int mg_dist_rank(void) {
    int r = 0;
    if (initialized()) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}

int mg_dist_size(void) {
    int s = 1;
    if (initialized()) MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}

void mg_dist_bcast_f64(double *x, size_t n) {
    if (mg_dist_size() > 1) MPI_Bcast(x, (int)n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
}

void mg_dist_reduce_sum_f64(double *x, size_t n) {
    if (mg_dist_size() <= 1) return;
    // Each slot is written by exactly one rank (the others contribute 0.0), so the sum
    // is that rank's value exactly, whatever the reduction order.
    if (mg_dist_rank() == 0)
        MPI_Reduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    else
        MPI_Reduce(x, NULL, (int)n, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
}

void mg_dist_barrier(void) {
    if (mg_dist_size() > 1) MPI_Barrier(MPI_COMM_WORLD);
}

mg_status mg_dist_check_launch(mg_error *err) {
    (void)err;
    return MG_OK;
}

#else

/* Processes started by an MPI launcher: Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, MPICH / Hydra (and Intel MPI) PMI_SIZE. */
static long launcher_size(void) {
    static const char *const VARS[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof VARS / sizeof VARS[0]; i++) {
        const char *v = getenv(VARS[i]);
        if (v && *v) return strtol(v, NULL, 10);
    }
    return 1;
}

mg_status mg_dist_check_launch(mg_error *err) {
    long n = launcher_size();
    if (n <= 1) return MG_OK;
    return mg_error_set(err, MG_ERR_USAGE,
                        "evolve: started as one of %ld MPI processes, but this mergeguard was "
                        "built without MPI, so each process would run the whole search into the "
                        "same output; rebuild with scripts/setup-deps --with-mpi and "
                        "cmake -DWITH_MPI=ON, or run it as one process",
                        n);
}

void mg_dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}
void mg_dist_finalize(void) {}
int mg_dist_rank(void) {
    return 0;
}
int mg_dist_size(void) {
    return 1;
}
void mg_dist_bcast_f64(double *x, size_t n) {
    (void)x;
    (void)n;
}
void mg_dist_reduce_sum_f64(double *x, size_t n) {
    (void)x;
    (void)n;
}
void mg_dist_barrier(void) {}

#endif
