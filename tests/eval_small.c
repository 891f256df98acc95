/* eval_small.c - IOI and induction scores of a model with relp's C engine.
 *
 *   eval_small MODEL_DIR IOI.jsonl INDUCTION.jsonl
 * IOI.jsonl: {"prompt", "answer", "wrong"} per line (answer/wrong: one token
 * each, e.g. " Mary"); accuracy = share with logit(answer) > logit(wrong),
 * plus the mean logit difference. INDUCTION.jsonl: {"tokens": [BOS, x1..xk,
 * x1..xk]} per line; accuracy = share of the second half's positions
 * (after its first token) whose argmax over the whole vocabulary is the next
 * token. Prints one JSON line. Either file may be "-" (none). For IOI lines it
 * also reports the share whose top-1 token over the whole vocabulary is the
 * answer, the mean and least softmax probability of the answer, and the
 * least logit difference. */
#include "relp.h"
#include "io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int next_line(const char *s, size_t n, size_t *i, size_t *b, size_t *e) {
    while (*i < n && (s[*i] == '\n' || s[*i] == '\r')) (*i)++;
    if (*i >= n) return 0;
    *b = *i;
    while (*i < n && s[*i] != '\n') (*i)++;
    *e = *i;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    struct relp_model *m = NULL;
    if (relp_model_init_from_dir(&m, argv[1], NULL)) {
        fprintf(stderr, "%s\n", relp_last_error(m));
        return 1;
    }
    const struct relp_config *c = relp_model_config(m);
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_tokens = c->n_positions;
    struct relp_ctx *ctx = NULL;
    if (relp_ctx_init(&ctx, m, &cp)) return 1;
    struct relp_mapped_file f;
    char err[512];
    int32_t ids[1024];
    int64_t n;
    int ioi_n = 0, ioi_ok = 0, top1 = 0;
    double diff_sum = 0, p_sum = 0, p_min = 1, diff_min = INFINITY;
    if (strcmp(argv[2], "-") && relp__map_file(&f, argv[2], 0, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    size_t i = 0, b, e;
    while (strcmp(argv[2], "-") && next_line((const char *)f.data, f.size, &i, &b, &e)) {
        struct relp_json_doc d;
        if (relp_json_parse(&d, (const char *)f.data + b, e - b)) return 2;
        const struct relp_json_value *p = relp_json_get(&d, &d.v[0], "prompt"), *a = relp_json_get(&d, &d.v[0], "answer"),
                                *w = relp_json_get(&d, &d.v[0], "wrong");
        int32_t ta[4], tw[4];
        int64_t na, nw;
        if (!p || !a || !w || relp_tokenize(m, p->str, -1, 1, ids, 1024, &n) ||
            relp_tokenize(m, a->str, -1, 0, ta, 4, &na) || relp_tokenize(m, w->str, -1, 0, tw, 4, &nw) || na != 1 ||
            nw != 1 || relp_forward(ctx, ids, 1, (int32_t)n)) {
            fprintf(stderr, "bad IOI line %d\n", ioi_n + 1);
            return 2;
        }
        const float *lg = relp_ctx_logits(ctx, NULL);
        double dlt = (double)lg[ta[0]] - lg[tw[0]];
        ioi_ok += dlt > 0;
        diff_sum += dlt;
        if (dlt < diff_min) diff_min = dlt;
        int best = 0;
        double z = 0;
        for (int v = 1; v < c->vocab_size; v++)
            if (lg[v] > lg[best]) best = v;
        for (int v = 0; v < c->vocab_size; v++) z += exp((double)lg[v] - lg[best]);
        double pa = exp((double)lg[ta[0]] - lg[best]) / z;
        top1 += best == ta[0];
        p_sum += pa;
        if (pa < p_min) p_min = pa;
        ioi_n++;
        relp_json_free(&d);
    }
    if (strcmp(argv[2], "-")) relp__unmap_file(&f);
    if (strcmp(argv[3], "-") && relp__map_file(&f, argv[3], 0, err, sizeof err)) return 2;
    int ind_n = 0, ind_ok = 0, seqs = 0;
    i = 0;
    int32_t pos[64];
    while (strcmp(argv[3], "-") && next_line((const char *)f.data, f.size, &i, &b, &e)) {
        struct relp_json_doc d;
        if (relp_json_parse(&d, (const char *)f.data + b, e - b)) return 2;
        const struct relp_json_value *t = relp_json_get(&d, &d.v[0], "tokens");
        int T = 0;
        for (const struct relp_json_value *x = relp_json_first(&d, t); x && T < 1024; x = relp_json_next(&d, x)) ids[T++] = (int32_t)x->num;
        int k = (T - 1) / 2, np = 0;
        for (int q = k + 1; q < T - 1 && np < 64; q++) pos[np++] = q; /* positions predicting x2..xk of the repeat */
        if (relp_ctx_set_logit_positions(ctx, pos, np) || relp_forward(ctx, ids, 1, T)) {
            fprintf(stderr, "induction line %d: %s\n", seqs + 1, relp_ctx_last_error(ctx));
            return 2;
        }
        const float *lg = relp_ctx_logits(ctx, NULL);
        for (int j = 0; j < np; j++) {
            const float *row = lg + (size_t)j * c->vocab_size;
            int best = 0;
            for (int v = 1; v < c->vocab_size; v++)
                if (row[v] > row[best]) best = v;
            ind_ok += best == ids[pos[j] + 1];
            ind_n++;
        }
        seqs++;
        relp_json_free(&d);
    }
    if (strcmp(argv[3], "-")) relp__unmap_file(&f);
    int in = ioi_n ? ioi_n : 1;
    printf("{\"ioi_prompts\":%d,\"ioi_accuracy\":%.4f,\"logit_diff\":%.4f,\"min_logit_diff\":%.4f,\"top1\":%.4f,"
           "\"p_answer\":%.4f,\"min_p_answer\":%.4f,\"induction_sequences\":%d,\"induction_accuracy\":%.4f}\n",
           ioi_n, (double)ioi_ok / in, diff_sum / in, ioi_n ? diff_min : 0.0, (double)top1 / in, p_sum / in,
           ioi_n ? p_min : 0.0, seqs, (double)ind_ok / (ind_n ? ind_n : 1));
    relp_ctx_free(ctx);
    relp_model_free(m);
    return 0;
}
