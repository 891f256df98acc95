/* sae.c - sparse autoencoders in SAELens's layout (relp.h, CIRCUITS): a
 * folder per hook with cfg.json and sae_weights.safetensors, loaded for a
 * model, checked against its hooks, kept in forward order; encode and
 * decode. The files are memory-mapped; W_dec is used in place when it is F32
 * and aligned (decode reads its rows, the feature scores multiply by its
 * transpose), else converted to f32; W_enc is packed in f32 panels for the
 * forward product kernel (ops.h). */
#include "circuits.h"
#include "ops.h"
#include "safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ hooks */

/* The hook kinds in forward order within a layer (resid_post L is resid_pre L+1, after the layer's others). */
static const struct {
    const char *suffix;
    enum relp_node node;
    int next_layer; /* 1: the node of layer L+1 */
} hook_kinds[] = {
    {"hook_resid_pre", RELP_NODE_RESID_PRE, 0}, {"attn.hook_z", RELP_NODE_ATTN_Z, 0},
    {"hook_attn_out", RELP_NODE_ATTN_OUT, 0},   {"mlp.hook_post", RELP_NODE_MLP_POST, 0},
    {"hook_mlp_out", RELP_NODE_MLP_OUT, 0},     {"hook_resid_post", RELP_NODE_RESID_PRE, 1},
};
#define N_HOOK_KINDS (int)(sizeof hook_kinds / sizeof hook_kinds[0])

int relp__hook_parse(const struct relp_model *m, const char *name, enum relp_node *node, int32_t *layer,
                     int32_t *hook_layer, int32_t *order) {
    int L = -1, off = 0;
    if (!name || sscanf(name, "blocks.%d.%n", &L, &off) != 1 || off == 0 || L < 0 || L >= m->d.L) return -1;
    for (int k = 0; k < N_HOOK_KINDS; k++)
        if (strcmp(name + off, hook_kinds[k].suffix) == 0) {
            *node = hook_kinds[k].node;
            *layer = L + hook_kinds[k].next_layer;
            *hook_layer = L;
            *order = L * N_HOOK_KINDS + k;
            return 0;
        }
    return -1;
}

void relp__hook_name(enum relp_node node, int32_t layer, int resid_post, char *buf, size_t cap) {
    for (int k = 0; k < N_HOOK_KINDS; k++)
        if (hook_kinds[k].node == node && hook_kinds[k].next_layer == (resid_post != 0)) {
            snprintf(buf, cap, "blocks.%d.%s", (int)(layer - hook_kinds[k].next_layer), hook_kinds[k].suffix);
            return;
        }
    snprintf(buf, cap, "?");
}

/* ------------------------------------------------------------ loading */

static enum relp_status sfail(struct relp_saes *s, enum relp_status st, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static enum relp_status sfail(struct relp_saes *s, enum relp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->error, sizeof s->error, fmt, ap);
    va_end(ap);
    return st;
}

static void *owned(struct relp_saes *s, size_t bytes) {
    void **grown = realloc(s->owned, (size_t)(s->n_owned + 1) * sizeof *grown);
    if (!grown) return NULL;
    s->owned = grown;
    void *p = malloc(bytes ? bytes : 1);
    if (p) s->owned[s->n_owned++] = p;
    return p;
}

static const struct st_tensor *find(const struct st_tensor *list, int32_t n, const char *name) {
    for (int32_t i = 0; i < n; i++)
        if (strcmp(list[i].name, name) == 0) return &list[i];
    return NULL;
}

/* A tensor of the given shape (rows, cols; cols 0: a vector), finite, as f32 (converted into an owned copy) or in
 * place when keep_dtype allows its dtype and it is aligned. */
static enum relp_status tensor(struct relp_saes *s, const char *label, const struct st_tensor *list, int32_t n,
                               const char *name, int64_t rows, int64_t cols, int keep_dtype, const void **data,
                               enum relp_dtype *dtype) {
    const struct st_tensor *t = find(list, n, name);
    if (!t) return sfail(s, RELP_STATUS_BAD_FORMAT, "%s: no tensor '%s' (an SAE needs W_enc, b_enc, W_dec, b_dec)", label, name);
    int ok = cols ? t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols : t->ndim == 1 && t->shape[0] == rows;
    if (!ok) {
        char got[96];
        size_t o = (size_t)snprintf(got, sizeof got, "[");
        for (int i = 0; i < t->ndim && o < sizeof got; i++)
            o += (size_t)snprintf(got + o, sizeof got - o, i ? ", %lld" : "%lld", (long long)t->shape[i]);
        if (o < sizeof got) snprintf(got + o, sizeof got - o, "]");
        if (cols)
            return sfail(s, RELP_STATUS_BAD_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld, %lld] from cfg.json's d_in and d_sae",
                         label, name, got, (long long)rows, (long long)cols);
        return sfail(s, RELP_STATUS_BAD_FORMAT, "%s: tensor '%s' has shape %s, expected [%lld] from cfg.json", label, name, got,
                     (long long)rows);
    }
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(relp__load_elem(t->data, t->dtype, (size_t)i)))
            return sfail(s, RELP_STATUS_BAD_FORMAT, "%s: tensor '%s' holds NaN or Inf (element %lld); an SAE must be finite",
                         label, name, (long long)i);
    const size_t esz = st_dtype_size(t->dtype);
    if ((keep_dtype || t->dtype == RELP_DTYPE_F32) && (uintptr_t)t->data % esz == 0) {
        *data = t->data;
        if (dtype) *dtype = t->dtype;
        return RELP_STATUS_OK;
    }
    float *f = owned(s, (size_t)t->numel * sizeof(float));
    if (!f) return sfail(s, RELP_STATUS_ALLOC_FAILED, "out of memory for %s's %s", label, name);
    for (int64_t i = 0; i < t->numel; i++) f[i] = relp__load_elem(t->data, t->dtype, (size_t)i);
    *data = f;
    if (dtype) *dtype = RELP_DTYPE_F32;
    return RELP_STATUS_OK;
}

static int json_bool(const struct relp_json_value *v, int def) {
    if (!v) return def;
    return v->type == RELP_JSON_TRUE;
}

/* One SAE from its cfg.json and safetensors buffers; label: its folder, for messages. */
static enum relp_status load_one(struct relp_saes *s, const char *label, const struct relp_file *cfg,
                                 const struct relp_file *weights) {
    const struct relp_model *m = s->model;
    struct relp_sae sae;
    memset(&sae, 0, sizeof sae);
    snprintf(sae.path, sizeof sae.path, "%s", label);
    struct relp_json_doc doc;
    memset(&doc, 0, sizeof doc);
    enum relp_status st = RELP_STATUS_OK;
    struct st_tensor *list = NULL;
    int32_t n = 0;
    if (relp_json_parse(&doc, (const char *)cfg->data, cfg->size)) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: not valid JSON (%s)", label, doc.error);
        goto out;
    }
    const struct relp_json_value *root = &doc.v[0];
    if (root->type != RELP_JSON_OBJECT) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: expected a JSON object", label);
        goto out;
    }
    int64_t d_in = 0, d_sae = 0;
    const struct relp_json_value *v;
    if (!(v = relp_json_get(&doc, root, "d_in")) || relp_json_int(v, 1, 1 << 24, &d_in) ||
        !(v = relp_json_get(&doc, root, "d_sae")) || relp_json_int(v, 1, 1 << 26, &d_sae)) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: d_in and d_sae must be positive integers", label);
        goto out;
    }
    v = relp_json_get(&doc, root, "hook_name");
    if (!v || v->type != RELP_JSON_STRING) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: no hook_name string (e.g. \"blocks.0.hook_resid_pre\")", label);
        goto out;
    }
    snprintf(sae.hook_name, sizeof sae.hook_name, "%s", v->str);
    int32_t order = 0;
    if (relp__hook_parse(m, v->str, &sae.node, &sae.layer, &sae.hook_layer, &order) || sae.node == RELP_NODE_ATTN_Z) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT,
                   "%s/cfg.json: hook_name \"%s\" is not a hook of this %d-layer model; expected blocks.L.hook_resid_pre, "
                   "blocks.L.hook_attn_out, blocks.L.mlp.hook_post, blocks.L.hook_mlp_out or blocks.L.hook_resid_post "
                   "with L in 0..%d",
                   label, v->str, m->d.L, m->d.L - 1);
        goto out;
    }
    sae.order = order;
    const int32_t width = relp_node_width(m, sae.node);
    if (d_in != width) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: d_in %lld does not match hook %s, whose width is %d in this model",
                   label, (long long)d_in, sae.hook_name, width);
        goto out;
    }
    sae.d_in = (int32_t)d_in;
    sae.d_sae = (int32_t)d_sae;
    v = relp_json_get(&doc, root, "architecture");
    const char *arch = v && v->type == RELP_JSON_STRING ? v->str : v ? NULL : "standard"; /* SAELens's default */
    if (arch && !strcmp(arch, "standard")) sae.arch = RELP_SAE_STANDARD;
    else if (arch && !strcmp(arch, "topk")) sae.arch = RELP_SAE_TOPK;
    else if (arch && !strcmp(arch, "jumprelu")) sae.arch = RELP_SAE_JUMPRELU;
    else {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: architecture %s%s%s is not one relp reads (standard, topk or jumprelu)",
                   label, arch ? "\"" : "", arch ? arch : "(not a string)", arch ? "\"" : "");
        goto out;
    }
    v = relp_json_get(&doc, root, "normalize_activations");
    if (v && v->type != RELP_JSON_NULL && !(v->type == RELP_JSON_STRING && !strcmp(v->str, "none"))) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT,
                   "%s/cfg.json: normalize_activations is %s%s%s; relp reads only \"none\" (the activations as the model "
                   "computes them)",
                   label, v->type == RELP_JSON_STRING ? "\"" : "", v->type == RELP_JSON_STRING ? v->str : "not a string",
                   v->type == RELP_JSON_STRING ? "\"" : "");
        goto out;
    }
    sae.apply_b_dec_to_input = json_bool(relp_json_get(&doc, root, "apply_b_dec_to_input"), 1);
    if (sae.arch == RELP_SAE_TOPK) {
        const struct relp_json_value *kw = relp_json_get(&doc, root, "activation_fn_kwargs");
        const struct relp_json_value *kv = kw && kw->type == RELP_JSON_OBJECT ? relp_json_get(&doc, kw, "k") : NULL;
        if (!kv) kv = relp_json_get(&doc, root, "k");
        int64_t k = 0;
        if (!kv || relp_json_int(kv, 1, d_sae, &k)) {
            st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s/cfg.json: a topk SAE needs activation_fn_kwargs.k, an integer in 1..d_sae (%lld)",
                       label, (long long)d_sae);
            goto out;
        }
        sae.k = (int32_t)k;
    }
    char wlabel[600];
    snprintf(wlabel, sizeof wlabel, "%s/sae_weights.safetensors", label);
    char err[RELP_ERROR_LEN];
    if (st_parse(weights->data, weights->size, wlabel, NULL, &list, &n, err, sizeof err)) {
        st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s", err);
        goto out;
    }
    const void *p;
    const void *w_enc;
    enum relp_dtype enc_dtype;
    if ((st = tensor(s, wlabel, list, n, "W_enc", d_in, d_sae, 1, &w_enc, &enc_dtype)) ||
        (st = tensor(s, wlabel, list, n, "W_dec", d_sae, d_in, 0, &p, NULL)))
        goto out;
    sae.W_dec = p;
    /* the encoder packed in panels for the forward product kernel (f32: the scores' precision) */
    float *packed = owned(s, relp__packed_count((int)d_in, (int)d_sae) * sizeof(float));
    if (!packed) {
        st = sfail(s, RELP_STATUS_ALLOC_FAILED, "out of memory for %s's encoder", label);
        goto out;
    }
    relp__pack(packed, RELP_DTYPE_F32, w_enc, enc_dtype, (int)d_in, (int)d_sae);
    sae.W_enc = packed;
    float *packed_t = owned(s, relp__packed_count((int)d_in, (int)d_sae) * sizeof(float));
    if (!packed_t) {
        st = sfail(s, RELP_STATUS_ALLOC_FAILED, "out of memory for %s's decoder", label);
        goto out;
    }
    relp__pack_transposed(packed_t, RELP_DTYPE_F32, sae.W_dec, RELP_DTYPE_F32, (int)d_sae, (int)d_in);
    sae.W_decT = packed_t;
    if ((st = tensor(s, wlabel, list, n, "b_enc", d_sae, 0, 0, &p, NULL))) goto out;
    sae.b_enc = p;
    if ((st = tensor(s, wlabel, list, n, "b_dec", d_in, 0, 0, &p, NULL))) goto out;
    sae.b_dec = p;
    if (sae.arch == RELP_SAE_JUMPRELU) {
        if (!find(list, n, "threshold")) {
            st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s: no tensor 'threshold' (a jumprelu SAE needs one per feature)", wlabel);
            goto out;
        }
        if ((st = tensor(s, wlabel, list, n, "threshold", d_sae, 0, 0, &p, NULL))) goto out;
        sae.threshold = p;
    }
    sae.file_dtype = find(list, n, "W_enc")->dtype;
    for (int32_t i = 0; i < s->n; i++)
        if (s->s[i].order == sae.order) {
            st = sfail(s, RELP_STATUS_BAD_FORMAT, "%s and %s are both SAEs of %s; give one SAE per hook", s->s[i].path, label,
                       sae.hook_name);
            goto out;
        }
    struct relp_sae *grown = realloc(s->s, (size_t)(s->n + 1) * sizeof *grown);
    if (!grown) {
        st = sfail(s, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    s->s = grown;
    int32_t at = s->n; /* insertion in forward order */
    while (at > 0 && s->s[at - 1].order > sae.order) {
        s->s[at] = s->s[at - 1];
        at--;
    }
    s->s[at] = sae;
    s->n++;
out:
    free(list);
    relp_json_free(&doc);
    return st;
}

static enum relp_status new_saes(struct relp_saes **out, const struct relp_model *model) {
    *out = calloc(1, sizeof **out);
    if (!*out) return relp__fail(relp__orphan_error(), RELP_STATUS_ALLOC_FAILED, "out of memory");
    (*out)->model = model;
    if (!model) return sfail(*out, RELP_STATUS_BAD_ARGUMENT, "SAEs: no model");
    return RELP_STATUS_OK;
}

static enum relp_status map_into(struct relp_saes *s, const char *path, struct relp_file *f) {
    struct relp_mapped_file *grown = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *grown);
    if (!grown) return sfail(s, RELP_STATUS_ALLOC_FAILED, "out of memory");
    s->files = grown;
    char err[RELP_ERROR_LEN];
    if (relp__map_file(&s->files[s->n_files], path, 1, err, sizeof err)) return sfail(s, RELP_STATUS_IO, "%s", err);
    f->data = s->files[s->n_files].data;
    f->size = s->files[s->n_files].size;
    f->name = NULL;
    s->n_files++;
    return RELP_STATUS_OK;
}

static enum relp_status load_folder(struct relp_saes *s, const char *dir) {
    char cp[4096], wp[4096];
    snprintf(cp, sizeof cp, "%s/cfg.json", dir);
    snprintf(wp, sizeof wp, "%s/sae_weights.safetensors", dir);
    if (!relp__file_exists(wp))
        return sfail(s, RELP_STATUS_IO, "%s: no sae_weights.safetensors beside its cfg.json (SAELens's layout)", dir);
    struct relp_file cfg, w;
    enum relp_status st;
    if ((st = map_into(s, cp, &cfg)) || (st = map_into(s, wp, &w))) return st;
    return load_one(s, dir, &cfg, &w);
}

enum relp_status relp_saes_init_from_dir(struct relp_saes **out, const struct relp_model *model, const char *dir) {
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_saes(out, model);
    if (st) return st;
    struct relp_saes *s = *out;
    if (!dir || !relp__dir_exists(dir)) return sfail(s, RELP_STATUS_IO, "%s: not a folder of SAEs", dir ? dir : "(null)");
    char cp[4096];
    snprintf(cp, sizeof cp, "%s/cfg.json", dir);
    if (relp__file_exists(cp)) return load_folder(s, dir);
    char **names = NULL;
    int32_t n = 0;
    if (relp__list_dir(dir, &names, &n))
        return sfail(s, RELP_STATUS_IO, "%s: cannot list the folder", dir);
    for (int32_t i = 0; i < n && !st; i++) {
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s/cfg.json", dir, names[i]);
        if (!relp__file_exists(sub)) continue;
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
        st = load_folder(s, sub);
    }
    for (int32_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!st && s->n == 0)
        st = sfail(s, RELP_STATUS_IO, "%s: no SAE found (expected cfg.json + sae_weights.safetensors in it or in its subfolders)", dir);
    return st;
}

enum relp_status relp_saes_init_from_memory(struct relp_saes **out, const struct relp_model *model,
                                            const struct relp_file *files, int32_t n_files) {
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_saes(out, model);
    if (st) return st;
    struct relp_saes *s = *out;
    if (n_files < 0 || (n_files > 0 && !files)) return sfail(s, RELP_STATUS_BAD_ARGUMENT, "SAEs: bad file list");
    for (int32_t i = 0; i < n_files && !st; i++) {
        const char *nm = files[i].name, *slash = nm ? strrchr(nm, '/') : NULL;
        if (!slash || strcmp(slash, "/cfg.json") != 0) continue;
        const size_t dl = (size_t)(slash - nm);
        const struct relp_file *w = NULL;
        for (int32_t j = 0; j < n_files && !w; j++)
            if (files[j].name && strncmp(files[j].name, nm, dl) == 0 && !strcmp(files[j].name + dl, "/sae_weights.safetensors"))
                w = &files[j];
        char label[512];
        snprintf(label, sizeof label, "%.*s", (int)(dl < 500 ? dl : 500), nm);
        if (!w) {
            st = sfail(s, RELP_STATUS_IO, "%s: no sae_weights.safetensors beside its cfg.json", label);
            break;
        }
        if ((!files[i].data && files[i].size) || (!w->data && w->size)) {
            st = sfail(s, RELP_STATUS_BAD_ARGUMENT, "%s: NULL data", label);
            break;
        }
        st = load_one(s, label, &files[i], w);
    }
    if (!st && s->n == 0) st = sfail(s, RELP_STATUS_IO, "SAEs: no \"<folder>/cfg.json\" among the %d files given", n_files);
    return st;
}

void relp_saes_free(struct relp_saes *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->n_files; i++) relp__unmap_file(&s->files[i]);
    for (int32_t i = 0; i < s->n_owned; i++) free(s->owned[i]);
    free(s->files);
    free(s->owned);
    free(s->s);
    free(s);
}

const char *relp_saes_last_error(const struct relp_saes *s) { return s ? s->error : relp__orphan_error(); }
int32_t relp_saes_count(const struct relp_saes *s) { return s ? s->n : 0; }

enum relp_status relp_saes_info(const struct relp_saes *s, int32_t i, struct relp_sae_info *info) {
    if (!s || !info || i < 0 || i >= s->n) return RELP_STATUS_BAD_ARGUMENT;
    const struct relp_sae *e = &s->s[i];
    info->hook_name = e->hook_name;
    info->path = e->path;
    info->node = e->node;
    info->layer = e->layer;
    info->hook_layer = e->hook_layer;
    info->d_in = e->d_in;
    info->d_sae = e->d_sae;
    info->arch = e->arch;
    info->k = e->k;
    info->apply_b_dec_to_input = e->apply_b_dec_to_input;
    info->dtype = e->file_dtype;
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------ encode, decode */

/* The k-th largest of v[0..m) (0 < k <= m), v reordered: quickselect with Lomuto partitions, whose loops are
 * bounded whatever the comparisons say (NaN). */
static float kth_largest(float *v, int m, int k) {
    int lo = 0, hi = m - 1, want = k - 1;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        float t = v[mid]; v[mid] = v[hi], v[hi] = t;
        const float pivot = v[hi];
        int st = lo;
        for (int j = lo; j < hi; j++) { /* branchless: [st, j) holds what is not above the pivot */
            const float x = v[j];
            v[j] = v[st], v[st] = x;
            st += x > pivot;
        }
        t = v[st], v[st] = v[hi], v[hi] = t; /* v[lo..st) > pivot = v[st] >= v(st..hi] */
        if (st == want) return v[st];
        if (st < want) lo = st + 1; else hi = st - 1;
    }
    return v[want];
}

/* f = pre's k largest (ties to the lower index), ReLU'd, the rest 0 (f may be pre). Where n >= 2 k, a first pass
 * bounds the k-th largest from below: it is at least the k-th largest of the maxima of k disjoint groups (each
 * maximum is a distinct element), here the strided groups i mod k, whose maxima are one elementwise max over
 * rows. The values at or above that bound are the candidates, in index order; the k-th largest of them, and
 * those above it plus the first ties at it, are the k. scratch: topk_scratch(n, k) floats. */
static size_t topk_scratch(int n, int k) { return 2 * (size_t)n + (size_t)k + 8; }

static void topk_row(float *f, const float *pre, int n, int k, float *scratch) {
    float *vals = scratch, *bm = vals + n;
    int32_t *cand = (int32_t *)(bm + k);
    int m = 0;
    float tau = -INFINITY;
    if (n >= 2 * k) {
        memcpy(bm, pre, (size_t)k * sizeof(float));
        int i0 = k;
        for (; i0 + k <= n; i0 += k)
            for (int b = 0; b < k; b++) bm[b] = pre[i0 + b] > bm[b] ? pre[i0 + b] : bm[b];
        for (int b = 0; i0 + b < n; b++) bm[b] = pre[i0 + b] > bm[b] ? pre[i0 + b] : bm[b];
        tau = kth_largest(bm, k, k); /* the least of the k maxima */
        for (int i = 0; i < n; i++) {
            cand[m] = i;
            m += !(pre[i] < tau);
        }
    }
    if (m < k) /* n < 2 k (or NaN): every index */
        for (m = 0; m < n; m++) cand[m] = m;
    for (int j = 0; j < m; j++) vals[j] = pre[cand[j]];
    const float kth = kth_largest(vals, m, k);
    int above = 0;
    for (int j = 0; j < m; j++) above += pre[cand[j]] > kth;
    int ties = k - above;
    for (int j = 0; j < m; j++) { /* cand[j] kept: above the k-th, or one of the first ties; vals reused */
        const float x = pre[cand[j]];
        const int keep = x > kth || (x == kth && ties-- > 0);
        vals[j] = keep ? (x > 0.0f ? x : 0.0f) : 0.0f;
    }
    memset(f, 0, (size_t)n * sizeof(float));
    for (int j = 0; j < m; j++) f[cand[j]] = vals[j];
}

size_t relp__sae_scratch(const struct relp_sae *e, int64_t n) {
    return (size_t)n * (size_t)e->d_in + topk_scratch(e->d_sae, e->k > 0 ? e->k : 1);
}

/* the activation of rows [r0, r1) of the pre-activations f, in place; scratch: topk_scratch(d_sae, k) floats */
static void activate_rows(const struct relp_sae *e, float *f, int64_t r0, int64_t r1, float *scratch) {
    const int S = e->d_sae;
    for (int64_t r = r0; r < r1; r++) {
        float *row = f + r * S;
        if (e->arch == RELP_SAE_TOPK) {
            topk_row(row, row, S, e->k, scratch);
        } else if (e->arch == RELP_SAE_JUMPRELU) {
            for (int i = 0; i < S; i++) row[i] = row[i] > e->threshold[i] && row[i] > 0.0f ? row[i] : 0.0f;
        } else {
            for (int i = 0; i < S; i++) row[i] = row[i] > 0.0f ? row[i] : 0.0f;
        }
    }
}

struct activate_job {
    const struct relp_sae *e;
    float *f, *scratch; /* one topk_scratch per thread */
    int64_t n;
    size_t per;
};

static void activate_task(void *arg, int i, int nt) {
    const struct activate_job *j = arg;
    activate_rows(j->e, j->f, j->n * i / nt, j->n * (i + 1) / nt, j->scratch + (size_t)i * j->per);
}

void relp__sae_encode(const struct relp_sae *e, struct relp_pool *pool, const float *x, int64_t n, float *f,
                      float *scratch) {
    const int D = e->d_in, S = e->d_sae;
    const float *in = x;
    if (e->apply_b_dec_to_input) {
        for (int64_t r = 0; r < n; r++)
            for (int d = 0; d < D; d++) scratch[r * D + d] = x[r * D + d] - e->b_dec[d];
        in = scratch;
    }
    matmul_xw_packed(pool, f, in, e->W_enc, RELP_DTYPE_F32, e->b_enc, (int)n, D, S, D, 0);
    /* rows split between the pool's threads (each its own top-k scratch; one thread where that cannot be had) */
    const int nt = relp__pool_size(pool);
    const size_t per = topk_scratch(S, e->k > 0 ? e->k : 1);
    float *own = nt > 1 && n > 1 ? malloc(sizeof(float) * per * (size_t)nt) : NULL;
    if (own) {
        struct activate_job j = {e, f, own, n, per};
        relp__pool_run(pool, activate_task, &j);
        free(own);
    } else {
        activate_rows(e, f, 0, n, scratch + (size_t)n * D);
    }
}

void relp__sae_decode(const struct relp_sae *e, const float *f, int64_t n, float *x_hat) {
    const int D = e->d_in, S = e->d_sae;
    const float *W = e->W_dec;
    for (int64_t r = 0; r < n; r++) {
        float *o = x_hat + r * D;
        memcpy(o, e->b_dec, (size_t)D * sizeof(float));
        const float *fr = f + r * S;
        for (int i = 0; i < S; i++) {
            const float a = fr[i];
            if (a == 0.0f) continue;
            const float *w = W + (size_t)i * D;
            for (int d = 0; d < D; d++) o[d] += a * w[d];
        }
    }
}

enum relp_status relp_sae_encode(const struct relp_saes *s, int32_t i, const float *x, int64_t n, float *f) {
    if (!s || i < 0 || i >= s->n || !x || !f || n < 0) return RELP_STATUS_BAD_ARGUMENT;
    float *scratch = malloc(relp__sae_scratch(&s->s[i], n) * sizeof(float) + 8);
    if (!scratch) return RELP_STATUS_ALLOC_FAILED;
    relp__sae_encode(&s->s[i], NULL, x, n, f, scratch);
    free(scratch);
    return RELP_STATUS_OK;
}

enum relp_status relp_sae_decode(const struct relp_saes *s, int32_t i, const float *f, int64_t n, float *x_hat) {
    if (!s || i < 0 || i >= s->n || !f || !x_hat || n < 0) return RELP_STATUS_BAD_ARGUMENT;
    relp__sae_decode(&s->s[i], f, n, x_hat);
    return RELP_STATUS_OK;
}
