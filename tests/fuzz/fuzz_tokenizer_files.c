/* fuzz_tokenizer_files.c - the input is a vocab.json and a merges.txt (the
 * same parsers read encoder.json and vocab.bpe): the first two bytes give
 * the length of the vocab part, the rest is merges. A tokenizer that loads
 * must tokenize a fixed text and its own input without failing, and decode
 * what it encodes. */
#include "fuzz_common.h"
#include "internal.h"

static void roundtrip(const struct relp_tokenizer *tok, const char *text, size_t len) {
    int32_t ids[512];
    int64_t n = 0;
    char err[RELP_ERROR_LEN];
    if (len > 200) len = 200; /* ids per byte <= 1 */
    if (relp__tokenize(tok, text, (int64_t)len, 0, ids, 512, &n, err) != RELP_STATUS_OK) return;
    size_t o = 0;
    for (int64_t i = 0; i < n; i++) {
        int32_t nb = 0;
        const char *p = relp__token_bytes(tok, ids[i], &nb);
        if (!p || o + (size_t)nb > len || memcmp(text + o, p, (size_t)nb) != 0) {
            fprintf(stderr, "tokens do not decode to the input\n");
            abort();
        }
        o += (size_t)nb;
    }
    if (o != len) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    size_t nv = ((size_t)data[0] | (size_t)data[1] << 8);
    if (nv > size - 2) nv = size - 2;
    struct relp_file v = {"vocab.json", data + 2, nv}, mg = {"merges.txt", data + 2 + nv, size - 2 - nv};
    struct relp_tokenizer *tok = NULL;
    char err[RELP_ERROR_LEN];
    err[0] = '\0';
    if (relp__tokenizer_init(&tok, &v, &mg, err) != RELP_STATUS_OK) {
        if (!err[0]) abort(); /* a refusal must say why */
        return 0;
    }
    static const char text[] = "Hello world, it's 2026!";
    int32_t ids[64];
    int64_t n = 0;
    /* a vocabulary without some byte cannot encode every text: that is refused, not crashed on */
    relp__tokenize(tok, text, -1, 1, ids, 64, &n, err);
    roundtrip(tok, (const char *)data + 2 + nv, size - 2 - nv);
    relp__tokenizer_free(tok);
    return 0;
}
