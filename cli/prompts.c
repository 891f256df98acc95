/* prompts.c - prompt pairs for the CLI (see prompts.h). */
#include "prompts.h"

#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


void batch_free(struct batch *b) {
    free(b->clean);
    free(b->corrupt);
    free(b->answer);
    free(b->wrong);
    memset(b, 0, sizeof *b);
}

void print_tokens(FILE *f, const struct relp_model *m, const int32_t *ids, int64_t n) {
    fputc('[', f);
    for (int64_t i = 0; i < n; i++) {
        fprintf(f, i ? ", %d " : "%d ", ids[i]);
        print_piece(f, m, ids[i]);
    }
    fputc(']', f);
}

/* ids of text (+ BOS); *out malloc'd. 0 or exit status. */
int tokenize_prompt(struct relp_model *m, const char *text, int bos, const char *what, int32_t **out, int64_t *n) {
    int64_t count = 0;
    relp_tokenize(m, text, -1, bos, NULL, 0, &count);
    *out = malloc((size_t)(count ? count : 1) * sizeof **out);
    if (!*out || relp_tokenize(m, text, -1, bos, *out, count, n)) {
        fprintf(stderr, "relp: %s: %s\n", what, *out ? relp_last_error(m) : "out of memory");
        return 1;
    }
    int blank = 1;
    for (const char *p = text; *p && blank; p++) blank = *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r';
    if (*n == 0 || blank) {
        fprintf(stderr, "relp: %s is empty; type some text\n", what);
        return 2;
    }
    if (*n > relp_model_config(m)->n_positions) {
        fprintf(stderr, "relp: %s is %lld tokens, more than the model's n_positions = %d\n", what, (long long)*n,
                relp_model_config(m)->n_positions);
        return 2;
    }
    return 0;
}

int single_token(struct relp_model *m, const char *text, const char *what, int32_t *id) {
    int64_t n = 0;
    relp_tokenize(m, text, -1, 0, NULL, 0, &n);
    int32_t ids[64];
    relp_tokenize(m, text, -1, 0, ids, 64, &n);
    if (n == 1) {
        *id = ids[0];
        return 0;
    }
    fprintf(stderr, "relp: %s '%s' is %lld tokens ", what, text, (long long)n);
    print_tokens(stderr, m, ids, n < 64 ? n : 64);
    fprintf(stderr, "; expected exactly one token (a word after a space is one token with its space: ' Mary')\n");
    return 2;
}

/* Adds one prompt to the batch; checks lengths. where: "--clean/--corrupt" or "FILE line N". */
int add_prompt(struct relp_model *m, struct batch *b, const char *clean, const char *corrupt, const char *answer,
                      const char *wrong, int bos, const char *where) {
    int32_t *c = NULL, *r = NULL, a, w;
    int64_t nc, nr;
    char what[512];
    int rc;
    snprintf(what, sizeof what, "%s clean prompt", where);
    if ((rc = tokenize_prompt(m, clean, bos, what, &c, &nc))) goto out;
    snprintf(what, sizeof what, "%s corrupted prompt", where);
    if ((rc = tokenize_prompt(m, corrupt, bos, what, &r, &nr))) goto out;
    if (nc != nr) {
        fprintf(stderr, "relp: %s: the clean prompt is %lld tokens and the corrupted one %lld; they must match "
                        "position by position\n  clean:     ", where, (long long)nc, (long long)nr);
        print_tokens(stderr, m, c, nc);
        fprintf(stderr, "\n  corrupted: ");
        print_tokens(stderr, m, r, nr);
        fprintf(stderr, "\n");
        rc = 2;
        goto out;
    }
    if (b->n > 0 && nc != b->T) {
        fprintf(stderr, "relp: %s is %lld tokens but the prompts before it are %d; one batch needs equal lengths\n",
                where, (long long)nc, b->T);
        rc = 2;
        goto out;
    }
    const int flags = strncmp(where, "--clean", 7) == 0; /* one pair from the flags: name the flag */
    snprintf(what, sizeof what, flags ? "--answer" : "%s answer", where);
    if ((rc = single_token(m, answer, what, &a))) goto out;
    snprintf(what, sizeof what, flags ? "--wrong" : "%s wrong token", where);
    if (!wrong) w = a; /* a metric of the answer alone (--metric logprob, logit) */
    else if ((rc = single_token(m, wrong, what, &w))) goto out;
    /* degenerate pairs: the normalised metric (m - m_corrupt) / (m_clean - m_corrupt) would be 0 / 0
     * (the page refuses the same inputs, web/guard.js) */
    if (wrong && a == w) {
        fprintf(stderr, "relp: %s: the answer and the wrong token are the same token ('%s'): their logit difference "
                        "is 0 on every prompt; give two different tokens\n", where, answer);
        rc = 2;
        goto out;
    }
    if (memcmp(c, r, sizeof(int32_t) * (size_t)nc) == 0) {
        fprintf(stderr, "relp: %s: the clean and the corrupted prompts are the same tokens: there is nothing to patch "
                        "(the clean - corrupted gap is 0); give a corrupted prompt that differs\n", where);
        rc = 2;
        goto out;
    }
    b->T = (int)nc;
    int k = b->n++;
    b->clean = realloc(b->clean, sizeof(int32_t) * b->n * b->T);
    b->corrupt = realloc(b->corrupt, sizeof(int32_t) * b->n * b->T);
    b->answer = realloc(b->answer, sizeof(int32_t) * b->n);
    b->wrong = realloc(b->wrong, sizeof(int32_t) * b->n);
    if (!b->clean || !b->corrupt || !b->answer || !b->wrong) {
        fprintf(stderr, "relp: out of memory\n");
        rc = 1;
        goto out;
    }
    memcpy(b->clean + (size_t)k * b->T, c, sizeof(int32_t) * b->T);
    memcpy(b->corrupt + (size_t)k * b->T, r, sizeof(int32_t) * b->T);
    b->answer[k] = a;
    b->wrong[k] = w;
out:
    free(c);
    free(r);
    return rc;
}

/* Where each line's pair goes: one batch (every line must have its length), or a batch per token length. */
struct sink {
    struct batch *one;
    struct batch *by_len; /* (n_len) */
    int n_len;
};

static int sink_add(struct relp_model *m, struct sink *k, const char *const vals[4], int bos, const char *where) {
    if (k->one) return add_prompt(m, k->one, vals[0], vals[1], vals[2], vals[3], bos, where);
    int32_t *c = NULL;
    int64_t n = 0;
    char what[640];
    snprintf(what, sizeof what, "%s clean prompt", where);
    int rc = tokenize_prompt(m, vals[0], bos, what, &c, &n);
    free(c);
    if (rc) return rc;
    int i = 0;
    while (i < k->n_len && k->by_len[i].T != n) i++;
    if (i == k->n_len) {
        struct batch *grown = realloc(k->by_len, sizeof *grown * (size_t)(k->n_len + 1));
        if (!grown) return 1;
        k->by_len = grown;
        memset(&grown[k->n_len++], 0, sizeof *grown);
    }
    return add_prompt(m, &k->by_len[i], vals[0], vals[1], vals[2], vals[3], bos, where);
}

static int load_lines(struct relp_model *m, const char *text, size_t size, const char *path, int bos, struct sink *b);

int load_prompts_text(struct relp_model *m, const char *text, size_t size, const char *path, int bos,
                      struct batch *b) {
    struct sink k = {b, NULL, 0};
    return load_lines(m, text, size, path, bos, &k);
}

int load_prompts_one_length(struct relp_model *m, const char *path, int bos, struct batch *b) {
    size_t size = 0;
    char *text = read_file(path, &size);
    if (!text) {
        fprintf(stderr, "relp: --prompts %s: cannot read the file\n", path);
        return 1;
    }
    struct sink k = {NULL, NULL, 0};
    int rc = load_lines(m, text, size, path, bos, &k);
    free(text);
    int best = -1, total = 0;
    for (int i = 0; i < k.n_len; i++) {
        total += k.by_len[i].n;
        if (best < 0 || k.by_len[i].n > k.by_len[best].n ||
            (k.by_len[i].n == k.by_len[best].n && k.by_len[i].T < k.by_len[best].T))
            best = i;
    }
    if (!rc && best >= 0) {
        *b = k.by_len[best];
        memset(&k.by_len[best], 0, sizeof k.by_len[best]);
        if (b->n < total)
            fprintf(stderr, "relp: --prompts %s: using the %d prompts of %d tokens (the most common length); %d of "
                            "other lengths are left out, as a circuit is one set of positions\n",
                    path, b->n, b->T, total - b->n);
    }
    for (int i = 0; i < k.n_len; i++) batch_free(&k.by_len[i]);
    free(k.by_len);
    return rc;
}

static int load_lines(struct relp_model *m, const char *text, size_t size, const char *path, int bos, struct sink *b) {
    int rc = 0, line = 0, added = 0;
    for (size_t i = 0; i < size && !rc;) {
        size_t e = i;
        while (e < size && text[e] != '\n') e++;
        line++;
        size_t s = i;
        while (s < e && (text[s] == ' ' || text[s] == '\t' || text[s] == '\r')) s++;
        if (s < e) {
            char where[600];
            snprintf(where, sizeof where, "--prompts %s line %d", path, line);
            struct relp_json_doc doc;
            /* relp's keys, or Marks et al.'s (sparse feature circuits' data/ files: relp sva writes them) */
            static const char *const relp_keys[4] = {"clean", "corrupt", "answer", "wrong"};
            static const char *const marks_keys[4] = {"clean_prefix", "patch_prefix", "clean_answer", "patch_answer"};
            const char *vals[4] = {0};
            if (relp_json_parse(&doc, text + s, e - s)) {
                fprintf(stderr, "relp: %s: not valid JSON (%s)\n", where, doc.error);
                rc = 2;
            } else if (doc.v[0].type != RELP_JSON_OBJECT) {
                fprintf(stderr, "relp: %s: a line must be a JSON object, got %s\n", where,
                        relp_json_type_name(doc.v[0].type));
                rc = 2;
            } else {
                const int marks = !relp_json_get(&doc, &doc.v[0], "clean") &&
                                  relp_json_get(&doc, &doc.v[0], "clean_prefix") != NULL;
                const char *const *keys = marks ? marks_keys : relp_keys;
                if (!marks && !relp_json_get(&doc, &doc.v[0], "clean")) {
                    fprintf(stderr, "relp: %s: has neither relp's keys {\"clean\", \"corrupt\", \"answer\", "
                                    "\"wrong\"} nor Marks et al.'s {\"clean_prefix\", \"patch_prefix\", "
                                    "\"clean_answer\", \"patch_answer\"}; each line needs one set, as strings\n",
                            where);
                    rc = 2;
                }
                for (int k = 0; k < 4 && !rc; k++) {
                    const struct relp_json_value *v = relp_json_get(&doc, &doc.v[0], keys[k]);
                    if (!v || v->type != RELP_JSON_STRING) {
                        fprintf(stderr, "relp: %s: needs a string \"%s\" (each line: {\"%s\", \"%s\", \"%s\", "
                                        "\"%s\"}%s)\n", where, keys[k], keys[0], keys[1], keys[2], keys[3],
                                marks ? ", Marks et al.'s keys" : "");
                        rc = 2;
                    } else {
                        vals[k] = v->str;
                    }
                }
                if (!rc) rc = sink_add(m, b, vals, bos, where);
                if (!rc) added++;
            }
            relp_json_free(&doc);
        }
        i = e + 1;
    }
    if (!rc && added == 0) {
        fprintf(stderr, "relp: --prompts %s: no prompts in the file\n", path);
        rc = 2;
    }
    return rc;
}

int load_prompts_file(struct relp_model *m, const char *path, int bos, struct batch *b) {
    size_t size = 0;
    char *text = read_file(path, &size);
    if (!text) {
        fprintf(stderr, "relp: --prompts %s: cannot read the file\n", path);
        return 1;
    }
    int rc = load_prompts_text(m, text, size, path, bos, b);
    free(text);
    return rc;
}

/* One JSON string field, or null for an empty string. */
static void field(FILE *f, const char *key, const char *v) {
    fprintf(f, ",\"%s\":", key);
    if (v && v[0]) json_str(f, v, (int)strlen(v));
    else fputs("null", f);
}

/* Marks et al.'s line: their keys in their order, spaced as Python's json.dumps writes them */
int write_sva_prompts(const char *path, const struct relp_sva_prompt *p, int n) {
    const int out = strcmp(path, "-") == 0;
    FILE *f = out ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "relp: --out %s: cannot write the file (%s)\n", path, strerror(errno));
        return 1;
    }
    for (int i = 0; i < n; i++) {
        const char *keys[5] = {"clean_prefix", "patch_prefix", "clean_answer", "patch_answer", "case"};
        const char *vals[5] = {p[i].clean_prefix, p[i].patch_prefix, p[i].clean_answer, p[i].patch_answer,
                               p[i].case_label};
        for (int k = 0; k < 5; k++) {
            fprintf(f, "%s\"%s\": ", k ? ", " : "{", keys[k]);
            json_str(f, vals[k], (int)strlen(vals[k]));
        }
        fputs("}\n", f);
    }
    if (out ? fflush(f) != 0 : fclose(f) != 0) {
        fprintf(stderr, "relp: --out %s: cannot write the file (%s)\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

int write_ioi_prompts(const char *path, const char *dataset, const struct relp_ioi_prompt *p, int n) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "relp: --prompts-out %s: cannot write the file\n", path);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char tpl[256] = "";
        fputs("{\"clean\":", f);
        json_str(f, p[i].clean, (int)strlen(p[i].clean));
        field(f, "corrupt", p[i].corrupt);
        field(f, "answer", p[i].answer);
        field(f, "wrong", p[i].wrong);
        fprintf(f, ",\"dataset\":\"%s\",\"index\":%d,\"template\":%d,\"order\":\"%s\"", dataset, i,
                (int)p[i].template_index, p[i].abba ? "ABBA" : "BABA");
        if (p[i].template_index >= 0) relp_ioi_template(p[i].template_index, p[i].abba, tpl, (int32_t)sizeof tpl);
        field(f, "template_text", tpl);
        field(f, "io", p[i].io);
        field(f, "s", p[i].s);
        field(f, "io_new", p[i].io_new);
        field(f, "s_new", p[i].s_new);
        field(f, "s1_new", p[i].s1_new);
        field(f, "place", p[i].place);
        field(f, "object", p[i].object);
        fputs("}\n", f);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "relp: --prompts-out %s: cannot write the file\n", path);
        return 1;
    }
    return 0;
}
