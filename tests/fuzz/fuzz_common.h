/* fuzz_common.h - shared pieces of the libFuzzer harnesses: a tiny valid
 * GPT-2 checkpoint built in memory (the counterpart of whatever file a
 * harness fuzzes, and the seed corpus), and a check that a loaded model
 * runs. Header-only: each harness is one translation unit. */
#ifndef RELP_FUZZ_COMMON_H
#define RELP_FUZZ_COMMON_H

#include "relp.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TINY_L 1
#define TINY_C 8
#define TINY_NH 2
#define TINY_V 300
#define TINY_P 8

static const char tiny_config[] =
    "{\"model_type\": \"gpt2\", \"n_layer\": 1, \"n_head\": 2, \"n_embd\": 8, \"n_positions\": 8, "
    "\"vocab_size\": 300, \"layer_norm_epsilon\": 1e-05}";

struct tiny_tensor { const char *name; int64_t d0, d1; };
static const struct tiny_tensor tiny_tensors[] = {
    {"wte.weight", TINY_V, TINY_C}, {"wpe.weight", TINY_P, TINY_C},
    {"h.0.ln_1.weight", TINY_C, 0}, {"h.0.ln_1.bias", TINY_C, 0},
    {"h.0.attn.c_attn.weight", TINY_C, 3 * TINY_C}, {"h.0.attn.c_attn.bias", 3 * TINY_C, 0},
    {"h.0.attn.c_proj.weight", TINY_C, TINY_C}, {"h.0.attn.c_proj.bias", TINY_C, 0},
    {"h.0.ln_2.weight", TINY_C, 0}, {"h.0.ln_2.bias", TINY_C, 0},
    {"h.0.mlp.c_fc.weight", TINY_C, 4 * TINY_C}, {"h.0.mlp.c_fc.bias", 4 * TINY_C, 0},
    {"h.0.mlp.c_proj.weight", 4 * TINY_C, TINY_C}, {"h.0.mlp.c_proj.bias", TINY_C, 0},
    {"ln_f.weight", TINY_C, 0}, {"ln_f.bias", TINY_C, 0},
};
#define TINY_N_TENSORS ((int)(sizeof tiny_tensors / sizeof tiny_tensors[0]))

/* A safetensors file (F32) holding tensors [first, last) of the tiny model;
 * malloc'd, *size set. Values: a fixed pseudo-random pattern. */
static unsigned char *tiny_safetensors(int first, int last, size_t *size) {
    char header[4096];
    size_t hl = 0;
    int64_t off = 0;
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "{");
    for (int i = first; i < last; i++) {
        const struct tiny_tensor *t = &tiny_tensors[i];
        int64_t n = t->d0 * (t->d1 ? t->d1 : 1);
        if (t->d1)
            hl += (size_t)snprintf(header + hl, sizeof header - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld,%lld],\"data_offsets\":[%lld,%lld]}",
                                   i > first ? "," : "", t->name, (long long)t->d0, (long long)t->d1, (long long)off, (long long)(off + 4 * n));
        else
            hl += (size_t)snprintf(header + hl, sizeof header - hl, "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%lld],\"data_offsets\":[%lld,%lld]}",
                                   i > first ? "," : "", t->name, (long long)t->d0, (long long)off, (long long)(off + 4 * n));
        off += 4 * n;
    }
    hl += (size_t)snprintf(header + hl, sizeof header - hl, "}");
    *size = 8 + hl + (size_t)off;
    unsigned char *buf = malloc(*size);
    uint64_t h64 = hl;
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)(h64 >> (8 * b));
    memcpy(buf + 8, header, hl);
    float *data = (float *)malloc((size_t)off);
    uint32_t s = 12345;
    for (int64_t i = 0; i < off / 4; i++) {
        s = s * 1664525u + 1013904223u;
        data[i] = ((float)(s >> 9) / 8388608.0f - 0.5f) * 0.2f;
    }
    memcpy(buf + 8 + hl, data, (size_t)off);
    free(data);
    return buf;
}

/* A loaded model must run: one forward pass on a few tokens and a backward. */
static void run_model(struct relp_model *m) {
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_tokens = 3;
    struct relp_ctx *ctx = NULL;
    if (relp_ctx_init(&ctx, m, &cp) == RELP_STATUS_OK) {
        int32_t V = relp_model_config(m)->vocab_size;
        int32_t ids[3] = {0, 1 % V, 2 % V}, a = 0, w = 1 % V;
        if (relp_forward(ctx, ids, 1, 3) == RELP_STATUS_OK) {
            struct relp_metric mt = {RELP_METRIC_LOGIT_DIFF, &a, &w, 1.0f};
            relp_backward(ctx, &mt, relp_rules_preset("relp"), NULL);
        }
    }
    relp_ctx_free(ctx);
}

/* Loads the files: a failing load must leave a message, a model that loads
 * must run. */
static void load_and_run(const struct relp_file *files, int32_t n) {
    struct relp_model *m = NULL;
    enum relp_status st = relp_model_init_from_memory(&m, files, n, NULL);
    if (st != RELP_STATUS_OK && relp_last_error(m)[0] == '\0') {
        fprintf(stderr, "load failed (%s) without a message\n", relp_status_str(st));
        abort();
    }
    if (st == RELP_STATUS_OK) run_model(m);
    relp_model_free(m);
}

#endif
