/* tokenize_lines.c - test helper: tokenizes every line of a file (one JSON
 * string per line) with relp's tokenizer and prints, per line, a JSON array
 * of ids; followed by "roundtrip_failures N" on stderr (decode(encode(s)) must
 * give s back byte for byte).
 *
 *   tokenize_lines VOCAB.json MERGES.txt LINES.jsonl */
#include "internal.h"
#include "io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: tokenize_lines VOCAB MERGES LINES.jsonl\n");
        return 2;
    }
    struct relp_mapped_file fv, fm, fl;
    char err[RELP_ERROR_LEN];
    if (relp__map_file(&fv, argv[1], 1, err, sizeof err) || relp__map_file(&fm, argv[2], 1, err, sizeof err) ||
        relp__map_file(&fl, argv[3], 1, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    struct relp_file v = {argv[1], fv.data, fv.size}, m = {argv[2], fm.data, fm.size};
    struct relp_tokenizer *tok = NULL;
    if (relp__tokenizer_init(&tok, &v, &m, err)) {
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
        if (relp__tokenize(tok, text, (int64_t)len, 0, ids, (int64_t)cap, &count, err)) {
            fprintf(stderr, "line %zu: %s\n", lines + 1, err);
            return 1;
        }
        printf("[");
        size_t o = 0;
        for (int64_t k = 0; k < count; k++) {
            printf(k ? ",%d" : "%d", ids[k]);
            int32_t bl;
            const char *b = relp__token_bytes(tok, ids[k], &bl);
            memcpy(back + o, b, (size_t)bl);
            o += (size_t)bl;
        }
        printf("]\n");
        if (o != len || memcmp(back, text, len) != 0) bad++;
        relp_json_free(&doc);
        lines++;
        i = e + 1;
    }
    fprintf(stderr, "lines %zu roundtrip_failures %zu\n", lines, bad);
    relp__tokenizer_free(tok);
    free(ids);
    free(back);
    relp__unmap_file(&fv);
    relp__unmap_file(&fm);
    relp__unmap_file(&fl);
    return bad ? 1 : 0;
}
