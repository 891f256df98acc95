/* relp_wasm.c - the C API that JavaScript calls (wasm/relp.mjs wraps it).
 *
 * Plain C with EMSCRIPTEN_KEEPALIVE exports that forward to relp.h: no embind.
 * Only integers, floats, doubles and pointers cross the boundary: relp.h's
 * by-value structs and its int64 arguments are unpacked here, because
 * Emscripten 3.1.6 without WASM_BIGINT splits int64 in two. Functions that
 * create a handle write it through an out pointer and return a status, like
 * relp.h. relp.h's own getters that take only handles and ints
 * (relp_ctx_node, relp_ctx_logits, relp_last_error, ...) are exported as they
 * are (see wasm/CMakeLists.txt).
 *
 * Progress of long methods is reported to Module.onProgress(done, total)
 * when the JS side sets it. Cancelling is the JS side's job: the page
 * terminates the worker that runs the call (a synchronous call cannot read a
 * message, and a SharedArrayBuffer flag would need cross-origin isolation,
 * which embeds in other people's pages cannot count on). */
#include <emscripten.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relp.h"
#include "ops.h" /* private: relp__ops_name (the kernel path in use), relp__wasm_f16_mismatches */

EM_JS(void, relpw_js_progress, (double done, double total), {
    if (Module["onProgress"]) Module["onProgress"](done, total);
})

static void on_progress(void *user, int64_t done, int64_t total) {
    (void)user;
    relpw_js_progress((double)done, (double)total);
}

/* ---------------------------------------------------------------- files */

/* An array of n relp_file records for relpw_model_load; free with free(). */
EMSCRIPTEN_KEEPALIVE struct relp_file *relpw_files_alloc(int32_t n) {
    return n > 0 ? calloc((size_t)n, sizeof(struct relp_file)) : NULL;
}

EMSCRIPTEN_KEEPALIVE void relpw_files_set(struct relp_file *files, int32_t i, const char *name, const void *data,
                                          uint32_t size) {
    files[i].name = name;
    files[i].data = data;
    files[i].size = size;
}

/* ---------------------------------------------------------------- model */

/* The buffers stay owned by the caller and must outlive the model
 * (relp_model_init_from_memory borrows them). weight_dtype is an enum
 * relp_dtype (0 f32, 1 f16, 2 bf16): the large matrices' dtype in memory;
 * the loader refuses any other value. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_model_load(struct relp_model **out, const struct relp_file *files,
                                                       int32_t n, int32_t weight_dtype) {
    struct relp_load_params lp = relp_load_default_params();
    lp.weight_dtype = (enum relp_dtype)weight_dtype;
    return relp_model_init_from_memory(out, files, n, &lp);
}

/* A GPT-2 of this shape with random weights. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_model_random(struct relp_model **out, int32_t L, int32_t C, int32_t NH,
                                                         int32_t n_positions, int32_t V, uint32_t seed,
                                                         int32_t weight_dtype) {
    struct relp_config cfg = {.n_layer = L, .n_head = NH, .n_embd = C, .n_positions = n_positions, .vocab_size = V,
                              .layer_norm_epsilon = 1e-5f, .arch = RELP_ARCH_GPT2};
    struct relp_load_params lp = relp_load_default_params();
    lp.weight_dtype = (enum relp_dtype)weight_dtype;
    return relp_model_init_random(out, &cfg, seed, &lp);
}

/* A named random shape (relp_shape_name: "smollm2-135m-random", ...);
 * RELP_STATUS_BAD_ARGUMENT for an unknown name. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_model_random_named(struct relp_model **out, const char *name, uint32_t seed,
                                                               int32_t weight_dtype) {
    struct relp_config cfg;
    *out = NULL;
    if (!relp_config_from_shape_name(name, &cfg)) return RELP_STATUS_BAD_ARGUMENT;
    struct relp_load_params lp = relp_load_default_params();
    lp.weight_dtype = (enum relp_dtype)weight_dtype;
    return relp_model_init_random(out, &cfg, seed, &lp);
}

/* info[0..13] = L, NH, C, n_positions, V, n_params, weight bytes, has
 * tokenizer, arch, NKV, head_dim, n_inner, rotary_dim, tied */
EMSCRIPTEN_KEEPALIVE void relpw_model_info(const struct relp_model *model, double *info) {
    const struct relp_config *c = relp_model_config(model);
    info[0] = c->n_layer;
    info[1] = c->n_head;
    info[2] = c->n_embd;
    info[3] = c->n_positions;
    info[4] = c->vocab_size;
    info[5] = (double)relp_model_n_params(model);
    info[6] = (double)relp_model_weight_bytes(model);
    info[7] = relp_has_tokenizer(model);
    info[8] = c->arch;
    info[9] = c->n_kv_head;
    info[10] = c->head_dim;
    info[11] = c->n_inner;
    info[12] = c->rotary_dim;
    info[13] = !c->untied_embeddings;
}

/* A config.json read without weights (relp_config_from_json), for the page's
 * memory check before a download: out[0..11] = arch, L, NH, NKV, C, head_dim,
 * n_inner, V, n_positions, n_params, weight bytes with f32 matrices, weight
 * bytes with weight_dtype matrices (no transposed copies, as the page loads).
 * Returns a status; the message is relpw_config_error(). */
static char config_error[512];
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_config_inspect(const char *text, uint32_t len, int32_t weight_dtype,
                                                           double *out) {
    struct relp_file f = {"config.json", text, len};
    struct relp_config c;
    enum relp_status st = relp_config_from_json(&f, &c, config_error, sizeof config_error);
    if (st) return st;
    out[0] = c.arch;
    out[1] = c.n_layer;
    out[2] = c.n_head;
    out[3] = c.n_kv_head;
    out[4] = c.n_embd;
    out[5] = c.head_dim;
    out[6] = c.n_inner;
    out[7] = c.vocab_size;
    out[8] = c.n_positions;
    out[9] = (double)relp_config_n_params(&c);
    out[10] = (double)relp_config_weight_bytes(&c, RELP_DTYPE_F32, 0);
    out[11] = (double)relp_config_weight_bytes(&c, (enum relp_dtype)weight_dtype, 0);
    return RELP_STATUS_OK;
}

EMSCRIPTEN_KEEPALIVE const char *relpw_config_error(void) { return config_error; }

/* What a rules preset does on this model, in words (relp_rules_describe);
 * NULL for an unknown preset. Valid until the next call. */
EMSCRIPTEN_KEEPALIVE const char *relpw_rules_describe(const struct relp_model *model, const char *preset) {
    static char buf[512];
    const struct relp_rules *r = relp_rules_preset(preset);
    return r ? relp_rules_describe(model, r, buf, sizeof buf) : NULL;
}

/* relp.h's name tables as one JSON object, for wasm/gen_constants.mjs (the
 * generated constants.mjs) and relp.mjs:
 *   {"methods":[{"name","method","rules","title"}],"nodes":[{"name","node","label"}],
 *    "presets":[{"name","title","source","describe","rules":{"ln","gelu","attn","gate"}}],"archs":[..],"shapes":[..],"dtypes":[..],
 *    "nodesets":[..] (enum relp_nodeset), "fonts":[..] (enum relp_figure_font),
 *    "warnings": [{flag, name, title}], "metrics": [{name, kind, title}],
 *    "minGap": RELP_MIN_GAP} */
static size_t put_json_str(char *buf, size_t o, size_t cap, const char *s) {
    if (o < cap) buf[o] = '"';
    o++;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            if (o < cap) buf[o] = '\\';
            o++;
        }
        if (o < cap) buf[o] = *s;
        o++;
    }
    if (o < cap) buf[o] = '"';
    return o + 1;
}

EMSCRIPTEN_KEEPALIVE const char *relpw_names(void) {
    static char buf[16384];
    if (buf[0]) return buf;
    const size_t cap = sizeof buf - 1;
    size_t o = 0;
#define PUT(...) o += (size_t)snprintf(buf + o, o < cap ? cap - o : 0, __VA_ARGS__)
#define STR(s) o = put_json_str(buf, o, cap, s)
    PUT("{\"methods\":[");
    struct relp_method_name m;
    for (int32_t i = 0; relp_method_name(i, &m); i++) {
        PUT("%s{\"name\":", i ? "," : "");
        STR(m.name);
        PUT(",\"method\":%d,\"rules\":", (int)m.method);
        STR(m.rules);
        PUT(",\"title\":");
        STR(m.title);
        PUT("}");
    }
    PUT("],\"nodes\":[");
    for (int32_t i = 0; relp_node_name(i); i++) {
        const struct relp_node_name *n = relp_node_name(i);
        PUT("%s{\"name\":", i ? "," : "");
        STR(n->name);
        PUT(",\"node\":%d,\"label\":", (int)n->node);
        STR(n->label);
        PUT(",\"map\":%s}", n->map ? "true" : "false");
    }
    PUT("],\"presets\":[");
    int32_t np = 0;
    const struct relp_preset *ps = relp_rules_presets(&np);
    for (int32_t i = 0; i < np; i++) {
        PUT("%s{\"name\":", i ? "," : "");
        STR(ps[i].name);
        PUT(",\"title\":");
        STR(ps[i].title);
        PUT(",\"source\":");
        STR(ps[i].source);
        char what[160];
        PUT(",\"describe\":");
        STR(relp_rules_describe(NULL, &ps[i].rules, what, sizeof what));
        PUT(",\"rules\":{\"ln\":%d,\"gelu\":%d,\"attn\":%d,\"gate\":%d}}", (int)ps[i].rules.ln, (int)ps[i].rules.gelu,
            (int)ps[i].rules.attn, (int)ps[i].rules.gate);
    }
    const char *(*lists[5])(int32_t) = {relp_arch_name, relp_shape_name, relp_dtype_name, relp_nodeset_name,
                                        relp_figure_font_name};
    const char *keys[5] = {"archs", "shapes", "dtypes", "nodesets", "fonts"};
    for (int k = 0; k < 5; k++) {
        PUT("],\"%s\":[", keys[k]);
        for (int32_t i = 0; lists[k](i); i++) {
            PUT("%s", i ? "," : "");
            STR(lists[k](i));
        }
    }
    PUT("],\"warnings\":[");
    for (int32_t i = 0; relp_warning_name(i); i++) {
        const struct relp_warning_name *w = relp_warning_name(i);
        PUT("%s{\"flag\":%u,\"name\":", i ? "," : "", (unsigned)w->flag);
        STR(w->name);
        PUT(",\"title\":");
        STR(w->title);
        PUT("}");
    }
    PUT("],\"metrics\":[");
    for (int32_t i = 0; relp_metric_name(i); i++) {
        const struct relp_metric_name *mn = relp_metric_name(i);
        PUT("%s{\"name\":", i ? "," : "");
        STR(mn->name);
        PUT(",\"kind\":%d,\"title\":", (int)mn->kind);
        STR(mn->title);
        PUT("}");
    }
    PUT("],\"minGap\":%g}", RELP_MIN_GAP);
#undef PUT
#undef STR
    buf[cap] = '\0';
    return buf;
}

/* Token ids of NUL-terminated UTF-8 text. Returns the full count (which may
 * exceed cap: then nothing past cap is written), or a negative status. */
EMSCRIPTEN_KEEPALIVE int32_t relpw_tokenize(struct relp_model *model, const char *text, int32_t add_bos, int32_t *ids,
                                            int32_t cap) {
    int64_t n = 0;
    enum relp_status st = relp_tokenize(model, text, -1, add_bos, ids, cap, &n);
    if (st != RELP_STATUS_OK && !(st == RELP_STATUS_BAD_ARGUMENT && n > cap)) return st;
    return (int32_t)n;
}

/* ---------------------------------------------------------------- context */

/* n_threads > 1 runs on that many threads in the threaded module (relp_engine_mt), on one elsewhere */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_ctx_init(struct relp_ctx **out, const struct relp_model *model,
                                                     int32_t max_batch, int32_t max_tokens, int32_t n_threads) {
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = max_batch;
    cp.max_tokens = max_tokens;
    cp.n_threads = n_threads;
    return relp_ctx_init(out, model, &cp);
}

EMSCRIPTEN_KEEPALIVE double relpw_ctx_mem_required(const struct relp_model *model, int32_t max_batch,
                                                   int32_t max_tokens, int32_t n_threads) {
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = max_batch;
    cp.max_tokens = max_tokens;
    cp.n_threads = n_threads;
    return (double)relp_ctx_mem_required(model, &cp);
}

/* ---------------------------------------------------------------- methods */

static struct relp_metric metric_of(int32_t kind, const int32_t *answer, const int32_t *wrong) {
    struct relp_metric m = {(enum relp_metric_kind)kind, answer, wrong, 1.0f};
    return m;
}

/* relp_backward with a named rule preset; *value receives the metric. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_backward(struct relp_ctx *ctx, int32_t metric_kind, const int32_t *answer,
                                                     const int32_t *wrong, const char *rules, double *value) {
    const struct relp_rules *r = relp_rules_preset(rules);
    if (!r) return RELP_STATUS_BAD_ARGUMENT;
    struct relp_metric m = metric_of(metric_kind, answer, wrong);
    return relp_backward(ctx, &m, r, value);
}

static enum relp_status attr_params(struct relp_attr_params *p, int32_t method, int32_t node, int32_t per_position,
                                    int32_t noising, int32_t ig_steps, const char *rules) {
    *p = relp_attr_default_params();
    p->method = (enum relp_method)method;
    p->node = (enum relp_node)node;
    p->per_position = per_position;
    p->noising = noising;
    if (ig_steps > 0) p->ig_steps = ig_steps;
    if (rules && *rules) {
        const struct relp_rules *r = relp_rules_preset(rules);
        if (!r) return RELP_STATUS_BAD_ARGUMENT;
        p->rules = *r;
    }
    p->progress = on_progress;
    return RELP_STATUS_OK;
}

EMSCRIPTEN_KEEPALIVE int32_t relpw_attr_count(const struct relp_model *model, int32_t method, int32_t node,
                                              int32_t per_position, int32_t T) {
    struct relp_attr_params p;
    attr_params(&p, method, node, per_position, 0, 0, NULL);
    return (int32_t)relp_attr_count(model, &p, T);
}

/* relp_attribute; metrics[0], metrics[1] receive m_clean and m_corrupt. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_attribute(struct relp_ctx *ctx, const int32_t *clean,
                                                      const int32_t *corrupt, int32_t B, int32_t T,
                                                      int32_t metric_kind, const int32_t *answer,
                                                      const int32_t *wrong, int32_t method, int32_t node,
                                                      int32_t per_position, int32_t noising, int32_t ig_steps,
                                                      const char *rules, float *scores, double *metrics) {
    struct relp_attr_params p;
    if (attr_params(&p, method, node, per_position, noising, ig_steps, rules) != RELP_STATUS_OK)
        return RELP_STATUS_BAD_ARGUMENT;
    struct relp_metric m = metric_of(metric_kind, answer, wrong);
    return relp_attribute(ctx, clean, corrupt, B, T, &m, &p, scores, &metrics[0], &metrics[1]);
}

/* The GRAD method (AtP / RelP) for resid, attn, mlp and heads from one
 * backward pass, or IG_INPUT from one sweep (relp_attribute_nodes);
 * metrics as in relpw_attribute. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_attribute_all(struct relp_ctx *ctx, const int32_t *clean,
                                                          const int32_t *corrupt, int32_t B, int32_t T,
                                                          int32_t metric_kind, const int32_t *answer,
                                                          const int32_t *wrong, int32_t method, int32_t per_position,
                                                          int32_t noising, int32_t ig_steps, const char *rules,
                                                          float *resid, float *attn, float *mlp, float *heads,
                                                          double *metrics) {
    struct relp_attr_params p;
    if (attr_params(&p, method, RELP_NODE_RESID_PRE, per_position, noising, ig_steps, rules) != RELP_STATUS_OK)
        return RELP_STATUS_BAD_ARGUMENT;
    static const enum relp_node nodes[4] = {RELP_NODE_RESID_PRE, RELP_NODE_ATTN_OUT, RELP_NODE_MLP_OUT, RELP_NODE_ATTN_Z};
    float *scores[4] = {resid, attn, mlp, heads};
    struct relp_metric m = metric_of(metric_kind, answer, wrong);
    return relp_attribute_nodes(ctx, clean, corrupt, B, T, &m, &p, nodes, 4, scores, &metrics[0], &metrics[1]);
}

/* relp_token_relevance; out[0] = total relevance, out[1] = metric value */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_token_relevance(struct relp_ctx *ctx, const int32_t *ids, int32_t B,
                                                            int32_t T, int32_t metric_kind, const int32_t *answer,
                                                            const int32_t *wrong, const char *rules,
                                                            float *relevance, double *out) {
    const struct relp_rules *r = relp_rules_preset(rules);
    if (!r) return RELP_STATUS_BAD_ARGUMENT;
    struct relp_metric m = metric_of(metric_kind, answer, wrong);
    return relp_token_relevance(ctx, ids, B, T, &m, r, relevance, &out[0], &out[1]);
}

/* The run's warnings (relp.h WARNINGS) by the core's rules: with predict, the prediction on the clean prompt
 * (relp_predict, one forward pass) first, into pred[0..3] = p_answer, rank, top, p_top; then relp_run_warnings on
 * the metric of both runs (NAN: none), noising, and the clean prompt's last token with the answer and wrong token
 * (wrong < 0: none). Returns the flags; relp_ctx_warning gives the sentences. */
EMSCRIPTEN_KEEPALIVE int32_t relpw_run_warnings(struct relp_ctx *ctx, const int32_t *clean, int32_t T, int32_t metric_kind,
                                                int32_t answer, int32_t wrong, double m_clean, double m_corrupt,
                                                int32_t noising, int32_t predict, double *pred) {
    struct relp_prediction pr = {0};
    if (predict) {
        enum relp_status st = relp_predict(ctx, clean, T, answer, &pr);
        if (st) return st;
        pred[0] = pr.p_answer, pred[1] = pr.rank, pred[2] = pr.top, pred[3] = pr.p_top;
    }
    const int32_t last = T > 0 ? clean[T - 1] : -1;
    const struct relp_run_facts f = {(enum relp_metric_kind)metric_kind, m_clean, m_corrupt, noising, T > 0 ? 1 : 0,
                                     T > 0 ? &last : NULL, &answer, wrong >= 0 ? &wrong : NULL, predict ? &pr : NULL};
    return (int32_t)relp_run_warnings(ctx, &f);
}

/* The core's rule presets (relp_rules_presets), for the JS method list: field
 * 0 the name, 1 the title, 2 the one-line source; NULL past the last. */
EMSCRIPTEN_KEEPALIVE const char *relpw_preset(int32_t i, int32_t field) {
    int32_t n = 0;
    const struct relp_preset *p = relp_rules_presets(&n);
    if (i < 0 || i >= n) return NULL;
    return field == 0 ? p[i].name : field == 1 ? p[i].title : p[i].source;
}

EMSCRIPTEN_KEEPALIVE double relpw_pearson(const float *a, const float *b, int32_t n) { return relp_pearson(a, b, n); }

/* The IOI prompts of core/ioi.c as records of 576 bytes (clean, corrupt,
 * answer, wrong: 256, 256, 32, 32 chars). demo != 0: the official demo's 8;
 * otherwise n of Wang et al.'s with this seed. Returns the count written. */
EMSCRIPTEN_KEEPALIVE int32_t relpw_ioi_prompts(struct relp_ioi_prompt *out, int32_t n, int32_t demo, uint32_t seed) {
    if (demo) return relp_ioi_demo(out, n) < n ? relp_ioi_demo(out, n) : n;
    return relp_ioi_wang(out, n, seed, 0);
}

EMSCRIPTEN_KEEPALIVE int32_t relpw_ioi_record_size(void) { return (int32_t)sizeof(struct relp_ioi_prompt); }

/* Which kernels this module runs: "wasm simd128" or the portable scalar path. */
EMSCRIPTEN_KEEPALIVE const char *relpw_kernels(void) { return relp__ops_name(); }

/* Halves the SIMD128 f16 loader converts differently from the scalar
 * reference, over all 65536 (0 expected); -1 in the scalar module. */
EMSCRIPTEN_KEEPALIVE int32_t relpw_f16_mismatches(void) {
#ifdef __wasm_simd128__
    return relp__wasm_f16_mismatches();
#else
    return -1;
#endif
}

/* ---------------------------------------------------------------- circuits (relp.h, CIRCUITS) */

/* SAEs from buffers named "<folder>/cfg.json" and "<folder>/sae_weights.safetensors", which the caller keeps
 * alive until relp_saes_free. On failure *out may hold an object with the message (relp_saes_last_error). */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_saes_load(struct relp_saes **out, const struct relp_model *model,
                                                      const struct relp_file *files, int32_t n) {
    return relp_saes_init_from_memory(out, model, files, n);
}

/* SAE i: out[0..7] = node, layer, hook_layer, d_in, d_sae, arch, k, dtype; returns its hook name (NULL: no SAE i) */
EMSCRIPTEN_KEEPALIVE const char *relpw_sae_info(const struct relp_saes *saes, int32_t i, double *out) {
    struct relp_sae_info info;
    if (relp_saes_info(saes, i, &info)) return NULL;
    const double v[8] = {info.node, info.layer, info.hook_layer, info.d_in, info.d_sae, info.arch, info.k, info.dtype};
    memcpy(out, v, sizeof v);
    return info.hook_name;
}

/* The hooks of a node set as a malloc'd JSON array (free it): [{"name","node","layer","hook_layer","width","error",
 * "sae"}]; NULL for features without SAEs or out of memory. */
EMSCRIPTEN_KEEPALIVE char *relpw_circuit_hooks(const struct relp_model *model, const struct relp_saes *saes,
                                               int32_t set) {
    const int32_t n = relp_circuit_hooks(model, saes, (enum relp_nodeset)set, NULL, 0);
    if (n < 0) return NULL;
    struct relp_circuit_hook *h = calloc((size_t)n + 1, sizeof *h);
    const size_t cap = 160 * ((size_t)n + 1);
    char *buf = malloc(cap);
    if (!h || !buf) {
        free(h), free(buf);
        return NULL;
    }
    relp_circuit_hooks(model, saes, (enum relp_nodeset)set, h, n);
    size_t o = 0;
    o += (size_t)snprintf(buf + o, cap - o, "[");
    for (int32_t i = 0; i < n; i++) {
        o += (size_t)snprintf(buf + o, cap - o, "%s{\"name\":", i ? "," : "");
        o = put_json_str(buf, o, cap, h[i].name);
        o += (size_t)snprintf(buf + o, cap - o, ",\"node\":%d,\"layer\":%d,\"hook_layer\":%d,\"width\":%d,\"error\":%d,\"sae\":%d}",
                              (int)h[i].node, (int)h[i].layer, (int)h[i].hook_layer, (int)h[i].width, (int)h[i].error,
                              (int)h[i].sae);
    }
    snprintf(buf + o, cap - o, "]");
    free(h);
    return buf;
}

/* relp_attribute_circuit for B prompts of T tokens; scores and errors: arrays of per-hook pointers (errors may hold
 * NULLs); metrics[0], [1] receive m_clean and m_corrupt. */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_attribute_circuit(struct relp_ctx *ctx, const int32_t *clean,
                                                              const int32_t *corrupt, int32_t B, int32_t T,
                                                              const int32_t *answer, const int32_t *wrong,
                                                              const struct relp_saes *saes, int32_t set, int32_t method,
                                                              int32_t ig_steps, const char *rules,
                                                              float *const *scores, float *const *errors,
                                                              double *metrics) {
    struct relp_attr_params p;
    if (attr_params(&p, method, RELP_NODE_RESID_PRE, 0, 0, ig_steps, rules) != RELP_STATUS_OK)
        return RELP_STATUS_BAD_ARGUMENT;
    struct relp_metric m = metric_of(RELP_METRIC_LOGIT_DIFF, answer, wrong);
    return relp_attribute_circuit(ctx, clean, corrupt, B, T, &m, saes, (enum relp_nodeset)set, &p, scores, errors,
                                  &metrics[0], &metrics[1]);
}

/* relp_patch_circuit_nodes (denoising): nodes are n (hook, position, unit) triples */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_patch_circuit_nodes(struct relp_ctx *ctx, const int32_t *clean,
                                                                const int32_t *corrupt, int32_t B, int32_t T,
                                                                const int32_t *answer, const int32_t *wrong,
                                                                const struct relp_saes *saes, int32_t set,
                                                                const int32_t *nodes, int32_t n, float *effects) {
    struct relp_metric m = metric_of(RELP_METRIC_LOGIT_DIFF, answer, wrong);
    return relp_patch_circuit_nodes(ctx, clean, corrupt, B, T, &m, saes, (enum relp_nodeset)set, 0,
                                    (const struct relp_circuit_node *)nodes, n, effects, on_progress, NULL);
}

/* relp_faithfulness_init: the token and answer arrays are borrowed until relp_faithfulness_free */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_faithfulness_init(struct relp_faithfulness **out, struct relp_ctx *ctx,
                                                              const int32_t *clean, const int32_t *corrupt, int32_t B,
                                                              int32_t T, const int32_t *answer, const int32_t *wrong,
                                                              const struct relp_saes *saes, int32_t set,
                                                              int32_t start_layer) {
    struct relp_metric m = metric_of(RELP_METRIC_LOGIT_DIFF, answer, wrong);
    return relp_faithfulness_init(out, ctx, clean, corrupt, B, T, &m, saes, (enum relp_nodeset)set, start_layer);
}

/* out[0..2] = m(M), m(empty), the number of candidate nodes */
EMSCRIPTEN_KEEPALIVE void relpw_faithfulness_info(const struct relp_faithfulness *fa, double *out) {
    relp_faithfulness_ends(fa, &out[0], &out[1]);
    out[2] = (double)relp_faithfulness_n_nodes(fa);
}

/* relp_faithfulness_curve with node counts as doubles (n_nodes NULL: thresholds); size, faith and completeness
 * written as doubles */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_faithfulness_curve(struct relp_faithfulness *fa, const float *const *scores,
                                                               const float *const *errors, const double *n_nodes,
                                                               const float *thresholds, int32_t n_points, double *size,
                                                               double *faith, double *completeness) {
    int64_t *nn = n_nodes ? malloc(sizeof(int64_t) * (size_t)(n_points > 0 ? n_points : 1)) : NULL;
    int64_t *sz = malloc(sizeof(int64_t) * (size_t)(n_points > 0 ? n_points : 1));
    if ((n_nodes && !nn) || !sz) {
        free(nn), free(sz);
        return RELP_STATUS_ALLOC_FAILED;
    }
    for (int32_t i = 0; nn && i < n_points; i++) nn[i] = (int64_t)n_nodes[i];
    enum relp_status st = relp_faithfulness_curve(fa, scores, errors, nn, thresholds, n_points, sz, faith, completeness,
                                                  on_progress, NULL);
    for (int32_t i = 0; i < n_points; i++) size[i] = (double)sz[i];
    free(nn), free(sz);
    return st;
}

/* relp_attribute_edges (GRAD with rules, or IG_INPUT); metrics as relpw_attribute_circuit's */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_attribute_edges(struct relp_ctx *ctx, const int32_t *clean,
                                                            const int32_t *corrupt, int32_t B, int32_t T,
                                                            const int32_t *answer, const int32_t *wrong, int32_t method,
                                                            int32_t ig_steps, const char *rules, float *scores,
                                                            double *metrics) {
    struct relp_attr_params p;
    if (attr_params(&p, method, RELP_NODE_RESID_PRE, 0, 0, ig_steps, rules) != RELP_STATUS_OK)
        return RELP_STATUS_BAD_ARGUMENT;
    struct relp_metric m = metric_of(RELP_METRIC_LOGIT_DIFF, answer, wrong);
    return relp_attribute_edges(ctx, clean, corrupt, B, T, &m, &p, scores, &metrics[0], &metrics[1]);
}

/* relp_patch_edges (denoising): edges are n (u, v) pairs */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_patch_edges(struct relp_ctx *ctx, const int32_t *clean,
                                                        const int32_t *corrupt, int32_t B, int32_t T,
                                                        const int32_t *answer, const int32_t *wrong,
                                                        const int32_t *edges, int32_t n, float *effects) {
    struct relp_metric m = metric_of(RELP_METRIC_LOGIT_DIFF, answer, wrong);
    return relp_patch_edges(ctx, clean, corrupt, B, T, &m, 0, edges, n, effects, on_progress, NULL);
}

EMSCRIPTEN_KEEPALIVE int32_t relpw_graph_top(const struct relp_model *model, const float *scores, int32_t n,
                                             uint8_t *in_graph, uint8_t *node_in) {
    return relp_graph_top(model, scores, n, in_graph, node_in);
}

/* relp_edge_eval_init: the token and answer arrays are borrowed until relp_edge_eval_free */
EMSCRIPTEN_KEEPALIVE enum relp_status relpw_edge_eval_init(struct relp_edge_eval **out, struct relp_ctx *ctx,
                                                           const int32_t *clean, const int32_t *corrupt, int32_t B,
                                                           int32_t T, const int32_t *answer, const int32_t *wrong) {
    struct relp_metric m = metric_of(RELP_METRIC_LOGIT_DIFF, answer, wrong);
    return relp_edge_eval_init(out, ctx, clean, corrupt, B, T, &m);
}

EMSCRIPTEN_KEEPALIVE void relpw_edge_eval_ends(const struct relp_edge_eval *ev, double *out) {
    relp_edge_eval_ends(ev, &out[0], &out[1]);
}
