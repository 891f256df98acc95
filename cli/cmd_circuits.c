/* cmd_circuits.c - circuits on the command line (relp.h, CIRCUITS; docs/cli.md, docs/circuits.md):
 *
 *   relp features     --model DIR (--saes DIR | --neurons | --components)
 *                     (--clean TEXT --corrupt TEXT --answer TOK --wrong TOK | --prompts FILE.jsonl)
 *                     --method atp|relp|relp-ln|relp-cp|attnlrp|ig [--steps N] [--noising] [--top K]
 *                     [--validate K] [--json FILE|-] [--threads N] [--no-bos]
 *   relp faithfulness --model DIR (--saes DIR | --neurons | --components) --prompts FILE.jsonl
 *                     --methods relp,atp,ig [--steps N] [--nodes N1,N2,...] [--start-layer L]
 *                     [--json FILE|-] [--svg FILE] [--png FILE] [--threads N] [--no-bos]
 *   relp edges        --model DIR (--clean ... | --prompts FILE.jsonl)
 *                     --method atp|relp|relp-ln|relp-cp|attnlrp|ig-input|ap [--steps N] [--noising]
 *                     [--top N] [--evaluate] [--curve N1,N2,...] [--validate K] [--json FILE|-]
 *                     [--svg FILE] [--png FILE] [--threads N] [--no-bos] [--out RUN.jsonl [--resume]] (ap)
 *
 * --prompts files may mix token lengths: a circuit is one set of positions, so the pairs of the most common
 * length are used, saying how many were left out; --limit N keeps the first N of them. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "figures.h"
#include "prompts.h"
#include "runs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------ shared */

static int is_dir(const char *path) {
    struct stat st;
    return path[0] && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static const char *set_name(enum relp_nodeset s) { return relp_nodeset_name(s); }

/* --saes DIR | --neurons | --components: the node set (and its SAEs); 0 or an exit status */
static int node_set(const struct args *a, const char *cmd, struct relp_model *m, enum relp_nodeset *set,
                    struct relp_saes **saes) {
    const int n = !!get(a, "--saes") + !!get(a, "--neurons") + !!get(a, "--components");
    char own[4096] = "";
    if (n == 0 && model_path(a)) /* the model's own SAEs: a saes/ folder beside its weights (models-small/<model>) */
        snprintf(own, sizeof own, "%s/saes", model_path(a));
    if (n > 1 || (n == 0 && !is_dir(own)))
        return usage("%s: give one node set: --saes DIR (SAE features and their error nodes), --neurons or "
                     "--components (a model with a saes/ folder uses its SAEs when none is given)%s", cmd, "");
    *saes = NULL;
    if (get(a, "--neurons")) *set = RELP_NODESET_NEURONS;
    else if (get(a, "--components")) *set = RELP_NODESET_COMPONENTS;
    else {
        const char *dir = get(a, "--saes") ? get(a, "--saes") : own;
        if (!get(a, "--saes")) fprintf(stderr, "relp: %s: the model's own SAEs, %s\n", cmd, own);
        *set = RELP_NODESET_FEATURES;
        if (relp_saes_init_from_dir(saes, m, dir)) {
            fprintf(stderr, "relp: --saes %s: %s\n", dir, relp_saes_last_error(*saes));
            relp_saes_free(*saes);
            *saes = NULL;
            return 1;
        }
    }
    return 0;
}

/* the prompts: one pair from the flags, or a --prompts file (its most common length) */
static int prompts_of(const struct args *a, const char *cmd, struct relp_model *m, int file_only, struct batch *b) {
    const int single = get(a, "--clean") || get(a, "--corrupt") || get(a, "--answer") || get(a, "--wrong");
    if (file_only && single) return usage("%s: reads --prompts FILE.jsonl (a batch: one circuit serves it)%s", cmd, "");
    if (single == !!get(a, "--prompts") ||
        (single && !(get(a, "--clean") && get(a, "--corrupt") && get(a, "--answer") && get(a, "--wrong"))))
        return usage(file_only ? "%s: give --prompts FILE.jsonl%s" : "%s: give --clean, --corrupt, --answer and --wrong, "
                                                                     "or --prompts FILE.jsonl%s",
                     cmd, "");
    if (!relp_has_tokenizer(m)) {
        fprintf(stderr, "relp: %s has no tokenizer (expected tokenizer.json, or vocab.json + merges.txt, in its "
                        "directory; or --tokenizer DIR)\n", model_path(a));
        return 1;
    }
    const int bos = !get(a, "--no-bos");
    if (single)
        return add_prompt(m, b, get(a, "--clean"), get(a, "--corrupt"), get(a, "--answer"), get(a, "--wrong"), bos,
                          "--clean/--corrupt");
    long limit;
    int rc = get_int(a, "--limit", 1, 1L << 30, 0, &limit);
    if (!rc) rc = load_prompts_one_length(m, get(a, "--prompts"), bos, b);
    if (!rc && limit > 0 && b->n > limit) {
        fprintf(stderr, "relp: --limit %ld: using the first %ld of those %d pairs\n", limit, limit, b->n);
        b->n = (int)limit;
    }
    return rc;
}

/* --method: a method of relp.h's table among those allowed (a NULL-ended list) */
static int method_of(const struct args *a, const char *cmd, const char *def, const char *const *allowed,
                     struct method_spec *ms) {
    const char *name = get(a, "--method") ? get(a, "--method") : def;
    int ok = 0;
    for (int i = 0; allowed[i] && !ok; i++) ok = !strcmp(allowed[i], name);
    if (!ok || find_method(name, ms)) {
        char list[256] = "";
        size_t o = 0;
        for (int i = 0; allowed[i]; i++)
            o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? (allowed[i + 1] ? ", " : " or ") : "", allowed[i]);
        fprintf(stderr, "relp: %s: --method must be %s, got '%s'\nrun 'relp help' for the commands and their flags\n", cmd,
                list, name);
        return 2;
    }
    return 0;
}

static struct relp_attr_params params_of(const struct method_spec *ms, long steps, int noising) {
    struct relp_attr_params p = relp_attr_default_params();
    p.method = ms->method;
    p.rules = *relp_rules_preset(ms->rules);
    p.ig_steps = (int32_t)steps;
    p.noising = noising;
    return p;
}

/* "N1,N2,..." of positive integers; 0 or an exit status */
static int int_list(const char *flag, const char *s, int64_t **out, int *n) {
    *n = 0;
    *out = NULL;
    if (!s) return 0;
    int cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    *out = malloc(sizeof(int64_t) * (size_t)cap);
    const char *p = s;
    while (*out && *p) {
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || (*end && *end != ',')) {
            fprintf(stderr, "relp: %s must be a comma-separated list of non-negative integers, got '%s'\n", flag, s);
            free(*out);
            *out = NULL;
            return 2;
        }
        (*out)[(*n)++] = v;
        p = *end ? end + 1 : end;
    }
    return *out ? 0 : 1;
}

/* an output path checked before the work: it can be written */
static int writable(const char *flag, const char *path) {
    if (!path || !strcmp(path, "-")) return 0;
    FILE *f = fopen(path, "ab");
    if (!f) {
        fprintf(stderr, "relp: %s %s: cannot write the file (%s)\n", flag, path, strerror(errno));
        return 1;
    }
    long at = ftell(f);
    fclose(f);
    if (at == 0) remove(path); /* made here: leave nothing behind before the work is done */
    return 0;
}

static FILE *open_json(const char *path) {
    if (!strcmp(path, "-")) return stdout;
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "relp: --json %s: cannot write the file (%s)\n", path, strerror(errno));
    return f;
}

static int close_json(FILE *f, const char *path) {
    if (f == stdout) return fflush(f) ? 1 : 0;
    if (fclose(f)) {
        fprintf(stderr, "relp: --json %s: cannot write the file (%s)\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static void put_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.7g", v);
    else fputs("null", f);
}

/* the scores of a node set: per hook (T, width) and errors (T) */
struct scored {
    int nh;
    struct relp_circuit_hook *hooks;
    float **s, **e;
    double mc, mr, seconds;
    struct warn_list w; /* the core's warnings of the run (relp.h WARNINGS) */
};

static void scored_free(struct scored *r) {
    for (int h = 0; h < r->nh && r->s; h++) free(r->s[h]), free(r->e[h]);
    free(r->s), free(r->e), free(r->hooks);
    memset(r, 0, sizeof *r);
}

static int score_set(struct relp_ctx *ctx, const struct relp_model *m, const struct batch *b,
                     const struct relp_saes *saes, enum relp_nodeset set, const struct relp_attr_params *p,
                     const char *label, struct scored *r) {
    memset(r, 0, sizeof *r);
    r->nh = relp_circuit_hooks(m, saes, set, NULL, 0);
    r->hooks = calloc((size_t)r->nh + 1, sizeof *r->hooks);
    r->s = calloc((size_t)r->nh + 1, sizeof *r->s);
    r->e = calloc((size_t)r->nh + 1, sizeof *r->e);
    if (!r->hooks || !r->s || !r->e) return 1;
    relp_circuit_hooks(m, saes, set, r->hooks, r->nh);
    for (int h = 0; h < r->nh; h++) {
        r->s[h] = calloc((size_t)b->T * r->hooks[h].width, sizeof(float));
        r->e[h] = calloc((size_t)b->T, sizeof(float));
        if (!r->s[h] || !r->e[h]) return 1;
    }
    struct relp_attr_params q = *p;
    struct progress pr = {.label = label};
    if (q.method != RELP_METHOD_GRAD) q.progress = on_progress, q.progress_user = &pr;
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, b->answer, b->wrong, 1.0f};
    double t0 = now_ms();
    enum relp_status st = relp_attribute_circuit(ctx, b->clean, b->corrupt, b->n, b->T, &mt, saes, set, &q, r->s, r->e,
                                                 &r->mc, &r->mr);
    r->seconds = (now_ms() - t0) / 1000.0;
    if (st) {
        fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
        return 1;
    }
    warn_collect(ctx, &r->w);
    return 0;
}

/* a node of a scored set by rank: |score| descending, ties by index (hooks, position, unit, error last) */
struct ranked {
    float a;
    int64_t idx;
    int hook, pos, unit;
    float score;
};

static int by_abs(const void *x, const void *y) {
    const struct ranked *p = x, *q = y;
    if (p->a != q->a) return p->a > q->a ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

static struct ranked *rank_nodes(const struct scored *r, int T, int64_t *n) {
    int64_t total = 0;
    for (int h = 0; h < r->nh; h++) total += (int64_t)T * (r->hooks[h].width + r->hooks[h].error);
    struct ranked *k = malloc(sizeof *k * (size_t)(total ? total : 1));
    if (!k) return NULL;
    int64_t i = 0;
    for (int h = 0; h < r->nh; h++)
        for (int t = 0; t < T; t++)
            for (int u = 0; u < r->hooks[h].width + r->hooks[h].error; u++, i++) {
                const int err = u == r->hooks[h].width;
                const float s = err ? r->e[h][t] : r->s[h][(size_t)t * r->hooks[h].width + u];
                k[i] = (struct ranked){isnan(s) ? -1.0f : fabsf(s), i, h, t, err ? -1 : u, s};
            }
    qsort(k, (size_t)total, sizeof *k, by_abs);
    *n = total;
    return k;
}

static void put_token(FILE *f, const struct relp_model *m, int32_t id) { print_piece(f, m, id); }

/* ------------------------------------------------------------ relp features */

int cmd_features(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL},    {"--saes", 1, NULL},      {"--neurons", 0, NULL},  {"--components", 0, NULL},
                      {"--clean", 1, NULL},    {"--corrupt", 1, NULL},   {"--answer", 1, NULL},   {"--wrong", 1, NULL},
                      {"--prompts", 1, NULL},  {"--method", 1, NULL},    {"--steps", 1, NULL},    {"--noising", 0, NULL},
                      {"--top", 1, NULL},      {"--validate", 1, NULL},  {"--json", 1, NULL},     {"--threads", 1, NULL},
                      {"--no-bos", 0, NULL},   {"--weights", 1, NULL},   {"--tokenizer", 1, NULL},
                      {"--limit", 1, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    long steps, threads, top, validate;
    int rc = parse_args(argc, argv, "features", &a);
    if (rc || (rc = get_int(&a, "--steps", 1, 100000, 10, &steps)) ||
        (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads)) ||
        (rc = get_int(&a, "--top", 0, 1L << 30, 20, &top)) || (rc = get_int(&a, "--validate", 0, 1L << 20, 0, &validate)))
        return rc;
    static const char *const allowed[] = {"atp", "relp", "relp-ln", "relp-cp", "attnlrp", "ig", NULL};
    struct method_spec ms;
    if ((rc = method_of(&a, "features", "relp", allowed, &ms))) return rc;
    if (get(&a, "--steps") && ms.method != RELP_METHOD_IG)
        return usage("features: --steps is for --method ig (integrated gradients), not %s%s", ms.name, "");
    const char *jpath = get(&a, "--json");
    if ((rc = writable("--json", jpath))) return rc;
    struct relp_model *m = NULL;
    struct relp_saes *saes = NULL;
    struct relp_ctx *ctx = NULL;
    struct batch b = {0};
    struct scored r = {0};
    struct ranked *rk = NULL;
    float *eff = NULL;
    struct relp_circuit_node *vn = NULL;
    enum relp_nodeset set;
    if ((rc = load_model(&a, &m))) return rc;
    if ((rc = node_set(&a, "features", m, &set, &saes)) || (rc = prompts_of(&a, "features", m, 0, &b)) ||
        (rc = make_ctx(m, b.n, b.T, threads, &ctx)))
        goto out;
    const int noising = get(&a, "--noising") != NULL;
    struct relp_attr_params p = params_of(&ms, steps, noising);
    char label[96];
    snprintf(label, sizeof label, "%s %s", ms.name, set_name(set));
    if ((rc = score_set(ctx, m, &b, saes, set, &p, label, &r))) goto out;
    warn_print(&r.w, NULL);
    int64_t nr = 0;
    if (!(rk = rank_nodes(&r, b.T, &nr))) {
        rc = 1;
        goto out;
    }
    const int64_t nt = top < nr ? top : nr, nv = validate < nr ? validate : nr;
    double pearson = NAN;
    if (nv > 0) { /* exact patching of the nv nodes of largest |score| */
        eff = malloc(sizeof(float) * (size_t)nv);
        vn = malloc(sizeof *vn * (size_t)nv);
        float *est = malloc(sizeof(float) * (size_t)nv);
        if (!eff || !vn || !est) {
            free(est);
            rc = 1;
            goto out;
        }
        for (int64_t i = 0; i < nv; i++) {
            vn[i] = (struct relp_circuit_node){rk[i].hook, rk[i].pos, rk[i].unit};
            est[i] = rk[i].score;
        }
        struct progress pr = {.label = "exact patching"};
        struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, b.answer, b.wrong, 1.0f};
        if (relp_patch_circuit_nodes(ctx, b.clean, b.corrupt, b.n, b.T, &mt, saes, set, noising, vn, (int32_t)nv, eff,
                                     on_progress, &pr)) {
            fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
            free(est);
            rc = 1;
            goto out;
        }
        pearson = nv > 1 ? relp_pearson(est, eff, nv) : NAN;
        free(est);
    }
    const char *unit = set == RELP_NODESET_FEATURES ? "feature" : set == RELP_NODESET_NEURONS ? "neuron" : "unit";
    if (jpath) {
        FILE *f = open_json(jpath);
        if (!f) {
            rc = 1;
            goto out;
        }
        fprintf(f, "{\"method\":\"%s\",\"nodes\":\"%s\",\"direction\":\"%s\",\"prompts\":%d,\"positions\":%d,", ms.name,
                set_name(set), noising ? "noising" : "denoising", b.n, b.T);
        if (ms.method == RELP_METHOD_IG) fprintf(f, "\"steps\":%ld,", steps);
        fprintf(f, "\"tokens\":[");
        for (int t = 0; t < b.T; t++) {
            if (t) fputc(',', f);
            put_token(f, m, b.clean[t]);
        }
        fprintf(f, "],\"metric_clean\":%.9g,\"metric_corrupt\":%.9g,\"seconds\":%.4f,", r.mc, r.mr, r.seconds);
        warn_json(f, &r.w);
        fprintf(f, ",\"hooks\":[");
        for (int h = 0; h < r.nh; h++) {
            fprintf(f, "%s{\"hook\":\"%s\",\"width\":%d,\"scores\":[", h ? "," : "", r.hooks[h].name, r.hooks[h].width);
            for (int t = 0; t < b.T; t++) {
                fputs(t ? ",[" : "[", f);
                for (int u = 0; u < r.hooks[h].width; u++) {
                    if (u) fputc(',', f);
                    put_num(f, r.s[h][(size_t)t * r.hooks[h].width + u]);
                }
                fputc(']', f);
            }
            fprintf(f, "],\"error\":");
            if (!r.hooks[h].error) fputs("null", f);
            else {
                fputc('[', f);
                for (int t = 0; t < b.T; t++) {
                    if (t) fputc(',', f);
                    put_num(f, r.e[h][t]);
                }
                fputc(']', f);
            }
            fputc('}', f);
        }
        fprintf(f, "],\"top\":[");
        for (int64_t i = 0; i < nt; i++) {
            fprintf(f, "%s{\"hook\":\"%s\",\"position\":%d,\"%s\":%d,\"score\":", i ? "," : "", r.hooks[rk[i].hook].name,
                    rk[i].pos, "feature", rk[i].unit);
            put_num(f, rk[i].score);
            fputc('}', f);
        }
        fputc(']', f);
        if (nv > 0) {
            fprintf(f, ",\"validated\":[");
            for (int64_t i = 0; i < nv; i++) {
                fprintf(f, "%s{\"hook\":\"%s\",\"position\":%d,\"feature\":%d,\"score\":", i ? "," : "",
                        r.hooks[rk[i].hook].name, rk[i].pos, rk[i].unit);
                put_num(f, rk[i].score);
                fprintf(f, ",\"ap\":");
                put_num(f, eff[i]);
                fputc('}', f);
            }
            fprintf(f, "],\"pearson\":");
            put_num(f, pearson);
        }
        fprintf(f, "}\n");
        if ((rc = close_json(f, jpath))) goto out;
    }
    if (!jpath || strcmp(jpath, "-") != 0) {
        printf("%s on %s (%s), %d prompt(s) of %d tokens: metric clean %.4f, corrupted %.4f, %.3f s\n", ms.name,
               set_name(set), noising ? "noising" : "denoising", b.n, b.T, r.mc, r.mr, r.seconds);
        printf("%-28s %4s %-12s %8s %10s%s\n", "hook", "pos", "token", unit, "score", nv ? "        AP" : "");
        for (int64_t i = 0; i < (nt > nv ? nt : nv); i++) {
            int n = 0;
            const char *tok = relp_token_bytes(m, b.clean[rk[i].pos], &n);
            char tb[16];
            snprintf(tb, sizeof tb, "%.*s", n < 12 ? n : 12, tok ? tok : "?");
            printf("%-28s %4d %-12s ", r.hooks[rk[i].hook].name, rk[i].pos, tb);
            if (rk[i].unit < 0) printf("%8s", "error");
            else printf("%8d", rk[i].unit);
            printf(" %+10.4f", rk[i].score);
            if (i < nv) printf(" %+9.4f", eff[i]);
            printf("\n");
        }
        if (nv > 1) printf("Pearson r of the %lld largest |score| with exact patching: %.4f\n", (long long)nv, pearson);
    }
out:
    free(rk);
    free(eff);
    free(vn);
    scored_free(&r);
    batch_free(&b);
    relp_ctx_free(ctx);
    relp_saes_free(saes);
    relp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ relp faithfulness */

int cmd_faithfulness(int argc, char **argv) {
    struct warn_list warns = {0}; /* the core's warnings of the run */
    struct opt o[] = {{"--model", 1, NULL},   {"--saes", 1, NULL},    {"--neurons", 0, NULL}, {"--components", 0, NULL},
                      {"--prompts", 1, NULL}, {"--methods", 1, NULL}, {"--steps", 1, NULL},   {"--nodes", 1, NULL},
                      {"--clean", 1, NULL},   {"--corrupt", 1, NULL}, {"--answer", 1, NULL},  {"--wrong", 1, NULL},
                      {"--start-layer", 1, NULL}, {"--json", 1, NULL}, {"--svg", 1, NULL},   {"--png", 1, NULL}, {"--scale", 1, NULL}, {"--font", 1, NULL}, {"--no-caption", 0, NULL}, {"--color-max", 1, NULL},
                      {"--threads", 1, NULL}, {"--no-bos", 0, NULL},  {"--weights", 1, NULL}, {"--tokenizer", 1, NULL},
                      {"--limit", 1, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    long steps, threads, start;
    int rc = parse_args(argc, argv, "faithfulness", &a);
    if (rc || (rc = get_int(&a, "--steps", 1, 100000, 10, &steps)) ||
        (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads)) ||
        (rc = get_int(&a, "--start-layer", 0, 1 << 20, 0, &start)))
        return rc;
    int scale_check;
    if ((rc = get_scale(&a, &scale_check))) return rc;
    /* the methods */
    struct method_spec ms[8];
    int n_ms = 0;
    {
        const char *list = get(&a, "--methods") ? get(&a, "--methods") : "relp,atp,ig";
        char buf[256];
        snprintf(buf, sizeof buf, "%s", list);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            static const char *const allowed[] = {"atp", "relp", "relp-ln", "relp-cp", "attnlrp", "ig", NULL};
            int ok = 0;
            for (int i = 0; allowed[i] && !ok; i++) ok = !strcmp(allowed[i], tok);
            if (!ok || n_ms == 8 || find_method(tok, &ms[n_ms]))
                return usage("faithfulness: --methods is a comma-separated list of atp, relp, relp-ln, relp-cp, "
                             "attnlrp and ig (at most 8), got '%s'%s", list, "");
            for (int i = 0; i < n_ms; i++)
                if (!strcmp(ms[i].name, tok)) return usage("faithfulness: --methods names %s twice%s", tok, "");
            n_ms++;
        }
    }
    int64_t *nodes = NULL;
    int n_points = 0;
    if ((rc = int_list("--nodes", get(&a, "--nodes"), &nodes, &n_points))) return rc;
    for (const char *const *fl = (const char *const[]){"--json", "--svg", "--png", NULL}; *fl; fl++)
        if ((rc = writable(*fl, get(&a, *fl)))) {
            free(nodes);
            return rc;
        }
    const int use_tau = nodes == NULL;
    float taus[15];
    if (use_tau) { /* Marks et al.'s thresholds: logspace(-4, 0, 15) */
        n_points = 15;
        for (int i = 0; i < 15; i++) taus[i] = (float)pow(10.0, -4.0 + 4.0 * i / 14.0);
    }
    struct relp_model *m = NULL;
    struct relp_saes *saes = NULL;
    struct relp_ctx *ctx = NULL;
    struct relp_faithfulness *fa = NULL;
    struct batch b = {0};
    enum relp_nodeset set;
    int64_t *size = NULL;
    double *F = NULL, *Cm = NULL, mfull = 0, mempty = 0, mc = 0, mr = 0;
    double secs[8] = {0}, curve_secs[8] = {0};
    if ((rc = load_model(&a, &m))) {
        free(nodes);
        return rc;
    }
    if ((rc = node_set(&a, "faithfulness", m, &set, &saes)) || (rc = prompts_of(&a, "faithfulness", m, 1, &b)) ||
        (rc = make_ctx(m, b.n, b.T, threads, &ctx)))
        goto out;
    if (start >= relp_model_config(m)->n_layer) {
        rc = usage("faithfulness: --start-layer must be below the model's %s layers, got %s", "n_layer",
                   get(&a, "--start-layer"));
        goto out;
    }
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, b.answer, b.wrong, 1.0f};
    if (relp_faithfulness_init(&fa, ctx, b.clean, b.corrupt, b.n, b.T, &mt, saes, set, (int32_t)start)) {
        fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
        rc = 1;
        goto out;
    }
    relp_faithfulness_ends(fa, &mfull, &mempty);
    size = malloc(sizeof(int64_t) * (size_t)n_points * n_ms);
    F = malloc(sizeof(double) * (size_t)n_points * n_ms);
    Cm = malloc(sizeof(double) * (size_t)n_points * n_ms);
    if (!size || !F || !Cm) {
        rc = 1;
        goto out;
    }
    for (int k = 0; k < n_ms && !rc; k++) {
        struct scored r;
        char label[96];
        snprintf(label, sizeof label, "%s %s", ms[k].name, set_name(set));
        struct relp_attr_params p = params_of(&ms[k], steps, 0);
        if ((rc = score_set(ctx, m, &b, saes, set, &p, label, &r))) {
            scored_free(&r);
            break;
        }
        mc = r.mc, mr = r.mr, secs[k] = r.seconds;
        if (k == 0) warns = r.w, warn_print(&warns, NULL); /* the run's (the prompts' gap), the same for every method */
        snprintf(label, sizeof label, "%s: faithfulness", ms[k].name);
        struct progress pr = {.label = label};
        double t0 = now_ms();
        if (relp_faithfulness_curve(fa, (const float *const *)r.s, (const float *const *)r.e, nodes, use_tau ? taus : NULL,
                                    n_points, size + (size_t)k * n_points, F + (size_t)k * n_points,
                                    Cm + (size_t)k * n_points, on_progress, &pr)) {
            fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
            rc = 1;
        }
        curve_secs[k] = (now_ms() - t0) / 1000.0;
        scored_free(&r);
    }
    if (rc) goto out;
    const char *jpath = get(&a, "--json");
    if (jpath) {
        FILE *f = open_json(jpath);
        if (!f) {
            rc = 1;
            goto out;
        }
        fprintf(f, "{\"nodes\":\"%s\",\"prompts\":%d,\"positions\":%d,\"start_layer\":%ld,\"candidates\":%lld,"
                   "\"metric_clean\":%.9g,\"metric_corrupt\":%.9g,\"m_full\":%.9g,\"m_empty\":%.9g,\"steps\":%ld,"
                   "",
                set_name(set), b.n, b.T, start, (long long)relp_faithfulness_n_nodes(fa), mc, mr, mfull, mempty, steps);
        warn_json(f, &warns);
        fprintf(f, ",\"curves\":{");
        for (int k = 0; k < n_ms; k++) {
            fprintf(f, "%s\"%s\":[", k ? "," : "", ms[k].name);
            for (int i = 0; i < n_points; i++) {
                const size_t q = (size_t)k * n_points + i;
                fprintf(f, "%s{\"n_nodes\":%lld,\"threshold\":", i ? "," : "", (long long)size[q]);
                if (use_tau) fprintf(f, "%.7g", taus[i]);
                else fputs("null", f);
                fprintf(f, ",\"faithfulness\":");
                put_num(f, F[q]);
                fprintf(f, ",\"completeness\":");
                put_num(f, Cm[q]);
                fputc('}', f);
            }
            fputc(']', f);
        }
        fprintf(f, "},\"seconds\":{");
        for (int k = 0; k < n_ms; k++) fprintf(f, "%s\"%s\":%.4f", k ? "," : "", ms[k].name, secs[k]);
        fprintf(f, "},\"curve_seconds\":{");
        for (int k = 0; k < n_ms; k++) fprintf(f, "%s\"%s\":%.4f", k ? "," : "", ms[k].name, curve_secs[k]);
        fprintf(f, "}}\n");
        if ((rc = close_json(f, jpath))) goto out;
    }
    if (get(&a, "--svg") || get(&a, "--png")) { /* the curves of every method, F and completeness against nodes */
        struct relp_figure_series sr[8];
        double *x = malloc(sizeof(double) * (size_t)n_points * n_ms);
        for (int k = 0; x && k < n_ms; k++) {
            for (int i = 0; i < n_points; i++) x[(size_t)k * n_points + i] = (double)size[(size_t)k * n_points + i];
            sr[k] = (struct relp_figure_series){ms[k].name, n_points, x + (size_t)k * n_points, F + (size_t)k * n_points,
                                                Cm + (size_t)k * n_points, secs[k]};
        }
        char data[512], what[96];
        const char *pf = strrchr(get(&a, "--prompts"), '/');
        snprintf(data, sizeof data, "%d prompts of %d tokens from %s%s", b.n, b.T, pf ? pf + 1 : get(&a, "--prompts"),
                 start ? "; nodes from --start-layer on" : "");
        snprintf(what, sizeof what, "%s (%lld candidates)", set_name(set), (long long)relp_faithfulness_n_nodes(fa));
        const char *slash = strrchr(model_path(&a), '/');
        struct relp_figure_curves cv = {n_ms, sr, slash && slash[1] ? slash + 1 : model_path(&a), what, data,
                                        "logit difference (answer - wrong), mean ablation", 0, NULL};
        struct relp_figure *fig = x ? relp_figure_init() : NULL;
        figure_style(fig);
        int scale = 1;
        rc = fig ? get_scale(&a, &scale) : 1;
        if (!rc) rc = figure_save(fig, relp_figure_curves(fig, &cv), get(&a, "--png"), get(&a, "--svg"), scale);
        relp_figure_free(fig);
        free(x);
        if (rc) goto out;
    }
    if (!jpath || strcmp(jpath, "-") != 0) {
        printf("faithfulness of %s circuits, %d prompts of %d tokens, %lld candidate nodes%s: m(M) %.4f, m(empty) %.4f\n",
               set_name(set), b.n, b.T, (long long)relp_faithfulness_n_nodes(fa), start ? " (from --start-layer)" : "",
               mfull, mempty);
        for (int k = 0; k < n_ms; k++) {
            printf("%s (scores %.2f s):\n  %10s %10s %9s %12s\n", ms[k].name, secs[k], use_tau ? "threshold" : "", "nodes",
                   "F", "completeness");
            for (int i = 0; i < n_points; i++) {
                const size_t q = (size_t)k * n_points + i;
                if (use_tau) printf("  %10.2e", taus[i]);
                else printf("  %10s", "");
                printf(" %10lld %9.4f %12.4f\n", (long long)size[q], F[q], Cm[q]);
            }
        }
    }
out:
    free(nodes);
    free(size);
    free(F);
    free(Cm);
    relp_faithfulness_free(fa);
    batch_free(&b);
    relp_ctx_free(ctx);
    relp_saes_free(saes);
    relp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------ relp edges */

static const char *edge_name(const struct relp_model *m, int32_t u, int32_t v, char *buf, size_t cap) {
    char a[64], b[64];
    snprintf(buf, cap, "%s->%s", relp_graph_up_name(m, u, a, sizeof a), relp_graph_down_name(m, v, b, sizeof b));
    return buf;
}

/* the n edges of largest |score| into in (n_up * n_down flags), pruned as EAP-IG prunes (relp_graph_top) */
static void top_edges(const struct relp_model *m, const float *s, int64_t n, uint8_t *in, uint8_t *node_in) {
    relp_graph_top(m, s, n, in, node_in);
}

/* The circuit graph of the in-graph edges in: nodes by layer (input at the bottom, logits at the top), edges by
 * width and colour of score, q/k/v ports; node scores: the sum of their in-graph edges' scores leaving them */
static int draw_graph(const struct args *a, const struct relp_model *m, const float *s, const uint8_t *in,
                      const struct method_spec *ms, const struct batch *b, long top, double mc, double mr, double faith) {
    int32_t nu, nd;
    relp_graph_size(m, &nu, &nd);
    const int NH = relp_model_config(m)->n_head, per = 3 * NH + 1;
    struct relp_figure_node *nodes = calloc((size_t)nu + 1, sizeof *nodes);
    struct relp_figure_edge *edges = calloc((size_t)nu * nd + 1, sizeof *edges);
    int *index = malloc(sizeof(int) * ((size_t)nu + 1));
    char (*names)[24] = calloc((size_t)nu + 1, sizeof *names);
    if (!nodes || !edges || !index || !names) {
        free(nodes), free(edges), free(index), free(names);
        return 1;
    }
    int n_nodes = 0, n_edges = 0;
    for (int32_t u = 0; u <= nu; u++) index[u] = -1;
    /* the nodes that have an in-graph edge, upstream index order, the logits last */
    for (int32_t u = 0; u < nu; u++) {
        int used = 0;
        for (int32_t v = 0; v < nd && !used; v++) used = in[(size_t)u * nd + v];
        for (int32_t w = 0; w < nu && !used && u > 0; w++)
            for (int32_t v = 0; v < nd - 1 && !used; v++) {
                const int l = v / per, r = v % per;
                used = in[(size_t)w * nd + v] && 1 + l * (NH + 1) + (r == 3 * NH ? NH : r % NH) == u;
            }
        if (!used) continue;
        const int l = u ? (u - 1) / (NH + 1) : -1, unit = u ? (u - 1) % (NH + 1) : 0;
        relp_graph_up_name(m, u, names[n_nodes], sizeof names[n_nodes]);
        double sum = 0;
        for (int32_t v = 0; v < nd; v++)
            if (in[(size_t)u * nd + v]) sum += s[(size_t)u * nd + v];
        nodes[n_nodes] = (struct relp_figure_node){names[n_nodes], l, u == 0 || unit == NH ? 0 : unit,
                                                   u == 0 ? RELP_FIGURE_NODE_EMBED : unit == NH ? RELP_FIGURE_NODE_MLP
                                                                                                : RELP_FIGURE_NODE_HEAD,
                                                   0, -1, sum};
        index[u] = n_nodes++;
    }
    const int logits = n_nodes;
    double sum = 0;
    for (int32_t u = 0; u < nu; u++)
        if (in[(size_t)u * nd + nd - 1]) sum += s[(size_t)u * nd + nd - 1];
    nodes[n_nodes++] = (struct relp_figure_node){"logits", relp_model_config(m)->n_layer, 0, RELP_FIGURE_NODE_LOGITS, 0,
                                                 -1, sum};
    for (int32_t u = 0; u < nu; u++)
        for (int32_t v = 0; v < nd; v++) {
            if (!in[(size_t)u * nd + v] || index[u] < 0) continue;
            int dst = logits;
            char letter = 0;
            if (v < nd - 1) {
                const int l = v / per, r = v % per;
                dst = index[1 + l * (NH + 1) + (r == 3 * NH ? NH : r % NH)];
                letter = r == 3 * NH ? 0 : "qkv"[r / NH];
            }
            if (dst >= 0) edges[n_edges++] = (struct relp_figure_edge){index[u], dst, s[(size_t)u * nd + v], letter};
        }
    char l0[512], l1[512], l2[512];
    const char *slash = strrchr(model_path(a), '/');
    snprintf(l0, sizeof l0, "model: %s; %s edges, the %ld of largest |score| (%d after EAP-IG's pruning)",
             slash && slash[1] ? slash + 1 : model_path(a), ms->title, top, n_edges);
    snprintf(l1, sizeof l1, "%d prompt%s of %d tokens; metric: logit difference, clean %.3f, corrupted %.3f", b->n,
             b->n == 1 ? "" : "s", b->T, mc, mr);
    if (isfinite(faith)) snprintf(l2, sizeof l2, "faithfulness of this circuit: %.3f", faith);
    else snprintf(l2, sizeof l2, "edge scores in units of the normalised metric (1: the whole clean - corrupted gap)");
    const char *lines[3] = {l0, l1, l2};
    const struct relp_figure_circuit c = {n_nodes, nodes, n_edges, edges, "edge circuit", 3, lines, 0, NULL};
    struct relp_figure *fig = relp_figure_init();
    figure_style(fig);
    int scale = 1, rc = fig ? get_scale(a, &scale) : 1;
    if (!rc) rc = figure_save(fig, relp_figure_circuit(fig, &c), get(a, "--png"), get(a, "--svg"), scale);
    relp_figure_free(fig);
    free(nodes), free(edges), free(index), free(names);
    return rc;
}

int cmd_edges(int argc, char **argv) {
    struct warn_list warns = {0}; /* the core's warnings of the run */
    struct opt o[] = {{"--model", 1, NULL},   {"--clean", 1, NULL},    {"--corrupt", 1, NULL}, {"--answer", 1, NULL},
                      {"--wrong", 1, NULL},   {"--prompts", 1, NULL},  {"--method", 1, NULL},  {"--steps", 1, NULL},
                      {"--noising", 0, NULL}, {"--top", 1, NULL},      {"--evaluate", 0, NULL}, {"--curve", 1, NULL},
                      {"--validate", 1, NULL}, {"--json", 1, NULL},    {"--svg", 1, NULL},     {"--png", 1, NULL}, {"--scale", 1, NULL}, {"--font", 1, NULL}, {"--no-caption", 0, NULL}, {"--color-max", 1, NULL},
                      {"--threads", 1, NULL}, {"--no-bos", 0, NULL},   {"--weights", 1, NULL}, {"--tokenizer", 1, NULL},
                      {"--limit", 1, NULL},   {"--out", 1, NULL},      {"--resume", 0, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    long steps, threads, top, validate;
    int rc = parse_args(argc, argv, "edges", &a);
    if (rc || (rc = get_int(&a, "--steps", 1, 100000, 10, &steps)) ||
        (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads)) ||
        (rc = get_int(&a, "--top", 0, 1L << 30, -1, &top)) ||
        (rc = get_int(&a, "--validate", 0, 1L << 20, 0, &validate)))
        return rc;
    int scale_check;
    if ((rc = get_scale(&a, &scale_check))) return rc;
    static const char *const allowed[] = {"atp", "relp", "relp-ln", "relp-cp", "attnlrp", "ig-input", "ap", NULL};
    struct method_spec ms;
    if ((rc = method_of(&a, "edges", "relp", allowed, &ms))) return rc;
    if (get(&a, "--steps") && ms.method != RELP_METHOD_IG_INPUT)
        return usage("edges: --steps is for --method ig-input (integrated gradients along the input path), not %s%s",
                     ms.name, "");
    if ((get(&a, "--out") || get(&a, "--resume")) && ms.method != RELP_METHOD_AP)
        return usage("edges: --out and --resume are for --method ap (the long exact sweep; the others take one "
                     "backward pass)%s%s", "", "");
    if (get(&a, "--evaluate") && top < 0)
        return usage("edges: --evaluate needs --top N (the circuit: the N edges of largest |score|)%s%s", "", "");
    int64_t *curve = NULL;
    int n_curve = 0;
    if ((rc = int_list("--curve", get(&a, "--curve"), &curve, &n_curve))) return rc;
    for (const char *const *fl = (const char *const[]){"--json", "--svg", "--png", NULL}; *fl; fl++)
        if ((rc = writable(*fl, get(&a, *fl)))) {
            free(curve);
            return rc;
        }
    struct relp_model *m = NULL;
    struct relp_ctx *ctx = NULL;
    struct relp_edge_eval *ev = NULL;
    struct batch b = {0};
    float *s = NULL, *est = NULL, *eff = NULL;
    uint8_t *in = NULL, *node_in = NULL;
    int32_t *pairs = NULL;
    double *curve_F = NULL;
    int64_t *curve_n = NULL;
    if ((rc = load_model(&a, &m))) {
        free(curve);
        return rc;
    }
    if ((rc = prompts_of(&a, "edges", m, 0, &b)) || (rc = make_ctx(m, b.n, b.T, threads, &ctx))) goto out;
    int32_t nu, nd;
    relp_graph_size(m, &nu, &nd);
    int64_t n_edges = 0;
    for (int32_t u = 0; u < nu; u++)
        for (int32_t v = 0; v < nd; v++) n_edges += relp_graph_edge(m, u, v);
    const int noising = get(&a, "--noising") != NULL;
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, b.answer, b.wrong, 1.0f};
    s = calloc((size_t)nu * nd, sizeof(float));
    in = calloc((size_t)nu * nd, 1);
    node_in = calloc((size_t)nu, 1);
    pairs = malloc(sizeof(int32_t) * 2 * (size_t)n_edges);
    if (!s || !in || !node_in || !pairs) {
        rc = 1;
        goto out;
    }
    /* the edges in EAP-IG's order (Graph.from_model) */
    relp_graph_edges(m, pairs, (int32_t)n_edges);
    double mc = 0, mr = 0, t0 = now_ms(), seconds;
    if (ms.method == RELP_METHOD_AP) { /* every edge patched on its own, in chunks: the records of a run log */
        const int chunk = 64, n_chunks = (int)((n_edges + chunk - 1) / chunk);
        char header[1200], mp[600];
        size_t psize = 0;
        char *ptext = get(&a, "--prompts") ? read_file(get(&a, "--prompts"), &psize) : NULL;
        unsigned long long ph = ptext ? hash_bytes(ptext, psize) : hash_bytes(b.clean, sizeof(int32_t) * (size_t)b.n * b.T);
        free(ptext);
        json_str_buf(mp, sizeof mp, model_path(&a));
        snprintf(header, sizeof header,
                 "{\"command\":\"edges\",\"model\":%s,\"weights\":\"%s\",\"prompts_fnv64\":\"%016llx\",\"prompts\":%d,"
                 "\"tokens\":%d,\"method\":\"ap\",\"noising\":%d,\"edges\":%lld,\"chunk\":%d}",
                 mp, dtype_name(relp_model_weight_dtype(m)), ph, b.n, b.T, noising, (long long)n_edges, chunk);
        struct run_log log;
        if ((rc = run_log_open(&log, get(&a, "--out"), get(&a, "--resume") != NULL, header, n_chunks))) goto out;
        if (log.n_done_before < n_chunks)
            fprintf(stderr, "relp: patching each of the %lld edges on its own (a forward pass from its layer each), in "
                            "%d chunks of %d\n", (long long)n_edges, n_chunks, chunk);
        for (int g = 0; g < n_chunks && !rc; g++) {
            if (!run_log_mine(&log, g)) continue;
            const int k = (int)(n_edges - (int64_t)g * chunk < chunk ? n_edges - (int64_t)g * chunk : chunk);
            float e[64];
            struct record rec;
            memset(&rec, 0, sizeof rec);
            rec.batch = g, rec.n_prompts = b.n;
            double tc = now_ms();
            if (relp_patch_edges(ctx, b.clean, b.corrupt, b.n, b.T, &mt, noising, pairs + 2 * (size_t)g * chunk, k, e,
                                 NULL, NULL)) {
                fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
                rc = 1;
                break;
            }
            if (record_add(&rec, "effects", e, k, (now_ms() - tc) / 1000.0)) rc = 1;
            if (!rc) rc = run_log_put(&log, &rec);
            record_free(&rec);
        }
        if (!rc) rc = run_log_gather(&log);
        for (int g = 0; g < n_chunks && !rc && log.rank == 0; g++) {
            int len = 0;
            double sg;
            const float *v = record_get(&log.recs[g], "effects", &len, &sg);
            const int k = (int)(n_edges - (int64_t)g * chunk < chunk ? n_edges - (int64_t)g * chunk : chunk);
            if (!v || len != k) {
                fprintf(stderr, "relp: chunk %d of the run has %d effects, expected %d\n", g, len, k);
                rc = 1;
                break;
            }
            for (int i = 0; i < k; i++) {
                const int64_t q = (int64_t)g * chunk + i;
                s[(size_t)pairs[2 * q] * nd + pairs[2 * q + 1]] = v[i];
            }
        }
        const int rank = log.rank;
        run_log_close(&log);
        if (rc || rank != 0) goto out;
        mc = NAN, mr = NAN;
    } else {
        struct relp_attr_params p = params_of(&ms, steps, noising);
        struct progress pr = {.label = "ig-input edges"};
        if (ms.method == RELP_METHOD_IG_INPUT) p.progress = on_progress, p.progress_user = &pr;
        if (relp_attribute_edges(ctx, b.clean, b.corrupt, b.n, b.T, &mt, &p, s, &mc, &mr)) {
            fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
            rc = 1;
            goto out;
        }
        warn_collect(ctx, &warns);
        warn_print(&warns, NULL);
    }
    seconds = (now_ms() - t0) / 1000.0;
    /* the circuit: --top N (pruned), or every edge */
    if (top >= 0) top_edges(m, s, top, in, node_in);
    else {
        for (int64_t i = 0; i < n_edges; i++) in[(size_t)pairs[2 * i] * nd + pairs[2 * i + 1]] = 1;
        memset(node_in, 1, (size_t)nu);
    }
    double faith = NAN, m_circuit = NAN;
    if (get(&a, "--evaluate") || n_curve) {
        if (relp_edge_eval_init(&ev, ctx, b.clean, b.corrupt, b.n, b.T, &mt)) {
            fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
            rc = 1;
            goto out;
        }
        relp_edge_eval_ends(ev, &mc, &mr);
    }
    if (get(&a, "--evaluate")) {
        if (relp_edge_eval_run(ev, in, &m_circuit)) {
            fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
            rc = 1;
            goto out;
        }
        faith = (m_circuit - mr) / (mc - mr);
    }
    if (n_curve) {
        curve_F = malloc(sizeof(double) * (size_t)n_curve);
        curve_n = malloc(sizeof(int64_t) * (size_t)n_curve);
        uint8_t *cin = malloc((size_t)nu * nd), *cn = malloc((size_t)nu);
        struct progress pr = {.label = "edge circuits"};
        for (int i = 0; i < n_curve && curve_F && curve_n && cin && cn; i++) {
            top_edges(m, s, curve[i], cin, cn);
            double mC;
            if (relp_edge_eval_run(ev, cin, &mC)) {
                rc = 1;
                break;
            }
            curve_F[i] = (mC - mr) / (mc - mr);
            curve_n[i] = 0;
            for (size_t k = 0; k < (size_t)nu * nd; k++) curve_n[i] += cin[k];
            on_progress(&pr, i + 1, n_curve);
        }
        free(cin), free(cn);
        if (!curve_F || !curve_n) rc = 1;
        if (rc) goto out;
    }
    /* --validate K: the K edges of largest |score| patched exactly */
    double pearson = NAN;
    int64_t nv = validate < n_edges ? validate : n_edges;
    int32_t *vp = NULL;
    if (nv > 0) {
        struct ranked *k = malloc(sizeof *k * (size_t)n_edges);
        vp = malloc(sizeof(int32_t) * 2 * (size_t)nv);
        est = malloc(sizeof(float) * (size_t)nv);
        eff = malloc(sizeof(float) * (size_t)nv);
        if (!k || !vp || !est || !eff) {
            free(k), free(vp);
            rc = 1;
            goto out;
        }
        for (int64_t i = 0; i < n_edges; i++) {
            const float x = s[(size_t)pairs[2 * i] * nd + pairs[2 * i + 1]];
            k[i] = (struct ranked){isnan(x) ? -1.0f : fabsf(x), i, 0, 0, 0, x};
        }
        qsort(k, (size_t)n_edges, sizeof *k, by_abs);
        for (int64_t i = 0; i < nv; i++) {
            vp[2 * i] = pairs[2 * k[i].idx], vp[2 * i + 1] = pairs[2 * k[i].idx + 1];
            est[i] = k[i].score;
        }
        free(k);
        struct progress pr = {.label = "exact edge patching"};
        if (relp_patch_edges(ctx, b.clean, b.corrupt, b.n, b.T, &mt, noising, vp, (int32_t)nv, eff, on_progress, &pr)) {
            fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
            free(vp);
            rc = 1;
            goto out;
        }
        pearson = nv > 1 ? relp_pearson(est, eff, nv) : NAN;
    }
    const struct relp_config *c = relp_model_config(m);
    char un[64], en[140];
    const char *jpath = get(&a, "--json");
    if (jpath) {
        FILE *f = open_json(jpath);
        if (!f) {
            free(vp);
            rc = 1;
            goto out;
        }
        fprintf(f, "{\"cfg\":{\"n_layers\":%d,\"n_heads\":%d,\"parallel_attn_mlp\":%s,\"d_model\":%d},\"nodes\":{",
                c->n_layer, c->n_head, c->arch == RELP_ARCH_GPT_NEOX && !c->sequential_residual ? "true" : "false",
                c->n_embd);
        for (int32_t u = 0; u < nu; u++)
            fprintf(f, "%s\"%s\":{\"in_graph\":%s}", u ? "," : "", relp_graph_up_name(m, u, un, sizeof un),
                    node_in[u] ? "true" : "false");
        fprintf(f, ",\"logits\":{\"in_graph\":true}},\"edges\":{");
        for (int64_t i = 0; i < n_edges; i++) {
            const size_t e = (size_t)pairs[2 * i] * nd + pairs[2 * i + 1];
            fprintf(f, "%s\"%s\":{\"score\":", i ? "," : "", edge_name(m, pairs[2 * i], pairs[2 * i + 1], en, sizeof en));
            put_num(f, s[e]);
            fprintf(f, ",\"in_graph\":%s}", in[e] ? "true" : "false");
        }
        fprintf(f, "},\"method\":\"%s\",\"direction\":\"%s\",\"prompts\":%d,\"positions\":%d,\"metric_clean\":", ms.name,
                noising ? "noising" : "denoising", b.n, b.T);
        put_num(f, mc);
        fprintf(f, ",\"metric_corrupt\":");
        put_num(f, mr);
        fprintf(f, ",\"seconds\":%.4f,", seconds);
        warn_json(f, &warns);
        if (ms.method == RELP_METHOD_IG_INPUT) fprintf(f, ",\"steps\":%ld", steps);
        if (top >= 0) fprintf(f, ",\"top\":%ld", top);
        if (get(&a, "--evaluate")) {
            fprintf(f, ",\"faithfulness\":");
            put_num(f, faith);
            fprintf(f, ",\"metric_circuit\":");
            put_num(f, m_circuit);
        }
        if (n_curve) {
            fprintf(f, ",\"curve\":[");
            for (int i = 0; i < n_curve; i++) {
                fprintf(f, "%s{\"n_edges\":%lld,\"in_graph\":%lld,\"faithfulness\":", i ? "," : "", (long long)curve[i],
                        (long long)curve_n[i]);
                put_num(f, curve_F[i]);
                fputc('}', f);
            }
            fputc(']', f);
        }
        if (nv > 0) {
            fprintf(f, ",\"validated\":[");
            for (int64_t i = 0; i < nv; i++) {
                fprintf(f, "%s{\"edge\":\"%s\",\"score\":", i ? "," : "", edge_name(m, vp[2 * i], vp[2 * i + 1], en, sizeof en));
                put_num(f, est[i]);
                fprintf(f, ",\"ap\":");
                put_num(f, eff[i]);
                fputc('}', f);
            }
            fprintf(f, "],\"pearson\":");
            put_num(f, pearson);
        }
        fprintf(f, "}\n");
        if ((rc = close_json(f, jpath))) {
            free(vp);
            goto out;
        }
    }
    if (get(&a, "--svg") || get(&a, "--png")) { /* the circuit graph: the in-graph edges (--top N; else the top 30) */
        uint8_t *gin = in;
        uint8_t *tmp = NULL, *tmpn = NULL;
        if (top < 0) {
            tmp = malloc((size_t)nu * nd), tmpn = malloc((size_t)nu);
            if (tmp && tmpn) top_edges(m, s, 30, tmp, tmpn);
            gin = tmp;
        }
        rc = gin ? draw_graph(&a, m, s, gin, &ms, &b, top < 0 ? 30 : top, mc, mr, faith) : 1;
        free(tmp), free(tmpn);
        if (rc) {
            free(vp);
            goto out;
        }
    }
    if (!jpath || strcmp(jpath, "-") != 0) {
        int64_t kept = 0;
        for (size_t e = 0; e < (size_t)nu * nd; e++) kept += in[e];
        printf("%s edges (%s), %d prompt(s) of %d tokens, %lld edges, %.3f s", ms.name, noising ? "noising" : "denoising",
               b.n, b.T, (long long)n_edges, seconds);
        if (isfinite(mc)) printf(": metric clean %.4f, corrupted %.4f", mc, mr);
        printf("\n");
        if (top >= 0) printf("circuit: the %ld edges of largest |score|, %lld after pruning\n", top, (long long)kept);
        if (get(&a, "--evaluate")) printf("faithfulness %.4f (metric %.4f)\n", faith, m_circuit);
        for (int i = 0; i < n_curve; i++)
            printf("  top %6lld (%6lld after pruning): faithfulness %.4f\n", (long long)curve[i], (long long)curve_n[i],
                   curve_F[i]);
        struct ranked *k = malloc(sizeof *k * (size_t)n_edges);
        for (int64_t i = 0; k && i < n_edges; i++) {
            const float x = s[(size_t)pairs[2 * i] * nd + pairs[2 * i + 1]];
            k[i] = (struct ranked){isnan(x) ? -1.0f : fabsf(x), i, 0, 0, 0, x};
        }
        if (k) {
            qsort(k, (size_t)n_edges, sizeof *k, by_abs);
            printf("largest |score|:\n");
            for (int64_t i = 0; i < 10 && i < n_edges; i++)
                printf("  %-24s %+10.4f\n", edge_name(m, pairs[2 * k[i].idx], pairs[2 * k[i].idx + 1], en, sizeof en),
                       k[i].score);
        }
        free(k);
        if (nv > 1) printf("Pearson r of the %lld largest |score| with exact edge patching: %.4f\n", (long long)nv, pearson);
    }
    free(vp);
out:
    free(curve);
    free(curve_F);
    free(curve_n);
    free(s);
    free(est);
    free(eff);
    free(in);
    free(node_in);
    free(pairs);
    relp_edge_eval_free(ev);
    batch_free(&b);
    relp_ctx_free(ctx);
    relp_model_free(m);
    return rc;
}
