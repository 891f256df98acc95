/* relp.h - transformer language models in portable C (GPT-2, the Llama
 * family: Llama 2/3, SmolLM2, Qwen2, Qwen3, and GPT-NeoX: Pythia), with an
 * exact forward pass, activation patching and one backward pass whose local
 * rules can be switched between the exact gradient and LRP rules (Relevance
 * Patching).
 *
 * USAGE
 *
 *     struct relp_model *model = NULL;
 *     struct relp_load_params lp = relp_load_default_params();
 *     if (relp_model_init_from_dir(&model, "models-small/ioi-4l", &lp) != RELP_STATUS_OK) {
 *         fprintf(stderr, "%s\n", relp_last_error(model));   // model may be NULL: still fine
 *         relp_model_free(model);
 *         return 1;
 *     }
 *     struct relp_ctx_params cp = relp_ctx_default_params();
 *     cp.max_batch = 1; cp.max_tokens = 64;
 *     struct relp_ctx *ctx = NULL;
 *     relp_ctx_init(&ctx, model, &cp);
 *     int32_t toks[64]; int64_t n = 0;
 *     relp_tokenize(model, "When John and Mary went to the shops,", -1, 1, toks, 64, &n);
 *     relp_forward(ctx, toks, 1, (int32_t)n);                // caches every node
 *     const float *logits = relp_ctx_logits(ctx, NULL);      // (B, V) at the last position
 *     int32_t mary = 5335, john = 1757;                      // " Mary", " John" in GPT-2's vocabulary
 *     printf("logit(Mary) - logit(John) = %.3f\n", logits[mary] - logits[john]);
 *     struct relp_metric m = { RELP_METRIC_LOGIT_DIFF, &mary, &john, 1.0f };
 *     relp_backward(ctx, &m, relp_rules_preset("grad"), NULL); // gradient at every node
 *     const float *g = relp_ctx_node_grad(ctx, RELP_NODE_RESID_PRE, 3); // (B, T, C)
 *     printf("its gradient at resid_pre[3], last position, dim 0: %g\n",
 *            g[(n - 1) * relp_model_config(model)->n_embd]);
 *     relp_ctx_free(ctx);
 *     relp_model_free(model);
 *
 *   Relevance patching of the residual stream for a clean / corrupted pair
 *   (scores (L, T) in units of the normalised metric; see METHODS below):
 *
 *     struct relp_attr_params ap = relp_attr_default_params();
 *     ap.method = RELP_METHOD_GRAD;                 // AtP with "grad", RelP with an LRP preset
 *     ap.rules = *relp_rules_preset("relp");
 *     ap.node = RELP_NODE_RESID_PRE;
 *     relp_attribute(ctx, clean_ids, corrupt_ids, 1, n, &m, &ap, scores, &m_clean, &m_corrupt);
 *
 * CONCEPTS
 *   relp_model  immutable weights + tokenizer. Loaded once, shareable between
 *               threads, each of which owns its own relp_ctx.
 *   relp_ctx    one computation: activations cached by the forward pass
 *               (B x T tokens), gradients/LRP coefficients of the backward
 *               pass, scratch. Laid out once at relp_ctx_init; nothing is
 *               allocated inside forward or backward.
 *   node        an activation the forward pass caches and the backward pass
 *               returns a coefficient for: resid_pre[l] (l = 0..L, L being the
 *               input of the final norm), attn_out[l], mlp_out[l],
 *               resid_mid[l] (sequential blocks only: GPT-NeoX's parallel
 *               block has none) and the per-head attention output z[l]
 *               (B, T, NH*HS) before W_O, one per query head (with
 *               grouped-query attention NH query heads share NKV key/value
 *               heads). A head's own contribution to attn_out is z_h W_O[h]
 *               (relp_ctx_head_result).
 *   arch        config.json's model_type: "gpt2", "llama", "qwen2", "qwen3",
 *               "gpt_neox" (enum relp_arch). Each is one table of parameters
 *               (core/arch.c); the rules act on the parts it has.
 *
 * ERRORS
 *   Every function returns enum relp_status (RELP_STATUS_OK == 0). The text
 *   of the last error is kept on the model (relp_last_error) and on the
 *   context (relp_ctx_last_error), overwritten by the next failing call. The
 *   library never prints, never exits and never aborts on bad input.
 *
 * OWNERSHIP AND LIFETIMES
 *   - relp_model_init_from_dir memory-maps or reads the files and owns them.
 *   - relp_model_init_from_memory BORROWS the buffers: they must stay valid
 *     and unchanged until relp_model_free (tensors already in the in-memory
 *     dtype may be used in place, with no copy - the browser's one-copy load
 *     relies on it).
 *   - Pointers returned by relp_ctx_* getters are views into the context,
 *     valid until the next call that runs the context or relp_ctx_free.
 *
 * THREADS
 *   A relp_model may be used by many contexts at once. A relp_ctx must not be
 *   used by two threads at once; it may run its own worker threads
 *   (relp_ctx_params.n_threads: native builds with pthreads, and the
 *   threaded WebAssembly module relp_engine_mt). Work is split by index
 *   only, so results are bit-identical for every thread count.
 */
#ifndef RELP_H
#define RELP_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32) && defined(RELP_SHARED)
#define RELP_API __declspec(dllexport)
#elif defined(__GNUC__)
#define RELP_API __attribute__((visibility("default")))
#else
#define RELP_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum relp_status {
    RELP_STATUS_OK = 0,
    RELP_STATUS_IO = -1,            /* file missing or unreadable */
    RELP_STATUS_BAD_FORMAT = -2,    /* file is not what it should be (JSON, safetensors, BPE) */
    RELP_STATUS_BAD_MODEL = -3,     /* not a checkpoint relp runs, or inconsistent tensors */
    RELP_STATUS_BAD_ARGUMENT = -4,  /* caller passed something out of range */
    RELP_STATUS_ALLOC_FAILED = -5,
    RELP_STATUS_NO_TOKENIZER = -6,  /* model loaded without vocab/merges files */
    RELP_STATUS_CANCELLED = -7
};

enum relp_dtype { RELP_DTYPE_F32 = 0, RELP_DTYPE_F16 = 1, RELP_DTYPE_BF16 = 2 };

/* The architectures relp runs, chosen by config.json's "model_type"; each is
 * one table of parameters and cached nodes in core/arch.c. */
enum relp_arch {
    RELP_ARCH_GPT2 = 0,     /* "gpt2": LayerNorm, learned positions, GELU (tanh), fused c_attn, tied */
    RELP_ARCH_LLAMA = 1,    /* "llama" (Llama 2/3, SmolLM2): RMSNorm, RoPE, grouped-query attention, SwiGLU */
    RELP_ARCH_QWEN2 = 2,    /* "qwen2": llama with q, k and v biases */
    RELP_ARCH_QWEN3 = 3,    /* "qwen3": llama with a per-head RMSNorm on q and k */
    RELP_ARCH_GPT_NEOX = 4  /* "gpt_neox" (Pythia): LayerNorm, partial RoPE, parallel attention + MLP, GELU */
};

/* RoPE frequency scaling (config.json "rope_scaling" / "rope_parameters") */
enum relp_rope_scaling { RELP_ROPE_SCALING_NONE = 0, RELP_ROPE_SCALING_LINEAR = 1, RELP_ROPE_SCALING_LLAMA3 = 2 };

/* A model's shape. The first six fields are GPT-2's; the others default
 * when zero (so a GPT-2 config may leave them out): n_kv_head = n_head,
 * head_dim = n_embd / n_head, n_inner = 4 n_embd, rotary_dim = head_dim
 * (RoPE architectures), rope_theta = 10000. The flags after them are read
 * only by the architectures where config.json makes them optional. */
struct relp_config {
    int32_t n_layer;      /* L */
    int32_t n_head;       /* NH: query heads */
    int32_t n_embd;       /* C */
    int32_t n_positions;  /* max T */
    int32_t vocab_size;   /* V */
    float layer_norm_epsilon; /* LayerNorm or RMSNorm epsilon */
    enum relp_arch arch;
    int32_t n_kv_head;    /* NKV: key/value heads (grouped-query attention when < n_head) */
    int32_t head_dim;     /* HS */
    int32_t n_inner;      /* MLP width (intermediate_size) */
    int32_t rotary_dim;   /* dimensions of each head that RoPE rotates (gpt_neox: rotary_pct * head_dim) */
    float rope_theta;     /* RoPE base */
    enum relp_rope_scaling rope_scaling;
    float rope_factor;            /* linear and llama3 */
    float rope_low_freq_factor;   /* llama3 */
    float rope_high_freq_factor;  /* llama3 */
    int32_t rope_original_max_positions; /* llama3 */
    int32_t untied_embeddings;    /* 1: a separate unembedding (lm_head / embed_out) */
    int32_t attention_bias;       /* llama, gpt_neox: biases on the attention projections */
    int32_t mlp_bias;             /* llama: biases on the MLP projections */
    int32_t sequential_residual;  /* gpt_neox: use_parallel_residual = false */
    int32_t gelu_tanh;            /* gpt_neox: hidden_act "gelu_new" (tanh approximation) instead of "gelu" */
};

struct relp_model;
struct relp_ctx;
struct relp_ctx_params;

/* ---------------------------------------------------------------- loading */

struct relp_load_params {
    enum relp_dtype weight_dtype; /* in-memory dtype of the large matrices: F32 (default), F16 or BF16 */
    int32_t use_mmap;             /* map checkpoint files instead of reading them (default 1) */
    int32_t require_tokenizer;    /* fail if vocab/merges are missing (default 0) */
    int32_t transposed_copy;      /* keep a transposed copy of each block matrix: the backward pass then runs
                                     as fast as the forward one, for twice the block weights' memory
                                     (default 1 natively, 0 in WebAssembly) */
};
RELP_API struct relp_load_params relp_load_default_params(void);

/* A named in-memory file, for relp_model_init_from_memory. Names are the
 * checkpoint's file names: "config.json", "model.safetensors" (or shard
 * names with "model.safetensors.index.json"), "tokenizer.json" (+
 * "tokenizer_config.json"), "vocab.json" + "merges.txt" or "encoder.json" +
 * "vocab.bpe". */
struct relp_file {
    const char *name;
    const void *data;
    size_t size;
};

/* Loads a Hugging Face checkpoint directory (config.json, model.safetensors
 * or its shards, and tokenizer.json (+ tokenizer_config.json) or GPT-2's
 * vocab.json + merges.txt; a gpt2 checkpoint prefers the latter, the others
 * tokenizer.json). On failure *out may still
 * hold a model object carrying the error text (read it with relp_last_error,
 * then relp_model_free it). Returns RELP_STATUS_OK on success. */
RELP_API enum relp_status relp_model_init_from_dir(struct relp_model **out, const char *dir,
                                                    const struct relp_load_params *params);
/* The same from buffers the caller keeps alive until relp_model_free. */
RELP_API enum relp_status relp_model_init_from_memory(struct relp_model **out, const struct relp_file *files,
                                                       int32_t n_files, const struct relp_load_params *params);
/* Random weights in memory (N(0, 0.02), LN gamma 1 + noise), for benchmarks
 * and tests. Tokenizer files, if given, are attached (may be NULL/0). */
RELP_API enum relp_status relp_model_init_random(struct relp_model **out, const struct relp_config *config,
                                                  uint64_t seed, const struct relp_load_params *params);
/* Parses a random shape's name: relp_shape_name(i) lists them (e.g.
 * "gpt2-small-random", "llama3-1b-random", "pythia-160m-random"), or
 * "random:L,C,NH" (GPT-2). Returns 1 and fills *config on a match. */
RELP_API int32_t relp_config_from_shape_name(const char *name, struct relp_config *config);
/* Reads a config.json of any supported architecture into *config, without
 * weights (what a page checks before it downloads them). Returns
 * RELP_STATUS_OK, or a status with a message naming the file (its name
 * field) in err (cap bytes). */
RELP_API enum relp_status relp_config_from_json(const struct relp_file *config_json, struct relp_config *config,
                                                 char *err, size_t cap);
/* The parameters a model of this config has, and the bytes its weights take
 * in memory with matrices of this dtype (transposed_copy: with the backward
 * pass's transposed copies, relp_load_params). -1 for a config that is not
 * valid. */
RELP_API int64_t relp_config_n_params(const struct relp_config *config);
RELP_API int64_t relp_config_weight_bytes(const struct relp_config *config, enum relp_dtype weights,
                                          int32_t transposed_copy);
/* Bytes relp_ctx_init would allocate for these params on a model of this config (relp_ctx_mem_required without
 * the weights); 0 for a config that is not valid. */
RELP_API size_t relp_config_ctx_mem_required(const struct relp_config *config, const struct relp_ctx_params *params);
/* Attaches a tokenizer to a model that has none (e.g. a random one):
 * GPT-2's vocab.json + merges.txt, or a tokenizer.json with its
 * tokenizer_config.json (which may be NULL). A tokenizer with more tokens
 * than the model's vocabulary (another model's: GPT-2's on a SmolLM2) is
 * refused with RELP_STATUS_BAD_ARGUMENT, the message naming both sizes. */
RELP_API enum relp_status relp_model_attach_tokenizer(struct relp_model *model, const struct relp_file *vocab,
                                                       const struct relp_file *merges);
RELP_API enum relp_status relp_model_attach_tokenizer_json(struct relp_model *model,
                                                            const struct relp_file *tokenizer_json,
                                                            const struct relp_file *tokenizer_config);
RELP_API void relp_model_free(struct relp_model *model);

RELP_API const struct relp_config *relp_model_config(const struct relp_model *model);
RELP_API int64_t relp_model_n_params(const struct relp_model *model);
RELP_API size_t relp_model_weight_bytes(const struct relp_model *model); /* resident weight bytes */
RELP_API enum relp_dtype relp_model_weight_dtype(const struct relp_model *model);
RELP_API enum relp_dtype relp_model_file_dtype(const struct relp_model *model);
/* Last error text for this model; also works on NULL (then: the last error of
 * a load that could not even create a model object, thread-local). */
RELP_API const char *relp_last_error(const struct relp_model *model);
RELP_API const char *relp_status_str(enum relp_status status);

/* -------------------------------------------------------------- tokenizer */

#define RELP_TOKEN_EOT 50256 /* GPT-2's <|endoftext|>, prepended as BOS */

/* Encodes UTF-8 text (len < 0: NUL-terminated). Invalid UTF-8 is encoded
 * byte by byte and never fails. add_bos = 1 prepends the model's BOS as its
 * tokenizer files say: GPT-2's vocab.json + merges.txt: <|endoftext|>
 * (TransformerLens' convention); tokenizer.json: the post-processor
 * template's prefix, or tokenizer_config.json's bos_token when its
 * add_bos_token is true; nothing when neither (relp_token_bos says which).
 * Writes at most cap ids; *n_out receives the full count even when it
 * exceeds cap (then RELP_STATUS_BAD_ARGUMENT is returned). */
RELP_API enum relp_status relp_tokenize(struct relp_model *model, const char *text, int64_t len, int32_t add_bos,
                                         int32_t *ids, int64_t cap, int64_t *n_out);
/* The token add_bos = 1 prepends, or -1 when it prepends none. */
RELP_API int32_t relp_token_bos(const struct relp_model *model);
/* The bytes of one token (not NUL-terminated); NULL for an out-of-range id. */
RELP_API const char *relp_token_bytes(const struct relp_model *model, int32_t id, int32_t *n_bytes);
RELP_API int32_t relp_has_tokenizer(const struct relp_model *model);

/* ---------------------------------------------------------------- context */

struct relp_ctx_params {
    int32_t max_batch;   /* B capacity (default 1) */
    int32_t max_tokens;  /* T capacity (default: min(n_positions, 128)) */
    int32_t n_threads;   /* threads, the caller included (default 1); where threads are unavailable, 1 */
    int32_t scratch_kb;  /* what one method call may allocate beyond the context, KiB (default 1 GiB, 256 MiB in
                            WebAssembly): every edge's score (relp_attribute_edges) works in row chunks beyond it */
};
RELP_API struct relp_ctx_params relp_ctx_default_params(void);
/* Bytes relp_ctx_init would allocate for these params. */
RELP_API size_t relp_ctx_mem_required(const struct relp_model *model, const struct relp_ctx_params *params);
RELP_API enum relp_status relp_ctx_init(struct relp_ctx **out, const struct relp_model *model,
                                         const struct relp_ctx_params *params);
RELP_API void relp_ctx_free(struct relp_ctx *ctx);
/* The threads the context runs on (the caller included): n_threads, or fewer where the build has no
 * threads or the system gave fewer. */
RELP_API int32_t relp_ctx_threads(const struct relp_ctx *ctx);
RELP_API const char *relp_ctx_last_error(const struct relp_ctx *ctx);
/* Long loops poll this; a non-zero return stops them with RELP_STATUS_CANCELLED. */
RELP_API void relp_ctx_set_cancel(struct relp_ctx *ctx, int32_t (*cancel)(void *user), void *user);

enum relp_node {
    RELP_NODE_RESID_PRE = 0, /* layer 0..L; resid_pre[L] is the input of ln_f */
    RELP_NODE_ATTN_Z = 1,    /* per-head attention output before W_O, (B, T, NH*HS) */
    RELP_NODE_ATTN_OUT = 2,
    RELP_NODE_RESID_MID = 3,
    RELP_NODE_MLP_OUT = 4,
    RELP_NODE_MLP_POST = 5   /* neurons: the MLP's hidden activation after its activation function (gated MLPs:
                                act(gate) * up), (B, T, I); TransformerLens's blocks.L.mlp.hook_post */
};

/* Full forward pass on B prompts of T tokens each (ids: B*T, row-major).
 * Caches every node and the logits at the last position. */
RELP_API enum relp_status relp_forward(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T);
/* Which positions get logits (default: only T-1). n = 0 restores the default.
 * Takes effect at the next forward. */
RELP_API enum relp_status relp_ctx_set_logit_positions(struct relp_ctx *ctx, const int32_t *positions, int32_t n);

/* Restricts the logits to these vocabulary columns (n = 0: all, the
 * default) from the next run on: a logit or logit-difference metric needs two
 * columns, not the whole unembedding. Other columns of relp_ctx_logits are
 * then stale. The log-probability metric refuses to run while restricted. */
RELP_API enum relp_status relp_ctx_set_logit_tokens(struct relp_ctx *ctx, const int32_t *ids, int32_t n);

/* An intervention: replace node[layer] at one position - or, for
 * RELP_NODE_ATTN_Z with head >= 0, only that head's HS values - by the given
 * values, in every prompt (n_prompts = 0) or in prompts [first_prompt,
 * first_prompt + n_prompts). values: (P, width) for the P patched prompts,
 * width C or HS; position = -1 means all positions, values then (P, T, width). */
struct relp_patch {
    enum relp_node node;
    int32_t layer;
    int32_t position;
    int32_t head;
    const float *values;
    int32_t first_prompt; /* used when n_prompts > 0 */
    int32_t n_prompts;    /* 0: all prompts */
};
/* Re-runs the last forward with the patches applied, from the earliest
 * patched layer and position on, reusing the cached prefix (causality: rows
 * before the earliest patched position cannot change). The cache afterwards
 * holds the patched run; a later call with other patches is still exact (the
 * context tracks which part of the cache the last patches touched).
 * n_patches = 0 restores the unpatched run. */
RELP_API enum relp_status relp_forward_patched(struct relp_ctx *ctx, const struct relp_patch *patches,
                                                int32_t n_patches);

/* Cached activations, (B, T, width) row-major, of the latest run. */
RELP_API const float *relp_ctx_node(const struct relp_ctx *ctx, enum relp_node node, int32_t layer);
/* Logits (B, n_positions, V) at the logit positions (default: (B, 1, V)). */
RELP_API const float *relp_ctx_logits(const struct relp_ctx *ctx, int32_t *n_positions);
/* Attention pattern of a layer (B, NH, T, T), row i = query. */
RELP_API const float *relp_ctx_attn_pattern(const struct relp_ctx *ctx, int32_t layer);
/* 1/sigma of ln1 (ln = 1), ln2 (ln = 2) of a layer, or ln_f (ln = 0, layer
 * ignored); (B, T). */
RELP_API const float *relp_ctx_ln_rstd(const struct relp_ctx *ctx, int32_t ln, int32_t layer);
/* Head h's own contribution to attn_out[layer] (no bias): (B, T, C) into out. */
RELP_API enum relp_status relp_ctx_head_result(struct relp_ctx *ctx, int32_t layer, int32_t head, float *out);
RELP_API int32_t relp_ctx_batch(const struct relp_ctx *ctx);
RELP_API int32_t relp_ctx_tokens(const struct relp_ctx *ctx);
/* Node width: C, or NH*HS (= C) for ATTN_Z. */
RELP_API int32_t relp_node_width(const struct relp_model *model, enum relp_node node);

/* ------------------------------------------------------------- backward */

/* Local rules of the one backward pass. "grad" = all exact (the gradient).
 * Each switch names a rule; an architecture without the part it acts on
 * ignores it (relp_rules_describe says what a preset does on a model). */
enum relp_rule_ln { RELP_LN_EXACT = 0, RELP_LN_SIGMA_CONST = 1 };       /* LN-rule: LayerNorm sigma / RMSNorm rms held constant */
enum relp_rule_gelu { RELP_GELU_EXACT = 0, RELP_GELU_IDENTITY = 1 };    /* Identity-rule on the activation (GELU, SiLU): act(x)/x */
enum relp_rule_attn { RELP_ATTN_EXACT = 0, RELP_ATTN_FROZEN = 1, RELP_ATTN_ATTNLRP = 2 };
enum relp_rule_gate { RELP_GATE_EXACT = 0, RELP_GATE_HALF = 1 };        /* Half-rule on gated MLPs' act(gate) * up */
struct relp_rules {
    enum relp_rule_ln ln;
    enum relp_rule_gelu gelu;
    enum relp_rule_attn attn;
    enum relp_rule_gate gate;
};
/* The rule presets, one table (the CLI, the JS API and the Python package
 * list them from it; core/names.c):
 *   grad     the exact gradient: attribution patching (AtP)
 *   relp     LN + Identity rules (+ the Half-rule on gated MLPs), attention
 *            exact: the official RelP code's initial commit c38e291 (use_lrp
 *            on when the model is built) and its default LRP_rules
 *   relp-ln  LN rule (+ Half-rule), the activation's true gradient,
 *            attention exact: the official demo notebook at HEAD (use_lrp set
 *            after the model is built: too late for the Identity rule, in
 *            time for the LN- and Half-rules, which are checked in forward)
 *   relp-cp  relp + attention pattern frozen (the official code's AH-rule,
 *            off in its demo runs; LXT's CP-LRP)
 *   attnlrp  relp + AttnLRP's 1/2 on V and 1/4 on Q, K (LXT)
 * Each entry's source field says the same in one line. A rule whose part an
 * architecture lacks (the Half-rule on GPT-2) does nothing there:
 * relp_rules_describe says what a preset does on a model. */
struct relp_preset {
    const char *name;         /* "grad", "relp", "relp-ln", "relp-cp", "attnlrp" */
    const char *title;        /* for tables: "gradient x input", "RelP", "RelP-LN", "RelP-CP", "AttnLRP" */
    struct relp_rules rules;
    const char *source;       /* one line: the rules and where the preset comes from */
};
/* All presets, "grad" first; *n_presets (may be NULL) receives their count.
 * Static storage: never freed. */
RELP_API const struct relp_preset *relp_rules_presets(int32_t *n_presets);
/* The rules of a preset by name; NULL for an unknown name. */
RELP_API const struct relp_rules *relp_rules_preset(const char *name);
/* What the rules do on this model, in words, e.g. "LN-rule (RMSNorm rms
 * constant), Identity-rule (SiLU), Half-rule (gate x up), attention exact",
 * naming the rules the architecture has no part for as not applicable.
 * model NULL: the rules alone, in short, e.g. "LN-rule, Identity-rule,
 * attention exact" (what the page's method menu shows).
 * Writes at most cap bytes (NUL-terminated); returns buf. */
RELP_API const char *relp_rules_describe(const struct relp_model *model, const struct relp_rules *rules, char *buf,
                                         size_t cap);

enum relp_metric_kind {
    RELP_METRIC_LOGIT_DIFF = 0, /* mean_b (logit[answer_b] - logit[wrong_b]) at the last logit position */
    RELP_METRIC_LOGPROB = 1,    /* mean_b log softmax(logits)[answer_b] */
    RELP_METRIC_LOGIT = 2       /* mean_b logit[answer_b] */
};
struct relp_metric {
    enum relp_metric_kind kind;
    const int32_t *answer; /* (B) token ids */
    const int32_t *wrong;  /* (B) token ids, LOGIT_DIFF only */
    float scale;           /* the seed is multiplied by this (e.g. 1/(m_clean - m_corrupt)) */
};
/* Value of the metric on the current logits (unscaled). */
RELP_API enum relp_status relp_metric_value(struct relp_ctx *ctx, const struct relp_metric *metric, double *value);
/* Backward pass of metric*scale through the current cache with the given
 * rules. Afterwards relp_ctx_node_grad gives the coefficient at every node.
 * *value (may be NULL) receives the unscaled metric. */
RELP_API enum relp_status relp_backward(struct relp_ctx *ctx, const struct relp_metric *metric,
                                         const struct relp_rules *rules, double *value);
/* Coefficient (gradient under "grad") of the latest backward at a node, (B, T, width). */
RELP_API const float *relp_ctx_node_grad(const struct relp_ctx *ctx, enum relp_node node, int32_t layer);

/* -------------------------------------------------------------- METHODS
 *
 * Attribution of a metric m to nodes, for a clean and a corrupted batch of
 * equal shape (B x T). Scores are in units of the normalised metric
 * m~ = (m - m_corrupt) / (m_clean - m_corrupt).
 *   AP    activation patching, the ground truth. Denoising (default): run
 *         the corrupted batch, patch in the clean value of one node at one
 *         (layer, position[, head]), score = m~(patched) (= m~(patched) - 0).
 *         Noising: run clean, patch in the corrupted value, score =
 *         m~(patched) - 1.
 *   GRAD  attribution patching with the given backward rules: "grad" is
 *         AtP, the LRP presets are RelP. Denoising: coefficient of one
 *         backward pass on the corrupted run times (clean - corrupted),
 *         summed over batch and width. Noising: on the clean run, times
 *         (corrupted - clean). Two forward passes and one backward pass.
 *   IG    integrated gradients with ig_steps steps: per layer, the node is
 *         set to corrupted + a (clean - corrupted) for a = k/steps, k = 0 ..
 *         steps-1 (Marks et al.'s left Riemann sum), the mean gradient times
 *         (clean - corrupted). Noising swaps the ends. Costs L x steps
 *         partial forward and backward passes.
 *   IG_INPUT  integrated gradients along the input path (EAP-IG, Hanna et
 *         al. 2024): the embeddings (resid_pre of layer 0) are set to
 *         corrupted + a (clean - corrupted), a = k/steps as above, and every
 *         node's mean gradient along that path times its own (clean -
 *         corrupted). One sweep of steps forward and backward passes serves
 *         every layer and node type; at layer 0 of resid_pre it equals IG.
 * When m_clean == m_corrupt the normalisation is undefined: scores are then
 * in metric units, with the warning RELP_WARNING_GAP_ZERO (see WARNINGS;
 * the status is OK).
 * Score layout: node RESID_PRE, ATTN_OUT, MLP_OUT: (L, T) (resid_pre of
 * layers 0..L-1); node ATTN_Z (heads): (L, NH), or (L, NH, T) with
 * per_position; node MLP_POST (neurons): (L, T, I), one score per neuron
 * (their sum over neurons is the MLP_OUT score: the product with W_mp is
 * linear). */
enum relp_method { RELP_METHOD_AP = 0, RELP_METHOD_GRAD = 1, RELP_METHOD_IG = 2, RELP_METHOD_IG_INPUT = 3 };

struct relp_attr_params {
    enum relp_method method;
    enum relp_node node;
    int32_t per_position; /* heads only */
    int32_t noising;
    int32_t ig_steps;        /* default 10 */
    struct relp_rules rules; /* GRAD only; default all exact (AtP) */
    /* called after each unit of work (AP patch, IG step); may be NULL */
    void (*progress)(void *user, int64_t done, int64_t total);
    void *progress_user;
};
RELP_API struct relp_attr_params relp_attr_default_params(void);
/* Number of scores relp_attribute writes for these params and T tokens. */
RELP_API int64_t relp_attr_count(const struct relp_model *model, const struct relp_attr_params *params, int32_t T);
/* Runs one method. scores must hold relp_attr_count floats. m_clean and
 * m_corrupt (may be NULL) receive the unnormalised metric of both runs. The
 * context's cache afterwards holds an unspecified run. */
RELP_API enum relp_status relp_attribute(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt, int32_t B,
                                         int32_t T, const struct relp_metric *metric,
                                         const struct relp_attr_params *params, float *scores, double *m_clean,
                                         double *m_corrupt);
/* The GRAD method (AtP or RelP) for up to 8 node types from the same two
 * forward passes and one backward pass - relp_attribute would repeat them
 * per node type; IG_INPUT likewise from one sweep. params->node is ignored;
 * scores[i] holds relp_attr_count floats for nodes[i]. AP and IG take
 * exactly one node type here too. */
RELP_API enum relp_status relp_attribute_nodes(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                               int32_t B, int32_t T, const struct relp_metric *metric,
                                               const struct relp_attr_params *params, const enum relp_node *nodes,
                                               int32_t n_nodes, float *const *scores, double *m_clean,
                                               double *m_corrupt);
/* LRP relevance of each input token for the metric (scale ignored: metric
 * units): R[b][t] = sum_d resid_pre[0][b,t,d] * coefficient, in units of
 * prompt b's own metric. relevance: (B, T). *total = mean over prompts of
 * sum_t R[b][t] (conservation: equals *value, the metric, when the rules
 * conserve and biases are zero). */
RELP_API enum relp_status relp_token_relevance(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T,
                                               const struct relp_metric *metric, const struct relp_rules *rules,
                                               float *relevance, double *total, double *value);
/* ------------------------------------------------------------- WARNINGS
 * A run can succeed and still mean less than it seems. These are warnings,
 * not errors: the status is RELP_STATUS_OK, and relp_ctx_last_error keeps
 * to failures. Each is a flag and one sentence (no final full stop), the
 * words written once in the core (core/names.c) for the CLI, the page and
 * the Python package:
 *   NOT_PREDICTED  the model's most likely next token after the (first)
 *                  clean prompt is not the answer: the map explains a
 *                  prediction the model does not make
 *   GAP_NEGATIVE   m_clean < m_corrupt (or NaN): "share restored" has no
 *                  meaning
 *   GAP_ZERO       m_clean == m_corrupt: nothing to normalise by, the scores
 *                  are in metric units
 *   GAP_SMALL      0 < m_clean - m_corrupt < RELP_MIN_GAP: the shares are
 *                  unstable
 *   ANSWER_SPACE   the answer (or wrong) token has no leading space though
 *                  the prompt ends without one, and the same word with its
 *                  space is one token: the metric reads a token the model
 *                  seldom writes there (" Mary" is what follows a word)
 *   NOISING        the scores are noising's: 0 = no change, -1 = the whole
 *                  clean - corrupted gap lost
 *   NON_FINITE_WEIGHTS  the model's: NaN or Inf weights (relp_model_warnings)
 * Every attribution call (relp_attribute, relp_attribute_nodes,
 * relp_token_relevance, relp_attribute_circuit, relp_patch_circuit_nodes,
 * relp_attribute_edges, relp_patch_edges, relp_faithfulness_init,
 * relp_edge_eval_init) replaces the context's warnings with its own run's:
 * the gap's (from its m_clean and m_corrupt), NOISING, ANSWER_SPACE. A
 * front end that also has the prediction (relp_predict), or aggregates
 * batches, gives the whole run's facts to relp_run_warnings. */
enum relp_warning {
    RELP_WARNING_NOT_PREDICTED = 1 << 0,
    RELP_WARNING_GAP_NEGATIVE = 1 << 1,
    RELP_WARNING_GAP_ZERO = 1 << 2,
    RELP_WARNING_GAP_SMALL = 1 << 3,
    RELP_WARNING_ANSWER_SPACE = 1 << 4,
    RELP_WARNING_NOISING = 1 << 5,
    RELP_WARNING_NON_FINITE_WEIGHTS = 1 << 6
};
/* Below this clean - corrupted gap of the metric (its units), scores
 * divided by it are unstable: RELP_WARNING_GAP_SMALL. */
#define RELP_MIN_GAP 0.5

/* The warnings of the context's latest run: their flags (0: none). */
RELP_API uint32_t relp_ctx_warnings(const struct relp_ctx *ctx);
/* The sentence of warning i (0 .. n-1, n the flags set, in flag order),
 * owned by ctx until the next attribution call or relp_run_warnings; NULL
 * past the end. *flag (may be NULL) receives which warning it is. */
RELP_API const char *relp_ctx_warning(const struct relp_ctx *ctx, int32_t i, uint32_t *flag);
/* The model's warnings (NON_FINITE_WEIGHTS), the same way; they live as
 * long as the model. */
RELP_API uint32_t relp_model_warnings(const struct relp_model *model);
RELP_API const char *relp_model_warning(const struct relp_model *model, int32_t i, uint32_t *flag);

/* The model's next token after one prompt, and the answer's place in it. */
struct relp_prediction {
    int32_t answer;  /* the answer's token id */
    double p_answer; /* its probability after the prompt */
    int32_t rank;    /* 1 + the number of tokens with a larger logit: 1 = predicted */
    int32_t top;     /* the most likely token (the lowest id among equals) */
    double p_top;
};
/* One forward pass of ids (one prompt of T tokens) with every logit column
 * at the last position (the logit positions and tokens are reset to their
 * defaults). Leaves the warnings as they are. */
RELP_API enum relp_status relp_predict(struct relp_ctx *ctx, const int32_t *ids, int32_t T, int32_t answer,
                                       struct relp_prediction *out);

/* What relp_run_warnings judges a run by. */
struct relp_run_facts {
    enum relp_metric_kind metric;         /* its name in the gap's sentence */
    double metric_clean, metric_corrupt;  /* NAN: no corrupted run (token relevance): no gap warning */
    int32_t noising;
    int32_t n_prompts;                    /* the rows of the three arrays below */
    const int32_t *clean_last;            /* each clean prompt's last token; NULL: no ANSWER_SPACE check */
    const int32_t *answer;                /* each prompt's answer token */
    const int32_t *wrong;                 /* each prompt's wrong token (LOGIT_DIFF), or NULL */
    const struct relp_prediction *prediction; /* the first clean prompt's (relp_predict), or NULL */
};
/* Replaces the context's warnings with those of a run of these facts, by
 * the rules above (the attribution calls apply the same ones to their own
 * run); returns their flags. ANSWER_SPACE needs the model's tokenizer (no
 * tokenizer: not checked) and looks at the first prompt that has it. */
RELP_API uint32_t relp_run_warnings(struct relp_ctx *ctx, const struct relp_run_facts *facts);

/* ------------------------------------------------------------------ IOI */
struct relp_ioi_prompt {
    char clean[256], corrupt[256]; /* the prompt text, without the answer */
    char answer[32], wrong[32];    /* " IO" and " S" (one token each in GPT-2's tokenizer) */
    /* how it was made */
    int32_t template_index;        /* BABA template t of relp_ioi_template; -1 for the demo */
    int32_t abba;                  /* 1: IO named first ("[A] and [B]"), 0: S first (BABA) */
    char io[16], s[16];            /* the clean prompt's names */
    char io_new[16], s_new[16], s1_new[16]; /* the ABC corruption's draws (see relp_ioi_wang); "" for the demo */
    char place[16], object[16];    /* "" for the demo */
};
/* The official RelP demo: 8 prompts, each corrupted by its neighbour (the
 * S2 flip, clean_tokens[[1,0,3,2,5,4,7,6]]). Writes min(8, cap); returns 8. */
RELP_API int32_t relp_ioi_demo(struct relp_ioi_prompt *out, int32_t cap);
/* Wang et al.'s distribution as the ACDC / Redwood IOIDataset(prompt_type=
 * "mixed") builds it, with its ABC corruption. Per prompt: a template drawn
 * uniformly (not alternated) from the BABA templates in template_mask (bit t
 * = template t; 0 = the default "mixed" set, templates 0..6, as it takes
 * BABA[:15//2] + ABBA[:15//2]) and their ABBA forms; IO, S and a third name
 * drawn until all three differ (the third unused); a place and an object;
 * every [A] -> IO, [B] -> S. Corruption, on space-separated words, in the
 * order gen_flipped_prompts runs: IO -> io_new (a name other than IO and S)
 * at IO's first two occurrences; S -> s_new (any name) at S's first and last
 * (S1, S2); then s1_new (any name) at the first occurrence of s_new. The
 * final word (the answer) is cut from both. relp's own seeded generator:
 * same seed, same prompts (not Python's). Returns n. */
RELP_API int32_t relp_ioi_wang(struct relp_ioi_prompt *out, int32_t n, uint64_t seed, uint32_t template_mask);
/* BABA template t ([A] = IO, [B] = S), or with abba its ABBA form (the
 * first-clause [B] and [A] swapped), into out. Returns its length, or -1
 * (t out of range, cap too small). */
RELP_API int32_t relp_ioi_template(int32_t t, int32_t abba, char *out, int32_t cap);
RELP_API int32_t relp_ioi_n_templates(void);
RELP_API int32_t relp_ioi_n_names(void);      /* 99, as in ioi_dataset.py */
RELP_API const char *relp_ioi_name(int32_t i); /* i in [0, relp_ioi_n_names()) */

/* ------------------------------------------------------------------ SVA
 * Subject-verb agreement pairs as Marks et al. (2024, "Sparse Feature
 * Circuits", saprmarks/feature-circuits data/) build them from Finlayson et
 * al. (2021)'s structures, nouns and relative-clause verbs (core/sva.c
 * names each list's source). Four kinds, "[...]" the answer:
 *   simple     "The parent" [is]                           case "singular"
 *   nounpp     "The parent near the cars" [is]             case "singular_plural"
 *   within_rc  "The parents that the chef" [is]: the verb of the relative
 *              clause, agreeing with its subject           case "plural_singular"
 *   rc         "The parent that the chefs like" [is]: the main verb, across
 *              the relative clause                         case "singular_plural"
 * The patch prefix flips the number of the noun the answer agrees with (the
 * subject; within_rc: the relative clause's subject), so patch_answer is the
 * other form of the same verb. case names the clean prefix's numbers, the
 * subject's first. Answers: " is"/" are", " has"/" have", " does"/" do",
 * " goes"/" go". */
enum relp_sva_kind { RELP_SVA_SIMPLE = 0, RELP_SVA_NOUNPP = 1, RELP_SVA_WITHIN_RC = 2, RELP_SVA_RC = 3 };

struct relp_sva_prompt {
    char clean_prefix[96], patch_prefix[96]; /* "The parent", "The parents" */
    char clean_answer[16], patch_answer[16]; /* " is", " are" (with the leading space) */
    char case_label[24];                     /* Marks et al.'s "case": "singular", "plural_singular", ... */
    int32_t case_index;                      /* numbers 0 singular, 1 plural: simple the subject's; else
                                                2 x the subject's + the other noun's */
    int32_t n_tokens;                        /* tokens of each prefix (BOS included if asked); 0 from
                                                relp_sva_candidate */
};

/* What relp_sva_generate found, for a one-line summary. */
struct relp_sva_stats {
    int32_t n_candidates;  /* pairs of the kind's word lists (relp_sva_n_candidates) */
    int32_t n_valid;       /* of them, passing the token filters */
    int32_t n_kept;        /* of those, with prefixes of the shortest length */
    int32_t n_tokens;      /* that length (BOS included if asked) */
    int32_t n_written;     /* pairs written: min(n, n_kept) */
    int32_t n_cases;       /* 2 (simple) or 4 */
    int32_t per_case[4];   /* pairs written per case_index */
    int32_t n_verbs, n_verbs_ok; /* answer verb pairs, and those of one token each in this vocabulary */
};

/* "simple", "nounpp", "within_rc", "rc" for kind 0..3; NULL past the end. */
RELP_API const char *relp_sva_kind_name(int32_t kind);
RELP_API int32_t relp_sva_kind_from_name(const char *name); /* enum relp_sva_kind, or -1 */
/* Every pair the kind's word lists make (before any token filter): 160,
 * 9600, 3200, 35200; -1 for an unknown kind. */
RELP_API int32_t relp_sva_n_candidates(int32_t kind);
/* Candidate i in [0, relp_sva_n_candidates(kind)), text only (n_tokens 0).
 * Returns 0, or -1 for i or kind out of range. */
RELP_API int32_t relp_sva_candidate(int32_t kind, int32_t i, struct relp_sva_prompt *out);
/* Up to n distinct pairs of a kind, filtered with the model's tokenizer as
 * Marks et al.'s loader filters them (load_examples with
 * use_min_length_only): both answers one token each (the verb sets cut to
 * such pairs first, as they cut theirs for Pythia; rc's relative-clause
 * verbs too), clean and patch prefix of equal token length, prefix + answer
 * tokenized as the prefix's tokens then the answer's, and only the shortest
 * prefix length that any pair has (add_bos: BOS counted, as relp_tokenize).
 * Drawn with relp's seeded generator, balanced over the cases (one of each
 * in turn, a used-up case skipped), in shuffled order: same model, kind and
 * seed, same pairs. out holds n; *stats (may be NULL) says how many were
 * written (fewer than n when fewer pairs pass). Fails (message in
 * relp_last_error) without a tokenizer, for a bad kind or n, or when no
 * pair passes. */
RELP_API enum relp_status relp_sva_generate(struct relp_model *model, enum relp_sva_kind kind, int32_t n,
                                            uint64_t seed, int32_t add_bos, struct relp_sva_prompt *out,
                                            struct relp_sva_stats *stats);

/* Pearson correlation of a and b (n values); NAN when either is constant. */
RELP_API double relp_pearson(const float *a, const float *b, int64_t n);

/* ----------------------------------------------------------- CIRCUITS
 * Sparse feature circuits (Marks et al. 2024), neurons and edges (EAP-IG,
 * Hanna et al. 2024), and their faithfulness. docs/circuits.md has every
 * definition; in short:
 *
 * HOOKS are TransformerLens's names for the places a dictionary reads:
 *   blocks.L.hook_resid_pre   resid_pre[L]            (C)
 *   blocks.L.hook_attn_out    attn_out[L]             (C)
 *   blocks.L.mlp.hook_post    the neurons of layer L  (I)
 *   blocks.L.hook_mlp_out     mlp_out[L]              (C)
 *   blocks.L.hook_resid_post  resid_pre[L+1]; for the last layer the
 *                             residual before the final norm (C)
 * A hook's layer is the L in its name. Forward order: by layer, then in
 * the order above (resid_post L before resid_pre L+1, the same values).
 *
 * SAES are read in SAELens's layout: a folder per hook with cfg.json
 * (d_in, d_sae, hook_name, architecture "standard" | "topk" | "jumprelu",
 * apply_b_dec_to_input, normalize_activations "none" only,
 * activation_fn_kwargs.k for topk) and sae_weights.safetensors (W_enc
 * [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in],
 * threshold [d_sae] for jumprelu; F32, F16 or BF16). A set is a folder of
 * such folders (or one of them). Encode: pre = (x - [apply] b_dec) W_enc +
 * b_enc; standard f = ReLU(pre); topk: the k largest entries of pre through
 * ReLU, the others 0 (ties: the lower index first); jumprelu f = ReLU(pre)
 * [pre > threshold]. Decode x^ = f W_dec + b_dec; the error e = x - x^.
 *
 * NODE SETS: features (every (hook, position, feature) of the SAEs given,
 * and one error node per (hook, position)); neurons (every (layer,
 * position, neuron) of blocks.L.mlp.hook_post); components (every
 * (attention head, position), a head being its output z W_O, and every
 * (MLP, position)). Each node set is a list of hooks, each with a width of
 * units per position (relp_circuit_hooks).
 *
 * SCORES of a node on a clean / corrupted pair, for AtP ("grad" rules), a
 * RelP preset (its rules) or IG, in units of the normalised metric as
 * relp_attribute's (delta = clean - corrupted values, rho = the hook's
 * coefficient on the corrupted run; noising swaps the runs):
 *   feature i: sum_b delta f_i . (W_dec[i] . rho);  error: sum_b delta e . rho;
 *   neuron j: sum_b delta a_j rho_j;  head / MLP: relp_attribute's per
 *   position head and mlp scores.
 * IG interpolates the whole hook (all positions and features at once) from
 * the corrupted to the clean value and takes the mean coefficient there.
 * Sum over features + error = the hook's node score (b_dec cancels).
 *
 * CIRCUITS AND FAITHFULNESS (Marks et al.'s ablation.py): a circuit C is
 * the nodes with |score| >= a threshold, or the N largest (ties by index:
 * hooks in forward order, position, unit, the error node last), among the
 * hooks of layers >= start_layer. m(C): run the clean prompts; at each hook
 * from start_layer on, in forward order, recompute the nodes from the
 * activation as it now is, replace every node not in C by its mean over the
 * corrupted prompts at that position (from the unablated corrupted run),
 * and continue with x = f' W_dec + b_dec + e' (neurons and components: the
 * activation itself). F(C) = (m(C) - m(empty)) / (m(M) - m(empty)) with M
 * every node (the clean run) and m the mean over prompts; completeness =
 * F(M \ C) (lower is more complete). */

/* ---- SAEs ---- */
enum relp_sae_arch { RELP_SAE_STANDARD = 0, RELP_SAE_TOPK = 1, RELP_SAE_JUMPRELU = 2 };
struct relp_saes;
struct relp_sae_info {
    const char *hook_name;     /* cfg.json's hook_name, e.g. "blocks.2.hook_resid_pre" */
    const char *path;          /* the SAE's folder (or its name among the files given) */
    enum relp_node node;       /* the relp node it reads: RESID_PRE (resid_post L: RESID_PRE L+1), ATTN_OUT,
                                  MLP_OUT or MLP_POST */
    int32_t layer;             /* that node's layer */
    int32_t hook_layer;        /* the L in hook_name */
    int32_t d_in, d_sae;
    enum relp_sae_arch arch;
    int32_t k;                 /* topk: active features per row; else 0 */
    int32_t apply_b_dec_to_input;
    enum relp_dtype dtype;     /* of the file's matrices */
};
/* Loads the SAEs of dir (one SAE folder, or a folder of them) for a model:
 * each one's hook must exist in the model with d_in its width. The files are
 * memory-mapped; the decoder is used in place when it is F32 (else
 * converted to f32) and the encoder is packed in f32 panels for the product
 * kernel. Refused, naming the file: a missing or malformed
 * cfg.json or tensor, an unknown architecture or hook name, a d_in that is
 * not the hook's width, normalize_activations other than "none", a tensor
 * of the wrong shape or dtype, NaN or Inf, two SAEs on one hook. The SAEs
 * are kept in forward order of their hooks. On failure *out may hold an
 * object carrying the message (relp_saes_last_error; free it). */
RELP_API enum relp_status relp_saes_init_from_dir(struct relp_saes **out, const struct relp_model *model,
                                                  const char *dir);
/* The same from buffers the caller keeps alive until relp_saes_free: files
 * named "<folder>/cfg.json" and "<folder>/sae_weights.safetensors" (one SAE
 * per folder name). */
RELP_API enum relp_status relp_saes_init_from_memory(struct relp_saes **out, const struct relp_model *model,
                                                     const struct relp_file *files, int32_t n_files);
RELP_API void relp_saes_free(struct relp_saes *saes);
/* Last error text; saes NULL: the last error of a load that could not create the object (thread-local). */
RELP_API const char *relp_saes_last_error(const struct relp_saes *saes);
RELP_API int32_t relp_saes_count(const struct relp_saes *saes);
/* SAE i in forward order; the strings live as long as saes. */
RELP_API enum relp_status relp_saes_info(const struct relp_saes *saes, int32_t i, struct relp_sae_info *info);
/* f (n, d_sae) = encode(x (n, d_in)); x_hat (n, d_in) = decode(f (n, d_sae)). pool: NULL. */
RELP_API enum relp_status relp_sae_encode(const struct relp_saes *saes, int32_t i, const float *x, int64_t n,
                                          float *f);
RELP_API enum relp_status relp_sae_decode(const struct relp_saes *saes, int32_t i, const float *f, int64_t n,
                                          float *x_hat);

/* ---- node sets and their hooks ---- */
enum relp_nodeset { RELP_NODESET_FEATURES = 0, RELP_NODESET_NEURONS = 1, RELP_NODESET_COMPONENTS = 2 };
struct relp_circuit_hook {
    char name[64];       /* "blocks.2.hook_resid_pre", "blocks.1.mlp.hook_post", "blocks.0.attn.hook_z" (the heads),
                            "blocks.0.hook_mlp_out" (the MLP component) */
    enum relp_node node; /* the relp node it reads and ablates */
    int32_t layer;       /* that node's layer */
    int32_t hook_layer;  /* the L in name (start_layer compares it) */
    int32_t width;       /* units per position: d_sae (features), I (neurons), NH (heads), 1 (an MLP) */
    int32_t error;       /* 1: an error node per position (features) */
    int32_t sae;         /* features: the SAE's index; else -1 */
};
/* The hooks of a node set in forward order into out (cap entries at most);
 * returns their count, or -1 (features without SAEs). */
RELP_API int32_t relp_circuit_hooks(const struct relp_model *model, const struct relp_saes *saes,
                                    enum relp_nodeset set, struct relp_circuit_hook *out, int32_t cap);

/* Scores of every node of a node set: scores[h] (T, width) and, for
 * features, errors[h] (T) per hook h of relp_circuit_hooks (errors may be
 * NULL for the other sets). params: method GRAD (params->rules: AtP or a
 * RelP preset) or IG (ig_steps), noising, progress; node and per_position
 * are ignored. AP is relp_patch_circuit_nodes. B prompts of T tokens. */
RELP_API enum relp_status relp_attribute_circuit(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                                 int32_t B, int32_t T, const struct relp_metric *metric,
                                                 const struct relp_saes *saes, enum relp_nodeset set,
                                                 const struct relp_attr_params *params, float *const *scores,
                                                 float *const *errors, double *m_clean, double *m_corrupt);

/* One node: hook index (relp_circuit_hooks), position, unit (feature,
 * neuron, head; 0 for an MLP); unit -1 is the hook's error node. */
struct relp_circuit_node {
    int32_t hook, position, unit;
};
/* Exact patching of each node on its own (the ground truth of the scores):
 * on the corrupted run with no SAE spliced in, a feature adds delta f_i
 * W_dec[i] to its hook at that position, the error node adds delta e, a
 * neuron, head or MLP takes its clean value; effect = (m_patched -
 * m_corrupt) / (m_clean - m_corrupt). Noising: on the clean run with the
 * corrupted values, effect = (m_patched - m_clean) / (m_clean - m_corrupt),
 * as relp_attribute's AP. effects: n floats. progress: after each pass. */
RELP_API enum relp_status relp_patch_circuit_nodes(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                                   int32_t B, int32_t T, const struct relp_metric *metric,
                                                   const struct relp_saes *saes, enum relp_nodeset set,
                                                   int32_t noising, const struct relp_circuit_node *nodes, int32_t n,
                                                   float *effects, void (*progress)(void *user, int64_t done,
                                                                                    int64_t total),
                                                   void *progress_user);

/* Faithfulness of circuits of one node set on one batch (all prompts one
 * length): made once (the mean ablation values, m(M) and m(empty)), then
 * any number of circuits evaluated, each a clean forward pass with the
 * ablation at every hook. The context runs the passes (B, T within its
 * capacity); the object borrows ctx, saes and the token arrays until
 * relp_faithfulness_free. */
struct relp_faithfulness;
RELP_API enum relp_status relp_faithfulness_init(struct relp_faithfulness **out, struct relp_ctx *ctx,
                                                 const int32_t *clean, const int32_t *corrupt, int32_t B, int32_t T,
                                                 const struct relp_metric *metric, const struct relp_saes *saes,
                                                 enum relp_nodeset set, int32_t start_layer);
RELP_API void relp_faithfulness_free(struct relp_faithfulness *fa);
/* m(M) (the clean run) and m(empty) (every node at the hooks ablated), means over the prompts. */
RELP_API void relp_faithfulness_ends(const struct relp_faithfulness *fa, double *m_full, double *m_empty);
/* m(C) for the circuit keep[h] (T * width flags, 1 = in C) and keep_error[h] (T flags; features only, may be
 * NULL otherwise) per hook h; hooks of layers < start_layer are never ablated. */
RELP_API enum relp_status relp_faithfulness_eval(struct relp_faithfulness *fa, const uint8_t *const *keep,
                                                 const uint8_t *const *keep_error, double *m_circuit);
/* A curve from scores (as relp_attribute_circuit writes them): for each point i, the circuit of the n_nodes[i]
 * nodes with the largest |score| (n_nodes NULL: the nodes with |score| >= thresholds[i]); writes the circuit's
 * size to size[i], its faithfulness to faith[i] and the completeness (the complement's faithfulness) to
 * completeness[i] (any output may be NULL). progress: after each point. */
RELP_API enum relp_status relp_faithfulness_curve(struct relp_faithfulness *fa, const float *const *scores,
                                                  const float *const *errors, const int64_t *n_nodes,
                                                  const float *thresholds, int32_t n_points, int64_t *size,
                                                  double *faith, double *completeness,
                                                  void (*progress)(void *user, int64_t done, int64_t total),
                                                  void *progress_user);
/* The number of candidate nodes (hooks of layers >= start_layer, error nodes included). */
RELP_API int64_t relp_faithfulness_n_nodes(const struct relp_faithfulness *fa);

/* ---- cards: one unit of a node set, as a feature card shows it (core/cards.c) ----
 * hook and unit as relp_circuit_hooks numbers them; features and neurons only (a head or an MLP writes no single
 * direction): BAD_ARGUMENT otherwise. */
/* The unit's output direction into the residual stream (C floats): an SAE feature's W_dec[unit], a neuron's row of
 * its MLP's output matrix. */
RELP_API enum relp_status relp_unit_direction(const struct relp_model *model, const struct relp_saes *saes,
                                              enum relp_nodeset set, int32_t hook, int32_t unit, float *dir);
/* A residual direction through the unembedding as TransformerLens's fold_ln reads it (Neuronpedia's logit lens of a
 * decoder direction): centred (LayerNorm models), times the final norm's gain, times W_U; V floats. The norm's 1/rms
 * is left out: the values rank tokens (promoted: largest, suppressed: smallest), they are no run's logits. */
RELP_API enum relp_status relp_direction_logits(const struct relp_model *model, const float *dir, float *logits);
/* The unit's activation at every token of B texts of T tokens (a forward pass; the SAE's encoding of its hook, or
 * the neuron's value): acts (B, T). */
RELP_API enum relp_status relp_unit_activations(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T,
                                                const struct relp_saes *saes, enum relp_nodeset set, int32_t hook,
                                                int32_t unit, float *acts);

/* ---- edges (EAP-IG's graph) ----
 * Upstream nodes: "input" (the embeddings), "a{L}.h{H}" (head H's output
 * z W_O), "m{L}" (mlp_out). Downstream nodes: "a{L}.h{H}<q>", "<k>", "<v>"
 * (the residual as head H's q, k or v projection reads it, before its
 * norm; with grouped-query attention every query head's k and v input is
 * its own), "m{L}" (the MLP's input), "logits" (the final residual). An
 * edge u -> v exists when v reads the residual after u writes it
 * (GPT-NeoX's parallel block: m{L} does not read a{L}.*). Indices:
 * upstream 0 = input, then per layer its NH heads and its MLP; downstream
 * per layer the NH q, NH k and NH v inputs and the MLP's, then logits.
 * Edge scores are (n_up, n_down) row-major, 0 where no edge exists:
 *   score(u -> v) = sum_{b,t} delta a_u[b,t] . rho_v[b,t]
 * with rho_v the coefficient at v's own input copy from the one backward
 * pass of the method (AtP, a RelP preset), or its mean along the input path
 * (IG_INPUT: EAP-IG's integrated gradients). Sum over u = v's input copy's
 * score; sum over v = u's node score summed over positions. */
RELP_API void relp_graph_size(const struct relp_model *model, int32_t *n_up, int32_t *n_down);
/* Names as EAP-IG writes them, into buf (cap bytes); returns buf, or NULL for an index out of range. */
RELP_API const char *relp_graph_up_name(const struct relp_model *model, int32_t u, char *buf, size_t cap);
RELP_API const char *relp_graph_down_name(const struct relp_model *model, int32_t v, char *buf, size_t cap);
/* 1 if the edge u -> v exists. */
RELP_API int32_t relp_graph_edge(const struct relp_model *model, int32_t u, int32_t v);
/* The edges in EAP-IG's order (Graph.from_model: per layer, each upstream node's edges to every head's q, k and v
 * inputs, then to the MLP (GPT-NeoX's parallel block: beside them); the logits' edges last) as (u, v) pairs into
 * pairs (2 * cap ints; NULL: count only). Returns the number of edges. */
RELP_API int32_t relp_graph_edges(const struct relp_model *model, int32_t *pairs, int32_t cap);
/* A circuit of the n edges of largest |score| (ties by the index u * n_down + v), pruned as EAP-IG's prune(): a
 * node stays when it has an in-graph outgoing edge and (input aside) an incoming one, an edge when both its ends
 * stay (the logits always do), until nothing changes. Pruning changes no faithfulness. in_graph: n_up * n_down
 * flags written; node_in: n_up flags written (may be NULL). Returns the edges kept, or -1 (out of memory). */
RELP_API int32_t relp_graph_top(const struct relp_model *model, const float *scores, int64_t n, uint8_t *in_graph,
                                uint8_t *node_in);
/* Every edge's score for one method (GRAD with its rules, or IG_INPUT). scores: n_up * n_down floats. */
RELP_API enum relp_status relp_attribute_edges(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                               int32_t B, int32_t T, const struct relp_metric *metric,
                                               const struct relp_attr_params *params, float *scores,
                                               double *m_clean, double *m_corrupt);
/* Exact patching of each edge on its own: on the corrupted run, only v's
 * input copy reads delta a_u added (a_u clean - corrupted, at every
 * position); effect = (m_patched - m_corrupt) / (m_clean - m_corrupt);
 * noising: on the clean run with (corrupted - clean), (m_patched -
 * m_clean) / (m_clean - m_corrupt). edges: n pairs (u, v). */
RELP_API enum relp_status relp_patch_edges(struct relp_ctx *ctx, const int32_t *clean, const int32_t *corrupt,
                                           int32_t B, int32_t T, const struct relp_metric *metric, int32_t noising,
                                           const int32_t *edges, int32_t n, float *effects,
                                           void (*progress)(void *user, int64_t done, int64_t total),
                                           void *progress_user);
/* Edge circuits' metric (EAP-IG's evaluate_graph) on one batch: made once (the corrupted run's node outputs,
 * the clean and corrupted metrics), then any number of circuits evaluated. In a circuit's run the clean prompts
 * run, and every downstream node v reads its input minus the sum over upstream u with (u -> v) not in the
 * circuit of (a_u - a_u^corrupted), a_u being u's output in this run. Faithfulness = (m(C) - m_corrupt) /
 * (m_clean - m_corrupt). Borrows ctx and the token arrays until relp_edge_eval_free. */
struct relp_edge_eval;
RELP_API enum relp_status relp_edge_eval_init(struct relp_edge_eval **out, struct relp_ctx *ctx, const int32_t *clean,
                                              const int32_t *corrupt, int32_t B, int32_t T,
                                              const struct relp_metric *metric);
RELP_API void relp_edge_eval_free(struct relp_edge_eval *ev);
RELP_API void relp_edge_eval_ends(const struct relp_edge_eval *ev, double *m_clean, double *m_corrupt);
/* m(C) for in_graph (n_up * n_down flags, 1 = the edge is in the circuit; flags of edges that do not exist are
 * ignored), the mean over the prompts. */
RELP_API enum relp_status relp_edge_eval_run(struct relp_edge_eval *ev, const uint8_t *in_graph, double *m_circuit);

/* ---------------------------------------------------------------- NAMES
 * The names the CLI, the WebAssembly API (and its generated constants.mjs)
 * and the page use, written once (core/names.c). */
struct relp_method_name {
    const char *name;        /* "ap", "atp", "relp", ...: --method, relp.mjs, the page's URL */
    enum relp_method method;
    const char *rules;       /* the rules preset (RELP_METHOD_GRAD), else "grad" */
    const char *title;       /* "AP", "AtP", "RelP", ...: tables and legends */
};
/* The methods: ap, atp, every preset of relp_rules_presets but "grad", ig,
 * ig-input. Fills *out and returns 1 for i in range, else returns 0. */
RELP_API int32_t relp_method_name(int32_t i, struct relp_method_name *out);
/* By name; returns 1 and fills *out, or 0 for an unknown name. */
RELP_API int32_t relp_method_find(const char *name, struct relp_method_name *out);

struct relp_node_name {
    const char *name;  /* "resid", "attn", "mlp", "head", "neuron": --node, relp.mjs, the page */
    enum relp_node node;
    const char *label; /* "residual stream (resid_pre)", "attention output", ...: the figures' titles */
    int32_t map;       /* 1: drawn as a layer x position (or head) map: the page's node types; 0: neurons
                          (a score per layer, position and neuron: the circuit commands' node set) */
};
/* Index past the end: NULL. */
RELP_API const struct relp_node_name *relp_node_name(int32_t i);
RELP_API const struct relp_node_name *relp_node_find(const char *name); /* NULL if unknown */

/* The metrics (enum relp_metric_kind): --metric, relp.mjs, the Python package's metric=, captions and legends. */
struct relp_metric_name {
    const char *name;  /* "logit_diff", "logprob", "logit" */
    enum relp_metric_kind kind;
    const char *title; /* "logit difference", "log-probability", "logit" */
};
RELP_API const struct relp_metric_name *relp_metric_name(int32_t i);     /* NULL past the end */
RELP_API const struct relp_metric_name *relp_metric_find(const char *name); /* NULL if unknown */

/* The warnings (enum relp_warning, WARNINGS above), in flag order. */
struct relp_warning_name {
    uint32_t flag;
    const char *name;  /* "not_predicted", "gap_negative", ...: the JSON's and the page's "kind" */
    const char *title; /* a few words: "answer not predicted", ... */
};
RELP_API const struct relp_warning_name *relp_warning_name(int32_t i);   /* NULL past the end */

RELP_API const char *relp_arch_name(int32_t arch);        /* config.json model_type: "gpt2", "llama", ... */
RELP_API const char *relp_shape_name(int32_t i);          /* "gpt2-small-random", ...; NULL past the end */
RELP_API const char *relp_dtype_name(int32_t dtype);      /* "f32", "f16", "bf16" */
RELP_API const char *relp_nodeset_name(int32_t set);      /* enum relp_nodeset: "features", "neurons", "components" */
RELP_API int32_t relp_dtype_from_name(const char *name);  /* enum relp_dtype, or -1 */

/* -------------------------------------------------------------- FIGURES
 * relp's figures, drawn once, in C, for every front end: the CLI's --svg and
 * --png, the page (through WebAssembly: wasm/figure_wasm.c, relp.mjs
 * loadFigures), its exports and embeds, and the Python package's inline
 * views. A view turns plain data (scores, token strings, the caption's facts)
 * into a display list of rects, lines, circles, paths and texts, written as
 * SVG or rasterised to PNG. The layout (sizes, colours, fonts, the wording of
 * titles, axes, legends, captions) lives in core/figure*.c only; titles of
 * methods and nodes come from the NAMES tables above.
 *
 *     struct relp_figure *fig = relp_figure_init();
 *     struct relp_figure_caption cap = {0};          // what the run was
 *     cap.model = "ioi-4l"; cap.method = "relp"; ...
 *     struct relp_figure_maps m = {0};
 *     m.layout = RELP_FIGURE_POSITIONS; m.n_layer = L; m.n_tokens = T; m.tokens = toks;
 *     m.method = "relp"; m.node = "mlp"; m.est = scores; m.r = NAN; m.caption = &cap;
 *     if (relp_figure_maps(fig, &m) == RELP_STATUS_OK) {
 *         size_t n; const char *svg = relp_figure_svg(fig, &n);    // owned by fig
 *         const char *png; relp_figure_png(fig, 2, &png, &n);      // 2x, owned by fig
 *     } else fprintf(stderr, "%s\n", relp_figure_last_error(fig));
 *     relp_figure_free(fig);
 *
 * The SVG's elements carry what the page's interaction reads: cells are
 * <rect class='cell' data-kind data-r data-c data-v> with a <title> tooltip
 * holding the exact value (data-v: the number as JavaScript writes it);
 * scatter points <circle class='pt' data-kind data-i data-v data-ap>; the
 * attention grid's heads <g class='mini' data-layer data-head data-which>;
 * circuit nodes <g class='node' data-name data-score data-i>, edges
 * <path class='edge' data-u data-v data-score>; curves' points <circle
 * class='pt' data-method data-x data-v>. Captions are <g class='caption'>,
 * warnings in them <text class='warning'>, legends <g class='legend'>.
 *
 * A relp_figure holds one figure at a time: each draw call replaces the last.
 * Strings and arrays passed in are read during the call only. Pointers
 * returned (SVG, PNG, error text) belong to the figure and stay valid until
 * the next call on it or relp_figure_free. A figure must not be used by two
 * threads at once; different figures may. Doubles given as NAN mean "not
 * known": they are left out of the figure. */
struct relp_figure;

/* Returns NULL if out of memory. */
RELP_API struct relp_figure *relp_figure_init(void);
RELP_API void relp_figure_free(struct relp_figure *fig);
/* Why the last call on fig failed ("" after a success). */
RELP_API const char *relp_figure_last_error(const struct relp_figure *fig);

/* What a figure's caption says about the run. Every field may be left 0 /
 * NULL (NAN for the doubles) to say nothing of it. */
struct relp_figure_caption {
    const char *model;               /* the model's name as shown */
    const char *method;              /* a method or rules preset name: its title is shown (relp_method_find,
                                        relp_rules_presets), or any other text as it is */
    int32_t steps;                   /* IG steps to say; 0: none */
    int32_t n_tokens;
    const char *const *clean;        /* n_tokens token strings of the (first) clean prompt */
    const char *const *corrupt;      /* n_tokens of its corrupted prompt (the differing ones are marked); NULL: one prompt */
    const char *answer;              /* NULL: the metric is "logit difference" */
    const char *wrong;               /* NULL: the answer's logit */
    double metric_clean, metric_corrupt; /* the metric on both prompts */
    int32_t n_prompts;               /* > 1: the figure is their mean, the first is shown */
    double p_answer;                 /* the answer's probability after the clean prompt ... */
    int32_t rank;                    /* ... and its rank (1: predicted); 0: not said */
    int32_t n_r;                     /* Pearson r of the method with AP, per node type: "resid 0.912, ..." */
    const char *const *r_names;
    const double *r_values;          /* NAN: "n/a" */
    int32_t relevance;               /* 1: token relevance: the sum and its conservation gap are said */
    double relevance_total, relevance_value;
    int32_t n_warnings;              /* each on its own line in the warning colour: "WARNING: ..." (the run's
                                        warnings: relp_ctx_warning) */
    const char *const *warnings;
    const char *metric;              /* the metric's name (relp_metric_name): its title in the caption and the
                                        legend; NULL: "logit_diff", or "logit" when wrong is NULL */
    int32_t noising;                 /* 1: noising's scores: said in the caption, and the legend's 0 and -1 */
    const char *data;                /* the data set the figure is a mean over ("IOI, the official demo set"): said
                                        with n_prompts ("data: ...; mean of 8 prompts"); NULL: not said */
};

/* How every later figure of a relp_figure is drawn (until the next call); the defaults (all 0) are the layout the
 * fixtures hold. */
enum relp_figure_font {
    RELP_FIGURE_FONT_MONO = 0,       /* DejaVu Sans Mono, Menlo, Consolas, monospace (the PNG's bitmap font) */
    RELP_FIGURE_FONT_SANS = 1        /* a sans-serif stack in the SVG; the layout still measures monospace, which
                                        is wider, so nothing overflows; the PNG keeps its monospace bitmap font */
};
struct relp_figure_style {
    int32_t width;                   /* > 0: the width available, CSS px: a figure wider than that is laid out again
                                        to fit (side-by-side panels stacked, cells smaller down to 12 px, the caption
                                        wrapped narrower), down to 320 px; 0: the default layout */
    enum relp_figure_font font;
    int32_t no_caption;              /* 1: no caption in the picture; relp_figure_caption_text has it as text */
    double color_max;                /* > 0: the maps' colour scale runs over [-color_max, color_max] (values beyond
                                        take the end colours; the legend says so), so that figures compare by
                                        colour; 0 or NAN: the largest |value| of the figure */
};
RELP_API void relp_figure_set_style(struct relp_figure *fig, const struct relp_figure_style *style);
/* enum relp_figure_font's names ("mono", "sans": the CLI's --font, the figure JSON's "font", the page's); NULL past the
 * last */
RELP_API const char *relp_figure_font_name(int32_t font);
RELP_API int32_t relp_figure_font_find(const char *name); /* its enum relp_figure_font, or -1 */
/* The caption of the last figure drawn, as plain text (a line per caption line, "WARNING: " before each warning),
 * whether it was drawn in the picture or not; owned by fig, "" when the figure has none. */
RELP_API const char *relp_figure_caption_text(struct relp_figure *fig, size_t *len);

/* The colour legend's meaning */
enum relp_figure_units {
    RELP_FIGURE_SHARE = 0,  /* share of the metric restored (0 = corrupted run, 1 = clean run); with the
                               caption's noising: the share lost (0 = clean run, -1 = corrupted run) */
    RELP_FIGURE_METRIC = 1, /* metric units: the clean and corrupted runs are equal, nothing to divide by */
};

/* Heatmaps of scores: layer x position (resid, attn, mlp), layer x head, or
 * layer.head x position; the estimate, and AP beside it on one colour scale. */
enum relp_figure_layout {
    RELP_FIGURE_POSITIONS = 0,      /* est (n_layer, n_tokens) */
    RELP_FIGURE_HEADS = 1,          /* est (n_layer, n_head) */
    RELP_FIGURE_HEAD_POSITIONS = 2  /* est (n_layer * n_head, n_tokens) */
};
struct relp_figure_maps {
    enum relp_figure_layout layout;
    int32_t n_layer, n_head;
    int32_t n_kv_head;               /* < n_head: grouped-query attention, said on the head axis; 0: = n_head */
    int32_t n_tokens;
    const char *const *tokens;       /* the column labels of POSITIONS and HEAD_POSITIONS */
    const char *method;              /* the estimate's method name ("relp", "atp", "ap", ...) */
    const char *node;                /* POSITIONS: "resid", "attn" or "mlp" (the figure's title) */
    const float *est;
    const float *ap;                 /* AP of the same shape, or NULL */
    double r;                        /* Pearson r of est with ap, in the AP panel's title; NAN: none */
    enum relp_figure_units units;
    const struct relp_figure_caption *caption; /* NULL: none */
};
/* Returns RELP_STATUS_OK, or RELP_STATUS_BAD_ARGUMENT (message on fig). */
RELP_API enum relp_status relp_figure_maps(struct relp_figure *fig, const struct relp_figure_maps *maps);

/* Token relevance: the prompt's tokens as chips coloured by relevance. */
struct relp_figure_tokens {
    int32_t n_tokens;
    const char *const *tokens;
    const float *relevance;          /* n_tokens, metric units */
    const char *rules;               /* the rules preset's name, in the title */
    const struct relp_figure_caption *caption;
};
RELP_API enum relp_status relp_figure_tokens(struct relp_figure *fig, const struct relp_figure_tokens *tokens);

/* An estimate (y) against AP (x), every node of every type, with r per type. */
struct relp_figure_scatter {
    const char *method;
    int32_t n_types;                 /* node types, in the legend's order */
    const char *const *types;        /* "resid", "attn", "mlp", "head": each has its colour */
    const int32_t *n_values;         /* per type */
    const float *const *est;         /* per type, n_values[i] each */
    const float *const *ap;
    const double *r;                 /* per type; NAN: "n/a" */
    enum relp_figure_units units;
    const struct relp_figure_caption *caption;
};
RELP_API enum relp_status relp_figure_scatter(struct relp_figure *fig, const struct relp_figure_scatter *scatter);

/* Every head's attention pattern (rows: layers, columns: heads), clean and
 * corrupted side by side, and one head drawn large with its token labels. */
struct relp_figure_attention {
    int32_t n_layer, n_head, n_kv_head, n_tokens;
    const char *const *clean_tokens;
    const char *const *corrupt_tokens;
    const float *clean, *corrupt;    /* (n_layer, n_head, n_tokens, n_tokens), row: the query */
    int32_t focus_layer, focus_head; /* the head drawn large */
    int32_t focus_row;               /* >= 0: that query row marked */
    int32_t focus_only;              /* 1: only the focus group's content (the page swaps it in on hover): no PNG */
    const struct relp_figure_caption *caption;
};
RELP_API enum relp_status relp_figure_attention(struct relp_figure *fig, const struct relp_figure_attention *att);

/* The node table (HTML, not SVG: relp_figure_svg returns it, there is no
 * PNG): the k nodes with the largest |sort| of all, a value and a rank per
 * method. */
struct relp_figure_table {
    int32_t n_rows;
    const char *const *node;         /* per row: its type, layer, position or head, and label */
    const int32_t *layer;
    const int32_t *index;
    const char *const *label;
    int32_t n_methods;
    const char *const *methods;      /* the columns: method names, "ap" last where AP was run */
    const float *values;             /* (n_methods, n_rows) */
    const char *sort;                /* the column to sort by; unknown: "ap", else the first */
    int32_t k;
};
RELP_API enum relp_status relp_figure_table(struct relp_figure *fig, const struct relp_figure_table *table);

/* The paper's table: Pearson r of each method with AP (rows) per node type (columns) over a data set, each method's
 * time beside its row, and a caption (model, data, metric, IG steps). */
struct relp_figure_rtable {
    int32_t n_methods;
    const char *const *methods;      /* method names: their titles are shown */
    int32_t n_nodes;
    const char *const *nodes;        /* node type names: "resid", "attn", "mlp", "head" */
    const double *r;                 /* (n_methods, n_nodes); NAN: "n/a" */
    const double *seconds;           /* per method (NAN: not said), or NULL */
    int32_t steps;                   /* IG steps, said after IG's title; 0: none */
    const char *model, *data, *metric; /* the caption; metric: its name (relp_metric_name), NULL: logit_diff */
    int32_t n_prompts, n_batches;
    int32_t n_warnings;
    const char *const *warnings;
};
RELP_API enum relp_status relp_figure_rtable(struct relp_figure *fig, const struct relp_figure_rtable *table);

/* Faithfulness curves: two panels side by side, the faithfulness F of the
 * circuit of the n highest-scored nodes and its completeness, against n on a
 * log axis; a line and markers per method in the method's colour, reference
 * lines at 0 and 1, a legend with each method's time, and a caption. */
struct relp_figure_series {
    const char *method;              /* a method name: its title and colour; other text: shown as it is */
    int32_t n;
    const double *n_nodes;           /* x, > 0 */
    const double *faithfulness;      /* NAN: that point not drawn (in that panel) */
    const double *completeness;
    double seconds;                  /* in the legend; NAN: not said */
};
struct relp_figure_curves {
    int32_t n_series;
    const struct relp_figure_series *series;
    const char *model, *nodes, *data, *metric; /* the caption: "model: ...; nodes: ...; data: ...; metric: ..." */
    int32_t n_warnings;
    const char *const *warnings;
};
RELP_API enum relp_status relp_figure_curves(struct relp_figure *fig, const struct relp_figure_curves *curves);

/* A circuit: nodes in rows by where they sit in the model, input at the
 * bottom and the logits at the top (a row per layer and part: resid_pre,
 * attention, MLP; SAE features grouped by hook), edges as curves whose width
 * grows with |score| and whose colour says its sign (the maps' palette). An
 * edge that ends on a head's query, key or value ends on that port, marked
 * q, k or v. */
enum relp_figure_node_kind {
    RELP_FIGURE_NODE_EMBED = 0,      /* the input embeddings (the bottom row) */
    RELP_FIGURE_NODE_RESID = 1,      /* resid_pre[layer] */
    RELP_FIGURE_NODE_HEAD = 2,       /* an attention head (column: the head) */
    RELP_FIGURE_NODE_ATTN = 3,       /* attn_out[layer] */
    RELP_FIGURE_NODE_MLP = 4,        /* mlp_out[layer] (or a neuron: column) */
    RELP_FIGURE_NODE_FEATURE = 5,    /* an SAE feature: hook, position, feature */
    RELP_FIGURE_NODE_LOGITS = 6      /* the metric (the top row) */
};
struct relp_figure_node {
    const char *name;                /* the label, e.g. "a3.7", "m2", "L3 mlp f1234@5" */
    int32_t layer;
    int32_t column;                  /* order within its row (head, neuron, feature) */
    enum relp_figure_node_kind kind;
    int32_t hook;                    /* FEATURE: the part it reads (RELP_FIGURE_NODE_RESID, _ATTN, _MLP) */
    int32_t position;                /* FEATURE: the token position, or -1 */
    double score;                    /* its attribution: the node's fill */
};
struct relp_figure_edge {
    int32_t u, v;                    /* indices into nodes: from u (upstream) to v */
    double score;
    char letter;                     /* 'q', 'k', 'v' (v a head: the port it enters), or 0 */
};
struct relp_figure_circuit {
    int32_t n_nodes;
    const struct relp_figure_node *nodes;
    int32_t n_edges;
    const struct relp_figure_edge *edges;
    const char *title;               /* NULL: "circuit" */
    int32_t n_lines;                 /* caption lines (model, node set, data, metric, ...) */
    const char *const *lines;
    int32_t n_warnings;
    const char *const *warnings;
};
RELP_API enum relp_status relp_figure_circuit(struct relp_figure *fig, const struct relp_figure_circuit *circuit);

/* Any of the above from a JSON request, for bindings (the WebAssembly module,
 * the Python package): {"kind": "maps" | "tokens" | "scatter" | "attention" |
 * "table" | "rtable" | "curves" | "circuit", ...the struct's fields by name}, with these
 * forms: a caption is an object of relp_figure_caption's fields ("noising"
 * true or false), "r" an
 * object {name: value}, "relevance" {"total", "value"} or null; token lists
 * arrays of strings; a layout "positions" | "heads" | "head_positions"; units
 * "share" | "metric"; the scatter's est, ap and r objects keyed by node type;
 * focus {"layer", "head", "row"}; the table's "rows" {"node", "layer",
 * "index", "label"} of arrays; curves' "series" [{"method", "n_nodes",
 * "faithfulness", "completeness", "seconds"}]; the circuit's "nodes" [{"name",
 * "layer", "column", "kind": "embed" | "resid" | "head" | "attn" | "mlp" |
 * "feature" | "logits", "hook", "position", "score"}] and "edges" [{"u", "v",
 * "score", "letter"}]. null stands for NAN. A list of numbers is a JSON
 * array, or {"offset": i, "length": n}: n floats of data from i (exact
 * float32 values with no text between). A request may carry "style": {"width",
 * "font": "mono" | "sans", "caption": true | false, "color_max"} (relp_figure_style;
 * a request without one is drawn in the default style). */
RELP_API enum relp_status relp_figure_draw_json(struct relp_figure *fig, const char *request, size_t len,
                                                const float *data, size_t n_data);

/* The figure drawn: SVG (the node table: HTML; a focus group: its SVG
 * elements), owned by fig; *len (may be NULL) its length. NULL if nothing
 * was drawn. */
RELP_API const char *relp_figure_svg(struct relp_figure *fig, size_t *len);
/* Its size in CSS pixels (the SVG's width and height). */
RELP_API void relp_figure_size(const struct relp_figure *fig, int32_t *width, int32_t *height);
/* A PNG of the figure at scale x its size (1 to 8), owned by fig. Returns
 * RELP_STATUS_OK, or BAD_ARGUMENT (no figure, a table, a scale out of range),
 * ALLOC_FAILED. */
RELP_API enum relp_status relp_figure_png(struct relp_figure *fig, int32_t scale, const char **png, size_t *len);

/* RELP_MIN_GAP under its older name */
#define RELP_FIGURE_MIN_GAP RELP_MIN_GAP

/* ----------------------------------------------------------------- JSON
 * A small strict JSON reader (RFC 8259), the one the loader uses, for the
 * CLI's prompt files and run logs. The whole document is parsed into one
 * array of values; strings are unescaped into one pool; both are owned by
 * the doc (relp_json_free). Nesting deeper than RELP_JSON_MAX_DEPTH fails. */
#define RELP_JSON_MAX_DEPTH 64

enum relp_json_type {
    RELP_JSON_NULL, RELP_JSON_FALSE, RELP_JSON_TRUE, RELP_JSON_NUMBER, RELP_JSON_STRING, RELP_JSON_ARRAY, RELP_JSON_OBJECT
};

struct relp_json_value {
    enum relp_json_type type;
    int32_t next;       /* next sibling in the parent array/object, -1 at the end */
    int32_t child;      /* first child (arrays, objects), -1 if empty */
    int32_t n_children;
    const char *key;    /* member name inside an object (unescaped, NUL-terminated), else NULL */
    size_t key_len;
    const char *str;    /* RELP_JSON_STRING: unescaped, NUL-terminated (may hold NULs: use str_len) */
    size_t str_len;
    double num;         /* RELP_JSON_NUMBER */
};

struct relp_json_doc {
    struct relp_json_value *v; /* v[0] is the root */
    int32_t n, cap;
    char *pool;
    size_t pool_len, pool_cap;
    char error[200];      /* "line L, column C: what" on failure */
};

/* Returns 0 on success; on failure -1 and doc->error says where and why.
 * relp_json_free the doc either way. */
RELP_API int relp_json_parse(struct relp_json_doc *doc, const char *text, size_t len);
RELP_API void relp_json_free(struct relp_json_doc *doc);
/* Member of an object by key (the first of equal keys), or NULL. */
RELP_API const struct relp_json_value *relp_json_get(const struct relp_json_doc *doc,
                                                     const struct relp_json_value *obj, const char *key);
/* Child i of an array/object, or NULL. */
RELP_API const struct relp_json_value *relp_json_at(const struct relp_json_doc *doc,
                                                    const struct relp_json_value *arr, int32_t i);
/* First child, next sibling: NULL at the end. */
RELP_API const struct relp_json_value *relp_json_first(const struct relp_json_doc *doc,
                                                       const struct relp_json_value *v);
RELP_API const struct relp_json_value *relp_json_next(const struct relp_json_doc *doc,
                                                      const struct relp_json_value *v);
/* Integer value of a number that is integral and within [lo, hi]; 0 on success. */
RELP_API int relp_json_int(const struct relp_json_value *v, int64_t lo, int64_t hi, int64_t *out);
RELP_API const char *relp_json_type_name(enum relp_json_type t);

#ifdef __cplusplus
}
#endif
#endif /* RELP_H */
