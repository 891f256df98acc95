/* safetensors.c - header parsing with every bound checked (see safetensors.h). */
#include "safetensors.h"


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_HEADER (100u << 20) /* the format's own limit is 100 MB */

size_t st_dtype_size(enum relp_dtype dt) { return dt == RELP_DTYPE_F32 ? 4 : 2; }

static const char *strip_prefix(const char *name, const char *prefix) {
    size_t n = prefix ? strlen(prefix) : 0;
    return n && strncmp(name, prefix, n) == 0 ? name + n : name;
}

/* buffers some checkpoints carry beside the parameters (causal masks,
 * rotary tables), in dtypes such as BOOL: they are not used */
static int is_buffer(const char *name) {
    static const char *const ends[] = {".attn.bias", ".attention.bias", "masked_bias", "rotary_emb.inv_freq"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t k = strlen(ends[i]);
        if (n >= k && strcmp(name + n - k, ends[i]) == 0) return 1;
    }
    return strncmp(name, "attn.bias", 9) == 0;
}

int st_parse(const unsigned char *buf, size_t size, const char *label, const char *prefix, struct st_tensor **list,
             int32_t *n, char *err, size_t cap) {
    if (size < 8) {
        snprintf(err, cap, "%s: file is %zu bytes, too short for a safetensors header (expected at least 8 bytes)",
                 label, size);
        return -1;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > size - 8 || hlen > ST_MAX_HEADER) {
        snprintf(err, cap,
                 "%s: header length field says %llu bytes but the file has %zu bytes after it "
                 "(truncated file, or not a safetensors file)",
                 label, (unsigned long long)hlen, size - 8);
        return -1;
    }
    if (hlen < 2 || buf[8] != '{') {
        snprintf(err, cap, "%s: header does not start with a JSON object (not a safetensors file)", label);
        return -1;
    }
    struct relp_json_doc doc;
    /* the spec allows trailing spaces as padding */
    size_t jlen = (size_t)hlen;
    while (jlen > 0 && buf[8 + jlen - 1] == ' ') jlen--;
    if (relp_json_parse(&doc, (const char *)buf + 8, jlen)) {
        snprintf(err, cap, "%s: header is not valid JSON (%s)", label, doc.error);
        relp_json_free(&doc);
        return -1;
    }
    const unsigned char *data = buf + 8 + hlen;
    size_t data_len = size - 8 - (size_t)hlen;
    const struct relp_json_value *root = &doc.v[0];
    if (root->type != RELP_JSON_OBJECT) {
        snprintf(err, cap, "%s: header is %s, expected a JSON object", label, relp_json_type_name(root->type));
        goto fail;
    }
    for (const struct relp_json_value *t = relp_json_first(&doc, root); t; t = relp_json_next(&doc, t)) {
        if (strcmp(t->key, "__metadata__") == 0) continue;
        if (t->type != RELP_JSON_OBJECT) {
            snprintf(err, cap, "%s: entry '%s' is %s, expected an object with dtype, shape, data_offsets", label,
                     t->key, relp_json_type_name(t->type));
            goto fail;
        }
        struct st_tensor st;
        memset(&st, 0, sizeof st);
        const char *name = strip_prefix(t->key, prefix);
        if (strlen(name) >= ST_MAX_NAME) {
            snprintf(err, cap, "%s: tensor name too long (%zu bytes)", label, strlen(name));
            goto fail;
        }
        strcpy(st.name, name);
        st.file = label;
        const struct relp_json_value *dt = relp_json_get(&doc, t, "dtype");
        const struct relp_json_value *shape = relp_json_get(&doc, t, "shape");
        const struct relp_json_value *offs = relp_json_get(&doc, t, "data_offsets");
        if (!dt || dt->type != RELP_JSON_STRING || !shape || shape->type != RELP_JSON_ARRAY || !offs ||
            offs->type != RELP_JSON_ARRAY || offs->n_children != 2) {
            snprintf(err, cap, "%s: tensor '%s' lacks a dtype string, a shape array or a 2-element data_offsets",
                     label, t->key);
            goto fail;
        }
        if (strcmp(dt->str, "F32") == 0) st.dtype = RELP_DTYPE_F32;
        else if (strcmp(dt->str, "F16") == 0) st.dtype = RELP_DTYPE_F16;
        else if (strcmp(dt->str, "BF16") == 0) st.dtype = RELP_DTYPE_BF16;
        else {
            /* buffers such as attn.bias / masked_bias may have other dtypes: they are not used */
            if (is_buffer(t->key)) continue;
            snprintf(err, cap, "%s: tensor '%s' has dtype %s; relp reads F32, F16 or BF16", label, t->key, dt->str);
            goto fail;
        }
        if (shape->n_children > ST_MAX_DIMS) {
            snprintf(err, cap, "%s: tensor '%s' has %d dimensions, at most %d expected", label, t->key,
                     shape->n_children, ST_MAX_DIMS);
            goto fail;
        }
        int64_t numel = 1;
        for (const struct relp_json_value *d = relp_json_first(&doc, shape); d; d = relp_json_next(&doc, d)) {
            int64_t v;
            if (relp_json_int(d, 0, (int64_t)1 << 40, &v)) {
                snprintf(err, cap, "%s: tensor '%s' has a shape entry that is not a non-negative integer", label,
                         t->key);
                goto fail;
            }
            st.shape[st.ndim++] = v;
            if (v && numel > ((int64_t)1 << 40) / v) {
                snprintf(err, cap, "%s: tensor '%s' claims an absurd number of elements", label, t->key);
                goto fail;
            }
            numel *= v;
        }
        st.numel = numel;
        int64_t b, e;
        if (relp_json_int(relp_json_at(&doc, offs, 0), 0, INT64_MAX / 2, &b) || relp_json_int(relp_json_at(&doc, offs, 1), 0, INT64_MAX / 2, &e) ||
            b > e) {
            snprintf(err, cap, "%s: tensor '%s' has bad data_offsets", label, t->key);
            goto fail;
        }
        if ((uint64_t)e > data_len) {
            snprintf(err, cap,
                     "%s: tensor '%s' ends at byte %lld of the data block but the block has only %zu bytes "
                     "(truncated file, or the header lies about offsets)",
                     label, t->key, (long long)e, data_len);
            goto fail;
        }
        if ((uint64_t)(e - b) != (uint64_t)numel * st_dtype_size(st.dtype)) {
            snprintf(err, cap, "%s: tensor '%s' has %lld bytes but shape and dtype %s need %lld", label, t->key,
                     (long long)(e - b), dt->str, (long long)(numel * (int64_t)st_dtype_size(st.dtype)));
            goto fail;
        }
        st.data = data + b;
        struct st_tensor *grown = realloc(*list, (size_t)(*n + 1) * sizeof **list);
        if (!grown) {
            snprintf(err, cap, "%s: out of memory", label);
            goto fail;
        }
        *list = grown;
        (*list)[(*n)++] = st;
    }
    relp_json_free(&doc);
    return 0;
fail:
    relp_json_free(&doc);
    return -1;
}
