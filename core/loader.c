/* loader.c - a checkpoint (or random weights) into a relp_model: the entry
 * points, the model's lifetime and its getters. The work is split by job:
 * config.c reads config.json, files.c the files and shards, plan.c binds
 * the architecture's parameters (arch.c) to the tensors, half.c converts
 * half precision, errors.c holds the messages. pytorch_model.bin (a pickle)
 * is refused with a message. */
#include "load.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relp_load_params relp_load_default_params(void) {
#ifdef __EMSCRIPTEN__
    struct relp_load_params p = {RELP_DTYPE_F32, 1, 0, 0}; /* the tab's memory is scarcer than time */
#else
    struct relp_load_params p = {RELP_DTYPE_F32, 1, 0, 1};
#endif
    return p;
}

static enum relp_status new_model(struct relp_model **out, const struct relp_load_params *params,
                                  struct relp_load_params *lp) {
    *out = calloc(1, sizeof **out);
    if (!*out) return relp__fail(relp__orphan_error(), RELP_STATUS_ALLOC_FAILED, "out of memory");
    *lp = params ? *params : relp_load_default_params();
    if (lp->weight_dtype != RELP_DTYPE_F32 && lp->weight_dtype != RELP_DTYPE_F16 && lp->weight_dtype != RELP_DTYPE_BF16)
        return relp__fail((*out)->error, RELP_STATUS_BAD_ARGUMENT, "weight dtype must be f32, f16 or bf16");
    (*out)->weight_dtype = lp->weight_dtype;
    (*out)->transposed = lp->transposed_copy != 0;
    return RELP_STATUS_OK;
}

/* NaN or Inf anywhere in the checkpoint: the model loads (a forward pass
 * then gives NaN, it does not hang), with the model's warning
 * RELP_WARNING_NON_FINITE_WEIGHTS (relp_model_warnings) and status OK. One pass over the file's bytes. */
static void warn_non_finite(struct relp_model *m, const struct st_tensor *list, int32_t n) {
    int64_t bad = 0;
    const struct st_tensor *first = NULL;
    for (int32_t i = 0; i < n; i++) {
        const struct st_tensor *t = &list[i];
        int64_t c = 0;
        if (t->dtype == RELP_DTYPE_F32) {
            for (int64_t k = 0; k < t->numel; k++) {
                uint32_t u;
                memcpy(&u, t->data + 4 * k, 4);
                c += (u & 0x7f800000u) == 0x7f800000u;
            }
        } else {
            const uint16_t mask = t->dtype == RELP_DTYPE_F16 ? 0x7c00u : 0x7f80u;
            for (int64_t k = 0; k < t->numel; k++) {
                uint16_t h;
                memcpy(&h, t->data + 2 * k, 2);
                c += (h & mask) == mask;
            }
        }
        if (c && !first) first = t;
        bad += c;
    }
    if (bad)
        relp__warn_add(&m->warn, RELP_WARNING_NON_FINITE_WEIGHTS, relp__warning_format(RELP_WARNING_NON_FINITE_WEIGHTS),
                       (long long)bad, first->name, first->file ? first->file : "the checkpoint");
}

static enum relp_status load_from_source(struct relp_model *m, const struct relp__source *s,
                                         const struct relp_load_params *lp) {
    enum relp_status st;
    struct relp_file cf;
    char clabel[512];
    if (!relp__source_has(s, "config.json")) {
        if (s->dir && !relp__dir_exists(s->dir))
            return relp__fail(m->error, RELP_STATUS_IO, "%s: no such directory (expected a checkpoint directory)",
                              s->dir);
        return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                          "%s: no config.json (expected a Hugging Face checkpoint: config.json, model.safetensors and "
                          "the tokenizer files)",
                          s->dir ? s->dir : "files");
    }
    if ((st = relp__source_get(m, s, "config.json", &cf))) return st;
    cf.name = relp__source_label(s, "config.json", clabel, sizeof clabel);
    if ((st = relp__parse_config(&m->cfg, &cf, m->error)) || (st = relp__resolve(&m->cfg, &m->d, cf.name, m->error)))
        return st;
    m->arch = relp__arch(m->cfg.arch);
    relp__set_arch(m);
    struct st_tensor *list = NULL;
    int32_t n = 0, n_labels = 0;
    char(*labels)[512] = malloc(RELP_MAX_SHARDS * 512);
    if (!labels) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
    st = relp__load_tensors(m, s, &list, &n, labels, &n_labels);
    if (!st) st = relp__bind(m, list, n, 0);
    if (!st) warn_non_finite(m, list, n);
    free(list);
    free(labels);
    if (st) return st;
    return relp__load_tokenizer(m, s, lp->require_tokenizer);
}

enum relp_status relp_model_init_from_dir(struct relp_model **out, const char *dir,
                                          const struct relp_load_params *params) {
    struct relp_load_params lp;
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_model(out, params, &lp);
    if (st || !dir) return st ? st : relp__fail((*out)->error, RELP_STATUS_BAD_ARGUMENT, "no directory given");
    struct relp__source s = {dir, NULL, 0, lp.use_mmap};
    return load_from_source(*out, &s, &lp);
}

enum relp_status relp_model_init_from_memory(struct relp_model **out, const struct relp_file *files, int32_t n_files,
                                             const struct relp_load_params *params) {
    struct relp_load_params lp;
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_model(out, params, &lp);
    if (st) return st;
    if (!files || n_files <= 0)
        return relp__fail((*out)->error, RELP_STATUS_BAD_ARGUMENT, "no files given");
    struct relp__source s = {NULL, files, n_files, 0};
    return load_from_source(*out, &s, &lp);
}

/* Random weights in memory (N(0, 0.02)-like uniform, norm gains 1 +- 0.1),
 * through the same tensor plan as a checkpoint. */
enum relp_status relp_model_init_random(struct relp_model **out, const struct relp_config *config, uint64_t seed,
                                        const struct relp_load_params *params) {
    struct relp_load_params lp;
    if (!out) return RELP_STATUS_BAD_ARGUMENT;
    enum relp_status st = new_model(out, params, &lp);
    if (st) return st;
    struct relp_model *m = *out;
    if (!config) return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "random model: no config");
    m->cfg = *config;
    if ((st = relp__resolve(&m->cfg, &m->d, "random model", m->error))) return st;
    m->arch = relp__arch(m->cfg.arch);
    relp__set_arch(m);
    return relp__bind(m, NULL, 0, seed);
}

/* A tokenizer whose ids reach past the model's vocabulary belongs to another model (GPT-2's 50257 tokens on a
 * SmolLM2 of 49152): refused here, by name, rather than later as a token id out of range. */
static enum relp_status check_vocabulary(struct relp_model *m, const char *what, const char *file) {
    const int32_t n = relp__tokenizer_size(m->tok), V = m->cfg.vocab_size;
    if (n <= V) return RELP_STATUS_OK;
    relp__tokenizer_free(m->tok);
    m->tok = NULL;
    return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT,
                      "%s (%s) has %d tokens, but the model's vocabulary is %d (ids 0..%d): it is another model's "
                      "tokenizer (%s%d tokens on a model whose vocabulary is %d); give the tokenizer of the model's own "
                      "family",
                      what, file ? file : "the tokenizer", n, V, V - 1, n == 50257 ? "GPT-2's tokenizer: " : "", n, V);
}

enum relp_status relp_model_attach_tokenizer(struct relp_model *m, const struct relp_file *vocab,
                                             const struct relp_file *merges) {
    if (!m || !vocab || !merges) return RELP_STATUS_BAD_ARGUMENT;
    if (m->tok) return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "model already has a tokenizer");
    enum relp_status st = relp__tokenizer_init(&m->tok, vocab, merges, m->error);
    return st ? st : check_vocabulary(m, "the tokenizer", vocab->name);
}

enum relp_status relp_model_attach_tokenizer_json(struct relp_model *m, const struct relp_file *tokenizer_json,
                                                  const struct relp_file *tokenizer_config) {
    if (!m || !tokenizer_json) return RELP_STATUS_BAD_ARGUMENT;
    if (m->tok) return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "model already has a tokenizer");
    enum relp_status st = relp__tokenizer_init_json(&m->tok, tokenizer_json, tokenizer_config, m->error);
    return st ? st : check_vocabulary(m, "the tokenizer", tokenizer_json->name);
}

void relp_model_free(struct relp_model *m) {
    if (!m) return;
    for (int32_t i = 0; i < m->n_files; i++) relp__unmap_file(&m->files[i]);
    free(m->files);
    free(m->owned);
    free(m->layers);
    relp__tokenizer_free(m->tok);
    free(m);
}

/* ----------------------------------------------------------------- getters */

const struct relp_config *relp_model_config(const struct relp_model *m) { return &m->cfg; }
int64_t relp_model_n_params(const struct relp_model *m) { return relp__count_params(m); }
size_t relp_model_weight_bytes(const struct relp_model *m) { return m->owned_bytes + m->mapped_bytes; }
enum relp_dtype relp_model_weight_dtype(const struct relp_model *m) { return m->weight_dtype; }
enum relp_dtype relp_model_file_dtype(const struct relp_model *m) { return m->file_dtype; }
int32_t relp_has_tokenizer(const struct relp_model *m) { return m && m->tok != NULL; }

/* ------------------------------------------------------------ configs alone */

enum relp_status relp_config_from_json(const struct relp_file *f, struct relp_config *config, char *err, size_t cap) {
    char e[RELP_ERROR_LEN];
    e[0] = '\0';
    enum relp_status st = f && config ? relp__parse_config(config, f, e)
                                      : relp__fail(e, RELP_STATUS_BAD_ARGUMENT, "no config.json given");
    if (err && cap) snprintf(err, cap, "%s", st ? e : "");
    return st;
}

/* a model object holding only the config's sizes, for the counts below */
static int config_only(struct relp_model *m, const struct relp_config *c) {
    memset(m, 0, sizeof *m);
    if (!c) return -1;
    m->cfg = *c;
    if (relp__resolve(&m->cfg, &m->d, "config", m->error)) return -1;
    m->arch = relp__arch(m->cfg.arch);
    relp__set_arch(m);
    return 0;
}

int64_t relp_config_n_params(const struct relp_config *c) {
    struct relp_model m;
    return config_only(&m, c) ? -1 : relp__count_params(&m);
}

size_t relp_config_ctx_mem_required(const struct relp_config *c, const struct relp_ctx_params *params) {
    struct relp_model m;
    return !params || config_only(&m, c) ? 0 : relp_ctx_mem_required(&m, params);
}

int64_t relp_config_weight_bytes(const struct relp_config *c, enum relp_dtype weights, int32_t transposed_copy) {
    struct relp_model m;
    if (config_only(&m, c) || (weights != RELP_DTYPE_F32 && weights != RELP_DTYPE_F16 && weights != RELP_DTYPE_BF16))
        return -1;
    return relp__weight_bytes(&m, weights, transposed_copy != 0);
}
