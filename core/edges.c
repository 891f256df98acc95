/* edges.c - edge circuits (relp.h, CIRCUITS: edges; EAP-IG's graph): the
 * graph's nodes and edges per architecture, every edge's score from one
 * backward pass (AtP, the RelP presets) or one sweep along the input path
 * (IG-input), exact patching of single edges, and the faithfulness of edge
 * circuits (EAP-IG's evaluate_graph).
 *
 * The coefficient rho_v of a downstream node's input copy comes from the
 * backward pass's hook (model.c): at the attention of layer l, the q | k | v
 * projection's coefficient is split into each head's column block (with
 * grouped-query attention the k and v coefficients are recomputed per query
 * head, as if each query head had its own copy of its k/v head), projected
 * back through that block of W_qkv and through norm1; at the MLP, norm2's
 * backward of its input's coefficient; for the logits, the final residual's
 * coefficient. The scores of a layer's downstream nodes are one product of
 * the upstream differences (n_up, B T C) with their coefficients. */
#include "circuits.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the graph */

static int n_up_of(const struct relp_dims *d) { return 1 + d->L * (d->NH + 1); }
static int n_down_of(const struct relp_dims *d) { return d->L * (3 * d->NH + 1) + 1; }
static int up_head(const struct relp_dims *d, int l, int h) { return 1 + l * (d->NH + 1) + h; }
static int up_mlp(const struct relp_dims *d, int l) { return 1 + l * (d->NH + 1) + d->NH; }
static int down_qkv(const struct relp_dims *d, int l, int kind, int h) { return l * (3 * d->NH + 1) + kind * d->NH + h; }
static int down_mlp(const struct relp_dims *d, int l) { return l * (3 * d->NH + 1) + 3 * d->NH; }
/* upstream nodes that a layer's q/k/v inputs read, and its MLP's */
static int n_up_qkv(const struct relp_dims *d, int l) { return 1 + l * (d->NH + 1); }
static int n_up_mlp(const struct relp_model *m, int l) { return n_up_qkv(&m->d, l) + (m->parallel ? 0 : m->d.NH); }

/* u: layer (-1 for input) and unit (head, or NH for the MLP); v: layer, kind (0 q, 1 k, 2 v, 3 MLP, 4 logits), head */
static void up_of(const struct relp_dims *d, int u, int *layer, int *unit) {
    *layer = u == 0 ? -1 : (u - 1) / (d->NH + 1);
    *unit = u == 0 ? 0 : (u - 1) % (d->NH + 1);
}

static void down_of(const struct relp_dims *d, int v, int *layer, int *kind, int *head) {
    const int per = 3 * d->NH + 1;
    *layer = v / per;
    int r = v % per;
    if (v == d->L * per) {
        *kind = 4, *head = 0;
        return;
    }
    *kind = r == 3 * d->NH ? 3 : r / d->NH;
    *head = r == 3 * d->NH ? 0 : r % d->NH;
}

void relp_graph_size(const struct relp_model *m, int32_t *n_up, int32_t *n_down) {
    if (n_up) *n_up = m ? n_up_of(&m->d) : 0;
    if (n_down) *n_down = m ? n_down_of(&m->d) : 0;
}

const char *relp_graph_up_name(const struct relp_model *m, int32_t u, char *buf, size_t cap) {
    if (!m || !buf || u < 0 || u >= n_up_of(&m->d)) return NULL;
    int l, unit;
    up_of(&m->d, u, &l, &unit);
    if (l < 0) snprintf(buf, cap, "input");
    else if (unit == m->d.NH) snprintf(buf, cap, "m%d", l);
    else snprintf(buf, cap, "a%d.h%d", l, unit);
    return buf;
}

const char *relp_graph_down_name(const struct relp_model *m, int32_t v, char *buf, size_t cap) {
    if (!m || !buf || v < 0 || v >= n_down_of(&m->d)) return NULL;
    int l, kind, h;
    down_of(&m->d, v, &l, &kind, &h);
    if (kind == 4) snprintf(buf, cap, "logits");
    else if (kind == 3) snprintf(buf, cap, "m%d", l);
    else snprintf(buf, cap, "a%d.h%d<%c>", l, h, "qkv"[kind]);
    return buf;
}

/* The upstream nodes a downstream node reads are a prefix of the upstream order (input, then each layer's heads
 * and MLP): v reads u exactly when u < n_reads(v). */
static int n_reads(const struct relp_model *m, int v) {
    const struct relp_dims *d = &m->d;
    const int per = 3 * d->NH + 1, l = v / per;
    if (v == d->L * per) return n_up_of(d);               /* the logits: every node */
    return v % per == 3 * d->NH ? n_up_mlp(m, l) : n_up_qkv(d, l);
}

int32_t relp_graph_edge(const struct relp_model *m, int32_t u, int32_t v) {
    if (!m || u < 0 || u >= n_up_of(&m->d) || v < 0 || v >= n_down_of(&m->d)) return 0;
    return u < n_reads(m, v);
}

int32_t relp_graph_edges(const struct relp_model *m, int32_t *pairs, int32_t cap) {
    if (!m) return 0;
    const struct relp_dims *d = &m->d;
    const int nu = n_up_of(d), nd = n_down_of(d), per = 3 * d->NH + 1;
    int32_t q = 0;
#define PUT(u_, v_)                                                                                                    \
    do {                                                                                                               \
        if (pairs && q < cap) pairs[2 * q] = (u_), pairs[2 * q + 1] = (v_);                                            \
        q++;                                                                                                           \
    } while (0)
    for (int l = 0; l < d->L; l++) {
        const int ml = l * per + 3 * d->NH;
        for (int u = 0; u < nu; u++) {
            for (int h = 0; h < d->NH; h++)
                for (int kind = 0; kind < 3; kind++)
                    if (relp_graph_edge(m, u, down_qkv(d, l, kind, h))) PUT(u, down_qkv(d, l, kind, h));
            if (m->parallel && relp_graph_edge(m, u, ml)) PUT(u, ml);
        }
        for (int u = 0; u < nu && !m->parallel; u++)
            if (relp_graph_edge(m, u, ml)) PUT(u, ml);
    }
    for (int u = 0; u < nu; u++) PUT(u, nd - 1);
#undef PUT
    return q;
}

/* the upstream node a downstream input belongs to (its head or MLP), or -1 for the logits */
static int owner_of(const struct relp_dims *d, int v) {
    int l, kind, h;
    down_of(d, v, &l, &kind, &h);
    return kind == 4 ? -1 : kind == 3 ? up_mlp(d, l) : up_head(d, l, h);
}

struct ranked_edge {
    float a;
    int64_t idx;
};
static int by_abs_edge(const void *x, const void *y) {
    const struct ranked_edge *p = x, *q = y;
    if (p->a != q->a) return p->a > q->a ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

int32_t relp_graph_top(const struct relp_model *m, const float *s, int64_t n, uint8_t *in, uint8_t *node_in) {
    if (!m || !s || !in) return -1;
    const struct relp_dims *d = &m->d;
    const int nu = n_up_of(d), nd = n_down_of(d);
    struct ranked_edge *k = malloc(sizeof *k * (size_t)nu * nd);
    uint8_t *out_ = calloc((size_t)nu, 1), *in_ = calloc((size_t)nu, 1), *keep = calloc((size_t)nu, 1);
    if (!k || !out_ || !in_ || !keep) {
        free(k), free(out_), free(in_), free(keep);
        return -1;
    }
    int64_t ne = 0;
    memset(in, 0, (size_t)nu * nd);
    for (int u = 0; u < nu; u++)
        for (int v = 0; v < nd; v++)
            if (relp_graph_edge(m, u, v)) {
                const float x = s[(size_t)u * nd + v];
                k[ne++] = (struct ranked_edge){isnan(x) ? -1.0f : fabsf(x), (int64_t)u * nd + v};
            }
    qsort(k, (size_t)ne, sizeof *k, by_abs_edge);
    for (int64_t i = 0; i < n && i < ne; i++) in[k[i].idx] = 1;
    /* EAP-IG's prune, until nothing changes */
    for (int changed = 1; changed;) {
        memset(out_, 0, (size_t)nu);
        memset(in_, 0, (size_t)nu);
        for (int u = 0; u < nu; u++)
            for (int v = 0; v < nd; v++)
                if (in[(size_t)u * nd + v]) {
                    out_[u] = 1;
                    if (owner_of(d, v) >= 0) in_[owner_of(d, v)] = 1;
                }
        changed = 0;
        for (int u = 0; u < nu; u++) {
            const uint8_t kp = out_[u] && (u == 0 || in_[u]);
            changed |= kp != keep[u];
            keep[u] = kp;
        }
        for (int u = 0; u < nu; u++)
            for (int v = 0; v < nd; v++) {
                uint8_t *e = &in[(size_t)u * nd + v];
                if (*e && !(keep[u] && (owner_of(d, v) < 0 || keep[owner_of(d, v)]))) *e = 0, changed = 1;
            }
    }
    int32_t kept = 0;
    for (size_t e = 0; e < (size_t)nu * nd; e++) kept += in[e];
    if (node_in) memcpy(node_in, keep, (size_t)nu);
    free(k), free(out_), free(in_), free(keep);
    return kept;
}

/* ------------------------------------------------------------ shared pieces */

static size_t esize(enum relp_dtype dt) { return dt == RELP_DTYPE_F32 ? 4 : 2; }

/* element (k, j) of a packed (K, O) matrix (ops.h: panels of RELP_PANEL columns) */
static float packed_at(const void *P, enum relp_dtype dt, int K, int k, int j) {
    return relp__load_elem(P, dt, (size_t)(j / RELP_PANEL) * K * RELP_PANEL + (size_t)k * RELP_PANEL + j % RELP_PANEL);
}

/* columns [c0, c0 + n) of a packed (K, O) matrix as a packed (K, n) matrix of its own, when they fill whole panels */
static const void *panel_slice(const void *P, enum relp_dtype dt, int K, int c0, int n) {
    if (c0 % RELP_PANEL || n % RELP_PANEL) return NULL;
    return (const char *)P + (size_t)(c0 / RELP_PANEL) * K * RELP_PANEL * esize(dt);
}

/* out (N, HS) = x (N, C) @ W_qkv[:, c0 : c0 + HS] + b_qkv[c0 ...] */
static void qkv_block_fwd(struct relp_ctx *ctx, const struct relp_layer *w, float *out, const float *x, int N, int c0) {
    const struct relp_model *m = ctx->model;
    const int C = m->d.C, HS = m->d.HS;
    const void *P = panel_slice(w->w_qkv, m->weight_dtype, C, c0, HS);
    if (P) {
        matmul_xw_packed(ctx->pool, out, x, P, m->weight_dtype, w->b_qkv ? w->b_qkv + c0 : NULL, N, C, HS, C, 0);
        return;
    }
    for (int n = 0; n < N; n++) /* heads narrower than a panel (small test models) */
        for (int j = 0; j < HS; j++) {
            float s = w->b_qkv ? w->b_qkv[c0 + j] : 0.0f;
            for (int k = 0; k < C; k++) s += x[(size_t)n * C + k] * packed_at(w->w_qkv, m->weight_dtype, C, k, c0 + j);
            out[(size_t)n * HS + j] = s;
        }
}

/* out (N, C) = x (N, HS) @ W_qkv[:, c0 : c0 + HS]^T */
static void qkv_block_bwd(struct relp_ctx *ctx, const struct relp_layer *w, float *out, const float *x, int N, int c0) {
    const struct relp_model *m = ctx->model;
    const int C = m->d.C, HS = m->d.HS;
    if (w->wt_qkv) {
        matmul_xw_packed(ctx->pool, out, x, w->wt_qkv, m->weight_dtype, NULL, N, HS, C, m->d.QKV, c0);
        return;
    }
    const void *P = panel_slice(w->w_qkv, m->weight_dtype, C, c0, HS);
    if (P) {
        matmul_xwt_packed(ctx->pool, out, ctx->grads.mm_scratch, x, P, m->weight_dtype, N, HS, C);
        return;
    }
    for (int n = 0; n < N; n++)
        for (int k = 0; k < C; k++) {
            float s = 0.0f;
            for (int j = 0; j < HS; j++) s += x[(size_t)n * HS + j] * packed_at(w->w_qkv, m->weight_dtype, C, k, c0 + j);
            out[(size_t)n * C + k] = s;
        }
}

/* head h's output z_h W_O[h] (N, C) from z (N, Q) */
static void head_out(struct relp_ctx *ctx, int l, int h, const float *z, int N, float *zh, float *out) {
    const struct relp_dims *d = &ctx->model->d;
    for (int n = 0; n < N; n++) memcpy(zh + (size_t)n * d->HS, z + (size_t)n * d->Q + (size_t)h * d->HS, (size_t)d->HS * 4);
    matmul_xw_packed(ctx->pool, out, zh, ctx->model->layers[l].w_o, ctx->model->weight_dtype, NULL, N, d->HS, d->C,
                     d->Q, h * d->HS);
}

static void norm_fwd(const struct relp_model *m, float *out, float *mean, float *rstd, const float *x, const float *g,
                     const float *b, int N) {
    if (m->rms_norm) rmsnorm_forward(out, rstd, x, g, N, m->d.C, m->cfg.layer_norm_epsilon);
    else layernorm_forward(out, mean, rstd, x, g, b, N, m->d.C, m->cfg.layer_norm_epsilon);
}

/* the MLP of layer l on the normed input ln (N, C): out (N, C) = proj(act(fc(ln))) (fc: (N, FC), post: (N, I)) */
static void mlp_fwd(struct relp_ctx *ctx, int l, const float *ln, int N, float *fc, float *post, float *out) {
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const struct relp_layer *w = &m->layers[l];
    matmul_xw_packed(ctx->pool, fc, ln, w->w_fc, m->weight_dtype, w->b_fc, N, d->C, d->FC, d->C, 0);
    if (m->gated) glu_forward(post, fc, N, d->I, m->act);
    else act_forward(post, fc, N * d->I, m->act);
    matmul_xw_packed(ctx->pool, out, post, w->w_mp, m->weight_dtype, w->b_mp, N, d->I, d->C, d->I, 0);
}

/* the upstream nodes' outputs of the cached run, (n_up, B T C): the embeddings, each head's z_h W_O[h] (no bias),
 * each mlp_out */
static void up_outputs(struct relp_ctx *ctx, float *A, float *zh) {
    const struct relp_dims *d = &ctx->model->d;
    const int N = ctx->B * ctx->T;
    const size_t n = (size_t)N * d->C;
    memcpy(A, relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0), n * sizeof(float));
    for (int l = 0; l < d->L; l++) {
        const float *z = relp_ctx_node(ctx, RELP_NODE_ATTN_Z, l);
        for (int h = 0; h < d->NH; h++) head_out(ctx, l, h, z, N, zh, A + (size_t)up_head(d, l, h) * n);
        memcpy(A + (size_t)up_mlp(d, l) * n, relp_ctx_node(ctx, RELP_NODE_MLP_OUT, l), n * sizeof(float));
    }
}

/* The upstream nodes' differences, source minus base, kept compact: the embeddings' (B T, C), each layer's
 * mlp_out's (L, B T, C) and z's (L, B T, Q) - a head's output is linear in its z. */
struct up_diff {
    float *emb, *mlp, *z;
};

/* Runs the source then the base batch (left in the cache) into D; v: the two runs' metrics. */
static enum relp_status up_differences(struct relp_ctx *ctx, const int32_t *src, const int32_t *base, int32_t B,
                                       int32_t T, const struct relp_metric *mt, const struct up_diff *D, double v[2]) {
    const struct relp_dims *d = &ctx->model->d;
    const size_t N = (size_t)B * T, n = N * d->C, nz = N * d->Q;
    enum relp_status st;
    if ((st = relp_forward(ctx, src, B, T)) || (st = relp_metric_value(ctx, mt, &v[0]))) return st;
    memcpy(D->emb, relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0), n * sizeof(float));
    for (int l = 0; l < d->L; l++) {
        memcpy(D->z + (size_t)l * nz, relp_ctx_node(ctx, RELP_NODE_ATTN_Z, l), nz * sizeof(float));
        memcpy(D->mlp + (size_t)l * n, relp_ctx_node(ctx, RELP_NODE_MLP_OUT, l), n * sizeof(float));
    }
    if ((st = relp_forward(ctx, base, B, T)) || (st = relp_metric_value(ctx, mt, &v[1]))) return st;
    const float *e = relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0);
    for (size_t i = 0; i < n; i++) D->emb[i] -= e[i];
    for (int l = 0; l < d->L; l++) {
        const float *zb = relp_ctx_node(ctx, RELP_NODE_ATTN_Z, l), *mb = relp_ctx_node(ctx, RELP_NODE_MLP_OUT, l);
        float *dz = D->z + (size_t)l * nz, *dm = D->mlp + (size_t)l * n;
        for (size_t i = 0; i < nz; i++) dz[i] -= zb[i];
        for (size_t i = 0; i < n; i++) dm[i] -= mb[i];
    }
    return RELP_STATUS_OK;
}

/* U (n_u, rows, C): the differences of the upstream nodes u < n_u at rows [r0, r0 + rows) of the B T rows (N of
 * them); zh: (rows, HS) scratch */
static void fill_u(struct relp_ctx *ctx, const struct up_diff *D, size_t N, size_t r0, int rows, int n_u, float *U,
                   float *zh) {
    const struct relp_dims *d = &ctx->model->d;
    const size_t n = (size_t)rows * d->C;
    for (int u = 0; u < n_u; u++) {
        float *o = U + (size_t)u * n;
        int l, unit;
        up_of(d, u, &l, &unit);
        if (l < 0) memcpy(o, D->emb + r0 * d->C, n * sizeof(float));
        else if (unit == d->NH) memcpy(o, D->mlp + ((size_t)l * N + r0) * d->C, n * sizeof(float));
        else head_out(ctx, l, unit, D->z + ((size_t)l * N + r0) * d->Q, rows, zh, o);
    }
}

static enum relp_status check_pair(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                   const struct relp_metric *mt) {
    if (!clean || !corrupt || !mt) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "edges: NULL argument");
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------------ edge scores */

struct edge_bwd {
    int B, T;            /* the prompts of U (the run holds G copies of them) */
    int ln_const, attn_mode;
    const float *U;      /* (n_up, B T C) upstream differences; NULL: made chunk by chunk from D */
    struct relp_ctx *ctx; /* the caller's context (its model and threads make the chunks) */
    struct up_diff D;
    int chunk;           /* rows (of B T) a chunk holds when U is NULL */
    float *Uc, *Rc, *zh; /* a chunk's differences (n_up, chunk, C), coefficients (3 NH + 1, chunk, C); (chunk, HS) */
    double *S;           /* (n_up, n_down) */
    float *R;            /* (3 NH + 1, B T C) a layer's coefficients, summed over the copies */
    float *blk, *proj, *rho; /* (rows, HS), (rows, C), (rows, C); rows = the run's B T */
    float *qkv_u, *dqkv_u;   /* grouped-query attention: (rows, 3 Q) q | k | v per query head */
    float *qk_tmp;           /* (2 Q) */
    float *att_scratch;      /* (threads, T) */
    float *gemm;             /* (n_up, 3 NH) */
    float *pk;               /* a layer's q/k/v coefficients packed as the forward product's weights (rows C, 3 NH) */
};

static void sum_copies(float *dst, const float *src, int G, size_t n) {
    memcpy(dst, src, n * sizeof(float));
    for (int g = 1; g < G; g++)
        for (size_t i = 0; i < n; i++) dst[i] += src[(size_t)g * n + i];
}

/* out (N, O) = x (N, K) @ P (K, O packed, f32), the rows split over the threads: the q/k/v columns are 3 NH, a few
 * panels, and a split by panel (matmul_xw_packed's) would leave a thread idle or one with twice the others' work */
struct rows_job {
    float *out;
    const float *x;
    const float *P;
    int N, K, O;
};

static void rows_task(void *arg, int i, int n) {
    const struct rows_job *j = arg;
    const int r0 = (int)((long long)j->N * i / n), r1 = (int)((long long)j->N * (i + 1) / n);
    if (r0 < r1)
        matmul_xw_packed(NULL, j->out + (size_t)r0 * j->O, j->x + (size_t)r0 * j->K, j->P, RELP_DTYPE_F32, NULL,
                         r1 - r0, j->K, j->O, j->K, 0);
}

/* S[u][v0 + j] += U[u] . R[j] for u < n_u, j < n_v */
static void gemm_add(struct relp_ctx *run, struct edge_bwd *e, const float *R, int n_u, int v0, int n_v) {
    const struct relp_dims *d = &run->model->d;
    const size_t N = (size_t)e->B * e->T, K = N * d->C;
    const int nd = n_down_of(d);
    for (size_t r0 = 0; r0 < N; r0 += (size_t)(e->U ? N : (size_t)e->chunk)) {
        const int rows = (int)(e->U ? N : N - r0 < (size_t)e->chunk ? N - r0 : (size_t)e->chunk);
        const float *U = e->U, *Rr = R;
        size_t k = K;
        if (!e->U) { /* the chunk's rows of every upstream difference and of each coefficient */
            fill_u(e->ctx, &e->D, N, r0, rows, n_u, e->Uc, e->zh);
            k = (size_t)rows * d->C;
            for (int j = 0; j < n_v; j++) memcpy(e->Rc + (size_t)j * k, R + (size_t)j * K + r0 * d->C, k * sizeof(float));
            U = e->Uc, Rr = e->Rc;
        }
        if (n_v > 1) { /* the q/k/v columns: R^T packed in panels, for the forward product's kernel */
            relp__pack_transposed(e->pk, RELP_DTYPE_F32, Rr, RELP_DTYPE_F32, n_v, (int)k);
            struct rows_job j = {e->gemm, U, e->pk, n_u, (int)k, n_v};
            relp__pool_run(run->pool, rows_task, &j);
        } else { /* one column: n_u dot products */
            matmul_xwt(run->pool, e->gemm, U, Rr, RELP_DTYPE_F32, n_u, (int)k, n_v);
        }
        for (int u = 0; u < n_u; u++)
            for (int j = 0; j < n_v; j++) e->S[(size_t)u * nd + v0 + j] += e->gemm[(size_t)u * n_v + j];
    }
}

static void edge_hook(void *user, struct relp_ctx *run, int l, int part) {
    struct edge_bwd *e = user;
    const struct relp_model *m = run->model;
    const struct relp_dims *d = &m->d;
    const struct relp_layer *w = &m->layers[l];
    const int rows = run->B * run->T, G = run->B / e->B, C = d->C, HS = d->HS, NH = d->NH, Q = d->Q;
    const size_t n1 = (size_t)e->B * e->T * C, BT = (size_t)rows;
    const struct relp_acts *a = &run->acts;
    if (part == RELP__BWD_MLP) {
        const float *x = m->parallel ? a->resid + (size_t)l * BT * C : a->resid_mid + (size_t)l * BT * C;
        memset(e->rho, 0, BT * C * sizeof(float));
        relp__norm_backward(m, e->rho, run->grads.h, x, a->ln2_mean + (size_t)l * BT, a->ln2_rstd + (size_t)l * BT,
                            w->ln2_g, rows, C, e->ln_const);
        float *R = e->R + (size_t)3 * NH * n1;
        sum_copies(R, e->rho, G, n1);
        gemm_add(run, e, R, n_up_mlp(m, l), down_mlp(d, l), 1);
        return;
    }
    /* the coefficient of each query head's q, k and v: the backward's own (one k/v head per query head), or
     * with grouped-query attention the attention's backward again with every query head's k/v as its own */
    const float *gq = run->grads.qkv;
    int stride = d->QKV, koff = Q, voff = Q + d->KV;
    if (d->NKV < NH) {
        const int group = NH / d->NKV;
        const float *qkv = a->qkv + (size_t)l * BT * d->QKV;
        for (size_t r = 0; r < BT; r++) {
            const float *src = qkv + r * d->QKV;
            float *dst = e->qkv_u + r * 3 * Q;
            memcpy(dst, src, (size_t)Q * sizeof(float));
            for (int h = 0; h < NH; h++) {
                memcpy(dst + Q + (size_t)h * HS, src + Q + (size_t)(h / group) * HS, (size_t)HS * sizeof(float));
                memcpy(dst + 2 * Q + (size_t)h * HS, src + Q + d->KV + (size_t)(h / group) * HS, (size_t)HS * sizeof(float));
            }
        }
        attention_backward(run->pool, e->dqkv_u, e->att_scratch, run->grads.z + (size_t)l * BT * Q, e->qkv_u,
                           a->att + (size_t)l * run->B * NH * run->T * run->T, run->B, run->T, NH, NH, HS, e->attn_mode);
        if (d->ROT)
            rope_apply(e->dqkv_u, run->B, run->T, 0, 3 * Q, 2 * NH, HS, d->ROT, run->rope_cos, run->rope_sin, 1);
        if (m->qk_norm) {
            const size_t QK = (size_t)Q + d->KV, NQK = (size_t)NH + d->NKV;
            const float *pre = a->qk_pre + (size_t)l * BT * QK, *rs = a->qk_rstd + (size_t)l * BT * NQK;
            for (size_t r = 0; r < BT; r++) {
                float *row = e->dqkv_u + r * 3 * Q;
                memset(e->qk_tmp, 0, 2 * (size_t)Q * sizeof(float));
                rmsnorm_backward_acc(e->qk_tmp, row, pre + r * QK, rs + r * NQK, w->q_norm, NH, HS, e->ln_const);
                for (int h = 0; h < NH; h++) {
                    const int g = h / group;
                    rmsnorm_backward_acc(e->qk_tmp + Q + (size_t)h * HS, row + Q + (size_t)h * HS,
                                         pre + r * QK + Q + (size_t)g * HS, rs + r * NQK + NH + g, w->k_norm, 1, HS,
                                         e->ln_const);
                }
                memcpy(row, e->qk_tmp, 2 * (size_t)Q * sizeof(float));
            }
        }
        gq = e->dqkv_u, stride = 3 * Q, koff = Q, voff = 2 * Q;
    }
    const int group = NH / d->NKV;
    for (int kind = 0; kind < 3; kind++)
        for (int h = 0; h < NH; h++) {
            const int col = kind == 0 ? h * HS : (kind == 1 ? koff : voff) + h * HS;
            const int c0 = kind == 0 ? h * HS : kind == 1 ? Q + (h / group) * HS : Q + d->KV + (h / group) * HS;
            for (size_t r = 0; r < BT; r++) memcpy(e->blk + r * HS, gq + r * stride + col, (size_t)HS * sizeof(float));
            qkv_block_bwd(run, w, e->proj, e->blk, rows, c0);
            memset(e->rho, 0, BT * C * sizeof(float));
            relp__norm_backward(m, e->rho, e->proj, a->resid + (size_t)l * BT * C, a->ln1_mean + (size_t)l * BT,
                                a->ln1_rstd + (size_t)l * BT, w->ln1_g, rows, C, e->ln_const);
            sum_copies(e->R + (size_t)(kind * NH + h) * n1, e->rho, G, n1);
        }
    gemm_add(run, e, e->R, n_up_qkv(d, l), down_qkv(d, l, 0, 0), 3 * NH);
}

/* the logits' column: the final residual's coefficient */
static void logits_column(struct relp_ctx *run, struct edge_bwd *e) {
    const struct relp_dims *d = &run->model->d;
    const size_t n1 = (size_t)e->B * e->T * d->C, BTC = (size_t)run->B * run->T * d->C;
    sum_copies(e->R, run->grads.resid + (size_t)d->L * BTC, run->B / e->B, n1);
    gemm_add(run, e, e->R, n_up_of(d), n_down_of(d) - 1, 1);
}

enum relp_status relp_attribute_edges(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                      int32_t T, const struct relp_metric *mt, const struct relp_attr_params *p,
                                      float *scores, double *m_clean, double *m_corrupt) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = check_pair(ctx, clean, corrupt, mt);
    if (st) return st;
    if (!p || !scores) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "edges: NULL argument");
    if (p->method != RELP_METHOD_GRAD && p->method != RELP_METHOD_IG_INPUT)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "edges: the method must be GRAD (AtP or a RelP preset) or IG_INPUT; exact patching is "
                              "relp_patch_edges");
    if (p->method == RELP_METHOD_IG_INPUT && (p->ig_steps < 1 || p->ig_steps > 100000))
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "edges: IG steps %d out of range [1, 100000]", p->ig_steps);
    relp__warn_begin(ctx, clean, B, T, mt, p->noising);
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const int nu = n_up_of(d), nd = n_down_of(d), NH = d->NH, C = d->C, Q = d->Q;
    const size_t BT = (size_t)B * T, n1 = BT * C;
    const int N = p->ig_steps;
    int G = p->method == RELP_METHOD_IG_INPUT ? relp__ig_group(ctx, N) : 1;
    /* the compact differences, the upstream differences in full (or, past the context's scratch budget, a chunk of
     * rows at a time), the scores and the hook's scratch (sized for G copies) */
    const size_t rows = (size_t)G * BT, threads = (size_t)relp_ctx_threads(ctx);
    const size_t compact = n1 * (1 + (size_t)d->L) + BT * Q * (size_t)d->L;
    const size_t fixed = compact + (size_t)(3 * NH + 1) * n1 + rows * ((size_t)d->HS + 2 * C) +
                         (d->NKV < NH ? 6 * rows * Q : 0) + 2 * (size_t)Q + threads * T + (size_t)nu * 3 * NH + 2 * n1;
    const size_t budget = (size_t)(ctx->params.scratch_kb > 0 ? ctx->params.scratch_kb : 1 << 20) << 8; /* floats */
    size_t chunk = BT; /* rows of U at a time */
    const size_t pk_row = relp__packed_count(C, 3 * NH); /* the packed coefficients, per row */
    if (fixed + (size_t)nu * n1 + BT * pk_row > budget) {
        const size_t per_row = (size_t)(nu + 3 * NH + 1) * C + d->HS + pk_row;
        chunk = budget > fixed + per_row ? (budget - fixed) / per_row : 1;
        if (chunk > BT) chunk = BT;
        if (chunk < 1) chunk = 1;
    }
    const int chunked = chunk < BT;
    const size_t floats = fixed + (chunked ? chunk * ((size_t)(nu + 3 * NH + 1) * C + d->HS)
                                           : (size_t)nu * n1 + BT * d->HS) + (chunked ? chunk : BT) * pk_row;
    float *block = malloc(floats * sizeof(float));
    double *S = calloc((size_t)nu * nd, sizeof(double));
    if (!block || !S) {
        free(block);
        free(S);
        return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED,
                              "out of memory for the edge scores: %.1f MiB (the %d upstream nodes' differences over %d "
                              "prompts of %d tokens, and the coefficients of one layer)",
                              floats * 4.0 / 1048576.0, nu, B, T);
    }
    struct edge_bwd e;
    memset(&e, 0, sizeof e);
    float *p0 = block;
    e.D.emb = p0, p0 += n1;
    e.D.mlp = p0, p0 += (size_t)d->L * n1;
    e.D.z = p0, p0 += (size_t)d->L * BT * Q;
    float *U = NULL;
    if (chunked) {
        e.chunk = (int)chunk;
        e.Uc = p0, p0 += chunk * (size_t)nu * C;
        e.Rc = p0, p0 += chunk * (size_t)(3 * NH + 1) * C;
        e.zh = p0, p0 += chunk * (size_t)d->HS;
    } else {
        U = p0, p0 += (size_t)nu * n1;
        e.zh = p0, p0 += BT * (size_t)d->HS;
    }
    e.B = B, e.T = T, e.U = U, e.S = S, e.ctx = ctx;
    e.R = p0, p0 += (size_t)(3 * NH + 1) * n1;
    e.blk = p0, p0 += rows * d->HS;
    e.proj = p0, p0 += rows * C;
    e.rho = p0, p0 += rows * C;
    if (d->NKV < NH) {
        e.qkv_u = p0, p0 += 3 * rows * Q;
        e.dqkv_u = p0, p0 += 3 * rows * Q;
    }
    e.qk_tmp = p0, p0 += 2 * (size_t)Q;
    e.att_scratch = p0, p0 += threads * T;
    e.gemm = p0, p0 += (size_t)nu * 3 * NH;
    e.pk = p0, p0 += (chunked ? chunk : BT) * pk_row;
    float *emb = p0, *emb_delta = emb + n1;
    /* the upstream differences: the source run, then the base (left in the cache) */
    double v[2] = {0, 0};
    if (!st) st = relp__restrict_logits(ctx, mt, B);
    if (!st) st = up_differences(ctx, p->noising ? corrupt : clean, p->noising ? clean : corrupt, B, T, mt, &e.D, v);
    const double mc = p->noising ? v[1] : v[0], mr = p->noising ? v[0] : v[1];
    if (!st) {
        ctx->error[0] = '\0';
        if (U) fill_u(ctx, &e.D, BT, 0, (int)BT, nu, U, e.zh);
        memcpy(emb, relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0), n1 * sizeof(float)); /* IG-input's path starts there */
        memcpy(emb_delta, e.D.emb, n1 * sizeof(float));
    }
    const double norm = st ? 1.0 : relp__norm_of(ctx, mc, mr);
    if (!st && p->method == RELP_METHOD_GRAD) {
        e.ln_const = p->rules.ln == RELP_LN_SIGMA_CONST, e.attn_mode = p->rules.attn;
        struct relp_metric scaled = *mt;
        scaled.scale = (float)norm;
        ctx->bwd_hook = edge_hook, ctx->hook_user = &e;
        st = relp_backward(ctx, &scaled, &p->rules, NULL);
        ctx->bwd_hook = NULL, ctx->hook_user = NULL;
        if (!st) logits_column(ctx, &e);
    } else if (!st) { /* IG along the input path: the gradient's rules, the coefficients summed over the steps */
        struct relp__replica rep;
        st = relp__replicate(ctx, mt, G, 0, &rep);
        struct relp_ctx *run = rep.run;
        G = rep.G;
        struct relp_metric scaled = rep.mt;
        scaled.scale = (float)(norm * G);
        float *vals = malloc(sizeof(float) * n1 * (size_t)G);
        if (!st && !vals) st = relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory");
        run->bwd_hook = edge_hook, run->hook_user = &e;
        for (int k0 = 0; k0 < N && !st; k0 += G) {
            const int gn = N - k0 < G ? N - k0 : G;
            if ((st = relp__ig_pass(ctx, run, RELP_NODE_RESID_PRE, 0, emb, emb_delta, vals, n1, k0, gn, N, &scaled, 0)))
                break;
            logits_column(run, &e);
            if (p->progress) p->progress(p->progress_user, k0 + gn, N);
            if (relp__cancelled(ctx)) st = relp__ctx_fail(ctx, RELP_STATUS_CANCELLED, "integrated gradients cancelled");
        }
        run->bwd_hook = NULL, run->hook_user = NULL;
        for (size_t i = 0; i < (size_t)nu * nd; i++) S[i] /= N;
        if (!st && run == ctx) st = relp_forward_patched(ctx, NULL, 0);
        relp__replica_free(ctx, &rep);
        free(vals);
    }
    for (int vv = 0; vv < nd && !st; vv++) {
        const int reads = n_reads(m, vv);
        for (int u = 0; u < nu; u++) scores[(size_t)u * nd + vv] = u < reads ? (float)S[(size_t)u * nd + vv] + 0.0f : 0.0f;
    }
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    free(block);
    free(S);
    if (m_clean) *m_clean = mc;
    if (m_corrupt) *m_corrupt = mr;
    return st;
}

/* ------------------------------------------------------------ exact edge patching */

/* The value of v's consumer when only v's input copy reads x (B T, C) in place of the cached residual: head h's z
 * (B, T, HS) for a q/k/v input (its q, k or v recomputed, the other two from the cache), mlp_out (B, T, C) for an
 * MLP, the final residual itself for the logits. */
static void consumer(struct relp_ctx *ctx, int v, float *x, float *out, float *ln, float *mean, float *rstd, float *fc,
                     float *post, float *part, float *qkv1, float *att1, float *rs1) {
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const int B = ctx->B, T = ctx->T, N = B * T, HS = d->HS, C = d->C;
    int l, kind, h;
    down_of(d, v, &l, &kind, &h);
    if (kind == 4) {
        memcpy(out, x, (size_t)N * C * sizeof(float));
        return;
    }
    const struct relp_layer *w = &m->layers[l];
    if (kind == 3) {
        norm_fwd(m, ln, mean, rstd, x, w->ln2_g, w->ln2_b, N);
        mlp_fwd(ctx, l, ln, N, fc, post, out);
        return;
    }
    const int group = d->NH / d->NKV, g = h / group;
    const int c0 = kind == 0 ? h * HS : kind == 1 ? d->Q + g * HS : d->Q + d->KV + g * HS;
    norm_fwd(m, ln, mean, rstd, x, w->ln1_g, w->ln1_b, N);
    qkv_block_fwd(ctx, w, part, ln, N, c0);
    if (m->qk_norm && kind < 2)
        rmsnorm_forward(part, rs1, part, kind == 0 ? w->q_norm : w->k_norm, N, HS, m->cfg.layer_norm_epsilon);
    if (d->ROT && kind < 2) rope_apply(part, B, T, 0, HS, 1, HS, d->ROT, ctx->rope_cos, ctx->rope_sin, 0);
    /* this head's q | k | v (post-RoPE) from the cache, the recomputed one in its place */
    const float *qkv = ctx->acts.qkv + (size_t)l * N * d->QKV;
    const int src[3] = {h * HS, d->Q + g * HS, d->Q + d->KV + g * HS};
    for (int n = 0; n < N; n++)
        for (int k = 0; k < 3; k++)
            memcpy(qkv1 + ((size_t)n * 3 + k) * HS, k == kind ? part + (size_t)n * HS : qkv + (size_t)n * d->QKV + src[k],
                   (size_t)HS * sizeof(float));
    attention_forward(ctx->pool, out, att1, qkv1, B, T, 1, 1, HS, 0);
}

#define EDGE_CHUNK 32 /* edges whose patched values are made at once */

enum relp_status relp_patch_edges(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                  int32_t T, const struct relp_metric *mt, int32_t noising, const int32_t *edges,
                                  int32_t n, float *effects, void (*progress)(void *user, int64_t done, int64_t total),
                                  void *progress_user) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = check_pair(ctx, clean, corrupt, mt);
    if (st) return st;
    if (n < 0 || (n > 0 && (!edges || !effects))) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "edges: NULL argument");
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    for (int32_t i = 0; i < n; i++)
        if (!relp_graph_edge(m, edges[2 * i], edges[2 * i + 1]))
            return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "edges: pair %d (%d -> %d) is not an edge of this model",
                                  i, edges[2 * i], edges[2 * i + 1]);
    relp__warn_begin(ctx, clean, B, T, mt, noising);
    const int nu = n_up_of(d), C = d->C, HS = d->HS;
    const size_t N = (size_t)B * T, n1 = N * C;
    const size_t floats = n1 * (2 + (size_t)d->L) + (size_t)d->L * N * d->Q + (size_t)EDGE_CHUNK * n1 + 2 * n1 + 2 * N +
                          N * (d->FC + d->I + HS) + 3 * N * HS + (size_t)B * T * T + N + N * HS;
    float *block = malloc(floats * sizeof(float));
    struct relp_patch *patches = malloc(sizeof *patches * EDGE_CHUNK);
    if (!block || !patches) {
        free(block);
        free(patches);
        return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for exact edge patching: %.1f MiB",
                              floats * 4.0 / 1048576.0);
    }
    struct up_diff D;
    D.emb = block, D.mlp = D.emb + n1, D.z = D.mlp + (size_t)d->L * n1;
    float *du = D.z + (size_t)d->L * N * d->Q, *vals = du + n1, *x = vals + (size_t)EDGE_CHUNK * n1,
          *ln = x + n1, *mean = ln + n1, *rstd = mean + N, *fc = rstd + N, *post = fc + N * d->FC, *part = post + N * d->I,
          *qkv1 = part + N * HS, *att1 = qkv1 + 3 * N * HS, *rs1 = att1 + (size_t)B * T * T, *zh = rs1 + N;
    double v[2] = {0, 0};
    (void)nu;
    st = relp__restrict_logits(ctx, mt, B);
    if (!st) st = up_differences(ctx, noising ? corrupt : clean, noising ? clean : corrupt, B, T, mt, &D, v);
    const double mc = noising ? v[1] : v[0], mr = noising ? v[0] : v[1];
    if (!st) ctx->error[0] = '\0';
    const double norm = st ? 1.0 : relp__norm_of(ctx, mc, mr);
    for (int32_t i0 = 0; i0 < n && !st; i0 += EDGE_CHUNK) {
        const int k = n - i0 < EDGE_CHUNK ? n - i0 : EDGE_CHUNK;
        for (int j = 0; j < k; j++) {
            const int u = edges[2 * (i0 + j)], vv = edges[2 * (i0 + j) + 1];
            int l, kind, h;
            down_of(d, vv, &l, &kind, &h);
            /* v's input: the residual it reads in the base run, plus delta a_u */
            const float *res = kind == 4                        ? relp_ctx_node(ctx, RELP_NODE_RESID_PRE, d->L)
                               : kind == 3 && !m->parallel ? relp_ctx_node(ctx, RELP_NODE_RESID_MID, l)
                                                                : relp_ctx_node(ctx, RELP_NODE_RESID_PRE, l);
            /* delta a_u alone: the (u + 1)-th row block of fill_u's output, made for u only */
            int lu, unit;
            up_of(d, u, &lu, &unit);
            if (lu < 0) memcpy(du, D.emb, n1 * sizeof(float));
            else if (unit == d->NH) memcpy(du, D.mlp + (size_t)lu * n1, n1 * sizeof(float));
            else head_out(ctx, lu, unit, D.z + (size_t)lu * N * d->Q, (int)N, zh, du);
            for (size_t q = 0; q < n1; q++) x[q] = res[q] + du[q];
            float *out = vals + (size_t)j * n1;
            consumer(ctx, vv, x, out, ln, mean, rstd, fc, post, part, qkv1, att1, rs1);
            struct relp_patch pa = {kind == 4 ? RELP_NODE_RESID_PRE : kind == 3 ? RELP_NODE_MLP_OUT : RELP_NODE_ATTN_Z,
                                    kind == 4 ? d->L : l, -1, kind < 3 ? h : -1, out, 0, 0};
            patches[j] = pa;
        }
        st = relp__run_patches(ctx, mt, patches, k, noising ? mc : mr, norm, effects + i0, NULL, NULL, "edge patching");
        if (progress) progress(progress_user, i0 + k, n);
    }
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    free(block);
    free(patches);
    return st;
}

/* ------------------------------------------------------------ edge circuits */

struct relp_edge_eval {
    struct relp_ctx *ctx;
    const int32_t *clean, *corrupt;
    int32_t B, T;
    struct relp_metric mt;
    double m_clean, m_corrupt;
    float *block;
    float *A_corr; /* (n_up, B T C) the corrupted run's upstream outputs */
    float *D;      /* (n_up, B T C) this run's a_u - a_u^corrupted */
    float *emb;    /* (B T C) the clean embeddings */
    float *r, *r2, *sum, *x, *ln, *mean, *rstd, *qkv_u, *full, *blk, *z, *att, *zh, *fc, *post, *out, *lnf, *logits, *rs;
    uint8_t *done;
};

void relp_edge_eval_free(struct relp_edge_eval *ev) {
    if (!ev) return;
    free(ev->block);
    free(ev->done);
    free(ev);
}

void relp_edge_eval_ends(const struct relp_edge_eval *ev, double *m_clean, double *m_corrupt) {
    if (m_clean) *m_clean = ev ? ev->m_clean : NAN;
    if (m_corrupt) *m_corrupt = ev ? ev->m_corrupt : NAN;
}

enum relp_status relp_edge_eval_init(struct relp_edge_eval **out, struct relp_ctx *ctx, const int32_t *clean,
                                     const int32_t *corrupt, int32_t B, int32_t T, const struct relp_metric *mt) {
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    *out = NULL;
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = check_pair(ctx, clean, corrupt, mt);
    if (st) return st;
    relp__warn_begin(ctx, clean, B, T, mt, 0);
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const int nu = n_up_of(d), C = d->C, Q = d->Q;
    const size_t N = (size_t)B * T, n1 = N * C;
    const size_t floats = 2 * (size_t)nu * n1 + 6 * n1 + 2 * N + N * (3 * (size_t)Q + d->QKV + d->HS + Q) +
                          (size_t)B * d->NH * T * T + N * (d->FC + d->I) + n1 + C + (size_t)d->V + N * 2 * d->NH;
    struct relp_edge_eval *ev = calloc(1, sizeof *ev);
    if (ev) ev->block = malloc(floats * sizeof(float));
    if (ev) ev->done = malloc((size_t)3 * d->NH + 1);
    if (!ev || !ev->block || !ev->done) {
        relp_edge_eval_free(ev);
        return relp__ctx_fail(ctx, RELP_STATUS_ALLOC_FAILED, "out of memory for edge circuits: %.1f MiB",
                              floats * 4.0 / 1048576.0);
    }
    ev->ctx = ctx, ev->clean = clean, ev->corrupt = corrupt, ev->B = B, ev->T = T, ev->mt = *mt;
    float *p = ev->block;
    ev->A_corr = p, p += (size_t)nu * n1;
    ev->D = p, p += (size_t)nu * n1;
    ev->emb = p, p += n1;
    ev->r = p, p += n1;
    ev->r2 = p, p += n1;
    ev->sum = p, p += n1;
    ev->x = p, p += n1;
    ev->ln = p, p += n1;
    ev->mean = p, p += N;
    ev->rstd = p, p += N;
    ev->qkv_u = p, p += N * 3 * Q;
    ev->full = p, p += N * d->QKV;
    ev->blk = p, p += N * d->HS;
    ev->z = p, p += N * Q;
    ev->att = p, p += (size_t)B * d->NH * T * T;
    ev->fc = p, p += N * d->FC;
    ev->post = p, p += N * d->I;
    ev->out = p, p += n1;
    ev->lnf = p, p += C;
    ev->logits = p, p += d->V;
    ev->rs = p;
    double v = 0;
    st = relp__restrict_logits(ctx, mt, B);
    if (!st && !(st = relp_forward(ctx, corrupt, B, T)) && !(st = relp_metric_value(ctx, mt, &v))) {
        ev->m_corrupt = v;
        up_outputs(ctx, ev->A_corr, ev->blk);
    }
    if (!st && !(st = relp_forward(ctx, clean, B, T)) && !(st = relp_metric_value(ctx, mt, &v))) {
        ev->m_clean = v;
        memcpy(ev->emb, relp_ctx_node(ctx, RELP_NODE_RESID_PRE, 0), n1 * sizeof(float));
    }
    relp_ctx_set_logit_tokens(ctx, NULL, 0);
    if (st) {
        relp_edge_eval_free(ev);
        return st;
    }
    *out = ev;
    return RELP_STATUS_OK;
}

/* x = r minus the differences of the upstream nodes u < n_u whose edge to v is not in the graph (or, when fewer
 * are in it, (r - sum of all) plus those in it) */
static void input_of(const struct relp_edge_eval *ev, const uint8_t *in_graph, int nd, int v, int n_u, const float *r,
                     float *x) {
    const size_t n1 = (size_t)ev->B * ev->T * ev->ctx->model->d.C;
    int excluded = 0;
    for (int u = 0; u < n_u; u++) excluded += !in_graph[(size_t)u * nd + v];
    const int sub = excluded * 2 <= n_u;
    if (sub) memcpy(x, r, n1 * sizeof(float));
    else
        for (size_t i = 0; i < n1; i++) x[i] = r[i] - ev->sum[i];
    for (int u = 0; u < n_u; u++) {
        if ((in_graph[(size_t)u * nd + v] != 0) == sub) continue; /* sub: the excluded ones; else the included */
        const float *Du = ev->D + (size_t)u * n1;
        if (sub)
            for (size_t i = 0; i < n1; i++) x[i] -= Du[i];
        else
            for (size_t i = 0; i < n1; i++) x[i] += Du[i];
    }
}

static int same_column(const uint8_t *in_graph, int nd, int n_u, int v, int w) {
    for (int u = 0; u < n_u; u++)
        if ((in_graph[(size_t)u * nd + v] != 0) != (in_graph[(size_t)u * nd + w] != 0)) return 0;
    return 1;
}

enum relp_status relp_edge_eval_run(struct relp_edge_eval *ev, const uint8_t *in_graph, double *m_circuit) {
    if (!ev || !in_graph || !m_circuit) return RELP_STATUS_BAD_ARGUMENT;
    struct relp_ctx *ctx = ev->ctx;
    const struct relp_model *m = ctx->model;
    const struct relp_dims *d = &m->d;
    const int B = ev->B, T = ev->T, N = B * T, C = d->C, NH = d->NH, HS = d->HS, Q = d->Q, nd = n_down_of(d);
    const size_t n1 = (size_t)N * C;
    const int group = NH / d->NKV;
    const float eps = m->cfg.layer_norm_epsilon;
    /* the embeddings and their difference */
    memcpy(ev->r, ev->emb, n1 * sizeof(float));
    for (size_t i = 0; i < n1; i++) ev->D[i] = ev->emb[i] - ev->A_corr[i];
    memcpy(ev->sum, ev->D, n1 * sizeof(float));
    for (int l = 0; l < d->L; l++) {
        const struct relp_layer *w = &m->layers[l];
        const int nq = n_up_qkv(d, l);
        /* every head's q, k and v, from its own input; nodes whose inputs agree share one norm and product */
        memset(ev->done, 0, (size_t)3 * NH);
        for (int i = 0; i < 3 * NH; i++) {
            if (ev->done[i]) continue;
            const int vi = down_qkv(d, l, 0, 0) + i;
            int members = 0;
            for (int j = i; j < 3 * NH; j++) members += !ev->done[j] && same_column(in_graph, nd, nq, vi, vi + j - i);
            input_of(ev, in_graph, nd, vi, nq, ev->r, ev->x);
            norm_fwd(m, ev->ln, ev->mean, ev->rstd, ev->x, w->ln1_g, w->ln1_b, N);
            if (members == 3 * NH) /* all of them: the layer's whole q | k | v product */
                matmul_xw_packed(ctx->pool, ev->full, ev->ln, w->w_qkv, m->weight_dtype, w->b_qkv, N, C, d->QKV, C, 0);
            for (int j = i; j < 3 * NH; j++) {
                if (ev->done[j] || !same_column(in_graph, nd, nq, vi, vi + j - i)) continue;
                ev->done[j] = 1;
                const int kind = j / NH, h = j % NH, g = h / group;
                const int c0 = kind == 0 ? h * HS : kind == 1 ? Q + g * HS : Q + d->KV + g * HS;
                if (members != 3 * NH) qkv_block_fwd(ctx, w, ev->blk, ev->ln, N, c0);
                for (int n = 0; n < N; n++)
                    memcpy(ev->qkv_u + (size_t)n * 3 * Q + (size_t)kind * Q + (size_t)h * HS,
                           members == 3 * NH ? ev->full + (size_t)n * d->QKV + c0 : ev->blk + (size_t)n * HS,
                           (size_t)HS * sizeof(float));
            }
        }
        if (m->qk_norm)
            for (int n = 0; n < N; n++) {
                float *row = ev->qkv_u + (size_t)n * 3 * Q;
                rmsnorm_forward(row, ev->rs, row, w->q_norm, NH, HS, eps);
                rmsnorm_forward(row + Q, ev->rs + NH, row + Q, w->k_norm, NH, HS, eps);
            }
        if (d->ROT) rope_apply(ev->qkv_u, B, T, 0, 3 * Q, 2 * NH, HS, d->ROT, ctx->rope_cos, ctx->rope_sin, 0);
        attention_forward(ctx->pool, ev->z, ev->att, ev->qkv_u, B, T, NH, NH, HS, 0);
        /* each head's output and its difference; r2: the attention's output with its bias */
        for (size_t i = 0; i < n1; i++) ev->r2[i] = w->b_o ? w->b_o[i % C] : 0.0f;
        for (int h = 0; h < NH; h++) {
            const int u = up_head(d, l, h);
            float *Du = ev->D + (size_t)u * n1;
            head_out(ctx, l, h, ev->z, N, ev->blk, ev->out);
            for (size_t i = 0; i < n1; i++) {
                ev->r2[i] += ev->out[i];
                Du[i] = ev->out[i] - ev->A_corr[(size_t)u * n1 + i];
            }
        }
        /* the MLP: sequential, it reads resid_mid (the heads of this layer included); parallel, resid_pre */
        if (!m->parallel) {
            for (size_t i = 0; i < n1; i++) ev->r[i] += ev->r2[i];
            for (int h = 0; h < NH; h++) {
                const float *Du = ev->D + (size_t)up_head(d, l, h) * n1;
                for (size_t i = 0; i < n1; i++) ev->sum[i] += Du[i];
            }
        }
        input_of(ev, in_graph, nd, down_mlp(d, l), n_up_mlp(m, l), ev->r, ev->x);
        norm_fwd(m, ev->ln, ev->mean, ev->rstd, ev->x, w->ln2_g, w->ln2_b, N);
        mlp_fwd(ctx, l, ev->ln, N, ev->fc, ev->post, ev->out);
        const int um = up_mlp(d, l);
        float *Dm = ev->D + (size_t)um * n1;
        for (size_t i = 0; i < n1; i++) Dm[i] = ev->out[i] - ev->A_corr[(size_t)um * n1 + i];
        if (m->parallel) { /* (mlp_out + attn_out) + resid_pre, as model.c sums them */
            for (size_t i = 0; i < n1; i++) ev->r[i] = (ev->out[i] + ev->r2[i]) + ev->r[i];
            for (int h = 0; h < NH; h++) {
                const float *Du = ev->D + (size_t)up_head(d, l, h) * n1;
                for (size_t i = 0; i < n1; i++) ev->sum[i] += Du[i];
            }
        } else {
            for (size_t i = 0; i < n1; i++) ev->r[i] += ev->out[i];
        }
        for (size_t i = 0; i < n1; i++) ev->sum[i] += Dm[i];
    }
    /* the logits read the final residual; the metric at the last position */
    input_of(ev, in_graph, nd, nd - 1, n_up_of(d), ev->r, ev->x);
    double total = 0;
    const size_t es = m->weight_dtype == RELP_DTYPE_F32 ? 4 : 2;
    for (int b = 0; b < B; b++) {
        const float *row = ev->x + ((size_t)b * T + T - 1) * C;
        float mean, rstd;
        if (m->rms_norm) rmsnorm_forward(ev->lnf, &rstd, row, m->lnf_g, 1, C, eps);
        else layernorm_forward(ev->lnf, &mean, &rstd, row, m->lnf_g, m->lnf_b, 1, C, eps);
        const int32_t a = ev->mt.answer[b];
        float la, lw = 0.0f;
        matmul_xwt(NULL, &la, ev->lnf, (const char *)m->wu + (size_t)a * C * es, m->weight_dtype, 1, C, 1);
        if (ev->mt.kind == RELP_METRIC_LOGIT_DIFF) {
            matmul_xwt(NULL, &lw, ev->lnf, (const char *)m->wu + (size_t)ev->mt.wrong[b] * C * es, m->weight_dtype, 1,
                       C, 1);
            total += (double)la - lw;
        } else if (ev->mt.kind == RELP_METRIC_LOGIT) {
            total += la;
        } else {
            matmul_xwt(ctx->pool, ev->logits, ev->lnf, m->wu, m->weight_dtype, 1, C, d->V);
            float mx = -INFINITY;
            for (int i = 0; i < d->V; i++) mx = ev->logits[i] > mx ? ev->logits[i] : mx;
            double s = 0;
            for (int i = 0; i < d->V; i++) s += exp((double)ev->logits[i] - mx);
            total += ev->logits[a] - (mx + log(s));
        }
    }
    *m_circuit = total / B;
    return RELP_STATUS_OK;
}
