/* arch.c - the architectures as data: every parameter of each (Hugging Face
 * name, shape, packing), the cached buffers and the nodes (see arch.h).
 *
 * Names are those of the Hugging Face checkpoints (modeling_gpt2.py,
 * modeling_llama.py / qwen2 / qwen3, modeling_gpt_neox.py). Matrices end
 * up as (in, out) - GPT-2's Conv1D orientation - whatever the file holds:
 * nn.Linear's (out, in) weights are read transposed (LAYOUT_T2D). The
 * projections one block multiplies by the same input are fused: q | k | v
 * into w_qkv, and a gated MLP's gate | up into w_fc. */
#include "arch.h"

#include "ops.h"

#include <stdio.h>
#include <string.h>

int64_t relp__dim(const struct relp_dims *d, enum relp_dim dim, int64_t T) {
    switch (dim) {
    case DIM_ZERO: return 0;
    case DIM_ONE: return 1;
    case DIM_C: return d->C;
    case DIM_V: return d->V;
    case DIM_NPOS: return d->NPOS;
    case DIM_HS: return d->HS;
    case DIM_Q: return d->Q;
    case DIM_KV: return d->KV;
    case DIM_QKV: return d->QKV;
    case DIM_Q_KV: return (int64_t)d->Q + d->KV;
    case DIM_NH_NKV: return (int64_t)d->NH + d->NKV;
    case DIM_I: return d->I;
    case DIM_FC: return d->FC;
    case DIM_T: return T;
    case DIM_NH_T: return (int64_t)d->NH * T;
    case DIM_SCRATCH: return (int64_t)RELP_PANEL * RELP_XWT_CHUNK;
    case DIM_COUNT: break;
    }
    return 0;
}

/* ------------------------------------------------------------ parameters */

#define LF(f) (uint16_t) offsetof(struct relp_layer, f)
#define MF(f) (uint16_t) offsetof(struct relp_model, f)
/* a model-wide tensor, a per-layer vector, a per-layer packed matrix */
#define GLOBAL(nm, f, store, layout, rows, cols, cond, init) \
    {nm, 0, MF(f), 0, store, layout, MAP_NONE, cond, init, rows, cols, DIM_ZERO, cols, cols}
#define VEC(nm, f, n, cond, init) {nm, 1, LF(f), 0, STORE_F32, LAYOUT_1D, MAP_NONE, cond, init, DIM_ONE, n, DIM_ZERO, n, n}
#define VECP(nm, f, cols, off, n, src, map, cond) {nm, 1, LF(f), 0, STORE_F32, LAYOUT_1D, map, cond, INIT_NORMAL, DIM_ONE, cols, off, n, src}
#define MAT(nm, f, ft, layout, K, O, off, n, src, map) \
    {nm, 1, LF(f), LF(ft), STORE_PACKED, layout, map, IF_ALWAYS, INIT_NORMAL, K, O, off, n, src}

/* GPT-2 (modeling_gpt2.py): Conv1D weights (in, out), c_attn fused q | k | v. */
static const struct relp_param_spec gpt2_params[] = {
    GLOBAL("wte.weight", wte, STORE_ROWS, LAYOUT_2D, DIM_V, DIM_C, IF_ALWAYS, INIT_NORMAL),
    GLOBAL("wpe.weight", wpe, STORE_F32, LAYOUT_2D, DIM_NPOS, DIM_C, IF_ALWAYS, INIT_NORMAL),
    GLOBAL("ln_f.weight", lnf_g, STORE_F32, LAYOUT_1D, DIM_ONE, DIM_C, IF_ALWAYS, INIT_GAIN),
    GLOBAL("ln_f.bias", lnf_b, STORE_F32, LAYOUT_1D, DIM_ONE, DIM_C, IF_ALWAYS, INIT_NORMAL),
    GLOBAL("lm_head.weight", wu, STORE_ROWS, LAYOUT_2D, DIM_V, DIM_C, IF_UNTIED, INIT_NORMAL),
    VEC("ln_1.weight", ln1_g, DIM_C, IF_ALWAYS, INIT_GAIN),
    VEC("ln_1.bias", ln1_b, DIM_C, IF_ALWAYS, INIT_NORMAL),
    MAT("attn.c_attn.weight", w_qkv, wt_qkv, LAYOUT_2D, DIM_C, DIM_QKV, DIM_ZERO, DIM_QKV, DIM_QKV, MAP_NONE),
    VEC("attn.c_attn.bias", b_qkv, DIM_QKV, IF_ALWAYS, INIT_NORMAL),
    MAT("attn.c_proj.weight", w_o, wt_o, LAYOUT_2D, DIM_Q, DIM_C, DIM_ZERO, DIM_C, DIM_C, MAP_NONE),
    VEC("attn.c_proj.bias", b_o, DIM_C, IF_ALWAYS, INIT_NORMAL),
    VEC("ln_2.weight", ln2_g, DIM_C, IF_ALWAYS, INIT_GAIN),
    VEC("ln_2.bias", ln2_b, DIM_C, IF_ALWAYS, INIT_NORMAL),
    MAT("mlp.c_fc.weight", w_fc, wt_fc, LAYOUT_2D, DIM_C, DIM_FC, DIM_ZERO, DIM_FC, DIM_FC, MAP_NONE),
    VEC("mlp.c_fc.bias", b_fc, DIM_FC, IF_ALWAYS, INIT_NORMAL),
    MAT("mlp.c_proj.weight", w_mp, wt_mp, LAYOUT_2D, DIM_I, DIM_C, DIM_ZERO, DIM_C, DIM_C, MAP_NONE),
    VEC("mlp.c_proj.bias", b_mp, DIM_C, IF_ALWAYS, INIT_NORMAL),
};
static const char *const gpt2_ignored[] = {"attn.bias", "attn.masked_bias", NULL};

/* The Llama family (modeling_llama.py, qwen2, qwen3): nn.Linear weights (out,
 * in); q_proj | k_proj | v_proj fused into w_qkv, gate_proj | up_proj into
 * w_fc. Biases: qwen2's q/k/v always, otherwise as config.json's
 * attention_bias / mlp_bias; qwen3 adds q_norm and k_norm. */
#define QKV(nm, off, n) MAT(nm, w_qkv, wt_qkv, LAYOUT_T2D, DIM_C, DIM_QKV, off, n, n, MAP_NONE)
#define QKVB(nm, off, n, cond) VECP(nm, b_qkv, DIM_QKV, off, n, n, MAP_NONE, cond)
static const struct relp_param_spec llama_params[] = {
    GLOBAL("embed_tokens.weight", wte, STORE_ROWS, LAYOUT_2D, DIM_V, DIM_C, IF_ALWAYS, INIT_NORMAL),
    GLOBAL("norm.weight", lnf_g, STORE_F32, LAYOUT_1D, DIM_ONE, DIM_C, IF_ALWAYS, INIT_GAIN),
    GLOBAL("lm_head.weight", wu, STORE_ROWS, LAYOUT_2D, DIM_V, DIM_C, IF_UNTIED, INIT_NORMAL),
    VEC("input_layernorm.weight", ln1_g, DIM_C, IF_ALWAYS, INIT_GAIN),
    QKV("self_attn.q_proj.weight", DIM_ZERO, DIM_Q),
    QKV("self_attn.k_proj.weight", DIM_Q, DIM_KV),
    QKV("self_attn.v_proj.weight", DIM_Q_KV, DIM_KV),
    QKVB("self_attn.q_proj.bias", DIM_ZERO, DIM_Q, IF_QKV_BIAS),
    QKVB("self_attn.k_proj.bias", DIM_Q, DIM_KV, IF_QKV_BIAS),
    QKVB("self_attn.v_proj.bias", DIM_Q_KV, DIM_KV, IF_QKV_BIAS),
    VEC("self_attn.q_norm.weight", q_norm, DIM_HS, IF_QK_NORM, INIT_GAIN),
    VEC("self_attn.k_norm.weight", k_norm, DIM_HS, IF_QK_NORM, INIT_GAIN),
    MAT("self_attn.o_proj.weight", w_o, wt_o, LAYOUT_T2D, DIM_Q, DIM_C, DIM_ZERO, DIM_C, DIM_C, MAP_NONE),
    VEC("self_attn.o_proj.bias", b_o, DIM_C, IF_O_BIAS, INIT_NORMAL),
    VEC("post_attention_layernorm.weight", ln2_g, DIM_C, IF_ALWAYS, INIT_GAIN),
    MAT("mlp.gate_proj.weight", w_fc, wt_fc, LAYOUT_T2D, DIM_C, DIM_FC, DIM_ZERO, DIM_I, DIM_I, MAP_NONE),
    MAT("mlp.up_proj.weight", w_fc, wt_fc, LAYOUT_T2D, DIM_C, DIM_FC, DIM_I, DIM_I, DIM_I, MAP_NONE),
    VECP("mlp.gate_proj.bias", b_fc, DIM_FC, DIM_ZERO, DIM_I, DIM_I, MAP_NONE, IF_MLP_BIAS),
    VECP("mlp.up_proj.bias", b_fc, DIM_FC, DIM_I, DIM_I, DIM_I, MAP_NONE, IF_MLP_BIAS),
    MAT("mlp.down_proj.weight", w_mp, wt_mp, LAYOUT_T2D, DIM_I, DIM_C, DIM_ZERO, DIM_C, DIM_C, MAP_NONE),
    VEC("mlp.down_proj.bias", b_mp, DIM_C, IF_MLP_BIAS, INIT_NORMAL),
};
static const char *const llama_ignored[] = {"self_attn.rotary_emb.inv_freq", NULL};
#undef QKV
#undef QKVB

/* GPT-NeoX (modeling_gpt_neox.py): query_key_value (3C, C) holds, per head,
 * [q | k | v] (HS each); it is read into w_qkv's q | k | v layout. */
#define NQKV(map, off) MAT("attention.query_key_value.weight", w_qkv, wt_qkv, LAYOUT_T2D, DIM_C, DIM_QKV, off, DIM_Q, DIM_QKV, map)
#define NQKVB(map, off) VECP("attention.query_key_value.bias", b_qkv, DIM_QKV, off, DIM_Q, DIM_QKV, map, IF_QKV_BIAS)
static const struct relp_param_spec neox_params[] = {
    GLOBAL("embed_in.weight", wte, STORE_ROWS, LAYOUT_2D, DIM_V, DIM_C, IF_ALWAYS, INIT_NORMAL),
    GLOBAL("final_layer_norm.weight", lnf_g, STORE_F32, LAYOUT_1D, DIM_ONE, DIM_C, IF_ALWAYS, INIT_GAIN),
    GLOBAL("final_layer_norm.bias", lnf_b, STORE_F32, LAYOUT_1D, DIM_ONE, DIM_C, IF_ALWAYS, INIT_NORMAL),
    GLOBAL("embed_out.weight", wu, STORE_ROWS, LAYOUT_2D, DIM_V, DIM_C, IF_UNTIED, INIT_NORMAL),
    VEC("input_layernorm.weight", ln1_g, DIM_C, IF_ALWAYS, INIT_GAIN),
    VEC("input_layernorm.bias", ln1_b, DIM_C, IF_ALWAYS, INIT_NORMAL),
    NQKV(MAP_NEOX_Q, DIM_ZERO),
    NQKV(MAP_NEOX_K, DIM_Q),
    NQKV(MAP_NEOX_V, DIM_Q_KV),
    NQKVB(MAP_NEOX_Q, DIM_ZERO),
    NQKVB(MAP_NEOX_K, DIM_Q),
    NQKVB(MAP_NEOX_V, DIM_Q_KV),
    MAT("attention.dense.weight", w_o, wt_o, LAYOUT_T2D, DIM_Q, DIM_C, DIM_ZERO, DIM_C, DIM_C, MAP_NONE),
    VEC("attention.dense.bias", b_o, DIM_C, IF_O_BIAS, INIT_NORMAL),
    VEC("post_attention_layernorm.weight", ln2_g, DIM_C, IF_ALWAYS, INIT_GAIN),
    VEC("post_attention_layernorm.bias", ln2_b, DIM_C, IF_ALWAYS, INIT_NORMAL),
    MAT("mlp.dense_h_to_4h.weight", w_fc, wt_fc, LAYOUT_T2D, DIM_C, DIM_FC, DIM_ZERO, DIM_FC, DIM_FC, MAP_NONE),
    VEC("mlp.dense_h_to_4h.bias", b_fc, DIM_FC, IF_ALWAYS, INIT_NORMAL),
    MAT("mlp.dense_4h_to_h.weight", w_mp, wt_mp, LAYOUT_T2D, DIM_I, DIM_C, DIM_ZERO, DIM_C, DIM_C, MAP_NONE),
    VEC("mlp.dense_4h_to_h.bias", b_mp, DIM_C, IF_ALWAYS, INIT_NORMAL),
};
static const char *const neox_ignored[] = {"attention.bias", "attention.masked_bias", "attention.rotary_emb.inv_freq",
                                           NULL};
#undef NQKV
#undef NQKVB

static const struct relp_arch_spec archs[] = {
    {RELP_ARCH_GPT2, "gpt2", "GPT2", "transformer.", gpt2_params, (int32_t)(sizeof gpt2_params / sizeof gpt2_params[0]),
     gpt2_ignored, "h.%d.",
     {[DIM_C] = "n_embd", [DIM_V] = "vocab_size", [DIM_NPOS] = "n_positions", [DIM_HS] = "n_embd / n_head",
      [DIM_Q] = "n_embd", [DIM_KV] = "n_embd", [DIM_QKV] = "3 x n_embd", [DIM_I] = "n_inner", [DIM_FC] = "n_inner"},
     0, 0, 0, 0, 1, 0, ACT_GELU_TANH},
#define LLAMA_KEYS                                                                                                     \
    {[DIM_C] = "hidden_size", [DIM_V] = "vocab_size", [DIM_NPOS] = "max_position_embeddings", [DIM_HS] = "head_dim",  \
     [DIM_Q] = "num_attention_heads x head_dim", [DIM_KV] = "num_key_value_heads x head_dim",                         \
     [DIM_QKV] = "(num_attention_heads + 2 num_key_value_heads) x head_dim", [DIM_I] = "intermediate_size",             \
     [DIM_FC] = "2 x intermediate_size"}
#define N_LLAMA (int32_t)(sizeof llama_params / sizeof llama_params[0])
    /* arch, model_type, architectures, prefix, params, ignored, layer_fmt, keys, rms gated rope qknorm qkvbias parallel act */
    {RELP_ARCH_LLAMA, "llama", "Llama", "model.", llama_params, N_LLAMA, llama_ignored, "layers.%d.", LLAMA_KEYS,
     1, 1, 1, 0, 0, 0, ACT_SILU},
    {RELP_ARCH_QWEN2, "qwen2", "Qwen2", "model.", llama_params, N_LLAMA, llama_ignored, "layers.%d.", LLAMA_KEYS,
     1, 1, 1, 0, 1, 0, ACT_SILU},
    {RELP_ARCH_QWEN3, "qwen3", "Qwen3", "model.", llama_params, N_LLAMA, llama_ignored, "layers.%d.", LLAMA_KEYS,
     1, 1, 1, 1, 0, 0, ACT_SILU},
    {RELP_ARCH_GPT_NEOX, "gpt_neox", "GPTNeoX", "gpt_neox.", neox_params,
     (int32_t)(sizeof neox_params / sizeof neox_params[0]), neox_ignored, "layers.%d.",
     {[DIM_C] = "hidden_size", [DIM_V] = "vocab_size", [DIM_NPOS] = "max_position_embeddings",
      [DIM_HS] = "hidden_size / num_attention_heads", [DIM_Q] = "hidden_size", [DIM_KV] = "hidden_size",
      [DIM_QKV] = "3 x hidden_size", [DIM_I] = "intermediate_size", [DIM_FC] = "intermediate_size"},
     0, 0, 1, 0, 0, 1, ACT_GELU},
#undef LLAMA_KEYS
#undef N_LLAMA
};

#undef LF
#undef MF
#undef GLOBAL
#undef VEC
#undef VECP
#undef MAT

const struct relp_arch_spec *relp__arch(enum relp_arch arch) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (archs[i].arch == arch) return &archs[i];
    return NULL;
}

const struct relp_arch_spec *relp__arch_by_type(const char *model_type) {
    for (size_t i = 0; model_type && i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].model_type, model_type) == 0) return &archs[i];
    return NULL;
}

const char *relp__arch_list(void) {
    static char list[128];
    if (!list[0]) {
        size_t o = 0;
        for (size_t i = 0; i < sizeof archs / sizeof archs[0] && o < sizeof list; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s\"%s\"", i ? ", " : "", archs[i].model_type);
    }
    return list;
}

const char *relp_arch_name(int32_t arch) {
    const struct relp_arch_spec *a = relp__arch((enum relp_arch)arch);
    return a ? a->model_type : NULL;
}

int relp__param_present(const struct relp_param_spec *p, const struct relp_config *c) {
    const struct relp_arch_spec *a = relp__arch(c->arch);
    switch ((enum relp_cond)p->cond) {
    case IF_ALWAYS: return 1;
    case IF_UNTIED: return c->untied_embeddings != 0;
    case IF_QKV_BIAS: return a->qkv_bias || c->attention_bias;
    case IF_O_BIAS: return c->attention_bias != 0;
    case IF_MLP_BIAS: return c->mlp_bias != 0;
    case IF_QK_NORM: return a->qk_norm;
    }
    return 0;
}

/* ---------------------------------------------------------------- buffers */

#define AF(f) (uint16_t) offsetof(struct relp_acts, f)
#define GF(f) (uint16_t) offsetof(struct relp_grads, f)

static const struct relp_buf_spec act_bufs[] = {
    {AF(resid), 2, ROWS_BT, DIM_C, BUF_ALWAYS},
    {AF(ln1_mean), 1, ROWS_BT, DIM_ONE, BUF_ALWAYS},
    {AF(ln1_rstd), 1, ROWS_BT, DIM_ONE, BUF_ALWAYS},
    {AF(ln1_out), 0, ROWS_BT, DIM_C, BUF_ALWAYS},
    {AF(qkv), 1, ROWS_BT, DIM_QKV, BUF_ALWAYS},
    {AF(qk_pre), 1, ROWS_BT, DIM_Q_KV, BUF_QK_NORM},
    {AF(qk_rstd), 1, ROWS_BT, DIM_NH_NKV, BUF_QK_NORM},
    {AF(att), 1, ROWS_BT, DIM_NH_T, BUF_ALWAYS},
    {AF(z), 1, ROWS_BT, DIM_Q, BUF_ALWAYS},
    {AF(attn_out), 1, ROWS_BT, DIM_C, BUF_ALWAYS},
    {AF(resid_mid), 1, ROWS_BT, DIM_C, BUF_SEQUENTIAL},
    {AF(ln2_mean), 1, ROWS_BT, DIM_ONE, BUF_ALWAYS},
    {AF(ln2_rstd), 1, ROWS_BT, DIM_ONE, BUF_ALWAYS},
    {AF(ln2_out), 0, ROWS_BT, DIM_C, BUF_ALWAYS},
    {AF(fc_pre), 1, ROWS_BT, DIM_FC, BUF_ALWAYS},
    {AF(fc_post), 1, ROWS_BT, DIM_I, BUF_ALWAYS},
    {AF(mlp_out), 1, ROWS_BT, DIM_C, BUF_ALWAYS},
    {AF(lnf_mean), 0, ROWS_BT, DIM_ONE, BUF_ALWAYS},
    {AF(lnf_rstd), 0, ROWS_BT, DIM_ONE, BUF_ALWAYS},
    {AF(lnf_out), 0, ROWS_BT, DIM_C, BUF_ALWAYS},
};

static const struct relp_buf_spec grad_bufs[] = {
    {GF(resid), 2, ROWS_BT, DIM_C, BUF_ALWAYS},
    {GF(resid_mid), 1, ROWS_BT, DIM_C, BUF_SEQUENTIAL},
    {GF(z), 1, ROWS_BT, DIM_Q, BUF_ALWAYS},
    {GF(fc), 0, ROWS_BT, DIM_FC, BUF_ALWAYS},
    {GF(mlp_post), 1, ROWS_BT, DIM_I, BUF_ALWAYS},
    {GF(qkv), 0, ROWS_BT, DIM_QKV, BUF_ALWAYS},
    {GF(qk), 0, ROWS_BT, DIM_Q_KV, BUF_QK_NORM},
    {GF(h), 0, ROWS_BT, DIM_C, BUF_ALWAYS},
    {GF(att_row), 0, ROWS_THREADS, DIM_T, BUF_ALWAYS},
    {GF(mm_scratch), 0, ROWS_THREADS, DIM_SCRATCH, BUF_ALWAYS},
};

const struct relp_buf_spec *relp__bufs(int grads, int32_t *n) {
    *n = grads ? (int32_t)(sizeof grad_bufs / sizeof grad_bufs[0]) : (int32_t)(sizeof act_bufs / sizeof act_bufs[0]);
    return grads ? grad_bufs : act_bufs;
}

int relp__buf_present(const struct relp_buf_spec *b, const struct relp_model *m) {
    switch ((enum relp_buf_cond)b->cond) {
    case BUF_ALWAYS: return 1;
    case BUF_SEQUENTIAL: return !m->parallel;
    case BUF_QK_NORM: return m->qk_norm;
    }
    return 0;
}

/* ------------------------------------------------------------------ nodes */

/* A sequential block: x + attn(norm1(x)) = resid_mid, resid_mid + mlp(norm2(resid_mid)). */
static const struct relp_node_spec sequential_nodes[] = {
    {RELP_NODE_RESID_PRE, AF(resid), GF(resid), 0, 1, DIM_C, 0},
    {RELP_NODE_ATTN_Z, AF(z), GF(z), 0, 0, DIM_Q, 1},
    {RELP_NODE_ATTN_OUT, AF(attn_out), GF(resid_mid), 0, 0, DIM_C, 2},
    {RELP_NODE_RESID_MID, AF(resid_mid), GF(resid_mid), 0, 0, DIM_C, 3},
    {RELP_NODE_MLP_OUT, AF(mlp_out), GF(resid), 1, 0, DIM_C, 4},
    {RELP_NODE_MLP_POST, AF(fc_post), GF(mlp_post), 0, 0, DIM_I, 4},
};
/* A parallel block (gpt_neox): x + attn(norm1(x)) + mlp(norm2(x)); both
 * branch outputs get the next residual's coefficient. No resid_mid. */
static const struct relp_node_spec parallel_nodes[] = {
    {RELP_NODE_RESID_PRE, AF(resid), GF(resid), 0, 1, DIM_C, 0},
    {RELP_NODE_ATTN_Z, AF(z), GF(z), 0, 0, DIM_Q, 1},
    {RELP_NODE_ATTN_OUT, AF(attn_out), GF(resid), 1, 0, DIM_C, 2},
    {RELP_NODE_MLP_OUT, AF(mlp_out), GF(resid), 1, 0, DIM_C, 4},
    {RELP_NODE_MLP_POST, AF(fc_post), GF(mlp_post), 0, 0, DIM_I, 4},
};

#undef AF
#undef GF

const struct relp_node_spec *relp__node(const struct relp_model *m, enum relp_node node) {
    const struct relp_node_spec *t = m->parallel ? parallel_nodes : sequential_nodes;
    const size_t n = m->parallel ? sizeof parallel_nodes / sizeof parallel_nodes[0]
                                 : sizeof sequential_nodes / sizeof sequential_nodes[0];
    for (size_t i = 0; i < n; i++)
        if (t[i].node == node) return &t[i];
    return NULL;
}
