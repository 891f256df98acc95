/* circuits.c - the circuit work's costs against the passes they are measured by (issues "sparse feature
 * circuits" and "edge circuits"), for bench/report.py --only circuits. One JSON line:
 *   forward_ms        a plain forward pass of the batch (every logit at the last position)
 *   relp_nodes_ms     RelP on every node type (resid, attn, mlp, heads per position): two forward passes and one
 *                     backward pass (relp_attribute_nodes)
 *   features_relp_ms  RelP scores of every SAE's features and error nodes (relp_attribute_circuit)
 *   features_ig_ms    IG (--steps) on every SAE hook, each interpolated on its own
 *   ig_resid_ms       per-layer IG on the residual stream (relp_attribute IG): L hooks of --steps each, the peer of
 *                     features_ig_ms per hook
 *   faith_point_ms    one faithfulness point: a clean forward with every SAE spliced in and the nodes outside a
 *                     circuit mean-ablated (relp_faithfulness_curve, one point, the top 1% of nodes)
 *   edges_ms          every edge's RelP score (relp_attribute_edges)
 *   edge_eval_ms      one edge circuit's metric (relp_edge_eval_run, the top 5% of edges)
 * The fastest of --runs after one warm-up (the other jobs of a shared machine only add time). Prompts: --batch
 * random pairs of --tokens tokens differing at positions T/2 and T-2 (as IOI's pairs differ late in the prompt).
 * Also the multiply-adds per row of the model's forward pass (its matrices and attention) and of every SAE's
 * encoder, which bound the feature and faithfulness ratios from below: a faithfulness point encodes every row
 * at every hook once, so it costs at least 1 + sae_macs / model_macs forward passes.
 *
 *   bench_circuits --model DIR|SHAPE [--saes DIR] [--tokens T] [--batch B] [--threads N] [--runs R] [--steps N] */
#define _POSIX_C_SOURCE 200809L
#include "relp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double fastest(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp);
    return v[0];
}

static void fail(const char *what, const char *msg) {
    fprintf(stderr, "bench_circuits: %s: %s\n", what, msg);
    exit(1);
}

#define TIME(out, body)                                                                                                \
    do {                                                                                                               \
        double t_[64];                                                                                                 \
        for (int r_ = -1; r_ < runs; r_++) {                                                                           \
            double t0_ = now_ms();                                                                                     \
            body;                                                                                                      \
            if (r_ >= 0) t_[r_] = now_ms() - t0_;                                                                      \
        }                                                                                                              \
        out = fastest(t_, runs);                                                                                       \
    } while (0)

int main(int argc, char **argv) {
    const char *model_arg = NULL, *saes_arg = NULL;
    int T = 16, B = 1, threads = 1, runs = 5, steps = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--model")) model_arg = argv[i + 1];
        else if (!strcmp(argv[i], "--saes")) saes_arg = argv[i + 1];
        else if (!strcmp(argv[i], "--tokens")) T = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--batch")) B = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
        else fail("argument", argv[i]);
    }
    if (!model_arg || T < 2 || B < 1 || runs < 1 || runs > 64) fail("usage", "--model DIR|SHAPE [--saes DIR] ...");
    struct relp_model *m = NULL;
    struct relp_config cfg;
    struct relp_load_params lp = relp_load_default_params();
    if (relp_config_from_shape_name(model_arg, &cfg) ? relp_model_init_random(&m, &cfg, 7, &lp)
                                                      : relp_model_init_from_dir(&m, model_arg, &lp))
        fail(model_arg, relp_last_error(m));
    const struct relp_config *c = relp_model_config(m);
    struct relp_saes *saes = NULL;
    if (saes_arg && relp_saes_init_from_dir(&saes, m, saes_arg)) fail(saes_arg, relp_saes_last_error(saes));
    /* prompts: random tokens, the corrupted ones differing at two positions */
    int32_t *clean = malloc(sizeof(int32_t) * (size_t)B * T), *corrupt = malloc(sizeof(int32_t) * (size_t)B * T);
    int32_t *ans = malloc(sizeof(int32_t) * (size_t)B), *wrong = malloc(sizeof(int32_t) * (size_t)B);
    unsigned s = 12345;
    for (int i = 0; i < B * T; i++) clean[i] = corrupt[i] = (int32_t)((s = s * 1103515245u + 12345u) >> 8) % c->vocab_size;
    for (int b = 0; b < B; b++) {
        corrupt[b * T + T / 2] = (clean[b * T + T / 2] + 1) % c->vocab_size;
        corrupt[b * T + T - 2] = (clean[b * T + T - 2] + 7) % c->vocab_size;
        ans[b] = (int32_t)(b * 31 + 5) % c->vocab_size;
        wrong[b] = (ans[b] + 1) % c->vocab_size;
    }
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = B, cp.max_tokens = T, cp.n_threads = threads;
    struct relp_ctx *ctx = NULL;
    if (relp_ctx_init(&ctx, m, &cp)) fail("context", relp_ctx_last_error(ctx));
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, ans, wrong, 1.0f};
    struct relp_attr_params p = relp_attr_default_params();
    p.rules = *relp_rules_preset("relp");
    /* multiply-adds per row: the blocks' matrices (gated MLPs have three) and attention over (T + 1) / 2 keys on
     * average (scores and values); the unembedding computes two logit columns */
    const int gated = c->arch == RELP_ARCH_LLAMA || c->arch == RELP_ARCH_QWEN2 || c->arch == RELP_ARCH_QWEN3;
    const double HS = c->head_dim, att = (double)c->n_embd * HS * (c->n_head * 2.0 + c->n_kv_head * 2.0);
    const double model_macs = c->n_layer * (att + (2.0 + gated) * c->n_embd * c->n_inner + c->n_head * HS * (T + 1.0));
    double sae_macs = 0;
    for (int32_t i = 0; saes && i < relp_saes_count(saes); i++) {
        struct relp_sae_info si;
        relp_saes_info(saes, i, &si);
        sae_macs += (double)si.d_in * si.d_sae;
    }
    double fwd, nodes, feat = 0, feat_ig = 0, ig_resid = 0, point = 0, edges, eval;
    TIME(fwd, relp_forward(ctx, clean, B, T));
    enum relp_node nt[4] = {RELP_NODE_RESID_PRE, RELP_NODE_ATTN_OUT, RELP_NODE_MLP_OUT, RELP_NODE_ATTN_Z};
    float *bufs[4];
    for (int i = 0; i < 4; i++) bufs[i] = malloc(sizeof(float) * (size_t)c->n_layer * T * (c->n_head + 1));
    p.per_position = 1;
    TIME(nodes, relp_attribute_nodes(ctx, clean, corrupt, B, T, &mt, &p, nt, 4, bufs, NULL, NULL));
    int nh = 0;
    float **sc = NULL, **er = NULL;
    if (saes) {
        nh = relp_circuit_hooks(m, saes, RELP_NODESET_FEATURES, NULL, 0);
        struct relp_circuit_hook *hk = calloc((size_t)nh, sizeof *hk);
        relp_circuit_hooks(m, saes, RELP_NODESET_FEATURES, hk, nh);
        sc = calloc((size_t)nh, sizeof *sc), er = calloc((size_t)nh, sizeof *er);
        for (int h = 0; h < nh; h++) {
            sc[h] = malloc(sizeof(float) * (size_t)T * hk[h].width);
            er[h] = malloc(sizeof(float) * (size_t)T);
        }
        struct relp_attr_params q = p;
        q.ig_steps = steps;
        q.method = RELP_METHOD_IG;
        const int runs_ig = runs;
        runs = runs_ig > 3 ? 3 : runs_ig;
        TIME(feat_ig, relp_attribute_circuit(ctx, clean, corrupt, B, T, &mt, saes, RELP_NODESET_FEATURES, &q, sc, er, NULL, NULL));
        q.node = RELP_NODE_RESID_PRE;
        float *ig = malloc(sizeof(float) * (size_t)c->n_layer * T);
        TIME(ig_resid, relp_attribute(ctx, clean, corrupt, B, T, &mt, &q, ig, NULL, NULL));
        runs = runs_ig;
        free(ig);
        q = p;
        TIME(feat, relp_attribute_circuit(ctx, clean, corrupt, B, T, &mt, saes, RELP_NODESET_FEATURES, &q, sc, er, NULL, NULL));
        struct relp_faithfulness *fa = NULL;
        if (relp_faithfulness_init(&fa, ctx, clean, corrupt, B, T, &mt, saes, RELP_NODESET_FEATURES, 0))
            fail("faithfulness", relp_ctx_last_error(ctx));
        int64_t n = relp_faithfulness_n_nodes(fa) / 100, size;
        double F;
        TIME(point, relp_faithfulness_curve(fa, (const float *const *)sc, (const float *const *)er, &n, NULL, 1, &size, &F,
                                            NULL, NULL, NULL));
        relp_faithfulness_free(fa);
        free(hk);
    }
    int32_t nu, nd;
    relp_graph_size(m, &nu, &nd);
    float *es = malloc(sizeof(float) * (size_t)nu * nd);
    TIME(edges, relp_attribute_edges(ctx, clean, corrupt, B, T, &mt, &p, es, NULL, NULL));
    /* the top 5% of edges by |score| */
    int64_t n_edges = 0;
    for (int32_t u = 0; u < nu; u++)
        for (int32_t v = 0; v < nd; v++) n_edges += relp_graph_edge(m, u, v);
    uint8_t *in = calloc((size_t)nu * nd, 1);
    for (int64_t k = 0; k < n_edges / 20; k++) {
        int64_t best = -1;
        for (int64_t q = 0; q < (int64_t)nu * nd; q++)
            if (!in[q] && relp_graph_edge(m, (int32_t)(q / nd), (int32_t)(q % nd)) &&
                (best < 0 || (es[q] < 0 ? -es[q] : es[q]) > (es[best] < 0 ? -es[best] : es[best])))
                best = q;
        if (best < 0) break;
        in[best] = 1;
    }
    struct relp_edge_eval *ev = NULL;
    if (relp_edge_eval_init(&ev, ctx, clean, corrupt, B, T, &mt)) fail("edge eval", relp_ctx_last_error(ctx));
    double mC;
    TIME(eval, relp_edge_eval_run(ev, in, &mC));
    printf("{\"model\":\"%s\",\"saes\":%d,\"tokens\":%d,\"batch\":%d,\"threads\":%d,\"steps\":%d,\"layers\":%d,"
           "\"edges\":%lld,\"forward_ms\":%.3f,\"relp_nodes_ms\":%.3f,\"features_relp_ms\":%.3f,\"features_ig_ms\":%.3f,"
           "\"ig_resid_ms\":%.3f,\"faith_point_ms\":%.3f,\"edges_ms\":%.3f,\"edge_eval_ms\":%.3f,"
           "\"model_macs\":%.0f,\"sae_macs\":%.0f}\n",
           model_arg, nh, T, B, threads, steps, c->n_layer, (long long)n_edges, fwd, nodes, feat, feat_ig, ig_resid, point,
           edges, eval, model_macs, sae_macs);
    relp_edge_eval_free(ev);
    relp_ctx_free(ctx);
    relp_saes_free(saes);
    relp_model_free(m);
    return 0;
}
