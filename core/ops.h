/* ops.h - the layer kernels of GPT-2: <layer>_forward / <layer>_backward,
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

/* ---- GELU (gelu_new, tanh form) ---- */
void gelu_forward(float *out, const float *x, int n);
/* dx = dout * gelu'(x) (exact) or dout * gelu(x)/x (identity rule, computed
 * as the smooth 0.5 (1 + tanh(...)) = gelu(x)/x). */
void gelu_backward(float *dx, const float *dout, const float *x, int n, int identity);

/* ---- causal self-attention, per (b, head) ----
 * qkv (B, T, 3C): q at [0, C), k at [C, 2C), v at [2C, 3C), head h at h*HS.
 * att (B, NH, T, T) probabilities; z (B, T, C). Rows t < t0 are left
 * untouched (a patched re-run recomputes only rows t0..T-1). */
void attention_forward(struct relp_pool *pool, float *z, float *att, const float *qkv, int B, int T, int C, int NH,
                       int t0);
/* dqkv (B, T, 3C) = backward of dz. mode: 0 exact, 1 frozen pattern (no
 * coefficient to q and k), 2 AttnLRP (v x 1/2, q and k x 1/4).
 * scratch: (n_threads, T) floats. */
void attention_backward(struct relp_pool *pool, float *dqkv, float *scratch, const float *dz, const float *qkv,
                        const float *att, int B, int T, int C, int NH, int mode);

/* Picks the SIMD kernels for this CPU once; force_scalar selects the
 * portable path (tests compare both). Returns the name of the path. */
const char *relp__ops_select(int force_scalar);
/* The path in use (selecting the default one on first use). */
const char *relp__ops_name(void);

#endif
