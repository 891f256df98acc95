/* runs.h - long runs over many prompt batches (relp ioi, relp attribute
 * --prompts).
 *
 * Each batch's result is one record: named float arrays (scores) plus the
 * batch's metrics. Records are appended as JSON Lines to --out FILE as soon
 * as a batch is done. The file's first line is a header describing the run.
 * --resume reads the file back: the header must match this run, the batches
 * it holds are skipped, a last line cut short by a kill is dropped, and the
 * rest is appended. Floats are written with 9 significant digits and
 * doubles with 17, so a resumed run aggregates exactly the numbers an
 * uninterrupted one would.
 *
 * With MPI (a build with RELP_MPI, run under mpirun), rank r computes
 * batches g with g % size == r. The other ranks send their records to rank
 * 0 at the end, and rank 0 writes them and aggregates in batch order - the
 * same numbers as one process. Only rank 0 prints results. */
#ifndef RELP_CLI_RUNS_H
#define RELP_CLI_RUNS_H

#include <stdio.h>

#define REC_MAX_ARRAYS 32

struct record {
    int batch, n_prompts;
    double mc, mr; /* metric on the clean and the corrupted prompts, mean over the batch */
    int n_arrays;
    char name[REC_MAX_ARRAYS][32];
    float *values[REC_MAX_ARRAYS];
    int len[REC_MAX_ARRAYS];
    double seconds[REC_MAX_ARRAYS];
};

/* copies v; 0, or -1 when out of memory or slots */
int record_add(struct record *r, const char *name, const float *v, int len, double seconds);
/* the array called name, or NULL */
const float *record_get(const struct record *r, const char *name, int *len, double *seconds);
void record_free(struct record *r);

struct run_log {
    FILE *out;           /* rank 0: the JSON Lines file (NULL: no --out) */
    struct record *recs; /* (n_batches), complete where done[g] */
    char *done;
    int n_batches, n_done_before;
    int rank, size;
    double t0;
    int todo, finished; /* this rank's batches, for the ETA */
    char *pending;      /* ranks > 0: serialized records to send */
    size_t pending_len;
};

/* Starts a run of n_batches. header: a JSON object describing the run
 * (model, inputs, method, ...). path may be NULL. Returns 0 or an exit
 * status after a message. */
int run_log_open(struct run_log *L, const char *path, int resume, const char *header, int n_batches);
/* 1 if this rank computes batch g in this run */
int run_log_mine(const struct run_log *L, int g);
/* Hands over a finished batch (the log takes the arrays; r is zeroed).
 * Prints progress with an ETA on stderr. 0 or an exit status. */
int run_log_put(struct run_log *L, struct record *r);
/* Brings every record to rank 0; 0 or an exit status. Afterwards rank 0
 * has recs[g] for every g. */
int run_log_gather(struct run_log *L);
void run_log_close(struct run_log *L);

/* MPI, or one process without RELP_MPI */
void dist_init(int *argc, char ***argv);
void dist_finalize(void);
int dist_rank(void);
int dist_size(void);

/* FNV-1a 64-bit hash of bytes, to identify an input file in a header */
unsigned long long hash_bytes(const void *data, size_t n);

#endif
