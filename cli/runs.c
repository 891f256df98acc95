/* runs.c - batch records, JSON Lines with resume, and MPI (see runs.h). */
#define _POSIX_C_SOURCE 200809L
#include "runs.h"

#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef RELP_MPI
#include <mpi.h>
#endif

/* ------------------------------------------------------------ MPI */

#ifdef RELP_MPI
static int mpi_on;
void dist_init(int *argc, char ***argv) {
    MPI_Init(argc, argv);
    mpi_on = 1;
}
void dist_finalize(void) {
    if (mpi_on) MPI_Finalize();
}
int dist_rank(void) {
    int r = 0;
    if (mpi_on) MPI_Comm_rank(MPI_COMM_WORLD, &r);
    return r;
}
int dist_size(void) {
    int s = 1;
    if (mpi_on) MPI_Comm_size(MPI_COMM_WORLD, &s);
    return s;
}
#else
void dist_init(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
}
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
#endif

unsigned long long hash_bytes(const void *data, size_t n) {
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)data)[i]) * 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------ records */

int record_add(struct record *r, const char *name, const float *v, int len, double seconds) {
    if (r->n_arrays == REC_MAX_ARRAYS || strlen(name) >= sizeof r->name[0]) return -1;
    float *copy = malloc(sizeof(float) * (size_t)(len > 0 ? len : 1));
    if (!copy) return -1;
    if (len > 0) memcpy(copy, v, sizeof(float) * (size_t)len);
    int k = r->n_arrays++;
    strcpy(r->name[k], name);
    r->values[k] = copy;
    r->len[k] = len;
    r->seconds[k] = seconds;
    return 0;
}

const float *record_get(const struct record *r, const char *name, int *len, double *seconds) {
    for (int k = 0; k < r->n_arrays; k++)
        if (!strcmp(r->name[k], name)) {
            if (len) *len = r->len[k];
            if (seconds) *seconds = r->seconds[k];
            return r->values[k];
        }
    return NULL;
}

void record_free(struct record *r) {
    for (int k = 0; k < r->n_arrays; k++) free(r->values[k]);
    memset(r, 0, sizeof *r);
}

/* appends the record as one JSON line to a growing buffer */
static int record_serialize(const struct record *r, char **buf, size_t *len) {
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f) return -1;
    fprintf(f, "{\"batch\":%d,\"prompts\":%d,\"metric_clean\":%.17g,\"metric_corrupt\":%.17g,\"scores\":{", r->batch,
            r->n_prompts, r->mc, r->mr);
    for (int k = 0; k < r->n_arrays; k++) {
        fprintf(f, "%s\"%s\":[", k ? "," : "", r->name[k]);
        for (int i = 0; i < r->len[k]; i++) fprintf(f, i ? ",%.9g" : "%.9g", r->values[k][i]);
        fputc(']', f);
    }
    fprintf(f, "},\"seconds\":{");
    for (int k = 0; k < r->n_arrays; k++) fprintf(f, "%s\"%s\":%.4f", k ? "," : "", r->name[k], r->seconds[k]);
    fprintf(f, "}}\n");
    fclose(f);
    char *grown = realloc(*buf, *len + size + 1);
    if (!grown) {
        free(text);
        return -1;
    }
    memcpy(grown + *len, text, size + 1);
    *buf = grown;
    *len += size;
    free(text);
    return 0;
}

/* one JSON line back into a record; 0, or -1 with why in err */
static int record_parse(const char *line, size_t n, struct record *r, char *err, size_t cap) {
    struct relp_json_doc doc;
    memset(r, 0, sizeof *r);
    if (relp_json_parse(&doc, line, n)) {
        snprintf(err, cap, "not valid JSON (%s)", doc.error);
        relp_json_free(&doc);
        return -1;
    }
    const struct relp_json_value *root = &doc.v[0], *v;
    int64_t batch, prompts;
    int rc = -1;
    if (root->type != RELP_JSON_OBJECT || !(v = relp_json_get(&doc, root, "batch")) || relp_json_int(v, 0, 1 << 30, &batch) ||
        !(v = relp_json_get(&doc, root, "prompts")) || relp_json_int(v, 1, 1 << 30, &prompts)) {
        snprintf(err, cap, "not a batch record (needs \"batch\" and \"prompts\")");
        goto out;
    }
    r->batch = (int)batch;
    r->n_prompts = (int)prompts;
    const struct relp_json_value *mc = relp_json_get(&doc, root, "metric_clean"), *mr = relp_json_get(&doc, root, "metric_corrupt");
    const struct relp_json_value *sc = relp_json_get(&doc, root, "scores"), *se = relp_json_get(&doc, root, "seconds");
    if (!mc || mc->type != RELP_JSON_NUMBER || !mr || mr->type != RELP_JSON_NUMBER || !sc || sc->type != RELP_JSON_OBJECT) {
        snprintf(err, cap, "batch %d: missing metrics or scores", r->batch);
        goto out;
    }
    r->mc = mc->num;
    r->mr = mr->num;
    for (const struct relp_json_value *a = relp_json_first(&doc, sc); a; a = relp_json_next(&doc, a)) {
        if (a->type != RELP_JSON_ARRAY) {
            snprintf(err, cap, "batch %d: scores \"%s\" is not an array", r->batch, a->key);
            goto out;
        }
        float *vals = malloc(sizeof(float) * (size_t)(a->n_children > 0 ? a->n_children : 1));
        int i = 0;
        for (const struct relp_json_value *x = relp_json_first(&doc, a); x && vals; x = relp_json_next(&doc, x)) vals[i++] = (float)x->num;
        const struct relp_json_value *s = se ? relp_json_get(&doc, se, a->key) : NULL;
        if (!vals || record_add(r, a->key, vals, i, s && s->type == RELP_JSON_NUMBER ? s->num : 0)) {
            free(vals);
            snprintf(err, cap, "batch %d: out of memory or too many arrays", r->batch);
            goto out;
        }
        free(vals);
    }
    rc = 0;
out:
    relp_json_free(&doc);
    if (rc) record_free(r);
    return rc;
}

/* ------------------------------------------------------------ the log */

/* The first field where two run headers differ ("key": this run's value against the file's), for a refused
 * --resume: which flag or input to change back. */
static void header_difference(const char *mine, const char *theirs, size_t theirs_len, char *out, size_t cap) {
    struct relp_json_doc a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    snprintf(out, cap, "its first line is not a relp run header");
    if (relp_json_parse(&a, mine, strlen(mine)) == 0 && relp_json_parse(&b, theirs, theirs_len) == 0) {
        const struct relp_json_value *ra = relp_json_get(&a, &a.v[0], "relp_run"), *rb = relp_json_get(&b, &b.v[0], "relp_run");
        if (ra && rb) {
            snprintf(out, cap, "its header differs");
            for (const struct relp_json_value *x = relp_json_first(&a, ra); x; x = relp_json_next(&a, x)) {
                const struct relp_json_value *y = relp_json_get(&b, rb, x->key);
                char va[160], vb[160];
                if (x->type == RELP_JSON_STRING) snprintf(va, sizeof va, "\"%s\"", x->str);
                else snprintf(va, sizeof va, "%.17g", x->num);
                if (!y) snprintf(vb, sizeof vb, "(none)");
                else if (y->type == RELP_JSON_STRING) snprintf(vb, sizeof vb, "\"%s\"", y->str);
                else snprintf(vb, sizeof vb, "%.17g", y->num);
                if (!y || y->type != x->type || strcmp(va, vb) != 0) {
                    snprintf(out, cap, "\"%s\" is %s in this run but %s in the file", x->key, va, vb);
                    break;
                }
            }
        }
    }
    relp_json_free(&a);
    relp_json_free(&b);
}

/* Ctrl-C during a logged run: the finished batches are on disk; say how to continue (async-signal-safe: write) */
static char interrupt_msg[4400];
static size_t interrupt_len;

static void on_interrupt(int sig) {
    (void)sig;
    if (write(STDERR_FILENO, interrupt_msg, interrupt_len) < 0) interrupt_len = 0;
    _exit(130);
}

static int load_existing(struct run_log *L, const char *path, const char *head_line) {
    size_t size = 0;
    char *text = read_file(path, &size);
    if (!text) {
        fprintf(stderr, "relp: --resume: cannot read %s\n", path);
        return 1;
    }
    size_t i = 0, keep = 0;
    int line = 0, rc = 0;
    while (i < size && !rc) {
        size_t e = i;
        while (e < size && text[e] != '\n') e++;
        if (e == size) break; /* a last line without its newline: cut short by a kill, dropped */
        line++;
        if (line == 1) {
            if (e - i != strlen(head_line) || memcmp(text + i, head_line, e - i) != 0) {
                char why[512];
                header_difference(head_line, text + i, e - i, why, sizeof why);
                fprintf(stderr, "relp: --resume: %s was written by another run: %s; resume with the same model, inputs "
                                "and options, or use another --out\n", path, why);
                rc = 2;
            }
        } else {
            struct record r;
            char err[256];
            if (record_parse(text + i, e - i, &r, err, sizeof err)) {
                fprintf(stderr, "relp: --resume: %s line %d: %s\n", path, line, err);
                rc = 2;
            } else if (r.batch >= L->n_batches) {
                fprintf(stderr, "relp: --resume: %s line %d: batch %d, but this run has %d batches\n", path, line,
                        r.batch, L->n_batches);
                record_free(&r);
                rc = 2;
            } else {
                record_free(&L->recs[r.batch]);
                L->recs[r.batch] = r;
                if (!L->done[r.batch]) L->n_done_before++;
                L->done[r.batch] = 1;
            }
        }
        i = e + 1;
        keep = i;
    }
    free(text);
    if (!rc && line == 0) {
        fprintf(stderr, "relp: --resume: %s is empty; starting afresh\n", path);
        return -1;
    }
    if (!rc && truncate(path, (off_t)keep) != 0) {
        fprintf(stderr, "relp: --resume: cannot cut the unfinished last line of %s\n", path);
        rc = 1;
    }
    return rc;
}

int run_log_open(struct run_log *L, const char *path, int resume, const char *header, int n_batches) {
    memset(L, 0, sizeof *L);
    L->rank = dist_rank();
    L->size = dist_size();
    L->n_batches = n_batches;
    L->recs = calloc((size_t)(n_batches > 0 ? n_batches : 1), sizeof *L->recs);
    L->done = calloc((size_t)(n_batches > 0 ? n_batches : 1), 1);
    if (!L->recs || !L->done) return 1;
    int rc = 0;
    if (resume && !path) {
        fprintf(stderr, "relp: --resume needs --out FILE (the JSON Lines file of the run to continue)\n");
        rc = 2;
    }
    if (!rc && L->rank == 0 && path) {
        size_t hl = strlen(header) + 16;
        char *head_line = malloc(hl);
        snprintf(head_line, hl, "{\"relp_run\":%s}", header);
        int fresh = 1;
        if (resume && access(path, F_OK) == 0) {
            int r = load_existing(L, path, head_line);
            if (r > 0) rc = r;
            else fresh = r < 0;
        } else if (resume) {
            fprintf(stderr, "relp: --resume: %s does not exist yet; starting the run there\n", path);
        } else if (access(path, F_OK) == 0) { /* never overwrite a run's work in silence */
            size_t size = 0;
            char *text = read_file(path, &size);
            int lines = 0;
            for (size_t k = 0; text && k < size; k++) lines += text[k] == '\n';
            if (text && size > 0) {
                fprintf(stderr, "relp: --out %s already holds %s (%d line%s); add --resume to continue it, or remove "
                                "the file or choose another --out to start afresh\n", path,
                        strncmp(text, "{\"relp_run\":", strlen("{\"relp_run\":")) == 0 ? "a run" : "something", lines, lines == 1 ? "" : "s");
                rc = 2;
            }
            free(text);
        }
        if (!rc) {
            L->out = fopen(path, fresh ? "w" : "a");
            if (!L->out) {
                fprintf(stderr, "relp: --out %s: cannot write the file\n", path);
                rc = 1;
            } else if (fresh) {
                fprintf(L->out, "%s\n", head_line);
                fflush(L->out);
            }
        }
        if (!rc && L->n_done_before)
            fprintf(stderr, "relp: resuming %s: %d of %d batches already done\n", path, L->n_done_before, n_batches);
        if (!rc) {
            interrupt_len = (size_t)snprintf(interrupt_msg, sizeof interrupt_msg,
                                             "\nrelp: interrupted; the finished batches are in %s: run the same command with "
                                             "--resume to continue\n", path);
            if (interrupt_len >= sizeof interrupt_msg) interrupt_len = sizeof interrupt_msg - 1;
            signal(SIGINT, on_interrupt);
            signal(SIGTERM, on_interrupt);
        }
        free(head_line);
    }
#ifdef RELP_MPI
    if (L->size > 1) {
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
        MPI_Bcast(L->done, n_batches, MPI_CHAR, 0, MPI_COMM_WORLD);
    }
#endif
    for (int g = 0; g < n_batches; g++) L->todo += run_log_mine(L, g);
    L->t0 = now_ms();
    return rc;
}

int run_log_mine(const struct run_log *L, int g) { return !L->done[g] && g % L->size == L->rank; }

static int write_record(struct run_log *L, const struct record *r) {
    if (!L->out) return 0;
    char *buf = NULL;
    size_t len = 0;
    if (record_serialize(r, &buf, &len)) return 1;
    int ok = fwrite(buf, 1, len, L->out) == len && fflush(L->out) == 0;
    free(buf);
    if (!ok) fprintf(stderr, "relp: --out: cannot write (disk full?)\n");
    return !ok;
}

int run_log_put(struct run_log *L, struct record *r) {
    int g = r->batch, rc = 0;
    if (L->rank == 0) rc = write_record(L, r);
    else if (record_serialize(r, &L->pending, &L->pending_len)) rc = 1;
    record_free(&L->recs[g]);
    L->recs[g] = *r;
    L->done[g] = 1;
    memset(r, 0, sizeof *r);
    L->finished++;
    double el = (now_ms() - L->t0) / 1000.0;
    double eta = L->finished ? el / L->finished * (L->todo - L->finished) : 0;
    char who[32] = "";
    if (L->size > 1) snprintf(who, sizeof who, " [rank %d/%d]", L->rank, L->size);
    fprintf(stderr, "relp%s: batch %d done: %d/%d of this run, %.1f s elapsed, ETA %.0f s\n", who, g + 1, L->finished,
            L->todo, el, eta);
    return rc;
}

int run_log_gather(struct run_log *L) {
    int rc = 0;
#ifdef RELP_MPI
    if (L->size > 1) {
        if (L->rank != 0) {
            unsigned long long n = L->pending_len;
            MPI_Send(&n, 1, MPI_UNSIGNED_LONG_LONG, 0, 1, MPI_COMM_WORLD);
            if (n) MPI_Send(L->pending, (int)n, MPI_CHAR, 0, 2, MPI_COMM_WORLD);
        } else {
            for (int src = 1; src < L->size && !rc; src++) {
                unsigned long long n = 0;
                MPI_Recv(&n, 1, MPI_UNSIGNED_LONG_LONG, src, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                char *text = malloc(n + 1);
                if (!text) return 1;
                if (n) MPI_Recv(text, (int)n, MPI_CHAR, src, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                for (size_t i = 0; i < n && !rc;) {
                    size_t e = i;
                    while (e < n && text[e] != '\n') e++;
                    struct record r;
                    char err[256];
                    if (record_parse(text + i, e - i, &r, err, sizeof err) || r.batch >= L->n_batches) {
                        fprintf(stderr, "relp: a record from rank %d is broken: %s\n", src, err);
                        rc = 1;
                    } else {
                        rc = write_record(L, &r);
                        record_free(&L->recs[r.batch]);
                        L->recs[r.batch] = r;
                        L->done[r.batch] = 1;
                    }
                    i = e + 1;
                }
                free(text);
            }
        }
        MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    }
#endif
    if (!rc && L->rank == 0)
        for (int g = 0; g < L->n_batches; g++)
            if (!L->done[g]) {
                fprintf(stderr, "relp: batch %d has no result\n", g);
                return 1;
            }
    return rc;
}

void run_log_close(struct run_log *L) {
    if (L->out) fclose(L->out);
    for (int g = 0; g < L->n_batches && L->recs; g++) record_free(&L->recs[g]);
    free(L->recs);
    free(L->done);
    free(L->pending);
    memset(L, 0, sizeof *L);
}
