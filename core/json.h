/* json.h - a small strict JSON reader (RFC 8259) for config.json, safetensors
 * headers, vocab.json, index files and JSON Lines prompts.
 *
 * The whole document is parsed into one array of values; strings are
 * unescaped into one pool. Both are owned by struct json_doc (json_free).
 * Nesting is limited (JSON_MAX_DEPTH) so hostile input cannot exhaust the
 * stack. Does not: stream, keep duplicate-key order semantics beyond "first
 * match wins" in json_get. */
#ifndef RELP_JSON_H
#define RELP_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 64

enum json_type { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json_value {
    enum json_type type;
    int32_t next;       /* next sibling in the parent array/object, -1 at the end */
    int32_t child;      /* first child (arrays, objects), -1 if empty */
    int32_t n_children;
    const char *key;    /* member name inside an object (unescaped, NUL-terminated), else NULL */
    size_t key_len;
    const char *str;    /* JSON_STRING: unescaped, NUL-terminated (may hold NULs: use str_len) */
    size_t str_len;
    double num;         /* JSON_NUMBER */
};

struct json_doc {
    struct json_value *v; /* v[0] is the root */
    int32_t n, cap;
    char *pool;
    size_t pool_len, pool_cap;
    char error[200];      /* "line L, column C: what" on failure */
};

/* Returns 0 on success; on failure -1 and doc->error says where and why. */
int json_parse(struct json_doc *doc, const char *text, size_t len);
void json_free(struct json_doc *doc);
/* Member of an object by key, or NULL. */
const struct json_value *json_get(const struct json_doc *doc, const struct json_value *obj, const char *key);
/* Child i of an array/object, or NULL. */
const struct json_value *json_at(const struct json_doc *doc, const struct json_value *arr, int32_t i);
static inline const struct json_value *json_first(const struct json_doc *doc, const struct json_value *v) {
    return v->child >= 0 ? &doc->v[v->child] : NULL;
}
static inline const struct json_value *json_next(const struct json_doc *doc, const struct json_value *v) {
    return v->next >= 0 ? &doc->v[v->next] : NULL;
}
/* Integer value of a number that is integral and within [lo, hi]; 0 on success. */
int json_int(const struct json_value *v, int64_t lo, int64_t hi, int64_t *out);
const char *json_type_name(enum json_type t);

#endif
