/* plan.c - the tensor plan: every parameter of the model's architecture
 * (arch.c) found in the checkpoint, checked against the config, and laid
 * out in memory - converted, packed, fused with its neighbours or used in
 * place - in one owned block sized before anything is written. Random
 * models (relp_model_init_random) go through the same plan with tensors made up on the
 * way, so both paths store every parameter identically.
 *
 * Tensors whose file dtype and alignment already match the in-memory dtype
 * and that fill a whole destination are used in place (memory-mapped
 * natively); all others are converted into the owned block. */
#include "load.h"
#include "ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    const struct relp_param_spec *p;
    int32_t layer;              /* -1: model-wide */
    const struct st_tensor *t;  /* NULL: random */
    int transpose;              /* fills the transposed copy (field_t) */
    const void **dst;
    enum relp_dtype dtype;      /* in memory */
    int64_t rows, cols, off, n, src;
    size_t offset;              /* in the owned block, or SIZE_MAX when used in place */
};

struct plan {
    struct entry *e;
    int32_t n, cap;
    size_t owned_bytes;
};

static const char *full_name(const struct relp_model *m, const struct relp_param_spec *p, int32_t layer, char *buf,
                             size_t cap) {
    if (p->layer) {
        int k = snprintf(buf, cap, m->arch->layer_fmt, (int)layer);
        snprintf(buf + k, cap - (size_t)k, "%s", p->name);
    } else {
        snprintf(buf, cap, "%s", p->name);
    }
    return buf;
}

static const struct st_tensor *find_tensor(const struct st_tensor *list, int32_t n, const char *name) {
    for (int32_t i = 0; list && i < n; i++)
        if (strcmp(list[i].name, name) == 0) return &list[i];
    return NULL;
}

static void fmt_shape(char *buf, size_t cap, const int64_t *shape, int ndim) {
    size_t o = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < ndim && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (o < cap) snprintf(buf + o, cap - o, "]");
}

/* the file shape of a parameter: its dims (enum relp_dim) and values */
static int file_shape(const struct relp_model *m, const struct relp_param_spec *p, int64_t *shape, int *dims) {
    dims[0] = dims[1] = DIM_ONE;
    switch ((enum relp_layout)p->layout) {
    case LAYOUT_1D: dims[0] = p->src; break;
    case LAYOUT_2D: dims[0] = p->rows; dims[1] = p->src; break;
    case LAYOUT_T2D: dims[0] = p->src; dims[1] = p->rows; break;
    }
    int nd = p->layout == LAYOUT_1D ? 1 : 2;
    for (int i = 0; i < nd; i++) shape[i] = relp__dim(&m->d, (enum relp_dim)dims[i], 0);
    return nd;
}

static enum relp_status check_shape(struct relp_model *m, const struct relp_param_spec *p, const struct st_tensor *t,
                                    const char *name) {
    int64_t want[2];
    int dims[2];
    int nd = file_shape(m, p, want, dims);
    if (t->ndim == nd && t->shape[0] == want[0] && (nd == 1 || t->shape[1] == want[1])) return RELP_STATUS_OK;
    char got[96], exp[96], keys[128];
    fmt_shape(got, sizeof got, t->shape, t->ndim);
    fmt_shape(exp, sizeof exp, want, nd);
    const char *k0 = m->arch->dim_key[dims[0]], *k1 = nd == 2 ? m->arch->dim_key[dims[1]] : NULL;
    if (nd == 2) snprintf(keys, sizeof keys, "config.json (%s, %s)", k0 ? k0 : "?", k1 ? k1 : "?");
    else snprintf(keys, sizeof keys, "config.json %s", k0 ? k0 : "?");
    if (nd == 2 && t->ndim == 2 && t->shape[0] == want[1] && t->shape[1] == want[0] && want[0] != want[1]) {
        if (p->layout == LAYOUT_2D && p->store == STORE_PACKED)
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s: tensor '%s' has shape %s, the nn.Linear (out, in) orientation; %s stores Conv1D "
                              "weights as (in, out) = %s",
                              t->file, name, got, m->arch->arch == RELP_ARCH_GPT2 ? "GPT-2" : m->arch->model_type, exp);
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "%s: tensor '%s' has shape %s, the transpose of what %s implies (%s)", t->file, name, got, keys,
                          exp);
    }
    return relp__fail(m->error, RELP_STATUS_BAD_MODEL, "%s: tensor '%s' has shape %s but %s implies %s", t->file, name,
                      got, keys, exp);
}

static int plan_add(struct plan *pl, const struct entry *e0) {
    if (pl->n == pl->cap) {
        int32_t cap = pl->cap ? pl->cap * 2 : 64;
        struct entry *e = realloc(pl->e, (size_t)cap * sizeof *e);
        if (!e) return -1;
        pl->e = e;
        pl->cap = cap;
    }
    struct entry *e = &pl->e[pl->n++];
    *e = *e0;
    /* pieces of one destination share its storage */
    for (int32_t i = 0; i < pl->n - 1; i++)
        if (pl->e[i].dst == e->dst) {
            e->offset = pl->e[i].offset;
            return 0;
        }
    const size_t esz = st_dtype_size(e->dtype);
    size_t numel = (size_t)(e->rows * e->cols);
    if (e->p->store == STORE_PACKED)
        numel = e->transpose ? relp__packed_count((int)e->cols, (int)e->rows) : relp__packed_count((int)e->rows, (int)e->cols);
    const int whole = e->off == 0 && e->n == e->cols && e->src == e->n && e->p->map == MAP_NONE;
    if (whole && e->t && e->p->store != STORE_PACKED && e->p->layout != LAYOUT_T2D && e->t->dtype == e->dtype &&
        ((uintptr_t)e->t->data % esz) == 0) {
        e->offset = SIZE_MAX;
        return 0;
    }
    e->offset = pl->owned_bytes;
    pl->owned_bytes += (numel * esz + 63) & ~(size_t)63;
    return 0;
}

/* the parameter's entries (and its transposed copy's) for one layer */
static enum relp_status add_param(struct relp_model *m, struct plan *pl, const struct relp_param_spec *p, int32_t layer,
                                  const struct st_tensor *list, int32_t n) {
    char name[ST_MAX_NAME];
    full_name(m, p, layer, name, sizeof name);
    const struct st_tensor *t = NULL;
    enum relp_status st;
    if (list) {
        if (!(t = find_tensor(list, n, name))) {
            int shards = 0; /* name the file, or the shards */
            for (int32_t i = 1; i < n && !shards; i++) shards = strcmp(list[i].file, list[0].file) != 0;
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s%s: no tensor '%s' (nor '%s%s'); a %s checkpoint of this config.json has it",
                              shards ? "the shards of " : "", n ? list[0].file : "the checkpoint", name,
                              m->arch->prefix, name, m->arch->model_type);
        }
        if ((st = check_shape(m, p, t, name))) return st;
    }
    char *base = p->layer ? (char *)&m->layers[layer] : (char *)m;
    struct entry e;
    memset(&e, 0, sizeof e);
    e.p = p;
    e.layer = layer;
    e.t = t;
    e.dst = (const void **)(base + p->field);
    e.dtype = p->store == STORE_F32 ? RELP_DTYPE_F32 : m->weight_dtype;
    e.rows = relp__dim(&m->d, (enum relp_dim)p->rows, 0);
    e.cols = relp__dim(&m->d, (enum relp_dim)p->cols, 0);
    e.off = relp__dim(&m->d, (enum relp_dim)p->off, 0);
    e.n = relp__dim(&m->d, (enum relp_dim)p->n, 0);
    e.src = relp__dim(&m->d, (enum relp_dim)p->src, 0);
    if (plan_add(pl, &e)) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    if (p->store == STORE_PACKED && p->field_t && m->transposed) {
        e.transpose = 1;
        e.dst = (const void **)(base + p->field_t);
        if (plan_add(pl, &e)) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    }
    return RELP_STATUS_OK;
}

/* the view of a tensor's data as the piece an entry fills */
static struct relp_view view_of(const struct relp_model *m, const struct entry *e, const void *data,
                                enum relp_dtype dtype) {
    struct relp_view v = {data, dtype, 0, 1, 0, 0, 0};
    if (e->p->layout == LAYOUT_2D) v.rs = e->src;
    if (e->p->layout == LAYOUT_T2D) {
        v.rs = 1;
        v.cs = e->rows;
    }
    if (e->p->map != MAP_NONE) { /* GPT-NeoX: per head [q | k | v] */
        v.blk = m->d.HS;
        v.stride = 3 * m->d.HS;
        v.off = (e->p->map - MAP_NEOX_Q) * m->d.HS;
    }
    return v;
}

static void fill(const struct relp_model *m, const struct entry *e, void *dst, const void *data, enum relp_dtype dtype) {
    struct relp_view v = view_of(m, e, data, dtype);
    if (e->p->store == STORE_PACKED && e->transpose)
        relp__pack_block_t(dst, e->dtype, (int)e->rows, (int)e->cols, (int)e->off, (int)e->n, &v);
    else if (e->p->store == STORE_PACKED)
        relp__pack_block(dst, e->dtype, (int)e->rows, (int)e->cols, (int)e->off, (int)e->n, &v);
    else relp__copy_block(dst, e->dtype, e->rows, e->cols, e->off, e->n, &v);
}

/* ---------------------------------------------------------------- names */

static const struct relp_param_spec *find_param(const struct relp_arch_spec *a, uint16_t field, int layer) {
    for (int32_t i = 0; i < a->n_params; i++)
        if (a->params[i].field == field && a->params[i].layer == layer) return &a->params[i];
    return NULL;
}

/* Every tensor of the checkpoint is a parameter of this architecture and
 * config, or a buffer it ignores. */
static enum relp_status check_names(struct relp_model *m, const struct st_tensor *list, int32_t n) {
    const struct relp_arch_spec *a = m->arch;
    char fmt[64];
    snprintf(fmt, sizeof fmt, "%s%%n", a->layer_fmt);
    const struct relp_param_spec *unemb = find_param(a, (uint16_t)offsetof(struct relp_model, wu), 0);
    for (int32_t i = 0; i < n; i++) {
        const char *name = list[i].name;
        int layer = -1, off = 0, known = 0;
        if (sscanf(name, fmt, &layer, &off) == 1 && off > 0) {
            if (layer < 0 || layer >= m->d.L)
                return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                                  "%s: tensor '%s' belongs to layer %d but config.json says %s = %d", list[i].file, name,
                                  layer, a->arch == RELP_ARCH_GPT2 ? "n_layer" : "num_hidden_layers", m->d.L);
            for (int32_t k = 0; k < a->n_params && !known; k++)
                known = a->params[k].layer && strcmp(a->params[k].name, name + off) == 0 &&
                        relp__param_present(&a->params[k], &m->cfg);
            for (int k = 0; a->ignored[k] && !known; k++) known = strcmp(a->ignored[k], name + off) == 0;
        } else {
            for (int32_t k = 0; k < a->n_params && !known; k++)
                known = !a->params[k].layer && strcmp(a->params[k].name, name) == 0 &&
                        (relp__param_present(&a->params[k], &m->cfg) || &a->params[k] == unemb);
        }
        if (!known)
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s: unexpected tensor '%s' (not a parameter of a %s checkpoint with this config.json: "
                              "another architecture, or a config flag such as attention_bias that disagrees?)",
                              list[i].file, name, a->model_type);
    }
    return RELP_STATUS_OK;
}

/* tied embeddings: an unembedding in the file must equal the embedding */
static enum relp_status check_tied(struct relp_model *m, const struct st_tensor *list, int32_t n) {
    const struct relp_param_spec *pu = find_param(m->arch, (uint16_t)offsetof(struct relp_model, wu), 0);
    const struct relp_param_spec *pe = find_param(m->arch, (uint16_t)offsetof(struct relp_model, wte), 0);
    if (m->cfg.untied_embeddings || !pu || !pe) return RELP_STATUS_OK;
    const struct st_tensor *u = find_tensor(list, n, pu->name), *e = find_tensor(list, n, pe->name);
    if (!u || !e) return RELP_STATUS_OK;
    if (u->ndim != 2 || u->shape[0] != e->shape[0] || u->shape[1] != e->shape[1])
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "%s: %s has a different shape from %s; config.json says the embeddings are tied "
                          "(tie_word_embeddings), so relp expects the same matrix",
                          u->file, pu->name, pe->name);
    int same = u->dtype == e->dtype ? memcmp(u->data, e->data, (size_t)u->numel * st_dtype_size(u->dtype)) == 0 : 1;
    for (int64_t i = 0; u->dtype != e->dtype && i < u->numel && same; i++)
        same = relp__load_elem(u->data, u->dtype, (size_t)i) == relp__load_elem(e->data, e->dtype, (size_t)i);
    if (!same)
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "%s: %s differs from %s, but config.json says the embeddings are tied (tie_word_embeddings); "
                          "relp expects the tied unembedding",
                          u->file, pu->name, pe->name);
    return RELP_STATUS_OK;
}

/* ----------------------------------------------------------------- random */

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
        relp__store_elem(dst, dt, (size_t)i, mean + a * (2.0f * u - 1.0f));
    }
}

/* ------------------------------------------------------------------ bind */

void relp__set_arch(struct relp_model *m) {
    const struct relp_arch_spec *a = m->arch;
    m->rms_norm = a->rms_norm;
    m->gated = a->gated;
    m->qk_norm = a->qk_norm;
    m->parallel = a->parallel && !m->cfg.sequential_residual;
    m->act = a->act;
    if (a->arch == RELP_ARCH_GPT_NEOX && m->cfg.gelu_tanh) m->act = ACT_GELU_TANH;
}

int64_t relp__weight_bytes(const struct relp_model *m, enum relp_dtype weights, int transposed) {
    int64_t total = 0;
    const int64_t esz = weights == RELP_DTYPE_F32 ? 4 : 2;
    for (int32_t i = 0; i < m->arch->n_params; i++) {
        const struct relp_param_spec *p = &m->arch->params[i];
        if (!relp__param_present(p, &m->cfg) || p->off != DIM_ZERO) continue; /* each destination once */
        const int64_t K = relp__dim(&m->d, (enum relp_dim)p->rows, 0), O = relp__dim(&m->d, (enum relp_dim)p->cols, 0);
        int64_t b = p->store == STORE_F32 ? 4 * K * O : esz * K * O;
        if (p->store == STORE_PACKED) {
            b = esz * (int64_t)relp__packed_count((int)K, (int)O);
            if (transposed && p->field_t) b += esz * (int64_t)relp__packed_count((int)O, (int)K);
        }
        total += p->layer ? b * m->d.L : b;
    }
    return total;
}

int64_t relp__count_params(const struct relp_model *m) {
    int64_t total = 0;
    for (int32_t i = 0; i < m->arch->n_params; i++) {
        const struct relp_param_spec *p = &m->arch->params[i];
        if (!relp__param_present(p, &m->cfg)) continue;
        int64_t k = relp__dim(&m->d, (enum relp_dim)p->rows, 0) * relp__dim(&m->d, (enum relp_dim)p->n, 0);
        total += p->layer ? k * m->d.L : k;
    }
    return total;
}

enum relp_status relp__bind(struct relp_model *m, const struct st_tensor *list, int32_t n, uint64_t seed) {
    const struct relp_arch_spec *a = m->arch;
    enum relp_status st;
    if (list && (st = check_names(m, list, n))) return st;
    m->layers = calloc((size_t)m->d.L, sizeof *m->layers);
    if (!m->layers) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    struct plan pl = {0};
    /* model-wide parameters first, then each layer's, in table order */
    for (int32_t layer = -1; layer < m->d.L; layer++)
        for (int32_t i = 0; i < a->n_params; i++) {
            const struct relp_param_spec *p = &a->params[i];
            if ((layer >= 0) != (p->layer != 0) || !relp__param_present(p, &m->cfg)) continue;
            if ((st = add_param(m, &pl, p, layer, list, n))) goto out;
        }
    if (list && (st = check_tied(m, list, n))) goto out;
    if (pl.owned_bytes) {
        m->owned = malloc(pl.owned_bytes);
        if (!m->owned) {
            st = relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory: %zu bytes for %s weights",
                            pl.owned_bytes, list ? "converted" : "random");
            goto out;
        }
        m->owned_bytes = pl.owned_bytes;
    }
    uint64_t rng = seed;
    void *made = NULL; /* random: the tensor the current run of entries reads */
    for (int32_t i = 0; i < pl.n; i++) {
        struct entry *e = &pl.e[i];
        void *dst = e->offset == SIZE_MAX ? NULL : (char *)m->owned + e->offset;
        if (e->t) {
            if (!dst) {
                *e->dst = e->t->data;
                m->mapped_bytes += (size_t)e->t->numel * st_dtype_size(e->dtype);
            } else {
                fill(m, e, dst, e->t->data, e->t->dtype);
                *e->dst = dst;
            }
            continue;
        }
        /* random: one tensor per name (in the file's layout), read by its entries */
        const struct entry *prev = i ? &pl.e[i - 1] : NULL;
        int same = prev && prev->layer == e->layer && strcmp(prev->p->name, e->p->name) == 0;
        enum relp_dtype fdt = e->p->store == STORE_F32 ? RELP_DTYPE_F32 : m->weight_dtype;
        int64_t shape[2];
        int dims[2];
        int nd = file_shape(m, e->p, shape, dims);
        int64_t numel = nd == 1 ? shape[0] : shape[0] * shape[1];
        const float mean = e->p->init == INIT_GAIN ? 1.0f : 0.0f, sd = e->p->init == INIT_GAIN ? 0.1f : 0.02f;
        const struct entry *next = i + 1 < pl.n ? &pl.e[i + 1] : NULL;
        int shared = next && next->layer == e->layer && strcmp(next->p->name, e->p->name) == 0;
        if (!same && !shared && e->p->store != STORE_PACKED && e->off == 0 && e->n == e->cols && e->p->map == MAP_NONE &&
            e->p->layout != LAYOUT_T2D && fdt == e->dtype) { /* generated in place */
            fill_random(dst, fdt, numel, mean, sd, &rng);
            *e->dst = dst;
            continue;
        }
        if (!same) {
            free(made);
            made = malloc((size_t)numel * st_dtype_size(fdt));
            if (!made) {
                st = relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
                goto out;
            }
            fill_random(made, fdt, numel, mean, sd, &rng);
        }
        fill(m, e, dst, made, fdt);
        *e->dst = dst;
    }
    free(made);
    if (!m->cfg.untied_embeddings) m->wu = m->wte;
    m->file_dtype = m->weight_dtype;
    if (list) {
        const struct relp_param_spec *pe = find_param(a, (uint16_t)offsetof(struct relp_model, wte), 0);
        const struct st_tensor *te = pe ? find_tensor(list, n, pe->name) : NULL;
        if (te) m->file_dtype = te->dtype;
    }
    st = RELP_STATUS_OK;
out:
    free(pl.e);
    return st;
}
