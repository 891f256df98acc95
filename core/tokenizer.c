/* tokenizer.c - byte-level BPE, encode and decode, for GPT-2's vocab.json +
 * merges.txt and for Hugging Face tokenizer.json files (the part that reads
 * those is tokenizer_json.c).
 *
 * Encoding: the text is split at added (special) tokens (tokenizer.json:
 * leftmost-longest, honouring lstrip / rstrip), each piece is normalized
 * (NFC when tokenizer.json says so), pre-tokenized by the pipeline of
 * pre-tokenizer stages, and each pre-token goes to BPE (bytes -> byte-level
 * symbols -> merges by rank; with ignore_merges a pre-token that is a whole
 * vocabulary entry is that token). The stages are matched by hand, the
 * alternatives of each pattern tried in order, with the classes of
 * unicode.h:
 *   GPT-2      's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama 3    (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
 *              \s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen2      the same with \p{N} one at a time
 *   Digits     numbers isolated, one by one or in runs
 * The merge loop uses a heap, O(n log n) per pre-token, so a 100,000-character
 * word cannot stall it. Invalid UTF-8 bytes are their own "other" class
 * characters: they still become tokens (every byte has one) and decode back
 * to the same bytes. GPT-2's files (as OpenAI's encoder.py) do not treat
 * "<|endoftext|>" in text as special; tokenizer.json's added tokens are. */
#include "internal.h"

#include "tokenizer.h"
#include "unicode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------- byte mapping */

/* GPT-2's bytes_to_unicode(): printable bytes map to themselves, the others
 * to 256 + n in byte order. */
void relp__byte_encoder(uint32_t enc[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        enc[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

/* ------------------------------------------------------ pre-tokenizers */

/* GPT-2's pattern: the end of the pre-token starting at byte i (the first
 * alternative that matches there). */
static int64_t gpt2_end(const unsigned char *s, int64_t n, int64_t i) {
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    uint32_t cp;
    int len = relp__utf8_next(s + i, n - i, &cp);
    enum relp_cls c = relp__classify(cp);
    /* " ?X+" for X in letter, number, other: an optional leading space */
    int64_t j = i;
    enum relp_cls x = c;
    if (s[i] == ' ' && i + 1 < n) {
        uint32_t cp2;
        relp__utf8_next(s + i + 1, n - i - 1, &cp2);
        enum relp_cls c2 = relp__classify(cp2);
        if (c2 != RELP_CLS_SPACE) { j = i + 1; x = c2; }
    }
    if (x != RELP_CLS_SPACE) {
        while (j < n) {
            uint32_t cpj;
            int lj = relp__utf8_next(s + j, n - j, &cpj);
            if (relp__classify(cpj) != x) break;
            j += lj;
        }
        return j;
    }
    /* whitespace: \s+(?!\S) then \s+ */
    int64_t k = i, last = i;
    int count = 0;
    (void)len;
    while (k < n) {
        uint32_t cpk;
        int lk = relp__utf8_next(s + k, n - k, &cpk);
        if (relp__classify(cpk) != RELP_CLS_SPACE) break;
        last = k;
        k += lk;
        count++;
    }
    if (k == n || count == 1) return k;
    return last; /* leave the last space to prefix the next word */
}

/* Llama 3's pattern (digits: 3) and Qwen2's (digits: 1). */
static int64_t llama3_end(const unsigned char *s, int64_t n, int64_t i, int digits) {
    uint32_t c, c2 = RELP_CP_INVALID;
    int l = relp__utf8_next(s + i, n - i, &c);
    if (i + l < n) relp__utf8_next(s + i + l, n - i - l, &c2);
    const enum relp_cls k = relp__classify(c), k2 = i + l < n ? relp__classify(c2) : RELP_CLS_OTHER;
    /* (?i:'s|'t|'re|'ve|'m|'ll|'d) */
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char a = (unsigned char)(s[i + 1] | 32), b = i + 2 < n ? (unsigned char)(s[i + 2] | 32) : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    int64_t j = -1;
    if (k == RELP_CLS_LETTER) j = i;
    else if (c != '\r' && c != '\n' && k != RELP_CLS_NUMBER && i + l < n && k2 == RELP_CLS_LETTER) j = i + l;
    if (j >= 0) {
        while (j < n) {
            uint32_t cj;
            int lj = relp__utf8_next(s + j, n - j, &cj);
            if (relp__classify(cj) != RELP_CLS_LETTER) break;
            j += lj;
        }
        return j;
    }
    /* \p{N}{1,digits} */
    if (k == RELP_CLS_NUMBER) {
        j = i;
        for (int d = 0; d < digits && j < n; d++) {
            uint32_t cj;
            int lj = relp__utf8_next(s + j, n - j, &cj);
            if (relp__classify(cj) != RELP_CLS_NUMBER) break;
            j += lj;
        }
        return j;
    }
    /* ' ?[^\s\p{L}\p{N}]+[\r\n]*' */
    j = i;
    if (c == ' ' && i + 1 < n && k2 == RELP_CLS_OTHER) j = i + 1;
    if (j > i || k == RELP_CLS_OTHER) {
        while (j < n) {
            uint32_t cj;
            int lj = relp__utf8_next(s + j, n - j, &cj);
            if (relp__classify(cj) != RELP_CLS_OTHER) break;
            j += lj;
        }
        while (j < n && (s[j] == '\r' || s[j] == '\n')) j++;
        return j;
    }
    /* whitespace: \s*[\r\n]+ (up to the run's last newline), \s+(?!\S), \s+ */
    int64_t e = i, last_nl = -1;
    int count = 0;
    while (e < n) {
        uint32_t ce;
        int le = relp__utf8_next(s + e, n - e, &ce);
        if (relp__classify(ce) != RELP_CLS_SPACE) break;
        if (ce == '\r' || ce == '\n') last_nl = e;
        j = e; /* start of the run's last character */
        e += le;
        count++;
    }
    if (last_nl >= 0) return last_nl + 1;
    if (e == n || count == 1) return e;
    return j; /* leave the last space to the next word */
}

/* Digits: the end of the piece at i - a number (one digit, or a run) or a run of non-numbers */
static int64_t digits_end(const unsigned char *s, int64_t n, int64_t i, int each) {
    uint32_t c;
    int l = relp__utf8_next(s + i, n - i, &c);
    const int num = relp__classify(c) == RELP_CLS_NUMBER;
    if (num && each) return i + l;
    int64_t j = i + l;
    while (j < n) {
        uint32_t cj;
        int lj = relp__utf8_next(s + j, n - j, &cj);
        if ((relp__classify(cj) == RELP_CLS_NUMBER) != num) break;
        j += lj;
    }
    return j;
}

static int64_t stage_end(int stage, const unsigned char *s, int64_t n, int64_t i) {
    switch (stage) {
    case RELP_PRE_GPT2: return gpt2_end(s, n, i);
    case RELP_PRE_LLAMA3: return llama3_end(s, n, i, 3);
    case RELP_PRE_QWEN2: return llama3_end(s, n, i, 1);
    case RELP_PRE_DIGITS: return digits_end(s, n, i, 0);
    case RELP_PRE_DIGITS_EACH: return digits_end(s, n, i, 1);
    }
    return n;
}

/* ------------------------------------------------------------ hashing */

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int relp__str_map_init(struct relp__str_map *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->mask = (uint32_t)(cap - 1);
    m->keys = calloc(cap, sizeof *m->keys);
    m->lens = calloc(cap, sizeof *m->lens);
    m->ids = calloc(cap, sizeof *m->ids);
    return m->keys && m->lens && m->ids ? 0 : -1;
}

void relp__str_map_free(struct relp__str_map *m) {
    free(m->keys);
    free(m->lens);
    free(m->ids);
    memset(m, 0, sizeof *m);
}

int32_t relp__str_map_put(struct relp__str_map *m, const char *k, size_t n, int32_t id) {
    uint32_t h = (uint32_t)hash_bytes(k, n) & m->mask;
    while (m->keys[h]) {
        if (m->lens[h] == n && memcmp(m->keys[h], k, n) == 0) return m->ids[h];
        h = (h + 1) & m->mask;
    }
    m->keys[h] = k;
    m->lens[h] = n;
    m->ids[h] = id;
    return -1;
}

int32_t relp__str_map_get(const struct relp__str_map *m, const char *k, size_t n) {
    if (!m->keys) return -1;
    uint32_t h = (uint32_t)hash_bytes(k, n) & m->mask;
    while (m->keys[h]) {
        if (m->lens[h] == n && memcmp(m->keys[h], k, n) == 0) return m->ids[h];
        h = (h + 1) & m->mask;
    }
    return -1;
}

static int32_t merge_find(const struct relp_tokenizer *t, int32_t a, int32_t b, int32_t *merged) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    uint32_t h = (uint32_t)mix64(key) & t->mmask;
    while (t->mkeys[h] != UINT64_MAX) {
        if (t->mkeys[h] == key) {
            *merged = t->mid[h];
            return t->mrank[h];
        }
        h = (h + 1) & t->mmask;
    }
    return -1;
}

/* ------------------------------------------------------------ loading */

static size_t put_utf8(char *o, uint32_t cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
    return 3;
}

enum relp_status relp__tokenizer_vocab(struct relp_tokenizer *t, const struct relp_json_doc *doc,
                                       const struct relp_json_value *vocab, const char *file,
                                       const struct relp__raw_token *raw, int32_t n_raw, struct relp__str_map *map,
                                       char *err) {
    if (vocab->type != RELP_JSON_OBJECT || vocab->n_children == 0)
        return relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: expected a non-empty JSON object {token: id}", file);
    uint32_t dec[324]; /* byte-level code point -> byte */
    uint32_t enc[256];
    relp__byte_encoder(enc);
    for (int i = 0; i < 324; i++) dec[i] = 0xFFFFFFFFu;
    for (int b = 0; b < 256; b++) dec[enc[b]] = (uint32_t)b;
    int64_t max_id = -1;
    size_t total = 0;
    for (const struct relp_json_value *e = relp_json_first(doc, vocab); e; e = relp_json_next(doc, e)) {
        int64_t id;
        if (relp_json_int(e, 0, (1 << 24) - 1, &id))
            return relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: id of token '%.40s' is not an integer in [0, 2^24)",
                              file, e->key);
        if (id > max_id) max_id = id;
        total += e->key_len;
    }
    for (int32_t i = 0; i < n_raw; i++) {
        if (raw[i].id > max_id) max_id = raw[i].id;
        total += raw[i].len;
    }
    t->n_vocab = (int32_t)max_id + 1;
    t->tok_off = calloc((size_t)t->n_vocab + 1, sizeof *t->tok_off);
    t->tok_bytes = malloc(total + 1);
    uint32_t *len_of = calloc((size_t)t->n_vocab, sizeof *len_of);
    const char **src_of = calloc((size_t)t->n_vocab, sizeof *src_of);
    uint8_t *is_raw = calloc((size_t)t->n_vocab, 1);
    enum relp_status st = RELP_STATUS_OK;
    if (!t->tok_off || !t->tok_bytes || !len_of || !src_of || !is_raw ||
        relp__str_map_init(map, (size_t)vocab->n_children)) {
        st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    /* decode every key to bytes; fill offsets in id order */
    for (const struct relp_json_value *e = relp_json_first(doc, vocab); e; e = relp_json_next(doc, e)) {
        int32_t id = (int32_t)e->num;
        if (src_of[id] || relp__str_map_put(map, e->key, e->key_len, id) >= 0) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: id %d or token '%.40s' appears twice", file, id, e->key);
            goto out;
        }
        src_of[id] = e->key;
        len_of[id] = (uint32_t)e->key_len;
    }
    for (int32_t i = 0; i < n_raw; i++) /* added tokens: their text as it is, unless the vocabulary has the id */
        if (!src_of[raw[i].id]) {
            src_of[raw[i].id] = raw[i].text;
            len_of[raw[i].id] = (uint32_t)raw[i].len;
            is_raw[raw[i].id] = 1;
        }
    size_t o = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->tok_off[id] = (uint32_t)o;
        const unsigned char *k = (const unsigned char *)src_of[id];
        int64_t n = len_of[id], i = 0;
        int byte_level = !is_raw[id];
        for (int64_t q = 0; k && byte_level && q < n;) { /* all chars in the byte map? */
            uint32_t cp;
            q += relp__utf8_next(k + q, n - q, &cp);
            if (cp >= 324 || dec[cp] == 0xFFFFFFFFu) byte_level = 0;
        }
        while (k && i < n) {
            uint32_t cp;
            int l = relp__utf8_next(k + i, n - i, &cp);
            if (byte_level) t->tok_bytes[o++] = (char)dec[cp];
            else { memcpy(t->tok_bytes + o, k + i, (size_t)l); o += (size_t)l; }
            i += l;
        }
    }
    t->tok_off[t->n_vocab] = (uint32_t)o;
    for (int b = 0; b < 256; b++) {
        char key[4];
        size_t kl = put_utf8(key, enc[b]);
        t->byte_id[b] = relp__str_map_get(map, key, kl);
        if (t->byte_id[b] < 0) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                            "%s: no token for byte 0x%02X; a byte-level BPE vocabulary has all 256", file, b);
            goto out;
        }
    }
out:
    free(len_of);
    free(src_of);
    free(is_raw);
    return st;
}

int relp__tokenizer_merges_alloc(struct relp_tokenizer *t, size_t n) {
    size_t cap = 16;
    while (cap < 2 * (n + 1)) cap *= 2;
    t->mmask = (uint32_t)(cap - 1);
    t->mkeys = malloc(cap * sizeof *t->mkeys);
    t->mrank = malloc(cap * sizeof *t->mrank);
    t->mid = malloc(cap * sizeof *t->mid);
    if (!t->mkeys || !t->mrank || !t->mid) return -1;
    memset(t->mkeys, 0xFF, cap * sizeof *t->mkeys);
    return 0;
}

int relp__tokenizer_merge(struct relp_tokenizer *t, const struct relp__str_map *map, const char *a, size_t la,
                          const char *b, size_t lb, char *cat, int32_t rank) {
    int32_t ia = relp__str_map_get(map, a, la), ib = relp__str_map_get(map, b, lb);
    memcpy(cat, a, la);
    memcpy(cat + la, b, lb);
    int32_t iab = relp__str_map_get(map, cat, la + lb);
    if (ia < 0 || ib < 0 || iab < 0) return -1;
    uint64_t key = ((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib;
    uint32_t h = (uint32_t)mix64(key) & t->mmask;
    while (t->mkeys[h] != UINT64_MAX && t->mkeys[h] != key) h = (h + 1) & t->mmask;
    if (t->mkeys[h] == UINT64_MAX) { /* first occurrence wins, as in encoder.py's dict */
        t->mkeys[h] = key;
        t->mrank[h] = rank;
        t->mid[h] = iab;
    }
    return 0;
}

/* GPT-2's files: vocab.json {token: id} and merges.txt "left right" per line */
enum relp_status relp__tokenizer_init(struct relp_tokenizer **out, const struct relp_file *vocab,
                                      const struct relp_file *merges, char *err) {
    enum relp_status st = RELP_STATUS_OK;
    struct relp_json_doc doc;
    struct relp__str_map map = {0};
    struct relp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
    t->stages[t->n_stages++] = RELP_PRE_GPT2;
    t->bos_id = -1;
    t->gpt2_bos = 1;
    if (relp_json_parse(&doc, vocab->data, vocab->size)) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", vocab->name, doc.error);
        goto out;
    }
    if ((st = relp__tokenizer_vocab(t, &doc, &doc.v[0], vocab->name, NULL, 0, &map, err))) goto out;
    if (t->n_vocab > RELP_TOKEN_EOT) t->bos_id = RELP_TOKEN_EOT;
    /* merges: "left right" per line, after an optional "#version" line */
    const char *m = merges->data;
    size_t mn = merges->size, n_lines = 0;
    for (size_t i = 0; i < mn; i++) n_lines += m[i] == '\n';
    char *cat = malloc(mn + 1);
    if (!cat || relp__tokenizer_merges_alloc(t, n_lines)) {
        free(cat);
        st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    int32_t rank = 0;
    size_t line_no = 0;
    for (size_t i = 0; i < mn;) {
        size_t e = i;
        while (e < mn && m[e] != '\n') e++;
        size_t end = e;
        if (end > i && m[end - 1] == '\r') end--;
        line_no++;
        if (end > i && !(line_no == 1 && end - i >= 8 && memcmp(m + i, "#version", 8) == 0)) {
            const char *sp = memchr(m + i, ' ', end - i);
            int ok = sp && sp > m + i && sp + 1 < m + end && !memchr(sp + 1, ' ', (size_t)(m + end - sp - 1));
            if (!ok || relp__tokenizer_merge(t, &map, m + i, (size_t)(sp - (m + i)), sp + 1,
                                             (size_t)(m + end - sp - 1), cat, rank)) {
                free(cat);
                st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                                "%s: line %zu is not \"left right\" with both parts and their concatenation in %s",
                                merges->name, line_no, vocab->name);
                goto out;
            }
            rank++;
        }
        i = e + 1;
    }
    free(cat);
out:
    relp_json_free(&doc);
    relp__str_map_free(&map);
    if (st) relp__tokenizer_free(t);
    else *out = t;
    return st;
}

void relp__tokenizer_free(struct relp_tokenizer *t) {
    if (!t) return;
    free(t->tok_off);
    free(t->tok_bytes);
    free(t->mkeys);
    free(t->mrank);
    free(t->mid);
    free(t->added);
    free(t->added_text);
    relp__str_map_free(&t->words);
    free(t);
}

int32_t relp__tokenizer_size(const struct relp_tokenizer *t) { return t->n_vocab; }

const char *relp__token_bytes(const struct relp_tokenizer *t, int32_t id, int32_t *n) {
    if (!t || id < 0 || id >= t->n_vocab) return NULL;
    *n = (int32_t)(t->tok_off[id + 1] - t->tok_off[id]);
    return t->tok_bytes + t->tok_off[id];
}

/* ------------------------------------------------------------ BPE */

struct heap_item {
    int32_t rank, pos, right, left_id, right_id;
};

static int item_less(const struct heap_item *a, const struct heap_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(struct heap_item *h, int64_t *n, struct heap_item it) {
    int64_t i = (*n)++;
    h[i] = it;
    while (i > 0) {
        int64_t p = (i - 1) / 2;
        if (!item_less(&h[i], &h[p])) break;
        struct heap_item tmp = h[i]; h[i] = h[p]; h[p] = tmp;
        i = p;
    }
}

static struct heap_item heap_pop(struct heap_item *h, int64_t *n) {
    struct heap_item top = h[0];
    h[0] = h[--(*n)];
    int64_t i = 0;
    for (;;) {
        int64_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < *n && item_less(&h[l], &h[m])) m = l;
        if (r < *n && item_less(&h[r], &h[m])) m = r;
        if (m == i) break;
        struct heap_item tmp = h[i]; h[i] = h[m]; h[m] = tmp;
        i = m;
    }
    return top;
}

/* Scratch for one pre-token of n bytes. */
struct bpe_scratch {
    int32_t *sym, *prev, *next;
    struct heap_item *heap;
    int64_t cap;
};

static int scratch_reserve(struct bpe_scratch *s, int64_t n) {
    if (n <= s->cap) return 0;
    int64_t cap = n < 64 ? 64 : n;
    int32_t *a = realloc(s->sym, (size_t)cap * 4), *b, *c;
    if (!a) return -1;
    s->sym = a;
    if (!(b = realloc(s->prev, (size_t)cap * 4))) return -1;
    s->prev = b;
    if (!(c = realloc(s->next, (size_t)cap * 4))) return -1;
    s->next = c;
    /* each merge pushes at most 2 items: n initial + 2n */
    struct heap_item *h = realloc(s->heap, (size_t)(3 * cap) * sizeof *h);
    if (!h) return -1;
    s->heap = h;
    s->cap = cap;
    return 0;
}

static void push_pair(const struct relp_tokenizer *t, struct bpe_scratch *s, int64_t *hn, int32_t i) {
    int32_t j = s->next[i];
    if (i < 0 || j < 0) return;
    int32_t merged;
    int32_t r = merge_find(t, s->sym[i], s->sym[j], &merged);
    if (r < 0) return;
    struct heap_item it = {r, i, j, s->sym[i], s->sym[j]};
    heap_push(s->heap, hn, it);
}

/* BPE of bytes w[0..n); appends ids (counting past cap). */
static int bpe_word(const struct relp_tokenizer *t, struct bpe_scratch *s, const unsigned char *w, int32_t n,
                    int32_t *ids, int64_t cap, int64_t *count) {
    if (scratch_reserve(s, n)) return -1;
    for (int32_t i = 0; i < n; i++) {
        s->sym[i] = t->byte_id[w[i]];
        s->prev[i] = i - 1;
        s->next[i] = i + 1 < n ? i + 1 : -1;
    }
    int64_t hn = 0;
    for (int32_t i = 0; i + 1 < n; i++) push_pair(t, s, &hn, i);
    while (hn > 0) {
        struct heap_item it = heap_pop(s->heap, &hn);
        int32_t i = it.pos, j = it.right;
        if (s->sym[i] != it.left_id || s->next[i] != j || s->sym[j] != it.right_id) continue; /* stale */
        int32_t merged = -1;
        merge_find(t, s->sym[i], s->sym[j], &merged);
        s->sym[i] = merged;
        s->sym[j] = -1;
        s->next[i] = s->next[j];
        if (s->next[j] >= 0) s->prev[s->next[j]] = i;
        if (s->prev[i] >= 0) push_pair(t, s, &hn, s->prev[i]);
        push_pair(t, s, &hn, i);
    }
    for (int32_t i = 0; i >= 0; i = s->next[i]) {
        if (*count < cap) ids[*count] = s->sym[i];
        (*count)++;
    }
    return 0;
}

/* ------------------------------------------------------------ encoding */

struct encoder {
    const struct relp_tokenizer *t;
    struct bpe_scratch sc;
    int32_t *ids;
    int64_t cap, count;
};

static void emit(struct encoder *e, int32_t id) {
    if (e->count < e->cap) e->ids[e->count] = id;
    e->count++;
}

/* one pre-token: a whole-vocabulary match (ignore_merges), else BPE */
static int encode_word(struct encoder *e, const unsigned char *w, int64_t n) {
    if (n <= 0) return 0;
    if (e->t->ignore_merges) {
        int32_t id = relp__str_map_get(&e->t->words, (const char *)w, (size_t)n);
        if (id >= 0) {
            emit(e, id);
            return 0;
        }
    }
    return bpe_word(e->t, &e->sc, w, (int32_t)n, e->ids, e->cap, &e->count);
}

/* s[a, b) through the pre-tokenizer stages from stage k on */
static int pretokenize(struct encoder *e, const unsigned char *s, int64_t a, int64_t b, int k) {
    if (k >= e->t->n_stages || k >= (int)sizeof e->t->stages) return encode_word(e, s + a, b - a);
    for (int64_t i = a; i < b;) {
        int64_t j = stage_end(e->t->stages[k], s, b, i);
        if (j <= i) j = i + 1; /* never: every stage consumes */
        if (pretokenize(e, s, i, j, k + 1)) return -1;
        i = j;
    }
    return 0;
}

static int is_space_at(const unsigned char *s, int64_t n, int64_t i, int64_t *len) {
    uint32_t c;
    int l = relp__utf8_next(s + i, n - i, &c);
    *len = l;
    return relp__classify(c) == RELP_CLS_SPACE;
}

/* the added token (of the normalized ones or the others) starting at s[i], longest first */
static const struct relp__added *added_at(const struct relp_tokenizer *t, const unsigned char *s, int64_t n, int64_t i,
                                          int normalized) {
    const struct relp__added *best = NULL;
    for (int32_t k = 0; k < t->n_added; k++) {
        const struct relp__added *a = &t->added[k];
        if (a->normalized != normalized || a->len > n - i || (best && a->len <= best->len)) continue;
        if (memcmp(s + i, t->added_text + a->off, a->len) == 0) best = a;
    }
    return best;
}

/* the text between added tokens: normalized, split at the normalized added
 * tokens, each piece with its prefix space through the pre-tokenizers */
static int encode_plain(struct encoder *e, const unsigned char *s, int64_t n);

static int encode_segment(struct encoder *e, const unsigned char *s, int64_t n) {
    const struct relp_tokenizer *t = e->t;
    if (n <= 0) return 0;
    if (!t->add_prefix_space || s[0] == ' ') return pretokenize(e, s, 0, n, 0);
    unsigned char *buf = malloc((size_t)n + 1);
    if (!buf) return -1;
    buf[0] = ' ';
    memcpy(buf + 1, s, (size_t)n);
    int rc = pretokenize(e, buf, 0, n + 1, 0);
    free(buf);
    return rc;
}

/* Splits s[0, n) at the added tokens of one kind (leftmost, longest), with
 * their lstrip / rstrip on the neighbouring text; the text between goes to
 * next(): normalization and the normalized added tokens, or the
 * pre-tokenizers. */
static int split_added(struct encoder *e, const unsigned char *s, int64_t n, int normalized) {
    const struct relp_tokenizer *t = e->t;
    int64_t start = 0, i = 0;
    int strip_next = 0;
    while (i <= n) {
        const struct relp__added *a = i < n ? added_at(t, s, n, i, normalized) : NULL;
        if (!a && i < n) {
            i++;
            continue;
        }
        int64_t a0 = start, a1 = i; /* the text before the token (or the rest) */
        int64_t sl;
        if (strip_next)
            while (a0 < a1 && is_space_at(s, a1, a0, &sl)) a0 += sl;
        if (a && a->lstrip) { /* strip trailing whitespace of the text before */
            int64_t q = a0, keep = a0;
            while (q < a1) {
                int space = is_space_at(s, a1, q, &sl);
                q += sl;
                if (!space) keep = q;
            }
            a1 = keep;
        }
        int rc = normalized ? encode_segment(e, s + a0, a1 - a0) : encode_plain(e, s + a0, a1 - a0);
        if (rc) return -1;
        if (!a) break;
        emit(e, a->id);
        i += a->len;
        start = i;
        strip_next = a->rstrip;
    }
    return 0;
}

static int encode_plain(struct encoder *e, const unsigned char *s, int64_t n) {
    if (n <= 0) return 0;
    if (!e->t->nfc) return e->t->n_added ? split_added(e, s, n, 1) : encode_segment(e, s, n);
    unsigned char *buf = malloc(3 * (size_t)n + 4);
    if (!buf) return -1;
    int64_t m = relp__nfc(s, n, buf);
    int rc = m < 0 ? -1 : e->t->n_added ? split_added(e, buf, m, 1) : encode_segment(e, buf, m);
    free(buf);
    return rc;
}

enum relp_status relp__tokenize(const struct relp_tokenizer *t, const char *text, int64_t len, int32_t add_bos,
                                int32_t *ids, int64_t cap, int64_t *n_out, char *err) {
    if (!text) return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "no text given");
    if (len < 0) len = (int64_t)strlen(text);
    if (len > INT32_MAX / 4) return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "text of %lld bytes is too long", (long long)len);
    struct encoder e = {t, {0}, ids, cap, 0};
    if (add_bos && t->gpt2_bos && t->bos_id < 0)
        return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "vocabulary has no <|endoftext|> (id %d) for BOS",
                          RELP_TOKEN_EOT);
    if (add_bos && t->bos_id >= 0 && (t->gpt2_bos || t->add_bos)) emit(&e, t->bos_id);
    const unsigned char *s = (const unsigned char *)text;
    int rc = t->n_added ? split_added(&e, s, len, 0) : encode_plain(&e, s, len);
    free(e.sc.sym); free(e.sc.prev); free(e.sc.next); free(e.sc.heap);
    if (rc) return relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory while tokenizing");
    *n_out = e.count;
    if (e.count > cap)
        return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "text is %lld tokens, more than the %lld that fit",
                          (long long)e.count, (long long)cap);
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------------ public */

enum relp_status relp_tokenize(struct relp_model *m, const char *text, int64_t len, int32_t add_bos, int32_t *ids,
                               int64_t cap, int64_t *n_out) {
    if (!m) return RELP_STATUS_BAD_ARGUMENT;
    if (!m->tok)
        return relp__fail(m->error, RELP_STATUS_NO_TOKENIZER,
                          "model has no tokenizer (expected tokenizer.json, or vocab.json + merges.txt, beside the "
                          "checkpoint)");
    int64_t dummy;
    return relp__tokenize(m->tok, text, len, add_bos, ids, cap < 0 ? 0 : cap, n_out ? n_out : &dummy, m->error);
}

const char *relp_token_bytes(const struct relp_model *m, int32_t id, int32_t *n) {
    int32_t dummy;
    return m ? relp__token_bytes(m->tok, id, n ? n : &dummy) : NULL;
}

int32_t relp_token_bos(const struct relp_model *m) {
    if (!m || !m->tok) return -1;
    return m->tok->bos_id >= 0 && (m->tok->gpt2_bos || m->tok->add_bos) ? m->tok->bos_id : -1;
}
