/* tokenizer.c - GPT-2 byte-level BPE, encode and decode.
 *
 * Exactly OpenAI's encoder.py: text -> pre-tokens by the pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * (matched by hand below, alternatives tried in order, with the classes of
 * unicode_tables.h) -> bytes -> byte-level symbols -> merges by rank. The
 * merge loop uses a heap, O(n log n) per pre-token, so a 100,000-character
 * word cannot stall it. Invalid UTF-8 bytes are their own "other" class
 * characters: they still become tokens (every byte has one) and decode back
 * to the same bytes. Vocabulary: vocab.json/encoder.json; merges:
 * merges.txt/vocab.bpe. Does not: treat "<|endoftext|>" in text as special
 * (encoder.py does not either). */
#include "internal.h"

#include "unicode_tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct relp_tokenizer {
    int32_t n_vocab;
    uint32_t *tok_off;    /* (n_vocab + 1) offsets into tok_bytes; empty for unused ids */
    char *tok_bytes;      /* decoded bytes of every token */
    int32_t byte_id[256]; /* token of each single byte */
    /* merges: open-addressing map (left << 32 | right) -> (rank, merged id) */
    uint64_t *mkeys;      /* UINT64_MAX = empty */
    int32_t *mrank, *mid;
    uint32_t mmask;
};

/* ---------------------------------------------------------- byte mapping */

/* GPT-2's bytes_to_unicode(): printable bytes map to themselves, the others
 * to 256 + n in byte order. */
static void byte_encoder(uint32_t enc[256]) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        enc[b] = printable ? (uint32_t)b : (uint32_t)(256 + n++);
    }
}

/* Decodes one UTF-8 code point at s[0..n); returns its length, or 1 with
 * *cp = 0xFFFFFFFF for an invalid sequence. */
static int utf8_next(const unsigned char *s, int64_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (len == 0 || len > n) { *cp = 0xFFFFFFFFu; return 1; }
    uint32_t v = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = 0xFFFFFFFFu; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v < 0xE000))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF))) {
        *cp = 0xFFFFFFFFu;
        return 1;
    }
    *cp = v;
    return len;
}

static int in_table(const uint32_t (*t)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid][0]) hi = mid;
        else if (cp > t[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

enum cls { CLS_LETTER, CLS_NUMBER, CLS_SPACE, CLS_OTHER };

static enum cls classify(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 32) >= 'a' && (cp | 32) <= 'z') return CLS_LETTER;
        if (cp >= '0' && cp <= '9') return CLS_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return CLS_SPACE;
        return CLS_OTHER;
    }
    if (cp == 0xFFFFFFFFu) return CLS_OTHER;
#define IN(t) in_table(t, sizeof t / sizeof t[0], cp)
    if (IN(relp_unicode_letter)) return CLS_LETTER;
    if (IN(relp_unicode_number)) return CLS_NUMBER;
    if (IN(relp_unicode_space)) return CLS_SPACE;
#undef IN
    return CLS_OTHER;
}

/* End of the pre-token starting at byte i (the pattern's first match there). */
static int64_t pretoken_end(const unsigned char *s, int64_t n, int64_t i) {
    if (s[i] == '\'' && i + 1 < n) {
        unsigned char a = s[i + 1], b = i + 2 < n ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    uint32_t cp;
    int len = utf8_next(s + i, n - i, &cp);
    enum cls c = classify(cp);
    /* " ?X+" for X in letter, number, other: an optional leading space */
    int64_t j = i;
    enum cls x = c;
    if (s[i] == ' ' && i + 1 < n) {
        uint32_t cp2;
        utf8_next(s + i + 1, n - i - 1, &cp2);
        enum cls c2 = classify(cp2);
        if (c2 != CLS_SPACE) { j = i + 1; x = c2; }
    }
    if (x != CLS_SPACE) {
        while (j < n) {
            uint32_t cpj;
            int lj = utf8_next(s + j, n - j, &cpj);
            if (classify(cpj) != x) break;
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
        int lk = utf8_next(s + k, n - k, &cpk);
        if (classify(cpk) != CLS_SPACE) break;
        last = k;
        k += lk;
        count++;
    }
    if (k == n || count == 1) return k;
    return last; /* leave the last space to prefix the next word */
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

/* vocab lookup by the vocab file's key string (byte-encoded UTF-8) */
struct str_map {
    const char **keys;
    size_t *lens;
    int32_t *ids;
    uint32_t mask;
};

static int str_map_init(struct str_map *m, size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    m->mask = (uint32_t)(cap - 1);
    m->keys = calloc(cap, sizeof *m->keys);
    m->lens = calloc(cap, sizeof *m->lens);
    m->ids = calloc(cap, sizeof *m->ids);
    return m->keys && m->lens && m->ids ? 0 : -1;
}

static void str_map_free(struct str_map *m) {
    free(m->keys);
    free(m->lens);
    free(m->ids);
}

/* Returns the existing id, or inserts and returns -1. */
static int32_t str_map_put(struct str_map *m, const char *k, size_t n, int32_t id) {
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

static int32_t str_map_get(const struct str_map *m, const char *k, size_t n) {
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

enum relp_status relp__tokenizer_init(struct relp_tokenizer **out, const struct relp_file *vocab,
                                      const struct relp_file *merges, char *err) {
    enum relp_status st = RELP_STATUS_OK;
    struct relp_json_doc doc;
    struct str_map map = {0};
    struct relp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
    if (relp_json_parse(&doc, vocab->data, vocab->size)) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", vocab->name, doc.error);
        goto out;
    }
    const struct relp_json_value *root = &doc.v[0];
    if (root->type != RELP_JSON_OBJECT || root->n_children == 0) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: expected a non-empty JSON object {token: id}", vocab->name);
        goto out;
    }
    uint32_t dec[324]; /* byte-level code point -> byte */
    uint32_t enc[256];
    byte_encoder(enc);
    for (int i = 0; i < 324; i++) dec[i] = 0xFFFFFFFFu;
    for (int b = 0; b < 256; b++) dec[enc[b]] = (uint32_t)b;
    int64_t max_id = -1;
    size_t total = 0;
    for (const struct relp_json_value *e = relp_json_first(&doc, root); e; e = relp_json_next(&doc, e)) {
        int64_t id;
        if (relp_json_int(e, 0, (1 << 24) - 1, &id)) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: id of token '%.40s' is not an integer in [0, 2^24)",
                            vocab->name, e->key);
            goto out;
        }
        if (id > max_id) max_id = id;
        total += e->key_len;
    }
    t->n_vocab = (int32_t)max_id + 1;
    t->tok_off = calloc((size_t)t->n_vocab + 1, sizeof *t->tok_off);
    t->tok_bytes = malloc(total + 1);
    uint32_t *len_of = calloc((size_t)t->n_vocab, sizeof *len_of);
    char **src_of = calloc((size_t)t->n_vocab, sizeof *src_of);
    if (!t->tok_off || !t->tok_bytes || !len_of || !src_of || str_map_init(&map, (size_t)root->n_children)) {
        free(len_of);
        free(src_of);
        st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    /* decode every key to bytes; fill offsets in id order */
    for (const struct relp_json_value *e = relp_json_first(&doc, root); e; e = relp_json_next(&doc, e)) {
        int32_t id = (int32_t)e->num;
        if (src_of[id] || str_map_put(&map, e->key, e->key_len, id) >= 0) {
            free(len_of);
            free(src_of);
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: id %d or token '%.40s' appears twice", vocab->name, id,
                            e->key);
            goto out;
        }
        src_of[id] = (char *)e->key;
        len_of[id] = (uint32_t)e->key_len;
    }
    size_t o = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        t->tok_off[id] = (uint32_t)o;
        const unsigned char *k = (const unsigned char *)src_of[id];
        int64_t n = len_of[id], i = 0;
        int byte_level = 1;
        for (int64_t q = 0; k && q < n;) { /* all chars in the byte map? */
            uint32_t cp;
            q += utf8_next(k + q, n - q, &cp);
            if (cp >= 324 || dec[cp] == 0xFFFFFFFFu) byte_level = 0;
        }
        while (k && i < n) {
            uint32_t cp;
            int l = utf8_next(k + i, n - i, &cp);
            if (byte_level) t->tok_bytes[o++] = (char)dec[cp];
            else { memcpy(t->tok_bytes + o, k + i, (size_t)l); o += (size_t)l; }
            i += l;
        }
    }
    t->tok_off[t->n_vocab] = (uint32_t)o;
    free(len_of);
    free(src_of);
    for (int b = 0; b < 256; b++) {
        char key[4];
        size_t kl = put_utf8(key, enc[b]);
        t->byte_id[b] = str_map_get(&map, key, kl);
        if (t->byte_id[b] < 0) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                            "%s: no token for byte 0x%02X; a GPT-2 byte-level vocabulary has all 256", vocab->name, b);
            goto out;
        }
    }
    /* merges: "left right" per line, after an optional "#version" line */
    const char *m = merges->data;
    size_t mn = merges->size, n_lines = 0;
    for (size_t i = 0; i < mn; i++) n_lines += m[i] == '\n';
    size_t cap = 16;
    while (cap < 2 * (n_lines + 1)) cap *= 2;
    t->mmask = (uint32_t)(cap - 1);
    t->mkeys = malloc(cap * sizeof *t->mkeys);
    t->mrank = malloc(cap * sizeof *t->mrank);
    t->mid = malloc(cap * sizeof *t->mid);
    char *cat = malloc(mn + 1);
    if (!t->mkeys || !t->mrank || !t->mid || !cat) {
        free(cat);
        st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    memset(t->mkeys, 0xFF, cap * sizeof *t->mkeys);
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
            int32_t a = -1, b = -1, ab = -1;
            if (sp && sp > m + i && sp + 1 < m + end && !memchr(sp + 1, ' ', (size_t)(m + end - sp - 1))) {
                size_t la = (size_t)(sp - (m + i)), lb = (size_t)(m + end - sp - 1);
                a = str_map_get(&map, m + i, la);
                b = str_map_get(&map, sp + 1, lb);
                memcpy(cat, m + i, la);
                memcpy(cat + la, sp + 1, lb);
                ab = str_map_get(&map, cat, la + lb);
            }
            if (a < 0 || b < 0 || ab < 0) {
                free(cat);
                st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                                "%s: line %zu is not \"left right\" with both parts and their concatenation in %s",
                                merges->name, line_no, vocab->name);
                goto out;
            }
            uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
            uint32_t h = (uint32_t)mix64(key) & t->mmask;
            while (t->mkeys[h] != UINT64_MAX && t->mkeys[h] != key) h = (h + 1) & t->mmask;
            if (t->mkeys[h] == UINT64_MAX) { /* first occurrence wins, as in encoder.py's dict */
                t->mkeys[h] = key;
                t->mrank[h] = rank;
                t->mid[h] = ab;
            }
            rank++;
        }
        i = e + 1;
    }
    free(cat);
out:
    relp_json_free(&doc);
    str_map_free(&map);
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

enum relp_status relp__tokenize(const struct relp_tokenizer *t, const char *text, int64_t len, int32_t add_bos,
                                int32_t *ids, int64_t cap, int64_t *n_out, char *err) {
    if (!text) return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "no text given");
    if (len < 0) len = (int64_t)strlen(text);
    if (len > INT32_MAX / 4) return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "text of %lld bytes is too long", (long long)len);
    const unsigned char *s = (const unsigned char *)text;
    int64_t count = 0;
    if (add_bos) {
        if (t->n_vocab <= RELP_TOKEN_EOT)
            return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "vocabulary has no <|endoftext|> (id %d) for BOS",
                              RELP_TOKEN_EOT);
        if (cap > 0) ids[0] = RELP_TOKEN_EOT;
        count = 1;
    }
    struct bpe_scratch sc = {0};
    for (int64_t i = 0; i < len;) {
        int64_t e = pretoken_end(s, len, i);
        if (bpe_word(t, &sc, s + i, (int32_t)(e - i), ids, cap, &count)) {
            free(sc.sym); free(sc.prev); free(sc.next); free(sc.heap);
            return relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory while tokenizing");
        }
        i = e;
    }
    free(sc.sym); free(sc.prev); free(sc.next); free(sc.heap);
    *n_out = count;
    if (count > cap)
        return relp__fail(err, RELP_STATUS_BAD_ARGUMENT, "text is %lld tokens, more than the %lld that fit",
                          (long long)count, (long long)cap);
    return RELP_STATUS_OK;
}

/* ------------------------------------------------------------ public */

enum relp_status relp_tokenize(struct relp_model *m, const char *text, int64_t len, int32_t add_bos, int32_t *ids,
                               int64_t cap, int64_t *n_out) {
    if (!m) return RELP_STATUS_BAD_ARGUMENT;
    if (!m->tok)
        return relp__fail(m->error, RELP_STATUS_NO_TOKENIZER,
                          "model has no tokenizer (expected vocab.json + merges.txt beside the checkpoint)");
    int64_t dummy;
    return relp__tokenize(m->tok, text, len, add_bos, ids, cap < 0 ? 0 : cap, n_out ? n_out : &dummy, m->error);
}

const char *relp_token_bytes(const struct relp_model *m, int32_t id, int32_t *n) {
    int32_t dummy;
    return m ? relp__token_bytes(m->tok, id, n ? n : &dummy) : NULL;
}
