/* json.c - strict JSON reader; see relp.h (JSON). */
#include "relp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
    struct relp_json_doc *doc;
    const char *s;
    size_t len, pos;
    int depth;
};

static int fail(struct parser *p, const char *what) {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->len; i++) {
        if (p->s[i] == '\n') { line++; col = 1; } else col++;
    }
    snprintf(p->doc->error, sizeof p->doc->error, "line %zu, column %zu: %s", line, col, what);
    return -1;
}

static void skip_ws(struct parser *p) {
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') p->pos++;
        else break;
    }
}

static int32_t new_value(struct parser *p, enum relp_json_type t) {
    struct relp_json_doc *d = p->doc;
    if (d->n == d->cap) {
        int32_t cap = d->cap ? d->cap * 2 : 64;
        if (cap < 0 || (size_t)cap > SIZE_MAX / sizeof *d->v) return -1;
        struct relp_json_value *v = realloc(d->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        d->v = v;
        d->cap = cap;
    }
    struct relp_json_value *v = &d->v[d->n];
    memset(v, 0, sizeof *v);
    v->type = t;
    v->next = -1;
    v->child = -1;
    return d->n++;
}

static int hex4(const char *s, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63));
    o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

/* Parses a string at p->pos (which is at '"') into the pool. */
static int parse_string(struct parser *p, const char **out, size_t *out_len) {
    struct relp_json_doc *d = p->doc;
    p->pos++; /* opening quote */
    char *o = d->pool + d->pool_len;
    size_t n = 0;
    for (;;) {
        if (p->pos >= p->len) return fail(p, "unterminated string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) return fail(p, "control character inside a string");
        if (c != '\\') { o[n++] = (char)c; p->pos++; continue; }
        if (p->pos + 1 >= p->len) return fail(p, "unterminated escape");
        char e = p->s[p->pos + 1];
        p->pos += 2;
        switch (e) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (p->pos + 4 > p->len || hex4(p->s + p->pos, &cp)) return fail(p, "bad \\u escape");
            p->pos += 4;
            if (cp >= 0xD800 && cp < 0xDC00) { /* high surrogate: a low one must follow */
                unsigned lo;
                if (p->pos + 6 <= p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u' &&
                    !hex4(p->s + p->pos + 2, &lo) && lo >= 0xDC00 && lo < 0xE000) {
                    p->pos += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else {
                    cp = 0xFFFD; /* lone surrogate: replacement character, as most decoders do */
                }
            } else if (cp >= 0xDC00 && cp < 0xE000) {
                cp = 0xFFFD;
            }
            n += put_utf8(o + n, cp);
            break;
        }
        default: return fail(p, "unknown escape in string");
        }
    }
    o[n] = '\0';
    *out = o;
    *out_len = n;
    d->pool_len += n + 1;
    return 0;
}

static int parse_value(struct parser *p, int32_t *out);

static int parse_number(struct parser *p, int32_t *out) {
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len) return fail(p, "bad number");
    if (p->s[p->pos] == '0') p->pos++;
    else if (p->s[p->pos] >= '1' && p->s[p->pos] <= '9') {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
    } else return fail(p, "bad number");
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        size_t d0 = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        if (p->pos == d0) return fail(p, "bad number: no digits after '.'");
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        size_t d0 = p->pos;
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') p->pos++;
        if (p->pos == d0) return fail(p, "bad number: no digits in exponent");
    }
    char buf[64];
    size_t n = p->pos - start;
    if (n >= sizeof buf) return fail(p, "number too long");
    memcpy(buf, p->s + start, n);
    buf[n] = '\0';
    int32_t i = new_value(p, RELP_JSON_NUMBER);
    if (i < 0) return fail(p, "out of memory");
    p->doc->v[i].num = strtod(buf, NULL);
    *out = i;
    return 0;
}

static int parse_container(struct parser *p, int32_t *out, int is_object) {
    if (++p->depth > RELP_JSON_MAX_DEPTH) return fail(p, "nesting too deep");
    int32_t self = new_value(p, is_object ? RELP_JSON_OBJECT : RELP_JSON_ARRAY);
    if (self < 0) return fail(p, "out of memory");
    p->pos++;
    skip_ws(p);
    char close = is_object ? '}' : ']';
    int32_t last = -1;
    if (p->pos < p->len && p->s[p->pos] == close) {
        p->pos++;
    } else {
        for (;;) {
            const char *key = NULL;
            size_t key_len = 0;
            skip_ws(p);
            if (is_object) {
                if (p->pos >= p->len || p->s[p->pos] != '"') return fail(p, "expected a member name in quotes");
                if (parse_string(p, &key, &key_len)) return -1;
                skip_ws(p);
                if (p->pos >= p->len || p->s[p->pos] != ':') return fail(p, "expected ':' after member name");
                p->pos++;
            }
            int32_t child;
            if (parse_value(p, &child)) return -1;
            struct relp_json_value *c = &p->doc->v[child];
            c->key = key;
            c->key_len = key_len;
            if (last < 0) p->doc->v[self].child = child;
            else p->doc->v[last].next = child;
            last = child;
            p->doc->v[self].n_children++;
            skip_ws(p);
            if (p->pos >= p->len) return fail(p, is_object ? "unterminated object" : "unterminated array");
            if (p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->s[p->pos] == close) { p->pos++; break; }
            return fail(p, is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    p->depth--;
    *out = self;
    return 0;
}

static int parse_value(struct parser *p, int32_t *out) {
    skip_ws(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input");
    char c = p->s[p->pos];
    if (c == '{') return parse_container(p, out, 1);
    if (c == '[') return parse_container(p, out, 0);
    if (c == '"') {
        const char *s;
        size_t n;
        if (parse_string(p, &s, &n)) return -1;
        int32_t i = new_value(p, RELP_JSON_STRING);
        if (i < 0) return fail(p, "out of memory");
        p->doc->v[i].str = s;
        p->doc->v[i].str_len = n;
        *out = i;
        return 0;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p, out);
    static const struct { const char *word; enum relp_json_type t; } lits[] = {
        {"true", RELP_JSON_TRUE}, {"false", RELP_JSON_FALSE}, {"null", RELP_JSON_NULL}};
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(lits[k].word);
        if (p->len - p->pos >= n && memcmp(p->s + p->pos, lits[k].word, n) == 0) {
            p->pos += n;
            int32_t i = new_value(p, lits[k].t);
            if (i < 0) return fail(p, "out of memory");
            *out = i;
            return 0;
        }
    }
    return fail(p, "unexpected character (not a JSON value)");
}

int relp_json_parse(struct relp_json_doc *doc, const char *text, size_t len) {
    memset(doc, 0, sizeof *doc);
    /* unescaped strings never exceed their escaped form, plus one NUL each */
    doc->pool_cap = len + len / 2 + 16;
    doc->pool = malloc(doc->pool_cap);
    if (!doc->pool) {
        snprintf(doc->error, sizeof doc->error, "out of memory");
        return -1;
    }
    struct parser p = {doc, text, len, 0, 0};
    int32_t root;
    if (parse_value(&p, &root)) return -1;
    skip_ws(&p);
    if (p.pos != len) return fail(&p, "trailing characters after the JSON value");
    return 0;
}

void relp_json_free(struct relp_json_doc *doc) {
    free(doc->v);
    free(doc->pool);
    doc->v = NULL;
    doc->pool = NULL;
    doc->n = doc->cap = 0;
}

const struct relp_json_value *relp_json_get(const struct relp_json_doc *doc, const struct relp_json_value *obj, const char *key) {
    if (!obj || obj->type != RELP_JSON_OBJECT) return NULL;
    size_t n = strlen(key);
    for (const struct relp_json_value *c = relp_json_first(doc, obj); c; c = relp_json_next(doc, c))
        if (c->key_len == n && memcmp(c->key, key, n) == 0) return c;
    return NULL;
}

const struct relp_json_value *relp_json_at(const struct relp_json_doc *doc, const struct relp_json_value *arr, int32_t i) {
    if (!arr || (arr->type != RELP_JSON_ARRAY && arr->type != RELP_JSON_OBJECT) || i < 0) return NULL;
    const struct relp_json_value *c = relp_json_first(doc, arr);
    while (c && i--) c = relp_json_next(doc, c);
    return c;
}

int relp_json_int(const struct relp_json_value *v, int64_t lo, int64_t hi, int64_t *out) {
    if (!v || v->type != RELP_JSON_NUMBER) return -1;
    double d = v->num;
    if (!(d >= (double)lo && d <= (double)hi) || floor(d) != d) return -1;
    *out = (int64_t)d;
    return 0;
}

const char *relp_json_type_name(enum relp_json_type t) {
    switch (t) {
    case RELP_JSON_NULL: return "null";
    case RELP_JSON_FALSE: case RELP_JSON_TRUE: return "a boolean";
    case RELP_JSON_NUMBER: return "a number";
    case RELP_JSON_STRING: return "a string";
    case RELP_JSON_ARRAY: return "an array";
    case RELP_JSON_OBJECT: return "an object";
    }
    return "?";
}

const struct relp_json_value *relp_json_first(const struct relp_json_doc *doc, const struct relp_json_value *v) {
    return v->child >= 0 ? &doc->v[v->child] : NULL;
}

const struct relp_json_value *relp_json_next(const struct relp_json_doc *doc, const struct relp_json_value *v) {
    return v->next >= 0 ? &doc->v[v->next] : NULL;
}
