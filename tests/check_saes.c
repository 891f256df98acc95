/* check_saes.c - the bundled model's SAE figures (models-small/ioi-4l/saes/saes.json, made by
 * tools/eval_saes.py in PyTorch) recomputed with relp's C engine, through relp.h only: per SAE the fraction of
 * variance unexplained, the mean L0, the dead fraction and the relative error at BOS on the held-out documents,
 * and the IOI logit difference and accuracy unspliced and with every SAE spliced in (no error terms, hook by hook
 * in forward order, each reading the activation as the earlier splices left it). Prints one JSON object.
 *
 *   check_saes MODEL_DIR SAES_DIR heldout.jsonl wang.jsonl */
#define _POSIX_C_SOURCE 200809L
#include "relp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what, const char *msg) {
    fprintf(stderr, "check_saes: %s: %s\n", what, msg);
    exit(1);
}

/* the "tokens" array of every line of a JSON Lines file (and "answer"/"wrong" ids when present) */
struct doc {
    int32_t *ids;
    int n;
    int32_t answer, wrong;
};

static struct doc *read_docs(const char *path, int *n_docs) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path, "cannot read");
    struct doc *d = NULL;
    int n = 0, cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) > 0) {
        struct relp_json_doc j;
        memset(&j, 0, sizeof j);
        if (relp_json_parse(&j, line, (size_t)len)) die(path, j.error);
        const struct relp_json_value *t = relp_json_get(&j, &j.v[0], "tokens");
        if (!t || t->type != RELP_JSON_ARRAY) die(path, "a line without \"tokens\"");
        if (n == cap) d = realloc(d, sizeof *d * (size_t)(cap = cap ? 2 * cap : 1024));
        d[n].n = t->n_children;
        d[n].ids = malloc(sizeof(int32_t) * (size_t)t->n_children);
        int i = 0;
        for (const struct relp_json_value *v = relp_json_first(&j, t); v; v = relp_json_next(&j, v)) d[n].ids[i++] = (int32_t)v->num;
        const struct relp_json_value *a = relp_json_get(&j, &j.v[0], "answer_id"), *w = relp_json_get(&j, &j.v[0], "wrong_id");
        d[n].answer = a ? (int32_t)a->num : -1;
        d[n].wrong = w ? (int32_t)w->num : -1;
        n++;
        relp_json_free(&j);
    }
    free(line);
    fclose(f);
    *n_docs = n;
    return d;
}

int main(int argc, char **argv) {
    if (argc != 5) die("usage", "check_saes MODEL_DIR SAES_DIR heldout.jsonl wang.jsonl");
    struct relp_model *m = NULL;
    struct relp_saes *s = NULL;
    if (relp_model_init_from_dir(&m, argv[1], NULL)) die(argv[1], relp_last_error(m));
    if (relp_saes_init_from_dir(&s, m, argv[2])) die(argv[2], relp_saes_last_error(s));
    const int ns = relp_saes_count(s), C = relp_model_config(m)->n_embd;
    int n_docs = 0, n_ioi = 0;
    struct doc *docs = read_docs(argv[3], &n_docs), *ioi = read_docs(argv[4], &n_ioi);
    int Tmax = 0;
    for (int i = 0; i < n_docs; i++) Tmax = docs[i].n > Tmax ? docs[i].n : Tmax;
    for (int i = 0; i < n_ioi; i++) Tmax = ioi[i].n > Tmax ? ioi[i].n : Tmax;
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = n_ioi, cp.max_tokens = Tmax, cp.n_threads = 2;
    struct relp_ctx *ctx = NULL;
    if (relp_ctx_init(&ctx, m, &cp)) die("context", relp_ctx_last_error(ctx));
    struct relp_sae_info info[64];
    int d_sae = 0;
    for (int i = 0; i < ns; i++) {
        relp_saes_info(s, i, &info[i]);
        d_sae = info[i].d_sae > d_sae ? info[i].d_sae : d_sae;
    }
    /* per SAE: squared error, sum and sum of squares of x (per dimension), L0 count, fired latents, BOS error */
    double *err = calloc((size_t)ns, sizeof(double)), *l0 = calloc((size_t)ns, sizeof(double));
    double *sx = calloc((size_t)ns * C, sizeof(double)), *sxx = calloc((size_t)ns * C, sizeof(double));
    double *bos = calloc((size_t)ns, sizeof(double));
    unsigned char *fired = calloc((size_t)ns * d_sae, 1);
    float *f = malloc(sizeof(float) * (size_t)Tmax * d_sae * (size_t)(n_ioi > 1 ? n_ioi : 1));
    float *xh = malloc(sizeof(float) * (size_t)Tmax * C * (size_t)(n_ioi > 1 ? n_ioi : 1));
    long long n_tok = 0;
    const int32_t one = 0;
    relp_ctx_set_logit_tokens(ctx, &one, 1); /* the held-out pass reads no logits: compute one column */
    /* documents of one length run as one batch (at most the context's max_batch) */
    unsigned char *seen = calloc((size_t)n_docs, 1);
    int32_t *batch = malloc(sizeof(int32_t) * (size_t)cp.max_batch * Tmax);
    for (int i = 0; i < n_docs; i++) {
        if (seen[i]) continue;
        const int T = docs[i].n;
        int B = 0, first = -1;
        for (int j = i; j < n_docs && B < cp.max_batch; j++)
            if (!seen[j] && docs[j].n == T) {
                memcpy(batch + (size_t)B * T, docs[j].ids, sizeof(int32_t) * (size_t)T);
                if (j == 0) first = B;
                seen[j] = 1;
                B++;
            }
        if (relp_forward(ctx, batch, B, T)) die("forward", relp_ctx_last_error(ctx));
        n_tok += (long long)B * (T - 1);
        for (int k = 0; k < ns; k++) {
            const float *x = relp_ctx_node(ctx, info[k].node, info[k].layer);
            relp_sae_encode(s, k, x, (int64_t)B * T, f);
            relp_sae_decode(s, k, f, (int64_t)B * T, xh);
            for (int r = 0; r < B * T; r++) {
                const int t = r % T;
                double e = 0, xx = 0;
                for (int c = 0; c < C; c++) {
                    const double v = x[(size_t)r * C + c], dv = xh[(size_t)r * C + c] - v;
                    e += dv * dv;
                    xx += v * v;
                    if (t > 0) sx[(size_t)k * C + c] += v, sxx[(size_t)k * C + c] += v * v;
                }
                if (t == 0) { /* BOS: the error of the first document's */
                    if (r / T == first) bos[k] = e / xx;
                    continue;
                }
                err[k] += e;
                for (int q = 0; q < info[k].d_sae; q++)
                    if (f[(size_t)r * info[k].d_sae + q] > 0) l0[k]++, fired[(size_t)k * d_sae + q] = 1;
            }
        }
    }
    free(seen);
    free(batch);
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    printf("{\"tokens\":%lld,\"saes\":{", n_tok);
    for (int k = 0; k < ns; k++) {
        double var = 0;
        for (int c = 0; c < C; c++) {
            const double mu = sx[(size_t)k * C + c] / n_tok;
            var += sxx[(size_t)k * C + c] - n_tok * mu * mu;
        }
        int dead = 0;
        for (int q = 0; q < info[k].d_sae; q++) dead += !fired[(size_t)k * d_sae + q];
        printf("%s\"%s\":{\"fvu\":%.9g,\"l0\":%.9g,\"dead_fraction\":%.9g,\"bos_rel_error\":%.9g}", k ? "," : "",
               info[k].hook_name, err[k] / var, l0[k] / n_tok, (double)dead / info[k].d_sae, bos[k]);
    }
    /* IOI: prompts grouped by length; unspliced, then every SAE spliced in forward order */
    printf("},\"ioi\":{");
    for (int spliced = 0; spliced < 2; spliced++) {
        double sum = 0;
        int right = 0;
        unsigned char *done = calloc((size_t)n_ioi, 1);
        int32_t *ids = malloc(sizeof(int32_t) * (size_t)n_ioi * Tmax), *ans = malloc(sizeof(int32_t) * (size_t)n_ioi),
                *wr = malloc(sizeof(int32_t) * (size_t)n_ioi);
        float *vals = malloc(sizeof(float) * (size_t)ns * n_ioi * Tmax * C);
        for (int i = 0; i < n_ioi; i++) {
            if (done[i]) continue;
            const int T = ioi[i].n;
            int B = 0;
            for (int j = i; j < n_ioi; j++)
                if (!done[j] && ioi[j].n == T) {
                    memcpy(ids + (size_t)B * T, ioi[j].ids, sizeof(int32_t) * (size_t)T);
                    ans[B] = ioi[j].answer, wr[B] = ioi[j].wrong;
                    done[j] = 1;
                    B++;
                }
            if (relp_forward(ctx, ids, B, T)) die("forward", relp_ctx_last_error(ctx));
            struct relp_patch p[64];
            for (int k = 0; spliced && k < ns; k++) { /* hook k from the run with hooks < k spliced */
                const float *x = relp_ctx_node(ctx, info[k].node, info[k].layer);
                float *v = vals + (size_t)k * n_ioi * Tmax * C;
                relp_sae_encode(s, k, x, (int64_t)B * T, f);
                relp_sae_decode(s, k, f, (int64_t)B * T, v);
                p[k] = (struct relp_patch){info[k].node, info[k].layer, -1, -1, v, 0, 0};
                if (relp_forward_patched(ctx, p, k + 1)) die("patched", relp_ctx_last_error(ctx));
            }
            const float *lg = relp_ctx_logits(ctx, NULL);
            const int V = relp_model_config(m)->vocab_size;
            for (int b = 0; b < B; b++) {
                const double d = (double)lg[(size_t)b * V + ans[b]] - lg[(size_t)b * V + wr[b]];
                sum += d;
                right += d > 0;
            }
        }
        printf("%s\"%s\":{\"logit_diff\":%.9g,\"accuracy\":%.9g}", spliced ? "," : "", spliced ? "all_spliced" : "clean",
               sum / n_ioi, (double)right / n_ioi);
        free(done), free(ids), free(ans), free(wr), free(vals);
    }
    printf("}}\n");
    return 0;
}
