/* loader.c - Hugging Face GPT-2 checkpoints into a relp_model.
 *
 * Reads config.json, model.safetensors (or the shards listed in
 * model.safetensors.index.json) and, if present, the tokenizer files. Tensor
 * names may carry the "transformer." prefix or not; matrices are in Conv1D
 * orientation (in, out); lm_head must be absent (tied) or equal to wte.
 * Tensors whose file dtype and alignment already match the in-memory dtype
 * are used in place (memory-mapped natively); all others are converted into
 * one owned block, laid out once. Does not read pytorch_model.bin (pickle):
 * that is refused with a message. */
#include "internal.h"

#include "json.h"
#include "ops.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ errors */

static _Thread_local char orphan_error[RELP_ERROR_LEN];
char *relp__orphan_error(void) { return orphan_error; }

enum relp_status relp__fail(char *buf, enum relp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, RELP_ERROR_LEN, fmt, ap);
    va_end(ap);
    return st;
}

const char *relp_last_error(const struct relp_model *model) { return model ? model->error : orphan_error; }

const char *relp_status_str(enum relp_status s) {
    switch (s) {
    case RELP_STATUS_OK: return "ok";
    case RELP_STATUS_IO: return "i/o error";
    case RELP_STATUS_BAD_FORMAT: return "bad file format";
    case RELP_STATUS_BAD_MODEL: return "not a usable GPT-2 checkpoint";
    case RELP_STATUS_BAD_ARGUMENT: return "bad argument";
    case RELP_STATUS_ALLOC_FAILED: return "out of memory";
    case RELP_STATUS_NO_TOKENIZER: return "model has no tokenizer";
    case RELP_STATUS_CANCELLED: return "cancelled";
    }
    return "unknown status";
}

/* ---------------------------------------------------------- half precision */

float relp__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 1024)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 1023) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7F800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    union { uint32_t u; float f; } v = {bits};
    return v.f;
}

uint16_t relp__f32_to_f16(float f) {
    union { float f; uint32_t u; } v = {f};
    uint32_t x = v.u, sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax >= 0x7F800000u) return (uint16_t)(sign | 0x7C00 | (ax > 0x7F800000u ? 0x200 : 0));
    if (ax >= 0x477FF000u) return (uint16_t)(sign | 0x7C00); /* rounds to >= 65520: inf */
    if (ax < 0x38800000u) { /* subnormal or zero in f16 */
        if (ax < 0x33000000u) return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7FFFFF) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax >> 13) - ((127 - 15) << 10));
    uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

/* ------------------------------------------------------------ config.json */

static enum relp_status parse_config(struct relp_config *cfg, const struct relp_file *f, char *err) {
    struct json_doc doc;
    if (json_parse(&doc, f->data, f->size)) {
        enum relp_status st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", f->name, doc.error);
        json_free(&doc);
        return st;
    }
    enum relp_status st = RELP_STATUS_OK;
    const struct json_value *root = &doc.v[0];
    if (root->type != JSON_OBJECT) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: is %s, expected a JSON object", f->name,
                        json_type_name(root->type));
        goto out;
    }
    const struct json_value *mt = json_get(&doc, root, "model_type");
    if (mt && (mt->type != JSON_STRING || strcmp(mt->str, "gpt2") != 0)) {
        st = relp__fail(err, RELP_STATUS_BAD_MODEL,
                        "%s: model_type is '%s'; relp runs GPT-2 checkpoints (model_type \"gpt2\")", f->name,
                        mt->type == JSON_STRING ? mt->str : json_type_name(mt->type));
        goto out;
    }
    const struct json_value *arch = json_get(&doc, root, "architectures");
    if (arch && arch->type == JSON_ARRAY) {
        for (const struct json_value *a = json_first(&doc, arch); a; a = json_next(&doc, a)) {
            if (a->type != JSON_STRING || strncmp(a->str, "GPT2", 4) != 0) {
                st = relp__fail(err, RELP_STATUS_BAD_MODEL,
                                "%s: architecture '%s' is not GPT-2; expected GPT2LMHeadModel or GPT2Model", f->name,
                                a->type == JSON_STRING ? a->str : "?");
                goto out;
            }
        }
    }
    static const struct { const char *key, *alt; int64_t lo, hi; size_t off; } ints[] = {
        {"n_layer", "num_hidden_layers", 1, 1024, offsetof(struct relp_config, n_layer)},
        {"n_head", "num_attention_heads", 1, 1024, offsetof(struct relp_config, n_head)},
        {"n_embd", "hidden_size", 1, 65536, offsetof(struct relp_config, n_embd)},
        {"n_positions", "n_ctx", 1, 1 << 20, offsetof(struct relp_config, n_positions)},
        {"vocab_size", NULL, 1, 1 << 24, offsetof(struct relp_config, vocab_size)},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        const struct json_value *v = json_get(&doc, root, ints[i].key);
        if (!v && ints[i].alt) v = json_get(&doc, root, ints[i].alt);
        int64_t x;
        if (!v) {
            st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: missing \"%s\" (a GPT-2 config.json has it)", f->name,
                            ints[i].key);
            goto out;
        }
        if (json_int(v, ints[i].lo, ints[i].hi, &x)) {
            st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: \"%s\" must be an integer in [%lld, %lld]", f->name,
                            ints[i].key, (long long)ints[i].lo, (long long)ints[i].hi);
            goto out;
        }
        *(int32_t *)((char *)cfg + ints[i].off) = (int32_t)x;
    }
    cfg->layer_norm_epsilon = 1e-5f;
    const struct json_value *eps = json_get(&doc, root, "layer_norm_epsilon");
    if (eps) {
        if (eps->type != JSON_NUMBER || !(eps->num > 0 && eps->num < 1)) {
            st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: layer_norm_epsilon must be a number in (0, 1)", f->name);
            goto out;
        }
        cfg->layer_norm_epsilon = (float)eps->num;
    }
    const struct json_value *act = json_get(&doc, root, "activation_function");
    if (act && (act->type != JSON_STRING ||
                (strcmp(act->str, "gelu_new") != 0 && strcmp(act->str, "gelu_pytorch_tanh") != 0))) {
        st = relp__fail(err, RELP_STATUS_BAD_MODEL,
                        "%s: activation_function is '%s'; relp implements GPT-2's \"gelu_new\" (tanh approximation)",
                        f->name, act->type == JSON_STRING ? act->str : json_type_name(act->type));
        goto out;
    }
    static const char *must_be_false[] = {"scale_attn_by_inverse_layer_idx", "add_cross_attention"};
    for (int i = 0; i < 2; i++) {
        const struct json_value *v = json_get(&doc, root, must_be_false[i]);
        if (v && v->type == JSON_TRUE) {
            st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: %s = true is not supported (expected false)", f->name,
                            must_be_false[i]);
            goto out;
        }
    }
    const struct json_value *scale = json_get(&doc, root, "scale_attn_weights");
    if (scale && scale->type == JSON_FALSE) {
        st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: scale_attn_weights = false is not supported", f->name);
        goto out;
    }
    if (cfg->n_embd % cfg->n_head != 0) {
        st = relp__fail(err, RELP_STATUS_BAD_MODEL, "%s: n_embd %d is not a multiple of n_head %d", f->name,
                        cfg->n_embd, cfg->n_head);
        goto out;
    }
out:
    json_free(&doc);
    return st;
}

/* ------------------------------------------------------------ tensor plan */

struct plan_entry {
    const struct st_tensor *t; /* NULL for random init */
    enum relp_dtype dst_dtype;
    const void **dst;
    int64_t numel;
    int32_t pack_k, pack_o; /* > 0: a matrix stored packed (ops.h) */
    int32_t transpose;      /* pack W^T (O, K) instead */
    size_t offset; /* in the owned block, or SIZE_MAX when used in place */
};

struct plan {
    struct plan_entry *e;
    int32_t n, cap;
    size_t owned_bytes;
};

static int plan_add(struct plan *p, const struct st_tensor *t, enum relp_dtype dst_dtype, const void **dst,
                    int64_t numel, int in_place_ok, int pack_k, int pack_o, int transpose) {
    if (p->n == p->cap) {
        int32_t cap = p->cap ? p->cap * 2 : 64;
        struct plan_entry *e = realloc(p->e, (size_t)cap * sizeof *e);
        if (!e) return -1;
        p->e = e;
        p->cap = cap;
    }
    struct plan_entry *e = &p->e[p->n++];
    e->t = t;
    e->dst_dtype = dst_dtype;
    e->dst = dst;
    e->numel = numel;
    e->pack_k = e->pack_o = 0;
    e->transpose = transpose;
    size_t esz = st_dtype_size(dst_dtype);
    if (pack_k > 0) {
        e->pack_k = pack_k;
        e->pack_o = pack_o;
        numel = (int64_t)(transpose ? relp__packed_count(pack_o, pack_k) : relp__packed_count(pack_k, pack_o));
        in_place_ok = 0;
    }
    if (in_place_ok && t && t->dtype == dst_dtype && ((uintptr_t)t->data % esz) == 0) {
        e->offset = SIZE_MAX;
    } else {
        e->offset = p->owned_bytes;
        p->owned_bytes += ((size_t)numel * esz + 63) & ~(size_t)63;
    }
    return 0;
}

static const struct st_tensor *find_tensor(const struct st_tensor *list, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) return &list[i];
    return NULL;
}

static void fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* Finds name, checks its shape against (d0[, d1]) and adds it to the plan. */
static enum relp_status bind(struct relp_model *m, struct plan *p, const struct st_tensor *list, int32_t n,
                             const char *name, int64_t d0, int64_t d1, int is_matrix, const void **dst,
                             const void **dst_t, const char *config_name) {
    const struct st_tensor *t = find_tensor(list, n, name);
    if (!t)
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "checkpoint has no tensor '%s' (nor 'transformer.%s'); a GPT-2 checkpoint has it", name, name);
    int ndim = d1 ? 2 : 1;
    int64_t want[2] = {d0, d1};
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96], exp[96];
        fmt_shape(got, sizeof got, t->shape, t->ndim);
        fmt_shape(exp, sizeof exp, want, ndim);
        if (ndim == 2 && t->ndim == 2 && t->shape[0] == d1 && t->shape[1] == d0 && d0 != d1)
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s: tensor '%s' has shape %s, the nn.Linear (out, in) orientation; GPT-2 stores Conv1D "
                              "weights as (in, out) = %s",
                              t->file, name, got, exp);
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "%s: tensor '%s' has shape %s but %s implies %s", t->file, name, got, config_name, exp);
    }
    /* the block matrices are packed; wte (the embedding and unembedding) stays row-major */
    int pack = is_matrix && strcmp(name, "wte.weight") != 0;
    if (plan_add(p, t, is_matrix ? m->weight_dtype : RELP_DTYPE_F32, dst, t->numel, 1, pack ? (int)d0 : 0,
                 pack ? (int)d1 : 0, 0) ||
        (pack && dst_t && plan_add(p, t, m->weight_dtype, dst_t, t->numel, 0, (int)d0, (int)d1, 1)))
        return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    return RELP_STATUS_OK;
}

static void convert(void *dst, enum relp_dtype dd, const void *src, enum relp_dtype sd, int64_t n) {
    if (dd == sd) {
        memcpy(dst, src, (size_t)n * st_dtype_size(dd));
        return;
    }
    for (int64_t i = 0; i < n; i++) relp__store_elem(dst, dd, (size_t)i, relp__load_elem(src, sd, (size_t)i));
}

static float tensor_value(const struct st_tensor *t, int64_t i) { return relp__load_elem(t->data, t->dtype, (size_t)i); }

static enum relp_status alloc_layers(struct relp_model *m) {
    m->layers = calloc((size_t)m->cfg.n_layer, sizeof *m->layers);
    return m->layers ? RELP_STATUS_OK : relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
}

static int is_known_tensor(const char *name, int n_layer) {
    static const char *top[] = {"wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias", "lm_head.weight"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        if (strcmp(name, top[i]) == 0) return 1;
    int layer, off = 0;
    if (sscanf(name, "h.%d.%n", &layer, &off) != 1 || off == 0 || layer < 0 || layer >= n_layer) return 0;
    static const char *per[] = {"ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                                "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                                "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias",
                                "attn.bias", "attn.masked_bias"};
    for (size_t i = 0; i < sizeof per / sizeof per[0]; i++)
        if (strcmp(name + off, per[i]) == 0) return 1;
    return 0;
}

/* Binds every GPT-2 tensor of the list into m, converting as planned. */
static enum relp_status bind_all(struct relp_model *m, const struct st_tensor *list, int32_t n) {
    const struct relp_config *c = &m->cfg;
    int64_t C = c->n_embd, L = c->n_layer;
    enum relp_status st;
    for (int32_t i = 0; i < n; i++) {
        if (!is_known_tensor(list[i].name, c->n_layer)) {
            int layer;
            if (sscanf(list[i].name, "h.%d.", &layer) == 1 && (layer < 0 || layer >= c->n_layer))
                return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                                  "%s: tensor '%s' belongs to layer %d but config.json says n_layer = %d",
                                  list[i].file, list[i].name, layer, c->n_layer);
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s: unexpected tensor '%s' (not part of GPT-2: another architecture?)", list[i].file,
                              list[i].name);
        }
    }
    if ((st = alloc_layers(m))) return st;
    struct plan p = {0};
    char name[ST_MAX_NAME];
#define BIND(nm, d0, d1, mat, dst, what) \
    if ((st = bind(m, &p, list, n, nm, d0, d1, mat, (const void **)(dst), NULL, what))) goto out
#define BINDT(nm, d0, d1, dst, dst_t, what) \
    if ((st = bind(m, &p, list, n, nm, d0, d1, 1, (const void **)(dst), m->transposed ? (const void **)(dst_t) : NULL, \
                   what)))                                                                                             \
    goto out
    BIND("wte.weight", c->vocab_size, C, 1, &m->wte, "config.json (vocab_size, n_embd)");
    BIND("wpe.weight", c->n_positions, C, 0, &m->wpe, "config.json (n_positions, n_embd)");
    BIND("ln_f.weight", C, 0, 0, &m->lnf_g, "config.json n_embd");
    BIND("ln_f.bias", C, 0, 0, &m->lnf_b, "config.json n_embd");
    for (int64_t l = 0; l < L; l++) {
        struct relp_layer *ly = &m->layers[l];
        static const char *cn = "config.json n_embd";
#define LNAME(suffix) (snprintf(name, sizeof name, "h.%d." suffix, (int)l), name)
        BIND(LNAME("ln_1.weight"), C, 0, 0, &ly->ln1_g, cn);
        BIND(LNAME("ln_1.bias"), C, 0, 0, &ly->ln1_b, cn);
        BINDT(LNAME("attn.c_attn.weight"), C, 3 * C, &ly->w_qkv, &ly->wt_qkv, cn);
        BIND(LNAME("attn.c_attn.bias"), 3 * C, 0, 0, &ly->b_qkv, cn);
        BINDT(LNAME("attn.c_proj.weight"), C, C, &ly->w_o, &ly->wt_o, cn);
        BIND(LNAME("attn.c_proj.bias"), C, 0, 0, &ly->b_o, cn);
        BIND(LNAME("ln_2.weight"), C, 0, 0, &ly->ln2_g, cn);
        BIND(LNAME("ln_2.bias"), C, 0, 0, &ly->ln2_b, cn);
        BINDT(LNAME("mlp.c_fc.weight"), C, 4 * C, &ly->w_fc, &ly->wt_fc, cn);
        BIND(LNAME("mlp.c_fc.bias"), 4 * C, 0, 0, &ly->b_fc, cn);
        BINDT(LNAME("mlp.c_proj.weight"), 4 * C, C, &ly->w_mp, &ly->wt_mp, cn);
        BIND(LNAME("mlp.c_proj.bias"), C, 0, 0, &ly->b_mp, cn);
#undef LNAME
    }
#undef BIND
#undef BINDT
    /* lm_head: absent (tied) or equal to wte */
    const struct st_tensor *lm = find_tensor(list, n, "lm_head.weight");
    const struct st_tensor *wte = find_tensor(list, n, "wte.weight");
    if (lm) {
        if (lm->ndim != 2 || lm->shape[0] != wte->shape[0] || lm->shape[1] != wte->shape[1]) {
            st = relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                            "%s: lm_head.weight has a different shape from wte.weight; relp expects the tied GPT-2 "
                            "unembedding", lm->file);
            goto out;
        }
        int same = lm->dtype == wte->dtype ? memcmp(lm->data, wte->data, (size_t)lm->numel * st_dtype_size(lm->dtype)) == 0 : 1;
        for (int64_t i = 0; lm->dtype != wte->dtype && i < lm->numel && same; i++)
            same = tensor_value(lm, i) == tensor_value(wte, i);
        if (!same) {
            st = relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                            "%s: lm_head.weight differs from wte.weight; relp expects GPT-2's tied unembedding",
                            lm->file);
            goto out;
        }
    }
    m->file_dtype = wte->dtype;
    if (p.owned_bytes) {
        m->owned = malloc(p.owned_bytes);
        if (!m->owned) {
            st = relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory: %zu bytes for converted weights",
                            p.owned_bytes);
            goto out;
        }
        m->owned_bytes = p.owned_bytes;
    }
    for (int32_t i = 0; i < p.n; i++) {
        struct plan_entry *e = &p.e[i];
        if (e->offset == SIZE_MAX) {
            *e->dst = e->t->data;
            m->mapped_bytes += (size_t)e->numel * st_dtype_size(e->dst_dtype);
        } else {
            void *dst = (char *)m->owned + e->offset;
            if (e->pack_k && e->transpose)
                relp__pack_transposed(dst, e->dst_dtype, e->t->data, e->t->dtype, e->pack_k, e->pack_o);
            else if (e->pack_k) relp__pack(dst, e->dst_dtype, e->t->data, e->t->dtype, e->pack_k, e->pack_o);
            else convert(dst, e->dst_dtype, e->t->data, e->t->dtype, e->numel);
            *e->dst = dst;
        }
    }
    st = RELP_STATUS_OK;
out:
    free(p.e);
    return st;
}

/* ------------------------------------------------------------ file sources */

/* Where checkpoint files come from: a directory (mapped on demand, kept in
 * model->files) or the caller's buffers. */
struct source {
    const char *dir;
    const struct relp_file *files;
    int32_t n_files;
    int use_mmap;
};

static int source_has(const struct source *s, const char *name) {
    if (s->dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        return relp__file_exists(path);
    }
    for (int32_t i = 0; i < s->n_files; i++)
        if (s->files[i].name && strcmp(s->files[i].name, name) == 0) return 1;
    return 0;
}

static enum relp_status source_get(struct relp_model *m, const struct source *s, const char *name,
                                   struct relp_file *out) {
    if (s->dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        struct relp_mapped_file *grown = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *grown);
        if (!grown) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
        m->files = grown;
        char err[RELP_ERROR_LEN];
        if (relp__map_file(&m->files[m->n_files], path, s->use_mmap, err, sizeof err))
            return relp__fail(m->error, RELP_STATUS_IO, "%s", err);
        out->data = m->files[m->n_files].data;
        out->size = m->files[m->n_files].size;
        m->n_files++;
        out->name = NULL;
        return RELP_STATUS_OK;
    }
    for (int32_t i = 0; i < s->n_files; i++) {
        if (s->files[i].name && strcmp(s->files[i].name, name) == 0) {
            *out = s->files[i];
            if (!out->data && out->size) return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "%s: NULL data", name);
            return RELP_STATUS_OK;
        }
    }
    return relp__fail(m->error, RELP_STATUS_IO, "%s: not among the files given", name);
}

static const char *label_of(const struct source *s, const char *name, char *buf, size_t cap) {
    if (s->dir) snprintf(buf, cap, "%s/%s", s->dir, name);
    else snprintf(buf, cap, "%s", name);
    return buf;
}

#define MAX_SHARDS 256

static enum relp_status load_tensors(struct relp_model *m, const struct source *s, struct st_tensor **list,
                                     int32_t *n, char labels[][512], int32_t *n_labels) {
    enum relp_status st;
    struct relp_file f;
    const char *shard_names[MAX_SHARDS];
    int32_t n_shards = 0;
    struct json_doc idx;
    memset(&idx, 0, sizeof idx);
    if (source_has(s, "model.safetensors.index.json")) {
        char lab[512];
        label_of(s, "model.safetensors.index.json", lab, sizeof lab);
        if ((st = source_get(m, s, "model.safetensors.index.json", &f))) return st;
        if (json_parse(&idx, f.data, f.size)) {
            st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", lab, idx.error);
            goto out;
        }
        const struct json_value *wm = json_get(&idx, &idx.v[0], "weight_map");
        if (!wm || wm->type != JSON_OBJECT) {
            st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT,
                            "%s: no \"weight_map\" object (expected {\"weight_map\": {tensor: shard file}})", lab);
            goto out;
        }
        for (const struct json_value *e = json_first(&idx, wm); e; e = json_next(&idx, e)) {
            if (e->type != JSON_STRING || strchr(e->str, '/') || strstr(e->str, "..") || !e->str_len) {
                st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT,
                                "%s: weight_map entry for '%s' must be a file name in the same directory", lab, e->key);
                goto out;
            }
            int seen = 0;
            for (int32_t k = 0; k < n_shards && !seen; k++) seen = strcmp(shard_names[k], e->str) == 0;
            if (seen) continue;
            if (n_shards == MAX_SHARDS) {
                st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT, "%s: more than %d shards", lab, MAX_SHARDS);
                goto out;
            }
            shard_names[n_shards++] = e->str;
        }
        if (n_shards == 0) {
            st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT, "%s: weight_map is empty", lab);
            goto out;
        }
    } else if (source_has(s, "model.safetensors")) {
        shard_names[n_shards++] = "model.safetensors";
    } else {
        const char *where = s->dir ? s->dir : "the files given";
        if (source_has(s, "pytorch_model.bin"))
            st = relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                            "%s: has pytorch_model.bin but no model.safetensors; relp reads only safetensors (a pickle "
                            "file can run code). Convert it with safetensors.torch.save_file, or download the "
                            "checkpoint's model.safetensors",
                            where);
        else
            st = relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                            "%s: no model.safetensors or model.safetensors.index.json (expected a Hugging Face GPT-2 "
                            "checkpoint)",
                            where);
        goto out;
    }
    for (int32_t k = 0; k < n_shards; k++) {
        label_of(s, shard_names[k], labels[*n_labels], 512);
        const char *lab = labels[(*n_labels)++];
        if ((st = source_get(m, s, shard_names[k], &f))) goto out;
        if (st_parse(f.data, f.size, lab, list, n, m->error, RELP_ERROR_LEN)) {
            st = RELP_STATUS_BAD_FORMAT;
            goto out;
        }
    }
    /* duplicate names across shards would make binding ambiguous */
    for (int32_t i = 0; i < *n; i++)
        for (int32_t j = i + 1; j < *n; j++)
            if (strcmp((*list)[i].name, (*list)[j].name) == 0) {
                st = relp__fail(m->error, RELP_STATUS_BAD_MODEL, "tensor '%s' appears twice (%s and %s)",
                                (*list)[i].name, (*list)[i].file, (*list)[j].file);
                goto out;
            }
    st = RELP_STATUS_OK;
out:
    json_free(&idx);
    return st;
}

static enum relp_status load_tokenizer(struct relp_model *m, const struct source *s, int required) {
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int i = 0; i < 2; i++) {
        if (!source_has(s, pairs[i][0]) && !source_has(s, pairs[i][1])) continue;
        if (!source_has(s, pairs[i][0]) || !source_has(s, pairs[i][1]))
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL, "%s: has %s but not %s (the tokenizer needs both)",
                              s->dir ? s->dir : "files", source_has(s, pairs[i][0]) ? pairs[i][0] : pairs[i][1],
                              source_has(s, pairs[i][0]) ? pairs[i][1] : pairs[i][0]);
        struct relp_file v, mg;
        char lv[512], lm[512];
        enum relp_status st;
        if ((st = source_get(m, s, pairs[i][0], &v)) || (st = source_get(m, s, pairs[i][1], &mg))) return st;
        v.name = label_of(s, pairs[i][0], lv, sizeof lv);
        mg.name = label_of(s, pairs[i][1], lm, sizeof lm);
        if ((st = relp__tokenizer_init(&m->tok, &v, &mg, m->error))) return st;
        if (relp__tokenizer_size(m->tok) > m->cfg.vocab_size)
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s has %d tokens but config.json vocab_size is %d", lv, relp__tokenizer_size(m->tok),
                              m->cfg.vocab_size);
        return RELP_STATUS_OK;
    }
    if (required)
        return relp__fail(m->error, RELP_STATUS_NO_TOKENIZER,
                          "%s: no tokenizer files (expected vocab.json + merges.txt, or encoder.json + vocab.bpe)",
                          s->dir ? s->dir : "files");
    return RELP_STATUS_OK;
}

struct relp_load_params relp_load_default_params(void) {
#ifdef __EMSCRIPTEN__
    struct relp_load_params p = {RELP_DTYPE_F32, 1, 0, 0}; /* the tab's memory is scarcer than time */
#else
    struct relp_load_params p = {RELP_DTYPE_F32, 1, 0, 1};
#endif
    return p;
}

static enum relp_status new_model(struct relp_model **out, const struct relp_load_params *params,
                                  struct relp_load_params *lp) {
    *out = calloc(1, sizeof **out);
    if (!*out) return relp__fail(orphan_error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    *lp = params ? *params : relp_load_default_params();
    if (lp->weight_dtype != RELP_DTYPE_F32 && lp->weight_dtype != RELP_DTYPE_F16 && lp->weight_dtype != RELP_DTYPE_BF16)
        return relp__fail((*out)->error, RELP_STATUS_BAD_ARGUMENT, "weight dtype must be f32, f16 or bf16");
    (*out)->weight_dtype = lp->weight_dtype;
    (*out)->transposed = lp->transposed_copy != 0;
    return RELP_STATUS_OK;
}

/* NaN or Inf anywhere in the checkpoint: the model loads (a forward pass
 * then gives NaN, it does not hang), with a warning as the model's error
 * text and status OK. One pass over the file's bytes. */
static void warn_non_finite(struct relp_model *m, const struct st_tensor *list, int32_t n) {
    int64_t bad = 0;
    const struct st_tensor *first = NULL;
    for (int32_t i = 0; i < n; i++) {
        const struct st_tensor *t = &list[i];
        int64_t c = 0;
        if (t->dtype == RELP_DTYPE_F32) {
            for (int64_t k = 0; k < t->numel; k++) {
                uint32_t u;
                memcpy(&u, t->data + 4 * k, 4);
                c += (u & 0x7f800000u) == 0x7f800000u;
            }
        } else {
            const uint16_t mask = t->dtype == RELP_DTYPE_F16 ? 0x7c00u : 0x7f80u;
            for (int64_t k = 0; k < t->numel; k++) {
                uint16_t h;
                memcpy(&h, t->data + 2 * k, 2);
                c += (h & mask) == mask;
            }
        }
        if (c && !first) first = t;
        bad += c;
    }
    if (bad)
        relp__fail(m->error, RELP_STATUS_OK,
                   "warning: %lld weights are NaN or Inf (the first in tensor '%s' of %s); every output will be NaN",
                   (long long)bad, first->name, first->file ? first->file : "the checkpoint");
}

static enum relp_status load_from_source(struct relp_model *m, const struct source *s,
                                         const struct relp_load_params *lp) {
    enum relp_status st;
    struct relp_file cf;
    char clabel[512];
    if (!source_has(s, "config.json")) {
        if (s->dir && !relp__dir_exists(s->dir))
            return relp__fail(m->error, RELP_STATUS_IO, "%s: no such directory (expected a GPT-2 checkpoint directory)",
                              s->dir);
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "%s: no config.json (expected a Hugging Face GPT-2 checkpoint: config.json, "
                          "model.safetensors, vocab.json, merges.txt)",
                          s->dir ? s->dir : "files");
    }
    if ((st = source_get(m, s, "config.json", &cf))) return st;
    cf.name = label_of(s, "config.json", clabel, sizeof clabel);
    if ((st = parse_config(&m->cfg, &cf, m->error))) return st;
    struct st_tensor *list = NULL;
    int32_t n = 0, n_labels = 0;
    char(*labels)[512] = malloc(MAX_SHARDS * 512);
    if (!labels) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    st = load_tensors(m, s, &list, &n, labels, &n_labels);
    if (!st) st = bind_all(m, list, n);
    if (!st) warn_non_finite(m, list, n);
    free(list);
    free(labels);
    if (st) return st;
    return load_tokenizer(m, s, lp->require_tokenizer);
}

enum relp_status relp_model_init_from_dir(struct relp_model **out, const char *dir,
                                          const struct relp_load_params *params) {
    struct relp_load_params lp;
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_model(out, params, &lp);
    if (st || !dir) return st ? st : relp__fail((*out)->error, RELP_STATUS_BAD_ARGUMENT, "no directory given");
    struct source s = {dir, NULL, 0, lp.use_mmap};
    return load_from_source(*out, &s, &lp);
}

enum relp_status relp_model_init_from_memory(struct relp_model **out, const struct relp_file *files, int32_t n_files,
                                             const struct relp_load_params *params) {
    struct relp_load_params lp;
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_model(out, params, &lp);
    if (st) return st;
    if (!files || n_files <= 0)
        return relp__fail((*out)->error, RELP_STATUS_BAD_ARGUMENT, "no files given");
    struct source s = {NULL, files, n_files, 0};
    return load_from_source(*out, &s, &lp);
}

/* ------------------------------------------------------------ random model */

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform with standard deviation std around mean */
static void fill_random(void *dst, enum relp_dtype dt, int64_t n, float mean, float std, uint64_t *rng) {
    const float a = std * 1.7320508f;
    for (int64_t i = 0; i < n; i++) {
        float u = (float)(splitmix(rng) >> 40) * (1.0f / 16777216.0f); /* [0,1) */
        float v = mean + a * (2.0f * u - 1.0f);
        relp__store_elem(dst, dt, (size_t)i, v);
    }
}

int32_t relp_config_from_shape_name(const char *name, struct relp_config *c) {
    static const struct { const char *name; int L, C, H; } shapes[] = {
        {"gpt2-small-random", 12, 768, 12}, {"gpt2-medium-random", 24, 1024, 16},
        {"gpt2-large-random", 36, 1280, 20}, {"gpt2-xl-random", 48, 1600, 25}};
    memset(c, 0, sizeof *c);
    c->n_positions = 1024;
    c->vocab_size = 50257;
    c->layer_norm_epsilon = 1e-5f;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        if (strcmp(name, shapes[i].name) == 0) {
            c->n_layer = shapes[i].L;
            c->n_embd = shapes[i].C;
            c->n_head = shapes[i].H;
            return 1;
        }
    }
    int L, C, H, used = 0;
    if (sscanf(name, "random:%d,%d,%d%n", &L, &C, &H, &used) == 3 && name[used] == '\0' && L > 0 && L <= 1024 &&
        C > 0 && C <= 65536 && H > 0 && C % H == 0) {
        c->n_layer = L;
        c->n_embd = C;
        c->n_head = H;
        return 1;
    }
    return 0;
}

enum relp_status relp_model_init_random(struct relp_model **out, const struct relp_config *config, uint64_t seed,
                                        const struct relp_load_params *params) {
    struct relp_load_params lp;
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_model(out, params, &lp);
    if (st) return st;
    struct relp_model *m = *out;
    if (!config || config->n_layer <= 0 || config->n_embd <= 0 || config->n_head <= 0 ||
        config->n_embd % config->n_head || config->n_positions <= 0 || config->vocab_size <= 0)
        return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "random model: bad config");
    m->cfg = *config;
    m->file_dtype = m->weight_dtype;
    if ((st = alloc_layers(m))) return st;
    int64_t C = config->n_embd;
    struct plan p = {0};
    int fail = 0;
#define ADD(dst, n, mat) fail |= plan_add(&p, NULL, (mat) ? m->weight_dtype : RELP_DTYPE_F32, (const void **)(dst), (n), 0, 0, 0, 0)
#define ADDP(dst, k, o) fail |= plan_add(&p, NULL, m->weight_dtype, (const void **)(dst), (k) * (o), 0, (int)(k), (int)(o), 0)
    ADD(&m->wte, (int64_t)config->vocab_size * C, 1);
    ADD(&m->wpe, (int64_t)config->n_positions * C, 0);
    ADD(&m->lnf_g, C, 0);
    ADD(&m->lnf_b, C, 0);
    for (int l = 0; l < config->n_layer; l++) {
        struct relp_layer *y = &m->layers[l];
        ADD(&y->ln1_g, C, 0); ADD(&y->ln1_b, C, 0);
#define ADDPT(dst, dst_t, k, o)                                                                                    \
    ADDP(dst, k, o);                                                                                               \
    if (m->transposed)                                                                                             \
    fail |= plan_add(&p, NULL, m->weight_dtype, (const void **)(dst_t), (k) * (o), 0, (int)(k), (int)(o), 1)
        ADDPT(&y->w_qkv, &y->wt_qkv, C, 3 * C); ADD(&y->b_qkv, 3 * C, 0);
        ADDPT(&y->w_o, &y->wt_o, C, C); ADD(&y->b_o, C, 0);
        ADD(&y->ln2_g, C, 0); ADD(&y->ln2_b, C, 0);
        ADDPT(&y->w_fc, &y->wt_fc, C, 4 * C); ADD(&y->b_fc, 4 * C, 0);
        ADDPT(&y->w_mp, &y->wt_mp, 4 * C, C); ADD(&y->b_mp, C, 0);
#undef ADDPT
    }
#undef ADD
#undef ADDP
    if (fail || !(m->owned = malloc(p.owned_bytes))) {
        free(p.e);
        return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory: %zu bytes of random weights",
                          p.owned_bytes);
    }
    m->owned_bytes = p.owned_bytes;
    uint64_t rng = seed;
    for (int32_t i = 0; i < p.n; i++) {
        struct plan_entry *e = &p.e[i];
        void *dst = (char *)m->owned + e->offset;
        *e->dst = dst;
        int is_gamma = (const void *)e->dst == (const void *)&m->lnf_g;
        for (int l = 0; l < config->n_layer && !is_gamma; l++)
            is_gamma = (const void *)e->dst == (const void *)&m->layers[l].ln1_g ||
                       (const void *)e->dst == (const void *)&m->layers[l].ln2_g;
        if (e->pack_k) { /* random values in the real columns, zeros in the panel padding */
            size_t esz = st_dtype_size(e->dst_dtype), n = (size_t)e->pack_k * e->pack_o;
            void *tmp = malloc(n * esz);
            if (!tmp) {
                free(p.e);
                return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
            }
            fill_random(tmp, e->dst_dtype, (int64_t)n, 0.0f, 0.02f, &rng);
            relp__pack(dst, e->dst_dtype, tmp, e->dst_dtype, e->pack_k, e->pack_o);
            if (m->transposed) { /* the next entry is its transposed copy */
                struct plan_entry *et = &p.e[++i];
                *et->dst = (char *)m->owned + et->offset;
                relp__pack_transposed((char *)m->owned + et->offset, e->dst_dtype, tmp, e->dst_dtype, e->pack_k,
                                      e->pack_o);
            }
            free(tmp);
            continue;
        }
        fill_random(dst, e->dst_dtype, e->numel, is_gamma ? 1.0f : 0.0f, is_gamma ? 0.1f : 0.02f, &rng);
    }
    free(p.e);
    return RELP_STATUS_OK;
}

enum relp_status relp_model_attach_tokenizer(struct relp_model *m, const struct relp_file *vocab,
                                             const struct relp_file *merges) {
    if (!m || !vocab || !merges) return RELP_STATUS_BAD_ARGUMENT;
    if (m->tok) return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "model already has a tokenizer");
    return relp__tokenizer_init(&m->tok, vocab, merges, m->error);
}

void relp_model_free(struct relp_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_files; i++) relp__unmap_file(&m->files[i]);
    free(m->files);
    free(m->owned);
    free(m->layers);
    relp__tokenizer_free(m->tok);
    free(m);
}

/* ----------------------------------------------------------------- getters */

const struct relp_config *relp_model_config(const struct relp_model *m) { return &m->cfg; }

int64_t relp_model_n_params(const struct relp_model *m) {
    int64_t C = m->cfg.n_embd;
    int64_t per_layer = 4 * C + (C * 3 * C + 3 * C) + (C * C + C) + (C * 4 * C + 4 * C) + (4 * C * C + C);
    return (int64_t)m->cfg.vocab_size * C + (int64_t)m->cfg.n_positions * C + 2 * C + m->cfg.n_layer * per_layer;
}

size_t relp_model_weight_bytes(const struct relp_model *m) { return m->owned_bytes + m->mapped_bytes; }
enum relp_dtype relp_model_weight_dtype(const struct relp_model *m) { return m->weight_dtype; }
enum relp_dtype relp_model_file_dtype(const struct relp_model *m) { return m->file_dtype; }
int32_t relp_has_tokenizer(const struct relp_model *m) { return m && m->tok != NULL; }
