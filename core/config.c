/* config.c - config.json into struct relp_config, for every architecture of
 * arch.c; the named random shapes; and the resolved sizes (struct
 * relp_dims) every table is written in.
 *
 * Keys and defaults follow the Hugging Face configuration classes
 * (configuration_gpt2.py, _llama, _qwen2, _qwen3, _gpt_neox). A key that
 * would change the computation in a way relp does not implement (sliding
 * windows, another RoPE scaling, another activation) is refused with a
 * message naming it, never ignored. */
#include "load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct int_key {
    const char *key, *alt;
    int64_t lo, hi;
    size_t off;
    int required;
};

#define OFF(f) offsetof(struct relp_config, f)
static const struct int_key gpt2_ints[] = {
    {"n_layer", "num_hidden_layers", 1, 1024, OFF(n_layer), 1},
    {"n_head", "num_attention_heads", 1, 1024, OFF(n_head), 1},
    {"n_embd", "hidden_size", 1, 65536, OFF(n_embd), 1},
    {"n_positions", "n_ctx", 1, 1 << 20, OFF(n_positions), 1},
    {"vocab_size", NULL, 1, 1 << 24, OFF(vocab_size), 1},
    {"n_inner", NULL, 1, 1 << 20, OFF(n_inner), 0},
};
static const struct int_key llama_ints[] = {
    {"num_hidden_layers", NULL, 1, 1024, OFF(n_layer), 1},
    {"num_attention_heads", NULL, 1, 1024, OFF(n_head), 1},
    {"hidden_size", NULL, 1, 65536, OFF(n_embd), 1},
    {"max_position_embeddings", NULL, 1, 1 << 24, OFF(n_positions), 1},
    {"vocab_size", NULL, 1, 1 << 24, OFF(vocab_size), 1},
    {"intermediate_size", NULL, 1, 1 << 20, OFF(n_inner), 1},
    {"num_key_value_heads", NULL, 1, 1024, OFF(n_kv_head), 0},
    {"head_dim", NULL, 2, 4096, OFF(head_dim), 0},
};
static const struct int_key neox_ints[] = {
    {"num_hidden_layers", NULL, 1, 1024, OFF(n_layer), 1},
    {"num_attention_heads", NULL, 1, 1024, OFF(n_head), 1},
    {"hidden_size", NULL, 1, 65536, OFF(n_embd), 1},
    {"max_position_embeddings", NULL, 1, 1 << 24, OFF(n_positions), 1},
    {"vocab_size", NULL, 1, 1 << 24, OFF(vocab_size), 1},
    {"intermediate_size", NULL, 1, 1 << 20, OFF(n_inner), 1},
};
#undef OFF

/* Reads every integer key of the table into cfg. */
static enum relp_status read_ints(struct relp_config *cfg, const struct relp_json_doc *doc,
                                  const struct relp_json_value *root, const struct int_key *keys, size_t n,
                                  const char *file, const char *model_type, char *err) {
    for (size_t i = 0; i < n; i++) {
        const struct relp_json_value *v = relp_json_get(doc, root, keys[i].key);
        if (!v && keys[i].alt) v = relp_json_get(doc, root, keys[i].alt);
        if (!v || v->type == RELP_JSON_NULL) {
            if (!keys[i].required) continue;
            return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: missing \"%s\" (a %s config.json has it)", file,
                              keys[i].key, model_type);
        }
        int64_t x;
        if (relp_json_int(v, keys[i].lo, keys[i].hi, &x))
            return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: \"%s\" must be an integer in [%lld, %lld]", file,
                              keys[i].key, (long long)keys[i].lo, (long long)keys[i].hi);
        *(int32_t *)((char *)cfg + keys[i].off) = (int32_t)x;
    }
    return RELP_STATUS_OK;
}

/* A number key in (lo, hi): *out, or def when absent. */
static enum relp_status read_num(const struct relp_json_doc *doc, const struct relp_json_value *obj, const char *key,
                                 double lo, double hi, double def, double *out, const char *file, char *err) {
    const struct relp_json_value *v = relp_json_get(doc, obj, key);
    if (!v || v->type == RELP_JSON_NULL) {
        *out = def;
        return RELP_STATUS_OK;
    }
    if (v->type != RELP_JSON_NUMBER || !(v->num > lo && v->num < hi))
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: \"%s\" must be a number in (%g, %g)", file, key, lo, hi);
    *out = v->num;
    return RELP_STATUS_OK;
}

/* A boolean key: *out, or def when absent. */
static enum relp_status read_bool(const struct relp_json_doc *doc, const struct relp_json_value *root, const char *key,
                                  int def, int32_t *out, const char *file, char *err) {
    const struct relp_json_value *v = relp_json_get(doc, root, key);
    if (!v || v->type == RELP_JSON_NULL) *out = def;
    else if (v->type == RELP_JSON_TRUE || v->type == RELP_JSON_FALSE) *out = v->type == RELP_JSON_TRUE;
    else return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: \"%s\" must be true or false", file, key);
    return RELP_STATUS_OK;
}

static const char *str_of(const struct relp_json_value *v) {
    return v->type == RELP_JSON_STRING ? v->str : relp_json_type_name(v->type);
}

/* RoPE: rope_theta (or the older rotary_emb_base) and rope_scaling, or
 * transformers 5's rope_parameters holding both. */
static enum relp_status read_rope(struct relp_config *cfg, const struct relp_json_doc *doc,
                                  const struct relp_json_value *root, const char *file, char *err) {
    enum relp_status st;
    const struct relp_json_value *params = relp_json_get(doc, root, "rope_parameters");
    if (params && params->type != RELP_JSON_OBJECT && params->type != RELP_JSON_NULL)
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: \"rope_parameters\" must be an object", file);
    if (params && params->type == RELP_JSON_NULL) params = NULL;
    double theta = 0;
    const char *theta_key = relp_json_get(doc, root, "rotary_emb_base") ? "rotary_emb_base" : "rope_theta";
    if ((st = read_num(doc, params ? params : root, params ? "rope_theta" : theta_key, 0, 1e12, 10000.0, &theta, file,
                       err)))
        return st;
    cfg->rope_theta = (float)theta;
    const struct relp_json_value *sc = params ? params : relp_json_get(doc, root, "rope_scaling");
    cfg->rope_scaling = RELP_ROPE_SCALING_NONE;
    if (!sc || sc->type == RELP_JSON_NULL) return RELP_STATUS_OK;
    const char *key = params ? "rope_parameters" : "rope_scaling";
    if (sc->type != RELP_JSON_OBJECT)
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: \"%s\" must be null or an object", file, key);
    const struct relp_json_value *type = relp_json_get(doc, sc, "rope_type");
    if (!type) type = relp_json_get(doc, sc, "type");
    const char *t = type && type->type == RELP_JSON_STRING ? type->str : "default";
    double v = 0;
    if (strcmp(t, "default") == 0) return RELP_STATUS_OK;
    if (strcmp(t, "linear") == 0 || strcmp(t, "llama3") == 0) {
        if ((st = read_num(doc, sc, "factor", 0, 1e6, -1, &v, file, err))) return st;
        if (v < 0) return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: %s of type \"%s\" needs \"factor\"", file, key, t);
        cfg->rope_factor = (float)v;
        cfg->rope_scaling = t[1] == 'i' ? RELP_ROPE_SCALING_LINEAR : RELP_ROPE_SCALING_LLAMA3;
        if (cfg->rope_scaling == RELP_ROPE_SCALING_LINEAR) return RELP_STATUS_OK;
        static const char *need[] = {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
        double got[3] = {0, 0, 0};
        for (int i = 0; i < 3; i++) {
            if ((st = read_num(doc, sc, need[i], 0, 1e9, -1, &got[i], file, err))) return st;
            if (got[i] < 0)
                return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: %s of type \"llama3\" needs \"%s\"", file, key,
                                  need[i]);
        }
        if (!(got[1] > got[0]))
            return relp__fail(err, RELP_STATUS_BAD_MODEL,
                              "%s: %s: high_freq_factor (%g) must be greater than low_freq_factor (%g)", file, key,
                              got[1], got[0]);
        cfg->rope_low_freq_factor = (float)got[0];
        cfg->rope_high_freq_factor = (float)got[1];
        cfg->rope_original_max_positions = (int32_t)got[2];
        return RELP_STATUS_OK;
    }
    return relp__fail(err, RELP_STATUS_BAD_MODEL,
                      "%s: %s type \"%s\" is not supported; relp implements RoPE without scaling (\"default\"), "
                      "\"linear\" and \"llama3\"",
                      file, key, type && type->type == RELP_JSON_STRING ? t : str_of(type ? type : sc));
}

static enum relp_status parse_gpt2(struct relp_config *cfg, const struct relp_json_doc *doc,
                                   const struct relp_json_value *root, const char *file, char *err) {
    enum relp_status st;
    if ((st = read_ints(cfg, doc, root, gpt2_ints, sizeof gpt2_ints / sizeof gpt2_ints[0], file, "GPT-2", err)))
        return st;
    double eps = 0;
    const struct relp_json_value *e = relp_json_get(doc, root, "layer_norm_epsilon");
    if (e && (e->type != RELP_JSON_NUMBER || !(e->num > 0 && e->num < 1)))
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: layer_norm_epsilon must be a number in (0, 1)", file);
    eps = e ? e->num : 1e-5;
    cfg->layer_norm_epsilon = (float)eps;
    const struct relp_json_value *act = relp_json_get(doc, root, "activation_function");
    if (act && (act->type != RELP_JSON_STRING ||
                (strcmp(act->str, "gelu_new") != 0 && strcmp(act->str, "gelu_pytorch_tanh") != 0)))
        return relp__fail(err, RELP_STATUS_BAD_MODEL,
                          "%s: activation_function is '%s'; relp implements GPT-2's \"gelu_new\" (tanh approximation)",
                          file, str_of(act));
    static const char *must_be_false[] = {"scale_attn_by_inverse_layer_idx", "add_cross_attention"};
    for (int i = 0; i < 2; i++) {
        const struct relp_json_value *v = relp_json_get(doc, root, must_be_false[i]);
        if (v && v->type == RELP_JSON_TRUE)
            return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: %s = true is not supported (expected false)", file,
                              must_be_false[i]);
    }
    const struct relp_json_value *scale = relp_json_get(doc, root, "scale_attn_weights");
    if (scale && scale->type == RELP_JSON_FALSE)
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: scale_attn_weights = false is not supported", file);
    int32_t tied = 1;
    if ((st = read_bool(doc, root, "tie_word_embeddings", 1, &tied, file, err))) return st;
    cfg->untied_embeddings = !tied;
    if (cfg->n_embd % cfg->n_head != 0)
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: n_embd %d is not a multiple of n_head %d", file,
                          cfg->n_embd, cfg->n_head);
    return RELP_STATUS_OK;
}

static enum relp_status parse_llama(struct relp_config *cfg, const struct relp_json_doc *doc,
                                    const struct relp_json_value *root, const char *file, char *err) {
    enum relp_status st;
    const char *mt = relp_arch_name(cfg->arch);
    if ((st = read_ints(cfg, doc, root, llama_ints, sizeof llama_ints / sizeof llama_ints[0], file, mt, err)))
        return st;
    double eps = 0;
    if ((st = read_num(doc, root, "rms_norm_eps", 0, 1, 1e-6, &eps, file, err))) return st;
    cfg->layer_norm_epsilon = (float)eps;
    const struct relp_json_value *act = relp_json_get(doc, root, "hidden_act");
    if (act && (act->type != RELP_JSON_STRING || strcmp(act->str, "silu") != 0))
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: hidden_act is '%s'; relp implements %s's \"silu\" (SwiGLU)",
                          file, str_of(act), mt);
    if ((st = read_rope(cfg, doc, root, file, err))) return st;
    int32_t tied = 0, sliding = 0;
    if ((st = read_bool(doc, root, "tie_word_embeddings", 0, &tied, file, err)) ||
        (st = read_bool(doc, root, "attention_bias", 0, &cfg->attention_bias, file, err)) ||
        (st = read_bool(doc, root, "mlp_bias", 0, &cfg->mlp_bias, file, err)) ||
        (st = read_bool(doc, root, "use_sliding_window", 0, &sliding, file, err)))
        return st;
    if (cfg->arch == RELP_ARCH_QWEN2) cfg->attention_bias = 0; /* qwen2: q/k/v biases always, o_proj none */
    if (cfg->arch != RELP_ARCH_LLAMA) cfg->mlp_bias = 0;
    cfg->untied_embeddings = !tied;
    if (sliding)
        return relp__fail(err, RELP_STATUS_BAD_MODEL,
                          "%s: use_sliding_window = true is not supported (relp runs full causal attention; expected "
                          "false)",
                          file);
    if (!cfg->n_kv_head) cfg->n_kv_head = cfg->n_head;
    if (!cfg->head_dim) {
        if (cfg->arch == RELP_ARCH_QWEN3) cfg->head_dim = 128; /* Qwen3Config's default */
        else if (cfg->n_embd % cfg->n_head)
            return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                              file, cfg->n_embd, cfg->n_head);
        else cfg->head_dim = cfg->n_embd / cfg->n_head;
    }
    cfg->rotary_dim = cfg->head_dim;
    return RELP_STATUS_OK;
}

static enum relp_status parse_neox(struct relp_config *cfg, const struct relp_json_doc *doc,
                                   const struct relp_json_value *root, const char *file, char *err) {
    enum relp_status st;
    if ((st = read_ints(cfg, doc, root, neox_ints, sizeof neox_ints / sizeof neox_ints[0], file, "gpt_neox", err)))
        return st;
    double eps = 0, pct = 0;
    if ((st = read_num(doc, root, "layer_norm_eps", 0, 1, 1e-5, &eps, file, err))) return st;
    cfg->layer_norm_epsilon = (float)eps;
    const char *pct_key = relp_json_get(doc, root, "partial_rotary_factor") ? "partial_rotary_factor" : "rotary_pct";
    if ((st = read_num(doc, root, pct_key, 0, 1.000001, 0.25, &pct, file, err))) return st;
    const struct relp_json_value *act = relp_json_get(doc, root, "hidden_act");
    if (act && (act->type != RELP_JSON_STRING ||
                (strcmp(act->str, "gelu") && strcmp(act->str, "gelu_new") && strcmp(act->str, "gelu_pytorch_tanh"))))
        return relp__fail(err, RELP_STATUS_BAD_MODEL,
                          "%s: hidden_act is '%s'; relp implements \"gelu\" (exact) and \"gelu_new\" for gpt_neox", file,
                          str_of(act));
    cfg->gelu_tanh = act && strcmp(act->str, "gelu") != 0;
    if ((st = read_rope(cfg, doc, root, file, err))) return st;
    int32_t tied = 0, parallel = 1;
    if ((st = read_bool(doc, root, "tie_word_embeddings", 0, &tied, file, err)) ||
        (st = read_bool(doc, root, "attention_bias", 1, &cfg->attention_bias, file, err)) ||
        (st = read_bool(doc, root, "use_parallel_residual", 1, &parallel, file, err)))
        return st;
    cfg->untied_embeddings = !tied;
    cfg->sequential_residual = !parallel;
    if (cfg->n_embd % cfg->n_head)
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                          file, cfg->n_embd, cfg->n_head);
    cfg->n_kv_head = cfg->n_head;
    cfg->head_dim = cfg->n_embd / cfg->n_head;
    cfg->rotary_dim = (int32_t)(cfg->head_dim * pct); /* int(head_size * rotary_pct), as modeling_gpt_neox.py */
    if (cfg->rotary_dim % 2)
        return relp__fail(err, RELP_STATUS_BAD_MODEL,
                          "%s: %s %g of head size %d gives %d rotary dimensions; RoPE rotates pairs, so an even number "
                          "is expected",
                          file, pct_key, pct, cfg->head_dim, cfg->rotary_dim);
    return RELP_STATUS_OK;
}

enum relp_status relp__parse_config(struct relp_config *cfg, const struct relp_file *f, char *err) {
    struct relp_json_doc doc;
    memset(cfg, 0, sizeof *cfg);
    if (relp_json_parse(&doc, f->data, f->size)) {
        enum relp_status st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", f->name, doc.error);
        relp_json_free(&doc);
        return st;
    }
    enum relp_status st = RELP_STATUS_OK;
    const struct relp_json_value *root = &doc.v[0];
    const struct relp_arch_spec *arch = relp__arch(RELP_ARCH_GPT2);
    if (root->type != RELP_JSON_OBJECT) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: is %s, expected a JSON object", f->name,
                        relp_json_type_name(root->type));
        goto out;
    }
    const struct relp_json_value *mt = relp_json_get(&doc, root, "model_type");
    if (mt) { /* absent: GPT-2, as the oldest GPT-2 configs */
        arch = mt->type == RELP_JSON_STRING ? relp__arch_by_type(mt->str) : NULL;
        if (!arch) {
            st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: model_type is '%s'; relp runs %s checkpoints", f->name,
                            str_of(mt), relp__arch_list());
            goto out;
        }
    }
    const struct relp_json_value *archs = relp_json_get(&doc, root, "architectures");
    if (archs && archs->type == RELP_JSON_ARRAY) {
        for (const struct relp_json_value *a = relp_json_first(&doc, archs); a; a = relp_json_next(&doc, a)) {
            if (a->type != RELP_JSON_STRING || strncmp(a->str, arch->arch_prefix, strlen(arch->arch_prefix)) != 0) {
                st = relp__fail(err, RELP_STATUS_BAD_MODEL,
                                "%s: architecture '%s' does not match model_type \"%s\"; expected %s... (e.g. %sForCausalLM)",
                                f->name, a->type == RELP_JSON_STRING ? a->str : "?", arch->model_type,
                                arch->arch_prefix, arch->arch_prefix);
                goto out;
            }
        }
    }
    cfg->arch = arch->arch;
    if (arch->arch == RELP_ARCH_GPT2) st = parse_gpt2(cfg, &doc, root, f->name, err);
    else if (arch->arch == RELP_ARCH_GPT_NEOX) st = parse_neox(cfg, &doc, root, f->name, err);
    else st = parse_llama(cfg, &doc, root, f->name, err);
    if (!st) {
        struct relp_dims d;
        st = relp__resolve(cfg, &d, f->name, err);
    }
out:
    relp_json_free(&doc);
    return st;
}

/* ------------------------------------------------------------ resolution */

enum relp_status relp__resolve(struct relp_config *c, struct relp_dims *d, const char *file, char *err) {
    const struct relp_arch_spec *a = relp__arch(c->arch);
    if (!a) return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "%s: unknown architecture %d", file, (int)c->arch);
    if (c->n_layer <= 0 || c->n_layer > 1024 || c->n_embd <= 0 || c->n_embd > 65536 || c->n_head <= 0 ||
        c->n_head > 1024 || c->n_positions <= 0 || c->vocab_size <= 0 || c->vocab_size > (1 << 24))
        return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "%s: layers, width, heads, positions or vocabulary out of range",
                          file);
    if (!c->n_kv_head) c->n_kv_head = c->n_head;
    if (!c->head_dim) {
        if (c->n_embd % c->n_head)
            return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: the width %d is not a multiple of the %d heads", file,
                              c->n_embd, c->n_head);
        c->head_dim = c->n_embd / c->n_head;
    }
    if (!c->n_inner) c->n_inner = 4 * c->n_embd;
    if (a->rope && !c->rotary_dim) c->rotary_dim = c->head_dim;
    if (!a->rope) c->rotary_dim = 0;
    if (a->rope && !(c->rope_theta > 0)) c->rope_theta = 10000.0f;
    if (!(c->layer_norm_epsilon > 0)) c->layer_norm_epsilon = 1e-5f;
    if (c->n_kv_head <= 0 || c->n_kv_head > c->n_head || c->n_head % c->n_kv_head)
        return relp__fail(err, RELP_STATUS_BAD_MODEL,
                          "%s: num_key_value_heads %d must divide num_attention_heads %d (grouped-query attention)", file,
                          c->n_kv_head, c->n_head);
    if (c->rotary_dim < 0 || c->rotary_dim > c->head_dim || c->rotary_dim % 2)
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: the rotary dimensions %d must be even and at most head_dim %d",
                          file, c->rotary_dim, c->head_dim);
    if (c->rope_scaling == RELP_ROPE_SCALING_LLAMA3 && !(c->rope_original_max_positions > 0 && c->rope_factor > 0))
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: llama3 rope_scaling needs factor and original_max_position_embeddings",
                          file);
    if (c->rope_scaling == RELP_ROPE_SCALING_LINEAR && !(c->rope_factor > 0))
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: linear rope_scaling needs a positive factor", file);
    int64_t q = (int64_t)c->n_head * c->head_dim, kv = (int64_t)c->n_kv_head * c->head_dim;
    if (q > (1 << 20) || c->n_inner > (1 << 20))
        return relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: heads x head_dim or the MLP width is absurd", file);
    d->L = c->n_layer;
    d->C = c->n_embd;
    d->V = c->vocab_size;
    d->NPOS = c->n_positions;
    d->NH = c->n_head;
    d->NKV = c->n_kv_head;
    d->HS = c->head_dim;
    d->Q = (int32_t)q;
    d->KV = (int32_t)kv;
    d->QKV = (int32_t)(q + 2 * kv);
    d->I = c->n_inner;
    d->FC = a->gated ? 2 * c->n_inner : c->n_inner;
    d->ROT = c->rotary_dim;
    return RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- shapes */

/* Named random shapes: the published models' configs, random weights. */
static const struct shape {
    const char *name;
    struct relp_config c;
} shapes[] = {
#define GPT2(L, H, C) {.n_layer = L, .n_head = H, .n_embd = C, .n_positions = 1024, .vocab_size = 50257, \
                      .layer_norm_epsilon = 1e-5f, .arch = RELP_ARCH_GPT2}
    {"gpt2-small-random", GPT2(12, 12, 768)},
    {"gpt2-medium-random", GPT2(24, 16, 1024)},
    {"gpt2-large-random", GPT2(36, 20, 1280)},
    {"gpt2-xl-random", GPT2(48, 25, 1600)},
    /* Llama 3.2 1B and Llama 3.1 8B: RoPE theta 500000 with llama3 scaling */
    {"llama3-1b-random", {.n_layer = 16, .n_head = 32, .n_kv_head = 8, .n_embd = 2048, .n_inner = 8192,
                          .n_positions = 131072, .vocab_size = 128256, .layer_norm_epsilon = 1e-5f, .arch = RELP_ARCH_LLAMA,
                          .rope_theta = 500000.0f, .rope_scaling = RELP_ROPE_SCALING_LLAMA3, .rope_factor = 32.0f,
                          .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f,
                          .rope_original_max_positions = 8192}},
    {"llama3-8b-random", {.n_layer = 32, .n_head = 32, .n_kv_head = 8, .n_embd = 4096, .n_inner = 14336,
                          .n_positions = 131072, .vocab_size = 128256, .layer_norm_epsilon = 1e-5f, .arch = RELP_ARCH_LLAMA,
                          .rope_theta = 500000.0f, .rope_scaling = RELP_ROPE_SCALING_LLAMA3, .rope_factor = 8.0f,
                          .rope_low_freq_factor = 1.0f, .rope_high_freq_factor = 4.0f,
                          .rope_original_max_positions = 8192, .untied_embeddings = 1}},
    {"smollm2-135m-random", {.n_layer = 30, .n_head = 9, .n_kv_head = 3, .n_embd = 576, .n_inner = 1536,
                             .n_positions = 8192, .vocab_size = 49152, .layer_norm_epsilon = 1e-5f,
                             .arch = RELP_ARCH_LLAMA, .rope_theta = 100000.0f}},
    {"qwen2.5-0.5b-random", {.n_layer = 24, .n_head = 14, .n_kv_head = 2, .n_embd = 896, .n_inner = 4864,
                             .n_positions = 32768, .vocab_size = 151936, .layer_norm_epsilon = 1e-6f,
                             .arch = RELP_ARCH_QWEN2, .rope_theta = 1000000.0f}},
    {"qwen3-0.6b-random", {.n_layer = 28, .n_head = 16, .n_kv_head = 8, .head_dim = 128, .n_embd = 1024,
                           .n_inner = 3072, .n_positions = 40960, .vocab_size = 151936, .layer_norm_epsilon = 1e-6f,
                           .arch = RELP_ARCH_QWEN3, .rope_theta = 1000000.0f}},
    /* Pythia: a quarter of each head rotated, parallel attention and MLP, untied embed_out */
    {"pythia-70m-random", {.n_layer = 6, .n_head = 8, .n_embd = 512, .n_inner = 2048, .n_positions = 2048,
                           .vocab_size = 50304, .layer_norm_epsilon = 1e-5f, .arch = RELP_ARCH_GPT_NEOX,
                           .rotary_dim = 16, .rope_theta = 10000.0f, .untied_embeddings = 1, .attention_bias = 1}},
    {"pythia-160m-random", {.n_layer = 12, .n_head = 12, .n_embd = 768, .n_inner = 3072, .n_positions = 2048,
                            .vocab_size = 50304, .layer_norm_epsilon = 1e-5f, .arch = RELP_ARCH_GPT_NEOX,
                            .rotary_dim = 16, .rope_theta = 10000.0f, .untied_embeddings = 1, .attention_bias = 1}},
};

const char *relp_shape_name(int32_t i) {
    return i >= 0 && (size_t)i < sizeof shapes / sizeof shapes[0] ? shapes[i].name : NULL;
}

/* a shape's config with its zero defaults filled in (head_dim, n_inner, ...), as a loaded model reports them */
static int32_t shape_resolved(struct relp_config *c, const char *name) {
    struct relp_dims d;
    char err[RELP_ERROR_LEN];
    return relp__resolve(c, &d, name, err) == RELP_STATUS_OK;
}

int32_t relp_config_from_shape_name(const char *name, struct relp_config *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; name && i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(name, shapes[i].name) == 0) {
            *c = shapes[i].c;
            return shape_resolved(c, name);
        }
    }
    int L, C, H, used = 0;
    if (name && sscanf(name, "random:%d,%d,%d%n", &L, &C, &H, &used) == 3 && name[used] == '\0' && L > 0 && L <= 1024 &&
        C > 0 && C <= 65536 && H > 0 && C % H == 0) {
        struct relp_config r = GPT2(L, H, C);
        *c = r;
        return shape_resolved(c, name);
    }
    return 0;
}
