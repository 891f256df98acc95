/* ops.h - the layer kernels: <layer>_forward / <layer>_backward,
 * outputs first, dimensions last, with a scalar *_naive reference beside
 * every fast kernel (tests compare them; the fast ones are in kernels.inc,
 * compiled once per SIMD target and chosen at run time).
 *
 * Contract (llm.c): backward kernels OVERWRITE their outputs unless the name
 * says _acc (then they add), and never allocate. Matrices W are row-major
 * in f32 or f16 (dtype argument); everything else is f32. */
#ifndef RELP_OPS_H
#define RELP_OPS_H

#include "relp.h"
#include "threads.h"

#include <stdint.h>

/* The kernels keep llm.c's names in the code; their symbols carry the library's prefix (relp__), so that a
 * program linking librelp_core.a beside llm.c or ggml meets no clash (tests/test_symbols.py checks it). */
#define matmul_xw relp__matmul_xw
#define matmul_xwt relp__matmul_xwt
#define matmul_xw_naive relp__matmul_xw_naive
#define matmul_xwt_naive relp__matmul_xwt_naive
#define matmul_xw_packed relp__matmul_xw_packed
#define matmul_xwt_packed relp__matmul_xwt_packed
#define layernorm_forward relp__layernorm_forward
#define layernorm_backward_acc relp__layernorm_backward_acc
#define rmsnorm_forward relp__rmsnorm_forward
#define rmsnorm_backward_acc relp__rmsnorm_backward_acc
#define act_forward relp__act_forward
#define act_backward relp__act_backward
#define glu_forward relp__glu_forward
#define glu_backward relp__glu_backward
#define gelu_forward relp__gelu_forward
#define gelu_backward relp__gelu_backward
#define rope_apply relp__rope_apply
#define attention_forward relp__attention_forward
#define attention_forward_rows relp__attention_forward_rows
#define attention_backward relp__attention_backward

/* ---- matrix products (threaded over output columns / W rows) ---- */

/* out (N, O) = x (N, K) @ W (K, O) + bias (O, may be NULL) */
void matmul_xw(struct relp_pool *pool, float *out, const float *x, const void *W, enum relp_dtype wdt,
               const float *bias, int N, int K, int O);
/* out (N, O) = x (N, K) @ W(O, K)^T, i.e. out[n][o] = dot(x[n], W[o]) */
void matmul_xwt(struct relp_pool *pool, float *out, const float *x, const void *W, enum relp_dtype wdt, int N,
                int K, int O);
void matmul_xw_naive(float *out, const float *x, const void *W, enum relp_dtype wdt, const float *bias, int N, int K,
                     int O);
void matmul_xwt_naive(float *out, const float *x, const void *W, enum relp_dtype wdt, int N, int K, int O);

/* Packed weights: the large matrices of a model are stored as panels of
 * RELP_PANEL columns, P[ob][k][j] = W[k][ob*RELP_PANEL + j] (zero-padded to a
 * whole panel), so the forward kernel streams each panel contiguously. */
#define RELP_PANEL 16
size_t relp__packed_count(int K, int O); /* elements of a packed (K, O) matrix */
/* Packs W (K, O) row-major (src dtype) into dst (dst dtype: f32 or f16). */
void relp__pack(void *dst, enum relp_dtype dst_dtype, const void *src, enum relp_dtype src_dtype, int K, int O);
/* Packs W^T (O, K) from W (K, O): the backward pass's copy (x @ W^T streams like a forward product). */
void relp__pack_transposed(void *dst, enum relp_dtype dst_dtype, const void *src, enum relp_dtype src_dtype, int K,
                           int O);
/* A logical matrix M read from a file's buffer: M[k][j] is data[k * rs +
 * col(j) * cs], col(j) = (j / blk) * stride + off + j % blk (blk = 0: col(j) =
 * j). The loader's tensors as the pieces of the matrices they fill. */
struct relp_view {
    const void *data;
    enum relp_dtype dtype;
    int64_t rs, cs;
    int32_t blk, stride, off;
};
/* Columns [c0, c0 + nc) of a packed (K, O) matrix from v (M[k][j] -> column
 * c0 + j); the panel padding past O is zeroed when c0 + nc == O. */
void relp__pack_block(void *dst, enum relp_dtype dst_dtype, int K, int O, int c0, int nc, const struct relp_view *v);
/* The same columns as rows [c0, c0 + nc) of the packed transpose (O, K). */
void relp__pack_block_t(void *dst, enum relp_dtype dst_dtype, int K, int O, int c0, int nc,
                        const struct relp_view *v);
/* Columns [c0, c0 + nc) of a row-major (rows, cols) array from v. */
void relp__copy_block(void *dst, enum relp_dtype dst_dtype, int64_t rows, int64_t cols, int64_t c0, int64_t nc,
                      const struct relp_view *v);
/* out (N, O) = x (N, K) @ W[k0 : k0+K, :] + bias (may be NULL); W packed with Kp rows */
void matmul_xw_packed(struct relp_pool *pool, float *out, const float *x, const void *P, enum relp_dtype wdt,
                      const float *bias, int N, int K, int O, int Kp, int k0);
/* out (N, K) = x (N, O) @ W^T, W (K, O) packed; scratch: (threads, RELP_PANEL, RELP_XWT_CHUNK) floats */
#define RELP_XWT_CHUNK 256
void matmul_xwt_packed(struct relp_pool *pool, float *out, float *scratch, const float *x, const void *P,
                       enum relp_dtype wdt, int N, int O, int K);


/* ---- LayerNorm ---- */

/* out (N, C) = (x - mean) * rstd * g + b; mean, rstd (N) are saved. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *x, const float *g, const float *b, int N,
                       int C, float eps);
/* dx (N, C) += backward of dout through LN. sigma_const: the LN-rule (1/sigma
 * treated as a constant: dx = (u - mean(u)) * rstd, u = g * dout); else the
 * exact gradient. */
void layernorm_backward_acc(float *dx, const float *dout, const float *x, const float *mean, const float *rstd,
                            const float *g, int N, int C, int sigma_const);

/* ---- RMSNorm ---- */

/* out (N, C) = x * rstd * g; rstd (N) = 1/sqrt(mean(x^2) + eps) is saved. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *g, int N, int C, float eps);
/* dx (N, C) += backward of dout: rms_const (the LN-rule: rstd held
 * constant): dx = rstd * u, u = g * dout; else the exact gradient
 * rstd * (u - xhat * mean(u * xhat)), xhat = x * rstd. */
void rmsnorm_backward_acc(float *dx, const float *dout, const float *x, const float *rstd, const float *g, int N,
                          int C, int rms_const);

/* ---- activations ---- */

enum relp_act_kind {
    ACT_GELU_TANH, /* gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) (GPT-2) */
    ACT_GELU,      /* x Phi(x) with the exact normal CDF (GPT-NeoX "gelu") */
    ACT_SILU       /* x sigmoid(x) (Llama's SwiGLU gate) */
};
/* out = act(x) over n values */
void act_forward(float *out, const float *x, int n, int kind);
/* dx = dout * act'(x) (exact) or dout * act(x)/stab(x) (the Identity-rule:
 * relevance passes unchanged), stab(x) = x + 1e-6 (sign(x) + [x == 0]) as
 * the official RelP code's ModifiedAct. */
void act_backward(float *dx, const float *dout, const float *x, int n, int kind, int identity);
/* A gated MLP's product, rows of pre (N, 2 I) = [gate | up]:
 * out (N, I) = act(gate) * up. */
void glu_forward(float *out, const float *pre, int N, int I, int kind);
/* dpre (N, 2 I) from dout (N, I). half: the Half-rule (each factor gets half
 * the coefficient, as gate_out / 2 + (gate_out / 2).detach() in the official
 * code); identity: the Identity-rule on act. */
void glu_backward(float *dpre, const float *dout, const float *pre, int N, int I, int kind, int identity, int half);
/* GPT-2's gelu_new, the kernels act_forward / act_backward use for ACT_GELU_TANH */
void gelu_forward(float *out, const float *x, int n);
void gelu_backward(float *dx, const float *dout, const float *x, int n, int identity);

/* ---- RoPE (rotate_half form: the first ROT dims of each head as two halves) ----
 * x (B, T, stride): each row starts with `heads` heads of HS (q then k in
 * the fused layout); row (b, t) is at position t; only t >= t0 is touched.
 * cos, sin (T, ROT/2). Forward: y1 = x1 cos - x2 sin, y2 = x2 cos + x1 sin;
 * inverse (the transpose: the exact backward): dx1 = dy1 cos + dy2 sin,
 * dx2 = dy2 cos - dy1 sin. In place. */
void rope_apply(float *x, int B, int T, int t0, int stride, int heads, int HS, int ROT, const float *cos,
                const float *sin, int inverse);

/* ---- causal self-attention with grouped-query heads, per (b, head) ----
 * qkv (B, T, QKV), QKV = (NH + 2 NKV) HS: q head h at h*HS, k head g at
 * (NH + g) HS, v head g at (NH + NKV + g) HS; query head h reads k/v head
 * g = h / (NH / NKV). att (B, NH, T, T) probabilities; z (B, T, NH*HS).
 * Rows t < t0 are left untouched (a patched re-run recomputes only rows
 * t0..T-1). */
void attention_forward(struct relp_pool *pool, float *z, float *att, const float *qkv, int B, int T, int NH, int NKV,
                       int HS, int t0);
/* The same for query rows [lo[b], hi[b]) of each prompt b (keys and values
 * of rows 0..hi[b]-1 read as they are): a sweep's copies restart at rows of
 * their own. */
void attention_forward_rows(struct relp_pool *pool, float *z, float *att, const float *qkv, int B, int T, int NH,
                            int NKV, int HS, const int32_t *lo, const int32_t *hi);
/* dqkv (B, T, QKV) = backward of dz; a shared k/v head sums its query
 * heads' coefficients. mode: 0 exact, 1 frozen pattern (no coefficient to
 * q and k), 2 AttnLRP (v x 1/2, q and k x 1/4). scratch: (n_threads, T)
 * floats. */
void attention_backward(struct relp_pool *pool, float *dqkv, float *scratch, const float *dz, const float *qkv,
                        const float *att, int B, int T, int NH, int NKV, int HS, int mode);

#ifdef __wasm_simd128__
/* The SIMD128 half-to-float loads against the scalar conversion on all 65536 halves: how many differ (NaN == NaN),
 * for the WebAssembly tests. */
int relp__wasm_f16_mismatches(void);
#endif

/* Picks the SIMD kernels for this CPU once; force_scalar selects the
 * portable path (tests compare both). Returns the name of the path. */
const char *relp__ops_select(int force_scalar);
/* The path in use (selecting the default one on first use). */
const char *relp__ops_name(void);

#endif
