/* check_methods.c - every method of relp_attribute and relp_token_relevance
 * against the PyTorch reference (tests/reference.py methods_reference):
 * entries "<method>.<node>.<direction>" and "tokens.<preset>".
 *
 *   check_methods CKPT_DIR REF.safetensors [--rtol X]
 * Pass: max|c - ref| <= rtol * max|ref| per entry (rtol 1e-4). AP entries
 * also run at 1 thread, and both runs must equal the plain sweep (one fresh
 * forward pass and one relp_forward_patched per cell) bit for bit. */
#include "relp.h"
#include "internal.h"
#include "safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct st_tensor *refs;
static int32_t n_refs;

static const struct st_tensor *ref(const char *name) {
    for (int32_t i = 0; i < n_refs; i++)
        if (!strcmp(refs[i].name, name)) return &refs[i];
    return NULL;
}

static float rv(const struct st_tensor *t, int64_t i) {
    float f;
    memcpy(&f, t->data + 4 * i, 4);
    return f;
}

/* The plain sweep AP is defined by: for each cell, a fresh forward pass of
 * the base prompts, then that one patch through relp_forward_patched (which
 * re-runs every row from the patched stage and position on), the metric
 * read as relp_attribute reads it. Every score of relp_attribute's AP (its
 * copies restarting at rows of their own, side by side) must equal it bit for
 * bit, at 1 and 2 threads. Returns the cells that differ. */
static int64_t plain_ap(struct relp_model *m, const int32_t *clean, const int32_t *corrupt, int B, int T,
                        const struct relp_metric *mt, const struct relp_attr_params *p, const float *scores,
                        const float *scores1, double mc_got, double mr_got) {
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = B;
    cp.max_tokens = T;
    cp.n_threads = 1;
    struct relp_ctx *c = NULL;
    if (relp_ctx_init(&c, m, &cp)) return -1;
    const struct relp_dims *d = &m->d;
    const int L = d->L, NH = d->NH, HS = d->HS, C = relp_node_width(m, p->node), heads = p->node == RELP_NODE_ATTN_Z;
    const int neurons = p->node == RELP_NODE_MLP_POST; /* a neuron's patch: the base run's row, one value changed */
    const int32_t *base = p->noising ? clean : corrupt, *src = p->noising ? corrupt : clean;
    relp__restrict_logits(c, mt, B);
    relp_forward(c, clean, B, T);
    const double mc = relp__metric_range(c, mt, 0, B);
    relp_forward(c, corrupt, B, T);
    const double mr = relp__metric_range(c, mt, 0, B);
    const double norm = mc != mr ? 1.0 / (mc - mr) : 1.0, base_value = p->noising ? mc : mr;
    int64_t bad = mc != mc_got || mr != mr_got;
    const size_t n = (size_t)B * T * C;
    float *sv = malloc(sizeof(float) * n * L), *bv = malloc(sizeof(float) * n * L), *v = malloc(sizeof(float) * n);
    relp_forward(c, src, B, T);
    for (int l = 0; l < L; l++) memcpy(sv + l * n, relp_ctx_node(c, p->node, l), n * sizeof(float));
    relp_forward(c, base, B, T);
    for (int l = 0; l < L; l++) memcpy(bv + l * n, relp_ctx_node(c, p->node, l), n * sizeof(float));
    const int units = heads ? NH : neurons ? C : 1, per_pos = !heads || p->per_position;
    for (int l = 0; l < L; l++)
        for (int u = 0; u < units; u++)
            for (int t = per_pos ? 0 : -1; t < (per_pos ? T : 0); t++) {
                const int w = heads ? HS : C, off = heads ? u * HS : 0;
                for (int b = 0; b < B; b++)
                    for (int tt = 0; tt < T; tt++)
                        if (t < 0 || tt == t) {
                            float *dst = v + ((size_t)b * (t < 0 ? T : 1) + (t < 0 ? tt : 0)) * w;
                            const size_t row = l * n + ((size_t)b * T + tt) * C;
                            memcpy(dst, (neurons ? bv : sv) + row + off, (size_t)w * sizeof(float));
                            if (neurons) dst[u] = sv[row + u];
                        }
                struct relp_patch pa = {p->node, l, t, heads ? u : -1, v, 0, B};
                relp_forward(c, base, B, T);
                relp_forward_patched(c, &pa, 1);
                const float want = (float)((relp__metric_range(c, mt, 0, B) - base_value) * norm) + 0.0f;
                const size_t k = heads     ? (per_pos ? ((size_t)l * NH + u) * T + t : (size_t)l * NH + u)
                                 : neurons ? ((size_t)l * T + t) * C + u
                                           : (size_t)l * T + t;
                if (memcmp(&want, &scores[k], 4) || memcmp(&want, &scores1[k], 4)) {
                    if (bad < 3)
                        printf("     cell %zu (layer %d unit %d position %d): plain %.9g, sweep %.9g (2 threads) %.9g (1)\n",
                               k, l, u, t, want, scores[k], scores1[k]);
                    bad++;
                }
            }
    free(sv);
    free(bv);
    free(v);
    relp_ctx_free(c);
    return bad;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    double rtol = argc >= 5 && !strcmp(argv[3], "--rtol") ? atof(argv[4]) : 1e-4;
    struct relp_mapped_file rf;
    char err[512];
    if (relp__map_file(&rf, argv[2], 1, err, sizeof err) || st_parse(rf.data, rf.size, argv[2], NULL, &refs, &n_refs, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct relp_model *m = NULL;
    if (relp_model_init_from_dir(&m, argv[1], NULL)) {
        fprintf(stderr, "%s\n", relp_last_error(m));
        return 1;
    }
    const struct st_tensor *tc = ref("clean"), *tr = ref("corrupt");
    int B = (int)tc->shape[0], T = (int)tc->shape[1];
    int32_t *clean = malloc(sizeof(int32_t) * B * T), *corrupt = malloc(sizeof(int32_t) * B * T);
    int32_t *ans = malloc(sizeof(int32_t) * B), *wrong = malloc(sizeof(int32_t) * B);
    for (int i = 0; i < B * T; i++) {
        clean[i] = (int32_t)rv(tc, i);
        corrupt[i] = (int32_t)rv(tr, i);
    }
    for (int b = 0; b < B; b++) {
        ans[b] = (int32_t)rv(ref("answer"), b);
        wrong[b] = (int32_t)rv(ref("wrong"), b);
    }
    int ig_steps = (int)rv(ref("ig_steps"), 0);
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = B;
    cp.max_tokens = T;
    cp.n_threads = 2;
    struct relp_ctx *ctx = NULL;
    relp_ctx_init(&ctx, m, &cp);
    struct relp_ctx *ctx1 = NULL; /* AP again on one thread */
    cp.n_threads = 1;
    relp_ctx_init(&ctx1, m, &cp);
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, ans, wrong, 1.0f};
    int fails = 0, checks = 0;
    float *scores = malloc(sizeof(float) * 4096), *rel = malloc(sizeof(float) * B * T);
    for (int32_t i = 0; i < n_refs; i++) {
        char name[ST_MAX_NAME], *parts[3];
        strcpy(name, refs[i].name);
        const struct st_tensor *want = &refs[i];
        if (!strncmp(name, "tokens.", 7)) {
            double total, value;
            if (relp_token_relevance(ctx, clean, B, T, &mt, relp_rules_preset(name + 7), rel, &total, &value)) {
                printf("FAIL %s: %s\n", name, relp_ctx_last_error(ctx));
                fails++;
                continue;
            }
            double mx = 0, md = 0;
            for (int k = 0; k < B * T; k++) {
                mx = fmax(mx, fabs(rv(want, k)));
                md = fmax(md, fabs(rel[k] - rv(want, k)));
            }
            int ok = md <= rtol * mx;
            printf("%-4s %-28s max|diff| %.2e max|ref| %.2e (sum %.5f, metric %.5f)\n", ok ? "ok" : "FAIL", name, md, mx,
                   total, value);
            fails += !ok;
            checks++;
            continue;
        }
        int np = 0;
        for (char *s = strtok(name, "."); s && np < 3; s = strtok(NULL, ".")) parts[np++] = s;
        if (np != 3) continue;
        struct relp_attr_params p = relp_attr_default_params();
        if (!strcmp(parts[0], "ap")) p.method = RELP_METHOD_AP;
        else if (!strcmp(parts[0], "ig") || !strcmp(parts[0], "ig-input")) {
            p.method = !strcmp(parts[0], "ig") ? RELP_METHOD_IG : RELP_METHOD_IG_INPUT;
            p.ig_steps = ig_steps;
        } else {
            p.method = RELP_METHOD_GRAD;
            p.rules = *relp_rules_preset(parts[0]);
        }
        if (!strcmp(parts[1], "resid")) p.node = RELP_NODE_RESID_PRE;
        else if (!strcmp(parts[1], "attn")) p.node = RELP_NODE_ATTN_OUT;
        else if (!strcmp(parts[1], "mlp")) p.node = RELP_NODE_MLP_OUT;
        else {
            p.node = RELP_NODE_ATTN_Z;
            p.per_position = !strcmp(parts[1], "head_pos");
        }
        p.noising = !strcmp(parts[2], "noise");
        int64_t n = relp_attr_count(m, &p, T);
        double mc, mr;
        if (n != want->numel || relp_attribute(ctx, clean, corrupt, B, T, &mt, &p, scores, &mc, &mr)) {
            printf("FAIL %s: %s (count %lld vs %lld)\n", refs[i].name, relp_ctx_last_error(ctx), (long long)n,
                   (long long)want->numel);
            fails++;
            continue;
        }
        double mx = 0, md = 0;
        for (int64_t k = 0; k < n; k++) {
            mx = fmax(mx, fabs(rv(want, k)));
            md = fmax(md, fabs(scores[k] - rv(want, k)));
        }
        int ok = md <= rtol * mx;
        printf("%-4s %-28s max|diff| %.2e max|ref| %.2e\n", ok ? "ok" : "FAIL", refs[i].name, md, mx);
        fails += !ok;
        checks++;
        if (p.method == RELP_METHOD_AP) {
            float *scores1 = malloc(sizeof(float) * (size_t)n);
            double mc1, mr1;
            int64_t bad = relp_attribute(ctx1, clean, corrupt, B, T, &mt, &p, scores1, &mc1, &mr1) || mc1 != mc || mr1 != mr
                              ? -1
                              : plain_ap(m, clean, corrupt, B, T, &mt, &p, scores, scores1, mc, mr);
            printf("%-4s %-28s the plain sweep, cell by cell, bit for bit (1 and 2 threads): %lld of %lld cells differ\n",
                   bad ? "FAIL" : "ok", refs[i].name, (long long)bad, (long long)n);
            fails += bad != 0;
            checks++;
            free(scores1);
        }
    }
    for (int noising = 0; noising < 2; noising++) { /* neurons: no PyTorch entry, the plain sweep alone */
        struct relp_attr_params p = relp_attr_default_params();
        p.method = RELP_METHOD_AP;
        p.node = RELP_NODE_MLP_POST;
        p.noising = noising;
        const int64_t n = relp_attr_count(m, &p, T);
        float *s2 = malloc(sizeof(float) * (size_t)n), *s1 = malloc(sizeof(float) * (size_t)n);
        double mc, mr, mc1, mr1;
        int64_t bad = relp_attribute(ctx, clean, corrupt, B, T, &mt, &p, s2, &mc, &mr) ||
                              relp_attribute(ctx1, clean, corrupt, B, T, &mt, &p, s1, &mc1, &mr1) || mc1 != mc || mr1 != mr
                          ? -1
                          : plain_ap(m, clean, corrupt, B, T, &mt, &p, s2, s1, mc, mr);
        printf("%-4s ap.neuron.%-18s the plain sweep, cell by cell, bit for bit (1 and 2 threads): %lld of %lld cells "
               "differ\n", bad ? "FAIL" : "ok", noising ? "noise" : "denoise", (long long)bad, (long long)n);
        fails += bad != 0;
        checks++;
        free(s1);
        free(s2);
    }
    printf("%d checked, %d failed\n", checks, fails);
    relp_ctx_free(ctx);
    relp_ctx_free(ctx1);
    relp_model_free(m);
    relp__unmap_file(&rf);
    free(refs); free(clean); free(corrupt); free(ans); free(wrong); free(scores); free(rel);
    return fails || checks == 0 ? 1 : 0;
}
