/* check_circuits.c - the circuit API (relp.h, CIRCUITS) on a fixture of
 * tests/circuits_fixtures.py, written as JSON in the layout of its
 * reference.json so that tests/test_circuits.py compares the two. Reads the
 * fixture's inputs only: the checkpoint, the SAEs, prompts.json, and from
 * reference.json the nodes, edges and circuit sizes to evaluate (never its
 * values). Uses only relp.h.
 *
 *   check_circuits FIXTURE_DIR OUT.json [--threads N] */
#include "relp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[sz] = 0;
    *n = (size_t)sz;
    return b;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "check_circuits: %s: %s\n", what, msg);
    exit(1);
}

static struct relp_json_doc load_json(const char *path) {
    size_t n;
    char *t = slurp(path, &n);
    if (!t) die(path, "cannot read");
    struct relp_json_doc d;
    memset(&d, 0, sizeof d);
    if (relp_json_parse(&d, t, n)) die(path, d.error);
    free(t);
    return d;
}

static const struct relp_json_value *get(const struct relp_json_doc *d, const struct relp_json_value *o, const char *k) {
    const struct relp_json_value *v = relp_json_get(d, o, k);
    if (!v) die("reference.json", k);
    return v;
}

static int32_t *ints(const struct relp_json_doc *d, const struct relp_json_value *arr, int *n_out) {
    int n = 0;
    for (const struct relp_json_value *r = relp_json_first(d, arr); r; r = relp_json_next(d, r))
        n += r->type == RELP_JSON_ARRAY ? r->n_children : 1;
    int32_t *x = malloc(sizeof(int32_t) * (size_t)(n ? n : 1));
    int i = 0;
    for (const struct relp_json_value *r = relp_json_first(d, arr); r; r = relp_json_next(d, r)) {
        if (r->type != RELP_JSON_ARRAY) x[i++] = (int32_t)r->num;
        else
            for (const struct relp_json_value *c = relp_json_first(d, r); c; c = relp_json_next(d, c)) x[i++] = (int32_t)c->num;
    }
    *n_out = n;
    return x;
}

static void put_floats(FILE *f, const float *v, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, i ? ",%.9g" : "%.9g", v[i]);
    fputc(']', f);
}

static void put_rows(FILE *f, const float *v, int rows, int cols) {
    fputc('[', f);
    for (int r = 0; r < rows; r++) {
        if (r) fputc(',', f);
        put_floats(f, v + (size_t)r * cols, cols);
    }
    fputc(']', f);
}

struct methodspec {
    const char *name;
    enum relp_method method;
    const char *rules;
};
static const struct methodspec METHODS[] = {{"atp", RELP_METHOD_GRAD, "grad"},     {"relp", RELP_METHOD_GRAD, "relp"},
                                            {"relp-ln", RELP_METHOD_GRAD, "relp-ln"}, {"relp-cp", RELP_METHOD_GRAD, "relp-cp"},
                                            {"attnlrp", RELP_METHOD_GRAD, "attnlrp"}, {"ig", RELP_METHOD_IG, "grad"},
                                            {"ig-input", RELP_METHOD_IG_INPUT, "grad"}};
#define N_METHODS 7

static const struct methodspec *method(const char *name) {
    for (int i = 0; i < N_METHODS; i++)
        if (!strcmp(METHODS[i].name, name)) return &METHODS[i];
    die("method", name);
    return NULL;
}

static struct relp_attr_params params_of(const struct methodspec *ms, int noising, int steps) {
    struct relp_attr_params p = relp_attr_default_params();
    p.method = ms->method;
    p.rules = *relp_rules_preset(ms->rules);
    p.noising = noising;
    p.ig_steps = steps;
    return p;
}

/* every state the checks share */
static struct relp_model *M;
static struct relp_ctx *CTX;
static struct relp_saes *SETS[2]; /* saes/ and saes_final/ */
static int32_t *CLEAN, *CORRUPT, *ANS, *WRONG;
static int B, T, STEPS;
static struct relp_metric MT;

/* every edge's score of the graph (u x d matrix es) as {"u->v<q>": score, ...}, in the graph's order */
static void put_edges(FILE *f, const float *es, int32_t nu, int32_t nd) {
    char a[64], b[64];
    int first = 1;
    fputc('{', f);
    for (int32_t u = 0; u < nu; u++)
        for (int32_t v = 0; v < nd; v++)
            if (relp_graph_edge(M, u, v)) {
                fprintf(f, "%s\"%s->%s\":%.9g", first ? "" : ",", relp_graph_up_name(M, u, a, sizeof a),
                        relp_graph_down_name(M, v, b, sizeof b), es[(size_t)u * nd + v]);
                first = 0;
            }
    fputc('}', f);
}

static void check(enum relp_status st, const char *what) {
    if (st) die(what, relp_ctx_last_error(CTX));
}

/* scores of a node set: per hook (T, width) and errors (T) */
struct setscores {
    int nh;
    struct relp_circuit_hook *hooks;
    float **s, **e;
};

static struct setscores scores_of(const struct relp_saes *saes, enum relp_nodeset set, const struct methodspec *ms,
                                  int noising) {
    struct setscores r;
    r.nh = relp_circuit_hooks(M, saes, set, NULL, 0);
    r.hooks = calloc((size_t)r.nh, sizeof *r.hooks);
    relp_circuit_hooks(M, saes, set, r.hooks, r.nh);
    r.s = calloc((size_t)r.nh, sizeof *r.s);
    r.e = calloc((size_t)r.nh, sizeof *r.e);
    for (int h = 0; h < r.nh; h++) {
        r.s[h] = calloc((size_t)T * r.hooks[h].width, sizeof(float));
        r.e[h] = calloc((size_t)T, sizeof(float));
    }
    struct relp_attr_params p = params_of(ms, noising, STEPS);
    check(relp_attribute_circuit(CTX, CLEAN, CORRUPT, B, T, &MT, saes, set, &p, r.s, r.e, NULL, NULL), ms->name);
    return r;
}

static void free_scores(struct setscores *r) {
    for (int h = 0; h < r->nh; h++) free(r->s[h]), free(r->e[h]);
    free(r->s), free(r->e), free(r->hooks);
}

/* the SAE set and hook index of a hook name */
static int find_feature_hook(const char *name, int *set) {
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < relp_saes_count(SETS[s]); i++) {
            struct relp_sae_info info;
            relp_saes_info(SETS[s], i, &info);
            if (!strcmp(info.hook_name, name)) {
                *set = s;
                return i;
            }
        }
    die("hook", name);
    return -1;
}

static int edge_of(const char *name, int32_t *u, int32_t *v) {
    int32_t nu, nd;
    relp_graph_size(M, &nu, &nd);
    char a[64], b[64];
    for (int32_t i = 0; i < nu; i++)
        for (int32_t j = 0; j < nd; j++) {
            if (!relp_graph_edge(M, i, j)) continue;
            char full[140];
            snprintf(full, sizeof full, "%s->%s", relp_graph_up_name(M, i, a, sizeof a), relp_graph_down_name(M, j, b, sizeof b));
            if (!strcmp(full, name)) {
                *u = i, *v = j;
                return 0;
            }
        }
    die("edge", name);
    return -1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: check_circuits FIXTURE_DIR OUT.json [--threads N]\n");
        return 2;
    }
    const char *dir = argv[1];
    int threads = argc >= 5 && !strcmp(argv[3], "--threads") ? atoi(argv[4]) : 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/model", dir);
    if (relp_model_init_from_dir(&M, path, NULL)) die(path, relp_last_error(M));
    for (int s = 0; s < 2; s++) {
        snprintf(path, sizeof path, "%s/%s", dir, s ? "saes_final" : "saes");
        if (relp_saes_init_from_dir(&SETS[s], M, path)) die(path, relp_saes_last_error(SETS[s]));
    }
    snprintf(path, sizeof path, "%s/reference.json", dir);
    struct relp_json_doc ref = load_json(path);
    const struct relp_json_value *root = &ref.v[0], *pr = get(&ref, root, "prompts");
    int n;
    CLEAN = ints(&ref, get(&ref, pr, "clean"), &n);
    B = get(&ref, pr, "clean")->n_children;
    T = n / B;
    CORRUPT = ints(&ref, get(&ref, pr, "corrupt"), &n);
    ANS = ints(&ref, get(&ref, pr, "answer"), &n);
    WRONG = ints(&ref, get(&ref, pr, "wrong"), &n);
    STEPS = (int)get(&ref, root, "ig_steps")->num;
    MT = (struct relp_metric){RELP_METRIC_LOGIT_DIFF, ANS, WRONG, 1.0f};
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = B, cp.max_tokens = T, cp.n_threads = threads;
    if (relp_ctx_init(&CTX, M, &cp)) die("context", relp_ctx_last_error(CTX));
    const struct relp_config *c = relp_model_config(M);
    FILE *f = fopen(argv[2], "w");
    if (!f) die(argv[2], "cannot write");
    static const char *dirs[2] = {"denoise", "noise"};

    /* node scores: features of both SAE sets, neurons, components */
    fprintf(f, "{\"features\":{");
    for (int mi = 0; mi < 6; mi++) {
        fprintf(f, "%s\"%s\":{", mi ? "," : "", METHODS[mi].name);
        for (int di = 0; di < 2; di++) {
            fprintf(f, "%s\"%s\":{", di ? "," : "", dirs[di]);
            int first = 1;
            for (int s = 0; s < 2; s++) {
                struct setscores r = scores_of(SETS[s], RELP_NODESET_FEATURES, &METHODS[mi], di);
                for (int h = 0; h < r.nh; h++, first = 0) {
                    fprintf(f, "%s\"%s\":{\"features\":", first ? "" : ",", r.hooks[h].name);
                    put_rows(f, r.s[h], T, r.hooks[h].width);
                    fprintf(f, ",\"error\":");
                    put_floats(f, r.e[h], T);
                    fputc('}', f);
                }
                free_scores(&r);
            }
            fputc('}', f);
        }
        fputc('}', f);
    }
    fprintf(f, "},\"neurons\":{");
    for (int mi = 0; mi < 6; mi++) {
        fprintf(f, "%s\"%s\":{", mi ? "," : "", METHODS[mi].name);
        for (int di = 0; di < 2; di++) {
            struct setscores r = scores_of(NULL, RELP_NODESET_NEURONS, &METHODS[mi], di);
            fprintf(f, "%s\"%s\":{", di ? "," : "", dirs[di]);
            for (int h = 0; h < r.nh; h++) {
                fprintf(f, "%s\"%d\":", h ? "," : "", h);
                put_rows(f, r.s[h], T, r.hooks[h].width);
            }
            fputc('}', f);
            free_scores(&r);
        }
        fputc('}', f);
    }
    fprintf(f, "},\"components\":{");
    for (int mi = 0; mi < 6; mi++) {
        fprintf(f, "%s\"%s\":{", mi ? "," : "", METHODS[mi].name);
        for (int di = 0; di < 2; di++) {
            struct setscores r = scores_of(NULL, RELP_NODESET_COMPONENTS, &METHODS[mi], di);
            fprintf(f, "%s\"%s\":{\"heads\":[", di ? "," : "", dirs[di]);
            for (int l = 0; l < c->n_layer; l++) {
                if (l) fputc(',', f);
                put_rows(f, r.s[2 * l], T, c->n_head);
            }
            fprintf(f, "],\"mlp\":[");
            for (int l = 0; l < c->n_layer; l++) {
                if (l) fputc(',', f);
                put_floats(f, r.s[2 * l + 1], T);
            }
            fprintf(f, "]}");
            free_scores(&r);
        }
        fputc('}', f);
    }

    /* exact patching of the reference's nodes */
    fprintf(f, "},\"ap\":[");
    const struct relp_json_value *aps = get(&ref, root, "ap");
    int k = 0;
    for (const struct relp_json_value *a = relp_json_first(&ref, aps); a; a = relp_json_next(&ref, a), k++) {
        const struct relp_json_value *node = get(&ref, a, "node");
        const char *kind = relp_json_at(&ref, node, 0)->str;
        int noising = !strcmp(get(&ref, a, "direction")->str, "noise");
        struct relp_circuit_node q;
        const struct relp_saes *saes = NULL;
        enum relp_nodeset set;
        if (!strcmp(kind, "feature") || !strcmp(kind, "error")) {
            int s;
            q.hook = find_feature_hook(relp_json_at(&ref, node, 1)->str, &s);
            saes = SETS[s];
            set = RELP_NODESET_FEATURES;
            q.position = (int32_t)relp_json_at(&ref, node, 2)->num;
            q.unit = !strcmp(kind, "error") ? -1 : (int32_t)relp_json_at(&ref, node, 3)->num;
        } else {
            const int l = (int)relp_json_at(&ref, node, 1)->num;
            q.position = (int32_t)relp_json_at(&ref, node, 2)->num;
            if (!strcmp(kind, "neuron")) set = RELP_NODESET_NEURONS, q.hook = l, q.unit = (int32_t)relp_json_at(&ref, node, 3)->num;
            else if (!strcmp(kind, "head")) set = RELP_NODESET_COMPONENTS, q.hook = 2 * l, q.unit = (int32_t)relp_json_at(&ref, node, 3)->num;
            else set = RELP_NODESET_COMPONENTS, q.hook = 2 * l + 1, q.unit = 0;
        }
        float eff = NAN;
        check(relp_patch_circuit_nodes(CTX, CLEAN, CORRUPT, B, T, &MT, saes, set, noising, &q, 1, &eff, NULL, NULL),
              "patch nodes");
        fprintf(f, "%s%.9g", k ? "," : "", eff);
    }

    /* circuits: the reference's curves at its N and thresholds */
    fprintf(f, "],\"circuits\":[");
    const struct relp_json_value *cs = get(&ref, root, "circuits");
    k = 0;
    for (const struct relp_json_value *ce = relp_json_first(&ref, cs); ce; ce = relp_json_next(&ref, ce), k++) {
        const char *kind = get(&ref, ce, "nodes")->str;
        enum relp_nodeset set = !strcmp(kind, "saes") ? RELP_NODESET_FEATURES
                                : !strcmp(kind, "neurons") ? RELP_NODESET_NEURONS
                                                           : RELP_NODESET_COMPONENTS;
        const struct relp_json_value *sl = get(&ref, ce, "start_layer");
        int start = sl->type == RELP_JSON_NUMBER ? (int)sl->num : 0;
        int noising = !strcmp(get(&ref, ce, "direction")->str, "noise");
        struct setscores r = scores_of(set == RELP_NODESET_FEATURES ? SETS[0] : NULL, set,
                                       method(get(&ref, ce, "method")->str), noising);
        struct relp_faithfulness *fa = NULL;
        check(relp_faithfulness_init(&fa, CTX, CLEAN, CORRUPT, B, T, &MT, set == RELP_NODESET_FEATURES ? SETS[0] : NULL,
                                     set, start),
              "faithfulness");
        double mfull, mempty;
        relp_faithfulness_ends(fa, &mfull, &mempty);
        fprintf(f, "%s{\"m_M\":%.12g,\"m_empty\":%.12g", k ? "," : "", mfull, mempty);
        for (int pass = 0; pass < 2; pass++) {
            const struct relp_json_value *pts = get(&ref, ce, pass ? "at_tau" : "at_N");
            const int np = pts->n_children;
            int64_t *ns = malloc(sizeof(int64_t) * (size_t)np), *size = malloc(sizeof(int64_t) * (size_t)np);
            float *taus = malloc(sizeof(float) * (size_t)np);
            double *F = malloc(sizeof(double) * (size_t)np), *Cm = malloc(sizeof(double) * (size_t)np);
            int i = 0;
            for (const struct relp_json_value *pt = relp_json_first(&ref, pts); pt; pt = relp_json_next(&ref, pt), i++) {
                if (pass) taus[i] = (float)get(&ref, pt, "tau")->num;
                else ns[i] = (int64_t)get(&ref, pt, "N")->num;
            }
            check(relp_faithfulness_curve(fa, (const float *const *)r.s, (const float *const *)r.e, pass ? NULL : ns,
                                          pass ? taus : NULL, np, size, F, Cm, NULL, NULL),
                  "faithfulness curve");
            fprintf(f, ",\"%s\":[", pass ? "at_tau" : "at_N");
            for (i = 0; i < np; i++)
                fprintf(f, "%s{\"n_nodes\":%lld,\"F\":%.12g,\"completeness\":%.12g}", i ? "," : "", (long long)size[i], F[i],
                        Cm[i]);
            fputc(']', f);
            free(ns), free(size), free(taus), free(F), free(Cm);
        }
        fputc('}', f);
        relp_faithfulness_free(fa);
        free_scores(&r);
    }

    /* edges */
    int32_t nu, nd;
    relp_graph_size(M, &nu, &nd);
    float *es = malloc(sizeof(float) * (size_t)nu * nd);
    fprintf(f, "],\"edges\":{");
    static const char *edge_methods[] = {"atp", "relp", "relp-ln", "relp-cp", "attnlrp", "ig-input"};
    for (int mi = 0; mi < 6; mi++) {
        fprintf(f, "%s\"%s\":{", mi ? "," : "", edge_methods[mi]);
        for (int di = 0; di < 2; di++) {
            struct relp_attr_params p = params_of(method(edge_methods[mi]), di, STEPS);
            check(relp_attribute_edges(CTX, CLEAN, CORRUPT, B, T, &MT, &p, es, NULL, NULL), "edges");
            fprintf(f, "%s\"%s\":", di ? "," : "", dirs[di]);
            put_edges(f, es, nu, nd);
        }
        fputc('}', f);
    }
    /* the same edges with a scratch budget of 4 KiB: scored in chunks of rows (relp_ctx_params.scratch_kb) */
    {
        struct relp_ctx_params cs = cp;
        cs.scratch_kb = 4;
        struct relp_ctx *small = NULL;
        if (relp_ctx_init(&small, M, &cs)) die("context", relp_ctx_last_error(small));
        fprintf(f, "},\"edges_chunked\":{");
        for (int mi = 0; mi < 6; mi += 5) { /* atp and ig-input */
            struct relp_attr_params p = params_of(method(edge_methods[mi]), mi == 5, STEPS);
            if (relp_attribute_edges(small, CLEAN, CORRUPT, B, T, &MT, &p, es, NULL, NULL))
                die("edges (chunked)", relp_ctx_last_error(small));
            fprintf(f, "%s\"%s\":", mi ? "," : "", edge_methods[mi]);
            put_edges(f, es, nu, nd);
        }
        relp_ctx_free(small);
    }
    fprintf(f, "},\"edge_ap\":[");
    const struct relp_json_value *eap = get(&ref, root, "edge_ap");
    k = 0;
    for (const struct relp_json_value *e = relp_json_first(&ref, eap); e; e = relp_json_next(&ref, e), k++) {
        int32_t uv[2];
        edge_of(get(&ref, e, "edge")->str, &uv[0], &uv[1]);
        float eff = NAN;
        check(relp_patch_edges(CTX, CLEAN, CORRUPT, B, T, &MT, !strcmp(get(&ref, e, "direction")->str, "noise"), uv, 1, &eff,
                               NULL, NULL),
              "patch edges");
        fprintf(f, "%s%.9g", k ? "," : "", eff);
    }
    /* edge circuits: the reference's edge sets evaluated, and this engine's own top N of its scores */
    fprintf(f, "],\"edge_circuits\":[");
    struct relp_edge_eval *ev = NULL;
    check(relp_edge_eval_init(&ev, CTX, CLEAN, CORRUPT, B, T, &MT), "edge eval");
    double mc, mr;
    relp_edge_eval_ends(ev, &mc, &mr);
    uint8_t *in = malloc((size_t)nu * nd);
    const struct relp_json_value *ecs = get(&ref, root, "edge_circuits");
    k = 0;
    for (const struct relp_json_value *e = relp_json_first(&ref, ecs); e; e = relp_json_next(&ref, e), k++) {
        memset(in, 0, (size_t)nu * nd);
        const struct relp_json_value *names = get(&ref, e, "edges_in_graph");
        for (const struct relp_json_value *s = relp_json_first(&ref, names); s; s = relp_json_next(&ref, s)) {
            int32_t u, v;
            edge_of(s->str, &u, &v);
            in[(size_t)u * nd + v] = 1;
        }
        double mC;
        check(relp_edge_eval_run(ev, in, &mC), "edge eval run");
        /* this engine's top N by |score| (ties by index) */
        const int N = (int)get(&ref, e, "N")->num;
        struct relp_attr_params p = params_of(method(get(&ref, e, "method")->str), !strcmp(get(&ref, e, "direction")->str, "noise"), STEPS);
        check(relp_attribute_edges(CTX, CLEAN, CORRUPT, B, T, &MT, &p, es, NULL, NULL), "edges");
        fprintf(f, "%s{\"m_C\":%.12g,\"F\":%.12g,\"top\":[", k ? "," : "", mC, (mC - mr) / (mc - mr));
        uint8_t *taken = calloc((size_t)nu * nd, 1);
        char a[64], b[64];
        for (int i = 0; i < N; i++) {
            int64_t best = -1;
            for (int64_t q = 0; q < (int64_t)nu * nd; q++)
                if (!taken[q] && relp_graph_edge(M, (int32_t)(q / nd), (int32_t)(q % nd)) &&
                    (best < 0 || fabsf(es[q]) > fabsf(es[best])))
                    best = q;
            if (best < 0) break;
            taken[best] = 1;
            fprintf(f, "%s\"%s->%s\"", i ? "," : "", relp_graph_up_name(M, (int32_t)(best / nd), a, sizeof a),
                    relp_graph_down_name(M, (int32_t)(best % nd), b, sizeof b));
        }
        free(taken);
        fprintf(f, "]}");
    }
    fprintf(f, "],\"metric\":{\"clean_mean\":%.12g,\"corrupt_mean\":%.12g}}\n", mc, mr);
    fclose(f);
    relp_edge_eval_free(ev);
    free(in);
    free(es);
    relp_json_free(&ref);
    relp_ctx_free(CTX);
    relp_saes_free(SETS[0]);
    relp_saes_free(SETS[1]);
    relp_model_free(M);
    free(CLEAN), free(CORRUPT), free(ANS), free(WRONG);
    return 0;
}
