/* fuzz_tokenize.c - GPT-2's own tokenizer (the default bundled model's vocab.json
 * and merges.txt) on arbitrary bytes: it must never fail, and the tokens
 * must decode to exactly the input bytes (valid UTF-8 or not). */
#include "fuzz_common.h"
#include "internal.h"

#ifndef RELP_FUZZ_TOKENIZER_DIR
#error "RELP_FUZZ_TOKENIZER_DIR: a directory with vocab.json and merges.txt"
#endif

static struct relp_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    struct relp_load_params lp = relp_load_default_params();
    lp.require_tokenizer = 1;
    if (relp_model_init_from_dir(&model, RELP_FUZZ_TOKENIZER_DIR, &lp) != RELP_STATUS_OK) {
        fprintf(stderr, "fuzz_tokenize: %s\n", relp_last_error(model));
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int64_t cap = (int64_t)size + 2, n = 0;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)cap);
    if (relp_tokenize(model, (const char *)data, (int64_t)size, 0, ids, cap, &n) != RELP_STATUS_OK) {
        fprintf(stderr, "tokenize failed: %s\n", relp_last_error(model));
        abort();
    }
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t nb = 0;
        const char *p = relp_token_bytes(model, ids[i], &nb);
        if (!p || o + (size_t)nb > size || memcmp(data + o, p, (size_t)nb) != 0) {
            fprintf(stderr, "token %lld does not decode to the input\n", (long long)i);
            abort();
        }
        o += (size_t)nb;
    }
    if (o != size) abort();
    free(ids);
    return 0;
}
