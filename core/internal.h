/* internal.h - the structures behind the opaque handles of relp.h, shared by
 * the core's files. Nothing here is public API.
 *
 * Dimension names used in every shape comment: B batch, T tokens, C n_embd,
 * NH query heads, NKV key/value heads, HS head size, Q = NH*HS, KV =
 * NKV*HS, QKV = Q + 2 KV, I MLP width, FC = I or 2 I (gated), L layers,
 * V vocabulary (struct relp_dims). */
#ifndef RELP_INTERNAL_H
#define RELP_INTERNAL_H

#include "relp.h"
#include "io.h"
#include "threads.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RELP_ERROR_LEN 512

/* A run's or a model's warnings (relp.h WARNINGS): the flags, and one sentence per flag in flag order. */
#define RELP__MAX_WARNINGS 8
#define RELP__WARNING_LEN 512
struct relp__warnings {
    uint32_t flags;
    int32_t n;
    uint32_t flag[RELP__MAX_WARNINGS];
    char text[RELP__MAX_WARNINGS][RELP__WARNING_LEN];
};

/* The sizes every table, slab and kernel is written in (resolved from
 * struct relp_config by relp__dims). */
struct relp_dims {
    int32_t L, C, V, NPOS;
    int32_t NH, NKV, HS;  /* query heads, key/value heads, head size */
    int32_t Q, KV, QKV;   /* NH*HS, NKV*HS, Q + 2 KV: the fused q | k | v projection's width */
    int32_t I, FC;        /* MLP width; the first MLP matrix's width (I, or 2 I for a gated MLP: gate | up) */
    int32_t ROT;          /* RoPE: rotated dimensions per head (0: learned positions) */
};

/* One transformer block's parameters (core/arch.c says which an
 * architecture has and where each comes from). Matrices are in the model's
 * weight_dtype, stored (in, out), packed in panels of RELP_PANEL columns
 * (ops.h); vectors are f32; NULL where the architecture has none. */
struct relp_layer {
    const float *ln1_g, *ln1_b; /* (C); ln1_b NULL for RMSNorm */
    const void *w_qkv;          /* (C, QKV): q heads | k heads | v heads */
    const float *b_qkv;         /* (QKV) */
    const float *q_norm, *k_norm; /* (HS): qwen3's per-head RMSNorm */
    const void *w_o;            /* (Q, C) */
    const float *b_o;           /* (C) */
    const float *ln2_g, *ln2_b; /* (C) */
    const void *w_fc;           /* (C, FC) */
    const float *b_fc;          /* (FC) */
    const void *w_mp;           /* (I, C) */
    const float *b_mp;          /* (C) */
    /* W^T of the four matrices, packed the same way, or NULL (load param transposed_copy) */
    const void *wt_qkv, *wt_o, *wt_fc, *wt_mp; /* (QKV, C), (C, Q), (FC, C), (C, I) */
};

struct relp_tokenizer; /* tokenizer.c */
struct relp_arch_spec; /* arch.h */

struct relp_model {
    struct relp_config cfg;
    struct relp_dims d;
    const struct relp_arch_spec *arch;
    int rms_norm;                 /* RMSNorm (else LayerNorm) */
    int act;                      /* enum relp_act_kind (arch.h) */
    int gated;                    /* gated MLP: act(gate) * up */
    int parallel;                 /* attention and MLP both read resid_pre (gpt_neox) */
    int qk_norm;                  /* per-head RMSNorm on q and k */
    enum relp_dtype weight_dtype; /* in memory */
    enum relp_dtype file_dtype;   /* dtype of the checkpoint's matrices */
    int transposed;               /* layers carry wt_* copies */
    const void *wte;              /* (V, C) weight_dtype */
    const float *wpe;             /* (n_positions, C), NULL with RoPE */
    const float *lnf_g, *lnf_b;   /* (C) */
    const void *wu;               /* (V, C) weight_dtype: the unembedding (wte when tied) */
    struct relp_layer *layers;    /* (L) */
    void *owned;                  /* the one block of converted/copied tensors */
    size_t owned_bytes;
    size_t mapped_bytes;          /* bytes of checkpoint files used in place */
    struct relp_mapped_file *files;
    int32_t n_files;
    struct relp_tokenizer *tok;
    char error[RELP_ERROR_LEN];
    struct relp__warnings warn;   /* NON_FINITE_WEIGHTS */
};

/* Where a patched re-run may start: stage index within a layer. */
enum stage { STAGE_RESID_PRE = 0, STAGE_Z = 1, STAGE_ATTN_OUT = 2, STAGE_MLP_OUT = 3, STAGES_PER_LAYER = 4 };

/* Cached activations of one run; one slab, carved once per batch shape from
 * the buffer table of core/arch.c (relp__bufs). Shapes for a sequential
 * block; NULL where the model has no such buffer. */
struct relp_acts {
    float *resid;     /* (L+1, B, T, C) resid_pre[l]; [L] feeds ln_f */
    float *ln1_mean, *ln1_rstd; /* (L, B, T) */
    float *ln1_out;   /* (B, T, C) scratch */
    float *qkv;       /* (L, B, T, QKV): q and k after RoPE */
    float *qk_pre;    /* (L, B, T, Q + KV): q and k before the per-head norm (qk_norm only) */
    float *qk_rstd;   /* (L, B, T, NH + NKV): the per-head norm's 1/rms (qk_norm only) */
    float *att;       /* (L, B, NH, T, T) softmax probabilities, 0 above the diagonal */
    float *z;         /* (L, B, T, Q) per-head outputs, head h at [h*HS, (h+1)*HS) */
    float *attn_out;  /* (L, B, T, C) */
    float *resid_mid; /* (L, B, T, C) (sequential blocks only) */
    float *ln2_mean, *ln2_rstd; /* (L, B, T) */
    float *ln2_out;   /* (B, T, C) scratch */
    float *fc_pre;    /* (L, B, T, FC) */
    float *fc_post;   /* (L, B, T, I) the MLP's hidden activation: the neurons (RELP_NODE_MLP_POST) */
    float *mlp_out;   /* (L, B, T, C) */
    float *lnf_mean, *lnf_rstd; /* (B, T) */
    float *lnf_out;   /* (B, T, C) */
    float *logits;    /* (B, P, V), P logit positions */
};

/* Backward coefficients; the node table (core/arch.c) says which of these
 * each node's coefficient is: g_attn_out[l] == g_resid_mid[l] (or
 * g_resid[l+1] in a parallel block) and g_mlp_out[l] == g_resid[l+1]. */
struct relp_grads {
    float *resid;     /* (L+1, B, T, C) */
    float *resid_mid; /* (L, B, T, C) (sequential blocks only) */
    float *z;         /* (L, B, T, Q) */
    float *fc;        /* (B, T, FC) scratch */
    float *mlp_post;  /* (L, B, T, I) the neurons' coefficient (W_mp^T times mlp_out's) */
    float *qkv;       /* (B, T, QKV) scratch */
    float *qk;        /* (B, T, Q + KV) scratch (qk_norm only) */
    float *h;         /* (B, T, C) scratch */
    float *att_row;   /* (n_threads, T) scratch */
    float *mm_scratch; /* (n_threads, RELP_PANEL, RELP_XWT_CHUNK) transposed weight panels */
    float *logits;    /* (B, V) seed */
};

struct relp_ctx {
    const struct relp_model *model;
    struct relp_ctx_params params;
    int32_t B, T;           /* current run */
    int32_t *ids;           /* (B, T) */
    int32_t logit_pos[64];  /* requested logit positions (-1 = last) */
    int32_t n_logit_pos;
    int32_t *logit_tokens;  /* when n_logit_tokens > 0: the only vocabulary columns computed */
    int32_t n_logit_tokens, logit_tokens_cap;
    int32_t n_logit_cap;    /* capacity of acts.logits, in positions */
    int32_t have_run, have_grads;
    int32_t dirty_stage;    /* first global stage (layer*4+stage) holding patched values, INT32_MAX if none */
    int32_t dirty_row;      /* first position holding patched values */
    struct relp_acts acts;
    struct relp_grads grads;
    void *act_block, *grad_block;
    float *rope_cos, *rope_sin; /* (max_tokens, ROT / 2): RoPE at every position, made at relp_ctx_init */
    struct relp_pool *pool;
    /* Internal hooks (circuits.c, edges.c), NULL when unused. fwd_hook: after each node of the forward
     * pass is computed and patched (resid_pre[l] for l = 0..L, z, attn_out, resid_mid, the neurons,
     * mlp_out), for rows t0..T-1 of each prompt; it may change those rows in place. bwd_hook: in the
     * backward pass at layer l, part RELP__BWD_ATTN once grads.qkv holds the coefficient of the q | k | v
     * projection's output (after RoPE's and the q/k norms' backward), part RELP__BWD_MLP once grads.h
     * holds the coefficient of the MLP's normed input (norm2's output); it must not change them. */
    void (*fwd_hook)(void *user, struct relp_ctx *ctx, enum relp_node node, int layer, float *values, int t0);
    void (*bwd_hook)(void *user, struct relp_ctx *ctx, int layer, int part);
    void *hook_user;
    int32_t (*cancel)(void *);
    void *cancel_user;
    /* run_stages' rows per prompt, (RELP__ROWS, max_batch) (model.c), and the gathered rows of a product over
     * rows that are not contiguous, (max_batch * max_tokens, 2 * widest), made on first use */
    int32_t *rows;
    float *gather;
    char error[RELP_ERROR_LEN];
    struct relp__warnings warn;   /* the latest attribution call's (relp.h WARNINGS) */
    enum relp_metric_kind warn_metric; /* its metric, for the gap's sentence */
};

/* errors ----------------------------------------------------------------- */
enum relp_status relp__fail(char *buf, enum relp_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
enum relp_status relp__ctx_fail(struct relp_ctx *ctx, enum relp_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
char *relp__orphan_error(void); /* where loads that have no model object yet write */

/* model.c: mean metric over prompts [b0, b0 + nb), no checks */
double relp__metric_range(const struct relp_ctx *ctx, const struct relp_metric *mt, int b0, int nb);

/* model.c: relp_forward that only takes the batch, computing nothing: the
 * next relp_forward_patched computes every stage (for callers that patch
 * the embeddings of every row anyway) */
enum relp_status relp__forward_deferred(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T);

/* model.c: one pass of an exact sweep over copies of base's run. run holds
 * G copies of base's batch (run->B = G * base->B, same tokens; made by
 * relp__replicate, its base run deferred); each patch covers one whole copy,
 * a copy at most one patch. Copy g computes only what its patch changes:
 * the patched row from the patch's stage to the next attention, from there
 * rows position..T-1 (every row for a patch of all positions), and in the
 * last layer only the logit row (when that is the last position, the only
 * one). Everything else it reads (residuals, z, q/k/v) is base's, copied
 * where an earlier pass of the copy changed it. Each row's arithmetic is
 * the same as in relp_forward_patched's full re-run, so the logits of the
 * patched rows are bit-identical to it. Rows whose patched values equal the
 * base run's (bit for bit) are not recomputed: a patch that changes no row
 * is not run, and noop[i] = 1 says so (its metric is the base run's). base
 * must hold its run unpatched. Only the logits of the copies run are
 * meaningful afterwards. */
enum relp_status relp__forward_sweep(struct relp_ctx *run, const struct relp_ctx *base, const struct relp_patch *patches,
                                     int32_t n_patches, int8_t *noop);

enum { RELP__BWD_ATTN = 0, RELP__BWD_MLP = 1 };

/* model.c: dx (N, C) += the backward of dout through the model's norm (LayerNorm or RMSNorm) at x with its saved
 * mean and rstd; rule: the LN-rule (the scale held constant) */
void relp__norm_backward(const struct relp_model *m, float *dx, const float *dout, const float *x, const float *mean,
                         const float *rstd, const float *g, int N, int C, int rule);

/* model.c: relp_backward that stops after layer stop_layer: coefficients
 * are then valid only for nodes of layers >= stop_layer */
enum relp_status relp__backward_to(struct relp_ctx *ctx, const struct relp_metric *mt, const struct relp_rules *rules,
                                   double *value, int stop_layer);

/* methods.c: the pieces of the methods that the circuit code (circuits.c, edges.c) runs too --------------- */

/* G copies of ctx's current batch in a context of their own (G = 1: ctx itself), with the metric's tokens
 * repeated, so that several patched runs share one pass over the weights; base: compute the base run now. */
struct relp__replica {
    struct relp_ctx *run;
    int G;
    int32_t *ids, *ans, *wrong;
    struct relp_metric mt;
};
#define RELP__REPLICA_OWN 2 /* or'ed into relp__replicate's base: a forward-only context of its own, even for G = 1
                               * (a sweep's copies) */
/* model.c: a context without the coefficient slab (forward and patched runs only; relp_backward refuses it),
 * and the bytes it takes */
enum relp_status relp__ctx_init_forward(struct relp_ctx **out, const struct relp_model *model,
                                        const struct relp_ctx_params *params);
size_t relp__ctx_mem_forward(const struct relp_model *model, const struct relp_ctx_params *params);
enum relp_status relp__replicate(struct relp_ctx *ctx, const struct relp_metric *mt, int G, int base,
                                 struct relp__replica *r);
void relp__replica_free(struct relp_ctx *ctx, struct relp__replica *r);
/* only the logit columns the metric reads (all for the log-probability) */
enum relp_status relp__restrict_logits(struct relp_ctx *ctx, const struct relp_metric *mt, int B);
/* 1 / (m_clean - m_corrupt), or 1 when they are equal (then the scores are in metric units); adds the gap's
 * warning to ctx (relp__warn_gap) */
double relp__norm_of(struct relp_ctx *ctx, double mc, double mr);

/* warnings.c: an attribution call's warnings (relp.h WARNINGS). relp__warn_begin replaces ctx's warnings with
 * the run's NOISING and ANSWER_SPACE (clean: B prompts of T tokens) and keeps the metric for relp__warn_gap,
 * which adds the gap's warning of m_clean, m_corrupt (once per call: later calls do nothing). */
void relp__warn_begin(struct relp_ctx *ctx, const int32_t *clean, int32_t B, int32_t T, const struct relp_metric *mt,
                      int noising);
void relp__warn_gap(struct relp_ctx *ctx, double mc, double mr);
/* one warning added to w (its sentence printed from fmt) */
void relp__warn_add(struct relp__warnings *w, uint32_t flag, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* names.c: the printf format of a warning's sentence */
const char *relp__warning_format(uint32_t flag);
/* IG's steps per pass */
int relp__ig_group(const struct relp_ctx *ctx, int steps);
/* steps [k0, k0 + gn) of N in one pass of run: copy g gets node (layer) = base + (k0 + g) / N * delta, then a
 * forward pass and a gradient backward pass down to stop_layer. vals: gn * n floats of scratch */
enum relp_status relp__ig_pass(struct relp_ctx *ctx, struct relp_ctx *run, enum relp_node node, int layer,
                               const float *base, const float *delta, float *vals, size_t n, int k0, int gn, int N,
                               const struct relp_metric *scaled, int stop_layer);
int relp__cancelled(const struct relp_ctx *ctx);
/* Patched runs of ctx's current (base) batch, each patches[i] with values for all B prompts (first_prompt and
 * n_prompts are set here), run several to a pass on a replica in the order that lets each start late;
 * effects[i] = (metric - base_value) * norm. what: for the cancel message. */
enum relp_status relp__run_patches(struct relp_ctx *ctx, const struct relp_metric *mt, const struct relp_patch *patches,
                                   int32_t n, double base_value, double norm, float *effects,
                                   void (*progress)(void *user, int64_t done, int64_t total), void *progress_user,
                                   const char *what);

/* half precision ------------------------------------------------------------ */
float relp__f16_to_f32(uint16_t h);
uint16_t relp__f32_to_f16(float f);
static inline float relp__bf16_to_f32(uint16_t h) {
    union { uint32_t u; float f; } v;
    v.u = (uint32_t)h << 16;
    return v.f;
}
/* round to nearest even; NaN stays NaN (quiet) */
static inline uint16_t relp__f32_to_bf16(float f) {
    union { float f; uint32_t u; } v;
    v.f = f;
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);
    return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* element i of a buffer in any weight dtype, as f32 (unaligned-safe), and back */
static inline float relp__load_elem(const void *src, enum relp_dtype dt, size_t i) {
    float f;
    uint16_t h;
    if (dt == RELP_DTYPE_F32) {
        memcpy(&f, (const char *)src + 4 * i, 4);
        return f;
    }
    memcpy(&h, (const char *)src + 2 * i, 2);
    return dt == RELP_DTYPE_F16 ? relp__f16_to_f32(h) : relp__bf16_to_f32(h);
}
static inline void relp__store_elem(void *dst, enum relp_dtype dt, size_t i, float f) {
    if (dt == RELP_DTYPE_F32) memcpy((char *)dst + 4 * i, &f, 4);
    else {
        uint16_t h = dt == RELP_DTYPE_F16 ? relp__f32_to_f16(f) : relp__f32_to_bf16(f);
        memcpy((char *)dst + 2 * i, &h, 2);
    }
}

/* tokenizer.c: GPT-2's vocab.json + merges.txt; tokenizer_json.c: tokenizer.json (+ tokenizer_config.json, may be NULL) */
enum relp_status relp__tokenizer_init(struct relp_tokenizer **out, const struct relp_file *vocab,
                                      const struct relp_file *merges, char *err);
enum relp_status relp__tokenizer_init_json(struct relp_tokenizer **out, const struct relp_file *tokenizer_json,
                                           const struct relp_file *tokenizer_config, char *err);
void relp__tokenizer_free(struct relp_tokenizer *tok);
enum relp_status relp__tokenize(const struct relp_tokenizer *tok, const char *text, int64_t len, int32_t add_bos,
                                int32_t *ids, int64_t cap, int64_t *n_out, char *err);
const char *relp__token_bytes(const struct relp_tokenizer *tok, int32_t id, int32_t *n);
int32_t relp__tokenizer_size(const struct relp_tokenizer *tok);

#endif
