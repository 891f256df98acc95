/* methods.c - activation patching (AP), attribution patching with
 * switchable rules (AtP / RelP), integrated gradients (IG) and token
 * relevance, built on the context's forward, patched re-runs and backward.
 *
 * Denoising (the official RelP code's direction): the base run is the
 * corrupted batch and clean values are patched in; noising swaps the two.
 * AP sweeps run up to GROUP_MAX patches per pass as copies of the batch,
 * each copy recomputing only what its patch changes and reading the rest from
 * the base run (relp__forward_sweep), bit-identical to one patch at a time
 * (tests/check_methods.c, tests/test_wasm.mjs). A batch too large to copy is
 * patched in place, from the last layer and position to the first, so that
 * each re-run starts at its own layer and position (relp_forward_patched
 * tracks what the previous patch touched). See relp.h for the definitions. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct relp_attr_params relp_attr_default_params(void) {
    struct relp_attr_params p;
    memset(&p, 0, sizeof p);
    p.method = RELP_METHOD_GRAD;
    p.node = RELP_NODE_RESID_PRE;
    p.ig_steps = 10;
    p.rules = *relp_rules_preset("grad");
    return p;
}

int64_t relp_attr_count(const struct relp_model *m, const struct relp_attr_params *p, int32_t T) {
    const int64_t L = m->d.L, NH = m->d.NH;
    if (p->node == RELP_NODE_ATTN_Z) return p->per_position ? L * NH * T : L * NH;
    if (p->node == RELP_NODE_MLP_POST) return L * T * m->d.I;
    return L * T;
}

double relp_pearson(const float *a, const float *b, int64_t n) {
    double ma = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (int64_t i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if (saa <= 0 || sbb <= 0) return NAN;
    return sab / sqrt(saa * sbb);
}

/* values of one layer of a node type: B * T * its width */
static size_t node_size(const struct relp_ctx *ctx, enum relp_node node) {
    return (size_t)ctx->B * ctx->T * (size_t)relp_node_width(ctx->model, node);
}

/* (L, B, T, width) copy of a node type's activations in the current run */
static void save_node(const struct relp_ctx *ctx, enum relp_node node, float *dst) {
    size_t n = node_size(ctx, node);
    for (int l = 0; l < ctx->model->d.L; l++) memcpy(dst + l * n, relp_ctx_node(ctx, node, l), n * sizeof(float));
}

int relp__cancelled(const struct relp_ctx *ctx) { return ctx->cancel && ctx->cancel(ctx->cancel_user); }

/* Scores of one layer: sum over batch and width of delta * coef, per position
 * (or per head, or per head and position). delta and coef: (B, T, width):
 * C, or NH * HS for heads. */
static void reduce_scores(const struct relp_ctx *ctx, const struct relp_attr_params *p, int l, const float *delta,
                          const float *coef, float scale, float *scores) {
    const struct relp_dims *dm = &ctx->model->d;
    const int B = ctx->B, T = ctx->T, C = relp_node_width(ctx->model, p->node), NH = dm->NH, HS = dm->HS;
    if (p->node == RELP_NODE_MLP_POST) { /* one score per neuron: (L, T, I) */
        for (int t = 0; t < T; t++)
            for (int d = 0; d < C; d++) {
                double s = 0;
                for (int b = 0; b < B; b++) {
                    size_t o = ((size_t)b * T + t) * C + d;
                    s += (double)delta[o] * coef[o];
                }
                scores[((size_t)l * T + t) * C + d] = (float)(s * scale);
            }
        return;
    }
    if (p->node != RELP_NODE_ATTN_Z) {
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int b = 0; b < B; b++) {
                size_t o = ((size_t)b * T + t) * C;
                for (int d = 0; d < C; d++) s += (double)delta[o + d] * coef[o + d];
            }
            scores[(size_t)l * T + t] = (float)(s * scale);
        }
        return;
    }
    for (int h = 0; h < NH; h++) {
        double total = 0;
        for (int t = 0; t < T; t++) {
            double s = 0;
            for (int b = 0; b < B; b++) {
                size_t o = ((size_t)b * T + t) * C + (size_t)h * HS;
                for (int d = 0; d < HS; d++) s += (double)delta[o + d] * coef[o + d];
            }
            if (p->per_position) scores[((size_t)l * NH + h) * T + t] = (float)(s * scale);
            total += s;
        }
        if (!p->per_position) scores[(size_t)l * NH + h] = (float)(total * scale);
    }
}

static enum relp_status check_inputs(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                     int32_t T, const struct relp_metric *mt, const struct relp_attr_params *p) {
    if (!clean || !corrupt || !mt || !p) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "attribute: NULL argument");
    if (p->node != RELP_NODE_RESID_PRE && p->node != RELP_NODE_ATTN_OUT && p->node != RELP_NODE_MLP_OUT &&
        p->node != RELP_NODE_ATTN_Z && p->node != RELP_NODE_MLP_POST)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "attribute: node must be resid_pre, attn_out, mlp_out, attention heads (z) or neurons "
                              "(mlp_post)");
    if ((int)p->method < 0 || p->method > RELP_METHOD_IG_INPUT)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "attribute: unknown method %d", (int)p->method);
    if ((p->method == RELP_METHOD_IG || p->method == RELP_METHOD_IG_INPUT) && (p->ig_steps < 1 || p->ig_steps > 100000))
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "attribute: IG steps %d out of range [1, 100000]",
                              p->ig_steps);
    (void)B;
    (void)T;
    return RELP_STATUS_OK;
}

/* Runs base and source batches; fills src_nodes[i] (L,B,T,C) with the
 * source's values of nodes[i] and leaves the base run in the cache.
 * Denoising: source = clean, base = corrupted. */
static enum relp_status two_runs(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                 int32_t T, const struct relp_metric *mt, const struct relp_attr_params *p,
                                 const enum relp_node *nodes, int n_nodes, float *const *src_nodes, double *mc,
                                 double *mr) {
    enum relp_status st;
    const int32_t *src = p->noising ? corrupt : clean, *base = p->noising ? clean : corrupt;
    double v_src, v_base;
    if ((st = relp_forward(ctx, src, B, T)) || (st = relp_metric_value(ctx, mt, &v_src))) return st;
    for (int i = 0; i < n_nodes; i++) save_node(ctx, nodes[i], src_nodes[i]);
    if ((st = relp_forward(ctx, base, B, T)) || (st = relp_metric_value(ctx, mt, &v_base))) return st;
    *mc = p->noising ? v_base : v_src;
    *mr = p->noising ? v_src : v_base;
    ctx->error[0] = '\0';
    return RELP_STATUS_OK;
}

/* 1 / (m_clean - m_corrupt), or 1 when they are equal (then the scores are in
 * metric units, and the context's warnings say so: relp.h WARNINGS) */
double relp__norm_of(struct relp_ctx *ctx, double mc, double mr) {
    relp__warn_gap(ctx, mc, mr); /* GAP_ZERO when equal: the scores are then in metric units */
    return mc != mr ? 1.0 / (mc - mr) : 1.0;
}

/* One backward pass, then the scores of every node type asked for. */
static enum relp_status attribute_grad(struct relp_ctx *ctx, const struct relp_metric *mt,
                                       const struct relp_attr_params *p, const enum relp_node *nodes, int n_nodes,
                                       float *const *src, float *const *scores, double mc, double mr) {
    const struct relp_dims *dm = &ctx->model->d;
    size_t nmax = 0;
    for (int i = 0; i < n_nodes; i++) nmax = node_size(ctx, nodes[i]) > nmax ? node_size(ctx, nodes[i]) : nmax;
    struct relp_metric scaled = *mt;
    scaled.scale = (float)relp__norm_of(ctx, mc, mr);
    enum relp_status st = relp_backward(ctx, &scaled, &p->rules, NULL);
    if (st) return st;
    float *delta = malloc(nmax * sizeof(float));
    if (!delta) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    for (int i = 0; i < n_nodes; i++) {
        struct relp_attr_params pn = *p;
        pn.node = nodes[i];
        const size_t n = node_size(ctx, nodes[i]);
        for (int l = 0; l < dm->L; l++) {
            const float *base = relp_ctx_node(ctx, nodes[i], l);
            for (size_t k = 0; k < n; k++) delta[k] = src[i][l * n + k] - base[k];
            reduce_scores(ctx, &pn, l, delta, relp_ctx_node_grad(ctx, nodes[i], l), 1.0f, scores[i]);
        }
    }
    free(delta);
    return RELP_STATUS_OK;
}

/* A logit or logit-difference metric reads two columns of the logits: only
 * those are computed (the whole unembedding would be ~15% of a GPT-2 small
 * pass). The log-probability metric keeps them all. */
enum relp_status relp__restrict_logits(struct relp_ctx *ctx, const struct relp_metric *mt, int B) {
    if (mt->kind == RELP_METRIC_LOGPROB) return relp_ctx_set_logit_tokens(ctx, NULL, 0);
    int32_t *ids = malloc(sizeof(int32_t) * 2 * (size_t)B);
    if (!ids) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    int n = 0;
    for (int b = 0; b < B; b++) {
        ids[n++] = mt->answer[b];
        if (mt->kind == RELP_METRIC_LOGIT_DIFF) ids[n++] = mt->wrong[b];
    }
    enum relp_status st = relp_ctx_set_logit_tokens(ctx, ids, n);
    free(ids);
    return st;
}

/* Patched runs evaluated per pass: AP and IG replicate a small batch so that
 * several patched runs share one pass over the weights (with few rows per
 * prompt, streaming the weights, not arithmetic, is what a run costs). Each
 * row's arithmetic does not depend on the rows beside it (ops.h), so every
 * copy computes exactly what a run of its own would. */
#define GROUP_MAX 16     /* copies per pass at most */
#define GROUP_ROWS 256   /* rows (copies x B x T) per pass at most: AP and IG at B*T >= this run one copy */
#define SWEEP_MIB 256    /* an exact sweep's copies: memory at most, or a quarter of the weights if more */

/* G copies of ctx's current batch (its base run recomputed in a context of
 * their own, unless base is 0: then the first patched run computes it) with
 * the metric's tokens repeated; G = 1 is ctx itself. Falls back to G = 1
 * when memory is short. */
void relp__replica_free(struct relp_ctx *ctx, struct relp__replica *r) {
    if (r->run && r->run != ctx) relp_ctx_free(r->run);
    free(r->ids);
    free(r->ans);
    free(r->wrong);
    memset(r, 0, sizeof *r);
}

enum relp_status relp__replicate(struct relp_ctx *ctx, const struct relp_metric *mt, int G, int base,
                                struct relp__replica *r) {
    const int B = ctx->B, T = ctx->T;
    memset(r, 0, sizeof *r);
    r->run = ctx;
    r->G = 1;
    r->mt = *mt;
    if (G < 1 || (G == 1 && !(base & RELP__REPLICA_OWN))) return RELP_STATUS_OK;
    struct relp_ctx_params cp = ctx->params;
    cp.max_batch = G * B;
    cp.max_tokens = T;
    struct relp_ctx *run = NULL;
    r->ids = malloc(sizeof(int32_t) * (size_t)G * B * T);
    r->ans = malloc(sizeof(int32_t) * (size_t)G * B);
    r->wrong = malloc(sizeof(int32_t) * (size_t)G * B);
    if (!r->ids || !r->ans || !r->wrong ||
        (base & RELP__REPLICA_OWN ? relp__ctx_init_forward(&run, ctx->model, &cp) : relp_ctx_init(&run, ctx->model, &cp))) {
        relp_ctx_free(run);
        relp__replica_free(ctx, r); /* not enough memory for the copies: one run per pass */
        r->run = ctx;
        r->G = 1;
        r->mt = *mt;
        return RELP_STATUS_OK;
    }
    r->run = run;
    r->G = G;
    run->cancel = ctx->cancel;
    run->cancel_user = ctx->cancel_user;
    for (int g = 0; g < G; g++) {
        memcpy(r->ids + (size_t)g * B * T, ctx->ids, sizeof(int32_t) * (size_t)B * T);
        memcpy(r->ans + g * B, mt->answer, sizeof(int32_t) * B);
        if (mt->wrong) memcpy(r->wrong + g * B, mt->wrong, sizeof(int32_t) * B);
    }
    r->mt.answer = r->ans;
    r->mt.wrong = mt->wrong ? r->wrong : NULL;
    enum relp_status st = relp__restrict_logits(run, mt, B);
    if (!st) st = base & 1 ? relp_forward(run, r->ids, G * B, T) : relp__forward_deferred(run, r->ids, G * B, T);
    if (st) relp__ctx_fail(ctx, st, "%s", relp_ctx_last_error(run));
    return st;
}

/* Copies of the batch an exact sweep runs side by side (relp__forward_sweep): up to GROUP_MAX within
 * GROUP_ROWS rows and the memory SWEEP_MIB allows; 0 where the batch alone exceeds those, or ctx has a
 * forward hook: then ctx itself is patched and re-run (relp_forward_patched). */
static int sweep_copies(const struct relp_ctx *ctx, int64_t n) {
    const int B = ctx->B, T = ctx->T;
    if (B * T > GROUP_ROWS || ctx->fwd_hook || n < 1) return 0;
    size_t budget = (size_t)SWEEP_MIB << 20, weights = ctx->model->owned_bytes + ctx->model->mapped_bytes;
    if (weights / 4 > budget) budget = weights / 4;
    int G = GROUP_MAX;
    while (G > 1 && G * B * T > GROUP_ROWS) G--;
    if (G > n) G = (int)n;
    struct relp_ctx_params cp = ctx->params;
    cp.max_tokens = T;
    for (cp.max_batch = G * B; G > 1 && relp__ctx_mem_forward(ctx->model, &cp) > budget; cp.max_batch = G * B) G--;
    return G;
}

/* The context a sweep's passes run in: copies of ctx's batch whose runs start where their patches do
 * (*sweep = 1), or ctx itself (*sweep = 0). */
static enum relp_status sweep_begin(struct relp_ctx *ctx, const struct relp_metric *mt, int64_t n,
                                    struct relp__replica *rep, int *sweep) {
    enum relp_status st = RELP_STATUS_OK;
    const int G = sweep_copies(ctx, n);
    *sweep = 0;
    if (G > 0 && ctx->dirty_stage != INT32_MAX) st = relp_forward_patched(ctx, NULL, 0); /* the base run, unpatched */
    if (!st) st = relp__replicate(ctx, mt, G, G > 0 ? RELP__REPLICA_OWN : 1, rep);
    *sweep = !st && rep->run != ctx;
    return st;
}

/* one pass; noop[g] = 1 where patch g changed nothing and was not run (its metric is the base run's) */
static enum relp_status sweep_pass(struct relp_ctx *ctx, struct relp_ctx *run, int sweep, const struct relp_patch *patches,
                                   int n, int8_t *noop) {
    memset(noop, 0, (size_t)n);
    enum relp_status st = sweep ? relp__forward_sweep(run, ctx, patches, n, noop) : relp_forward_patched(run, patches, n);
    if (st && run != ctx) relp__ctx_fail(ctx, st, "%s", relp_ctx_last_error(run));
    return st;
}

static enum relp_status attribute_ap(struct relp_ctx *ctx, const struct relp_metric *mt,
                                     const struct relp_attr_params *p, const float *src, float *scores, double mc,
                                     double mr) {
    const struct relp_dims *dm = &ctx->model->d;
    const int B = ctx->B, T = ctx->T, C = relp_node_width(ctx->model, p->node), L = dm->L, NH = dm->NH, HS = dm->HS;
    const size_t n = (size_t)B * T * C;
    const int heads = p->node == RELP_NODE_ATTN_Z, neurons = p->node == RELP_NODE_MLP_POST;
    const int per_pos = !heads || p->per_position;
    const int units = heads ? NH : neurons ? C : 1, per_layer = units * (per_pos ? T : 1);
    const int64_t total = (int64_t)L * per_layer;
    const double norm = relp__norm_of(ctx, mc, mr);
    const double base_value = p->noising ? mc : mr; /* the base run's metric */
    struct relp__replica rep;
    int sweep;
    enum relp_status st = sweep_begin(ctx, mt, total, &rep, &sweep);
    struct relp_ctx *run = rep.run;
    const struct relp_metric rmt = rep.mt;
    int G = rep.G;
    float *vals = malloc(sizeof(float) * ((size_t)G * (per_pos ? (size_t)B * C : n) + (neurons ? n : 0)));
    float *base_l = neurons ? vals + (size_t)G * B * C : NULL; /* neurons: the base run's layer, (B, T, I) */
    if (!st && !vals) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    struct relp_patch patches[GROUP_MAX];
    int8_t noop[GROUP_MAX];
    int64_t done = 0;
    for (int l = L - 1; l >= 0 && !st; l--) {
        const float *sl = src + l * n;
        /* a neuron's patch is its row with one value changed: the rest from the base run, as it is before
         * any patch of this layer (earlier patches were of later layers and left this one untouched) */
        if (neurons && !st) memcpy(base_l, relp_ctx_node(ctx, p->node, l), n * sizeof(float));
        /* items of this layer, latest position first: item i -> unit u, position t */
        for (int i0 = 0; i0 < per_layer && !st; i0 += G) {
            const int gn = per_layer - i0 < G ? per_layer - i0 : G;
            for (int g = 0; g < gn; g++) {
                int item = i0 + g, u = units - 1 - item / (per_pos ? T : 1), t = per_pos ? T - 1 - item % T : -1;
                if (neurons) { /* position outer: a pass's patches share their position */
                    t = T - 1 - item / units;
                    u = units - 1 - item % units;
                }
                const int w = heads ? HS : C, off = heads ? u * HS : 0;
                float *v = vals + (size_t)g * (per_pos ? (size_t)B * C : n);
                for (int b = 0; b < B; b++) { /* the source values: (B, w) or (B, T, w) */
                    if (neurons) {
                        memcpy(v + (size_t)b * C, base_l + ((size_t)b * T + t) * C, (size_t)C * 4);
                        v[(size_t)b * C + u] = sl[((size_t)b * T + t) * C + u];
                    } else if (t >= 0) memcpy(v + (size_t)b * w, sl + ((size_t)b * T + t) * C + off, (size_t)w * 4);
                    else
                        for (int tt = 0; tt < T; tt++)
                            memcpy(v + ((size_t)b * T + tt) * w, sl + ((size_t)b * T + tt) * C + off, (size_t)w * 4);
                }
                struct relp_patch pa = {p->node, l, t, heads ? u : -1, v, g * B, B};
                patches[g] = pa;
            }
            if ((st = sweep_pass(ctx, run, sweep, patches, gn, noop))) break;
            for (int g = 0; g < gn; g++) {
                int item = i0 + g, u = units - 1 - item / (per_pos ? T : 1), t = per_pos ? T - 1 - item % T : 0;
                if (neurons) {
                    t = T - 1 - item / units;
                    u = units - 1 - item % units;
                }
                double v = noop[g] ? base_value : relp__metric_range(run, &rmt, g * B, B);
                float score = (float)((v - base_value) * norm) + 0.0f; /* no -0 */
                if (neurons) scores[((size_t)l * T + t) * C + u] = score;
                else if (!heads) scores[(size_t)l * T + t] = score;
                else if (per_pos) scores[((size_t)l * NH + u) * T + t] = score;
                else scores[(size_t)l * NH + u] = score;
            }
            done += gn;
            if (p->progress) p->progress(p->progress_user, done, total);
            if (relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "activation patching cancelled");
        }
    }
    if (!st && run == ctx) st = relp_forward_patched(ctx, NULL, 0);
    relp__replica_free(ctx, &rep);
    free(vals);
    return st;
}

/* the forward stage a patch of node (layer) starts its re-run at, as model.c orders them */
static int patch_stage(const struct relp_patch *p) {
    static const int stage[] = {0, 1, 2, 3, 4, 4}; /* by enum relp_node: model.c's stage of each node */
    return p->layer * 5 + stage[p->node];
}

struct keyed {
    int64_t key; /* later stage and position first */
    int32_t i;
};

static int by_key(const void *a, const void *b) {
    const struct keyed *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return x->i - y->i;
}

enum relp_status relp__run_patches(struct relp_ctx *ctx, const struct relp_metric *mt, const struct relp_patch *patches,
                                   int32_t n, double base_value, double norm, float *effects,
                                   void (*progress)(void *user, int64_t done, int64_t total), void *progress_user,
                                   const char *what) {
    const int B = ctx->B, T = ctx->T;
    struct keyed *order = malloc(sizeof *order * (size_t)(n > 0 ? n : 1));
    if (!order) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    for (int32_t i = 0; i < n; i++) {
        order[i].key = (int64_t)patch_stage(&patches[i]) * (T + 1) + patches[i].position + 1;
        order[i].i = i;
    }
    qsort(order, (size_t)n, sizeof *order, by_key);
    struct relp__replica rep;
    int sweep;
    enum relp_status st = sweep_begin(ctx, mt, n, &rep, &sweep);
    struct relp_ctx *run = rep.run;
    const int G = rep.G;
    struct relp_patch group[GROUP_MAX];
    int8_t noop[GROUP_MAX];
    for (int32_t i0 = 0; i0 < n && !st; i0 += G) {
        const int gn = n - i0 < G ? (int)(n - i0) : G;
        for (int g = 0; g < gn; g++) {
            group[g] = patches[order[i0 + g].i];
            group[g].first_prompt = g * B;
            group[g].n_prompts = B;
        }
        if ((st = sweep_pass(ctx, run, sweep, group, gn, noop))) break;
        for (int g = 0; g < gn; g++)
            effects[order[i0 + g].i] =
                (float)(((noop[g] ? base_value : relp__metric_range(run, &rep.mt, g * B, B)) - base_value) * norm) + 0.0f;
        if (progress) progress(progress_user, i0 + gn, n);
        if (relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "%s cancelled", what);
    }
    if (!st && run == ctx) st = relp_forward_patched(ctx, NULL, 0);
    relp__replica_free(ctx, &rep);
    free(order);
    return st;
}

/* IG's steps per pass: up to GROUP_MAX copies of the batch within GROUP_ROWS rows */
int relp__ig_group(const struct relp_ctx *ctx, int steps) {
    int G = steps < GROUP_MAX ? steps : GROUP_MAX;
    while (G > 1 && (size_t)G * ctx->B * ctx->T > GROUP_ROWS) G--;
    return G;
}

/* Steps [k0, k0 + gn) of N in one pass: copy g of run's batch gets node
 * (layer) = base + (k0 + g) / N * delta, then a forward pass and a backward
 * pass down to stop_layer. vals holds gn values of n floats. */
enum relp_status relp__ig_pass(struct relp_ctx *ctx, struct relp_ctx *run, enum relp_node node, int layer,
                              const float *base, const float *delta, float *vals, size_t n, int k0, int gn, int N,
                              const struct relp_metric *scaled, int stop_layer) {
    struct relp_patch patches[GROUP_MAX];
    for (int g = 0; g < gn; g++) {
        const float a = (float)(k0 + g) / (float)N;
        float *v = vals + (size_t)g * n;
        for (size_t i = 0; i < n; i++) v[i] = base[i] + a * delta[i];
        struct relp_patch pa = {node, layer, -1, -1, v, g * ctx->B, ctx->B};
        patches[g] = pa;
    }
    enum relp_status st = relp_forward_patched(run, patches, gn);
    if (!st) st = relp__backward_to(run, scaled, relp_rules_preset("grad"), NULL, stop_layer);
    if (st && run != ctx) relp__ctx_fail(ctx, st, "%s", relp_ctx_last_error(run));
    return st;
}

/* Marks et al.'s IG, layer by layer: the layer's nodes interpolated from the
 * base run to the source, a forward pass from the layer on and a backward
 * pass down to it per step. The steps run G at a time in one replicated
 * batch (copy g takes step k0 + g), so a layer's steps share the passes over
 * the weights; the gradients are summed in step order as one at a time. */
static enum relp_status attribute_ig(struct relp_ctx *ctx, const struct relp_metric *mt,
                                     const struct relp_attr_params *p, const float *src, float *scores, double mc,
                                     double mr) {
    const int L = ctx->model->d.L, N = p->ig_steps;
    const size_t n = node_size(ctx, p->node);
    int G = relp__ig_group(ctx, N);
    float *base = malloc(n * sizeof(float) * (size_t)(L + 2 + G));
    if (!base) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    save_node(ctx, p->node, base); /* the base run, (L, B, T, C) */
    struct relp__replica rep;
    enum relp_status st = relp__replicate(ctx, mt, G, 1, &rep);
    struct relp_ctx *run = rep.run;
    G = rep.G;
    float *gsum = base + L * n, *delta = gsum + n, *vals = delta + n; /* vals: (G, B, T, C) */
    struct relp_metric scaled = rep.mt;
    scaled.scale = (float)(relp__norm_of(ctx, mc, mr) * G); /* the seed divides by the G * B rows */
    int64_t done = 0, total = (int64_t)L * N;
    for (int l = L - 1; l >= 0 && !st; l--) {
        const float *bl = base + l * n;
        for (size_t i = 0; i < n; i++) delta[i] = src[l * n + i] - bl[i];
        memset(gsum, 0, n * sizeof(float));
        for (int k0 = 0; k0 < N && !st; k0 += G) {
            const int gn = N - k0 < G ? N - k0 : G; /* copies past the last step are left over, unused */
            /* the node's own layer is as deep as the coefficient has to go */
            if ((st = relp__ig_pass(ctx, run, p->node, l, bl, delta, vals, n, k0, gn, N, &scaled, l))) break;
            const float *gr = relp_ctx_node_grad(run, p->node, l);
            for (int g = 0; g < gn; g++)
                for (size_t i = 0; i < n; i++) gsum[i] += gr[(size_t)g * n + i];
            done += gn;
            if (p->progress) p->progress(p->progress_user, done, total);
            if (relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "integrated gradients cancelled");
        }
        if (!st) reduce_scores(ctx, p, l, delta, gsum, 1.0f / (float)N, scores);
    }
    if (!st && run == ctx) st = relp_forward_patched(ctx, NULL, 0);
    relp__replica_free(ctx, &rep);
    free(base);
    return st;
}

/* IG along the input path: the embeddings (resid_pre of layer 0, whose
 * source values are emb_src) interpolated from the base run to the source,
 * G steps per pass as in attribute_ig, and each node type's gradient at
 * every layer summed over the steps. One sweep serves all layers. */
static enum relp_status attribute_ig_input(struct relp_ctx *ctx, const struct relp_metric *mt,
                                           const struct relp_attr_params *p, const enum relp_node *nodes, int n_nodes,
                                           float *const *src, const float *emb_src, float *const *scores, double mc,
                                           double mr) {
    const int L = ctx->model->d.L, N = p->ig_steps;
    const size_t n = node_size(ctx, RELP_NODE_RESID_PRE); /* the embeddings */
    int G = relp__ig_group(ctx, N);
    /* per node type i: base (L, n_i) at off[i] and gradient sums (L, n_i)
     * after it; then the base embeddings, their step (n each) and the G
     * copies' values (later reused for one layer's delta) */
    size_t off[8], ni[8], total = 0, nmax = n * (size_t)G;
    for (int i = 0; i < n_nodes; i++) {
        ni[i] = node_size(ctx, nodes[i]);
        off[i] = total;
        total += 2 * (size_t)L * ni[i];
        if (ni[i] > nmax) nmax = ni[i];
    }
    float *block = malloc(sizeof(float) * (total + 2 * n + nmax));
    if (!block) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    float *emb = block + total, *emb_delta = emb + n, *vals = emb_delta + n;
    for (int i = 0; i < n_nodes; i++) save_node(ctx, nodes[i], block + off[i]);
    for (int i = 0; i < n_nodes; i++) memset(block + off[i] + (size_t)L * ni[i], 0, (size_t)L * ni[i] * sizeof(float));
    memcpy(emb, relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0), n * sizeof(float));
    for (size_t k = 0; k < n; k++) emb_delta[k] = emb_src[k] - emb[k];
    struct relp__replica rep;
    enum relp_status st = relp__replicate(ctx, mt, G, 0, &rep);
    struct relp_ctx *run = rep.run;
    G = rep.G;
    struct relp_metric scaled = rep.mt;
    scaled.scale = (float)(relp__norm_of(ctx, mc, mr) * G); /* the seed divides by the G * B rows */
    for (int k0 = 0; k0 < N && !st; k0 += G) {
        const int gn = N - k0 < G ? N - k0 : G;
        if ((st = relp__ig_pass(ctx, run, RELP_NODE_RESID_PRE, 0, emb, emb_delta, vals, n, k0, gn, N, &scaled, 0))) break;
        for (int i = 0; i < n_nodes; i++)
            for (int l = 0; l < L; l++) {
                const float *gr = relp_ctx_node_grad(run, nodes[i], l);
                float *gs = block + off[i] + (size_t)L * ni[i] + (size_t)l * ni[i];
                for (int g = 0; g < gn; g++)
                    for (size_t k = 0; k < ni[i]; k++) gs[k] += gr[(size_t)g * ni[i] + k];
            }
        if (p->progress) p->progress(p->progress_user, k0 + gn, N);
        if (relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "integrated gradients cancelled");
    }
    for (int i = 0; i < n_nodes && !st; i++) {
        struct relp_attr_params pn = *p;
        pn.node = nodes[i];
        float *delta = vals; /* reused: (n_i) */
        for (int l = 0; l < L; l++) {
            const float *bl = block + off[i] + (size_t)l * ni[i];
            for (size_t k = 0; k < ni[i]; k++) delta[k] = src[i][(size_t)l * ni[i] + k] - bl[k];
            reduce_scores(ctx, &pn, l, delta, block + off[i] + (size_t)L * ni[i] + (size_t)l * ni[i], 1.0f / (float)N,
                          scores[i]);
        }
    }
    if (!st && run == ctx) st = relp_forward_patched(ctx, NULL, 0);
    relp__replica_free(ctx, &rep);
    free(block);
    return st;
}

/* relp_attribute and relp_attribute_nodes: AP and IG take one node type,
 * GRAD and IG_INPUT any number (one backward pass, or one sweep, serves
 * them all). */
static enum relp_status attribute(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                  int32_t T, const struct relp_metric *mt, const struct relp_attr_params *p,
                                  const enum relp_node *nodes, int n_nodes, float *const *scores, double *m_clean,
                                  double *m_corrupt) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = RELP_STATUS_OK;
    if (n_nodes < 1 || n_nodes > 8 || !nodes || !scores || !p)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "attribute: 1 to 8 node types, each with a score buffer");
    for (int i = 0; i < n_nodes && !st; i++) {
        struct relp_attr_params pn = *p;
        pn.node = nodes[i];
        st = check_inputs(ctx, clean, corrupt, B, T, mt, &pn);
        if (!st && !scores[i]) st = relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "attribute: no score buffer");
    }
    if (st) return st;
    if (n_nodes > 1 && p->method != RELP_METHOD_GRAD && p->method != RELP_METHOD_IG_INPUT)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "attribute: several node types at once only for the GRAD and IG_INPUT methods");
    relp__warn_begin(ctx, clean, B, T, mt, p->noising);
    /* IG_INPUT also needs the source's embeddings: resid_pre, as one more node type unless asked for */
    enum relp_node all[9];
    int n_all = n_nodes, emb = -1;
    for (int i = 0; i < n_nodes; i++) {
        all[i] = nodes[i];
        if (nodes[i] == RELP_NODE_RESID_PRE) emb = i;
    }
    if (p->method == RELP_METHOD_IG_INPUT && emb < 0) all[emb = n_all++] = RELP_NODE_RESID_PRE;
    size_t total = 0, sz[9];
    for (int i = 0; i < n_all; i++) total += sz[i] = (size_t)ctx->model->d.L * B * T * relp_node_width(ctx->model, all[i]);
    float *block = malloc(total * sizeof(float));
    if (!block) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for %zu floats", total);
    float *src[9];
    for (int i = 0; i < n_all; i++) src[i] = i ? src[i - 1] + sz[i - 1] : block;
    double mc = 0, mr = 0;
    if ((st = relp__restrict_logits(ctx, mt, B))) {
        free(block);
        return st;
    }
    st = two_runs(ctx, clean, corrupt, B, T, mt, p, all, n_all, src, &mc, &mr);
    if (!st) {
        struct relp_attr_params p1 = *p;
        p1.node = nodes[0];
        if (p->method == RELP_METHOD_GRAD) st = attribute_grad(ctx, mt, p, nodes, n_nodes, src, scores, mc, mr);
        else if (p->method == RELP_METHOD_AP) st = attribute_ap(ctx, mt, &p1, src[0], scores[0], mc, mr);
        else if (p->method == RELP_METHOD_IG_INPUT)
            st = attribute_ig_input(ctx, mt, p, nodes, n_nodes, src, src[emb], scores, mc, mr);
        else st = attribute_ig(ctx, mt, &p1, src[0], scores[0], mc, mr);
    }
    free(block);
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    if (m_clean) *m_clean = mc;
    if (m_corrupt) *m_corrupt = mr;
    return st;
}

enum relp_status relp_attribute(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                int32_t T, const struct relp_metric *mt, const struct relp_attr_params *p,
                                float *scores, double *m_clean, double *m_corrupt) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!p) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "attribute: NULL argument");
    return attribute(ctx, clean, corrupt, B, T, mt, p, &p->node, 1, &scores, m_clean, m_corrupt);
}

enum relp_status relp_attribute_nodes(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                      int32_t T, const struct relp_metric *mt, const struct relp_attr_params *p,
                                      const enum relp_node *nodes, int32_t n_nodes, float *const *scores,
                                      double *m_clean, double *m_corrupt) {
    return attribute(ctx, clean, corrupt, B, T, mt, p, nodes, n_nodes, scores, m_clean, m_corrupt);
}

enum relp_status relp_token_relevance(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T,
                                      const struct relp_metric *mt, const struct relp_rules *rules, float *relevance,
                                      double *total, double *value) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!relevance || !rules || !mt) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "token relevance: NULL argument");
    relp__warn_begin(ctx, ids, B, T, mt, 0);
    enum relp_status st = relp_forward(ctx, ids, B, T);
    if (st) return st;
    struct relp_metric unit = *mt;
    unit.scale = 1.0f;
    double v;
    if ((st = relp_backward(ctx, &unit, rules, &v))) return st;
    const int C = ctx->model->d.C;
    const float *x = relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0), *g = relp_ctx_node_grad(ctx, RELP_NODE_RESID_PRE, 0);
    double sum = 0;
    for (int bt = 0; bt < B * T; bt++) {
        double r = 0;
        for (int d = 0; d < C; d++) r += (double)x[(size_t)bt * C + d] * g[(size_t)bt * C + d];
        relevance[bt] = (float)(r * B); /* the seed was the batch mean: back to prompt b's own metric */
        sum += r;
    }
    if (total) *total = sum; /* = mean over prompts of their relevance sums */
    if (value) *value = v;
    return RELP_STATUS_OK;
}
