/* tokenize_lines.c - test helper: tokenizes every line of a file (one JSON
 * string per line) with relp's tokenizer and prints, per line, a JSON array
 * of ids; followed by "roundtrip_failures N" on stderr (decode(encode(s)) must
 * give s back byte for byte).
 *
 *   tokenize_lines VOCAB.json MERGES.txt LINES.jsonl
 *   tokenize_lines --json TOKENIZER.json CONFIG.json|- LINES.jsonl [--bos]
 *
 * With --json each line's output is {"ids": [..], "text": decoded} (the
 * decoded text may be normalized: the caller compares it), and --bos asks
 * for the BOS. */
#include "internal.h"
#include "io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* a JSON string of n bytes (valid UTF-8 passes through, other bytes as \u00XX) */
static void json_string(const char *s, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    const int json = argc >= 5 && !strcmp(argv[1], "--json");
    if (!(argc == 4 && !json) && !(json && (argc == 5 || (argc == 6 && !strcmp(argv[5], "--bos"))))) {
        fprintf(stderr, "usage: tokenize_lines VOCAB MERGES LINES.jsonl | --json TOKENIZER.json CONFIG|- LINES [--bos]\n");
        return 2;
    }
    const int a = json ? 2 : 1, bos = json && argc == 6;
    const int has_config = !json || strcmp(argv[a + 1], "-") != 0;
    struct relp_mapped_file fv, fm = {0}, fl;
    char err[RELP_ERROR_LEN];
    if (relp__map_file(&fv, argv[a], 1, err, sizeof err) ||
        (has_config && relp__map_file(&fm, argv[a + 1], 1, err, sizeof err)) ||
        relp__map_file(&fl, argv[a + 2], 1, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct relp_file v = {argv[a], fv.data, fv.size}, m = {argv[a + 1], fm.data, fm.size};
    struct relp_tokenizer *tok = NULL;
    if (json ? relp__tokenizer_init_json(&tok, &v, has_config ? &m : NULL, err) : relp__tokenizer_init(&tok, &v, &m, err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const char *s = (const char *)fl.data;
    size_t n = fl.size, bad = 0, lines = 0;
    int32_t *ids = NULL;
    char *back = NULL;
    size_t cap = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i;
        while (e < n && s[e] != '\n') e++;
        struct relp_json_doc doc;
        if (relp_json_parse(&doc, s + i, e - i) || doc.v[0].type != RELP_JSON_STRING) {
            fprintf(stderr, "line %zu: not a JSON string\n", lines + 1);
            return 2;
        }
        const char *text = doc.v[0].str;
        size_t len = doc.v[0].str_len;
        if (cap < len + 2) {
            cap = len + 2;
            ids = realloc(ids, cap * sizeof *ids);
            back = realloc(back, cap * 4 + 64);
        }
        int64_t count = 0;
        if (relp__tokenize(tok, text, (int64_t)len, bos, ids, (int64_t)cap, &count, err)) {
            fprintf(stderr, "line %zu: %s\n", lines + 1, err);
            return 1;
        }
        printf(json ? "{\"ids\":[" : "[");
        size_t o = 0;
        for (int64_t k = 0; k < count; k++) {
            printf(k ? ",%d" : "%d", ids[k]);
            int32_t bl;
            const char *b = relp__token_bytes(tok, ids[k], &bl);
            memcpy(back + o, b, (size_t)bl);
            o += (size_t)bl;
        }
        if (json) { /* the caller checks the text: it may be normalized */
            printf("],\"text\":");
            json_string(back, o);
            printf("}\n");
        } else {
            printf("]\n");
            if (o != len || memcmp(back, text, len) != 0) bad++;
        }
        relp_json_free(&doc);
        lines++;
        i = e + 1;
    }
    fprintf(stderr, "lines %zu roundtrip_failures %zu\n", lines, bad);
    relp__tokenizer_free(tok);
    free(ids);
    free(back);
    relp__unmap_file(&fv);
    if (has_config) relp__unmap_file(&fm);
    relp__unmap_file(&fl);
    return bad ? 1 : 0;
}
