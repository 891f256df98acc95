/* figure_json.c - relp_figure_draw_json: any figure from a JSON request, for
 * the bindings (the WebAssembly module's figure_wasm.c and the Python
 * package), which would otherwise lay relp.h's structs out by hand. The
 * request names the struct's fields (relp.h, FIGURES, says the forms); this
 * file reads it with the core's JSON reader, checks every array's length
 * against the shape it must have, and calls the struct API. Arrays of
 * numbers are inline or {"offset", "length"} into a float buffer passed
 * beside the text (exact float32 values, no parsing). */
#include "figure.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct req {
    struct relp_json_doc doc;
    const float *data;
    size_t n_data;
    void **allocs; /* what the request's arrays took, freed at the end */
    int n_allocs;
    int failed;
    char error[200];
};

static void fail(struct req *q, const char *fmt, ...) {
    if (q->failed) return;
    q->failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(q->error, sizeof q->error, fmt, ap);
    va_end(ap);
}
static void *take(struct req *q, size_t bytes) {
    void **a = realloc(q->allocs, sizeof *a * (size_t)(q->n_allocs + 1));
    void *p = a ? calloc(1, bytes ? bytes : 1) : NULL;
    if (a) q->allocs = a;
    if (!p) {
        fail(q, "out of memory");
        return NULL;
    }
    q->allocs[q->n_allocs++] = p;
    return p;
}

static const struct relp_json_value *get(struct req *q, const struct relp_json_value *o, const char *key) {
    const struct relp_json_value *v = o && o->type == RELP_JSON_OBJECT ? relp_json_get(&q->doc, o, key) : NULL;
    return v && v->type != RELP_JSON_NULL ? v : NULL;
}
static double num(struct req *q, const struct relp_json_value *o, const char *key, double def) {
    const struct relp_json_value *v = get(q, o, key);
    if (!v) return def;
    if (v->type != RELP_JSON_NUMBER) fail(q, "\"%s\" must be a number or null, not %s", key, relp_json_type_name(v->type));
    return v->type == RELP_JSON_NUMBER ? v->num : def;
}
static int32_t integer(struct req *q, const struct relp_json_value *o, const char *key, int32_t def, int32_t lo, int32_t hi) {
    const struct relp_json_value *v = get(q, o, key);
    int64_t x = def;
    if (v && (v->type == RELP_JSON_TRUE || v->type == RELP_JSON_FALSE)) return v->type == RELP_JSON_TRUE;
    if (v && relp_json_int(v, lo, hi, &x)) fail(q, "\"%s\" must be an integer in [%d, %d]", key, (int)lo, (int)hi);
    return (int32_t)x;
}
static const char *str(struct req *q, const struct relp_json_value *o, const char *key) {
    const struct relp_json_value *v = get(q, o, key);
    if (v && v->type != RELP_JSON_STRING) fail(q, "\"%s\" must be a string or null, not %s", key, relp_json_type_name(v->type));
    return v && v->type == RELP_JSON_STRING ? v->str : NULL;
}
static const char *const *strs(struct req *q, const struct relp_json_value *o, const char *key, int32_t *n) {
    const struct relp_json_value *v = get(q, o, key);
    *n = 0;
    if (!v) return NULL;
    if (v->type != RELP_JSON_ARRAY) {
        fail(q, "\"%s\" must be an array of strings", key);
        return NULL;
    }
    const char **out = take(q, sizeof *out * (size_t)v->n_children);
    int32_t i = 0;
    for (const struct relp_json_value *e = relp_json_first(&q->doc, v); out && e; e = relp_json_next(&q->doc, e), i++) {
        if (e->type != RELP_JSON_STRING) {
            fail(q, "\"%s\"[%d] must be a string", key, (int)i);
            return NULL;
        }
        out[i] = e->str;
    }
    *n = v->n_children;
    return out;
}
/* numbers: a JSON array (null: NaN), or {"offset", "length"} into the float buffer; as floats or doubles */
static void *numbers(struct req *q, const struct relp_json_value *v, const char *key, size_t *n, int dbl) {
    *n = 0;
    if (!v || v->type == RELP_JSON_NULL) return NULL;
    if (v->type == RELP_JSON_OBJECT) {
        const double off = num(q, v, "offset", -1), len = num(q, v, "length", -1);
        if (!(off >= 0 && len >= 0 && off + len <= (double)q->n_data && off == floor(off) && len == floor(len))) {
            fail(q, "\"%s\": offset %g and length %g must lie within the %zu floats passed", key, off, len, q->n_data);
            return NULL;
        }
        *n = (size_t)len;
        if (!dbl) return (void *)(q->data + (size_t)off);
        double *d = take(q, sizeof *d * *n);
        for (size_t i = 0; d && i < *n; i++) d[i] = q->data[(size_t)off + i];
        return d;
    }
    if (v->type != RELP_JSON_ARRAY) {
        fail(q, "\"%s\" must be an array of numbers or {\"offset\", \"length\"}", key);
        return NULL;
    }
    void *out = take(q, (dbl ? sizeof(double) : sizeof(float)) * (size_t)v->n_children);
    size_t i = 0;
    for (const struct relp_json_value *e = relp_json_first(&q->doc, v); out && e; e = relp_json_next(&q->doc, e), i++) {
        double x = e->type == RELP_JSON_NUMBER ? e->num : NAN;
        if (e->type != RELP_JSON_NUMBER && e->type != RELP_JSON_NULL) {
            fail(q, "\"%s\"[%zu] must be a number or null", key, i);
            return NULL;
        }
        if (dbl) ((double *)out)[i] = x;
        else ((float *)out)[i] = (float)x;
    }
    *n = (size_t)v->n_children;
    return out;
}
static const float *floats(struct req *q, const struct relp_json_value *o, const char *key, size_t want, int required) {
    size_t n;
    const float *f = numbers(q, get(q, o, key), key, &n, 0);
    if (!f && required) fail(q, "\"%s\" is missing", key);
    else if (f && n != want) fail(q, "\"%s\" has %zu numbers; its shape needs %zu", key, n, want);
    return f;
}
static const double *doubles(struct req *q, const struct relp_json_value *o, const char *key, size_t want) {
    size_t n;
    const double *d = numbers(q, get(q, o, key), key, &n, 1);
    if (d && n != want) fail(q, "\"%s\" has %zu numbers; expected %zu", key, n, want);
    return d;
}
static int pick(struct req *q, const char *s, const char *key, const char *const *names, int n, int def) {
    if (!s) return def;
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    fail(q, "\"%s\": unknown value \"%s\"", key, s);
    return def;
}

static const struct relp_figure_caption *caption(struct req *q, const struct relp_json_value *o) {
    const struct relp_json_value *c = get(q, o, "caption");
    if (!c) return NULL;
    struct relp_figure_caption *k = take(q, sizeof *k);
    if (!k) return NULL;
    int32_t nx = 0;
    k->model = str(q, c, "model");
    k->method = str(q, c, "method");
    k->steps = integer(q, c, "steps", 0, 0, 1 << 30);
    k->clean = strs(q, c, "clean", &k->n_tokens);
    k->corrupt = strs(q, c, "corrupt", &nx);
    if (k->corrupt && nx != k->n_tokens) fail(q, "caption: \"corrupt\" has %d tokens, \"clean\" %d", (int)nx, (int)k->n_tokens);
    k->answer = str(q, c, "answer");
    k->wrong = str(q, c, "wrong");
    k->metric_clean = num(q, c, "metric_clean", NAN);
    k->metric_corrupt = num(q, c, "metric_corrupt", NAN);
    k->n_prompts = integer(q, c, "n_prompts", 1, 0, 1 << 30);
    k->p_answer = num(q, c, "p_answer", NAN);
    k->rank = integer(q, c, "rank", 0, 0, 1 << 30);
    const struct relp_json_value *r = get(q, c, "r");
    if (r && r->type == RELP_JSON_OBJECT && r->n_children) {
        const char **names = take(q, sizeof *names * (size_t)r->n_children);
        double *values = take(q, sizeof *values * (size_t)r->n_children);
        int32_t i = 0;
        for (const struct relp_json_value *e = relp_json_first(&q->doc, r); names && values && e; e = relp_json_next(&q->doc, e), i++) {
            names[i] = e->key;
            values[i] = e->type == RELP_JSON_NUMBER ? e->num : NAN;
        }
        k->n_r = r->n_children, k->r_names = names, k->r_values = values;
    } else if (r && r->type != RELP_JSON_OBJECT) fail(q, "caption: \"r\" must be an object {node type: r}");
    const struct relp_json_value *rel = get(q, c, "relevance");
    if (rel) {
        k->relevance = 1;
        k->relevance_total = num(q, rel, "total", NAN);
        k->relevance_value = num(q, rel, "value", NAN);
    }
    k->warnings = strs(q, c, "warnings", &k->n_warnings);
    k->metric = str(q, c, "metric");
    if (k->metric && !relp_metric_find(k->metric)) fail(q, "caption: \"metric\": unknown metric \"%s\"", k->metric);
    const struct relp_json_value *nz = get(q, c, "noising");
    k->noising = nz && nz->type == RELP_JSON_TRUE;
    k->data = str(q, c, "data");
    return k;
}

/* ---------------------------------------------------------------- each kind */

static enum relp_status maps(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    static const char *const layouts[] = {"positions", "heads", "head_positions"}, *const units[] = {"share", "metric"};
    struct relp_figure_maps m = {0};
    m.layout = (enum relp_figure_layout)pick(q, str(q, o, "layout"), "layout", layouts, 3, 0);
    m.n_layer = integer(q, o, "n_layer", 0, 1, 1 << 16);
    m.n_head = integer(q, o, "n_head", 1, 1, 1 << 16);
    m.n_kv_head = integer(q, o, "n_kv_head", 0, 0, 1 << 16);
    m.tokens = strs(q, o, "tokens", &m.n_tokens);
    m.method = str(q, o, "method");
    m.node = str(q, o, "node");
    const size_t rows = m.layout == RELP_FIGURE_HEAD_POSITIONS ? (size_t)m.n_layer * m.n_head : (size_t)m.n_layer;
    const size_t n = rows * (size_t)(m.layout == RELP_FIGURE_HEADS ? m.n_head : m.n_tokens);
    m.est = floats(q, o, "est", n, 1);
    m.ap = floats(q, o, "ap", n, 0);
    m.r = num(q, o, "r", NAN);
    m.units = (enum relp_figure_units)pick(q, str(q, o, "units"), "units", units, 2, 0);
    m.caption = caption(q, o);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_maps(fig, &m);
}

static enum relp_status tokens(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    struct relp_figure_tokens t = {0};
    t.tokens = strs(q, o, "tokens", &t.n_tokens);
    t.relevance = floats(q, o, "relevance", (size_t)t.n_tokens, 1);
    t.rules = str(q, o, "rules");
    t.caption = caption(q, o);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_tokens(fig, &t);
}

static enum relp_status scatter(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    static const char *const units[] = {"share", "metric"};
    struct relp_figure_scatter s = {0};
    const struct relp_json_value *ap = get(q, o, "ap"), *est = get(q, o, "est"), *r = get(q, o, "r");
    if (!ap || ap->type != RELP_JSON_OBJECT || !est || est->type != RELP_JSON_OBJECT) {
        fail(q, "scatter: \"est\" and \"ap\" must be objects {node type: numbers}");
        return RELP_STATUS_BAD_ARGUMENT;
    }
    const int n = ap->n_children;
    const char **types = take(q, sizeof *types * (size_t)n);
    int32_t *counts = take(q, sizeof *counts * (size_t)n);
    const float **e = take(q, sizeof *e * (size_t)n), **a = take(q, sizeof *a * (size_t)n);
    double *rv = take(q, sizeof *rv * (size_t)n);
    int i = 0;
    for (const struct relp_json_value *t = relp_json_first(&q->doc, ap); rv && t; t = relp_json_next(&q->doc, t), i++) {
        size_t na = 0;
        types[i] = t->key;
        a[i] = numbers(q, t, t->key, &na, 0);
        counts[i] = (int32_t)na;
        e[i] = floats(q, est, t->key, na, 1);
        rv[i] = num(q, r, t->key, NAN);
    }
    s.method = str(q, o, "method");
    s.n_types = n, s.types = types, s.n_values = counts, s.est = e, s.ap = a, s.r = rv;
    s.units = (enum relp_figure_units)pick(q, str(q, o, "units"), "units", units, 2, 0);
    s.caption = caption(q, o);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_scatter(fig, &s);
}

static enum relp_status attention(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    struct relp_figure_attention a = {0};
    int32_t nx = 0;
    a.n_layer = integer(q, o, "n_layer", 0, 1, 1 << 16);
    a.n_head = integer(q, o, "n_head", 0, 1, 1 << 16);
    a.n_kv_head = integer(q, o, "n_kv_head", 0, 0, 1 << 16);
    a.clean_tokens = strs(q, o, "tokens", &a.n_tokens);
    a.corrupt_tokens = strs(q, o, "corrupt_tokens", &nx);
    if (nx != a.n_tokens) fail(q, "attention: \"corrupt_tokens\" has %d tokens, \"tokens\" %d", (int)nx, (int)a.n_tokens);
    const size_t n = (size_t)a.n_layer * a.n_head * a.n_tokens * a.n_tokens;
    a.clean = floats(q, o, "clean", n, 1);
    a.corrupt = floats(q, o, "corrupt", n, 1);
    const struct relp_json_value *f = get(q, o, "focus");
    a.focus_layer = integer(q, f, "layer", 0, 0, 1 << 16);
    a.focus_head = integer(q, f, "head", 0, 0, 1 << 16);
    a.focus_row = integer(q, f, "row", -1, -1, 1 << 20);
    a.focus_only = integer(q, o, "focus_only", 0, 0, 1);
    a.caption = caption(q, o);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_attention(fig, &a);
}

static enum relp_status table(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    struct relp_figure_table t = {0};
    const struct relp_json_value *rows = get(q, o, "rows");
    int32_t nl = 0;
    t.node = strs(q, rows, "node", &t.n_rows);
    t.label = strs(q, rows, "label", &nl);
    const double *layer = doubles(q, rows, "layer", (size_t)t.n_rows), *index = doubles(q, rows, "index", (size_t)t.n_rows);
    int32_t *li = take(q, sizeof *li * (size_t)t.n_rows), *ii = take(q, sizeof *ii * (size_t)t.n_rows);
    if (!t.node || !t.label || nl != t.n_rows || !layer || !index) fail(q, "table: \"rows\" must hold node, layer, index and label, one per row");
    for (int32_t i = 0; !q->failed && i < t.n_rows; i++) li[i] = (int32_t)layer[i], ii[i] = (int32_t)index[i];
    t.layer = li, t.index = ii;
    t.methods = strs(q, o, "methods", &t.n_methods);
    t.values = floats(q, o, "values", (size_t)t.n_methods * t.n_rows, 1);
    t.sort = str(q, o, "sort");
    t.k = integer(q, o, "k", 0, 0, 1 << 30);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_table(fig, &t);
}

static enum relp_status rtable(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    struct relp_figure_rtable t = {0};
    t.methods = strs(q, o, "methods", &t.n_methods);
    t.nodes = strs(q, o, "nodes", &t.n_nodes);
    t.r = doubles(q, o, "r", (size_t)t.n_methods * t.n_nodes);
    if (!t.r) fail(q, "rtable: \"r\" is missing");
    t.seconds = doubles(q, o, "seconds", (size_t)t.n_methods);
    t.steps = integer(q, o, "steps", 0, 0, 1 << 30);
    t.model = str(q, o, "model"), t.data = str(q, o, "data"), t.metric = str(q, o, "metric");
    if (t.metric && !relp_metric_find(t.metric)) fail(q, "rtable: \"metric\": unknown metric \"%s\"", t.metric);
    t.n_prompts = integer(q, o, "n_prompts", 0, 0, 1 << 30);
    t.n_batches = integer(q, o, "n_batches", 0, 0, 1 << 30);
    t.warnings = strs(q, o, "warnings", &t.n_warnings);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_rtable(fig, &t);
}

/* "style": relp_figure_style, set on the figure for this request (absent: the default style) */
static void style(struct req *q, struct relp_figure *fig, const struct relp_json_value *root) {
    const struct relp_json_value *o = get(q, root, "style");
    struct relp_figure_style st = {0};
    if (o && o->type != RELP_JSON_OBJECT) fail(q, "\"style\" must be an object {width, font, caption, color_max}");
    else if (o) {
        st.width = integer(q, o, "width", 0, 0, 1 << 16);
        const char *font = str(q, o, "font");
        const int32_t f = font ? relp_figure_font_find(font) : RELP_FIGURE_FONT_MONO;
        if (f < 0) fail(q, "\"font\": unknown value \"%s\"", font);
        st.font = f < 0 ? RELP_FIGURE_FONT_MONO : (enum relp_figure_font)f;
        const struct relp_json_value *c = get(q, o, "caption");
        if (c && c->type != RELP_JSON_TRUE && c->type != RELP_JSON_FALSE) fail(q, "\"caption\" must be true or false");
        st.no_caption = c && c->type == RELP_JSON_FALSE;
        st.color_max = num(q, o, "color_max", 0);
        if (!(st.color_max >= 0)) fail(q, "\"color_max\" must be 0 (the largest value) or more");
    }
    relp_figure_set_style(fig, &st);
}

static enum relp_status curves(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    struct relp_figure_curves c = {0};
    const struct relp_json_value *ss = get(q, o, "series");
    if (!ss || ss->type != RELP_JSON_ARRAY) {
        fail(q, "curves: \"series\" must be an array");
        return RELP_STATUS_BAD_ARGUMENT;
    }
    struct relp_figure_series *s = take(q, sizeof *s * (size_t)ss->n_children);
    int i = 0;
    for (const struct relp_json_value *e = relp_json_first(&q->doc, ss); s && e; e = relp_json_next(&q->doc, e), i++) {
        size_t n;
        s[i].method = str(q, e, "method");
        s[i].n_nodes = numbers(q, get(q, e, "n_nodes"), "n_nodes", &n, 1);
        s[i].n = (int32_t)n;
        s[i].faithfulness = doubles(q, e, "faithfulness", n);
        s[i].completeness = doubles(q, e, "completeness", n);
        s[i].seconds = num(q, e, "seconds", NAN);
    }
    c.n_series = ss->n_children, c.series = s;
    c.model = str(q, o, "model"), c.nodes = str(q, o, "nodes"), c.data = str(q, o, "data"), c.metric = str(q, o, "metric");
    c.warnings = strs(q, o, "warnings", &c.n_warnings);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_curves(fig, &c);
}

static enum relp_status circuit(struct req *q, struct relp_figure *fig, const struct relp_json_value *o) {
    static const char *const kinds[] = {"embed", "resid", "head", "attn", "mlp", "feature", "logits"};
    struct relp_figure_circuit c = {0};
    const struct relp_json_value *ns = get(q, o, "nodes"), *es = get(q, o, "edges");
    if (!ns || ns->type != RELP_JSON_ARRAY || (es && es->type != RELP_JSON_ARRAY)) {
        fail(q, "circuit: \"nodes\" (and \"edges\") must be arrays");
        return RELP_STATUS_BAD_ARGUMENT;
    }
    struct relp_figure_node *nodes = take(q, sizeof *nodes * (size_t)ns->n_children);
    int i = 0;
    for (const struct relp_json_value *e = relp_json_first(&q->doc, ns); nodes && e; e = relp_json_next(&q->doc, e), i++) {
        nodes[i].name = str(q, e, "name");
        nodes[i].layer = integer(q, e, "layer", 0, -1, 1 << 16);
        nodes[i].column = integer(q, e, "column", 0, -(1 << 30), 1 << 30);
        nodes[i].kind = (enum relp_figure_node_kind)pick(q, str(q, e, "kind"), "kind", kinds, 7, RELP_FIGURE_NODE_RESID);
        const struct relp_json_value *h = get(q, e, "hook");
        nodes[i].hook = h && h->type == RELP_JSON_STRING ? pick(q, h->str, "hook", kinds, 7, RELP_FIGURE_NODE_RESID)
                                                         : integer(q, e, "hook", RELP_FIGURE_NODE_RESID, 0, 6);
        nodes[i].position = integer(q, e, "position", -1, -1, 1 << 30);
        nodes[i].score = num(q, e, "score", NAN);
    }
    const int n_edges = es ? es->n_children : 0;
    struct relp_figure_edge *edges = take(q, sizeof *edges * (size_t)n_edges);
    i = 0;
    for (const struct relp_json_value *e = es ? relp_json_first(&q->doc, es) : NULL; edges && e; e = relp_json_next(&q->doc, e), i++) {
        edges[i].u = integer(q, e, "u", 0, 0, ns->n_children - 1);
        edges[i].v = integer(q, e, "v", 0, 0, ns->n_children - 1);
        edges[i].score = num(q, e, "score", NAN);
        const char *l = str(q, e, "letter");
        edges[i].letter = l && (l[0] == 'q' || l[0] == 'k' || l[0] == 'v') && !l[1] ? l[0] : 0;
        if (l && *l && !edges[i].letter) fail(q, "edges[%d]: \"letter\" must be \"q\", \"k\", \"v\" or null", i);
    }
    c.n_nodes = ns->n_children, c.nodes = nodes, c.n_edges = n_edges, c.edges = edges;
    c.title = str(q, o, "title");
    c.lines = strs(q, o, "lines", &c.n_lines);
    c.warnings = strs(q, o, "warnings", &c.n_warnings);
    return q->failed ? RELP_STATUS_BAD_ARGUMENT : relp_figure_circuit(fig, &c);
}

enum relp_status relp_figure_draw_json(struct relp_figure *fig, const char *request, size_t len, const float *data,
                                       size_t n_data) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!request) return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure request: NULL");
    struct req q = {0};
    q.data = data, q.n_data = data ? n_data : 0;
    if (relp_json_parse(&q.doc, request, len)) {
        enum relp_status st = relp__fig_fail(fig, RELP_STATUS_BAD_FORMAT, "figure request: not JSON: %s", q.doc.error);
        relp_json_free(&q.doc);
        return st;
    }
    static const char *const kinds[] = {"maps", "tokens", "scatter", "attention", "table", "curves", "circuit", "rtable"};
    enum relp_status (*const draw[])(struct req *, struct relp_figure *, const struct relp_json_value *) = {
        maps, tokens, scatter, attention, table, curves, circuit, rtable};
    const struct relp_json_value *root = &q.doc.v[0];
    const char *kind = root->type == RELP_JSON_OBJECT ? str(&q, root, "kind") : NULL;
    int k = -1;
    for (int i = 0; kind && i < (int)(sizeof kinds / sizeof kinds[0]); i++)
        if (!strcmp(kind, kinds[i])) k = i;
    enum relp_status st;
    if (k < 0) {
        st = relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure request: \"kind\" must be maps, tokens, scatter, attention, "
                                                           "table, rtable, curves or circuit%s%s", kind ? ", not " : "", kind ? kind : "");
    } else {
        style(&q, fig, root);
        st = q.failed ? RELP_STATUS_BAD_ARGUMENT : draw[k](&q, fig, root);
        if (q.failed) st = relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure request (%s): %s", kinds[k], q.error);
    }
    for (int i = 0; i < q.n_allocs; i++) free(q.allocs[i]);
    free(q.allocs);
    relp_json_free(&q.doc);
    return st;
}
