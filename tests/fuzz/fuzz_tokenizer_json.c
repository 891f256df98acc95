/* fuzz_tokenizer_json.c - the input is a tokenizer.json (no
 * tokenizer_config.json). A refusal must say why; a tokenizer that loads
 * must tokenize a fixed text and a part of its own input without failing,
 * and each token it gives must have bytes. */
#include "fuzz_common.h"
#include "internal.h"

static void encode(const struct relp_tokenizer *tok, const char *text, size_t len) {
    int32_t ids[1024];
    int64_t n = 0;
    char err[RELP_ERROR_LEN];
    if (len > 300) len = 300; /* at most a BOS and a token per byte */
    if (relp__tokenize(tok, text, (int64_t)len, 1, ids, 1024, &n, err) != RELP_STATUS_OK) {
        fprintf(stderr, "tokenizing failed: %s\n", err);
        abort();
    }
    for (int64_t i = 0; i < n; i++) {
        int32_t nb = -1;
        if (!relp__token_bytes(tok, ids[i], &nb) || nb < 0) abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct relp_file f = {"tokenizer.json", data, size};
    struct relp_tokenizer *tok = NULL;
    char err[RELP_ERROR_LEN];
    err[0] = '\0';
    if (relp__tokenizer_init_json(&tok, &f, NULL, err) != RELP_STATUS_OK) {
        if (!err[0]) abort(); /* a refusal must say why */
        return 0;
    }
    static const char text[] = "Hello world, it's 2026! caf\xc3\xa9 e\xcc\x81 \xe4\xb8\xad\xe6\x96\x87 \r\n\n  x";
    encode(tok, text, sizeof text - 1);
    encode(tok, (const char *)data + size / 2, size - size / 2);
    relp__tokenizer_free(tok);
    return 0;
}
