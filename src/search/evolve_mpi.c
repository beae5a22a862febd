/* evolve_mpi.c - the distribution layer of evolve: Open MPI when built WITH_MPI,
 * single-process no-ops otherwise (see evolve.h). */
#include "search/evolve.h"

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

#else

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
