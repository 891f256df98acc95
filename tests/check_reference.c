/* check_reference.c - compares the C engine with a PyTorch reference dump
 * (tests/reference.py, tests/reference_families.py): logits, the metric,
 * every cached node, attention patterns, norm scales, the gradient at every
 * node ("grad_<node>") and every node's coefficient under each rules preset
 * the dump holds ("grad.<preset>.<node>"). A node the dump lacks (resid_mid
 * of a parallel block) must be absent from the C model too.
 *
 *   check_reference CKPT_DIR REF.safetensors [--metric logit_diff|logprob]
 *                   [--weights f32|f16|bf16] [--threads N] [--scalar] [--rtol X]
 *
 * Pass: max|c - ref| <= rtol * max|ref| for every tensor (rtol 1e-4).
 * Exit 0 on pass, 1 on any mismatch, 2 on bad usage. */
#include "relp.h"
#include "internal.h"
#include "ops.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct st_tensor *refs;
static int32_t n_refs;
static int failures;
static double rtol = 1e-4;

static const struct st_tensor *ref_opt(const char *name) {
    for (int32_t i = 0; i < n_refs; i++)
        if (!strcmp(refs[i].name, name)) return &refs[i];
    return NULL;
}

static const struct st_tensor *ref(const char *name) {
    const struct st_tensor *t = ref_opt(name);
    if (t) return t;
    fprintf(stderr, "reference has no tensor %s\n", name);
    exit(2);
}

static float rv(const struct st_tensor *t, int64_t i) {
    float f;
    memcpy(&f, t->data + 4 * i, 4);
    return f;
}

/* compares n values of got against ref tensor name starting at element off */
static void check(const char *label, const float *got, const struct st_tensor *t, int64_t off, int64_t n) {
    double maxref = 0.0, maxdiff = 0.0;
    int64_t worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = rv(t, off + i);
        if (fabs(r) > maxref) maxref = fabs(r);
        double d = fabs((double)got[i] - r);
        if (!(d <= maxdiff)) { maxdiff = d; worst = i; }
    }
    int ok = maxdiff <= rtol * maxref || maxdiff <= 1e-12;
    printf("%-4s %-26s max|diff| %.3e  max|ref| %.3e  ratio %.2e\n", ok ? "ok" : "FAIL", label, maxdiff, maxref,
           maxref > 0 ? maxdiff / maxref : maxdiff);
    if (!ok) {
        printf("     worst at %lld: got %.9g want %.9g\n", (long long)worst, got[worst], rv(t, off + worst));
        failures++;
    }
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: check_reference CKPT_DIR REF.safetensors [options]\n");
        return 2;
    }
    const char *metric_kind = "logit_diff";
    struct relp_load_params lp = relp_load_default_params();
    struct relp_ctx_params cp = relp_ctx_default_params();
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--metric") && i + 1 < argc) metric_kind = argv[++i];
        else if (!strcmp(argv[i], "--weights") && i + 1 < argc) {
            const char *w = argv[++i];
            lp.weight_dtype = !strcmp(w, "f16") ? RELP_DTYPE_F16 : !strcmp(w, "bf16") ? RELP_DTYPE_BF16 : RELP_DTYPE_F32;
        }
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) cp.n_threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--rtol") && i + 1 < argc) rtol = atof(argv[++i]);
        else if (!strcmp(argv[i], "--scalar")) printf("kernels: %s\n", relp__ops_select(1));
        else if (!strcmp(argv[i], "--no-transposed")) lp.transposed_copy = 0; /* backward through the transposing kernel */
        else {
            fprintf(stderr, "unknown option %s\n", argv[i]);
            return 2;
        }
    }
    struct relp_mapped_file rf;
    char err[512];
    if (relp__map_file(&rf, argv[2], 1, err, sizeof err) ||
        st_parse(rf.data, rf.size, argv[2], NULL, &refs, &n_refs, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct relp_model *m = NULL;
    if (relp_model_init_from_dir(&m, argv[1], &lp)) {
        fprintf(stderr, "load failed: %s\n", relp_last_error(m));
        return 1;
    }
    const struct relp_config *c = relp_model_config(m);
    const struct st_tensor *ids_t = ref("ids");
    int B = (int)ids_t->shape[0], T = (int)ids_t->shape[1];
    int32_t *ids = malloc(sizeof(int32_t) * B * T), *ans = malloc(sizeof(int32_t) * B), *wrong = malloc(sizeof(int32_t) * B);
    for (int i = 0; i < B * T; i++) ids[i] = (int32_t)rv(ids_t, i);
    for (int b = 0; b < B; b++) {
        ans[b] = (int32_t)rv(ref("answer"), b);
        wrong[b] = (int32_t)rv(ref("wrong"), b);
    }
    cp.max_batch = B;
    cp.max_tokens = T;
    struct relp_ctx *ctx = NULL;
    if (relp_ctx_init(&ctx, m, &cp) || relp_forward(ctx, ids, B, T)) {
        fprintf(stderr, "forward failed: %s\n", relp_ctx_last_error(ctx));
        return 1;
    }
    struct relp_metric mt = {!strcmp(metric_kind, "logprob") ? RELP_METRIC_LOGPROB : RELP_METRIC_LOGIT_DIFF, ans, wrong,
                             1.0f};
    double value;
    if (relp_backward(ctx, &mt, relp_rules_preset("grad"), &value)) {
        fprintf(stderr, "backward failed: %s\n", relp_ctx_last_error(ctx));
        return 1;
    }
    const int L = c->n_layer, NH = c->n_head;
    const int64_t BT = (int64_t)B * T;
    printf("model %s L=%d C=%d NH=%d NKV=%d HS=%d V=%d, B=%d T=%d, metric %s\n", relp_arch_name(c->arch), L, c->n_embd,
           NH, c->n_kv_head, c->head_dim, c->vocab_size, B, T, metric_kind);
    check("logits", relp_ctx_logits(ctx, NULL), ref("logits"), 0, (int64_t)B * c->vocab_size);
    float mv = (float)value;
    check("metric", &mv, ref("metric"), 0, 1);
    static const struct { const char *name; enum relp_node node; int extra; } nodes[] = {
        {"resid_pre", RELP_NODE_RESID_PRE, 1}, {"z", RELP_NODE_ATTN_Z, 0}, {"attn_out", RELP_NODE_ATTN_OUT, 0},
        {"resid_mid", RELP_NODE_RESID_MID, 0}, {"mlp_out", RELP_NODE_MLP_OUT, 0}};
    char label[96], gname[96];
    for (int k = 0; k < 5; k++) {
        const int64_t n = BT * relp_node_width(m, nodes[k].node);
        if (!ref_opt(nodes[k].name)) { /* a node this architecture has not */
            int absent = relp_ctx_node(ctx, nodes[k].node, 0) == NULL && relp_node_width(m, nodes[k].node) == 0;
            printf("%-4s %-22s absent in the reference and in C\n", absent ? "ok" : "FAIL", nodes[k].name);
            failures += !absent;
            continue;
        }
        snprintf(gname, sizeof gname, "grad_%s", nodes[k].name);
        for (int l = 0; l < L + nodes[k].extra; l++) {
            snprintf(label, sizeof label, "%s[%d]", nodes[k].name, l);
            check(label, relp_ctx_node(ctx, nodes[k].node, l), ref(nodes[k].name), l * n, n);
            if (!ref_opt(gname)) continue;
            snprintf(label, sizeof label, "d %s[%d]", nodes[k].name, l);
            check(label, relp_ctx_node_grad(ctx, nodes[k].node, l), ref(gname), l * n, n);
        }
    }
    const int64_t att_n = (int64_t)B * NH * T * T;
    for (int l = 0; l < L; l++) {
        snprintf(label, sizeof label, "attention[%d]", l);
        check(label, relp_ctx_attn_pattern(ctx, l), ref("att"), l * att_n, att_n);
        snprintf(label, sizeof label, "norm1 1/sigma[%d]", l);
        check(label, relp_ctx_ln_rstd(ctx, 1, l), ref("ln1_rstd"), l * BT, BT);
        snprintf(label, sizeof label, "norm2 1/sigma[%d]", l);
        check(label, relp_ctx_ln_rstd(ctx, 2, l), ref("ln2_rstd"), l * BT, BT);
    }
    /* every preset's coefficients the dump holds, from one backward pass each on the same forward */
    int32_t n_presets = 0;
    const struct relp_preset *presets = relp_rules_presets(&n_presets);
    for (int32_t pi = 0; pi < n_presets; pi++) {
        const char *preset = presets[pi].name;
        snprintf(gname, sizeof gname, "grad.%s.resid_pre", preset);
        if (!ref_opt(gname)) continue;
        if (relp_backward(ctx, &mt, relp_rules_preset(preset), NULL)) {
            fprintf(stderr, "backward (%s) failed: %s\n", preset, relp_ctx_last_error(ctx));
            return 1;
        }
        for (int k = 0; k < 5; k++) {
            snprintf(gname, sizeof gname, "grad.%s.%s", preset, nodes[k].name);
            if (!ref_opt(gname)) continue;
            const int64_t n = BT * relp_node_width(m, nodes[k].node);
            for (int l = 0; l < L + nodes[k].extra; l++) {
                snprintf(label, sizeof label, "%s d %s[%d]", preset, nodes[k].name, l);
                check(label, relp_ctx_node_grad(ctx, nodes[k].node, l), ref(gname), l * n, n);
            }
        }
    }
    printf("%s: %d tensor(s) off\n", failures ? "FAILED" : "passed", failures);
    relp_ctx_free(ctx);
    relp_model_free(m);
    free(ids); free(ans); free(wrong); free(refs);
    relp__unmap_file(&rf);
    return failures ? 1 : 0;
}
