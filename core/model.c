/* model.c - the run context: the forward pass of every architecture of
 * arch.c with a full activation cache, patched re-runs from any node, and
 * the one backward pass whose local rules are switches (exact gradient,
 * LN-rule, Identity-rule, Half-rule, frozen attention, AttnLRP).
 *
 * The forward pass is a list of stages; stage l*5+s of layer l produces one
 * node and then applies that node's patches:
 *   s=0 resid_pre[l] (embeddings for l = 0, else the previous block's sum)
 *   s=1 z[l]         (norm1, q | k | v, [q/k norm], [RoPE], causal attention)
 *   s=2 attn_out[l]  (z W_O + b_O)
 *   s=3 resid_mid[l] (resid_pre[l] + attn_out[l]; none in a parallel block)
 *   s=4 mlp_out[l]   (norm2, fc, activation or gate x up: the neurons, patched
 *                    before proj; then proj)
 * and stage L*5 produces resid_pre[L], followed by the final norm and the
 * logits. A patched re-run starts at the stage of its earliest patched node
 * (or of the previous run's, to undo that one) and, by causality, at its
 * earliest patched position. An exact sweep's pass (relp__forward_sweep)
 * runs copies of the batch side by side, each restarting at its own patch:
 * the patched row alone up to the next attention, from there the rows after
 * it, and in the last layer only the row whose logits are read; what each
 * copy reads but does not recompute it takes from the unpatched base run.
 * Products over rows of several copies stream the weights once (mm_rows).
 * The slabs are carved from arch.c's buffer table and nodes are found
 * through its node table. */
#include "arch.h"
#include "ops.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STAGES 5

/* Rows a stage computes, per prompt b of the batch (ctx->rows): [R_LO, R_HI)
 * up to the stage's attention (for stages without one, the whole stage),
 * [R_LO2, R_HI2) from the attention on. A sweep's plan per prompt: R_S0 the
 * stage its patch starts at (INT32_MAX: no patch this pass), R_T its row (-1:
 * every row), R_SPREAD the layer whose attention first carries the patch to
 * later rows (-1: every row from R_T on, for a patch of every position whose
 * values are the base run's before R_T), R_NODE its node, and R_DS / R_DR the stage and row from which
 * its last pass left values that are not the base run's. Stage 4 uses
 * [R_LO2, R_HI2) for its projection (after the neurons' patch). */
enum { R_S0, R_T, R_SPREAD, R_NODE, R_DS, R_DR, R_LO, R_HI, R_LO2, R_HI2, RELP__ROWS };

static int32_t *prow(const struct relp_ctx *ctx, int k) { return ctx->rows + (size_t)k * ctx->params.max_batch; }

/* ------------------------------------------------------------ layout */

struct relp_ctx_params relp_ctx_default_params(void) {
#ifdef __EMSCRIPTEN__
    struct relp_ctx_params p = {1, 128, 1, 256 << 10}; /* a tab's memory is 4 GiB at most */
#else
    struct relp_ctx_params p = {1, 128, 1, 1 << 20};
#endif
    return p;
}

/* Floats of the activation (grads = 0) or coefficient (grads = 1) slab for
 * B x T tokens, from arch.c's buffer table; with carve, also points the
 * buffers into it (absent ones at NULL). */
static size_t slab(const struct relp_model *m, int grads, int B, int T, int threads, void *block, void *fields) {
    int32_t n;
    const struct relp_buf_spec *t = relp__bufs(grads, &n);
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        float **field = fields ? (float **)((char *)fields + t[i].field) : NULL;
        if (!relp__buf_present(&t[i], m)) {
            if (field) *field = NULL;
            continue;
        }
        size_t layers = t[i].layers == 0 ? 1 : (size_t)m->d.L + (t[i].layers == 2);
        size_t rows = t[i].rows == ROWS_BT ? (size_t)B * T : (size_t)threads;
        if (field) *field = (float *)block + total;
        total += layers * rows * (size_t)relp__dim(&m->d, (enum relp_dim)t[i].width, T);
    }
    return total;
}

static int threads_of(const struct relp_ctx_params *p) {
#ifdef RELP_THREADS
    return p->n_threads < 1 ? 1 : p->n_threads;
#else
    (void)p;
    return 1;
#endif
}

int32_t relp_ctx_threads(const struct relp_ctx *ctx) { return ctx ? relp__pool_size(ctx->pool) : 0; }

size_t relp_ctx_mem_required(const struct relp_model *model, const struct relp_ctx_params *params) {
    const int B = params->max_batch, T = params->max_tokens, nt = threads_of(params);
    size_t a = slab(model, 0, B, T, nt, NULL, NULL), g = slab(model, 1, B, T, nt, NULL, NULL);
    size_t V = (size_t)model->cfg.vocab_size, rope = (size_t)T * (size_t)model->d.ROT; /* cos and sin: ROT/2 each */
    return (a + g + 2 * (size_t)B * V + rope) * sizeof(float) + (size_t)B * (size_t)T * sizeof(int32_t);
}

static void carve_acts(struct relp_ctx *ctx) {
    const int nt = relp__pool_size(ctx->pool);
    slab(ctx->model, 0, ctx->B, ctx->T, nt, ctx->act_block, &ctx->acts);
    if (ctx->grad_block) slab(ctx->model, 1, ctx->B, ctx->T, nt, ctx->grad_block, &ctx->grads);
    else memset(&ctx->grads, 0, sizeof ctx->grads); /* a forward-only context (relp__ctx_init_forward) */
}

/* RoPE's angles t * inv_freq[i] for every position, as cos and sin (T, ROT/2),
 * with the config's frequency scaling (modeling_rope_utils.py: default,
 * linear, llama3). Computed in double. */
static void rope_tables(const struct relp_config *c, int ROT, int T, float *cos_t, float *sin_t) {
    const int half = ROT / 2;
    for (int i = 0; i < half; i++) {
        double inv = 1.0 / pow((double)c->rope_theta, (2.0 * i) / ROT);
        if (c->rope_scaling == RELP_ROPE_SCALING_LINEAR) inv /= c->rope_factor;
        if (c->rope_scaling == RELP_ROPE_SCALING_LLAMA3) {
            const double old = c->rope_original_max_positions, lo = c->rope_low_freq_factor,
                         hi = c->rope_high_freq_factor, f = c->rope_factor;
            const double wavelen = 2.0 * 3.14159265358979323846 / inv;
            if (wavelen > old / lo) inv /= f;
            else if (!(wavelen < old / hi)) {
                const double smooth = (old / wavelen - lo) / (hi - lo);
                inv = (1.0 - smooth) * inv / f + smooth * inv;
            }
        }
        for (int t = 0; t < T; t++) {
            cos_t[(size_t)t * half + i] = (float)cos(t * inv);
            sin_t[(size_t)t * half + i] = (float)sin(t * inv);
        }
    }
}

size_t relp__ctx_mem_forward(const struct relp_model *model, const struct relp_ctx_params *params) {
    const int B = params->max_batch, T = params->max_tokens, nt = threads_of(params);
    size_t a = slab(model, 0, B, T, nt, NULL, NULL);
    size_t V = (size_t)model->cfg.vocab_size, rope = (size_t)T * (size_t)model->d.ROT;
    return (a + (size_t)B * V + rope) * sizeof(float) + (size_t)B * (size_t)T * sizeof(int32_t);
}

/* coeffs = 0: no coefficient slab (relp__ctx_init_forward) */
static enum relp_status ctx_init(struct relp_ctx **out, const struct relp_model *model,
                                 const struct relp_ctx_params *params, int coeffs) {
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    *out = NULL;
    struct relp_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return relp__fail(relp__orphan_error(), RELP_STATUS_ALLOC_FAILED, "out of memory");
    *out = ctx;
    ctx->model = model;
    ctx->params = params ? *params : relp_ctx_default_params();
    if (!model) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "no model");
    const struct relp_config *c = &model->cfg;
    struct relp_ctx_params *p = &ctx->params;
    if (p->max_tokens <= 0) p->max_tokens = c->n_positions < 128 ? c->n_positions : 128;
    if (p->max_batch <= 0 || p->max_batch > 1 << 16)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "max_batch %d out of range [1, 65536]", p->max_batch);
    if (p->max_tokens > c->n_positions)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "max_tokens %d exceeds the model's n_positions %d",
                              p->max_tokens, c->n_positions);
    ctx->pool = relp__pool_init(threads_of(p));
    const int nt = relp__pool_size(ctx->pool);
    ctx->act_block = malloc(slab(model, 0, p->max_batch, p->max_tokens, nt, NULL, NULL) * sizeof(float));
    ctx->grad_block = coeffs ? malloc(slab(model, 1, p->max_batch, p->max_tokens, nt, NULL, NULL) * sizeof(float)) : NULL;
    if (model->d.ROT) {
        ctx->rope_cos = malloc((size_t)p->max_tokens * (size_t)model->d.ROT * sizeof(float));
        if (ctx->rope_cos) {
            ctx->rope_sin = ctx->rope_cos + (size_t)p->max_tokens * (model->d.ROT / 2);
            rope_tables(c, model->d.ROT, p->max_tokens, ctx->rope_cos, ctx->rope_sin);
        }
    }
    ctx->ids = malloc((size_t)p->max_batch * p->max_tokens * sizeof *ctx->ids);
    ctx->rows = malloc((size_t)RELP__ROWS * p->max_batch * sizeof *ctx->rows);
    ctx->n_logit_cap = 1;
    ctx->acts.logits = malloc((size_t)p->max_batch * c->vocab_size * sizeof(float));
    ctx->grads.logits = coeffs ? malloc((size_t)p->max_batch * c->vocab_size * sizeof(float)) : NULL;
    if (!ctx->act_block || (coeffs && (!ctx->grad_block || !ctx->grads.logits)) || !ctx->ids || !ctx->rows ||
        !ctx->acts.logits || (model->d.ROT && !ctx->rope_cos))
        return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory: %zu bytes for a context of B=%d, T=%d",
                              relp_ctx_mem_required(model, p), p->max_batch, p->max_tokens);
    ctx->n_logit_pos = 1;
    ctx->logit_pos[0] = -1;
    ctx->dirty_stage = INT32_MAX;
    relp__ops_name(); /* pick the kernels now, before any worker thread runs */
    return RELP_STATUS_OK;
}

enum relp_status relp_ctx_init(struct relp_ctx **out, const struct relp_model *model,
                               const struct relp_ctx_params *params) {
    return ctx_init(out, model, params, 1);
}

enum relp_status relp__ctx_init_forward(struct relp_ctx **out, const struct relp_model *model,
                                        const struct relp_ctx_params *params) {
    return ctx_init(out, model, params, 0);
}

void relp_ctx_free(struct relp_ctx *ctx) {
    if (!ctx) return;
    relp__pool_free(ctx->pool);
    free(ctx->act_block);
    free(ctx->grad_block);
    free(ctx->ids);
    free(ctx->rows);
    free(ctx->gather);
    free(ctx->acts.logits);
    free(ctx->grads.logits);
    free(ctx->logit_tokens);
    free(ctx->rope_cos);
    free(ctx);
}

void relp_ctx_set_cancel(struct relp_ctx *ctx, int32_t (*cancel)(void *), void *user) {
    ctx->cancel = cancel;
    ctx->cancel_user = user;
}

enum relp_status relp_ctx_set_logit_tokens(struct relp_ctx *ctx, const int32_t *ids, int32_t n) {
    if (!ctx || n < 0 || (n > 0 && !ids)) return RELP_STATUS_BAD_ARGUMENT;
    for (int32_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= ctx->model->cfg.vocab_size)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "logit token %d out of range", ids[i]);
    if (n > ctx->logit_tokens_cap) {
        int32_t *grown = realloc(ctx->logit_tokens, sizeof(int32_t) * (size_t)n);
        if (!grown) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
        ctx->logit_tokens = grown;
        ctx->logit_tokens_cap = n;
    }
    /* keep each id once */
    int32_t k = 0;
    for (int32_t i = 0; i < n; i++) {
        int seen = 0;
        for (int32_t j = 0; j < k && !seen; j++) seen = ctx->logit_tokens[j] == ids[i];
        if (!seen) ctx->logit_tokens[k++] = ids[i];
    }
    ctx->n_logit_tokens = k;
    return RELP_STATUS_OK;
}

enum relp_status relp_ctx_set_logit_positions(struct relp_ctx *ctx, const int32_t *positions, int32_t n) {
    if (n < 0 || n > (int32_t)(sizeof ctx->logit_pos / sizeof ctx->logit_pos[0]))
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "logit positions: count %d out of range [0, 64]", n);
    if (n == 0) {
        ctx->n_logit_pos = 1;
        ctx->logit_pos[0] = -1;
        return RELP_STATUS_OK;
    }
    for (int32_t i = 0; i < n; i++)
        if (positions[i] < -1 || positions[i] >= ctx->params.max_tokens)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "logit position %d out of range", positions[i]);
    if (n > ctx->n_logit_cap) {
        size_t bytes = (size_t)ctx->params.max_batch * (size_t)n * (size_t)ctx->model->cfg.vocab_size * sizeof(float);
        float *grown = realloc(ctx->acts.logits, bytes);
        if (!grown) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for %d logit positions", n);
        ctx->acts.logits = grown;
        ctx->n_logit_cap = n;
    }
    memcpy(ctx->logit_pos, positions, (size_t)n * sizeof *positions);
    ctx->n_logit_pos = n;
    ctx->have_run = 0;
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------------ forward */

static int logit_row(const struct relp_ctx *ctx, int i) {
    return ctx->logit_pos[i] < 0 ? ctx->T - 1 : ctx->logit_pos[i];
}

/* (max_batch * max_tokens, 2 * widest) floats: a product's gathered input and output rows */
static float *gather_buf(struct relp_ctx *ctx) {
    if (!ctx->gather) {
        const struct relp_dims *d = &ctx->model->d;
        size_t w = (size_t)d->C;
        if ((size_t)d->Q > w) w = (size_t)d->Q;
        if ((size_t)d->QKV > w) w = (size_t)d->QKV;
        if ((size_t)d->FC > w) w = (size_t)d->FC;
        if ((size_t)d->I > w) w = (size_t)d->I;
        ctx->gather = malloc(sizeof(float) * 2 * w * (size_t)ctx->params.max_batch * (size_t)ctx->params.max_tokens);
    }
    return ctx->gather;
}

/* out = x @ W + bias over rows [lo[b], hi[b]) of each prompt b, as one product
 * (the weights streamed once for all prompts): rows that are not contiguous
 * are gathered first and scattered after. Each row's sums do not depend on
 * the rows beside it (ops.h), so this changes no value. */
static void mm_rows(struct relp_ctx *ctx, float *out, const float *x, const void *W, const float *bias, int K, int O,
                    const int32_t *lo, const int32_t *hi) {
    const enum relp_dtype wdt = ctx->model->weight_dtype;
    const int B = ctx->B, T = ctx->T;
    size_t r0 = 0, r1 = 0, n = 0;
    int runs = 0;
    for (int b = 0; b < B; b++) {
        if (lo[b] >= hi[b]) continue;
        const size_t a = (size_t)b * T + lo[b], e = (size_t)b * T + hi[b];
        n += e - a;
        if (runs && a == r1) r1 = e;
        else {
            runs++;
            r0 = a;
            r1 = e;
        }
    }
    if (runs == 0) return;
    if (runs == 1) {
        matmul_xw_packed(ctx->pool, out + r0 * O, x + r0 * K, W, wdt, bias, (int)(r1 - r0), K, O, K, 0);
        return;
    }
    float *gx = gather_buf(ctx);
    if (!gx) { /* no room to gather: one product per prompt */
        for (int b = 0; b < B; b++) {
            if (lo[b] >= hi[b]) continue;
            const size_t r = (size_t)b * T + lo[b];
            matmul_xw_packed(ctx->pool, out + r * O, x + r * K, W, wdt, bias, hi[b] - lo[b], K, O, K, 0);
        }
        return;
    }
    float *gy = gx + n * K;
    size_t i = 0;
    for (int b = 0; b < B; b++)
        if (lo[b] < hi[b]) {
            const size_t m = (size_t)(hi[b] - lo[b]);
            memcpy(gx + i * K, x + ((size_t)b * T + lo[b]) * K, m * K * sizeof(float));
            i += m;
        }
    matmul_xw_packed(ctx->pool, gy, gx, W, wdt, bias, (int)n, K, O, K, 0);
    i = 0;
    for (int b = 0; b < B; b++)
        if (lo[b] < hi[b]) {
            const size_t m = (size_t)(hi[b] - lo[b]);
            memcpy(out + ((size_t)b * T + lo[b]) * O, gy + i * O, m * O * sizeof(float));
            i += m;
        }
}

static void apply_patches(struct relp_ctx *ctx, float *dst, enum relp_node node, int layer,
                          const struct relp_patch *patches, int n_patches) {
    const int B = ctx->B, T = ctx->T, HS = ctx->model->d.HS;
    const int W = relp_node_width(ctx->model, node);
    for (int i = 0; i < n_patches; i++) {
        const struct relp_patch *p = &patches[i];
        if (p->node != node || p->layer != layer) continue;
        int head = node == RELP_NODE_ATTN_Z ? p->head : -1;
        int w = head >= 0 ? HS : W, off = head >= 0 ? head * HS : 0;
        int b0 = p->n_prompts > 0 ? p->first_prompt : 0, nb = p->n_prompts > 0 ? p->n_prompts : B;
        for (int i = 0; i < nb; i++) {
            size_t b = (size_t)(b0 + i);
            if (p->position >= 0) {
                memcpy(dst + (b * T + p->position) * W + off, p->values + (size_t)i * w, (size_t)w * 4);
            } else {
                for (int t = 0; t < T; t++)
                    memcpy(dst + (b * T + t) * W + off, p->values + ((size_t)i * T + t) * w, (size_t)w * 4);
            }
        }
    }
}

/* rows t0..T-1 of every prompt: y = a + b (+ c when not NULL: a parallel block's (c + b) + a) */

/* rows [lo[b], hi[b]) of every prompt b: y = a + b (+ c when not NULL: a parallel block's (c + b) + a) */
static void add_rows(float *y, const float *a, const float *b, const float *c, int B, int T, int C, const int32_t *lo,
                     const int32_t *hi) {
    for (int bb = 0; bb < B; bb++) {
        if (lo[bb] >= hi[bb]) continue;
        size_t o = ((size_t)bb * T + lo[bb]) * C, n = (size_t)(hi[bb] - lo[bb]) * C;
        if (c)
            for (size_t i = 0; i < n; i++) y[o + i] = (c[o + i] + b[o + i]) + a[o + i];
        else
            for (size_t i = 0; i < n; i++) y[o + i] = a[o + i] + b[o + i];
    }
}

/* rows [lo[b], hi[b]) of every prompt b through the model's norm (LayerNorm or RMSNorm) */
static void norm_rows(const struct relp_model *m, float *out, float *mean, float *rstd, const float *x, const float *g,
                      const float *b, int B, int T, int C, const int32_t *lo, const int32_t *hi, float eps) {
    for (int bb = 0; bb < B; bb++) {
        if (lo[bb] >= hi[bb]) continue;
        size_t r = (size_t)bb * T + lo[bb];
        if (m->rms_norm) rmsnorm_forward(out + r * C, rstd + r, x + r * C, g, hi[bb] - lo[bb], C, eps);
        else layernorm_forward(out + r * C, mean + r, rstd + r, x + r * C, g, b, hi[bb] - lo[bb], C, eps);
    }
}

void relp__norm_backward(const struct relp_model *m, float *dx, const float *dout, const float *x, const float *mean,
                         const float *rstd, const float *g, int N, int C, int rule) {
    if (m->rms_norm) rmsnorm_backward_acc(dx, dout, x, rstd, g, N, C, rule);
    else layernorm_backward_acc(dx, dout, x, mean, rstd, g, N, C, rule);
}


static void embed_rows(struct relp_ctx *ctx, float *out, const int32_t *lo, const int32_t *hi) {
    const struct relp_model *m = ctx->model;
    const int C = m->d.C;
    for (int b = 0; b < ctx->B; b++)
        for (int t = lo[b]; t < hi[b]; t++) {
            int id = ctx->ids[b * ctx->T + t];
            float *o = out + ((size_t)b * ctx->T + t) * C;
            if (m->wpe) {
                const float *pe = m->wpe + (size_t)t * C;
                for (int i = 0; i < C; i++) o[i] = relp__load_elem(m->wte, m->weight_dtype, (size_t)id * C + i) + pe[i];
            } else {
                for (int i = 0; i < C; i++) o[i] = relp__load_elem(m->wte, m->weight_dtype, (size_t)id * C + i);
            }
        }
}

/* qwen3: the per-head RMSNorm of q and k over rows [lo[b], hi[b]) of qkv (l), in
 * place, keeping the values before it and each head's 1/rms */
static void qk_norm_rows(struct relp_ctx *ctx, int l, float *qkv, const int32_t *lo, const int32_t *hi) {
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const size_t BT = (size_t)ctx->B * ctx->T, QK = (size_t)d->Q + d->KV, NQK = (size_t)d->NH + d->NKV;
    float *pre = ctx->acts.qk_pre + (size_t)l * BT * QK, *rstd = ctx->acts.qk_rstd + (size_t)l * BT * NQK;
    const struct relp_layer *w = &m->layers[l];
    for (int b = 0; b < ctx->B; b++)
        for (int t = lo[b]; t < hi[b]; t++) {
            size_t r = (size_t)b * ctx->T + t;
            float *row = qkv + r * d->QKV;
            memcpy(pre + r * QK, row, QK * sizeof(float));
            rmsnorm_forward(row, rstd + r * NQK, row, w->q_norm, d->NH, d->HS, m->cfg.layer_norm_epsilon);
            rmsnorm_forward(row + d->Q, rstd + r * NQK + d->NH, row + d->Q, w->k_norm, d->NKV, d->HS,
                            m->cfg.layer_norm_epsilon);
        }
}

/* The rows stage s computes (R_LO .. R_HI2). A plain run: rows t0..T-1 of
 * every prompt. A sweep (relp__forward_sweep), per prompt from its plan: no
 * row before its patch's stage; the patched row alone until the attention of
 * its R_SPREAD layer (which reads that row's keys and values beside the base
 * run's); rows R_T..T-1 from that attention on; for a patch of all positions
 * (R_SPREAD -1), rows R_T..T-1 from its stage on, R_T being its first row that
 * differs from the base run. Nothing of the patch's own stage before its node.
 * When the logits are read at the last position only, the last layer past its
 * attention computes that row alone. */
static void stage_rows(struct relp_ctx *ctx, int s, int t0, int sweep) {
    const int B = ctx->B, T = ctx->T, L = ctx->model->d.L, l = s / STAGES, k = s % STAGES;
    int32_t *lo = prow(ctx, R_LO), *hi = prow(ctx, R_HI), *lo2 = prow(ctx, R_LO2), *hi2 = prow(ctx, R_HI2);
    const int last = sweep && ctx->n_logit_pos == 1 && logit_row(ctx, 0) == T - 1 && (l == L || (l == L - 1 && k >= 1));
    for (int b = 0; b < B; b++) {
        int a = t0, e = T, a2 = t0, e2 = T;
        if (sweep) {
            const int s0 = prow(ctx, R_S0)[b], t = prow(ctx, R_T)[b], sp = prow(ctx, R_SPREAD)[b];
            if (s < s0) a = e = a2 = e2 = 0;
            else if (t < 0) a = a2 = 0;
            else if (sp < 0) a = a2 = t; /* a patch of every position, its values the base run's before row t */
            else {
                a = a2 = t;
                if (l < sp || (l == sp && k == 0)) e = e2 = t + 1;
                else if (l == sp && k == 1) e = t + 1; /* its keys and values; its attention reaches t..T-1 */
            }
            if (last) {
                if (a2 < T - 1) a2 = T - 1;
                if (e2 < a2) e2 = a2;
                if (k != 1) {
                    a = a2;
                    e = e2;
                }
            }
            if (s == s0) { /* the patch's own stage: nothing before its node, which the patch replaces */
                const int node = prow(ctx, R_NODE)[b];
                a = e = 0;
                if (node != RELP_NODE_MLP_POST) a2 = e2 = 0;
            }
        }
        lo[b] = a;
        hi[b] = e;
        lo2[b] = a2;
        hi2[b] = e2;
    }
}

static void run_stages(struct relp_ctx *ctx, int start, int t0, const struct relp_patch *patches, int n_patches,
                       int sweep) {
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const int B = ctx->B, T = ctx->T, C = d->C, NH = d->NH, L = d->L;
    const size_t BT = (size_t)B * T, BTC = BT * C;
    struct relp_acts *a = &ctx->acts;
    const float eps = m->cfg.layer_norm_epsilon;
    const int32_t *lo = prow(ctx, R_LO), *hi = prow(ctx, R_HI), *lo2 = prow(ctx, R_LO2), *hi2 = prow(ctx, R_HI2);
    for (int s = start; s <= L * STAGES; s++) {
        int l = s / STAGES, st = s % STAGES;
        const struct relp_layer *w = l < L ? &m->layers[l] : NULL;
        float *resid = a->resid + (size_t)l * BTC;
        stage_rows(ctx, s, t0, sweep);
        switch (st) {
        case 0:
            if (l == 0) embed_rows(ctx, resid, lo, hi);
            else if (m->parallel)
                add_rows(resid, a->resid + (size_t)(l - 1) * BTC, a->attn_out + (size_t)(l - 1) * BTC,
                         a->mlp_out + (size_t)(l - 1) * BTC, B, T, C, lo, hi);
            else
                add_rows(resid, a->resid_mid + (size_t)(l - 1) * BTC, a->mlp_out + (size_t)(l - 1) * BTC, NULL, B, T,
                         C, lo, hi);
            apply_patches(ctx, resid, RELP_NODE_RESID_PRE, l, patches, n_patches);
            if (ctx->fwd_hook) ctx->fwd_hook(ctx->hook_user, ctx, RELP_NODE_RESID_PRE, l, resid, t0);
            break;
        case 1: {
            float *qkv = a->qkv + (size_t)l * BT * d->QKV;
            norm_rows(m, a->ln1_out, a->ln1_mean + (size_t)l * BT, a->ln1_rstd + (size_t)l * BT, resid, w->ln1_g,
                      w->ln1_b, B, T, C, lo, hi, eps);
            mm_rows(ctx, qkv, a->ln1_out, w->w_qkv, w->b_qkv, C, d->QKV, lo, hi);
            if (m->qk_norm) qk_norm_rows(ctx, l, qkv, lo, hi);
            if (d->ROT)
                for (int b = 0; b < B; b++)
                    if (lo[b] < hi[b])
                        rope_apply(qkv + (size_t)b * T * d->QKV, 1, hi[b], lo[b], d->QKV, d->NH + d->NKV, d->HS,
                                   d->ROT, ctx->rope_cos, ctx->rope_sin, 0);
            attention_forward_rows(ctx->pool, a->z + (size_t)l * BT * d->Q, a->att + (size_t)l * B * NH * T * T, qkv,
                                   B, T, NH, d->NKV, d->HS, lo2, hi2);
            apply_patches(ctx, a->z + (size_t)l * BT * d->Q, RELP_NODE_ATTN_Z, l, patches, n_patches);
            if (ctx->fwd_hook) ctx->fwd_hook(ctx->hook_user, ctx, RELP_NODE_ATTN_Z, l, a->z + (size_t)l * BT * d->Q, t0);
            break;
        }
        case 2:
            mm_rows(ctx, a->attn_out + (size_t)l * BTC, a->z + (size_t)l * BT * d->Q, w->w_o, w->b_o, d->Q, C, lo, hi);
            apply_patches(ctx, a->attn_out + (size_t)l * BTC, RELP_NODE_ATTN_OUT, l, patches, n_patches);
            if (ctx->fwd_hook) ctx->fwd_hook(ctx->hook_user, ctx, RELP_NODE_ATTN_OUT, l, a->attn_out + (size_t)l * BTC, t0);
            break;
        case 3:
            if (m->parallel) break; /* no resid_mid: the MLP reads resid_pre */
            add_rows(a->resid_mid + (size_t)l * BTC, resid, a->attn_out + (size_t)l * BTC, NULL, B, T, C, lo, hi);
            apply_patches(ctx, a->resid_mid + (size_t)l * BTC, RELP_NODE_RESID_MID, l, patches, n_patches);
            if (ctx->fwd_hook) ctx->fwd_hook(ctx->hook_user, ctx, RELP_NODE_RESID_MID, l, a->resid_mid + (size_t)l * BTC, t0);
            break;
        case 4: {
            float *fc_pre = a->fc_pre + (size_t)l * BT * d->FC, *fc_post = a->fc_post + (size_t)l * BT * d->I;
            norm_rows(m, a->ln2_out, a->ln2_mean + (size_t)l * BT, a->ln2_rstd + (size_t)l * BT,
                      m->parallel ? resid : a->resid_mid + (size_t)l * BTC, w->ln2_g, w->ln2_b, B, T, C, lo, hi, eps);
            mm_rows(ctx, fc_pre, a->ln2_out, w->w_fc, w->b_fc, C, d->FC, lo, hi);
            for (int b = 0; b < B; b++) {
                if (lo[b] >= hi[b]) continue;
                size_t r = (size_t)b * T + lo[b];
                if (m->gated) glu_forward(fc_post + r * d->I, fc_pre + r * d->FC, hi[b] - lo[b], d->I, m->act);
                else act_forward(fc_post + r * d->I, fc_pre + r * d->FC, (hi[b] - lo[b]) * d->I, m->act);
            }
            apply_patches(ctx, fc_post, RELP_NODE_MLP_POST, l, patches, n_patches);
            if (ctx->fwd_hook) ctx->fwd_hook(ctx->hook_user, ctx, RELP_NODE_MLP_POST, l, fc_post, t0);
            mm_rows(ctx, a->mlp_out + (size_t)l * BTC, fc_post, w->w_mp, w->b_mp, d->I, C, lo2, hi2);
            apply_patches(ctx, a->mlp_out + (size_t)l * BTC, RELP_NODE_MLP_OUT, l, patches, n_patches);
            if (ctx->fwd_hook) ctx->fwd_hook(ctx->hook_user, ctx, RELP_NODE_MLP_OUT, l, a->mlp_out + (size_t)l * BTC, t0);
            break;
        }
        }
    }
    /* the final norm and logits only at the logit positions (a sweep: of the copies patched in this pass) */
    const float *final = a->resid + (size_t)L * BTC;
    const int P = ctx->n_logit_pos;
    const int32_t *s0 = sweep ? prow(ctx, R_S0) : NULL;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < P; i++) {
            if (s0 && s0[b] == INT32_MAX) continue;
            size_t r = (size_t)b * T + (size_t)logit_row(ctx, i), q = (size_t)b * P + i;
            if (m->rms_norm) rmsnorm_forward(a->lnf_out + q * C, a->lnf_rstd + q, final + r * C, m->lnf_g, 1, C, eps);
            else layernorm_forward(a->lnf_out + q * C, a->lnf_mean + q, a->lnf_rstd + q, final + r * C, m->lnf_g,
                                   m->lnf_b, 1, C, eps);
        }
    if (ctx->n_logit_tokens == 0) {
        matmul_xwt(ctx->pool, a->logits, a->lnf_out, m->wu, m->weight_dtype, B * P, C, d->V);
        return;
    }
    /* only the columns asked for: a metric of a few tokens need not stream the whole unembedding */
    for (int r = 0; r < B * P; r++) {
        if (s0 && s0[r / P] == INT32_MAX) continue;
        for (int k = 0; k < ctx->n_logit_tokens; k++) {
            int32_t id = ctx->logit_tokens[k];
            float *dst = a->logits + (size_t)r * d->V + id;
            matmul_xwt(NULL, dst, a->lnf_out + (size_t)r * C,
                       (const char *)m->wu + (size_t)id * C * (m->weight_dtype == RELP_DTYPE_F32 ? 4 : 2),
                       m->weight_dtype, 1, C, 1);
        }
    }
}

/* checks a batch and makes it the context's input, computing nothing */
static enum relp_status set_inputs(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T) {
    if (!ctx || !ids) return RELP_STATUS_BAD_ARGUMENT;
    const struct relp_config *c = &ctx->model->cfg;
    if (B < 1 || B > ctx->params.max_batch)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "batch of %d prompts: expected 1..%d (the context's max_batch)",
                              B, ctx->params.max_batch);
    if (T < 1)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "empty prompt: at least one token is needed");
    if (T > c->n_positions)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "prompt is %d tokens, longer than the model's n_positions = %d", T, c->n_positions);
    if (T > ctx->params.max_tokens)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "prompt is %d tokens, more than the context's max_tokens = %d", T, ctx->params.max_tokens);
    for (int32_t i = 0; i < B * T; i++)
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "token id %d at prompt %d position %d: expected 0..%d",
                                  ids[i], i / T, i % T, c->vocab_size - 1);
    for (int32_t i = 0; i < ctx->n_logit_pos; i++)
        if (ctx->logit_pos[i] >= T)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "logit position %d is beyond the prompt's %d tokens",
                                  ctx->logit_pos[i], T);
    ctx->B = B;
    ctx->T = T;
    memcpy(ctx->ids, ids, (size_t)B * T * sizeof *ids);
    carve_acts(ctx);
    ctx->have_grads = 0;
    for (int32_t b = 0; b < B; b++) prow(ctx, R_DS)[b] = prow(ctx, R_DR)[b] = 0; /* a sweep copies all from its base */
    return RELP_STATUS_OK;
}

enum relp_status relp_forward(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T) {
    enum relp_status st = set_inputs(ctx, ids, B, T);
    if (st) return st;
    run_stages(ctx, 0, 0, NULL, 0, 0);
    ctx->have_run = 1;
    ctx->dirty_stage = INT32_MAX;
    ctx->dirty_row = 0;
    return RELP_STATUS_OK;
}

enum relp_status relp__forward_deferred(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T) {
    enum relp_status st = set_inputs(ctx, ids, B, T);
    if (st) return st;
    ctx->have_run = 1;
    ctx->dirty_stage = 0; /* every stage stale: the next patched run computes them all */
    ctx->dirty_row = 0;
    return RELP_STATUS_OK;
}


/* checks a patch list; *p_stage and *p_row: the earliest stage and row it patches (INT32_MAX and T if none) */
static enum relp_status check_patches(struct relp_ctx *ctx, const struct relp_patch *patches, int32_t n_patches,
                                      int *p_stage_out, int *p_row_out) {
    if (!ctx->have_run) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patched run before any forward pass");
    if (n_patches < 0 || (n_patches > 0 && !patches))
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "bad patch list");
    const struct relp_config *c = &ctx->model->cfg;
    int p_stage = INT32_MAX, p_row = ctx->T;
    for (int32_t i = 0; i < n_patches; i++) {
        const struct relp_patch *p = &patches[i];
        const struct relp_node_spec *ns = (int)p->node < 0 ? NULL : relp__node(ctx->model, p->node);
        if (!ns)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch %d: node %d is not a node of this %s model", i,
                                  (int)p->node, relp_arch_name(c->arch));
        int max_layer = p->node == RELP_NODE_RESID_PRE ? c->n_layer : c->n_layer - 1;
        if (p->layer < 0 || p->layer > max_layer)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch %d: layer %d out of range 0..%d", i, p->layer,
                                  max_layer);
        if (p->position < -1 || p->position >= ctx->T)
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch %d: position %d out of range -1..%d", i,
                                  p->position, ctx->T - 1);
        if (p->node == RELP_NODE_ATTN_Z && (p->head < -1 || p->head >= c->n_head))
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch %d: head %d out of range -1..%d", i, p->head,
                                  c->n_head - 1);
        if (!p->values) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch %d: no values", i);
        if (p->n_prompts < 0 || (p->n_prompts > 0 && (p->first_prompt < 0 || p->first_prompt + p->n_prompts > ctx->B)))
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch %d: prompts [%d, %d) outside the batch of %d", i,
                                  p->first_prompt, p->first_prompt + p->n_prompts, ctx->B);
        int s = p->layer * STAGES + ns->stage, r = p->position < 0 ? 0 : p->position;
        if (s < p_stage) p_stage = s;
        if (r < p_row) p_row = r;
    }
    *p_stage_out = p_stage;
    *p_row_out = p_row;
    return RELP_STATUS_OK;
}

enum relp_status relp_forward_patched(struct relp_ctx *ctx, const struct relp_patch *patches, int32_t n_patches) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    int p_stage, p_row;
    enum relp_status st = check_patches(ctx, patches, n_patches, &p_stage, &p_row);
    if (st) return st;
    int start = p_stage, t0 = p_row;
    if (ctx->dirty_stage != INT32_MAX) {
        if (ctx->dirty_stage < start) start = ctx->dirty_stage;
        if (ctx->dirty_row < t0) t0 = ctx->dirty_row;
    }
    if (start != INT32_MAX) run_stages(ctx, start, t0, patches, n_patches, 0);
    ctx->dirty_stage = p_stage;
    ctx->dirty_row = p_row;
    ctx->have_grads = 0;
    for (int32_t b = 0; b < ctx->B; b++) prow(ctx, R_DS)[b] = prow(ctx, R_DR)[b] = 0;
    return RELP_STATUS_OK;
}

/* copy b0's prompts of run take base's values of what a forward pass reads
 * across rows and stages (residuals, z, q/k/v) from layer ds / STAGES and row
 * dr on: what the copy's last pass may have changed */
static void restore_copy(struct relp_ctx *run, const struct relp_ctx *base, int b0, int ds, int dr) {
    const struct relp_dims *d = &run->model->d;
    const int Bb = base->B, B = run->B, T = run->T, L = d->L, l0 = ds / STAGES;
    const struct {
        float *dst;
        const float *src;
        int w, layers;
    } arr[] = {{run->acts.resid, base->acts.resid, d->C, L + 1},     {run->acts.resid_mid, base->acts.resid_mid, d->C, L},
               {run->acts.attn_out, base->acts.attn_out, d->C, L}, {run->acts.mlp_out, base->acts.mlp_out, d->C, L},
               {run->acts.z, base->acts.z, d->Q, L},               {run->acts.qkv, base->acts.qkv, d->QKV, L}};
    for (size_t k = 0; k < sizeof arr / sizeof arr[0]; k++) {
        if (!arr[k].dst) continue;
        const size_t w = (size_t)arr[k].w;
        for (int l = l0; l < arr[k].layers; l++)
            for (int i = 0; i < Bb; i++)
                memcpy(arr[k].dst + (((size_t)l * B + b0 + i) * T + dr) * w, arr[k].src + (((size_t)l * Bb + i) * T + dr) * w,
                       (size_t)(T - dr) * w * sizeof(float));
    }
}

/* The first row at which patch p's values differ from base's own values of its node, bit for bit (T where
 * none does: the patch changes nothing). */
static int first_change(const struct relp_ctx *base, const struct relp_patch *p) {
    const int T = base->T, W = relp_node_width(base->model, p->node), heads = p->node == RELP_NODE_ATTN_Z && p->head >= 0;
    const int w = heads ? base->model->d.HS : W, off = heads ? p->head * base->model->d.HS : 0;
    const float *node = relp_ctx_node(base, p->node, p->layer);
    if (!node) return p->position < 0 ? 0 : p->position;
    int first = T;
    for (int i = 0; i < p->n_prompts; i++) {
        if (p->position >= 0) {
            if (memcmp(node + ((size_t)i * T + p->position) * W + off, p->values + (size_t)i * w, (size_t)w * 4))
                return p->position;
            continue;
        }
        for (int t = 0; t < first; t++)
            if (memcmp(node + ((size_t)i * T + t) * W + off, p->values + ((size_t)i * T + t) * w, (size_t)w * 4)) {
                first = t;
                break;
            }
    }
    return first;
}

enum relp_status relp__forward_sweep(struct relp_ctx *run, const struct relp_ctx *base, const struct relp_patch *patches,
                                     int32_t n_patches, int8_t *noop) {
    if (!run || !base) return RELP_STATUS_BAD_ARGUMENT;
    int p_stage, p_row;
    enum relp_status st = check_patches(run, patches, n_patches, &p_stage, &p_row);
    if (st) return st;
    const int Bb = base->B, B = run->B;
    if (!base->have_run || base->dirty_stage != INT32_MAX || base->model != run->model || base->T != run->T ||
        B % Bb || run->fwd_hook)
        return relp__ctx_fail(run, RELP_STATUS_BAD_ARGUMENT, "sweep: the run is not copies of an unpatched base run");
    int32_t *s0 = prow(run, R_S0), *tt = prow(run, R_T), *sp = prow(run, R_SPREAD), *ds = prow(run, R_DS),
            *dr = prow(run, R_DR);
    for (int b = 0; b < B; b++) s0[b] = INT32_MAX;
    int start = INT32_MAX;
    for (int32_t i = 0; i < n_patches; i++) {
        const struct relp_patch *p = &patches[i];
        const int b0 = p->first_prompt;
        if (p->n_prompts != Bb || b0 % Bb || s0[b0] != INT32_MAX)
            return relp__ctx_fail(run, RELP_STATUS_BAD_ARGUMENT, "sweep: patch %d must cover one copy of the batch, "
                                  "and a copy takes one patch", i);
        const int stage = relp__node(run->model, p->node)->stage, s = p->layer * STAGES + stage;
        /* rows whose patched values are the base run's own change nothing: the plain re-run computes them
         * as the base run did. A patch that changes no row is not run at all. */
        const int r = first_change(base, p);
        noop[i] = r >= run->T;
        if (noop[i]) continue;
        if (ds[b0] != INT32_MAX) restore_copy(run, base, b0, ds[b0], dr[b0]);
        for (int b = b0; b < b0 + Bb; b++) {
            s0[b] = s;
            tt[b] = r;
            sp[b] = p->position < 0 ? -1 : stage == 0 ? p->layer : p->layer + 1;
            prow(run, R_NODE)[b] = p->node;
            ds[b] = s;
            dr[b] = r;
        }
        if (s < start) start = s;
    }
    if (start != INT32_MAX) run_stages(run, start, 0, patches, n_patches, 1);
    run->dirty_stage = 0; /* a relp_forward_patched after it recomputes everything */
    run->dirty_row = 0;
    run->have_grads = 0;
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------------ getters */

/* The node's cached values (a) or coefficients (g) at a layer, through
 * arch.c's node table; NULL for a node the model has not or a bad layer. */
static float *node_ptr(const struct relp_ctx *ctx, const struct relp_acts *a, const struct relp_grads *g,
                       enum relp_node node, int32_t layer) {
    const struct relp_node_spec *ns = (int)node < 0 ? NULL : relp__node(ctx->model, node);
    if (!ns || layer < 0 || layer > ctx->model->d.L - 1 + ns->extra_layer) return NULL;
    const size_t n = (size_t)ctx->B * ctx->T * (size_t)relp__dim(&ctx->model->d, (enum relp_dim)ns->width, ctx->T);
    if (a) return *(float *const *)((const char *)a + ns->act_field) + (size_t)layer * n;
    return *(float *const *)((const char *)g + ns->grad_field) + (size_t)(layer + ns->grad_shift) * n;
}

const float *relp_ctx_node(const struct relp_ctx *ctx, enum relp_node node, int32_t layer) {
    return ctx && ctx->have_run ? node_ptr(ctx, &ctx->acts, NULL, node, layer) : NULL;
}

const float *relp_ctx_node_grad(const struct relp_ctx *ctx, enum relp_node node, int32_t layer) {
    return ctx && ctx->have_grads ? node_ptr(ctx, NULL, &ctx->grads, node, layer) : NULL;
}

const float *relp_ctx_logits(const struct relp_ctx *ctx, int32_t *n_positions) {
    if (!ctx || !ctx->have_run) return NULL;
    if (n_positions) *n_positions = ctx->n_logit_pos;
    return ctx->acts.logits;
}

const float *relp_ctx_attn_pattern(const struct relp_ctx *ctx, int32_t layer) {
    if (!ctx || !ctx->have_run || layer < 0 || layer >= ctx->model->d.L) return NULL;
    return ctx->acts.att + (size_t)layer * ctx->B * ctx->model->d.NH * ctx->T * ctx->T;
}

const float *relp_ctx_ln_rstd(const struct relp_ctx *ctx, int32_t ln, int32_t layer) {
    if (!ctx || !ctx->have_run) return NULL;
    if (ln == 0) return ctx->acts.lnf_rstd;
    if (layer < 0 || layer >= ctx->model->cfg.n_layer || (ln != 1 && ln != 2)) return NULL;
    size_t BT = (size_t)ctx->B * ctx->T;
    return (ln == 1 ? ctx->acts.ln1_rstd : ctx->acts.ln2_rstd) + layer * BT;
}

int32_t relp_ctx_batch(const struct relp_ctx *ctx) { return ctx->B; }
int32_t relp_ctx_tokens(const struct relp_ctx *ctx) { return ctx->T; }
int32_t relp_node_width(const struct relp_model *m, enum relp_node node) {
    const struct relp_node_spec *ns = (int)node < 0 ? NULL : relp__node(m, node);
    return ns ? (int32_t)relp__dim(&m->d, (enum relp_dim)ns->width, 0) : 0;
}

enum relp_status relp_ctx_head_result(struct relp_ctx *ctx, int32_t layer, int32_t head, float *out) {
    const struct relp_dims *d = &ctx->model->d;
    if (!ctx->have_run) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "no forward pass yet");
    if (layer < 0 || layer >= d->L || head < 0 || head >= d->NH || !out)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "head_result: layer %d / head %d out of range", layer, head);
    const int HS = d->HS, N = ctx->B * ctx->T;
    const float *z = ctx->acts.z + (size_t)layer * N * d->Q;
    float *zh = ctx->acts.ln1_out; /* scratch (N, HS) */
    for (int n = 0; n < N; n++) memcpy(zh + (size_t)n * HS, z + (size_t)n * d->Q + head * HS, (size_t)HS * 4);
    /* rows [head*HS, (head+1)*HS) of W_O */
    matmul_xw_packed(ctx->pool, out, zh, ctx->model->layers[layer].w_o, ctx->model->weight_dtype, NULL, N, HS, d->C,
                     d->Q, head * HS);
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------------ backward */

/* out (N, K) = x (N, O) @ W^T for W (K, O): through the transposed copy when
 * the model keeps one (a forward-shaped product), else the transposing kernel */
static void bwd_matmul(struct relp_ctx *ctx, float *out, const float *x, const void *W, const void *Wt, int N, int O,
                       int K) {
    const enum relp_dtype wdt = ctx->model->weight_dtype;
    if (Wt) matmul_xw_packed(ctx->pool, out, x, Wt, wdt, NULL, N, O, K, O, 0);
    else matmul_xwt_packed(ctx->pool, out, ctx->grads.mm_scratch, x, W, wdt, N, O, K);
}

static enum relp_status check_metric(struct relp_ctx *ctx, const struct relp_metric *mt) {
    if (!ctx->have_run) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "metric before any forward pass");
    if (!mt || !mt->answer || (mt->kind == RELP_METRIC_LOGIT_DIFF && !mt->wrong) || (int)mt->kind < 0 ||
        mt->kind > RELP_METRIC_LOGIT)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "bad metric");
    const int V = ctx->model->cfg.vocab_size;
    if (mt->kind == RELP_METRIC_LOGPROB && ctx->n_logit_tokens > 0)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "log-probability metric with restricted logit tokens: it needs every logit");
    for (int b = 0; b < ctx->B; b++) {
        if (mt->answer[b] < 0 || mt->answer[b] >= V ||
            (mt->kind == RELP_METRIC_LOGIT_DIFF && (mt->wrong[b] < 0 || mt->wrong[b] >= V)))
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "metric: token id of prompt %d out of range 0..%d", b,
                                  V - 1);
    }
    return RELP_STATUS_OK;
}

/* logits of prompt b at the last logit position */
static const float *last_logits(const struct relp_ctx *ctx, int b) {
    const int P = ctx->n_logit_pos;
    return ctx->acts.logits + ((size_t)b * P + P - 1) * ctx->model->cfg.vocab_size;
}

static double log_sum_exp(const float *x, int n) {
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

/* mean metric over prompts [b0, b0 + nb) (answer ids indexed by prompt) */
double relp__metric_range(const struct relp_ctx *ctx, const struct relp_metric *mt, int b0, int nb) {
    const int V = ctx->model->cfg.vocab_size;
    double sum = 0.0;
    for (int b = b0; b < b0 + nb; b++) {
        const float *lg = last_logits(ctx, b);
        if (mt->kind == RELP_METRIC_LOGIT_DIFF) sum += (double)lg[mt->answer[b]] - lg[mt->wrong[b]];
        else if (mt->kind == RELP_METRIC_LOGIT) sum += lg[mt->answer[b]];
        else sum += lg[mt->answer[b]] - log_sum_exp(lg, V);
    }
    return sum / nb;
}

enum relp_status relp_metric_value(struct relp_ctx *ctx, const struct relp_metric *mt, double *value) {
    enum relp_status st = check_metric(ctx, mt);
    if (st) return st;
    *value = relp__metric_range(ctx, mt, 0, ctx->B);
    return RELP_STATUS_OK;
}

enum relp_status relp_backward(struct relp_ctx *ctx, const struct relp_metric *mt, const struct relp_rules *rules,
                               double *value) {
    return relp__backward_to(ctx, mt, rules, value, 0);
}

enum relp_status relp__backward_to(struct relp_ctx *ctx, const struct relp_metric *mt, const struct relp_rules *rules,
                                   double *value, int stop_layer) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!rules) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "no rules given (use relp_rules_preset)");
    if (!ctx->grad_block) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "backward pass in a forward-only context");
    double v;
    enum relp_status st = relp_metric_value(ctx, mt, &v);
    if (st) return st;
    if (value) *value = v;
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const int B = ctx->B, T = ctx->T, C = d->C, NH = d->NH, L = d->L, V = d->V;
    const size_t BT = (size_t)B * T, BTC = BT * C;
    const enum relp_dtype wdt = m->weight_dtype;
    struct relp_acts *a = &ctx->acts;
    struct relp_grads *g = &ctx->grads;
    const int ln_const = rules->ln == RELP_LN_SIGMA_CONST, identity = rules->gelu == RELP_GELU_IDENTITY;
    const int half = rules->gate == RELP_GATE_HALF;
    const float seed = mt->scale / (float)B;

    /* metric -> d lnf_out at the last logit position (B, C): sparse rows of the
     * unembedding for logit and logit-difference metrics, a dense product for log-prob. */
    float *d_lnf = g->h; /* (B, C) */
    memset(d_lnf, 0, (size_t)B * C * sizeof(float));
    for (int b = 0; b < B; b++) {
        float *dl = d_lnf + (size_t)b * C;
        if (mt->kind == RELP_METRIC_LOGPROB) {
            const float *lg = last_logits(ctx, b);
            double lse = log_sum_exp(lg, V);
            float *gl = g->logits + (size_t)b * V;
            for (int i = 0; i < V; i++) gl[i] = -seed * (float)exp((double)lg[i] - lse);
            gl[mt->answer[b]] += seed;
            continue;
        }
        int ids[2] = {mt->answer[b], mt->kind == RELP_METRIC_LOGIT_DIFF ? mt->wrong[b] : -1};
        float sg[2] = {seed, -seed};
        for (int k = 0; k < 2; k++) {
            if (ids[k] < 0) continue;
            for (int i = 0; i < C; i++) dl[i] += sg[k] * relp__load_elem(m->wu, wdt, (size_t)ids[k] * C + i);
        }
    }
    if (mt->kind == RELP_METRIC_LOGPROB) matmul_xw(ctx->pool, d_lnf, g->logits, m->wu, wdt, NULL, B, V, C);

    /* final norm backward into resid[L] at the last logit row only */
    float *g_final = g->resid + (size_t)L * BTC;
    memset(g_final, 0, BTC * sizeof(float));
    const int P = ctx->n_logit_pos, last = logit_row(ctx, P - 1);
    for (int b = 0; b < B; b++) {
        size_t r = (size_t)b * T + last, q = (size_t)b * P + P - 1;
        relp__norm_backward(m, g_final + r * C, d_lnf + (size_t)b * C, a->resid + (size_t)L * BTC + r * C, a->lnf_mean + q,
                      a->lnf_rstd + q, m->lnf_g, 1, C, ln_const);
    }

    for (int l = L - 1; l >= stop_layer; l--) {
        const struct relp_layer *w = &m->layers[l];
        const float *g_post = g->resid + (size_t)(l + 1) * BTC; /* = d mlp_out[l] */
        float *g_pre = g->resid + (size_t)l * BTC;
        const float *x_pre = a->resid + (size_t)l * BTC;
        /* mlp_out = act(norm2(x) W_fc + b_fc) W_mp + b_mp, or (act(gate) * up) W_mp + b_mp */
        const float *fc_pre = a->fc_pre + (size_t)l * BT * d->FC;
        float *g_neurons = g->mlp_post + (size_t)l * BT * d->I;
        bwd_matmul(ctx, g_neurons, g_post, w->w_mp, w->wt_mp, (int)BT, C, d->I);
        if (m->gated) glu_backward(g->fc, g_neurons, fc_pre, (int)BT, d->I, m->act, identity, half);
        else act_backward(g->fc, g_neurons, fc_pre, (int)BT * d->I, m->act, identity);
        bwd_matmul(ctx, g->h, g->fc, w->w_fc, w->wt_fc, (int)BT, d->FC, C);
        if (ctx->bwd_hook) ctx->bwd_hook(ctx->hook_user, ctx, l, RELP__BWD_MLP);
        /* the attention branch's coefficient: resid_mid's (sequential) or the block output's (parallel) */
        const float *g_attn;
        if (!m->parallel) {
            float *g_mid = g->resid_mid + (size_t)l * BTC;
            memcpy(g_mid, g_post, BTC * sizeof(float)); /* resid_post = resid_mid + mlp_out */
            relp__norm_backward(m, g_mid, g->h, a->resid_mid + (size_t)l * BTC, a->ln2_mean + (size_t)l * BT,
                          a->ln2_rstd + (size_t)l * BT, w->ln2_g, (int)BT, C, ln_const);
            g_attn = g_mid;
        } else {
            memcpy(g_pre, g_post, BTC * sizeof(float)); /* resid_post = resid_pre + attn_out + mlp_out */
            relp__norm_backward(m, g_pre, g->h, x_pre, a->ln2_mean + (size_t)l * BT, a->ln2_rstd + (size_t)l * BT, w->ln2_g,
                          (int)BT, C, ln_const);
            g_attn = g_post;
        }
        /* attn_out = z W_o + b_o; z = attention(rope(qknorm(norm1(resid_pre) W_qkv + b_qkv))) */
        float *g_z = g->z + (size_t)l * BT * d->Q;
        bwd_matmul(ctx, g_z, g_attn, w->w_o, w->wt_o, (int)BT, C, d->Q);
        attention_backward(ctx->pool, g->qkv, g->att_row, g_z, a->qkv + (size_t)l * BT * d->QKV,
                           a->att + (size_t)l * B * NH * T * T, B, T, NH, d->NKV, d->HS, rules->attn);
        if (d->ROT) /* RoPE is a rotation: its exact backward is the inverse rotation, under every rule */
            rope_apply(g->qkv, B, T, 0, d->QKV, d->NH + d->NKV, d->HS, d->ROT, ctx->rope_cos, ctx->rope_sin, 1);
        if (m->qk_norm) { /* the per-head q and k norms, under the LN-rule like the others */
            const size_t QK = (size_t)d->Q + d->KV, NQK = (size_t)d->NH + d->NKV;
            const float *pre = a->qk_pre + (size_t)l * BT * QK, *rs = a->qk_rstd + (size_t)l * BT * NQK;
            memset(g->qk, 0, BT * QK * sizeof(float));
            for (size_t r = 0; r < BT; r++) {
                rmsnorm_backward_acc(g->qk + r * QK, g->qkv + r * d->QKV, pre + r * QK, rs + r * NQK, w->q_norm, d->NH,
                                     d->HS, ln_const);
                rmsnorm_backward_acc(g->qk + r * QK + d->Q, g->qkv + r * d->QKV + d->Q, pre + r * QK + d->Q,
                                     rs + r * NQK + d->NH, w->k_norm, d->NKV, d->HS, ln_const);
                memcpy(g->qkv + r * d->QKV, g->qk + r * QK, QK * sizeof(float));
            }
        }
        if (ctx->bwd_hook) ctx->bwd_hook(ctx->hook_user, ctx, l, RELP__BWD_ATTN);
        bwd_matmul(ctx, g->h, g->qkv, w->w_qkv, w->wt_qkv, (int)BT, d->QKV, C);
        if (!m->parallel) memcpy(g_pre, g_attn, BTC * sizeof(float)); /* resid_mid = resid_pre + attn_out */
        relp__norm_backward(m, g_pre, g->h, x_pre, a->ln1_mean + (size_t)l * BT, a->ln1_rstd + (size_t)l * BT, w->ln1_g,
                      (int)BT, C, ln_const);
    }
    ctx->have_grads = 1;
    return RELP_STATUS_OK;
}
