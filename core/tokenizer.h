/* tokenizer.h - the tokenizer's insides, shared by tokenizer.c (BPE,
 * encoding, GPT-2's vocab.json + merges.txt) and tokenizer_json.c
 * (tokenizer.json). Internal. */
#ifndef RELP_TOKENIZER_H
#define RELP_TOKENIZER_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* pre-tokenizer stages (tokenizer.c describes each pattern) */
enum relp_pre { RELP_PRE_GPT2 = 1, RELP_PRE_LLAMA3, RELP_PRE_QWEN2, RELP_PRE_DIGITS, RELP_PRE_DIGITS_EACH };

/* string -> id, open addressing; keys are borrowed */
struct relp__str_map {
    const char **keys;
    size_t *lens;
    int32_t *ids;
    uint32_t mask;
};
int relp__str_map_init(struct relp__str_map *m, size_t n);
void relp__str_map_free(struct relp__str_map *m);
int32_t relp__str_map_put(struct relp__str_map *m, const char *k, size_t n, int32_t id); /* existing id or -1 */
int32_t relp__str_map_get(const struct relp__str_map *m, const char *k, size_t n);

/* an added (special) token: matched in the text before pre-tokenization */
struct relp__added {
    uint32_t off, len; /* its text in added_text */
    int32_t id;
    uint8_t lstrip, rstrip, normalized, special;
};

struct relp_tokenizer {
    int32_t n_vocab;
    uint32_t *tok_off;    /* (n_vocab + 1) offsets into tok_bytes; empty for unused ids */
    char *tok_bytes;      /* decoded bytes of every token */
    int32_t byte_id[256]; /* token of each single byte */
    /* merges: open-addressing map (left << 32 | right) -> (rank, merged id) */
    uint64_t *mkeys;      /* UINT64_MAX = empty */
    int32_t *mrank, *mid;
    uint32_t mmask;
    /* the pipeline */
    uint8_t stages[4];    /* enum relp_pre, applied in order */
    int32_t n_stages;
    int nfc;              /* normalizer: NFC */
    int add_prefix_space; /* ByteLevel add_prefix_space */
    int ignore_merges;    /* a pre-token that is a vocabulary entry is that token */
    struct relp__str_map words; /* token bytes -> id (ignore_merges) */
    struct relp__added *added;
    int32_t n_added;
    char *added_text;
    int32_t bos_id;       /* the BOS token, or -1 */
    int add_bos;          /* tokenizer.json: the tokenizer prepends BOS (post-processor or add_bos_token) */
    int gpt2_bos;         /* GPT-2's files: add_bos prepends <|endoftext|> (TransformerLens' convention) */
};

/* the 256 bytes' byte-level code points (GPT-2's bytes_to_unicode) */
void relp__byte_encoder(uint32_t enc[256]);

/* an added token's raw text for relp__tokenizer_vocab */
struct relp__raw_token {
    int32_t id;
    const char *text;
    size_t len;
};
/* Reads a {token: id} object into t (n_vocab, tok_off, tok_bytes, byte_id),
 * plus raw tokens whose ids the object lacks; map: byte-level token -> id. */
enum relp_status relp__tokenizer_vocab(struct relp_tokenizer *t, const struct relp_json_doc *doc,
                                       const struct relp_json_value *vocab, const char *file,
                                       const struct relp__raw_token *raw, int32_t n_raw, struct relp__str_map *map,
                                       char *err);
int relp__tokenizer_merges_alloc(struct relp_tokenizer *t, size_t n);
/* merge a + b (byte-level strings) with this rank; cat: la + lb bytes of scratch. -1 if a, b or a+b is no token */
int relp__tokenizer_merge(struct relp_tokenizer *t, const struct relp__str_map *map, const char *a, size_t la,
                          const char *b, size_t lb, char *cat, int32_t rank);

#endif
