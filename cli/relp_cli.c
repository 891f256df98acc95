/* relp_cli.c - the native `relp` command.
 *
 *   relp info      --model DIR|SHAPE [--weights f32|f16|bf16] [--json]
 *   relp forward   --model DIR --prompt TEXT [--top K] [--json] [--logits] [--no-bos]
 *                  [--tokens ID,ID,..] [--weights f32|f16|bf16]
 *   relp tokenize  --model DIR --prompt TEXT [--no-bos] [--json]
 *   relp bench     --model DIR|SHAPE [--tokens T] [--batch B] [--threads N] [--runs R]
 *                  [--weights f32|f16|bf16] [--json]
 *
 * SHAPE is a random shape of relp.h's table (relp_shape_name: gpt2-small-random,
 * llama3-1b-random, ...) or random:L,C,NH (random weights made in memory).
 * Exit status: 0 success, 1 the work failed (message on stderr), 2 bad usage. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "prompts.h"
#include "runs.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* ------------------------------------------------------------ commands */

/* relp info --saes DIR: each SAE, and its mean L0 and fraction of variance unexplained on a prompt's positions
 * (BOS left out: its activations are not the text's) */
static int info_saes(const struct args *a, struct relp_model *m) {
    struct relp_saes *s = NULL;
    if (relp_saes_init_from_dir(&s, m, get(a, "--saes"))) {
        fprintf(stderr, "relp: --saes %s: %s\n", get(a, "--saes"), relp_saes_last_error(s));
        relp_saes_free(s);
        return 1;
    }
    const char *prompt = get(a, "--prompt") ? get(a, "--prompt") : "When John and Mary went to the shops, John gave the bag to";
    int32_t *ids = NULL;
    int64_t T = 0;
    int rc = 0;
    struct relp_ctx *ctx = NULL;
    if (!relp_has_tokenizer(m)) {
        fprintf(stderr, "relp: %s has no tokenizer, needed for the prompt the SAEs are measured on\n", model_path(a));
        rc = 1;
    }
    if (!rc) rc = tokenize_prompt(m, prompt, 1, "--prompt", &ids, &T);
    if (!rc) rc = make_ctx(m, 1, (int)T, 1, &ctx);
    if (!rc && relp_forward(ctx, ids, 1, (int32_t)T)) {
        fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
        rc = 1;
    }
    const int t0 = relp_token_bos(m) >= 0 && T > 1 ? 1 : 0, json = get(a, "--json") != NULL;
    static const char *arch[] = {"standard", "topk", "jumprelu"};
    if (!rc && json) printf("{\"prompt_tokens\":%lld,\"saes\":[", (long long)T);
    if (!rc && !json)
        printf("%-28s %7s %7s %-9s %4s %-5s %8s %7s  (on %lld tokens of --prompt, BOS left out)\n", "hook", "d_in", "d_sae",
               "arch", "k", "dtype", "L0", "FVU", (long long)(T - t0));
    for (int32_t i = 0; !rc && i < relp_saes_count(s); i++) {
        struct relp_sae_info in;
        relp_saes_info(s, i, &in);
        const float *x = relp_ctx_node(ctx, in.node, in.layer) + (size_t)t0 * in.d_in;
        const int n = (int)T - t0;
        float *f = malloc(sizeof(float) * (size_t)n * in.d_sae), *xh = malloc(sizeof(float) * (size_t)n * in.d_in);
        double l0 = 0, err = 0, var = 0;
        if (f && xh && !relp_sae_encode(s, i, x, n, f) && !relp_sae_decode(s, i, f, n, xh)) {
            for (size_t k = 0; k < (size_t)n * in.d_sae; k++) l0 += f[k] != 0.0f;
            for (int d = 0; d < in.d_in; d++) {
                double mu = 0;
                for (int r = 0; r < n; r++) mu += x[(size_t)r * in.d_in + d];
                mu /= n;
                for (int r = 0; r < n; r++) {
                    const double v = x[(size_t)r * in.d_in + d], e = v - xh[(size_t)r * in.d_in + d];
                    err += e * e;
                    var += (v - mu) * (v - mu);
                }
            }
        } else {
            rc = 1;
        }
        free(f), free(xh);
        if (rc) break;
        const double fvu = var > 0 ? err / var : NAN;
        if (json) {
            printf("%s{\"hook\":\"%s\",\"path\":", i ? "," : "", in.hook_name);
            json_str(stdout, in.path, (int)strlen(in.path));
            printf(",\"d_in\":%d,\"d_sae\":%d,\"architecture\":\"%s\",\"k\":%d,\"dtype\":\"%s\",\"l0\":%.4f,\"fvu\":",
                   in.d_in, in.d_sae, arch[in.arch], in.k, dtype_name(in.dtype), l0 / n);
            if (isfinite(fvu)) printf("%.6f}", fvu);
            else printf("null}");
        } else {
            printf("%-28s %7d %7d %-9s %4d %-5s %8.2f %7.4f\n", in.hook_name, in.d_in, in.d_sae, arch[in.arch], in.k,
                   dtype_name(in.dtype), l0 / n, fvu);
        }
    }
    if (!rc && json) printf("]}\n");
    free(ids);
    relp_ctx_free(ctx);
    relp_saes_free(s);
    return rc;
}

/* relp info --model SHAPE: the shape's numbers from its config alone (making a billion random weights to print
 * them would take minutes and gigabytes) */
static int info_shape(const struct args *a, const struct relp_config *c) {
    const char *wt = get(a, "--weights");
    if (wt && relp_dtype_from_name(wt) < 0) return usage("--weights must be %s, got '%s'", names_list(NAMES_DTYPES), wt);
    const enum relp_dtype dt = wt ? (enum relp_dtype)relp_dtype_from_name(wt) : RELP_DTYPE_F32;
    struct relp_load_params lp = relp_load_default_params();
    const int transposed = get(a, "--low-memory") ? 0 : lp.transposed_copy;
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_tokens = cp.max_tokens < c->n_positions ? cp.max_tokens : c->n_positions;
    const int64_t np = relp_config_n_params(c);
    const double wmb = relp_config_weight_bytes(c, dt, transposed) / 1048576.0;
    const double ctx_mb = relp_config_ctx_mem_required(c, &cp) / 1048576.0;
    if (get(a, "--json")) {
        printf("{\"arch\":\"%s\",\"n_layer\":%d,\"n_head\":%d,\"n_kv_head\":%d,\"head_dim\":%d,\"n_embd\":%d,"
               "\"n_inner\":%d,\"n_positions\":%d,\"vocab_size\":%d,\"layer_norm_epsilon\":%g,\"rotary_dim\":%d,"
               "\"rope_theta\":%g,\"tied_embeddings\":%s,\"n_params\":%lld,\"file_dtype\":\"%s\",\"weight_dtype\":\"%s\","
               "\"weight_mb\":%.1f,\"ctx_mb_b1_t128\":%.1f,\"tokenizer\":false,\"random_shape\":true}\n",
               relp_arch_name(c->arch), c->n_layer, c->n_head, c->n_kv_head ? c->n_kv_head : c->n_head,
               c->head_dim ? c->head_dim : c->n_embd / c->n_head, c->n_embd, c->n_inner, c->n_positions, c->vocab_size,
               c->layer_norm_epsilon, c->rotary_dim, c->rope_theta, c->untied_embeddings ? "false" : "true",
               (long long)np, dtype_name(dt), dtype_name(dt), wmb, ctx_mb);
        return 0;
    }
    printf("model        %s (random weights, made when a command runs; nothing made for info)\n", model_path(a));
    printf("architecture %s\nlayers       %d\nheads        %d\nwidth        %d\npositions    %d\nvocabulary   %d\n",
           relp_arch_name(c->arch), c->n_layer, c->n_head, c->n_embd, c->n_positions, c->vocab_size);
    printf("parameters   %lld (%.1f M)\n", (long long)np, np / 1e6);
    printf("weights      %.1f MiB as %s%s\n", wmb, dtype_name(dt), transposed ? ", with the backward pass's transposed copy" : "");
    printf("context      %.1f MiB for 1 prompt of up to %d tokens (activations + coefficients)\n", ctx_mb, cp.max_tokens);
    return 0;
}

static int cmd_info(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--weights", 1, NULL}, {"--json", 0, NULL}, {"--tokenizer", 1, NULL},
                      {"--low-memory", 0, NULL}, {"--saes", 1, NULL}, {"--prompt", 1, NULL}};
    struct args a = {o, 7};
    int rc = parse_args(argc, argv, "info", &a);
    struct relp_model *m = NULL;
    if (rc) return rc;
    struct relp_config shape;
    if (!get(&a, "--saes") && model_path(&a) && relp_config_from_shape_name(model_path(&a), &shape))
        return info_shape(&a, &shape); /* a random shape: from its config, without making its weights */
    if ((rc = load_model(&a, &m))) return rc;
    if (get(&a, "--saes")) {
        rc = info_saes(&a, m);
        relp_model_free(m);
        return rc;
    }
    const struct relp_config *c = relp_model_config(m);
    int64_t np = relp_model_n_params(m);
    double wmb = relp_model_weight_bytes(m) / 1048576.0;
    struct relp_ctx_params cp = relp_ctx_default_params();
    double ctx_mb = relp_ctx_mem_required(m, &cp) / 1048576.0;
    if (get(&a, "--json")) {
        printf("{\"arch\":\"%s\",\"n_layer\":%d,\"n_head\":%d,\"n_kv_head\":%d,\"head_dim\":%d,\"n_embd\":%d,"
               "\"n_inner\":%d,\"n_positions\":%d,\"vocab_size\":%d,\"layer_norm_epsilon\":%g,\"rotary_dim\":%d,"
               "\"rope_theta\":%g,\"tied_embeddings\":%s,\"n_params\":%lld,\"file_dtype\":\"%s\",\"weight_dtype\":\"%s\","
               "\"weight_mb\":%.1f,\"ctx_mb_b1_t128\":%.1f,\"tokenizer\":%s}\n",
               relp_arch_name(c->arch), c->n_layer, c->n_head, c->n_kv_head, c->head_dim, c->n_embd, c->n_inner,
               c->n_positions, c->vocab_size, c->layer_norm_epsilon, c->rotary_dim, c->rope_theta,
               c->untied_embeddings ? "false" : "true", (long long)np, dtype_name(relp_model_file_dtype(m)),
               dtype_name(relp_model_weight_dtype(m)), wmb, ctx_mb, relp_has_tokenizer(m) ? "true" : "false");
    } else {
        char rules[256];
        printf("model        %s\n", model_path(&a));
        printf("architecture %s\n", relp_arch_name(c->arch));
        printf("layers       %d\nheads        %d", c->n_layer, c->n_head);
        if (c->n_kv_head != c->n_head) printf(" (%d key/value heads: grouped-query attention)", c->n_kv_head);
        printf("\nhead size    %d\nwidth        %d\nMLP width    %d\npositions    %d\nvocabulary   %d\n", c->head_dim,
               c->n_embd, c->n_inner, c->n_positions, c->vocab_size);
        if (c->rotary_dim) printf("RoPE         %d of %d dims per head, theta %g\n", c->rotary_dim, c->head_dim, c->rope_theta);
        printf("embeddings   %s\n", c->untied_embeddings ? "untied" : "tied");
        printf("parameters   %lld (%.1f M)\n", (long long)np, np / 1e6);
        printf("dtype        %s in the file, %s in memory\n", dtype_name(relp_model_file_dtype(m)),
               dtype_name(relp_model_weight_dtype(m)));
        printf("weights      %.1f MiB\n", wmb);
        printf("context      %.1f MiB for 1 prompt of up to %d tokens (activations + coefficients)\n", ctx_mb,
               cp.max_tokens < c->n_positions ? cp.max_tokens : c->n_positions);
        printf("tokenizer    %s\n", relp_has_tokenizer(m) ? "yes" : "no");
        printf("relp rules   %s\n", relp_rules_describe(m, relp_rules_preset("relp"), rules, sizeof rules));
    }
    relp_model_free(m);
    return 0;
}

/* Tokens from --tokens "1,2,3" or --prompt TEXT. */
static int get_tokens(const struct args *a, struct relp_model *m, int32_t **ids, int64_t *n) {
    const char *prompt = get(a, "--prompt"), *toks = get(a, "--tokens");
    int add_bos = get(a, "--no-bos") == NULL;
    const struct relp_config *c = relp_model_config(m);
    if (!!prompt == !!toks) {
        fprintf(stderr, "relp: give exactly one of --prompt TEXT or --tokens ID,ID,...\n");
        return 2;
    }
    if (toks) {
        int64_t cap = 1;
        for (const char *p = toks; *p; p++) cap += *p == ',';
        *ids = malloc((size_t)cap * sizeof **ids);
        *n = 0;
        const char *p = toks;
        while (*ids && *p) {
            char *end;
            errno = 0;
            long v = strtol(p, &end, 10);
            if (errno || end == p || v < 0 || v >= c->vocab_size || (*end && *end != ',')) {
                fprintf(stderr, "relp: --tokens: '%s' is not a comma-separated list of ids in [0, %d)\n", toks,
                        c->vocab_size);
                return 2;
            }
            (*ids)[(*n)++] = (int32_t)v;
            p = *end ? end + 1 : end;
        }
    } else {
        if (!relp_has_tokenizer(m)) {
            fprintf(stderr, "relp: %s has no tokenizer (expected tokenizer.json, or vocab.json + merges.txt, in its directory; or --tokenizer DIR); use --tokens ID,ID,...\n",
                    model_path(a));
            return 1;
        }
        int64_t count = 0;
        relp_tokenize(m, prompt, -1, add_bos, NULL, 0, &count);
        *ids = malloc((size_t)(count ? count : 1) * sizeof **ids);
        if (*ids && relp_tokenize(m, prompt, -1, add_bos, *ids, count, n)) {
            fprintf(stderr, "relp: --prompt: %s\n", relp_last_error(m));
            return 1;
        }
    }
    if (!*ids) {
        fprintf(stderr, "relp: out of memory\n");
        return 1;
    }
    if (*n == 0) {
        fprintf(stderr, "relp: --prompt: the prompt is empty (0 tokens); give some text, or drop --no-bos\n");
        return 2;
    }
    if (*n > c->n_positions) {
        fprintf(stderr, "relp: --prompt: the prompt is %lld tokens, more than the model's n_positions = %d\n",
                (long long)*n, c->n_positions);
        return 2;
    }
    return 0;
}

static int cmd_tokenize(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--prompt", 1, NULL}, {"--no-bos", 0, NULL}, {"--json", 0, NULL},
                      {"--tokens", 1, NULL}, {"--tokenizer", 1, NULL}};
    struct args a = {o, 6};
    int rc = parse_args(argc, argv, "tokenize", &a);
    struct relp_model *m = NULL;
    int32_t *ids = NULL;
    int64_t n = 0;
    if (rc || (rc = load_model(&a, &m))) return rc;
    if ((rc = get_tokens(&a, m, &ids, &n))) goto out;
    printf("{\"tokens\":[");
    for (int64_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    printf("],\"pieces\":[");
    for (int64_t i = 0; i < n; i++) {
        if (i) putchar(',');
        print_piece(stdout, m, ids[i]);
    }
    printf("]}\n");
out:
    free(ids);
    relp_model_free(m);
    return rc;
}

static int cmd_forward(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--prompt", 1, NULL}, {"--top", 1, NULL},    {"--json", 0, NULL},
                      {"--logits", 0, NULL}, {"--no-bos", 0, NULL}, {"--tokens", 1, NULL}, {"--weights", 1, NULL},
                      {"--tokenizer", 1, NULL}};
    struct args a = {o, 9};
    int rc = parse_args(argc, argv, "forward", &a);
    long top;
    struct relp_model *m = NULL;
    struct relp_ctx *ctx = NULL;
    int32_t *ids = NULL;
    int *order = NULL;
    int64_t n = 0;
    if (rc || (rc = get_int(&a, "--top", 1, 1000, 10, &top)) || (rc = load_model(&a, &m))) return rc;
    if ((rc = get_tokens(&a, m, &ids, &n))) goto out;
    const struct relp_config *c = relp_model_config(m);
    if (top > c->vocab_size) top = c->vocab_size;
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_tokens = (int32_t)n;
    if (relp_ctx_init(&ctx, m, &cp) || relp_forward(ctx, ids, 1, (int32_t)n)) {
        fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
        rc = 1;
        goto out;
    }
    const float *lg = relp_ctx_logits(ctx, NULL);
    const int V = c->vocab_size;
    double mx = -INFINITY, z = 0.0;
    for (int i = 0; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
    for (int i = 0; i < V; i++) z += exp(lg[i] - mx);
    order = malloc((size_t)top * sizeof *order);
    if (!order) { rc = 1; goto out; }
    for (int k = 0; k < top; k++) { /* partial selection: top is small */
        int best = -1;
        for (int i = 0; i < V; i++) {
            int used = 0;
            for (int j = 0; j < k && !used; j++) used = order[j] == i;
            if (!used && (best < 0 || lg[i] > lg[best])) best = i;
        }
        order[k] = best;
    }
    int json = get(&a, "--json") != NULL;
    if (json) {
        printf("{\"tokens\":[");
        for (int64_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("],\"pieces\":[");
        for (int64_t i = 0; i < n; i++) {
            if (i) putchar(',');
            print_piece(stdout, m, ids[i]);
        }
        printf("],\"top\":[");
        for (int k = 0; k < top; k++) {
            printf(k ? ",{\"id\":%d,\"piece\":" : "{\"id\":%d,\"piece\":", order[k]);
            print_piece(stdout, m, order[k]);
            printf(",\"logit\":%.9g,\"prob\":%.9g}", lg[order[k]], exp(lg[order[k]] - mx) / z);
        }
        printf("]");
        if (get(&a, "--logits")) {
            printf(",\"logits\":[");
            for (int i = 0; i < V; i++) printf(i ? ",%.9g" : "%.9g", lg[i]);
            printf("]");
        }
        printf("}\n");
    } else {
        printf("tokens (%lld):", (long long)n);
        for (int64_t i = 0; i < n; i++) {
            printf(" %d", ids[i]);
        }
        printf("\n");
        for (int64_t i = 0; i < n && relp_has_tokenizer(m); i++) {
            printf(i ? " | " : "pieces: ");
            int len = 0;
            const char *p = relp_token_bytes(m, ids[i], &len);
            fwrite(p, 1, (size_t)len, stdout);
        }
        printf("\nnext token (top %ld):\n", top);
        for (int k = 0; k < top; k++) {
            printf("  %6d  logit %9.4f  prob %.4f  ", order[k], lg[order[k]], exp(lg[order[k]] - mx) / z);
            print_piece(stdout, m, order[k]);
            printf("\n");
        }
        if (get(&a, "--logits")) {
            for (int i = 0; i < V; i++) printf(i ? " %.9g" : "%.9g", lg[i]);
            printf("\n");
        }
    }
out:
    free(order);
    free(ids);
    relp_ctx_free(ctx);
    relp_model_free(m);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int cmd_bench(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--tokens", 1, NULL}, {"--batch", 1, NULL}, {"--threads", 1, NULL},
                      {"--runs", 1, NULL},  {"--json", 0, NULL},   {"--weights", 1, NULL}, {"--ap", 0, NULL},
                      {"--ig", 0, NULL},    {"--low-memory", 0, NULL}, {"--corrupt-at", 1, NULL}};
    struct args a = {o, 11};
    long T, B, threads, runs, cpos;
    int rc = parse_args(argc, argv, "bench", &a);
    if (rc || (rc = get_int(&a, "--tokens", 1, 1 << 20, 16, &T)) || (rc = get_int(&a, "--batch", 1, 4096, 1, &B)) ||
        (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads)) || (rc = get_int(&a, "--runs", 1, 100000, 10, &runs)) ||
        (rc = get_int(&a, "--corrupt-at", 0, T - 1, T / 2, &cpos)))
        return rc;
    struct relp_model *m = NULL;
    if ((rc = load_model(&a, &m))) return rc;
    const struct relp_config *c = relp_model_config(m);
    struct relp_ctx *ctx = NULL;
    int32_t *ids = NULL, *ans = NULL, *wrong = NULL;
    double *fw = NULL, *bw = NULL;
    if (T > c->n_positions) {
        fprintf(stderr, "relp: --tokens %ld exceeds the model's n_positions = %d\n", T, c->n_positions);
        rc = 2;
        goto out;
    }
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = (int32_t)B;
    cp.max_tokens = (int32_t)T;
    cp.n_threads = (int32_t)threads;
    ids = malloc((size_t)(B * T) * sizeof *ids);
    ans = malloc((size_t)B * sizeof *ans);
    wrong = malloc((size_t)B * sizeof *wrong);
    fw = malloc((size_t)runs * sizeof *fw);
    bw = malloc((size_t)runs * sizeof *bw);
    if (!ids || !ans || !wrong || !fw || !bw || relp_ctx_init(&ctx, m, &cp)) {
        fprintf(stderr, "relp: %s\n", ctx ? relp_ctx_last_error(ctx) : "out of memory");
        rc = 1;
        goto out;
    }
    uint32_t s = 12345;
    for (long i = 0; i < B * T; i++) ids[i] = (int32_t)((s = s * 1664525u + 1013904223u) >> 8) % c->vocab_size;
    for (long b = 0; b < B; b++) { ans[b] = (int32_t)(b % c->vocab_size); wrong[b] = (int32_t)((b + 1) % c->vocab_size); }
    struct relp_metric metric = {RELP_METRIC_LOGIT_DIFF, ans, wrong, 1.0f};
    const struct relp_rules *rules = relp_rules_preset("grad");
    for (int w = 0; w < 2; w++) { /* warm-up: page in weights, settle caches */
        relp_forward(ctx, ids, (int32_t)B, (int32_t)T);
        relp_backward(ctx, &metric, rules, NULL);
    }
    for (long r = 0; r < runs; r++) {
        double t0 = now_ms();
        if (relp_forward(ctx, ids, (int32_t)B, (int32_t)T)) break;
        double t1 = now_ms();
        relp_backward(ctx, &metric, rules, NULL);
        double t2 = now_ms();
        fw[r] = t1 - t0;
        bw[r] = t2 - t1;
    }
    double f_med = median(fw, (int)runs), b_med = median(bw, (int)runs);
    /* methods: RelP (two forwards + one backward), and on request the AP sweep and IG over resid_pre */
    int32_t *corrupt = malloc((size_t)(B * T) * sizeof *corrupt);
    float *scores = malloc(sizeof(float) * (size_t)(c->n_layer * (T > c->n_head ? T : c->n_head)));
    double relp_med = 0, atp_med = 0, ap_ms = 0, ig_ms = 0, ig_input_ms = 0;
    if (corrupt && scores) {
        memcpy(corrupt, ids, (size_t)(B * T) * sizeof *ids);
        /* the corrupted prompt: one token changed (--corrupt-at, default the middle); the prompts share the rows
         * before it, which AP's sweep does not recompute */
        for (long b = 0; b < B; b++) corrupt[b * T + cpos] = (corrupt[b * T + cpos] + 1) % c->vocab_size;
        struct relp_attr_params ap = relp_attr_default_params();
        ap.rules = *relp_rules_preset("relp");
        for (long r = 0; r < runs; r++) {
            double t0 = now_ms();
            relp_attribute(ctx, ids, corrupt, (int32_t)B, (int32_t)T, &metric, &ap, scores, NULL, NULL);
            fw[r] = now_ms() - t0;
        }
        relp_med = median(fw, (int)runs);
        ap.rules = *relp_rules_preset("grad"); /* AtP: the same passes with the exact rules */
        for (long r = 0; r < runs; r++) {
            double t0 = now_ms();
            relp_attribute(ctx, ids, corrupt, (int32_t)B, (int32_t)T, &metric, &ap, scores, NULL, NULL);
            fw[r] = now_ms() - t0;
        }
        atp_med = median(fw, (int)runs);
        if (get(&a, "--ap")) {
            ap.method = RELP_METHOD_AP;
            double t0 = now_ms();
            relp_attribute(ctx, ids, corrupt, (int32_t)B, (int32_t)T, &metric, &ap, scores, NULL, NULL);
            ap_ms = now_ms() - t0;
        }
        if (get(&a, "--ig")) {
            ap.method = RELP_METHOD_IG;
            double t0 = now_ms();
            relp_attribute(ctx, ids, corrupt, (int32_t)B, (int32_t)T, &metric, &ap, scores, NULL, NULL);
            ig_ms = now_ms() - t0;
            ap.method = RELP_METHOD_IG_INPUT;
            t0 = now_ms();
            relp_attribute(ctx, ids, corrupt, (int32_t)B, (int32_t)T, &metric, &ap, scores, NULL, NULL);
            ig_input_ms = now_ms() - t0;
        }
    }
    free(corrupt);
    free(scores);
    if (get(&a, "--json")) {
        printf("{\"model\":\"%s\",\"tokens\":%ld,\"batch\":%ld,\"threads\":%ld,\"weights\":\"%s\",\"forward_ms\":%.3f,"
               "\"backward_ms\":%.3f,\"forward_backward_ms\":%.3f,\"relp_ms\":%.3f,\"relp_over_forward\":%.3f,"
               "\"atp_ms\":%.3f,",
               model_path(&a), T, B, threads, dtype_name(relp_model_weight_dtype(m)), f_med, b_med, f_med + b_med,
               relp_med, relp_med / f_med, atp_med);
        if (ap_ms > 0)
            printf("\"ap_resid_ms\":%.1f,\"ap_resid_over_naive\":%.4f,\"ap_corrupt_at\":%ld,", ap_ms,
                   ap_ms / (f_med * (double)c->n_layer * (double)T), cpos);
        if (ig_ms > 0) printf("\"ig_resid_ms\":%.1f,\"ig_over_relp\":%.3f,", ig_ms, ig_ms / relp_med);
        if (ig_input_ms > 0)
            printf("\"ig_input_resid_ms\":%.1f,\"ig_input_over_relp\":%.3f,", ig_input_ms, ig_input_ms / relp_med);
        printf("\"runs\":%ld,\"peak_rss_mb\":%.1f}\n", runs, peak_rss_mb());
    } else {
        printf("model %s, B=%ld T=%ld, %ld thread(s), %s weights, %ld runs (medians)\n", model_path(&a), B, T,
               threads, dtype_name(relp_model_weight_dtype(m)), runs);
        printf("forward           %9.3f ms\n", f_med);
        printf("backward          %9.3f ms\n", b_med);
        printf("forward+backward  %9.3f ms\n", f_med + b_med);
        printf("RelP (2F + 1B)    %9.3f ms  = %.2f x forward\n", relp_med, relp_med / f_med);
        printf("AtP               %9.3f ms  = %.2f x forward\n", atp_med, atp_med / f_med);
        if (ap_ms > 0)
            printf("AP resid sweep    %9.1f ms  = %.3f x the naive L*T forwards (%d x %ld)\n", ap_ms,
                   ap_ms / (f_med * (double)c->n_layer * (double)T), c->n_layer, T);
        if (ig_ms > 0) printf("IG resid (10)     %9.1f ms  = %.2f x RelP\n", ig_ms, ig_ms / relp_med);
        if (ig_input_ms > 0)
            printf("IG-input (10)     %9.1f ms  = %.2f x RelP\n", ig_input_ms, ig_input_ms / relp_med);
        printf("peak RSS          %9.1f MiB\n", peak_rss_mb());
    }
out:
    free(ids); free(ans); free(wrong); free(fw); free(bw);
    relp_ctx_free(ctx);
    relp_model_free(m);
    return rc;
}

/* Each command's usage, one entry per command: `relp help` prints them all, `relp CMD --help` its own. %M: the
 * methods, %P: the rules presets, %N: the node types, %K: the SVA kinds, %S: the random shapes, %R: the metrics
 * (from the core's tables). */
static const struct {
    const char *cmd, *text;
} helps[] = {
    {"info", "  relp info     --model DIR|SHAPE [--weights f32|f16|bf16] [--low-memory] [--json] [--saes DIR [--prompt TEXT]]\n"},
    {"forward", "  relp forward  --model DIR (--prompt TEXT | --tokens ID,..) [--top K] [--json] [--logits] [--no-bos]\n"},
    {"tokenize", "  relp tokenize --model DIR --prompt TEXT [--no-bos]\n"},
    {"bench", "  relp bench    --model DIR|SHAPE [--tokens T] [--batch B] [--threads N] [--runs R] [--weights f32|f16|bf16] "
              "[--low-memory] [--ap [--corrupt-at P]] [--ig] [--json]\n"},
    {"attribute",
     "  relp attribute --model DIR (--clean TEXT --corrupt TEXT --answer TOK --wrong TOK | --prompts FILE.jsonl)\n"
     "                 --method %M (default relp)\n"
     "                 --node %N (default resid)\n"
     "                 [--metric %R] (default logit_diff; logprob and logit read only --answer)\n"
     "                 [--steps N] (ig, ig-input) [--noising] [--per-position] (--node head) [--no-bos] [--threads N]\n"
     "                 [--json FILE|-] [--png FILE [--scale 1..4]] [--svg FILE] [FIGURE OPTIONS]\n"
     "                 [--max-batch N] [--out RUN.jsonl [--resume]]   (with --prompts: prompts of the most common\n"
     "                 token length are kept, as a map's positions are those of one length)\n"},
    {"explain", "  relp explain  --model DIR --prompt TEXT --answer TOK [--wrong TOK] [--rules %P]\n"
                "                [--metric %R] [--no-bos] [--json FILE|-] [--png FILE [--scale 1..4]] [--svg FILE] [FIGURE OPTIONS]\n"},
    {"ioi", "  relp ioi      --model DIR [--dataset demo|wang] [--n N] [--seed S] [--steps N] [--threads N] [--json FILE]\n"
            "                [--methods M1,M2,..] (the estimators run beside AP; default all)\n"
            "                [--max-batch N] [--out RUN.jsonl [--resume]] [--prompts-out FILE.jsonl [--prompts-only]]\n"},
    {"paper", "  relp paper    --model DIR [--reference small|medium|large] [--json FILE|-] [--threads N] [--prompts-out FILE.jsonl]\n"
              "                (the official RelP demo: Pearson r of AtP, relp and relp-ln with AP beside the published numbers)\n"},
    {"sva", "  relp sva      --model DIR --kind %K --out FILE.jsonl|- [--n N] [--seed S] [--no-bos]\n"
            "                (subject-verb agreement pairs as Marks et al.'s sparse feature circuits data: JSON Lines of\n"
            "                clean_prefix, patch_prefix, clean_answer, patch_answer, case; filtered with DIR's tokenizer to\n"
            "                one-token answers and the shortest prefix length; --n 100 and --seed 1 by default)\n"},
    {"features", "  relp features --model DIR (--saes DIR | --neurons | --components) (--clean .. --corrupt .. --answer ..\n"
                 "                --wrong .. | --prompts FILE.jsonl [--limit N]) --method atp|relp|relp-ln|relp-cp|attnlrp|ig [--steps N]\n"
                 "                [--noising] [--top K] [--validate K] [--json FILE|-]\n"
                 "                (scores of SAE features and their error nodes, neurons, or heads and MLPs per position;\n"
                 "                --validate K patches the K largest exactly)\n"},
    {"faithfulness", "  relp faithfulness --model DIR (--saes DIR | --neurons | --components) --prompts FILE.jsonl [--limit N]\n"
                     "                [--methods relp,atp,ig] [--steps N] [--nodes N1,N2,..] [--start-layer L] [--json FILE|-]\n"
                     "                [--svg FILE] [--png FILE [--scale 1..4]] [FIGURE OPTIONS]\n"
                     "                (Marks et al.'s faithfulness and completeness of each method's circuits, by mean ablation;\n"
                     "                at thresholds logspace(-4, 0, 15) unless --nodes)\n"},
    {"edges", "  relp edges    --model DIR (--clean .. --corrupt .. --answer .. --wrong .. | --prompts FILE.jsonl [--limit N])\n"
              "                --method atp|relp|relp-ln|relp-cp|attnlrp|ig-input|ap [--steps N] [--noising] [--top N]\n"
              "                [--evaluate] [--curve N1,N2,..] [--validate K] [--json FILE|-] [--svg FILE] [--png FILE [--scale 1..4]]\n"
              "                [FIGURE OPTIONS] [--out RUN.jsonl [--resume]] (--method ap: one line per edge as it is patched)\n"
              "                (EAP-IG's graph: every edge's score, its JSON; --top N the circuit, pruned; --evaluate and\n"
              "                --curve its faithfulness; --method ap patches every edge exactly)\n"},
};

static const char help_notes[] =
    "FIGURE OPTIONS (with --svg or --png): --font mono|sans (the SVG's font; the PNG keeps its monospace bitmap font),\n"
    "--no-caption (the caption left out of the picture and written beside it, FILE.svg -> FILE.caption.txt),\n"
    "--color-max X (the maps' colours run from -X to X, so that figures compare by colour; --scale is the PNG's size).\n"
    "--threads defaults to every core. --out writes one JSON line per batch as it finishes; --resume continues\n"
    "a run from that file. relp_mpi (built with Open MPI) splits the batches across `mpirun -np K` ranks.\n\n"
    "DIR is a Hugging Face checkpoint directory (config.json, model.safetensors, tokenizer.json or vocab.json +\n"
    "merges.txt) of model_type gpt2, llama (Llama 2/3, SmolLM2), qwen2, qwen3 or gpt_neox (Pythia).\n"
    "SHAPE builds random weights in memory: %S, or random:L,C,NH (GPT-2).\n"
    "--tokenizer DIR attaches the tokenizer files from DIR to a model that has none.\n"
    "--low-memory drops the transposed copy of the block weights kept for a fast backward pass.\n"
    "--prompts FILE.jsonl reads one JSON object a line: relp's keys (clean, corrupt, answer, wrong) or Marks et\n"
    "al.'s (clean_prefix, patch_prefix, clean_answer, patch_answer), as relp sva writes them.\n"
    "Warnings (the model does not predict the answer, a small or negative clean - corrupted gap, an answer\n"
    "without its leading space, noising) go to stderr, to --json's \"warnings\" and into every figure's caption.\n";

/* text with its %-names filled in from the core's tables */
static void put_help(FILE *f, const char *text) {
    char methods[512], presets[512], kinds[128], metrics[128] = "";
    method_names(methods, sizeof methods, "|");
    preset_names(presets, sizeof presets, "|");
    sva_kind_names(kinds, sizeof kinds, "|");
    size_t o = 0;
    for (int32_t i = 0; relp_metric_name(i) && o < sizeof metrics; i++)
        o += (size_t)snprintf(metrics + o, sizeof metrics - o, "%s%s", i ? "|" : "", relp_metric_name(i)->name);
    char nodes[256];
    snprintf(nodes, sizeof nodes, "%s", names_list(NAMES_NODES));
    for (char *p = nodes; (p = strstr(p, ", ")) != NULL;) memmove(p + 1, p + 2, strlen(p + 2) + 1), *p = '|';
    char *orr = strstr(nodes, " or ");
    if (orr) memmove(orr + 1, orr + 4, strlen(orr + 4) + 1), *orr = '|';
    for (const char *p = text; *p; p++) {
        if (*p != '%' || !p[1]) {
            fputc(*p, f);
            continue;
        }
        const char c = *++p;
        fputs(c == 'M' ? methods : c == 'P' ? presets : c == 'N' ? nodes : c == 'K' ? kinds : c == 'R' ? metrics
              : c == 'S' ? names_list(NAMES_SHAPES) : "%", f);
    }
}

static void help(FILE *f) {
    fprintf(f, "relp - transformer language models in C: forward, gradients and relevance patching\n\n");
    for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++) put_help(f, helps[i].text);
    put_help(f, help_notes);
    fprintf(f, "relp CMD --help prints one command's usage; relp --version the version.\n");
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        help(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        if (argc > 2) /* relp help CMD */
            for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
                if (!strcmp(argv[2], helps[i].cmd)) {
                    put_help(stdout, helps[i].text);
                    return 0;
                }
        help(stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
#ifdef RELP_VERSION
        printf("relp %s\n", RELP_VERSION);
#else
        printf("relp (version not set at build time)\n");
#endif
        return 0;
    }
    /* relp CMD --help (or -h) anywhere among its flags: that command's usage */
    for (int k = 2; k < argc; k++)
        if (!strcmp(argv[k], "--help") || !strcmp(argv[k], "-h")) {
            for (size_t i = 0; i < sizeof helps / sizeof helps[0]; i++)
                if (!strcmp(cmd, helps[i].cmd)) {
                    put_help(stdout, helps[i].text);
                    return 0;
                }
            break;
        }
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "forward")) return cmd_forward(argc - 2, argv + 2);
    if (!strcmp(cmd, "tokenize")) return cmd_tokenize(argc - 2, argv + 2);
    if (!strcmp(cmd, "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(cmd, "attribute")) return cmd_attribute(argc - 2, argv + 2);
    if (!strcmp(cmd, "explain")) return cmd_explain(argc - 2, argv + 2);
    if (!strcmp(cmd, "ioi")) return cmd_ioi(argc - 2, argv + 2);
    if (!strcmp(cmd, "paper")) return cmd_paper(argc - 2, argv + 2);
    if (!strcmp(cmd, "features")) return cmd_features(argc - 2, argv + 2);
    if (!strcmp(cmd, "faithfulness")) return cmd_faithfulness(argc - 2, argv + 2);
    if (!strcmp(cmd, "edges")) return cmd_edges(argc - 2, argv + 2);
    if (!strcmp(cmd, "sva")) return cmd_sva(argc - 2, argv + 2);
    return usage("unknown command '%s'%s", cmd, "");
}

int main(int argc, char **argv) {
    dist_init(&argc, &argv); /* MPI in the relp_mpi build; nothing otherwise */
    int rc = dispatch(argc, argv);
    dist_finalize();
    return rc;
}
