/* tokenizer_json.c - a Hugging Face tokenizer.json (and tokenizer_config.json)
 * into relp's tokenizer: byte-level BPE.
 *
 * Read: model (type BPE: vocab, merges as "a b" strings or [a, b] pairs,
 * ignore_merges), added_tokens (content, id, lstrip, rstrip, normalized,
 * special), normalizer (none or NFC), pre_tokenizer (ByteLevel with or
 * without GPT-2's pattern, Split by GPT-2's, Llama 3's or Qwen2's pattern,
 * Digits, and Sequences of those), post_processor (a TemplateProcessing
 * prefix is the BOS; ByteLevel and Sequence are read through). BOS without
 * a template: tokenizer_config.json's bos_token, prepended when its
 * add_bos_token is true. Anything else - another model type, another
 * pattern, byte fallback, a normalizer relp does not implement - is refused
 * with a message naming the file and what is supported: never silently
 * tokenized differently. The decoder is not read: tokens decode to their
 * bytes (byte-level) or, for added tokens, to their text. */
#include "tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the pre-tokenizer patterns relp implements, as tokenizer.json writes them */
static const struct {
    const char *regex;
    enum relp_pre stage;
} patterns[] = {
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", RELP_PRE_GPT2},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+",
     RELP_PRE_LLAMA3},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+",
     RELP_PRE_QWEN2},
};

static int is_true(const struct relp_json_value *v) { return v && v->type == RELP_JSON_TRUE; }

static const char *type_of(const struct relp_json_doc *d, const struct relp_json_value *v) {
    const struct relp_json_value *t = v && v->type == RELP_JSON_OBJECT ? relp_json_get(d, v, "type") : NULL;
    return t && t->type == RELP_JSON_STRING ? t->str : "?";
}

static enum relp_status add_stage(struct relp_tokenizer *t, enum relp_pre stage, const char *file, char *err) {
    if (t->n_stages == (int32_t)sizeof t->stages)
        return relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: more than %d pre-tokenizers", file, (int)sizeof t->stages);
    t->stages[t->n_stages++] = (uint8_t)stage;
    return RELP_STATUS_OK;
}

static enum relp_status read_pre(struct relp_tokenizer *t, const struct relp_json_doc *d,
                                 const struct relp_json_value *p, const char *file, char *err) {
    if (!p || p->type == RELP_JSON_NULL) return RELP_STATUS_OK;
    const char *type = type_of(d, p);
    enum relp_status st;
    if (!strcmp(type, "Sequence")) {
        const struct relp_json_value *list = relp_json_get(d, p, "pretokenizers");
        if (!list || list->type != RELP_JSON_ARRAY)
            return relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: a Sequence pre-tokenizer without \"pretokenizers\"", file);
        for (const struct relp_json_value *q = relp_json_first(d, list); q; q = relp_json_next(d, q))
            if ((st = read_pre(t, d, q, file, err))) return st;
        return RELP_STATUS_OK;
    }
    if (!strcmp(type, "ByteLevel")) {
        const struct relp_json_value *re = relp_json_get(d, p, "use_regex");
        if (is_true(relp_json_get(d, p, "add_prefix_space"))) t->add_prefix_space = 1;
        return re && re->type == RELP_JSON_FALSE ? RELP_STATUS_OK : add_stage(t, RELP_PRE_GPT2, file, err);
    }
    if (!strcmp(type, "Digits"))
        return add_stage(t, is_true(relp_json_get(d, p, "individual_digits")) ? RELP_PRE_DIGITS_EACH : RELP_PRE_DIGITS,
                         file, err);
    if (!strcmp(type, "Split")) {
        const struct relp_json_value *pat = relp_json_get(d, p, "pattern");
        const struct relp_json_value *re = pat && pat->type == RELP_JSON_OBJECT ? relp_json_get(d, pat, "Regex") : NULL;
        const struct relp_json_value *beh = relp_json_get(d, p, "behavior");
        if (!re || re->type != RELP_JSON_STRING || is_true(relp_json_get(d, p, "invert")) ||
            (beh && (beh->type != RELP_JSON_STRING || strcmp(beh->str, "Isolated"))))
            return relp__fail(err, RELP_STATUS_BAD_FORMAT,
                              "%s: a Split pre-tokenizer other than {\"pattern\": {\"Regex\": ...}, \"behavior\": "
                              "\"Isolated\", \"invert\": false}; relp implements only that form",
                              file);
        for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
            if (!strcmp(re->str, patterns[i].regex)) return add_stage(t, patterns[i].stage, file, err);
        return relp__fail(err, RELP_STATUS_BAD_FORMAT,
                          "%s: pre-tokenizer pattern '%.120s' is not one relp implements (GPT-2's, Llama 3's and "
                          "Qwen2's byte-level patterns)",
                          file, re->str);
    }
    return relp__fail(err, RELP_STATUS_BAD_FORMAT,
                      "%s: pre-tokenizer \"%s\" is not supported; relp implements byte-level BPE with ByteLevel, "
                      "Split (GPT-2's, Llama 3's and Qwen2's patterns), Digits and Sequence",
                      file, type);
}

static enum relp_status read_normalizer(struct relp_tokenizer *t, const struct relp_json_doc *d,
                                        const struct relp_json_value *n, const char *file, char *err) {
    if (!n || n->type == RELP_JSON_NULL) return RELP_STATUS_OK;
    const char *type = type_of(d, n);
    if (!strcmp(type, "NFC")) {
        t->nfc = 1;
        return RELP_STATUS_OK;
    }
    if (!strcmp(type, "Sequence")) {
        const struct relp_json_value *list = relp_json_get(d, n, "normalizers");
        enum relp_status st;
        for (const struct relp_json_value *q = list ? relp_json_first(d, list) : NULL; q; q = relp_json_next(d, q))
            if ((st = read_normalizer(t, d, q, file, err))) return st;
        return RELP_STATUS_OK;
    }
    return relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: normalizer \"%s\" is not supported; relp implements NFC",
                      file, type);
}

/* the prefix of a TemplateProcessing (possibly inside a Sequence): *bos, or -1 */
static enum relp_status read_post(const struct relp_json_doc *d, const struct relp_json_value *p, int32_t *bos,
                                  const char *file, char *err) {
    if (!p || p->type == RELP_JSON_NULL) return RELP_STATUS_OK;
    const char *type = type_of(d, p);
    if (!strcmp(type, "ByteLevel")) return RELP_STATUS_OK;
    if (!strcmp(type, "Sequence")) {
        const struct relp_json_value *list = relp_json_get(d, p, "processors");
        enum relp_status st;
        for (const struct relp_json_value *q = list ? relp_json_first(d, list) : NULL; q; q = relp_json_next(d, q))
            if ((st = read_post(d, q, bos, file, err))) return st;
        return RELP_STATUS_OK;
    }
    if (strcmp(type, "TemplateProcessing"))
        return relp__fail(err, RELP_STATUS_BAD_FORMAT,
                          "%s: post-processor \"%s\" is not supported (relp reads TemplateProcessing's prefix as BOS)",
                          file, type);
    const struct relp_json_value *single = relp_json_get(d, p, "single"), *specials = relp_json_get(d, p, "special_tokens");
    for (const struct relp_json_value *q = single ? relp_json_first(d, single) : NULL; q; q = relp_json_next(d, q)) {
        if (relp_json_get(d, q, "Sequence")) break; /* the text: what comes after is not a prefix */
        const struct relp_json_value *sp = relp_json_get(d, q, "SpecialToken");
        const struct relp_json_value *name = sp ? relp_json_get(d, sp, "id") : NULL;
        const struct relp_json_value *entry = name && name->type == RELP_JSON_STRING && specials
                                                  ? relp_json_get(d, specials, name->str) : NULL;
        const struct relp_json_value *ids = entry ? relp_json_get(d, entry, "ids") : NULL;
        int64_t id;
        if (!ids || ids->n_children != 1 || relp_json_int(relp_json_at(d, ids, 0), 0, (1 << 24) - 1, &id))
            return relp__fail(err, RELP_STATUS_BAD_FORMAT,
                              "%s: post_processor's template prefix is not one special token with one id", file);
        if (*bos >= 0)
            return relp__fail(err, RELP_STATUS_BAD_FORMAT,
                              "%s: post_processor's template prepends more than one token; relp prepends one BOS", file);
        *bos = (int32_t)id;
    }
    return RELP_STATUS_OK;
}

/* bos_token of tokenizer_config.json: a string or {"content": ...} */
static const char *config_bos(const struct relp_json_doc *d, const struct relp_json_value *root) {
    const struct relp_json_value *b = relp_json_get(d, root, "bos_token");
    if (b && b->type == RELP_JSON_OBJECT) b = relp_json_get(d, b, "content");
    return b && b->type == RELP_JSON_STRING ? b->str : NULL;
}

enum relp_status relp__tokenizer_init_json(struct relp_tokenizer **out, const struct relp_file *tj,
                                           const struct relp_file *tc, char *err) {
    enum relp_status st = RELP_STATUS_OK;
    struct relp_json_doc doc, cdoc;
    struct relp__str_map map = {0};
    struct relp__raw_token *raw = NULL;
    char *cat = NULL;
    memset(&cdoc, 0, sizeof cdoc);
    struct relp_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
    t->bos_id = -1;
    const char *file = tj->name;
    if (relp_json_parse(&doc, tj->data, tj->size)) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", file, doc.error);
        goto out;
    }
    const struct relp_json_value *root = &doc.v[0];
    const struct relp_json_value *model = root->type == RELP_JSON_OBJECT ? relp_json_get(&doc, root, "model") : NULL;
    if (!model || model->type != RELP_JSON_OBJECT) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: expected an object with a \"model\" object", file);
        goto out;
    }
    const char *mtype = type_of(&doc, model);
    const struct relp_json_value *vocab = relp_json_get(&doc, model, "vocab"), *merges = relp_json_get(&doc, model, "merges");
    const struct relp_json_value *cs = relp_json_get(&doc, model, "continuing_subword_prefix");
    const struct relp_json_value *ew = relp_json_get(&doc, model, "end_of_word_suffix");
    if ((strcmp(mtype, "BPE") && strcmp(mtype, "?")) || !vocab || !merges || merges->type != RELP_JSON_ARRAY) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                        "%s: model type \"%s\" is not supported; relp implements byte-level BPE (model type \"BPE\" with "
                        "vocab and merges)",
                        file, mtype);
        goto out;
    }
    if (is_true(relp_json_get(&doc, model, "byte_fallback")) || (cs && cs->type == RELP_JSON_STRING && cs->str_len) ||
        (ew && ew->type == RELP_JSON_STRING && ew->str_len)) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                        "%s: BPE with byte_fallback, continuing_subword_prefix or end_of_word_suffix (a SentencePiece-"
                        "style tokenizer) is not supported; relp implements byte-level BPE",
                        file);
        goto out;
    }
    t->ignore_merges = is_true(relp_json_get(&doc, model, "ignore_merges"));
    /* added tokens */
    const struct relp_json_value *added = relp_json_get(&doc, root, "added_tokens");
    int32_t n_added = added && added->type == RELP_JSON_ARRAY ? added->n_children : 0;
    size_t text_len = 0;
    for (const struct relp_json_value *a = n_added ? relp_json_first(&doc, added) : NULL; a; a = relp_json_next(&doc, a)) {
        const struct relp_json_value *c = relp_json_get(&doc, a, "content");
        int64_t id;
        if (!c || c->type != RELP_JSON_STRING || !c->str_len || relp_json_int(relp_json_get(&doc, a, "id"), 0, (1 << 24) - 1, &id)) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                            "%s: an added token without a non-empty \"content\" string and an integer \"id\"", file);
            goto out;
        }
        text_len += c->str_len;
    }
    t->added = calloc((size_t)n_added + 1, sizeof *t->added);
    t->added_text = malloc(text_len + 1);
    raw = calloc((size_t)n_added + 1, sizeof *raw);
    if (!t->added || !t->added_text || !raw) {
        st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    size_t o = 0;
    for (const struct relp_json_value *a = n_added ? relp_json_first(&doc, added) : NULL; a; a = relp_json_next(&doc, a)) {
        const struct relp_json_value *c = relp_json_get(&doc, a, "content");
        struct relp__added *x = &t->added[t->n_added++];
        x->id = (int32_t)relp_json_get(&doc, a, "id")->num;
        x->off = (uint32_t)o;
        x->len = (uint32_t)c->str_len;
        x->lstrip = (uint8_t)is_true(relp_json_get(&doc, a, "lstrip"));
        x->rstrip = (uint8_t)is_true(relp_json_get(&doc, a, "rstrip"));
        x->normalized = (uint8_t)is_true(relp_json_get(&doc, a, "normalized"));
        x->special = (uint8_t)is_true(relp_json_get(&doc, a, "special"));
        memcpy(t->added_text + o, c->str, c->str_len);
        raw[t->n_added - 1].id = x->id;
        raw[t->n_added - 1].text = t->added_text + o;
        raw[t->n_added - 1].len = c->str_len;
        o += c->str_len;
    }
    if ((st = relp__tokenizer_vocab(t, &doc, vocab, file, raw, t->n_added, &map, err))) goto out;
    /* merges: "a b" or ["a", "b"] */
    size_t longest = 0;
    for (const struct relp_json_value *m = relp_json_first(&doc, merges); m; m = relp_json_next(&doc, m)) {
        size_t l = m->type == RELP_JSON_STRING ? m->str_len : 0;
        for (const struct relp_json_value *q = m->type == RELP_JSON_ARRAY ? relp_json_first(&doc, m) : NULL; q;
             q = relp_json_next(&doc, q))
            l += q->type == RELP_JSON_STRING ? q->str_len : 0;
        if (l > longest) longest = l;
    }
    cat = malloc(longest + 1);
    if (!cat || relp__tokenizer_merges_alloc(t, (size_t)merges->n_children)) {
        st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
        goto out;
    }
    int32_t rank = 0;
    for (const struct relp_json_value *m = relp_json_first(&doc, merges); m; m = relp_json_next(&doc, m), rank++) {
        const char *a = NULL, *b = NULL;
        size_t la = 0, lb = 0;
        if (m->type == RELP_JSON_STRING) {
            const char *sp = memchr(m->str, ' ', m->str_len);
            if (sp) {
                a = m->str;
                la = (size_t)(sp - m->str);
                b = sp + 1;
                lb = m->str_len - la - 1;
            }
        } else if (m->type == RELP_JSON_ARRAY && m->n_children == 2) {
            const struct relp_json_value *x = relp_json_at(&doc, m, 0), *y = relp_json_at(&doc, m, 1);
            if (x->type == RELP_JSON_STRING && y->type == RELP_JSON_STRING) {
                a = x->str;
                la = x->str_len;
                b = y->str;
                lb = y->str_len;
            }
        }
        if (!a || !la || !lb || relp__tokenizer_merge(t, &map, a, la, b, lb, cat, rank)) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT,
                            "%s: merge %d is not \"left right\" (or [left, right]) with both parts and their "
                            "concatenation in the vocabulary",
                            file, (int)rank);
            goto out;
        }
    }
    if (t->ignore_merges) { /* whole words: the vocabulary's tokens by their bytes */
        if (relp__str_map_init(&t->words, (size_t)vocab->n_children)) {
            st = relp__fail(err, RELP_STATUS_ALLOC_FAILED, "out of memory");
            goto out;
        }
        for (const struct relp_json_value *e = relp_json_first(&doc, vocab); e; e = relp_json_next(&doc, e)) {
            int32_t id = (int32_t)e->num;
            relp__str_map_put(&t->words, t->tok_bytes + t->tok_off[id], t->tok_off[id + 1] - t->tok_off[id], id);
        }
    }
    if ((st = read_normalizer(t, &doc, relp_json_get(&doc, root, "normalizer"), file, err)) ||
        (st = read_pre(t, &doc, relp_json_get(&doc, root, "pre_tokenizer"), file, err)) ||
        (st = read_post(&doc, relp_json_get(&doc, root, "post_processor"), &t->bos_id, file, err)))
        goto out;
    if (t->bos_id >= t->n_vocab) {
        st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: the template's BOS id %d is not a token", file, t->bos_id);
        goto out;
    }
    if (t->bos_id >= 0) t->add_bos = 1;
    else if (tc) { /* tokenizer_config.json: bos_token, add_bos_token */
        if (relp_json_parse(&cdoc, tc->data, tc->size) || cdoc.v[0].type != RELP_JSON_OBJECT) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: not a JSON object (%s)", tc->name,
                            cdoc.error[0] ? cdoc.error : "another type");
            goto out;
        }
        const char *bos = config_bos(&cdoc, &cdoc.v[0]);
        for (int32_t k = 0; bos && k < t->n_added && t->bos_id < 0; k++)
            if (t->added[k].len == strlen(bos) && !memcmp(t->added_text + t->added[k].off, bos, t->added[k].len))
                t->bos_id = t->added[k].id;
        if (bos && t->bos_id < 0) t->bos_id = relp__str_map_get(&map, bos, strlen(bos));
        if (bos && t->bos_id < 0) {
            st = relp__fail(err, RELP_STATUS_BAD_FORMAT, "%s: bos_token '%.60s' is not a token of %s", tc->name, bos,
                            file);
            goto out;
        }
        t->add_bos = t->bos_id >= 0 && is_true(relp_json_get(&cdoc, &cdoc.v[0], "add_bos_token"));
    }
out:
    relp_json_free(&doc);
    relp_json_free(&cdoc);
    relp__str_map_free(&map);
    free(raw);
    free(cat);
    if (st) relp__tokenizer_free(t);
    else *out = t;
    return st;
}
