/* circuits.c - node sets of circuits (SAE features with their error nodes,
 * neurons, components), their scores under AtP, RelP and IG, exact patching
 * of single nodes, and the faithfulness of circuits by mean ablation
 * (relp.h, CIRCUITS; Marks et al.'s attribution.py and ablation.py). Built
 * on the context's forward pass (with an internal hook for the ablation),
 * its patched re-runs, its one backward pass and methods.c's IG and patch
 * runners. */
#include "circuits.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ------------------------------------------------------------ hooks */

int32_t relp_circuit_hooks(const struct relp_model *m, const struct relp_saes *saes, enum relp_nodeset set,
                           struct relp_circuit_hook *out, int32_t cap) {
    if (!m) return -1;
    int32_t n = 0;
    struct relp_circuit_hook h;
    const int L = m->d.L;
    if (set == RELP_NODESET_FEATURES) {
        if (!saes || saes->model != m) return -1;
        for (int32_t i = 0; i < saes->n; i++, n++) {
            const struct relp_sae *e = &saes->s[i];
            memset(&h, 0, sizeof h);
            snprintf(h.name, sizeof h.name, "%s", e->hook_name);
            h.node = e->node, h.layer = e->layer, h.hook_layer = e->hook_layer, h.width = e->d_sae, h.error = 1;
            h.sae = i;
            if (out && n < cap) out[n] = h;
        }
        return n;
    }
    for (int l = 0; l < L; l++) {
        for (int k = 0; k < (set == RELP_NODESET_COMPONENTS ? 2 : 1); k++, n++) {
            memset(&h, 0, sizeof h);
            h.layer = h.hook_layer = l;
            h.sae = -1;
            if (set == RELP_NODESET_NEURONS) h.node = RELP_NODE_MLP_POST, h.width = m->d.I;
            else if (k == 0) h.node = RELP_NODE_ATTN_Z, h.width = m->d.NH;
            else h.node = RELP_NODE_MLP_OUT, h.width = 1;
            relp__hook_name(h.node, l, 0, h.name, sizeof h.name);
            if (out && n < cap) out[n] = h;
        }
    }
    return set == RELP_NODESET_NEURONS || set == RELP_NODESET_COMPONENTS ? n : -1;
}

/* the hooks of a set, malloc'd; NULL after a message on ctx */
static struct relp_circuit_hook *hooks_of(struct relp_ctx *ctx, const struct relp_saes *saes, enum relp_nodeset set,
                                          int32_t *n) {
    *n = relp_circuit_hooks(ctx->model, saes, set, NULL, 0);
    if (*n < 0) {
        relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                       set == RELP_NODESET_FEATURES ? "circuits: the feature node set needs SAEs loaded for this model"
                                                    : "circuits: unknown node set %d",
                       (int)set);
        return NULL;
    }
    struct relp_circuit_hook *h = calloc((size_t)(*n > 0 ? *n : 1), sizeof *h);
    if (!h) {
        relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
        return NULL;
    }
    relp_circuit_hooks(ctx->model, saes, set, h, *n);
    return h;
}

/* values per position of the relp node a hook reads (the whole node: heads are slices of z) */
static int node_width(const struct relp_model *m, const struct relp_circuit_hook *h) {
    return relp_node_width(m, h->node);
}

/* Runs src then base (denoising: clean then corrupted), leaving base in the cache; saves each hook's values
 * (B, T, node width) of both runs into xs[h], xb[h] (NULL: not saved), and the two metrics. */
static enum relp_status two_runs(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                 int32_t T, const struct relp_metric *mt, int noising,
                                 const struct relp_circuit_hook *hooks, int32_t nh, float **xs, float **xb, double *mc,
                                 double *mr) {
    const int32_t *runs[2] = {noising ? corrupt : clean, noising ? clean : corrupt};
    float **dst[2] = {xs, xb};
    double v[2];
    enum relp_status st;
    for (int r = 0; r < 2; r++) {
        if ((st = relp_forward(ctx, runs[r], B, T)) || (st = relp_metric_value(ctx, mt, &v[r]))) return st;
        for (int32_t h = 0; h < nh; h++)
            if (dst[r][h])
                memcpy(dst[r][h], relp_ctx_node(ctx, hooks[h].node, hooks[h].layer),
                       (size_t)B * T * node_width(ctx->model, &hooks[h]) * sizeof(float));
    }
    *mc = noising ? v[1] : v[0];
    *mr = noising ? v[0] : v[1];
    ctx->error[0] = '\0';
    return RELP_STATUS_OK;
}

/* one block of hook buffers: (B, T, node width) per hook, twice (src, base) */
static float *hook_buffers(struct relp_ctx *ctx, int B, int T, const struct relp_circuit_hook *hooks, int32_t nh,
                           float **xs, float **xb) {
    size_t total = 0;
    for (int32_t h = 0; h < nh; h++) total += 2 * (size_t)B * T * node_width(ctx->model, &hooks[h]);
    float *block = malloc((total ? total : 1) * sizeof(float));
    if (!block) {
        relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for %zu floats of hook values", total);
        return NULL;
    }
    float *p = block;
    for (int32_t h = 0; h < nh; h++) {
        const size_t n = (size_t)B * T * node_width(ctx->model, &hooks[h]);
        xs[h] = p, p += n;
        xb[h] = p, p += n;
    }
    return block;
}

/* ------------------------------------------------------------ feature scores */

#define ROW_CHUNK 256 /* rows encoded at once */

/* One chunk of rows' reduction, split between the pool's threads by position (a thread owns the positions
 * t = i, i + n, ... of every row, so no two write one accumulator and the sums never depend on scheduling). */
struct reduce_job {
    const struct relp_sae *e;
    const float *fs, *fb, *P, *xs, *xb, *rho; /* the chunk's codes, coefficients and values, gathered */
    const int32_t *pos;                       /* each gathered row's position */
    int n, dense;
    double *acc, *acc_e;
};

static void reduce_task(void *arg, int ti, int nt) {
    const struct reduce_job *j = arg;
    const struct relp_sae *e = j->e;
    const int D = e->d_in, S = e->d_sae;
    for (int r = 0; r < j->n; r++) {
        const int t = j->pos[r];
        if (t % nt != ti) continue;
        const float *a = j->fs + (size_t)r * S, *b = j->fb + (size_t)r * S, *p = j->P + (size_t)r * S;
        const float *g = j->rho + (size_t)r * D, *x1 = j->xs + (size_t)r * D, *x0 = j->xb + (size_t)r * D;
        double *o = j->acc + (size_t)t * S, feat = 0, s = 0;
        for (int i = 0; i < S; i++) {
            if (a[i] == b[i]) continue;
            float pi;
            if (j->dense) pi = p[i];
            else { /* W_dec[i] . rho in eight lanes (vectorised), summed pairwise */
                const float *w = e->W_dec + (size_t)i * D;
                float l[8] = {0};
                int d = 0;
                for (; d + 8 <= D; d += 8)
                    for (int k = 0; k < 8; k++) l[k] += w[d + k] * g[d + k];
                for (; d < D; d++) l[d & 7] += w[d] * g[d];
                pi = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
            }
            const double c = (double)(a[i] - b[i]) * pi;
            o[i] += c;
            feat += c;
        }
        for (int d = 0; d < D; d++) s += (double)(x1[d] - x0[d]) * g[d];
        j->acc_e[t] += s - feat;
    }
}

/* Scores of one SAE's features and error nodes from the two runs' values xs, xb (B, T, d_in) and the coefficient
 * rho (B, T, d_in): score[t][i] = scale sum_b (fs - fb)[b,t,i] (W_dec[i] . rho[b,t]), err[t] = scale sum_b
 * (es - eb)[b,t] . rho[b,t]; accumulated in double. A row whose two values are equal (a position before the
 * prompts differ) has equal codes and adds nothing: only the others are gathered, R at a time, and encoded. The
 * error needs no decoding: x_hat is linear in f (f W_dec + b_dec), so (es - eb) . rho = (xs - xb) . rho -
 * sum_i (fs - fb)_i (W_dec[i] . rho), the node's score less its features' (features + error = the node). */
static enum relp_status feature_reduce(struct relp_ctx *ctx, const struct relp_sae *e, const float *xs,
                                       const float *xb, const float *rho, double scale, float *score, float *err) {
    const int B = ctx->B, T = ctx->T, D = e->d_in, S = e->d_sae, R = ROW_CHUNK;
    const int64_t BT = (int64_t)B * T;
    const size_t sc = relp__sae_scratch(e, R);
    float *buf = malloc(sizeof(float) * ((size_t)3 * R * S + (size_t)3 * R * D + sc + 8) + sizeof(int32_t) * R);
    double *acc = calloc((size_t)T * S + T, sizeof(double));
    if (!buf || !acc) {
        free(buf);
        free(acc);
        return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for the feature scores of %s", e->hook_name);
    }
    float *fs = buf, *fb = fs + (size_t)R * S, *P = fb + (size_t)R * S, *gs = P + (size_t)R * S,
          *gb = gs + (size_t)R * D, *gr = gb + (size_t)R * D, *scr = gr + (size_t)R * D;
    int32_t *pos = (int32_t *)(scr + sc + 8);
    int64_t row = 0;
    while (row < BT) {
        int n = 0;
        for (; row < BT && n < R; row++) {
            const size_t o = (size_t)row * D;
            if (!memcmp(xs + o, xb + o, (size_t)D * sizeof(float))) continue;
            memcpy(gs + (size_t)n * D, xs + o, (size_t)D * sizeof(float));
            memcpy(gb + (size_t)n * D, xb + o, (size_t)D * sizeof(float));
            memcpy(gr + (size_t)n * D, rho + o, (size_t)D * sizeof(float));
            pos[n++] = (int32_t)(row % T);
        }
        if (!n) break;
        relp__sae_encode(e, ctx->pool, gs, n, fs, scr);
        relp__sae_encode(e, ctx->pool, gb, n, fb, scr);
        /* W_dec[i] . rho is needed only where the two runs' features differ: with sparse codes (topk, and most
         * ReLU SAEs) a dot product per such feature; with dense ones one product for every feature */
        int64_t differ = 0;
        for (size_t i = 0; i < (size_t)n * S; i++) differ += fs[i] != fb[i];
        const int dense = differ * 8 > (int64_t)n * S;
        if (dense) matmul_xw_packed(ctx->pool, P, gr, e->W_decT, RELP_DTYPE_F32, NULL, n, D, S, D, 0);
        struct reduce_job j = {e, fs, fb, P, gs, gb, gr, pos, n, dense, acc, acc + (size_t)T * S};
        relp__pool_run(ctx->pool, reduce_task, &j);
    }
    double *acc_e = acc + (size_t)T * S;
    for (size_t i = 0; i < (size_t)T * S; i++) score[i] = (float)(acc[i] * scale) + 0.0f;
    for (int t = 0; t < T; t++) err[t] = (float)(acc_e[t] * scale) + 0.0f;
    free(buf);
    free(acc);
    return RELP_STATUS_OK;
}

static enum relp_status attribute_features(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                           int32_t B, int32_t T, const struct relp_metric *mt,
                                           const struct relp_saes *saes, const struct relp_attr_params *p,
                                           const struct relp_circuit_hook *hooks, int32_t nh, float *const *scores,
                                           float *const *errors, double *m_clean, double *m_corrupt) {
    float **xs = calloc((size_t)nh + 1, sizeof *xs), **xb = calloc((size_t)nh + 1, sizeof *xb);
    float *block = xs && xb ? hook_buffers(ctx, B, T, hooks, nh, xs, xb) : NULL;
    double mc = 0, mr = 0;
    enum relp_status st = block ? RELP_STATUS_OK : RELP_STATUS_ALLOC_FAILED;
    if (!st) st = relp__restrict_logits(ctx, mt, B);
    if (!st) st = two_runs(ctx, clean, corrupt, B, T, mt, p->noising, hooks, nh, xs, xb, &mc, &mr);
    if (!st && p->method == RELP_METHOD_GRAD) {
        struct relp_metric scaled = *mt;
        scaled.scale = (float)relp__norm_of(ctx, mc, mr);
        if (!(st = relp_backward(ctx, &scaled, &p->rules, NULL)))
            for (int32_t h = 0; h < nh && !st; h++)
                st = feature_reduce(ctx, &saes->s[hooks[h].sae], xs[h], xb[h],
                                    relp_ctx_node_grad(ctx, hooks[h].node, hooks[h].layer), 1.0, scores[h], errors[h]);
    } else if (!st) { /* IG: each hook interpolated from the base run to the source, its mean coefficient */
        const int N = p->ig_steps;
        int G = relp__ig_group(ctx, N);
        size_t nmax = 0;
        for (int32_t h = 0; h < nh; h++) {
            size_t n = (size_t)B * T * saes->s[hooks[h].sae].d_in;
            nmax = n > nmax ? n : nmax;
        }
        struct relp__replica rep;
        st = relp__replicate(ctx, mt, G, 1, &rep);
        G = rep.G;
        float *work = st ? NULL : malloc(sizeof(float) * nmax * (size_t)(2 + G));
        if (!st && !work) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
        struct relp_metric scaled = rep.mt;
        scaled.scale = (float)(relp__norm_of(ctx, mc, mr) * G); /* the seed divides by the G * B rows */
        int64_t done = 0, total = (int64_t)nh * N;
        for (int32_t h = 0; h < nh && !st; h++) {
            const size_t n = (size_t)B * T * saes->s[hooks[h].sae].d_in;
            float *delta = work, *gsum = work + n, *vals = work + 2 * n;
            for (size_t i = 0; i < n; i++) delta[i] = xs[h][i] - xb[h][i];
            memset(gsum, 0, n * sizeof(float));
            for (int k0 = 0; k0 < N && !st; k0 += G) {
                const int gn = N - k0 < G ? N - k0 : G;
                if ((st = relp__ig_pass(ctx, rep.run, hooks[h].node, hooks[h].layer, xb[h], delta, vals, n, k0, gn, N,
                                        &scaled, hooks[h].layer < ctx->model->d.L ? hooks[h].layer : ctx->model->d.L)))
                    break;
                const float *gr = relp_ctx_node_grad(rep.run, hooks[h].node, hooks[h].layer);
                for (int g = 0; g < gn; g++)
                    for (size_t i = 0; i < n; i++) gsum[i] += gr[(size_t)g * n + i];
                done += gn;
                if (p->progress) p->progress(p->progress_user, done, total);
                if (relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "integrated gradients cancelled");
            }
            if (!st) st = feature_reduce(ctx, &saes->s[hooks[h].sae], xs[h], xb[h], gsum, 1.0 / N, scores[h], errors[h]);
        }
        if (!st && rep.run == ctx) st = relp_forward_patched(ctx, NULL, 0);
        relp__replica_free(ctx, &rep);
        free(work);
    }
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    free(block);
    free(xs);
    free(xb);
    if (m_clean) *m_clean = mc;
    if (m_corrupt) *m_corrupt = mr;
    return st;
}

enum relp_status relp_attribute_circuit(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                        int32_t T, const struct relp_metric *mt, const struct relp_saes *saes,
                                        enum relp_nodeset set, const struct relp_attr_params *p, float *const *scores,
                                        float *const *errors, double *m_clean, double *m_corrupt) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!clean || !corrupt || !mt || !p || !scores)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "circuit scores: NULL argument");
    if (p->method != RELP_METHOD_GRAD && p->method != RELP_METHOD_IG)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "circuit scores: the method must be GRAD (AtP or a RelP preset) or IG; exact patching is "
                              "relp_patch_circuit_nodes");
    if (p->method == RELP_METHOD_IG && (p->ig_steps < 1 || p->ig_steps > 100000))
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "circuit scores: IG steps %d out of range [1, 100000]",
                              p->ig_steps);
    int32_t nh = 0;
    struct relp_circuit_hook *hooks = hooks_of(ctx, saes, set, &nh);
    if (!hooks) return RELP_STATUS_BAD_ARGUMENT;
    relp__warn_begin(ctx, clean, B, T, mt, p->noising);
    enum relp_status st = RELP_STATUS_OK;
    for (int32_t h = 0; h < nh && !st; h++)
        if (!scores[h] || (hooks[h].error && (!errors || !errors[h])))
            st = relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "circuit scores: no buffer for hook %s", hooks[h].name);
    const struct relp_model *m = ctx->model;
    const int L = m->d.L, NH = m->d.NH, I = m->d.I;
    if (st) {
    } else if (set == RELP_NODESET_FEATURES) {
        st = attribute_features(ctx, clean, corrupt, B, T, mt, saes, p, hooks, nh, scores, errors, m_clean, m_corrupt);
    } else if (set == RELP_NODESET_NEURONS) {
        struct relp_attr_params q = *p;
        q.node = RELP_NODE_MLP_POST;
        float *all = malloc(sizeof(float) * (size_t)L * T * I);
        if (!all) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
        if (!st) st = relp_attribute(ctx, clean, corrupt, B, T, mt, &q, all, m_clean, m_corrupt);
        for (int l = 0; l < L && !st; l++) memcpy(scores[l], all + (size_t)l * T * I, sizeof(float) * (size_t)T * I);
        free(all);
    } else { /* components: heads per position (L, NH, T) and MLPs (L, T) */
        float *all = malloc(sizeof(float) * (size_t)L * T * (NH + 1));
        if (!all) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
        float *out[2] = {all, all ? all + (size_t)L * NH * T : NULL};
        enum relp_node nodes[2] = {RELP_NODE_ATTN_Z, RELP_NODE_MLP_OUT};
        struct relp_attr_params q = *p;
        q.per_position = 1;
        if (!st && p->method == RELP_METHOD_GRAD)
            st = relp_attribute_nodes(ctx, clean, corrupt, B, T, mt, &q, nodes, 2, out, m_clean, m_corrupt);
        for (int k = 0; k < 2 && !st && p->method == RELP_METHOD_IG; k++) {
            q.node = nodes[k];
            st = relp_attribute(ctx, clean, corrupt, B, T, mt, &q, out[k], m_clean, m_corrupt);
        }
        for (int l = 0; l < L && !st; l++)
            for (int t = 0; t < T; t++) {
                for (int h = 0; h < NH; h++) scores[2 * l][(size_t)t * NH + h] = out[0][((size_t)l * NH + h) * T + t];
                scores[2 * l + 1][t] = out[1][(size_t)l * T + t];
            }
        free(all);
    }
    free(hooks);
    return st;
}

/* ------------------------------------------------------------ exact patching of nodes */

enum relp_status relp_patch_circuit_nodes(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                          int32_t B, int32_t T, const struct relp_metric *mt,
                                          const struct relp_saes *saes, enum relp_nodeset set, int32_t noising,
                                          const struct relp_circuit_node *nodes, int32_t n, float *effects,
                                          void (*progress)(void *user, int64_t done, int64_t total),
                                          void *progress_user) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!clean || !corrupt || !mt || (n > 0 && (!nodes || !effects)) || n < 0)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "patch nodes: NULL argument");
    int32_t nh = 0;
    struct relp_circuit_hook *hooks = hooks_of(ctx, saes, set, &nh);
    if (!hooks) return RELP_STATUS_BAD_ARGUMENT;
    relp__warn_begin(ctx, clean, B, T, mt, noising);
    enum relp_status st = RELP_STATUS_OK;
    for (int32_t i = 0; i < n && !st; i++) {
        const struct relp_circuit_node *q = &nodes[i];
        if (q->hook < 0 || q->hook >= nh || q->position < 0 || q->position >= T || q->unit >= hooks[q->hook].width ||
            q->unit < (hooks[q->hook].error ? -1 : 0))
            st = relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                                "patch nodes: node %d (hook %d, position %d, unit %d) is not a node of this set", i,
                                q->hook, q->position, q->unit);
    }
    float **xs = calloc((size_t)nh + 1, sizeof *xs), **xb = calloc((size_t)nh + 1, sizeof *xb);
    float *block = !st && xs && xb ? hook_buffers(ctx, B, T, hooks, nh, xs, xb) : NULL;
    const struct relp_dims *d = &ctx->model->d;
    size_t wmax = (size_t)(d->C > d->I ? d->C : d->I);
    float *vals = malloc(sizeof(float) * ((size_t)n * B * wmax + 1));
    struct relp_patch *patches = malloc(sizeof *patches * (size_t)(n > 0 ? n : 1));
    float *work = NULL;
    if (!st && (!block || !vals || !patches)) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    double mc = 0, mr = 0;
    if (!st) st = relp__restrict_logits(ctx, mt, B);
    if (!st) st = two_runs(ctx, clean, corrupt, B, T, mt, noising, hooks, nh, xs, xb, &mc, &mr);
    /* features: encode and decode the B rows at the node's position of both runs */
    size_t smax = 0, scmax = 0;
    for (int32_t h = 0; h < nh && set == RELP_NODESET_FEATURES; h++) {
        const struct relp_sae *e = &saes->s[hooks[h].sae];
        smax = (size_t)e->d_sae > smax ? (size_t)e->d_sae : smax;
        scmax = relp__sae_scratch(e, B) > scmax ? relp__sae_scratch(e, B) : scmax;
    }
    if (!st && set == RELP_NODESET_FEATURES) {
        work = malloc(sizeof(float) * (2 * (size_t)B * smax + 4 * (size_t)B * wmax + scmax + 8));
        if (!work) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    }
    for (int32_t i = 0; i < n && !st; i++) {
        const struct relp_circuit_node *q = &nodes[i];
        const struct relp_circuit_hook *h = &hooks[q->hook];
        const int W = node_width(ctx->model, h), t = q->position;
        float *v = vals + (size_t)i * B * wmax;
        struct relp_patch pa = {h->node, h->layer, t, -1, v, 0, 0};
        for (int b = 0; b < B; b++) {
            const float *rs = xs[q->hook] + ((size_t)b * T + t) * W, *rb = xb[q->hook] + ((size_t)b * T + t) * W;
            if (set == RELP_NODESET_NEURONS) {
                memcpy(v + (size_t)b * W, rb, (size_t)W * sizeof(float));
                v[(size_t)b * W + q->unit] = rs[q->unit];
            } else if (set == RELP_NODESET_COMPONENTS && h->node == RELP_NODE_ATTN_Z) {
                pa.head = q->unit;
                memcpy(v + (size_t)b * d->HS, rs + (size_t)q->unit * d->HS, (size_t)d->HS * sizeof(float));
            } else if (set == RELP_NODESET_COMPONENTS) {
                memcpy(v + (size_t)b * W, rs, (size_t)W * sizeof(float));
            }
        }
        if (set == RELP_NODESET_FEATURES) {
            const struct relp_sae *e = &saes->s[h->sae];
            const int S = e->d_sae;
            float *in_s = work, *in_b = in_s + (size_t)B * W, *hs = in_b + (size_t)B * W, *hb = hs + (size_t)B * W,
                  *fs = hb + (size_t)B * W, *fb = fs + (size_t)B * S, *scr = fb + (size_t)B * S;
            for (int b = 0; b < B; b++) {
                memcpy(in_s + (size_t)b * W, xs[q->hook] + ((size_t)b * T + t) * W, (size_t)W * sizeof(float));
                memcpy(in_b + (size_t)b * W, xb[q->hook] + ((size_t)b * T + t) * W, (size_t)W * sizeof(float));
            }
            relp__sae_encode(e, NULL, in_s, B, fs, scr);
            relp__sae_encode(e, NULL, in_b, B, fb, scr);
            if (q->unit < 0) {
                relp__sae_decode(e, fs, B, hs);
                relp__sae_decode(e, fb, B, hb);
            }
            for (int b = 0; b < B; b++) {
                float *o = v + (size_t)b * W;
                const float *x0 = in_b + (size_t)b * W, *x1 = in_s + (size_t)b * W;
                if (q->unit >= 0) { /* base + delta f_i W_dec[i] */
                    const float df = fs[(size_t)b * S + q->unit] - fb[(size_t)b * S + q->unit];
                    const float *w = e->W_dec + (size_t)q->unit * W;
                    for (int k = 0; k < W; k++) o[k] = x0[k] + df * w[k];
                } else { /* base + delta e */
                    const float *h1 = hs + (size_t)b * W, *h0 = hb + (size_t)b * W;
                    for (int k = 0; k < W; k++) o[k] = x0[k] + ((x1[k] - h1[k]) - (x0[k] - h0[k]));
                }
            }
        }
        patches[i] = pa;
    }
    if (!st) {
        const double norm = relp__norm_of(ctx, mc, mr);
        st = relp__run_patches(ctx, mt, patches, n, noising ? mc : mr, norm, effects, progress, progress_user,
                               "exact patching");
    }
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    free(work);
    free(patches);
    free(vals);
    free(block);
    free(xs);
    free(xb);
    free(hooks);
    return st;
}

/* ------------------------------------------------------------ faithfulness */

struct relp_faithfulness {
    struct relp_ctx *ctx;
    const int32_t *clean, *corrupt;
    int32_t B, T;
    struct relp_metric mt;
    const struct relp_saes *saes;
    enum relp_nodeset set;
    int32_t start_layer;
    struct relp_circuit_hook *hooks;
    int32_t nh;
    float **mu;      /* per hook: the mean over the corrupted prompts per position: features (T, d_sae); neurons
                        (T, I); heads (T, Q) (z); an MLP (T, C) */
    float **mu_err;  /* features: the error's mean (T, d_in) */
    float **mu_dec;  /* features: mu W_dec (T, d_in), without b_dec */
    float *block;
    float *f, *xhat, *row, *scr; /* scratch of the ablation: (rows, max d_sae), (rows, max d_in), (threads, max d_in),
                                    encode's */
    const uint8_t *const *keep, *const *keep_err; /* the circuit being evaluated */
    uint8_t **all_keep;   /* a circuit buffer per hook (T * width) and its error flags (T), for curves */
    uint8_t **all_err;
    double m_full, m_empty;
    int64_t n_nodes;
};

static int candidate(const struct relp_faithfulness *fa, int32_t h) { return fa->hooks[h].hook_layer >= fa->start_layer; }

/* The spliced values of a chunk's rows (x: n rows of width W from row first of (B, T)), rows split between the
 * pool's threads, each with its own output row */
struct splice_job {
    const struct relp_faithfulness *fa;
    const struct relp_sae *e;
    int32_t h;
    float *x;
    int64_t first;
    int n, W;
};

static void splice_task(void *arg, int ti, int nt) {
    const struct splice_job *j = arg;
    const struct relp_faithfulness *fa = j->fa;
    const struct relp_sae *e = j->e;
    const int S = e->d_sae, W = j->W, T = fa->T, h = j->h;
    const uint8_t *keep = fa->keep[h], *ke = fa->keep_err[h];
    float *out = fa->row + (size_t)ti * W;
    for (int r = j->n * ti / nt; r < j->n * (ti + 1) / nt; r++) {
        const int t = (int)((j->first + r) % T);
        float *xr = j->x + (size_t)r * W, *hat = fa->xhat + (size_t)r * W;
        const float *fr = fa->f + (size_t)r * S, *mu = fa->mu[h] + (size_t)t * S;
        const uint8_t *kt = keep + (size_t)t * S;
        relp__sae_decode(e, fr, 1, hat);
        /* x' = b_dec + mu W_dec + sum over kept i of (f_i - mu_i) W_dec[i] + (e or its mean); where most features
         * are kept, the same as x_hat + sum over the others of (mu_i - f_i) W_dec[i] */
        const float *md = fa->mu_dec[h] + (size_t)t * W, *me = fa->mu_err[h] + (size_t)t * W;
        int n_kept = 0;
        for (int i = 0; i < S; i++) n_kept += kt[i] != 0;
        const int most = 2 * n_kept > S;
        if (most) memcpy(out, hat, (size_t)W * sizeof(float));
        else
            for (int k = 0; k < W; k++) out[k] = e->b_dec[k] + md[k];
        for (int i = 0; i < S; i++) {
            if ((kt[i] != 0) == most || fr[i] == mu[i]) continue;
            const float a = most ? mu[i] - fr[i] : fr[i] - mu[i];
            const float *w = e->W_dec + (size_t)i * W;
            for (int k = 0; k < W; k++) out[k] += a * w[k];
        }
        if (ke[t])
            for (int k = 0; k < W; k++) out[k] += xr[k] - hat[k];
        else
            for (int k = 0; k < W; k++) out[k] += me[k];
        memcpy(xr, out, (size_t)W * sizeof(float));
    }
}

/* the forward hook of an evaluation: every candidate hook of (node, layer), in forward order, ablated to the
 * circuit in fa->keep */
static void ablate(void *user, struct relp_ctx *ctx, enum relp_node node, int layer, float *values, int t0) {
    struct relp_faithfulness *fa = user;
    const int B = ctx->B, T = ctx->T, HS = ctx->model->d.HS;
    for (int32_t h = 0; h < fa->nh; h++) {
        const struct relp_circuit_hook *hk = &fa->hooks[h];
        if (hk->node != node || hk->layer != layer || !candidate(fa, h)) continue;
        const uint8_t *keep = fa->keep[h], *ke = fa->keep_err ? fa->keep_err[h] : NULL;
        const int W = relp_node_width(ctx->model, node), U = hk->width;
        if (fa->set == RELP_NODESET_FEATURES) {
            int all = 1; /* a hook whose every node is kept is the activation itself */
            for (size_t i = (size_t)t0 * U; i < (size_t)T * U && all; i++) all = keep[i] != 0;
            for (int t = t0; t < T && all; t++) all = ke[t] != 0;
            if (all) continue;
            const struct relp_sae *e = &fa->saes->s[hk->sae];
            int none = 1; /* a hook with no node kept needs no encoding: every row is b_dec + mu W_dec + the error's mean,
                             as splice_task writes it (the same operations) */
            for (size_t i = (size_t)t0 * U; i < (size_t)T * U && none; i++) none = keep[i] == 0;
            for (int t = t0; t < T && none; t++) none = ke[t] == 0;
            if (none) {
                for (int b = 0; b < B; b++)
                    for (int t = t0; t < T; t++) {
                        float *xr = values + ((size_t)b * T + t) * W;
                        const float *md = fa->mu_dec[h] + (size_t)t * W, *me = fa->mu_err[h] + (size_t)t * W;
                        for (int k = 0; k < W; k++) xr[k] = e->b_dec[k] + md[k];
                        for (int k = 0; k < W; k++) xr[k] += me[k];
                    }
                continue;
            }
            /* rows t0..T-1 of each prompt: one block of every row when t0 = 0; in chunks of ROW_CHUNK rows */
            const int64_t span = t0 == 0 ? (int64_t)B * T : T - t0, blocks = t0 == 0 ? 1 : B;
            for (int64_t bl = 0; bl < blocks; bl++)
            for (int64_t r0 = 0; r0 < span; r0 += ROW_CHUNK) {
                const int n = span - r0 < ROW_CHUNK ? (int)(span - r0) : ROW_CHUNK;
                const int64_t first = t0 == 0 ? r0 : bl * T + t0 + r0; /* the chunk's first row in (B T) */
                float *x = values + first * W;
                relp__sae_encode(e, ctx->pool, x, n, fa->f, fa->scr);
                struct splice_job j = {fa, e, h, x, first, n, W};
                relp__pool_run(ctx->pool, splice_task, &j);
            }
        } else if (fa->set == RELP_NODESET_NEURONS) {
            for (int b = 0; b < B; b++)
                for (int t = t0; t < T; t++) {
                    float *x = values + ((size_t)b * T + t) * W;
                    const float *mu = fa->mu[h] + (size_t)t * W;
                    const uint8_t *kt = keep + (size_t)t * W;
                    for (int j = 0; j < W; j++)
                        if (!kt[j]) x[j] = mu[j];
                }
        } else if (node == RELP_NODE_ATTN_Z) { /* heads */
            for (int b = 0; b < B; b++)
                for (int t = t0; t < T; t++)
                    for (int u = 0; u < U; u++)
                        if (!keep[(size_t)t * U + u])
                            memcpy(values + ((size_t)b * T + t) * W + (size_t)u * HS, fa->mu[h] + (size_t)t * W + (size_t)u * HS,
                                   (size_t)HS * sizeof(float));
        } else { /* an MLP */
            for (int b = 0; b < B; b++)
                for (int t = t0; t < T; t++)
                    if (!keep[t])
                        memcpy(values + ((size_t)b * T + t) * W, fa->mu[h] + (size_t)t * W, (size_t)W * sizeof(float));
        }
    }
}

enum relp_status relp_faithfulness_eval(struct relp_faithfulness *fa, const uint8_t *const *keep,
                                        const uint8_t *const *keep_error, double *m_circuit) {
    if (!fa || !keep || !m_circuit) return RELP_STATUS_BAD_ARGUMENT;
    struct relp_ctx *ctx = fa->ctx;
    for (int32_t h = 0; h < fa->nh; h++)
        if (!keep[h] || (fa->hooks[h].error && (!keep_error || !keep_error[h])))
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "faithfulness: no circuit flags for hook %s",
                                  fa->hooks[h].name);
    fa->keep = keep;
    fa->keep_err = keep_error;
    enum relp_status st = relp__restrict_logits(ctx, &fa->mt, fa->B);
    ctx->fwd_hook = ablate;
    ctx->hook_user = fa;
    if (!st) st = relp_forward(ctx, fa->clean, fa->B, fa->T);
    ctx->fwd_hook = NULL;
    ctx->hook_user = NULL;
    if (!st) *m_circuit = relp__metric_range(ctx, &fa->mt, 0, fa->B);
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    fa->keep = fa->keep_err = NULL;
    return st;
}

void relp_faithfulness_free(struct relp_faithfulness *fa) {
    if (!fa) return;
    free(fa->hooks);
    free(fa->mu);
    free(fa->mu_err);
    free(fa->mu_dec);
    free(fa->all_keep);
    free(fa->all_err);
    free(fa->block);
    free(fa->f);
    free(fa);
}

void relp_faithfulness_ends(const struct relp_faithfulness *fa, double *m_full, double *m_empty) {
    if (m_full) *m_full = fa ? fa->m_full : NAN;
    if (m_empty) *m_empty = fa ? fa->m_empty : NAN;
}

int64_t relp_faithfulness_n_nodes(const struct relp_faithfulness *fa) { return fa ? fa->n_nodes : 0; }

enum relp_status relp_faithfulness_init(struct relp_faithfulness **out, struct relp_ctx *ctx, const int32_t *clean,
                                        const int32_t *corrupt, int32_t B, int32_t T, const struct relp_metric *mt,
                                        const struct relp_saes *saes, enum relp_nodeset set, int32_t start_layer) {
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    *out = NULL;
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!clean || !corrupt || !mt) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "faithfulness: NULL argument");
    const int L = ctx->model->d.L;
    if (start_layer < 0 || start_layer >= L)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "faithfulness: start layer %d out of range 0..%d",
                              start_layer, L - 1);
    relp__warn_begin(ctx, clean, B, T, mt, 0);
    struct relp_faithfulness *fa = calloc(1, sizeof *fa);
    if (!fa) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    fa->ctx = ctx, fa->clean = clean, fa->corrupt = corrupt, fa->B = B, fa->T = T, fa->mt = *mt, fa->saes = saes;
    fa->set = set, fa->start_layer = start_layer;
    enum relp_status st = RELP_STATUS_OK;
    if (!(fa->hooks = hooks_of(ctx, saes, set, &fa->nh))) {
        free(fa);
        return RELP_STATUS_BAD_ARGUMENT;
    }
    const int nh = fa->nh;
    fa->mu = calloc((size_t)nh + 1, sizeof *fa->mu);
    fa->mu_err = calloc((size_t)nh + 1, sizeof *fa->mu_err);
    fa->mu_dec = calloc((size_t)nh + 1, sizeof *fa->mu_dec);
    fa->all_keep = calloc((size_t)nh + 1, sizeof *fa->all_keep);
    fa->all_err = calloc((size_t)nh + 1, sizeof *fa->all_err);
    /* one block: the means, and a circuit's flags per hook */
    size_t floats = 0, flags = 0, smax = 1, wmax = 1, scmax = 1;
    for (int32_t h = 0; h < nh; h++) {
        const int W = node_width(ctx->model, &fa->hooks[h]), U = fa->hooks[h].width;
        if (set == RELP_NODESET_FEATURES) {
            const struct relp_sae *e = &saes->s[fa->hooks[h].sae];
            floats += (size_t)T * (e->d_sae + 2 * (size_t)W);
            smax = (size_t)e->d_sae > smax ? (size_t)e->d_sae : smax;
            scmax = relp__sae_scratch(e, ROW_CHUNK) > scmax ? relp__sae_scratch(e, ROW_CHUNK) : scmax;
        } else {
            floats += (size_t)T * W;
        }
        wmax = (size_t)W > wmax ? (size_t)W : wmax;
        flags += (size_t)T * (U + 1);
        if (candidate(fa, h)) fa->n_nodes += (int64_t)T * (U + fa->hooks[h].error);
    }
    size_t fl_floats = (flags + sizeof(float) - 1) / sizeof(float);
    fa->block = malloc(sizeof(float) * (floats + fl_floats + 1));
    if (set == RELP_NODESET_FEATURES)
        fa->f = malloc(sizeof(float) * ((size_t)ROW_CHUNK * smax + (size_t)ROW_CHUNK * wmax +
                                         (size_t)relp__pool_size(ctx->pool) * wmax + scmax + 8));
    if (!fa->mu || !fa->mu_err || !fa->mu_dec || !fa->all_keep || !fa->all_err || !fa->block ||
        (set == RELP_NODESET_FEATURES && !fa->f)) {
        relp_faithfulness_free(fa);
        return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for the faithfulness of %d prompts", B);
    }
    if (fa->f) {
        fa->xhat = fa->f + (size_t)ROW_CHUNK * smax;
        fa->row = fa->xhat + (size_t)ROW_CHUNK * wmax;
        fa->scr = fa->row + (size_t)relp__pool_size(ctx->pool) * wmax;
    }
    float *p = fa->block;
    for (int32_t h = 0; h < nh; h++) {
        const int W = node_width(ctx->model, &fa->hooks[h]);
        if (set == RELP_NODESET_FEATURES) {
            fa->mu[h] = p, p += (size_t)T * saes->s[fa->hooks[h].sae].d_sae;
            fa->mu_err[h] = p, p += (size_t)T * W;
            fa->mu_dec[h] = p, p += (size_t)T * W;
        } else {
            fa->mu[h] = p, p += (size_t)T * W;
        }
    }
    uint8_t *fl = (uint8_t *)p;
    for (int32_t h = 0; h < nh; h++) {
        fa->all_keep[h] = fl, fl += (size_t)T * fa->hooks[h].width;
        fa->all_err[h] = fl, fl += T;
    }
    /* the means over the corrupted prompts, from the unablated corrupted run */
    if (!st) st = relp__restrict_logits(ctx, mt, B);
    if (!st) st = relp_forward(ctx, corrupt, B, T);
    for (int32_t h = 0; h < nh && !st; h++) {
        const struct relp_circuit_hook *hk = &fa->hooks[h];
        const int W = node_width(ctx->model, hk);
        const float *x = relp_ctx_node(ctx, hk->node, hk->layer);
        if (set != RELP_NODESET_FEATURES) {
            for (int t = 0; t < T; t++)
                for (int k = 0; k < W; k++) {
                    double s = 0;
                    for (int b = 0; b < B; b++) s += x[((size_t)b * T + t) * W + k];
                    fa->mu[h][(size_t)t * W + k] = (float)(s / B);
                }
            continue;
        }
        const struct relp_sae *e = &saes->s[hk->sae];
        const int S = e->d_sae;
        double *acc = calloc((size_t)T * (S + W), sizeof(double));
        if (!acc) {
            st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
            break;
        }
        for (int64_t r0 = 0; r0 < (int64_t)B * T; r0 += ROW_CHUNK) {
            const int n = (int64_t)B * T - r0 < ROW_CHUNK ? (int)((int64_t)B * T - r0) : ROW_CHUNK;
            relp__sae_encode(e, ctx->pool, x + r0 * W, n, fa->f, fa->scr);
            relp__sae_decode(e, fa->f, n, fa->xhat);
            for (int r = 0; r < n; r++) {
                const size_t t = (size_t)((r0 + r) % T);
                for (int i = 0; i < S; i++) acc[t * S + i] += fa->f[(size_t)r * S + i];
                for (int k = 0; k < W; k++)
                    acc[(size_t)T * S + t * W + k] += x[(r0 + r) * W + k] - fa->xhat[(size_t)r * W + k];
            }
        }
        for (size_t i = 0; i < (size_t)T * S; i++) fa->mu[h][i] = (float)(acc[i] / B);
        for (size_t i = 0; i < (size_t)T * W; i++) fa->mu_err[h][i] = (float)(acc[(size_t)T * S + i] / B);
        free(acc);
        /* mu W_dec, without b_dec: the decode of the mean features */
        memset(fa->mu_dec[h], 0, sizeof(float) * (size_t)T * W);
        for (int t = 0; t < T; t++)
            for (int i = 0; i < S; i++) {
                const float a = fa->mu[h][(size_t)t * S + i];
                if (a == 0.0f) continue;
                for (int k = 0; k < W; k++) fa->mu_dec[h][(size_t)t * W + k] += a * e->W_dec[(size_t)i * W + k];
            }
    }
    if (!st) st = relp_forward(ctx, clean, B, T);
    if (!st) fa->m_full = relp__metric_range(ctx, mt, 0, B);
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    if (!st) { /* m(empty): every node at the hooks ablated */
        for (int32_t h = 0; h < nh; h++) {
            memset(fa->all_keep[h], 0, (size_t)T * fa->hooks[h].width);
            memset(fa->all_err[h], 0, (size_t)T);
        }
        st = relp_faithfulness_eval(fa, (const uint8_t *const *)fa->all_keep, (const uint8_t *const *)fa->all_err,
                                    &fa->m_empty);
    }
    if (st) {
        relp_faithfulness_free(fa);
        return st;
    }
    *out = fa;
    return RELP_STATUS_OK;
}

/* the candidates, ranked: |score| descending, then index (hooks in forward order, position, unit, error last) */
struct ranked {
    float a;      /* |score|; -1 for NaN */
    int64_t idx;  /* the node's index in that order */
    int32_t hook, pos, unit;
};

static int by_score(const void *x, const void *y) {
    const struct ranked *p = x, *q = y;
    if (p->a != q->a) return p->a > q->a ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

enum relp_status relp_faithfulness_curve(struct relp_faithfulness *fa, const float *const *scores,
                                         const float *const *errors, const int64_t *n_nodes, const float *thresholds,
                                         int32_t n_points, int64_t *size, double *faith, double *completeness,
                                         void (*progress)(void *user, int64_t done, int64_t total),
                                         void *progress_user) {
    if (!fa) return RELP_STATUS_BAD_ARGUMENT;
    struct relp_ctx *ctx = fa->ctx;
    if (!scores || (!n_nodes && !thresholds) || n_points < 0)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "faithfulness curve: NULL argument");
    const int T = fa->T;
    struct ranked *r = malloc(sizeof *r * (size_t)(fa->n_nodes > 0 ? fa->n_nodes : 1));
    if (!r) return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
    int64_t n = 0;
    for (int32_t h = 0; h < fa->nh; h++) {
        if (!candidate(fa, h)) continue;
        const int U = fa->hooks[h].width, E = fa->hooks[h].error;
        if (E && (!errors || !errors[h])) {
            free(r);
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "faithfulness curve: no error scores for %s",
                                  fa->hooks[h].name);
        }
        for (int t = 0; t < T; t++)
            for (int u = 0; u < U + E; u++) {
                float s = u < U ? scores[h][(size_t)t * U + u] : errors[h][t];
                r[n] = (struct ranked){isnan(s) ? -1.0f : fabsf(s), n, h, t, u < U ? u : -1};
                n++;
            }
    }
    qsort(r, (size_t)n, sizeof *r, by_score);
    enum relp_status st = RELP_STATUS_OK;
    for (int32_t i = 0; i < n_points && !st; i++) {
        int64_t k = 0;
        if (n_nodes) k = n_nodes[i] < 0 ? 0 : n_nodes[i] > n ? n : n_nodes[i];
        else
            while (k < n && r[k].a >= thresholds[i]) k++;
        double mc = NAN, mx = NAN;
        for (int pass = 0; pass < 2 && !st; pass++) { /* the circuit, then its complement among the candidates */
            for (int32_t h = 0; h < fa->nh; h++) {
                const int v = candidate(fa, h) ? pass : 1; /* hooks before start_layer are never ablated */
                memset(fa->all_keep[h], v, (size_t)T * fa->hooks[h].width);
                memset(fa->all_err[h], v, (size_t)T);
            }
            for (int64_t j = 0; j < k; j++) {
                if (r[j].unit >= 0) fa->all_keep[r[j].hook][(size_t)r[j].pos * fa->hooks[r[j].hook].width + r[j].unit] = !pass;
                else fa->all_err[r[j].hook][r[j].pos] = !pass;
            }
            if ((pass == 0 && (faith || !completeness)) || (pass == 1 && completeness))
                st = relp_faithfulness_eval(fa, (const uint8_t *const *)fa->all_keep, (const uint8_t *const *)fa->all_err,
                                            pass ? &mx : &mc);
        }
        const double den = fa->m_full - fa->m_empty;
        if (size) size[i] = k;
        if (faith) faith[i] = (mc - fa->m_empty) / den;
        if (completeness) completeness[i] = (mx - fa->m_empty) / den;
        if (progress) progress(progress_user, i + 1, n_points);
        if (!st && relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "faithfulness cancelled");
    }
    free(r);
    return st;
}
