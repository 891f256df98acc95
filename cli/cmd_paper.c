/* cmd_paper.c - `relp paper`: the official RelP demo reproduced on a model,
 * beside the numbers the official code and the paper report.
 *
 *   relp paper --model DIR [--reference small|medium|large] [--json FILE|-] [--threads N]
 *              [--weights f32|f16|bf16] [--tokenizer DIR] [--prompts-out FILE.jsonl]
 *
 * It runs the demo set of core/ioi.c (the 8 prompts of the official
 * notebooks, each corrupted by its neighbour, BOS prepended), activation
 * patching of resid_pre / attn_out / mlp_out at every (layer, position)
 * (denoising), AtP and the presets relp and relp-ln, and prints each
 * estimator's Pearson r with AP per node type over the layer x position
 * cells, as the official notebooks' scatter plots do.
 *
 * Reference numbers (../shared/relp-method.md d.1, d.1b):
 *  - the official notebooks' saved outputs (FarnoushRJ/RelP,
 *    demos/lrp_patching.ipynb and demos/attribution_patching.ipynb, their
 *    embedded plot data decoded): GPT-2 small, 8 prompts, 12 x 15 cells.
 *    These are what relp should reproduce;
 *  - the paper's table (arXiv 2508.21258, as rendered by a third party, and
 *    its abstract): its prompts and aggregation are unknown, so relp need not
 *    match it.
 *
 * The model is recognised by its config; GPT-2 small's weights also by the
 * SHA-256 of model.safetensors, compared with the published one. For GPT-2
 * medium and large no published checksum was found, so they are recognised by
 * config alone and the output says the weights are not verified. Any other
 * model gets relp's numbers only (--reference compares anyway, saying so). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"
#include "prompts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- SHA-256 */
/* FIPS 180-4, streamed over a file. */

struct sha256 {
    uint32_t h[8];
    uint64_t bytes;
    unsigned char buf[64];
    size_t n;
};

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int r) { return (x >> r) | (x << (32 - r)); }

static void sha256_block(struct sha256 *s, const unsigned char *p) {
    uint32_t w[64], v[8];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, s->h, sizeof v);
    for (int i = 0; i < 64; i++) {
        uint32_t S1 = ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25), ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
        uint32_t t1 = v[7] + S1 + ch + K256[i] + w[i];
        uint32_t S0 = ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22), maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
        memmove(v + 1, v, 7 * sizeof v[0]);
        v[4] += t1;
        v[0] = t1 + S0 + maj;
    }
    for (int i = 0; i < 8; i++) s->h[i] += v[i];
}

static void sha256_init(struct sha256 *s) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->bytes = 0;
    s->n = 0;
}

static void sha256_update(struct sha256 *s, const unsigned char *p, size_t len) {
    s->bytes += len;
    while (len > 0) {
        if (s->n == 0 && len >= 64) {
            sha256_block(s, p);
            p += 64;
            len -= 64;
            continue;
        }
        size_t k = 64 - s->n < len ? 64 - s->n : len;
        memcpy(s->buf + s->n, p, k);
        s->n += k;
        p += k;
        len -= k;
        if (s->n == 64) {
            sha256_block(s, s->buf);
            s->n = 0;
        }
    }
}

static void sha256_hex(struct sha256 *s, char hex[65]) {
    uint64_t bits = s->bytes * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (s->n < 56 ? 56 : 120) - s->n;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(s, pad, padlen + 8);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", (unsigned)s->h[i]);
}

/* SHA-256 of a file as 64 hex digits; *bytes its size. 0, or -1 if unreadable. */
static int sha256_file(const char *path, char hex[65], long long *bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    struct sha256 s;
    sha256_init(&s);
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    size_t n;
    while (buf && (n = fread(buf, 1, CHUNK, f)) > 0) sha256_update(&s, buf, n);
    int bad = !buf || ferror(f);
    free(buf);
    fclose(f);
    if (bad) return -1;
    *bytes = (long long)s.bytes;
    sha256_hex(&s, hex);
    return 0;
}

/* ------------------------------------------------------- reference numbers */

enum { N_NODE = 3, N_EST = 3 };
static const char *node_names[N_NODE] = {"resid", "attn", "mlp"};
static const enum relp_node node_ids[N_NODE] = {RELP_NODE_RESID_PRE, RELP_NODE_ATTN_OUT, RELP_NODE_MLP_OUT};
static const char *est_names[N_EST] = {"atp", "relp", "relp-ln"}; /* the methods with reference numbers */

struct known_model {
    const char *key, *name, *hf;
    int L, C, NH;
    const char *sha256; /* of model.safetensors as Hugging Face serves it; NULL: none published that we found */
    long long bytes;
};

/* GPT-2 small's checksum: the Git LFS oid (SHA-256) and size of model.safetensors in
 * huggingface.co/openai-community/gpt2 (revision 607a30d783dfa663caf39e06633721c8d4cfcd7e), as recorded in
 * several independent public manifests (a Hugging Face API tree listing and two projects' pinned-model
 * notes, found with a code search of public GitHub files; not computed here, where no GPT-2 weights exist).
 * Hugging Face shows the same value on the file's page. For medium and large no published value was
 * found, so they are recognised by config alone. */
static const struct known_model known[] = {
    {"small", "GPT-2 small", "openai-community/gpt2", 12, 768, 12,
     "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707", 548105171LL},
    {"medium", "GPT-2 medium", "openai-community/gpt2-medium", 24, 1024, 16, NULL, 0},
    {"large", "GPT-2 large", "openai-community/gpt2-large", 36, 1280, 20, NULL, 0},
};
#define N_KNOWN ((int)(sizeof known / sizeof known[0]))

struct reference {
    const char *model;  /* known[].key */
    const char *source; /* "demo" (what relp should reproduce) or "paper" */
    const char *method; /* est_names */
    const char *label;
    double r[N_NODE];   /* NAN: not reported */
};

static const struct reference refs[] = {
    /* the official notebooks' saved outputs, decoded (relp-method.md d.1b) */
    {"small", "demo", "atp", "official demo (both commits)", {0.735, 0.982, 0.436}},
    {"small", "demo", "relp", "official demo, initial commit c38e291 (LN + Identity)", {0.962, 0.961, 0.989}},
    {"small", "demo", "relp-ln", "official demo at HEAD (LN rule only)", {0.873, 0.981, 0.941}},
    /* the paper's table (relp-method.md d.1): its "RelP" compared with the relp preset */
    {"small", "paper", "atp", "paper, GPT-2 small", {0.753, 0.979, 0.195}},
    {"small", "paper", "relp", "paper, GPT-2 small", {0.968, 0.962, 0.992}},
    {"medium", "paper", "atp", "paper, GPT-2 medium", {0.671, NAN, NAN}},
    {"large", "paper", "atp", "paper, GPT-2 large", {NAN, NAN, 0.006}},
    {"large", "paper", "relp", "paper, GPT-2 large", {NAN, NAN, 0.956}},
};
#define N_REFS ((int)(sizeof refs / sizeof refs[0]))
#define TOLERANCE 0.02
/* the demo's mean logit difference (IO - S) over the 8 prompts, clean and corrupted (GPT-2 small) */
static const double demo_metric[2] = {3.5519, -3.5519};

/* ------------------------------------------------------------ recognition */

struct identity {
    const struct known_model *config;   /* the known model whose config this is, or NULL */
    const struct known_model *identified; /* recognised as this model (small: by checksum too), or NULL */
    const struct known_model *compared; /* whose numbers are printed (identified, or --reference), or NULL */
    int verified;                       /* weights checked against a published checksum */
    char sha256[65];                    /* of DIR/model.safetensors, "" when not hashed */
    long long bytes;
    char note[768];
};

static void identify(const struct args *a, const struct relp_model *m, struct identity *id) {
    const struct relp_config *c = relp_model_config(m);
    const char *path = model_path(a);
    memset(id, 0, sizeof *id);
    for (int k = 0; k < N_KNOWN; k++)
        if (c->n_layer == known[k].L && c->n_embd == known[k].C && c->n_head == known[k].NH &&
            c->vocab_size == 50257 && c->n_positions == 1024)
            id->config = &known[k];
    struct relp_config shape;
    int random = relp_config_from_shape_name(path, &shape);
    char file[4096];
    snprintf(file, sizeof file, "%s/model.safetensors", path);
    if (!random) {
        fprintf(stderr, "relp paper: SHA-256 of %s ...\n", file);
        if (sha256_file(file, id->sha256, &id->bytes)) id->sha256[0] = '\0'; /* sharded: no single file */
    }
    const struct known_model *k = id->config;
    if (!k) {
        snprintf(id->note, sizeof id->note,
                 "not GPT-2 small, medium or large (config: %d layers, width %d, %d heads, %d positions, "
                 "vocabulary %d): relp's numbers only", c->n_layer, c->n_embd, c->n_head, c->n_positions,
                 c->vocab_size);
    } else if (random) {
        snprintf(id->note, sizeof id->note, "not %s: %s's config, but random weights made in memory (%s): "
                 "relp's numbers only", k->name, k->name, path);
    } else if (k->sha256 && !strcmp(id->sha256, k->sha256)) {
        id->verified = 1;
        id->identified = id->compared = k;
        snprintf(id->note, sizeof id->note, "%s: config matches and model.safetensors is Hugging Face's %s "
                 "(SHA-256 %s, %lld bytes)", k->name, k->hf, id->sha256, id->bytes);
    } else if (k->sha256) {
        snprintf(id->note, sizeof id->note, "not %s as published: %s's config, but model.safetensors %s%s%s "
                 "(%lld bytes) is not Hugging Face's %s (SHA-256 %s, %lld bytes): relp's numbers only",
                 k->name, k->name, id->sha256[0] ? "has SHA-256 " : "could not be read", id->sha256,
                 id->sha256[0] ? "" : " (a sharded checkpoint?)", id->bytes, k->hf, k->sha256, k->bytes);
    } else {
        id->identified = id->compared = k;
        snprintf(id->note, sizeof id->note, "%s by its config only: no published checksum of %s's weights was "
                 "found, so they could not be verified as OpenAI's (model.safetensors SHA-256 %s)", k->name, k->hf,
                 id->sha256[0] ? id->sha256 : "not computed");
    }
}

/* ------------------------------------------------------------------ paper */

static void json_r(FILE *f, double v) {
    if (isnan(v)) fputs("null", f);
    else fprintf(f, "%.6f", v);
}

int cmd_paper(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL},    {"--weights", 1, NULL},   {"--tokenizer", 1, NULL},
                      {"--threads", 1, NULL},  {"--json", 1, NULL},      {"--reference", 1, NULL},
                      {"--low-memory", 0, NULL}, {"--prompts-out", 1, NULL}};
    struct args a = {o, (int)(sizeof o / sizeof o[0])};
    long threads;
    int rc = parse_args(argc, argv, "paper", &a);
    if (rc || (rc = get_int(&a, "--threads", 1, 256, default_threads(), &threads))) return rc;
    const struct known_model *forced = NULL;
    if (get(&a, "--reference")) {
        for (int k = 0; k < N_KNOWN; k++)
            if (!strcmp(get(&a, "--reference"), known[k].key)) forced = &known[k];
        if (!forced) return usage("paper: --reference must be small, medium or large, got '%s'%s", get(&a, "--reference"), "");
    }
    struct relp_ioi_prompt prompts[8];
    int np = relp_ioi_demo(prompts, 8);
    if (get(&a, "--prompts-out") && (rc = write_ioi_prompts(get(&a, "--prompts-out"), "demo", prompts, np))) return rc;
    /* the JSON file is opened first, so that a path that cannot be written fails before the long sweep */
    const char *jpath = get(&a, "--json");
    FILE *jf = jpath ? (!strcmp(jpath, "-") ? stdout : fopen(jpath, "w")) : NULL;
    if (jpath && !jf) {
        fprintf(stderr, "relp: --json %s: cannot write the file\n", jpath);
        return 1;
    }
    struct relp_model *m = NULL;
    struct relp_ctx *ctx = NULL;
    struct batch b = {0};
    float *ap[N_NODE] = {0}, *est[N_EST][N_NODE] = {{0}};
    if ((rc = load_model(&a, &m))) goto out;
    if (!relp_has_tokenizer(m)) {
        fprintf(stderr, "relp: %s has no tokenizer (tokenizer.json, or vocab.json + merges.txt; --tokenizer DIR attaches one)\n",
                model_path(&a));
        rc = 1;
        goto out;
    }
    for (int i = 0; i < np && !rc; i++) {
        char where[64];
        snprintf(where, sizeof where, "demo prompt %d", i);
        rc = add_prompt(m, &b, prompts[i].clean, prompts[i].corrupt, prompts[i].answer, prompts[i].wrong, 1, where);
    }
    struct identity id;
    if (rc || (rc = make_ctx(m, b.n, b.T, threads, &ctx))) goto out;
    identify(&a, m, &id);
    if (forced && forced != id.compared) {
        id.compared = forced;
        size_t len = strlen(id.note);
        snprintf(id.note + len, sizeof id.note - len, "; compared with %s's numbers anyway, as --reference asks",
                 forced->name);
    }
    const struct relp_config *c = relp_model_config(m);
    const int L = c->n_layer, T = b.T, cells = L * T;
    for (int k = 0; k < N_NODE; k++) {
        ap[k] = malloc(sizeof(float) * (size_t)cells);
        for (int e = 0; e < N_EST; e++) est[e][k] = malloc(sizeof(float) * (size_t)cells);
        if (!ap[k] || !est[0][k] || !est[1][k] || !est[2][k]) {
            fprintf(stderr, "relp: out of memory\n");
            rc = 1;
            goto out;
        }
    }
    /* AP per node type (the sweep: progress on stderr), then each estimator on all three from one backward */
    struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, b.answer, b.wrong, 1.0f};
    double mc = 0, mr = 0, secs[N_EST + 1] = {0};
    for (int k = 0; k < N_NODE; k++) {
        char label[64];
        snprintf(label, sizeof label, "relp paper: AP %s", node_names[k]);
        struct progress pr = {.label = label};
        struct relp_attr_params p = relp_attr_default_params();
        p.method = RELP_METHOD_AP;
        p.node = node_ids[k];
        p.progress = on_progress;
        p.progress_user = &pr;
        double t0 = now_ms();
        if (relp_attribute(ctx, b.clean, b.corrupt, b.n, b.T, &mt, &p, ap[k], &mc, &mr)) {
            fprintf(stderr, "%srelp: %s\n", pr.shown ? "\n" : "", relp_ctx_last_error(ctx));
            rc = 1;
            goto out;
        }
        secs[N_EST] += (now_ms() - t0) / 1000;
    }
    {
        struct warn_list w; /* the core's warnings of the AP run (relp.h WARNINGS) */
        warn_collect(ctx, &w);
        warn_print(&w, NULL);
    }
    for (int e = 0; e < N_EST; e++) {
        struct relp_attr_params p = relp_attr_default_params();
        p.method = RELP_METHOD_GRAD;
        p.rules = *relp_rules_preset(e == 0 ? "grad" : est_names[e]);
        float *out3[N_NODE] = {est[e][0], est[e][1], est[e][2]};
        double t0 = now_ms();
        if (relp_attribute_nodes(ctx, b.clean, b.corrupt, b.n, b.T, &mt, &p, node_ids, N_NODE, out3, NULL, NULL)) {
            fprintf(stderr, "relp: %s\n", relp_ctx_last_error(ctx));
            rc = 1;
            goto out;
        }
        secs[e] = (now_ms() - t0) / 1000;
    }
    double r[N_EST][N_NODE];
    for (int e = 0; e < N_EST; e++)
        for (int k = 0; k < N_NODE; k++) r[e][k] = relp_pearson(est[e][k], ap[k], cells);
    const struct known_model *cmp = id.compared;
    int within = 0, compared_cells = 0;

    /* ---- the table */
    FILE *tf = jpath && !strcmp(jpath, "-") ? stderr : stdout; /* JSON on stdout: the table goes to stderr */
    fprintf(tf, "relp paper on %s: the official RelP demo, %d IOI prompts of %d tokens (BOS prepended), each corrupted by "
                "its neighbour\n", model_path(&a), b.n, b.T);
    fprintf(tf, "model: %s\n", id.note);
    if (id.sha256[0]) fprintf(tf, "weights: model.safetensors, %lld bytes, SHA-256 %s\n", id.bytes, id.sha256);
    fprintf(tf, "logit difference logit(IO) - logit(S), mean over the prompts: clean %.4f, corrupted %.4f", mc, mr);
    if (cmp && !strcmp(cmp->key, "small")) {
        int ok = fabs(mc - demo_metric[0]) <= TOLERANCE && fabs(mr - demo_metric[1]) <= TOLERANCE;
        fprintf(tf, "   official demo: %.4f, %.4f (%s)", demo_metric[0], demo_metric[1], ok ? "within 0.02" : "NOT within 0.02");
    }
    fprintf(tf, "\nPearson r with activation patching (denoising) over the %d x %d layer x position cells of each node "
                "type; marks: |relp - reference| <= %.2f\n", L, T, TOLERANCE);
    fprintf(tf, "%-9s %-54s %-18s %-18s %s\n", "method", "numbers from", "resid", "attn", "mlp");
    for (int pass = 0; pass < 2; pass++) { /* the demo's numbers (what relp should reproduce), then the paper's */
        if (pass == 1 && cmp)
            fprintf(tf, "The paper's table (arXiv 2508.21258). Its prompts and aggregation are unknown (its AtP row differs "
                        "from the demo's), so relp need not match it:\n");
        for (int e = 0; e < N_EST; e++) {
            int32_t n_presets = 0;
            const struct relp_preset *ps = relp_rules_presets(&n_presets);
            const char *title = e == 0 ? "AtP" : est_names[e];
            for (int32_t i = 0; i < n_presets && e > 0; i++)
                if (!strcmp(ps[i].name, est_names[e])) title = ps[i].title;
            if (pass == 0) {
                char src[64];
                snprintf(src, sizeof src, e == 0 ? "relp (exact gradient)" : "relp (preset %s)", est_names[e]);
                fprintf(tf, "%-9s %-54s", title, src);
                for (int k = 0; k < N_NODE; k++) fprintf(tf, k < N_NODE - 1 ? " %-18.4f" : " %.4f", r[e][k]);
                fputc('\n', tf);
            }
            for (int i = 0; cmp && i < N_REFS; i++) {
                if (strcmp(refs[i].model, cmp->key) || strcmp(refs[i].method, est_names[e]) ||
                    strcmp(refs[i].source, pass == 0 ? "demo" : "paper"))
                    continue;
                fprintf(tf, "%-9s %-54s", pass == 0 ? "" : title, refs[i].label);
                for (int k = 0; k < N_NODE; k++) {
                    if (isnan(refs[i].r[k])) {
                        fprintf(tf, k < N_NODE - 1 ? " %-18s" : " %s", "-");
                        continue;
                    }
                    int ok = fabs(r[e][k] - refs[i].r[k]) <= TOLERANCE;
                    if (pass == 0) {
                        within += ok;
                        compared_cells++;
                    }
                    char cell[32];
                    snprintf(cell, sizeof cell, "%.3f %+.3f %s", refs[i].r[k], r[e][k] - refs[i].r[k], ok ? "ok" : "NO");
                    fprintf(tf, k < N_NODE - 1 ? " %-18s" : " %s", cell);
                }
                fputc('\n', tf);
            }
        }
    }
    if (cmp && compared_cells)
        fprintf(tf, "%d of %d cells within %.2f of the official demo's numbers\n", within, compared_cells, TOLERANCE);
    else if (cmp)
        fprintf(tf, "no demo numbers for %s (the official notebooks ran GPT-2 small only): the paper's only\n", cmp->name);
    else
        fprintf(tf, "no reference numbers: they exist for GPT-2 small, medium and large (--reference compares anyway)\n");
    fprintf(tf, "seconds: AP %.2f, AtP %.3f, relp %.3f, relp-ln %.3f\n", secs[N_EST], secs[0], secs[1], secs[2]);

    /* ---- JSON */
    if (jf) {
        FILE *f = jf;
        fputs("{\"command\":\"paper\",\"model\":", f);
        json_str(f, model_path(&a), (int)strlen(model_path(&a)));
        const struct known_model *keys[3] = {id.config, id.identified, id.compared};
        static const char *key_names[3] = {"config_matches", "identified", "compared_with"};
        for (int i = 0; i < 3; i++)
            fprintf(f, ",\"%s\":%s%s%s", key_names[i], keys[i] ? "\"" : "", keys[i] ? keys[i]->key : "null",
                    keys[i] ? "\"" : "");
        fprintf(f, ",\"weights_verified\":%s,\"note\":", id.verified ? "true" : "false");
        json_str(f, id.note, (int)strlen(id.note));
        if (id.sha256[0]) fprintf(f, ",\"weights_sha256\":\"%s\",\"weights_bytes\":%lld", id.sha256, id.bytes);
        else fputs(",\"weights_sha256\":null,\"weights_bytes\":null", f);
        fprintf(f, ",\"prompts\":%d,\"tokens\":%d,\"layers\":%d,\"direction\":\"denoising\",\"tolerance\":%.2f,"
                   "\"metric_clean\":%.9g,\"metric_corrupt\":%.9g,\"pearson\":{", b.n, b.T, L, TOLERANCE, mc, mr);
        for (int e = 0; e < N_EST; e++) {
            fprintf(f, e ? ",\"%s\":{" : "\"%s\":{", est_names[e]);
            for (int k = 0; k < N_NODE; k++) {
                fprintf(f, k ? ",\"%s\":" : "\"%s\":", node_names[k]);
                json_r(f, r[e][k]);
            }
            fputc('}', f);
        }
        fputs("},\"reference\":[", f);
        int first = 1;
        for (int i = 0; cmp && i < N_REFS; i++) {
            if (strcmp(refs[i].model, cmp->key)) continue;
            int e = 0;
            while (e < N_EST && strcmp(est_names[e], refs[i].method)) e++;
            fprintf(f, "%s{\"model\":\"%s\",\"source\":\"%s\",\"method\":\"%s\",\"label\":", first ? "" : ",",
                    refs[i].model, refs[i].source, refs[i].method);
            json_str(f, refs[i].label, (int)strlen(refs[i].label));
            fputs(",\"r\":{", f);
            for (int k = 0; k < N_NODE; k++) {
                fprintf(f, k ? ",\"%s\":" : "\"%s\":", node_names[k]);
                json_r(f, refs[i].r[k]);
            }
            fputs("},\"within\":{", f);
            for (int k = 0; k < N_NODE; k++)
                fprintf(f, k ? ",\"%s\":%s" : "\"%s\":%s", node_names[k],
                        isnan(refs[i].r[k]) ? "null" : fabs(r[e][k] - refs[i].r[k]) <= TOLERANCE ? "true" : "false");
            fputs("}}", f);
            first = 0;
        }
        fputs("]", f);
        if (cmp && !strcmp(cmp->key, "small"))
            fprintf(f, ",\"metric_reference\":{\"clean\":%.4f,\"corrupt\":%.4f}", demo_metric[0], demo_metric[1]);
        fputs(",\"scores\":{", f);
        for (int e = 0; e <= N_EST; e++) {
            fprintf(f, e ? ",\"%s\":{" : "\"%s\":{", e == N_EST ? "ap" : est_names[e]);
            for (int k = 0; k < N_NODE; k++) {
                const float *v = e == N_EST ? ap[k] : est[e][k];
                fprintf(f, k ? ",\"%s\":[" : "\"%s\":[", node_names[k]);
                for (int l = 0; l < L; l++) {
                    fputs(l ? ",[" : "[", f);
                    for (int t = 0; t < T; t++) fprintf(f, t ? ",%.7g" : "%.7g", v[l * T + t]);
                    fputc(']', f);
                }
                fputc(']', f);
            }
            fputc('}', f);
        }
        fprintf(f, "},\"seconds\":{\"ap\":%.3f,\"atp\":%.4f,\"relp\":%.4f,\"relp-ln\":%.4f}}\n", secs[N_EST], secs[0],
                secs[1], secs[2]);
        jf = NULL;
        if (f != stdout && fclose(f) != 0) {
            fprintf(stderr, "relp: --json %s: cannot write the file\n", jpath);
            rc = 1;
        }
    }
out:
    if (jf && jf != stdout) fclose(jf); /* a run that failed: the file stays empty */
    for (int k = 0; k < N_NODE; k++) {
        free(ap[k]);
        for (int e = 0; e < N_EST; e++) free(est[e][k]);
    }
    batch_free(&b);
    relp_ctx_free(ctx);
    relp_model_free(m);
    return rc;
}
