/* cmd_attribute.c - the methods on the command line:
 *
 *   relp attribute --model DIR (--clean TEXT --corrupt TEXT --answer TOK --wrong TOK | --prompts FILE.jsonl)
 *                  --method ap|atp|relp|relp-ln|relp-cp|attnlrp|ig|ig-input --node resid|attn|mlp|head
 *                  [--steps N] [--noising] [--per-position] [--no-bos] [--threads N]
 *                  [--json FILE|-] [--png FILE] [--svg FILE] [--max-batch N] [--out RUN.jsonl [--resume]]
 *   relp explain   --model DIR --prompt TEXT --answer TOK [--wrong TOK] [--rules grad|relp|relp-ln|relp-cp|attnlrp]
 *                  [--no-bos] [--json FILE|-] [--png FILE] [--svg FILE]
 *   relp ioi       --model DIR [--dataset demo|wang] [--n N] [--seed S] [--steps N] [--threads N] [--json FILE]
 *                  [--max-batch N] [--out RUN.jsonl [--resume]] [--prompts-out FILE.jsonl [--prompts-only]]
 *
 * Answer tokens must be single tokens (give the leading space: " Mary").
 * Clean and corrupted prompts must have the same number of tokens; all
 * prompts of one --prompts file share one length (one aggregate map), and
 * run in batches of --max-batch. Batches are records of a run log
 * (runs.h): --out, --resume and MPI work on them. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "figures.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ prompts */

#include "prompts.h"
#include "runs.h"


/* ------------------------------------------------------------ methods */

/* Method names come from cli_common.c (method_list): ap, atp, the core's RelP presets, ig, ig-input. */

static int node_of(const char *name, enum relp_node *node) {
    const struct relp_node_name *n = relp_node_find(name);
    if (n) *node = n->node;
    return n ? 0 : -1;
}

/* Runs one method; 0 or exit status. */
static int run(struct relp_ctx *ctx, const struct batch *b, const struct method_spec *ms, enum relp_node node,
               int steps, int noising, int per_position, enum relp_metric_kind metric, float *scores, double *mc,
               double *mr, double *seconds, const char *label) {
    struct relp_attr_params p = relp_attr_default_params();
    p.method = ms->method;
    p.node = node;
    p.rules = *relp_rules_preset(ms->rules);
    p.ig_steps = steps;
    p.noising = noising;
    p.per_position = per_position;
    struct progress pr = {.label = label};
    if (ms->method != RELP_METHOD_GRAD) {
        p.progress = on_progress;
        p.progress_user = &pr;
    }
    struct relp_metric mt = {metric, b->answer, b->wrong, 1.0f};
    double t0 = now_ms();
    enum relp_status st = relp_attribute(ctx, b->clean, b->corrupt, b->n, b->T, &mt, &p, scores, mc, mr);
    *seconds = (now_ms() - t0) / 1000.0;
    if (st) {
        fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
        return 1;
    }
    return 0;
}

static FILE *open_out(const char *path) {
    if (!strcmp(path, "-")) return stdout;
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "relp: --json %s: cannot write the file: %s\n", path, strerror(errno));
    return f;
}

/* the warnings of a finished run from the core (relp_run_warnings): the gap of the whole run's metric, noising,
 * answers without their leading space, and, with pred, the prediction on the first clean prompt; said on stderr */
static void run_warnings(struct relp_ctx *ctx, enum relp_metric_kind metric, double mc, double mr, int noising,
                         const struct batch *b, const struct relp_prediction *pred, struct warn_list *w) {
    int32_t *last = b ? malloc(sizeof(int32_t) * (size_t)(b->n ? b->n : 1)) : NULL;
    for (int i = 0; last && i < b->n; i++) last[i] = b->clean[(size_t)i * b->T + b->T - 1];
    const struct relp_run_facts f = {metric, mc, mr, noising, b && last ? b->n : 0, last, b ? b->answer : NULL,
                                     b && metric == RELP_METRIC_LOGIT_DIFF ? b->wrong : NULL, pred};
    relp_run_warnings(ctx, &f);
    free(last);
    warn_collect(ctx, w);
    warn_print(w, NULL);
}

static void close_out(FILE *f) {
    if (f && f != stdout) fclose(f);
}

/* labels of the first prompt's tokens, as UTF-8 strings (freed by free_labels) */
static char **token_labels(const struct relp_model *m, const int32_t *ids, int T) {
    char **l = calloc((size_t)T, sizeof *l);
    for (int t = 0; l && t < T; t++) {
        int n = 0;
        const char *p = relp_token_bytes(m, ids[t], &n);
        l[t] = malloc((size_t)n + 16);
        if (!l[t]) continue;
        memcpy(l[t], p ? p : "?", p ? (size_t)n : 1);
        l[t][p ? n : 1] = '\0';
    }
    return l;
}

static char **index_labels(const char *prefix, int n) {
    char **l = calloc((size_t)n, sizeof *l);
    for (int i = 0; l && i < n; i++) {
        l[i] = malloc(16);
        if (l[i]) snprintf(l[i], 16, "%s%d", prefix, i);
    }
    return l;
}

static void free_labels(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

static int pictures(const struct args *a, const struct figure *h, int scale) {
    return figure_write(h, get(a, "--png"), get(a, "--svg"), scale);
}

static void json_tokens(FILE *f, const struct relp_model *m, const int32_t *ids, int T) {
    fprintf(f, "\"token_ids\":[");
    for (int t = 0; t < T; t++) fprintf(f, t ? ",%d" : "%d", ids[t]);
    fprintf(f, "],\"tokens\":[");
    for (int t = 0; t < T; t++) {
        if (t) fputc(',', f);
        print_piece(f, m, ids[t]);
    }
    fputc(']', f);
}

int cmd_attribute(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL},   {"--clean", 1, NULL},   {"--corrupt", 1, NULL}, {"--answer", 1, NULL},
                      {"--wrong", 1, NULL},   {"--prompts", 1, NULL}, {"--method", 1, NULL},  {"--node", 1, NULL},
                      {"--steps", 1, NULL},   {"--noising", 0, NULL}, {"--per-position", 0, NULL},
                      {"--no-bos", 0, NULL},  {"--threads", 1, NULL}, {"--json", 1, NULL},    {"--png", 1, NULL},
                      {"--svg", 1, NULL},     {"--weights", 1, NULL}, {"--tokenizer", 1, NULL},
                      {"--out", 1, NULL},     {"--resume", 0, NULL},  {"--max-batch", 1, NULL},
                      {"--metric", 1, NULL},  {"--scale", 1, NULL},   {"--font", 1, NULL}, {"--no-caption", 0, NULL}, {"--color-max", 1, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    long steps, threads, max_batch;
    int scale = 1;
    enum relp_metric_kind metric;
    const char *metric_name;
    int rc = parse_args(argc, argv, "attribute", &a);
    if (rc || (rc = get_int(&a, "--steps", 1, 100000, 10, &steps)) ||
        (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads)) ||
        (rc = get_int(&a, "--max-batch", 1, 1L << 20, 64, &max_batch)) || (rc = get_scale(&a, &scale)) ||
        (rc = get_metric(&a, &metric, &metric_name)))
        return rc;
    const char *mname = get(&a, "--method") ? get(&a, "--method") : "relp";
    struct method_spec msv;
    const struct method_spec *ms = &msv;
    enum relp_node node;
    if (find_method(mname, &msv)) {
        char names[512];
        method_names(names, sizeof names, NULL);
        return usage("attribute: --method must be %s, got '%s'", names, mname);
    }
    const char *nname = get(&a, "--node") ? get(&a, "--node") : "resid";
    if (node_of(nname, &node)) return usage("attribute: --node must be %s, got '%s'", names_list(NAMES_NODES), nname);
    if (node == RELP_NODE_MLP_POST && (get(&a, "--png") || get(&a, "--svg")))
        return usage("attribute: --node neuron gives a score per layer, position and neuron, which has no map figure; "
                     "use --json%s%s", "", "");
    /* flags that do nothing here are said, not ignored in silence (not refused: a loop over methods or node
     * types with one set of flags still runs) */
    if (get(&a, "--steps") && ms->method != RELP_METHOD_IG && ms->method != RELP_METHOD_IG_INPUT)
        fprintf(stderr, "relp: attribute: --steps sets the steps of ig and ig-input; --method %s takes none and "
                        "ignores it\n", ms->name);
    if (get(&a, "--per-position") && node != RELP_NODE_ATTN_Z)
        fprintf(stderr, "relp: attribute: --per-position splits the heads' scores by position (--node head); --node %s "
                        "is per position already and ignores it\n", nname);
    int single = get(&a, "--clean") || get(&a, "--corrupt") || get(&a, "--answer") || get(&a, "--wrong");
    const int wants_wrong = metric == RELP_METRIC_LOGIT_DIFF;
    if (single == !!get(&a, "--prompts") ||
        (single && !(get(&a, "--clean") && get(&a, "--corrupt") && get(&a, "--answer") && (get(&a, "--wrong") || !wants_wrong))))
        return usage(wants_wrong ? "attribute: give --clean, --corrupt, --answer and --wrong, or --prompts FILE.jsonl%s%s"
                                 : "attribute: give --clean, --corrupt and --answer, or --prompts FILE.jsonl%s%s", "", "");
    if (single && !wants_wrong && get(&a, "--wrong"))
        return usage("attribute: --metric %s reads only the answer's token: leave --wrong out (it is for --metric "
                     "logit_diff)%s", metric_name, "");
    if ((rc = check_out_paths(&a))) return rc;
    struct relp_model *m = NULL;
    struct relp_ctx *ctx = NULL;
    struct batch b = {0};
    float *scores = NULL;
    char **cols = NULL, **rows = NULL;
    int n_cols = 0, n_rows = 0;
    if ((rc = load_model(&a, &m))) return rc;
    if (!relp_has_tokenizer(m)) {
        fprintf(stderr, "relp: %s has no tokenizer (expected tokenizer.json, or vocab.json + merges.txt, in its directory; or --tokenizer DIR)\n", model_path(&a));
        rc = 1;
        goto out;
    }
    int bos = !get(&a, "--no-bos");
    /* --prompts of mixed lengths: a score belongs to a position, so the map averages prompts of one length: the
     * most common one is kept, and stderr says how many of other lengths were left out */
    rc = single ? add_prompt(m, &b, get(&a, "--clean"), get(&a, "--corrupt"), get(&a, "--answer"),
                             wants_wrong ? get(&a, "--wrong") : NULL, bos, "--clean/--corrupt")
                : load_prompts_one_length(m, get(&a, "--prompts"), bos, &b);
    if (rc) goto out;
    const struct relp_config *c = relp_model_config(m);
    int per_pos = get(&a, "--per-position") != NULL;
    struct relp_attr_params pp = relp_attr_default_params();
    pp.node = node;
    pp.per_position = per_pos;
    int64_t count = relp_attr_count(m, &pp, b.T);
    scores = malloc(sizeof(float) * (size_t)count);
    double mc = 0, mr = 0, secs = 0;
    char label[96];
    /* batches of --max-batch prompts, one record each (--out / --resume / MPI: runs.h); splitting a batch changes
     * nothing: every method is a per-prompt computation averaged over the batch */
    const int mb = (int)(b.n < max_batch ? b.n : max_batch), n_batches = (b.n + mb - 1) / mb;
    char header[1024];
    {
        size_t psize = 0;
        char *ptext = single ? NULL : read_file(get(&a, "--prompts"), &psize);
        char mp[600];
        json_str_buf(mp, sizeof mp, model_path(&a));
        snprintf(header, sizeof header,
                 "{\"command\":\"attribute\",\"model\":%s,\"weights\":\"%s\",\"prompts_fnv64\":\"%016llx\","
                 "\"prompts\":%d,\"tokens\":%d,\"method\":\"%s\",\"node\":\"%s\",\"steps\":%ld,\"noising\":%d,"
                 "\"per_position\":%d,\"max_batch\":%d,\"bos\":%d,\"metric\":\"%s\"}",
                 mp, dtype_name(relp_model_weight_dtype(m)), ptext ? hash_bytes(ptext, psize) : 0ull, b.n, b.T, ms->name,
                 nname, steps, get(&a, "--noising") != NULL, per_pos, mb, bos, metric_name);
        free(ptext);
    }
    if (!get(&a, "--method") || !get(&a, "--node")) /* once the inputs are good: what runs, when not chosen */
        fprintf(stderr, "relp: attribute: %s%s%s%s%s (the default%s; --method and --node choose)\n",
                get(&a, "--method") ? "" : "--method ", get(&a, "--method") ? "" : ms->name,
                !get(&a, "--method") && !get(&a, "--node") ? ", " : "", get(&a, "--node") ? "" : "--node ",
                get(&a, "--node") ? "" : nname, !get(&a, "--method") && !get(&a, "--node") ? "s" : "");
    struct run_log log;
    if (!scores || (rc = make_ctx(m, mb, b.T, threads, &ctx)) ||
        (rc = run_log_open(&log, get(&a, "--out"), get(&a, "--resume") != NULL, header, n_batches))) {
        if (!rc) rc = 1;
        goto out;
    }
    for (int g = 0; g < n_batches && !rc; g++) {
        if (!run_log_mine(&log, g)) continue;
        struct batch sb = {b.n - g * mb < mb ? b.n - g * mb : mb, b.T, b.clean + (size_t)g * mb * b.T,
                           b.corrupt + (size_t)g * mb * b.T, b.answer + (size_t)g * mb, b.wrong + (size_t)g * mb};
        struct record rec;
        memset(&rec, 0, sizeof rec);
        rec.batch = g;
        rec.n_prompts = sb.n;
        if (n_batches > 1) snprintf(label, sizeof label, "[batch %d/%d] %s %s", g + 1, n_batches, ms->name, nname);
        else snprintf(label, sizeof label, "%s %s", ms->name, nname);
        rc = run(ctx, &sb, ms, node, (int)steps, get(&a, "--noising") != NULL, per_pos, metric, scores, &rec.mc, &rec.mr,
                 &secs, label);
        if (!rc && record_add(&rec, "scores", scores, (int)count, secs)) rc = 1;
        if (!rc) rc = run_log_put(&log, &rec);
        record_free(&rec);
    }
    if (!rc) rc = run_log_gather(&log);
    if (!rc && log.rank == 0) { /* the aggregate over all prompts: sum_g n_g dm_g s_g / sum_g n_g dm_g */
        double *num = calloc((size_t)count, sizeof(double)), den = 0;
        secs = 0;
        for (int g = 0; g < n_batches && num; g++) {
            const struct record *r = &log.recs[g];
            int len = 0;
            double sg = 0;
            const float *v = record_get(r, "scores", &len, &sg);
            if (!v || len != count) {
                fprintf(stderr, "relp: batch %d of the run has %d scores, expected %lld\n", g, len, (long long)count);
                rc = 1;
                break;
            }
            double w = r->n_prompts * (r->mc - r->mr);
            for (int64_t i = 0; i < count; i++) num[i] += w * v[i];
            den += w;
            mc += r->mc * r->n_prompts;
            mr += r->mr * r->n_prompts;
            secs += sg;
        }
        if (!num) rc = 1;
        if (!rc) {
            mc /= b.n;
            mr /= b.n;
            for (int64_t i = 0; i < count; i++)
                scores[i] = n_batches == 1 ? log.recs[0].values[0][i] : (float)(den != 0 ? num[i] / den : num[i]);
            if (n_batches == 1) {
                mc = log.recs[0].mc;
                mr = log.recs[0].mr;
            }
        }
        free(num);
    }
    int rank = log.rank;
    run_log_close(&log);
    if (rc || rank != 0) goto out;
    int heads = node == RELP_NODE_ATTN_Z;
    /* the run's warnings (the core's), with the model's prediction on the first clean prompt */
    struct relp_prediction pred = {0};
    struct warn_list warns;
    const int noising = get(&a, "--noising") != NULL;
    if (relp_predict(ctx, b.clean, b.T, b.answer[0], &pred)) {
        fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
        rc = 1;
        goto out;
    }
    run_warnings(ctx, metric, mc, mr, noising, &b, &pred, &warns);
    /* JSON */
    const char *jpath = get(&a, "--json");
    if (jpath) {
        FILE *f = open_out(jpath);
        if (!f) { rc = 1; goto out; }
        fprintf(f, "{\"method\":\"%s\",\"node\":\"%s\",\"rules\":\"%s\",\"direction\":\"%s\",\"metric\":\"%s\","
                   "\"prompts\":%d,",
                ms->name, nname, ms->method == RELP_METHOD_AP ? "none" : ms->rules,
                get(&a, "--noising") ? "noising" : "denoising", metric_name, b.n);
        json_tokens(f, m, b.clean, b.T);
        fprintf(f, ",\"layers\":%d,\"positions\":%d,", c->n_layer, b.T);
        if (heads) fprintf(f, "\"heads\":%d,", c->n_head);
        if (node == RELP_NODE_MLP_POST) fprintf(f, "\"neurons\":%d,", c->n_inner);
        if (ms->method == RELP_METHOD_IG || ms->method == RELP_METHOD_IG_INPUT) fprintf(f, "\"steps\":%ld,", steps);
        fprintf(f, "\"scores\":[");
        for (int l = 0; l < c->n_layer; l++) {
            fprintf(f, l ? ",[" : "[");
            int inner = heads ? c->n_head : b.T;
            for (int i = 0; i < inner; i++) {
                if (heads && per_pos) {
                    fprintf(f, i ? ",[" : "[");
                    for (int t = 0; t < b.T; t++)
                        fprintf(f, t ? ",%.7g" : "%.7g", scores[((size_t)l * c->n_head + i) * b.T + t]);
                    fputc(']', f);
                } else if (node == RELP_NODE_MLP_POST) { /* (T, I) per layer */
                    fprintf(f, i ? ",[" : "[");
                    for (int j = 0; j < c->n_inner; j++)
                        fprintf(f, j ? ",%.7g" : "%.7g", scores[((size_t)l * b.T + i) * c->n_inner + j]);
                    fputc(']', f);
                } else {
                    fprintf(f, i ? ",%.7g" : "%.7g", scores[(size_t)l * inner + i]);
                }
            }
            fputc(']', f);
        }
        fprintf(f, "],\"metric_clean\":%.9g,\"metric_corrupt\":%.9g,", mc, mr);
        warn_json(f, &warns);
        fprintf(f, ",\"seconds\":%.4f}\n", secs);
        close_out(f);
    }
    /* pictures: layer x position, layer x head, or (layer, head) x position */
    n_rows = heads && per_pos ? c->n_layer * c->n_head : c->n_layer;
    rows = heads && per_pos ? calloc((size_t)n_rows, sizeof *rows) : index_labels("L", n_rows);
    for (int i = 0; heads && per_pos && rows && i < n_rows; i++) {
        rows[i] = malloc(32);
        if (rows[i]) snprintf(rows[i], 32, "L%d.H%d", i / c->n_head, i % c->n_head);
    }
    n_cols = heads && !per_pos ? c->n_head : b.T;
    cols = heads && !per_pos ? index_labels("H", n_cols) : token_labels(m, b.clean, b.T);
    if (get(&a, "--png") || get(&a, "--svg")) { /* the figure (core/figure*.c, as the page draws it), with its caption */
        char **ct = token_labels(m, b.clean, b.T), **xt = token_labels(m, b.corrupt, b.T);
        char **aw = token_labels(m, b.answer, 1), **ww = token_labels(m, b.wrong, 1);
        struct figure h = {heads ? (per_pos ? FIGURE_HEAD_POSITIONS : FIGURE_HEADS) : FIGURE_POSITIONS, scores,
                           c->n_layer, c->n_head, c->n_kv_head, nname, NULL, {0}};
        struct figure_caption *cap = &h.cap;
        const char *slash = strrchr(model_path(&a), '/');
        cap->model = slash && slash[1] ? slash + 1 : model_path(&a);
        cap->method = ms->name;
        cap->steps = ms->method == RELP_METHOD_IG || ms->method == RELP_METHOD_IG_INPUT ? (int)steps : 0;
        cap->clean = (const char *const *)ct, cap->corrupt = (const char *const *)xt, cap->T = b.T;
        cap->answer = aw && aw[0] ? aw[0] : "?";
        cap->wrong = metric != RELP_METRIC_LOGIT_DIFF ? NULL : ww && ww[0] ? ww[0] : "?";
        cap->m_clean = mc, cap->m_corrupt = mr, cap->n_prompts = b.n;
        cap->p_answer = pred.p_answer, cap->rank = pred.rank;
        cap->metric = metric_name, cap->noising = noising, cap->warnings = &warns;
        if (ct && xt) rc = pictures(&a, &h, scale);
        else rc = 1;
        free_labels(ct, b.T), free_labels(xt, b.T), free_labels(aw, 1), free_labels(ww, 1);
        if (rc) goto out;
    }
    if (!jpath || strcmp(jpath, "-") != 0) { /* a readable summary unless JSON goes to stdout */
        printf("%s on %s, %d prompt(s) of %d tokens: %s%s clean %.4f, corrupted %.4f, %.3f s\n", ms->name, nname, b.n,
               b.T, relp_metric_find(metric_name)->title, noising ? " (noising)" : "", mc, mr, secs);
        if (node == RELP_NODE_MLP_POST) { /* the 10 neurons of largest |score| */
            const int64_t I = c->n_inner;
            int64_t top[10];
            int nt = 0;
            for (int64_t i = 0; i < count; i++) {
                int k = nt < 10 ? nt++ : 10;
                if (k == 10 && fabsf(scores[i]) <= fabsf(scores[top[9]])) continue;
                if (k == 10) k = 9;
                while (k > 0 && fabsf(scores[top[k - 1]]) < fabsf(scores[i])) {
                    top[k] = top[k - 1];
                    k--;
                }
                top[k] = i;
            }
            printf("largest |score|: layer position neuron score\n");
            for (int k = 0; k < nt; k++)
                printf("  L%-3lld %4lld %6lld %+9.4f\n", (long long)(top[k] / ((int64_t)b.T * I)),
                       (long long)(top[k] / I % b.T), (long long)(top[k] % I), scores[top[k]]);
            n_rows = 0;
        }
        for (int r = 0; r < n_rows; r++) {
            printf("%-8s", rows && rows[r] ? rows[r] : "");
            for (int j = 0; j < n_cols; j++) printf(" %+7.3f", scores[(size_t)r * n_cols + j]);
            printf("\n");
        }
    }
out:
    free_labels(rows, n_rows);
    free_labels(cols, n_cols);
    free(scores);
    batch_free(&b);
    relp_ctx_free(ctx);
    relp_model_free(m);
    return rc;
}

int cmd_explain(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--prompt", 1, NULL}, {"--answer", 1, NULL}, {"--wrong", 1, NULL},
                      {"--rules", 1, NULL}, {"--no-bos", 0, NULL}, {"--json", 1, NULL},   {"--png", 1, NULL},
                      {"--svg", 1, NULL},   {"--weights", 1, NULL}, {"--tokenizer", 1, NULL}, {"--metric", 1, NULL},
                      {"--scale", 1, NULL}, {"--font", 1, NULL}, {"--no-caption", 0, NULL}, {"--color-max", 1, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    int scale = 1;
    enum relp_metric_kind kind;
    const char *metric_name = NULL;
    int rc = parse_args(argc, argv, "explain", &a);
    if (rc || (rc = get_scale(&a, &scale)) || (get(&a, "--metric") && (rc = get_metric(&a, &kind, &metric_name))))
        return rc;
    const char *rname = get(&a, "--rules") ? get(&a, "--rules") : "relp";
    const struct relp_rules *rules = relp_rules_preset(rname);
    if (!rules) {
        char names[512];
        preset_names(names, sizeof names, NULL);
        return usage("explain: --rules must be %s, got '%s'", names, rname);
    }
    if (!get(&a, "--prompt") || !get(&a, "--answer")) return usage("explain: --prompt and --answer are required%s%s", "", "");
    /* the metric: --metric, else the logit difference with --wrong and the answer's logit without */
    if (!metric_name) kind = get(&a, "--wrong") ? RELP_METRIC_LOGIT_DIFF : RELP_METRIC_LOGIT;
    if (metric_name && (kind == RELP_METRIC_LOGIT_DIFF) != (get(&a, "--wrong") != NULL))
        return usage(kind == RELP_METRIC_LOGIT_DIFF ? "explain: --metric %s needs --wrong TOK%s"
                                                    : "explain: --metric %s reads only the answer's token: leave --wrong "
                                                      "out%s", metric_name, "");
    metric_name = relp_metric_name((int32_t)kind)->name;
    if ((rc = check_out_paths(&a))) return rc;
    struct relp_model *m = NULL;
    struct relp_ctx *ctx = NULL;
    int32_t *ids = NULL;
    float *rel = NULL;
    char **cols = NULL;
    int64_t T = 0;
    int32_t answer, wrong = -1;
    if ((rc = load_model(&a, &m))) return rc;
    if (!relp_has_tokenizer(m)) {
        fprintf(stderr, "relp: %s has no tokenizer (expected tokenizer.json, or vocab.json + merges.txt, in its directory; or --tokenizer DIR)\n", model_path(&a));
        rc = 1;
        goto out;
    }
    if ((rc = tokenize_prompt(m, get(&a, "--prompt"), !get(&a, "--no-bos"), "--prompt", &ids, &T)) ||
        (rc = single_token(m, get(&a, "--answer"), "--answer", &answer)) ||
        (get(&a, "--wrong") && (rc = single_token(m, get(&a, "--wrong"), "--wrong", &wrong))))
        goto out;
    if (wrong == answer) {
        fprintf(stderr, "relp: --answer and --wrong are the same token ('%s'): their logit difference is 0; give two "
                        "different tokens, or leave --wrong out to explain the answer's logit\n", get(&a, "--answer"));
        rc = 2;
        goto out;
    }
    if ((rc = make_ctx(m, 1, (int)T, 1, &ctx))) goto out;
    rel = malloc(sizeof(float) * (size_t)T);
    struct relp_metric mt = {kind, &answer, &wrong, 1.0f};
    double total, value;
    struct relp_prediction pred = {0};
    struct warn_list warns;
    if (!rel || relp_token_relevance(ctx, ids, 1, (int32_t)T, &mt, rules, rel, &total, &value) ||
        relp_predict(ctx, ids, (int32_t)T, answer, &pred)) {
        fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
        rc = 1;
        goto out;
    }
    const struct batch one = {1, (int)T, ids, NULL, &answer, &wrong};
    run_warnings(ctx, kind, NAN, NAN, 0, &one, &pred, &warns);
    const char *jpath = get(&a, "--json");
    if (jpath) {
        FILE *f = open_out(jpath);
        if (!f) { rc = 1; goto out; }
        fprintf(f, "{\"rules\":\"%s\",\"metric\":\"%s\",", rname, metric_name);
        json_tokens(f, m, ids, (int)T);
        fprintf(f, ",\"relevance\":[");
        for (int64_t t = 0; t < T; t++) fprintf(f, t ? ",%.7g" : "%.7g", rel[t]);
        fprintf(f, "],\"sum\":%.9g,\"metric_value\":%.9g,\"conservation_gap\":%.9g,", total, value, value - total);
        warn_json(f, &warns);
        fprintf(f, "}\n");
        close_out(f);
    }
    cols = token_labels(m, ids, (int)T);
    if (get(&a, "--png") || get(&a, "--svg")) { /* the token figure (core/figure*.c), with its caption */
        char **aw = token_labels(m, &answer, 1), **ww = wrong >= 0 ? token_labels(m, &wrong, 1) : NULL;
        struct figure h = {FIGURE_TOKENS, rel, relp_model_config(m)->n_layer, relp_model_config(m)->n_head, 0, NULL, rname, {0}};
        struct figure_caption *cap = &h.cap;
        const char *slash = strrchr(model_path(&a), '/');
        cap->model = slash && slash[1] ? slash + 1 : model_path(&a);
        cap->method = rname;
        cap->clean = (const char *const *)cols, cap->T = (int)T;
        cap->answer = aw && aw[0] ? aw[0] : "?", cap->wrong = ww ? ww[0] : NULL;
        cap->relevance = 1, cap->rel_total = total, cap->rel_value = value, cap->n_prompts = 1;
        cap->p_answer = pred.p_answer, cap->rank = pred.rank;
        cap->metric = metric_name, cap->warnings = &warns;
        rc = cols ? pictures(&a, &h, scale) : 1;
        free_labels(aw, 1), free_labels(ww, ww ? 1 : 0);
        if (rc) goto out;
    }
    if (!jpath || strcmp(jpath, "-") != 0) {
        printf("token relevance (%s rules) for %s: sum %.4f, metric %.4f (gap %.4f: relevance absorbed by biases and "
               "rules that do not conserve)\n", rname, relp_metric_name((int32_t)kind)->title, total, value,
               value - total);
        for (int64_t t = 0; t < T; t++) {
            printf("  %+9.4f  ", rel[t]);
            print_piece(stdout, m, ids[t]);
            printf("\n");
        }
    }
out:
    free_labels(cols, (int)T);
    free(rel);
    free(ids);
    relp_ctx_free(ctx);
    relp_model_free(m);
    return rc;
}

/* ------------------------------------------------------------------ ioi */

#define IOI_MAX 4096

int cmd_ioi(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--dataset", 1, NULL}, {"--n", 1, NULL},       {"--seed", 1, NULL},
                      {"--steps", 1, NULL}, {"--threads", 1, NULL}, {"--json", 1, NULL},    {"--no-bos", 0, NULL},
                      {"--weights", 1, NULL}, {"--tokenizer", 1, NULL}, {"--max-batch", 1, NULL},
                      {"--out", 1, NULL},     {"--resume", 0, NULL}, {"--prompts-out", 1, NULL},
                      {"--prompts-only", 0, NULL}, {"--methods", 1, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    long n, seed, steps, threads, max_batch;
    int rc = parse_args(argc, argv, "ioi", &a);
    if (!rc) rc = check_out_path("--json", get(&a, "--json"), 1);
    if (!rc && get(&a, "--prompts-out")) rc = check_out_path("--prompts-out", get(&a, "--prompts-out"), 1);
    if (rc || (rc = get_int(&a, "--n", 1, IOI_MAX, 64, &n)) || (rc = get_int(&a, "--seed", 0, 1L << 30, 1, &seed)) ||
        (rc = get_int(&a, "--steps", 1, 100000, 10, &steps)) ||
        (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads)) ||
        (rc = get_int(&a, "--max-batch", 1, IOI_MAX, 64, &max_batch)))
        return rc;
    const char *ds = get(&a, "--dataset") ? get(&a, "--dataset") : "demo";
    if (strcmp(ds, "demo") && strcmp(ds, "wang")) return usage("ioi: --dataset must be demo or wang, got '%s'%s", ds, "");
    struct relp_model *m = NULL;
    struct relp_ioi_prompt *prompts = calloc(IOI_MAX, sizeof *prompts);
    if (!prompts) return 1;
    if (get(&a, "--prompts-only") && !get(&a, "--prompts-out")) {
        free(prompts);
        return usage("ioi: --prompts-only needs --prompts-out FILE.jsonl%s%s", "", "");
    }
    int np = !strcmp(ds, "demo") ? relp_ioi_demo(prompts, IOI_MAX) : relp_ioi_wang(prompts, (int32_t)n, (uint64_t)seed, 0);
    if (get(&a, "--prompts-out") && ((rc = write_ioi_prompts(get(&a, "--prompts-out"), ds, prompts, np)) ||
                                     get(&a, "--prompts-only"))) { /* --prompts-only: the prompts, no model, no run */
        free(prompts);
        return rc;
    }
    if ((rc = load_model(&a, &m))) {
        free(prompts);
        return rc;
    }
    /* the estimators: every method but AP (atp, the RelP presets, ig, ig-input), or those --methods names, in that
     * order; then AP (the ground truth, always run) as est[N_EST] */
    enum { N_NODE = 4 };
    struct method_spec methods[METHODS_MAX];
    const char *est[METHODS_MAX], *est_label[METHODS_MAX];
    int n_methods = method_list(methods, METHODS_MAX), N_EST = 0;
    const char *chosen = get(&a, "--methods");
    if (chosen) { /* each name known, none twice */
        char buf[512];
        snprintf(buf, sizeof buf, "%s", chosen);
        for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            struct method_spec one;
            if (find_method(t, &one)) {
                char names[512];
                method_names(names, sizeof names, ",");
                relp_model_free(m);
                free(prompts);
                return usage("ioi: --methods takes names from %s, comma-separated; got '%s'", names, t);
            }
        }
    }
    char methods_text[512] = "";
    for (int i = 0; i < n_methods; i++)
        if (methods[i].method != RELP_METHOD_AP) {
            if (chosen) { /* a whole item of the list */
                const size_t ln = strlen(methods[i].name);
                const char *p = chosen;
                int found = 0;
                while (!found && (p = strstr(p, methods[i].name)) != NULL) {
                    found = (p == chosen || p[-1] == ',') && (p[ln] == ',' || p[ln] == '\0');
                    p += ln;
                }
                if (!found) continue;
            }
            snprintf(methods_text + strlen(methods_text), sizeof methods_text - strlen(methods_text), "%s%s",
                     N_EST ? "," : "", methods[i].name);
            est[N_EST] = methods[i].name;
            est_label[N_EST++] = methods[i].title;
        }
    est[N_EST] = "ap";
    static const char *node_names[N_NODE] = {"resid", "attn", "mlp", "head"};
    /* group prompts of equal token length into batches */
    const struct relp_config *c = relp_model_config(m);
    struct batch groups[64];
    int n_groups = 0;
    int bos = !get(&a, "--no-bos"), skipped = 0;
    for (int i = 0; i < np && !rc; i++) {
        int64_t len = 0;
        relp_tokenize(m, prompts[i].clean, -1, bos, NULL, 0, &len);
        int g = 0;
        while (g < n_groups && (groups[g].T != len || groups[g].n >= max_batch)) g++;
        if (g == n_groups) {
            if (n_groups == 64) { /* more batches than we keep */
                skipped++;
                continue;
            }
            memset(&groups[n_groups++], 0, sizeof groups[0]);
        }
        char where[64];
        snprintf(where, sizeof where, "IOI prompt %d", i);
        rc = add_prompt(m, &groups[g], prompts[i].clean, prompts[i].corrupt, prompts[i].answer, prompts[i].wrong, bos,
                        where);
    }
    free(prompts);
    if (skipped) fprintf(stderr, "relp ioi: %d prompts left out (more than 64 batches of equal length)\n", skipped);
    /* one record per batch: every estimator's and AP's scores per node type (--out / --resume / MPI: runs.h) */
    char header[2048]; /* fits the longest model path and method list below */
    {
        char mp[600];
        json_str_buf(mp, sizeof mp, model_path(&a));
        snprintf(header, sizeof header,
                 "{\"command\":\"ioi\",\"model\":%s,\"weights\":\"%s\",\"dataset\":\"%s\",\"n\":%ld,\"seed\":%ld,"
                 "\"steps\":%ld,\"max_batch\":%ld,\"bos\":%d,\"batches\":%d,\"methods\":\"%s\"}",
                 mp, dtype_name(relp_model_weight_dtype(m)), ds, n, seed, steps, max_batch, bos, n_groups, methods_text);
    }
    struct run_log log;
    if (!rc) rc = run_log_open(&log, get(&a, "--out"), get(&a, "--resume") != NULL, header, n_groups);
    else memset(&log, 0, sizeof log);
    if (!rc && log.rank == 0) fprintf(stderr, "relp ioi: %s, %d prompts in %d batch(es)\n", ds, np, n_groups);
    for (int g = 0; g < n_groups && !rc; g++) {
        if (!run_log_mine(&log, g)) continue;
        struct batch *b = &groups[g];
        struct relp_ctx *ctx = NULL;
        if ((rc = make_ctx(m, b->n, b->T, threads, &ctx))) break;
        struct record rec;
        memset(&rec, 0, sizeof rec);
        rec.batch = g;
        rec.n_prompts = b->n;
        float *scores = malloc(sizeof(float) * (size_t)c->n_layer * (size_t)(b->T > c->n_head ? b->T : c->n_head));
        if (!scores) rc = 1;
        for (int k = 0; k < N_NODE && !rc; k++) {
            enum relp_node node = RELP_NODE_RESID_PRE;
            node_of(node_names[k], &node);
            int cnt = c->n_layer * (node == RELP_NODE_ATTN_Z ? c->n_head : b->T);
            for (int e = 0; e <= N_EST && !rc; e++) {
                struct method_spec msv;
                find_method(est[e], &msv);
                const struct method_spec *ms = &msv;
                char label[96], name[32];
                snprintf(label, sizeof label, "[batch %d/%d, T=%d, B=%d] %s %s", g + 1, n_groups, b->T, b->n, ms->name,
                         node_names[k]);
                double mc, mr, secs;
                rc = run(ctx, b, ms, node, (int)steps, 0, 0, RELP_METRIC_LOGIT_DIFF, scores, &mc, &mr, &secs, label);
                snprintf(name, sizeof name, "%s.%s", ms->name, node_names[k]);
                if (!rc && record_add(&rec, name, scores, cnt, secs)) rc = 1;
                if (e == N_EST && k == 0) {
                    rec.mc = mc;
                    rec.mr = mr;
                }
            }
        }
        free(scores);
        relp_ctx_free(ctx);
        if (!rc) rc = run_log_put(&log, &rec);
        record_free(&rec);
    }
    if (!rc) rc = run_log_gather(&log);
    /* cells of every estimator and AP, concatenated over batches in batch order, per node type */
    float *cells[METHODS_MAX][N_NODE];
    size_t n_cells[N_NODE] = {0};
    double seconds[METHODS_MAX] = {0}, mc_sum = 0, mr_sum = 0;
    int counted = 0;
    size_t cap = 0;
    for (int g = 0; g < n_groups; g++) cap += (size_t)c->n_layer * (groups[g].T > c->n_head ? groups[g].T : c->n_head);
    for (int e = 0; e <= N_EST; e++)
        for (int k = 0; k < N_NODE; k++) cells[e][k] = malloc(sizeof(float) * (cap ? cap : 1));
    for (int g = 0; g < n_groups && !rc && log.rank == 0; g++) {
        const struct record *rec = &log.recs[g];
        for (int k = 0; k < N_NODE && !rc; k++) {
            int len = 0;
            for (int e = 0; e <= N_EST && !rc; e++) {
                char name[32];
                double secs = 0;
                snprintf(name, sizeof name, "%s.%s", e == N_EST ? "ap" : est[e], node_names[k]);
                const float *v = record_get(rec, name, &len, &secs);
                if (!v) {
                    fprintf(stderr, "relp: batch %d has no \"%s\" scores\n", g, name);
                    rc = 1;
                    break;
                }
                memcpy(cells[e][k] + n_cells[k], v, sizeof(float) * (size_t)len);
                seconds[e] += secs;
            }
            n_cells[k] += (size_t)len;
        }
        mc_sum += rec->mc * rec->n_prompts;
        mr_sum += rec->mr * rec->n_prompts;
        counted += rec->n_prompts;
    }
    struct warn_list warns = {0};
    if (!rc && log.rank == 0 && counted) { /* the gap of the whole run's metric (the core's warnings) */
        struct relp_ctx *wctx = NULL;
        if ((rc = make_ctx(m, 1, 1, 1, &wctx)) == 0) run_warnings(wctx, RELP_METRIC_LOGIT_DIFF, mc_sum / counted,
                                                                  mr_sum / counted, 0, NULL, NULL, &warns);
        relp_ctx_free(wctx);
    }
    if (!rc && log.rank == 0) { /* the other ranks only compute */
        double r[METHODS_MAX][N_NODE];
        for (int e = 0; e < N_EST; e++)
            for (int k = 0; k < N_NODE; k++) r[e][k] = relp_pearson(cells[e][k], cells[N_EST][k], (int64_t)n_cells[k]);
        printf("relp ioi on %s: dataset %s, %d prompts in %d batch(es); metric logit(IO) - logit(S): clean %.4f, "
               "corrupted %.4f\n", model_path(&a), ds, counted, n_groups, mc_sum / counted, mr_sum / counted);
        printf("Pearson r with activation patching (denoising), over (layer x position) cells; heads over (layer x head)\n");
        printf("%-13s %8s %8s %8s %8s %10s\n", "method", "resid", "attn", "mlp", "heads", "seconds");
        for (int e = 0; e < N_EST; e++) {
            char lab[32];
            snprintf(lab, sizeof lab, !strncmp(est[e], "ig", 2) ? "%s(%ld)" : "%s", est_label[e], steps);
            printf("%-13s %8.3f %8.3f %8.3f %8.3f %10.3f\n", lab, r[e][0], r[e][1], r[e][2], r[e][3], seconds[e]);
        }
        printf("%-13s %8s %8s %8s %8s %10.3f\n", "AP", "-", "-", "-", "-", seconds[N_EST]);
        const char *jpath = get(&a, "--json");
        if (jpath) {
            FILE *f = open_out(jpath);
            if (!f) rc = 1;
            else {
                fprintf(f, "{\"model\":");
                json_str(f, model_path(&a), (int)strlen(model_path(&a)));
                fprintf(f, ",\"dataset\":\"%s\",\"prompts\":%d,\"batches\":%d,\"ig_steps\":%ld,\"metric_clean\":%.9g,"
                           "\"metric_corrupt\":%.9g,\"pearson\":{", ds, counted, n_groups, steps, mc_sum / counted,
                        mr_sum / counted);
                for (int e = 0; e < N_EST; e++) {
                    fprintf(f, e ? ",\"%s\":{" : "\"%s\":{", est[e]);
                    for (int k = 0; k < N_NODE; k++) {
                        if (isnan(r[e][k])) fprintf(f, k ? ",\"%s\":null" : "\"%s\":null", node_names[k]);
                        else fprintf(f, k ? ",\"%s\":%.6f" : "\"%s\":%.6f", node_names[k], r[e][k]);
                    }
                    fputc('}', f);
                }
                fprintf(f, "},\"seconds\":{");
                for (int e = 0; e <= N_EST; e++) fprintf(f, e ? ",\"%s\":%.4f" : "\"%s\":%.4f", e == N_EST ? "ap" : est[e], seconds[e]);
                fprintf(f, "},\"ap_scores\":{");
                for (int k = 0; k < N_NODE; k++) {
                    fprintf(f, k ? ",\"%s\":[" : "\"%s\":[", node_names[k]);
                    for (size_t i = 0; i < n_cells[k]; i++) fprintf(f, i ? ",%.6g" : "%.6g", cells[N_EST][k][i]);
                    fputc(']', f);
                }
                /* every batch's maps with their shapes: (layers, tokens) for resid, attn and mlp, (layers, heads) for
                 * heads, AP's first, then each estimator's */
                fprintf(f, "},\"layers\":%d,\"heads\":%d,\"batch_maps\":[", c->n_layer, c->n_head);
                for (int g = 0; g < n_groups; g++) {
                    const struct record *rec = &log.recs[g];
                    fprintf(f, "%s{\"tokens\":%d,\"prompts\":%d,\"maps\":{", g ? "," : "", groups[g].T, rec->n_prompts);
                    for (int e = N_EST, first = 1; e >= 0; e = e == N_EST ? 0 : e + 1 < N_EST ? e + 1 : -1, first = 0) {
                        fprintf(f, "%s\"%s\":{", first ? "" : ",", est[e]);
                        for (int k = 0; k < N_NODE; k++) {
                            char name[32];
                            int len = 0;
                            double secs = 0;
                            snprintf(name, sizeof name, "%s.%s", est[e], node_names[k]);
                            const float *v = record_get(rec, name, &len, &secs);
                            const int cols = k == 3 ? c->n_head : groups[g].T;
                            fprintf(f, "%s\"%s\":[", k ? "," : "", node_names[k]);
                            for (int l = 0; v && l < c->n_layer; l++) {
                                fprintf(f, l ? ",[" : "[");
                                for (int i = 0; i < cols && l * cols + i < len; i++)
                                    fprintf(f, i ? ",%.6g" : "%.6g", v[l * cols + i]);
                                fputc(']', f);
                            }
                            fputc(']', f);
                        }
                        fputc('}', f);
                        if (N_EST == 0) break;
                    }
                    fprintf(f, "}}");
                }
                fprintf(f, "],");
                warn_json(f, &warns);
                fprintf(f, "}\n");
                close_out(f);
            }
        }
    }
    for (int e = 0; e <= N_EST; e++)
        for (int k = 0; k < N_NODE; k++) free(cells[e][k]);
    run_log_close(&log);
    for (int g = 0; g < n_groups; g++) batch_free(&groups[g]);
    relp_model_free(m);
    return rc;
}
