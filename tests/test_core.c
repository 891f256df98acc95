/* test_core.c - C unit tests of the core, each checked against something
 * independent of the code under test:
 *   - SIMD kernels against the scalar naive references (f32 and f16 weights,
 *     sizes that leave tails), threads against one thread (bit-identical);
 *   - the backward pass against central finite differences of the metric,
 *     measured by patching nodes (so patching is exercised too);
 *   - patched re-runs against fresh full forward passes (token substitution
 *     at a position, patch sequences in any order, undoing patches);
 *   - loading from memory against loading from a directory;
 *   - tokenizer round trips on invalid UTF-8.
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#include "relp.h"
#include "internal.h"
#include "ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (cond) passed++;                                \
        else {                                             \
            failed++;                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
            printf(__VA_ARGS__);                           \
            printf("\n");                                  \
        }                                                  \
    } while (0)

static uint32_t rng = 1;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) / 16777216.0f) * 2.0f - 1.0f;
}

static double max_abs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;
    }
    return m;
}

/* ---------------------------------------------------------------- kernels */

/* activations (their exp is exp_fast, a polynomial) against double-precision
 * libm: values and exact slopes over [-30, 30] and past exp's range, each
 * within 1e-6 of max(1, |reference|) (slopes 5e-6: GELU's slope formula
 * itself loses 2e-6 in f32, with libm's expf too); NaN in gives NaN out */
static double act_ref(double x, int kind, int slope) {
    if (kind == ACT_GELU_TANH) {
        const double c = 0.7978845608028654, u = c * (x + 0.044715 * x * x * x), th = tanh(u);
        return slope ? 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * c * (1 + 3 * 0.044715 * x * x) : 0.5 * x * (1 + th);
    }
    if (kind == ACT_GELU) {
        const double cdf = 0.5 * (1 + erf(x / sqrt(2.0)));
        return slope ? cdf + x * exp(-0.5 * x * x) / sqrt(2 * 3.14159265358979324) : x * cdf;
    }
    const double sg = 1 / (1 + exp(-x));
    return slope ? sg * (1 + x * (1 - sg)) : x * sg;
}

static void test_activations(void) {
    enum { N = 2407 };
    static float x[N], y[N], ones[N], d[N];
    for (int i = 0; i < N - 7; i++) x[i] = -30.0f + 60.0f * (float)i / (N - 8);
    const float far[7] = {-200.0f, -90.0f, -87.5f, 88.5f, 90.0f, 200.0f, 1e-30f};
    memcpy(x + N - 7, far, sizeof far);
    for (int i = 0; i < N; i++) ones[i] = 1.0f;
    for (int kind = ACT_GELU_TANH; kind <= ACT_SILU; kind++) {
        act_forward(y, x, N, kind);
        act_backward(d, ones, x, N, kind, 0);
        double ev = 0, es = 0;
        for (int i = 0; i < N; i++) {
            double rv = act_ref(x[i], kind, 0), rs = act_ref(x[i], kind, 1);
            double a = fabs(y[i] - rv) / (fabs(rv) > 1 ? fabs(rv) : 1), b = fabs(d[i] - rs) / (fabs(rs) > 1 ? fabs(rs) : 1);
            if (!(a <= ev)) ev = a;
            if (!(b <= es)) es = b;
        }
        CHECK(ev <= 1e-6, "activation %d: value off by %g (relative to max(1, |ref|))", kind, ev);
        CHECK(es <= 5e-6, "activation %d: slope off by %g (relative to max(1, |ref|))", kind, es);
        float nan_in = NAN, nan_out;
        act_forward(&nan_out, &nan_in, 1, kind);
        CHECK(isnan(nan_out), "activation %d: NaN in gives %g", kind, nan_out);
    }
}

static void test_kernels(void) {
    static const int shapes[][3] = {{1, 8, 16}, {5, 13, 37}, {7, 64, 120}, {16, 40, 160}, {3, 100, 997}, {13, 33, 18},
                                     {9, 300, 48} /* K over several 128-row chunks of the f16 conversion */};
    struct relp_pool *pool = relp__pool_init(3);
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int N = shapes[s][0], K = shapes[s][1], O = shapes[s][2];
        float *x = malloc(sizeof(float) * N * (K > O ? K : O)), *W = malloc(sizeof(float) * K * O);
        uint16_t *W16 = malloc(2 * (size_t)K * O), *WB = malloc(2 * (size_t)K * O);
        float *bias = malloc(sizeof(float) * O), *ref = malloc(sizeof(float) * N * (K > O ? K : O));
        float *got = malloc(sizeof(float) * N * (K > O ? K : O)), *got_mt = malloc(sizeof(float) * N * (K > O ? K : O));
        for (int i = 0; i < N * (K > O ? K : O); i++) x[i] = frand();
        for (int i = 0; i < K * O; i++) {
            W[i] = frand();
            W16[i] = relp__f32_to_f16(W[i]);
            WB[i] = relp__f32_to_bf16(W[i]);
        }
        for (int i = 0; i < O; i++) bias[i] = frand();
        for (int dt = 0; dt < 3; dt++) {
            static const char *const dname[3] = {"f32", "f16", "bf16"};
            const void *w = dt == 0 ? (const void *)W : dt == 1 ? (const void *)W16 : (const void *)WB;
            enum relp_dtype wdt = dt == 0 ? RELP_DTYPE_F32 : dt == 1 ? RELP_DTYPE_F16 : RELP_DTYPE_BF16;
            for (int scalar = 0; scalar < 2; scalar++) {
                const char *kname = relp__ops_select(scalar);
                matmul_xw_naive(ref, x, w, wdt, bias, N, K, O);
                matmul_xw(NULL, got, x, w, wdt, bias, N, K, O);
                double e = max_diff(ref, got, (size_t)N * O);
                CHECK(e <= 1e-5 * max_abs(ref, (size_t)N * O) + 1e-6, "xw %dx%dx%d %s %s: max diff %g", N, K, O,
                      dname[dt], kname, e);
                matmul_xw(pool, got_mt, x, w, wdt, bias, N, K, O);
                CHECK(memcmp(got, got_mt, sizeof(float) * N * O) == 0, "xw %dx%dx%d threads differ from one thread",
                      N, K, O);
                /* xwt: W seen as (O rows of K) -> use W as (K, O) read as (O', K') = (K, O) */
                matmul_xwt_naive(ref, x, w, wdt, N, O, K);
                matmul_xwt(NULL, got, x, w, wdt, N, O, K);
                e = max_diff(ref, got, (size_t)N * K);
                CHECK(e <= 1e-5 * max_abs(ref, (size_t)N * K) + 1e-6, "xwt %dx%dx%d %s %s: max diff %g", N, O, K,
                      dname[dt], kname, e);
                matmul_xwt(pool, got_mt, x, w, wdt, N, O, K);
                CHECK(memcmp(got, got_mt, sizeof(float) * N * K) == 0, "xwt threads differ from one thread");
                /* packed: forward with a row offset, backward (x @ W^T) */
                void *P = malloc(relp__packed_count(K, O) * 4);
                relp__pack(P, wdt, w, wdt, K, O);
                int k0 = K / 3, kn = K - K / 3;
                matmul_xw_naive(ref, x, (const char *)w + (size_t)k0 * O * (dt ? 2 : 4), wdt, bias, N, kn, O);
                matmul_xw_packed(NULL, got, x, P, wdt, bias, N, kn, O, K, k0);
                e = max_diff(ref, got, (size_t)N * O);
                CHECK(e <= 1e-5 * max_abs(ref, (size_t)N * O) + 1e-6, "xw packed %dx%dx%d k0=%d %s %s: max diff %g", N,
                      kn, O, k0, dname[dt], kname, e);
                matmul_xw_packed(pool, got_mt, x, P, wdt, bias, N, kn, O, K, k0);
                CHECK(memcmp(got, got_mt, sizeof(float) * N * O) == 0, "xw packed: threads differ from one thread");
                matmul_xwt_naive(ref, x, w, wdt, N, O, K); /* out (N, K) = x (N, O) @ W^T */
                float *scratch = malloc(sizeof(float) * 3 * RELP_PANEL * RELP_XWT_CHUNK);
                matmul_xwt_packed(NULL, got, scratch, x, P, wdt, N, O, K);
                e = max_diff(ref, got, (size_t)N * K);
                CHECK(e <= 1e-5 * max_abs(ref, (size_t)N * K) + 1e-6, "xwt packed %dx%dx%d %s %s: max diff %g", N, O, K,
                      dname[dt], kname, e);
                matmul_xwt_packed(pool, got_mt, scratch, x, P, wdt, N, O, K);
                CHECK(memcmp(got, got_mt, sizeof(float) * N * K) == 0, "xwt packed: threads differ from one thread");
                free(P);
                free(scratch);
            }
        }
        free(x); free(W); free(W16); free(WB); free(bias); free(ref); free(got); free(got_mt);
    }
    relp__ops_select(0);
    relp__pool_free(pool);
    /* f16 conversion: every half round-trips; f32 -> f16 rounds to nearest even */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = relp__f16_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        if (relp__f32_to_f16(f) != h) bad++;
    }
    CHECK(bad == 0, "%d halves do not round-trip", bad);
    CHECK(relp__f32_to_f16(1.0f + 1.0f / 2048) == 0x3C00, "tie rounds to even");
    CHECK(relp__f32_to_f16(1.0f + 3.0f / 2048) == 0x3C02, "tie rounds to even (up)");
    CHECK(relp__f32_to_f16(1e6f) == 0x7C00, "overflow to inf");
    /* bf16: the same, by its own bits (bf16 is the high half of an f32) */
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = relp__bf16_to_f32((uint16_t)h);
        if (isnan(f) ? !isnan(relp__bf16_to_f32(relp__f32_to_bf16(f))) : relp__f32_to_bf16(f) != h) bad++;
    }
    CHECK(bad == 0, "%d bfloat16s do not round-trip", bad);
    CHECK(relp__f32_to_bf16(1.0f + 1.0f / 256) == 0x3F80, "bf16 tie rounds to even");
    CHECK(relp__f32_to_bf16(1.0f + 3.0f / 256) == 0x3F82, "bf16 tie rounds to even (up)");
    CHECK(relp__f32_to_bf16(1.0f + 1.5f / 256) == 0x3F81, "bf16 above the tie rounds up");
    CHECK(relp__f32_to_bf16(3.4e38f) == 0x7F80, "bf16 overflow to inf");
}

/* attention against a float64 transcription of its equations (ops.h),
 * forward and backward under each mode, SIMD and scalar, head sizes that
 * are and are not multiples of the vector width, patched re-runs (t0 > 0) */
/* float64 transcription of causal attention with grouped-query heads:
 * qkv (T, W), W = (NH + 2 NKV) HS, q head h at h*HS, k head g at (NH + g) HS,
 * v head g at (NH + NKV + g) HS, g = h / (NH / NKV); z (T, NH*HS). */
static void naive_attention(double *z, double *att, double *dqkv, const float *qkv, const float *dz, int T, int NH,
                            int NKV, int HS, int mode) {
    const int Q = NH * HS, W = (NH + 2 * NKV) * HS, group = NH / NKV;
    const double scale = 1.0 / sqrt((double)HS), vs = mode == RELP_ATTN_ATTNLRP ? 0.5 : 1.0,
                 qs = mode == RELP_ATTN_ATTNLRP ? 0.25 * scale : scale;
    memset(dqkv, 0, sizeof(double) * T * W);
    for (int h = 0; h < NH; h++)
        for (int i = 0; i < T; i++) {
            const int ko = Q + (h / group) * HS, vo = Q + NKV * HS + (h / group) * HS;
            const float *q = qkv + (size_t)i * W + h * HS;
            double *a = att + ((size_t)h * T + i) * T, mx = -INFINITY, sum = 0, dot = 0, dA[64];
            for (int t = 0; t < T; t++) {
                double s = 0;
                for (int d = 0; d < HS; d++) s += (double)q[d] * qkv[(size_t)t * W + ko + d];
                a[t] = t <= i ? s * scale : -INFINITY;
                mx = a[t] > mx ? a[t] : mx;
            }
            for (int t = 0; t < T; t++) sum += (a[t] = t <= i ? exp(a[t] - mx) : 0.0);
            for (int t = 0; t < T; t++) a[t] /= sum;
            for (int d = 0; d < HS; d++) {
                double acc = 0;
                for (int t = 0; t <= i; t++) acc += a[t] * qkv[(size_t)t * W + vo + d];
                z[(size_t)i * Q + h * HS + d] = acc;
            }
            const float *g = dz + (size_t)i * Q + h * HS;
            for (int t = 0; t <= i; t++) {
                dA[t] = 0;
                for (int d = 0; d < HS; d++) {
                    dqkv[(size_t)t * W + vo + d] += vs * a[t] * g[d];
                    dA[t] += (double)g[d] * qkv[(size_t)t * W + vo + d];
                }
                dot += a[t] * dA[t];
            }
            if (mode == RELP_ATTN_FROZEN) continue;
            for (int t = 0; t <= i; t++) {
                double ds = a[t] * (dA[t] - dot) * qs;
                for (int d = 0; d < HS; d++) {
                    dqkv[(size_t)i * W + h * HS + d] += ds * qkv[(size_t)t * W + ko + d];
                    dqkv[(size_t)t * W + ko + d] += ds * q[d];
                }
            }
        }
}

static double max_diff_d(const float *a, const double *b, size_t n, double *scale) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (!(d <= m)) m = d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    *scale = s;
    return m;
}

static void test_attention(void) {
    /* T, NH, NKV, HS: multi-head, and grouped-query (several query heads per k/v head) */
    static const int shapes[][4] = {{1, 1, 1, 8}, {9, 3, 3, 8}, {37, 3, 3, 12}, {21, 2, 2, 64}, {13, 6, 2, 8},
                                    {17, 4, 1, 16}};
    struct relp_pool *pool = relp__pool_init(2);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const int T = shapes[si][0], NH = shapes[si][1], NKV = shapes[si][2], HS = shapes[si][3];
        const int C = NH * HS, W = (NH + 2 * NKV) * HS;
        float *qkv = malloc(sizeof(float) * T * W), *dz = malloc(sizeof(float) * T * C);
        float *z = malloc(sizeof(float) * T * C), *att = malloc(sizeof(float) * NH * T * T);
        float *dqkv = malloc(sizeof(float) * T * W), *scratch = malloc(sizeof(float) * 2 * T);
        double *rz = malloc(sizeof(double) * T * C), *ratt = malloc(sizeof(double) * NH * T * T);
        double *rdqkv = malloc(sizeof(double) * T * W);
        for (int i = 0; i < T * W; i++) qkv[i] = 2.0f * frand();
        for (int i = 0; i < T * C; i++) dz[i] = frand();
        for (int mode = 0; mode < 3; mode++) {
            naive_attention(rz, ratt, rdqkv, qkv, dz, T, NH, NKV, HS, mode);
            for (int scalar = 0; scalar < 2; scalar++) {
                const char *kname = relp__ops_select(scalar);
                for (int t0 = 0; t0 <= T / 2; t0 += T / 2 > 0 ? T / 2 : 1) {
                    /* a patched re-run recomputes rows t0.. only: rows before keep what is there */
                    if (t0 == 0) attention_forward(NULL, z, att, qkv, 1, T, NH, NKV, HS, 0);
                    else {
                        for (int i = t0 * C; i < T * C; i++) z[i] = -7.0f;
                        attention_forward(pool, z, att, qkv, 1, T, NH, NKV, HS, t0);
                    }
                    double sc, e = max_diff_d(z, rz, (size_t)T * C, &sc);
                    CHECK(e <= 1e-5 * sc, "attention forward T=%d NH=%d NKV=%d HS=%d t0=%d %s: max diff %g of %g", T,
                          NH, NKV, HS, t0, kname, e, sc);
                    e = max_diff_d(att, ratt, (size_t)NH * T * T, &sc);
                    CHECK(e <= 1e-5 * sc, "attention pattern T=%d NH=%d NKV=%d t0=%d %s: max diff %g", T, NH, NKV, t0,
                          kname, e);
                }
                attention_backward(pool, dqkv, scratch, dz, qkv, att, 1, T, NH, NKV, HS, mode);
                double sc, e = max_diff_d(dqkv, rdqkv, (size_t)T * W, &sc);
                CHECK(e <= 1e-5 * sc, "attention backward T=%d NH=%d NKV=%d HS=%d mode %d %s: max diff %g of %g", T, NH,
                      NKV, HS, mode, kname, e, sc);
            }
        }
        free(qkv); free(dz); free(z); free(att); free(dqkv); free(scratch); free(rz); free(ratt); free(rdqkv);
    }
    relp__ops_select(0);
    relp__pool_free(pool);
}

/* ------------------------------------------------------------ model tests */

static struct relp_model *tiny_model(int L, int C, int NH, int V, uint64_t seed) {
    struct relp_config cfg = {.n_layer = L, .n_head = NH, .n_embd = C, .n_positions = 24, .vocab_size = V,
                              .layer_norm_epsilon = 1e-5f};
    struct relp_model *m = NULL;
    if (relp_model_init_random(&m, &cfg, seed, NULL)) {
        printf("random model: %s\n", relp_last_error(m));
        exit(1);
    }
    /* make it less trivial than N(0, 0.02): scale up the matrices (and their transposed copies alike) */
    const size_t C3 = 3 * (size_t)C;
    for (int l = 0; l < L; l++) {
        struct relp_layer *y = &m->layers[l];
        float *ws[8] = {(float *)y->w_qkv, (float *)y->w_o, (float *)y->w_fc, (float *)y->w_mp,
                        (float *)y->wt_qkv, (float *)y->wt_o, (float *)y->wt_fc, (float *)y->wt_mp};
        size_t ns[4] = {relp__packed_count(C, 3 * C), relp__packed_count(C, C), relp__packed_count(C, 4 * C),
                        relp__packed_count(4 * C, C)};
        size_t nt[4] = {relp__packed_count(3 * C, C), relp__packed_count(C, C), relp__packed_count(4 * C, C),
                        relp__packed_count(C, 4 * C)};
        for (int k = 0; k < 8; k++)
            for (size_t i = 0; ws[k] && i < (k < 4 ? ns[k] : nt[k - 4]); i++) ws[k][i] *= 12.0f;
        float *bs[4] = {(float *)y->b_qkv, (float *)y->b_o, (float *)y->b_fc, (float *)y->b_mp};
        size_t nb[4] = {C3, (size_t)C, 4 * (size_t)C, (size_t)C};
        for (int k = 0; k < 4; k++)
            for (size_t i = 0; i < nb[k]; i++) bs[k][i] = 0.1f * frand();
    }
    float *wte = (float *)m->wte;
    for (size_t i = 0; i < (size_t)V * C; i++) wte[i] *= 25.0f;
    return m;
}

/* a context for B prompts of up to T tokens (exits on failure: a test fixture) */
static struct relp_ctx *tiny_ctx(const struct relp_model *m, int B, int T) {
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = B;
    cp.max_tokens = T;
    struct relp_ctx *ctx = NULL;
    if (relp_ctx_init(&ctx, m, &cp)) {
        printf("context: %s\n", relp_ctx_last_error(ctx));
        exit(1);
    }
    return ctx;
}

static double metric_of(struct relp_ctx *ctx, const struct relp_metric *mt) {
    double v = 0;
    relp_metric_value(ctx, mt, &v);
    return v;
}

/* d metric / d node[l][b, t, i] by central differences through patching */
static double fd_grad(struct relp_ctx *ctx, const struct relp_metric *mt, enum relp_node node, int l, int b, int t,
                      int i, double h) {
    const int B = relp_ctx_batch(ctx), T = relp_ctx_tokens(ctx), C = ctx->model->cfg.n_embd;
    relp_forward_patched(ctx, NULL, 0);
    const float *cur = relp_ctx_node(ctx, node, l);
    float *vals = malloc(sizeof(float) * B * C);
    for (int bb = 0; bb < B; bb++) memcpy(vals + bb * C, cur + ((size_t)bb * T + t) * C, sizeof(float) * C);
    float orig = vals[b * C + i];
    struct relp_patch p = {node, l, t, -1, vals, 0, 0};
    vals[b * C + i] = orig + (float)h;
    relp_forward_patched(ctx, &p, 1);
    double up = metric_of(ctx, mt);
    vals[b * C + i] = orig - (float)h;
    relp_forward_patched(ctx, &p, 1);
    double down = metric_of(ctx, mt);
    relp_forward_patched(ctx, NULL, 0);
    free(vals);
    return (up - down) / (2 * h);
}

static void test_finite_differences(void) {
    struct relp_model *m = tiny_model(2, 16, 2, 40, 7);
    struct relp_ctx *ctx = tiny_ctx(m, 2, 6);
    int32_t ids[12] = {1, 5, 9, 3, 7, 2, 4, 4, 8, 30, 11, 0};
    int32_t ans[2] = {3, 17}, wrong[2] = {8, 2};
    const int kinds[2] = {RELP_METRIC_LOGIT_DIFF, RELP_METRIC_LOGPROB};
    for (int k = 0; k < 2; k++) {
        struct relp_metric mt = {(enum relp_metric_kind)kinds[k], ans, wrong, 1.0f};
        relp_forward(ctx, ids, 2, 6);
        relp_backward(ctx, &mt, relp_rules_preset("grad"), NULL);
        /* copy the gradients: fd_grad re-runs the context */
        static const enum relp_node nodes[] = {RELP_NODE_RESID_PRE, RELP_NODE_ATTN_Z, RELP_NODE_ATTN_OUT,
                                               RELP_NODE_RESID_MID, RELP_NODE_MLP_OUT};
        float *grads[5][3];
        for (int n = 0; n < 5; n++)
            for (int l = 0; l < 3; l++) {
                const float *g = relp_ctx_node_grad(ctx, nodes[n], l);
                grads[n][l] = NULL;
                if (!g) continue;
                grads[n][l] = malloc(sizeof(float) * 2 * 6 * 16);
                memcpy(grads[n][l], g, sizeof(float) * 2 * 6 * 16);
            }
        double worst = 0, scale = 0;
        int checked = 0;
        for (int n = 0; n < 5; n++)
            for (int l = 0; l < 3; l++) {
                if (!grads[n][l]) continue;
                scale = fmax(scale, max_abs(grads[n][l], 2 * 6 * 16));
                for (int s = 0; s < 6; s++) {
                    int b = s % 2, t = (s * 5 + l) % 6, i = (s * 7 + n * 3) % 16;
                    double fd = fd_grad(ctx, &mt, nodes[n], l, b, t, i, 1e-2);
                    double an = grads[n][l][((size_t)b * 6 + t) * 16 + i];
                    worst = fmax(worst, fabs(fd - an));
                    checked++;
                }
            }
        CHECK(worst <= 2e-3 * scale, "finite differences (%s): worst |fd - backward| %g vs max|grad| %g over %d checks",
              k ? "logprob" : "logit diff", worst, scale, checked);
        printf("finite differences (%s): %d checks, worst |fd - grad| = %.2e (max |grad| %.2e)\n",
               k ? "logprob" : "logit diff", checked, worst, scale);
        for (int n = 0; n < 5; n++)
            for (int l = 0; l < 3; l++) free(grads[n][l]);
    }
    relp_ctx_free(ctx);
    relp_model_free(m);
}

static void copy_logits(struct relp_ctx *ctx, float *out, int B, int V) {
    memcpy(out, relp_ctx_logits(ctx, NULL), sizeof(float) * B * V);
}

static void test_patching(void) {
    const int L = 3, C = 24, NH = 3, V = 50, B = 2, T = 8;
    struct relp_model *m = tiny_model(L, C, NH, V, 11);
    struct relp_ctx *ctx = tiny_ctx(m, B, T), *fresh = tiny_ctx(m, B, T);
    int32_t ids[16], ids2[16];
    for (int i = 0; i < B * T; i++) ids[i] = ids2[i] = (i * 7 + 3) % V;
    float *base = malloc(sizeof(float) * B * V), *want = malloc(sizeof(float) * B * V);
    relp_forward(ctx, ids, B, T);
    copy_logits(ctx, base, B, V);

    /* patching a node with its own value changes nothing (bit for bit) */
    static const enum relp_node nodes[] = {RELP_NODE_RESID_PRE, RELP_NODE_ATTN_Z, RELP_NODE_ATTN_OUT,
                                           RELP_NODE_RESID_MID, RELP_NODE_MLP_OUT};
    float *vals = malloc(sizeof(float) * B * T * C);
    int same = 1;
    for (int n = 0; n < 5; n++)
        for (int l = 0; l < L; l++)
            for (int t = 0; t < T; t += 3) {
                const float *cur = relp_ctx_node(ctx, nodes[n], l);
                for (int b = 0; b < B; b++) memcpy(vals + b * C, cur + ((size_t)b * T + t) * C, sizeof(float) * C);
                struct relp_patch p = {nodes[n], l, t, -1, vals, 0, 0};
                relp_forward_patched(ctx, &p, 1);
                same &= memcmp(relp_ctx_logits(ctx, NULL), base, sizeof(float) * B * V) == 0;
            }
    CHECK(same, "self-patching changed the logits");

    /* substituting a token by patching resid_pre[0] at one position equals a
     * fresh forward pass on the substituted prompt (the re-run starts at that
     * position and reuses the cached rows before it) */
    for (int t = 0; t < T; t++) {
        memcpy(ids2, ids, sizeof ids);
        ids2[t] = ids2[T + t] = (ids[t] + 13) % V;
        relp_forward(fresh, ids2, B, T);
        copy_logits(fresh, want, B, V);
        const float *emb = relp_ctx_node(fresh, RELP_NODE_RESID_PRE, 0);
        for (int b = 0; b < B; b++) memcpy(vals + b * C, emb + ((size_t)b * T + t) * C, sizeof(float) * C);
        struct relp_patch p = {RELP_NODE_RESID_PRE, 0, t, -1, vals, 0, 0};
        relp_forward_patched(ctx, &p, 1);
        double e = max_diff(relp_ctx_logits(ctx, NULL), want, (size_t)B * V);
        CHECK(e == 0.0, "token substitution at position %d via patching: max diff %g from a fresh pass", t, e);
    }
    /* any order of patches gives what a fresh context gives for that patch */
    struct relp_ctx *ref = tiny_ctx(m, B, T);
    for (int i = 0; i < B * T * C; i++) vals[i] = frand();
    int order[][3] = {{2, 1, 5}, {0, 2, 1}, {1, 0, 6}, {4, 2, 0}, {3, 1, 7}, {1, 2, -1}, {0, 0, 3}};
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        struct relp_patch p = {nodes[order[k][0]], order[k][1], order[k][2], -1, vals, 0, 0};
        relp_forward(ref, ids, B, T);
        relp_forward_patched(ref, &p, 1);
        relp_forward_patched(ctx, &p, 1);
        CHECK(memcmp(relp_ctx_logits(ctx, NULL), relp_ctx_logits(ref, NULL), sizeof(float) * B * V) == 0,
              "patch sequence step %zu differs from a fresh context", k);
    }
    /* a head-only patch of z changes only that head's slice */
    {
        const int HS = C / NH;
        struct relp_patch p = {RELP_NODE_ATTN_Z, 1, 4, 2, vals, 0, 0};
        relp_forward_patched(ctx, &p, 1);
        const float *z = relp_ctx_node(ctx, RELP_NODE_ATTN_Z, 1);
        CHECK(memcmp(z + ((size_t)1 * T + 4) * C + 2 * HS, vals + HS, sizeof(float) * HS) == 0, "head patch value");
        /* head result sum + bias == attn_out */
        float *res = malloc(sizeof(float) * B * T * C), *sum = calloc((size_t)B * T * C, sizeof(float));
        for (int h = 0; h < NH; h++) {
            relp_ctx_head_result(ctx, 1, h, res);
            for (int i = 0; i < B * T * C; i++) sum[i] += res[i];
        }
        const float *ao = relp_ctx_node(ctx, RELP_NODE_ATTN_OUT, 1);
        for (int i = 0; i < B * T * C; i++) sum[i] += m->layers[1].b_o[i % C];
        double e = max_diff(sum, ao, (size_t)B * T * C);
        CHECK(e <= 1e-5 * max_abs(ao, (size_t)B * T * C), "sum of head results + b_O vs attn_out: %g", e);
        free(res);
        free(sum);
    }
    /* undo: no patches restores the unpatched run exactly */
    relp_forward_patched(ctx, NULL, 0);
    CHECK(memcmp(relp_ctx_logits(ctx, NULL), base, sizeof(float) * B * V) == 0, "undoing patches");
    /* bad patches are refused with a message */
    struct relp_patch badp = {RELP_NODE_MLP_OUT, L, 0, -1, vals, 0, 0};
    CHECK(relp_forward_patched(ctx, &badp, 1) == RELP_STATUS_BAD_ARGUMENT && strstr(relp_ctx_last_error(ctx), "layer"),
          "patch at layer L of mlp_out accepted");
    /* every preset leaves the forward pass untouched and the presets differ */
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, (int32_t[]){1, 2}, (int32_t[]){3, 4}, 1.0f};
    const char *names[] = {"grad", "relp", "relp-cp", "attnlrp"};
    float *g0 = malloc(sizeof(float) * B * T * C);
    for (int k = 0; k < 4; k++) {
        relp_backward(ctx, &mt, relp_rules_preset(names[k]), NULL);
        CHECK(memcmp(relp_ctx_logits(ctx, NULL), base, sizeof(float) * B * V) == 0, "%s changed logits", names[k]);
        const float *g = relp_ctx_node_grad(ctx, RELP_NODE_RESID_PRE, 0);
        if (k == 0) memcpy(g0, g, sizeof(float) * B * T * C);
        else CHECK(max_diff(g, g0, (size_t)B * T * C) > 0, "%s gives the plain gradient", names[k]);
    }
    CHECK(relp_rules_preset("nope") == NULL, "unknown preset");
    free(g0);
    relp_ctx_free(ref);
    free(vals);
    free(base);
    free(want);
    relp_ctx_free(ctx);
    relp_ctx_free(fresh);
    relp_model_free(m);
}

static void test_errors(void) {
    struct relp_model *m = tiny_model(1, 8, 2, 20, 3);
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_tokens = 4;
    struct relp_ctx *ctx = NULL;
    relp_ctx_init(&ctx, m, &cp);
    int32_t ids[5] = {1, 2, 3, 4, 5};
    CHECK(relp_forward(ctx, ids, 1, 5) == RELP_STATUS_BAD_ARGUMENT && strstr(relp_ctx_last_error(ctx), "5 tokens"),
          "too long: %s", relp_ctx_last_error(ctx));
    CHECK(relp_forward(ctx, ids, 1, 0) == RELP_STATUS_BAD_ARGUMENT && strstr(relp_ctx_last_error(ctx), "empty"),
          "empty: %s", relp_ctx_last_error(ctx));
    ids[1] = 20;
    CHECK(relp_forward(ctx, ids, 1, 3) == RELP_STATUS_BAD_ARGUMENT && strstr(relp_ctx_last_error(ctx), "token id 20"),
          "bad id: %s", relp_ctx_last_error(ctx));
    CHECK(relp_forward_patched(ctx, NULL, 0) == RELP_STATUS_BAD_ARGUMENT, "patched before forward");
    relp_ctx_free(ctx);
    cp.max_tokens = 1000;
    CHECK(relp_ctx_init(&ctx, m, &cp) == RELP_STATUS_BAD_ARGUMENT && strstr(relp_ctx_last_error(ctx), "n_positions"),
          "ctx larger than n_positions");
    relp_ctx_free(ctx);
    relp_model_free(m);
    struct relp_model *none = NULL;
    CHECK(relp_model_init_from_dir(&none, "/nonexistent/dir", NULL) != RELP_STATUS_OK &&
              strstr(relp_last_error(none), "/nonexistent/dir"),
          "missing dir: %s", relp_last_error(none));
    relp_model_free(none);
}

/* ----------------------------------------------------------- tokenizer */

static void test_tokenizer_bytes(const char *vocab_path, const char *merges_path) {
    struct relp_mapped_file fv, fm;
    char err[RELP_ERROR_LEN];
    if (relp__map_file(&fv, vocab_path, 1, err, sizeof err) || relp__map_file(&fm, merges_path, 1, err, sizeof err)) {
        printf("skipping tokenizer byte tests: %s\n", err);
        return;
    }
    struct relp_file v = {vocab_path, fv.data, fv.size}, mg = {merges_path, fm.data, fm.size};
    struct relp_tokenizer *tok = NULL;
    CHECK(relp__tokenizer_init(&tok, &v, &mg, err) == RELP_STATUS_OK, "tokenizer init: %s", err);
    if (!tok) return;
    static const char *inputs[] = {"\xff\xfe" "A", "\xc3", "\xe2\x82", "ok\x80ok", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                   "\xc0\xaf", "caf\xc3\xa9 \xe2\x82\xac\xff", "", " ", "\n\n\n"};
    for (size_t k = 0; k < sizeof inputs / sizeof inputs[0]; k++) {
        const char *s = inputs[k];
        int32_t ids[64];
        int64_t n = 0;
        CHECK(relp__tokenize(tok, s, -1, 0, ids, 64, &n, err) == RELP_STATUS_OK, "tokenize: %s", err);
        char back[256];
        size_t o = 0;
        for (int64_t i = 0; i < n; i++) {
            int32_t bl;
            const char *b = relp__token_bytes(tok, ids[i], &bl);
            memcpy(back + o, b, (size_t)bl);
            o += (size_t)bl;
        }
        CHECK(o == strlen(s) && memcmp(back, s, o) == 0, "invalid UTF-8 input %zu does not round-trip", k);
    }
    int32_t ids[4];
    int64_t n = 0;
    CHECK(relp__tokenize(tok, "", 0, 1, ids, 4, &n, err) == RELP_STATUS_OK && n == 1 && ids[0] == RELP_TOKEN_EOT,
          "BOS only");
    CHECK(relp__tokenize(tok, "a b c d e f", -1, 1, ids, 4, &n, err) == RELP_STATUS_BAD_ARGUMENT && n == 7,
          "overflow count %lld", (long long)n);
    relp__tokenizer_free(tok);
    relp__unmap_file(&fv);
    relp__unmap_file(&fm);
}

/* ---------------------------------------------------------- method invariants */

static void test_method_invariants(void) {
    const int L = 2, C = 24, NH = 3, V = 60, B = 2, T = 6;
    struct relp_model *m = tiny_model(L, C, NH, V, 17);
    struct relp_ctx *ctx = tiny_ctx(m, B, T);
    int32_t clean[12], corrupt[12], ans[2] = {5, 9}, wrong[2] = {7, 1};
    for (int i = 0; i < B * T; i++) clean[i] = corrupt[i] = (i * 11 + 2) % V;
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, ans, wrong, 1.0f};
    float scores[256];
    static const enum relp_node nodes[] = {RELP_NODE_RESID_PRE, RELP_NODE_ATTN_OUT, RELP_NODE_MLP_OUT, RELP_NODE_ATTN_Z};
    static const char *presets[] = {"grad", "relp", "relp-cp", "attnlrp"};
    /* clean == corrupted: every method gives exact zeros (AP patches each node with its own value) */
    int nonzero = 0, runs = 0;
    for (int n = 0; n < 4; n++)
        for (int method = 0; method <= RELP_METHOD_IG_INPUT; method++)
            for (int k = 0; k < (method == RELP_METHOD_GRAD ? 4 : 1); k++) {
                struct relp_attr_params p = relp_attr_default_params();
                p.method = (enum relp_method)method;
                p.node = nodes[n];
                p.ig_steps = 3;
                p.rules = *relp_rules_preset(presets[k]);
                if (relp_attribute(ctx, clean, corrupt, B, T, &mt, &p, scores, NULL, NULL)) {
                    nonzero++;
                    continue;
                }
                runs++;
                for (int64_t i = 0; i < relp_attr_count(m, &p, T); i++) nonzero += scores[i] != 0.0f;
            }
    CHECK(nonzero == 0 && runs == 28, "clean == corrupted: %d non-zero scores over %d runs", nonzero, runs);
    {   /* the warning rides its own channel (relp.h WARNINGS), not the error text */
        uint32_t flag = 0;
        const char *w = relp_ctx_warning(ctx, 0, &flag);
        CHECK(relp_ctx_warnings(ctx) == RELP_WARNING_GAP_ZERO && flag == RELP_WARNING_GAP_ZERO && w &&
                  strstr(w, "metric units") != NULL && relp_ctx_warning(ctx, 1, NULL) == NULL,
              "equal metrics: the GAP_ZERO warning alone (flags %u, '%s')", relp_ctx_warnings(ctx), w ? w : "(none)");
        CHECK(relp_ctx_last_error(ctx)[0] == '\0', "the error text holds a warning: '%s'", relp_ctx_last_error(ctx));
    }
    {   /* the rules of relp_run_warnings, from facts given here: the gap's three cases and none, noising, the
         * prediction; each sentence in flag order */
        static const struct { double mc, mr; uint32_t want; const char *text; } gaps[] = {
            {2.0, 3.0, RELP_WARNING_GAP_NEGATIVE, "(gap -1.000)"}, {1.0, 1.0, RELP_WARNING_GAP_ZERO, "metric units"},
            {1.25, 1.0, RELP_WARNING_GAP_SMALL, "is 0.250, below 0.5"}, {3.0, 1.0, 0, NULL}};
        for (int i = 0; i < 4; i++) {
            struct relp_run_facts f = {RELP_METRIC_LOGIT_DIFF, gaps[i].mc, gaps[i].mr, 0, 0, NULL, NULL, NULL, NULL};
            const uint32_t got = relp_run_warnings(ctx, &f);
            const char *w = relp_ctx_warning(ctx, 0, NULL);
            CHECK(got == gaps[i].want && (gaps[i].text ? w && strstr(w, gaps[i].text) : !w),
                  "gap %g - %g: flags %u (want %u), '%s'", gaps[i].mc, gaps[i].mr, got, gaps[i].want, w ? w : "(none)");
        }
        struct relp_prediction pr = {5, 0.125, 3, 7, 0.5};
        struct relp_run_facts f = {RELP_METRIC_LOGPROB, -3.0, -2.5, 1, 0, NULL, NULL, NULL, &pr};
        const uint32_t got = relp_run_warnings(ctx, &f);
        uint32_t f0 = 0, f2 = 0;
        const char *w0 = relp_ctx_warning(ctx, 0, &f0), *w1 = relp_ctx_warning(ctx, 1, NULL), *w2 = relp_ctx_warning(ctx, 2, &f2);
        CHECK(got == (RELP_WARNING_NOT_PREDICTED | RELP_WARNING_GAP_NEGATIVE | RELP_WARNING_NOISING) &&
                  f0 == RELP_WARNING_NOT_PREDICTED && f2 == RELP_WARNING_NOISING && w0 && strstr(w0, "rank 3") &&
                  strstr(w0, "p = 0.125") && strstr(w0, "(p = 0.500)") && w1 && strstr(w1, "the log-probability is not larger") &&
                  w2 && strstr(w2, "noising") && !relp_ctx_warning(ctx, 3, NULL),
              "prediction, log-probability gap, noising: flags %u: '%s' / '%s' / '%s'", got, w0 ? w0 : "", w1 ? w1 : "",
              w2 ? w2 : "");
        struct relp_run_facts none = {RELP_METRIC_LOGIT, NAN, NAN, 0, 0, NULL, NULL, NULL, NULL};
        CHECK(relp_run_warnings(ctx, &none) == 0 && relp_ctx_warnings(ctx) == 0, "no facts to warn about: no warnings");
        /* the names table: one entry per flag, in flag order */
        uint32_t all = 0, prev = 0;
        int ordered = 1;
        for (int32_t i = 0; relp_warning_name(i); i++) {
            ordered &= relp_warning_name(i)->flag > prev;
            prev = relp_warning_name(i)->flag;
            all |= prev;
        }
        CHECK(ordered && all == 0x7fu, "relp_warning_name: every flag once, in order (%x)", all);
    }

    /* relp_attribute_nodes (one backward pass for all node types) == relp_attribute per node type, bit for
     * bit: the same passes in the same order */
    {
        int32_t cl[12];
        memcpy(cl, clean, sizeof cl);
        cl[4] = (cl[4] + 3) % V;
        cl[T + 1] = (cl[T + 1] + 9) % V;
        for (int k = 0; k < 4; k++) {
            struct relp_attr_params p = relp_attr_default_params();
            p.rules = *relp_rules_preset(presets[k]);
            p.per_position = 1;
            float multi[4][64], single[64], *outs[4] = {multi[0], multi[1], multi[2], multi[3]};
            double mc = 0, mr = 0, mc1 = 0, mr1 = 0;
            CHECK(relp_attribute_nodes(ctx, cl, corrupt, B, T, &mt, &p, nodes, 4, outs, &mc, &mr) == RELP_STATUS_OK,
                  "attribute_nodes: %s", relp_ctx_last_error(ctx));
            for (int n = 0; n < 4; n++) {
                p.node = nodes[n];
                relp_attribute(ctx, cl, corrupt, B, T, &mt, &p, single, &mc1, &mr1);
                CHECK(memcmp(single, multi[n], sizeof(float) * (size_t)relp_attr_count(m, &p, T)) == 0 && mc == mc1 &&
                          mr == mr1,
                      "attribute_nodes (%s) differs from attribute for node %d", presets[k], n);
            }
        }
        { /* the same for IG along the input path: one sweep for all node types */
            struct relp_attr_params p = relp_attr_default_params();
            p.method = RELP_METHOD_IG_INPUT;
            p.ig_steps = 3;
            float multi[3][64], single[64], *outs[3] = {multi[0], multi[1], multi[2]};
            static const enum relp_node three[] = {RELP_NODE_MLP_OUT, RELP_NODE_ATTN_Z, RELP_NODE_ATTN_OUT};
            CHECK(relp_attribute_nodes(ctx, cl, corrupt, B, T, &mt, &p, three, 3, outs, NULL, NULL) == RELP_STATUS_OK,
                  "attribute_nodes IG_INPUT: %s", relp_ctx_last_error(ctx));
            for (int n = 0; n < 3; n++) {
                p.node = three[n];
                relp_attribute(ctx, cl, corrupt, B, T, &mt, &p, single, NULL, NULL);
                CHECK(memcmp(single, multi[n], sizeof(float) * (size_t)relp_attr_count(m, &p, T)) == 0,
                      "attribute_nodes (IG_INPUT) differs from attribute for node %d", n);
            }
        }
        struct relp_attr_params p = relp_attr_default_params();
        p.method = RELP_METHOD_AP;
        float a[64], b[64], *outs[2] = {a, b};
        CHECK(relp_attribute_nodes(ctx, clean, corrupt, B, T, &mt, &p, nodes, 2, outs, NULL, NULL) ==
                      RELP_STATUS_BAD_ARGUMENT &&
                  strstr(relp_ctx_last_error(ctx), "GRAD"),
              "attribute_nodes: AP over two node types is refused");
    }

    /* IG completeness: over the whole resid_pre[l], the scores sum to m~(clean) - m~(corrupt) = 1 in the
     * limit; the left Riemann sum's error shrinks as 1/steps */
    clean[3] = (clean[3] + 5) % V;
    clean[T + 2] = (clean[T + 2] + 7) % V;
    struct relp_attr_params p = relp_attr_default_params();
    p.method = RELP_METHOD_IG;
    double err[2];
    for (int k = 0; k < 2; k++) {
        p.ig_steps = k ? 800 : 200;
        relp_attribute(ctx, clean, corrupt, B, T, &mt, &p, scores, NULL, NULL);
        err[k] = 0;
        for (int l = 0; l < L; l++) {
            double sum = 0;
            for (int t = 0; t < T; t++) sum += scores[l * T + t];
            err[k] = fmax(err[k], fabs(sum - 1.0));
        }
    }
    CHECK(err[1] < 2e-2 && err[1] < err[0] / 3, "IG completeness: |sum - 1| = %g (200 steps), %g (800 steps)", err[0],
          err[1]);
    printf("IG completeness: worst |sum of scores - 1| = %.2e (200 steps), %.2e (800 steps)\n", err[0], err[1]);
    /* IG along the input path interpolates what IG interpolates at resid_pre[0]: the same scores there */
    {
        float ig0[64];
        memcpy(ig0, scores, sizeof(float) * (size_t)T);
        p.method = RELP_METHOD_IG_INPUT;
        relp_attribute(ctx, clean, corrupt, B, T, &mt, &p, scores, NULL, NULL);
        CHECK(memcmp(ig0, scores, sizeof(float) * (size_t)T) == 0, "IG_INPUT at resid_pre[0] differs from IG");
        p.method = RELP_METHOD_IG;
    }

    /* conservation: no biases, no beta, relp-cp: sum of relevance at resid_pre[l] = metric, every l */
    for (int l = 0; l < L; l++) {
        struct relp_layer *y = &m->layers[l];
        float *zero[6] = {(float *)y->ln1_b, (float *)y->b_qkv, (float *)y->b_o, (float *)y->ln2_b, (float *)y->b_fc,
                          (float *)y->b_mp};
        int len[6] = {C, 3 * C, C, C, 4 * C, C};
        for (int k = 0; k < 6; k++) memset(zero[k], 0, sizeof(float) * len[k]);
    }
    memset((float *)m->lnf_b, 0, sizeof(float) * C);
    relp_forward(ctx, clean, B, T);
    double value;
    const char *cons[] = {"relp-cp", "grad"};
    for (int k = 0; k < 2; k++) {
        relp_backward(ctx, &mt, relp_rules_preset(cons[k]), &value);
        double worst_c = 0;
        for (int l = 0; l <= L; l++) {
            const float *x = relp_ctx_node(ctx, RELP_NODE_RESID_PRE, l), *g = relp_ctx_node_grad(ctx, RELP_NODE_RESID_PRE, l);
            double sum = 0;
            for (int i = 0; i < B * T * C; i++) sum += (double)x[i] * g[i];
            worst_c = fmax(worst_c, fabs(sum - value));
        }
        if (k == 0) {
            CHECK(worst_c <= 1e-4 * fmax(1.0, fabs(value)), "conservation (relp-cp, no biases): worst |sum R - m| = %g (m = %g)",
                  worst_c, value);
            printf("conservation (relp-cp, no biases): worst |sum R - m| = %.2e, m = %.4f\n", worst_c, value);
        } else {
            CHECK(worst_c > 1e-3, "the exact gradient should not conserve (worst %g)", worst_c);
        }
    }
    relp_ctx_free(ctx);
    relp_model_free(m);
}

/* relp_config_n_params and relp_config_weight_bytes (from the config
 * alone) against a model built from it, on a tiny config of every
 * architecture: the same parameter count, and the model's owned bytes are the
 * predicted ones plus at most each tensor's 64-byte alignment. */
static void test_config_sizes(void) {
    struct relp_config cs[] = {
        {.n_layer = 2, .n_head = 4, .n_embd = 32, .n_positions = 16, .vocab_size = 300, .arch = RELP_ARCH_GPT2},
        {.n_layer = 2, .n_head = 4, .n_kv_head = 2, .n_embd = 32, .n_inner = 40, .n_positions = 16, .vocab_size = 300,
         .arch = RELP_ARCH_LLAMA, .untied_embeddings = 1, .attention_bias = 1, .mlp_bias = 1},
        {.n_layer = 2, .n_head = 4, .n_kv_head = 1, .n_embd = 32, .n_inner = 40, .n_positions = 16, .vocab_size = 300,
         .arch = RELP_ARCH_QWEN2},
        {.n_layer = 1, .n_head = 4, .n_kv_head = 2, .head_dim = 16, .n_embd = 32, .n_inner = 40, .n_positions = 16,
         .vocab_size = 300, .arch = RELP_ARCH_QWEN3},
        {.n_layer = 2, .n_head = 4, .n_embd = 32, .n_inner = 64, .n_positions = 16, .vocab_size = 300,
         .arch = RELP_ARCH_GPT_NEOX, .rotary_dim = 4, .untied_embeddings = 1, .attention_bias = 1},
    };
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++)
        for (int dt = 0; dt < 3; dt++)
            for (int tr = 0; tr < 2; tr++) {
                struct relp_load_params lp = relp_load_default_params();
                lp.weight_dtype = (enum relp_dtype)dt;
                lp.transposed_copy = tr;
                struct relp_model *m = NULL;
                CHECK(relp_model_init_random(&m, &cs[i], 7, &lp) == RELP_STATUS_OK, "random %s: %s",
                      relp_arch_name(cs[i].arch), relp_last_error(m));
                int64_t want = relp_config_weight_bytes(&cs[i], (enum relp_dtype)dt, tr), got = (int64_t)relp_model_weight_bytes(m);
                CHECK(relp_config_n_params(&cs[i]) == relp_model_n_params(m), "%s: n_params %lld vs the model's %lld",
                      relp_arch_name(cs[i].arch), (long long)relp_config_n_params(&cs[i]), (long long)relp_model_n_params(m));
                CHECK(want > 0 && got >= want && got <= want + 64 * 200, "%s %s transposed %d: weight bytes %lld, predicted %lld",
                      relp_arch_name(cs[i].arch), relp_dtype_name(dt), tr, (long long)got, (long long)want);
                relp_model_free(m);
            }
    /* from config.json text, through the same parser as a load */
    static const char cfg[] = "{\"model_type\": \"qwen2\", \"hidden_size\": 32, \"num_hidden_layers\": 2, "
                              "\"num_attention_heads\": 4, \"num_key_value_heads\": 1, \"intermediate_size\": 40, "
                              "\"vocab_size\": 300, \"max_position_embeddings\": 16, \"tie_word_embeddings\": true}";
    struct relp_file f = {"config.json", cfg, sizeof cfg - 1};
    struct relp_config c;
    char err[256];
    CHECK(relp_config_from_json(&f, &c, err, sizeof err) == RELP_STATUS_OK && c.arch == RELP_ARCH_QWEN2 &&
              relp_config_n_params(&c) == relp_config_n_params(&cs[2]),
          "relp_config_from_json: %s", err);
    struct relp_file bad = {"config.json", "{\"model_type\": \"mamba\"}", 23};
    CHECK(relp_config_from_json(&bad, &c, err, sizeof err) != RELP_STATUS_OK && strstr(err, "config.json") &&
              strstr(err, "mamba"),
          "relp_config_from_json refuses with the file's name: %s", err);
}

int main(int argc, char **argv) {
    test_kernels();
    test_activations();
    test_attention();
    test_finite_differences();
    test_patching();
    test_errors();
    test_method_invariants();
    test_config_sizes();
    if (argc >= 3) test_tokenizer_bytes(argv[1], argv[2]);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
