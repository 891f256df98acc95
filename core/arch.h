/* arch.h - each architecture written once, as data (core/arch.c).
 *
 * An architecture is a table of its Hugging Face parameters - name, shape in
 * the file, where it goes in struct relp_layer / struct relp_model and how
 * it is stored there - and the model's cached buffers and nodes are tables
 * too. Loading (plan.c), random weights (plan.c), the activation slab
 * (model.c) and node lookup all loop over these tables; nothing else lists
 * a parameter, a buffer or a node. */
#ifndef RELP_ARCH_H
#define RELP_ARCH_H

#include "internal.h"
#include "ops.h"

#include <stddef.h>
#include <stdint.h>

/* A size, resolved against a model's struct relp_dims (and T for the
 * activation buffers) by relp__dim. */
enum relp_dim {
    DIM_ZERO, DIM_ONE,
    DIM_C, DIM_V, DIM_NPOS, DIM_HS, DIM_Q, DIM_KV, DIM_QKV,
    DIM_Q_KV,     /* Q + KV: where v starts in q | k | v */
    DIM_NH_NKV,   /* NH + NKV: heads that carry a q or k norm */
    DIM_I, DIM_FC,
    DIM_T,        /* the batch's tokens */
    DIM_NH_T,     /* NH * T: an attention pattern row block */
    DIM_SCRATCH,  /* RELP_PANEL * RELP_XWT_CHUNK: the transposing product's scratch */
    DIM_COUNT
};
int64_t relp__dim(const struct relp_dims *d, enum relp_dim dim, int64_t T);

/* How a parameter is stored in memory. */
enum relp_store {
    STORE_F32,   /* f32, row-major as in the file */
    STORE_ROWS,  /* weight dtype, row-major (the embeddings and unembedding) */
    STORE_PACKED /* weight dtype, packed panels of a (K, O) matrix (ops.h), and optionally its transpose */
};

/* How the file holds the piece of the destination a tensor fills: the
 * destination is (rows, cols) and the tensor gives columns [off, off + n). */
enum relp_layout {
    LAYOUT_1D, /* file shape (src): a vector (rows == DIM_ONE) */
    LAYOUT_2D, /* file shape (rows, src): element (r, c) at r * src + map(c) - GPT-2's Conv1D (in, out) */
    LAYOUT_T2D /* file shape (src, rows): element (r, c) at map(c) * rows + r - nn.Linear's (out, in) */
};

/* Which file column (or row, for LAYOUT_T2D) a destination column c of the
 * piece reads: c itself, or one part of GPT-NeoX's fused query_key_value,
 * laid out per head as [q | k | v] (HS each). */
enum relp_colmap { MAP_NONE, MAP_NEOX_Q, MAP_NEOX_K, MAP_NEOX_V };

/* When a parameter is present (the architecture and the config's flags). */
enum relp_cond {
    IF_ALWAYS,
    IF_UNTIED,   /* a separate unembedding; when tied, a copy in the file must equal the embedding */
    IF_QKV_BIAS, /* the architecture's q/k/v biases (qwen2), or attention_bias */
    IF_O_BIAS,   /* attention_bias */
    IF_MLP_BIAS, /* mlp_bias */
    IF_QK_NORM   /* the architecture's per-head q/k norm (qwen3) */
};

/* Random weights: uniform with std 0.02 around 0, or 0.1 around 1 (norm gains). */
enum relp_init { INIT_NORMAL, INIT_GAIN };

struct relp_param_spec {
    const char *name;      /* Hugging Face name after the architecture's prefix (and layer_fmt when per-layer) */
    uint8_t layer;         /* 1: one per layer */
    uint16_t field;        /* offsetof(struct relp_layer, .) for per-layer names, else offsetof(struct relp_model, .) */
    uint16_t field_t;      /* the transposed copy's field (STORE_PACKED), 0: none */
    uint8_t store, layout, map, cond, init;
    uint8_t rows, cols;    /* the destination's shape (enum relp_dim): (K, O) when packed, (1, n) for a vector */
    uint8_t off, n, src;   /* this tensor fills columns [off, off + n) and holds src of them in the file */
};

struct relp_arch_spec {
    enum relp_arch arch;
    const char *model_type;     /* config.json "model_type" */
    const char *arch_prefix;    /* "GPT2", "Llama", ...: config.json "architectures" must start with it */
    const char *prefix;         /* tensor name prefix that may be present ("transformer.", "model.", "gpt_neox.") */
    const struct relp_param_spec *params;
    int32_t n_params;
    const char *const *ignored; /* per-layer buffers some checkpoints carry (suffixes after "<layer>."), NULL-ended */
    const char *layer_fmt;      /* the per-layer prefix: "h.%d." */
    const char *dim_key[DIM_COUNT]; /* config.json key of each dimension, for messages */
    uint8_t rms_norm, gated, rope, qk_norm, qkv_bias, parallel;
    uint8_t act;                /* enum relp_act_kind (config.json may say otherwise: config.c) */
};

const struct relp_arch_spec *relp__arch(enum relp_arch arch);
const struct relp_arch_spec *relp__arch_by_type(const char *model_type);
/* "gpt2", "llama", "qwen2", "qwen3", "gpt_neox" */
const char *relp__arch_list(void);
/* Does the model have this parameter (its cond against the config)? */
int relp__param_present(const struct relp_param_spec *p, const struct relp_config *c);

/* ---- cached buffers: the activation and coefficient slabs ---- */

enum relp_buf_rows { ROWS_BT, ROWS_THREADS };
enum relp_buf_cond { BUF_ALWAYS, BUF_SEQUENTIAL, BUF_QK_NORM };

struct relp_buf_spec {
    uint16_t field;  /* offsetof(struct relp_acts or struct relp_grads, .) */
    uint8_t layers;  /* 0: one, 1: L, 2: L + 1 */
    uint8_t rows;    /* enum relp_buf_rows: B*T or the thread count */
    uint8_t width;   /* enum relp_dim */
    uint8_t cond;    /* enum relp_buf_cond */
};
/* The activation (grads = 0) or coefficient (grads = 1) buffers. */
const struct relp_buf_spec *relp__bufs(int grads, int32_t *n);
int relp__buf_present(const struct relp_buf_spec *b, const struct relp_model *m);

/* ---- nodes: what relp_ctx_node / relp_ctx_node_grad return ---- */

struct relp_node_spec {
    enum relp_node node;
    uint16_t act_field;   /* offsetof(struct relp_acts, .) */
    uint16_t grad_field;  /* offsetof(struct relp_grads, .) */
    uint8_t grad_shift;   /* the coefficient is the grad buffer's layer l + grad_shift */
    uint8_t extra_layer;  /* 1: layers 0..L (resid_pre), else 0..L-1 */
    uint8_t width;        /* enum relp_dim */
    uint8_t stage;        /* forward stage within a layer (model.c) */
};
/* The node of this model, or NULL if it has none of that type. */
const struct relp_node_spec *relp__node(const struct relp_model *m, enum relp_node node);

#endif
