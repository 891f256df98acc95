/* files.c - the checkpoint's files: where they come from (a directory,
 * mapped on demand, or the caller's buffers), model.safetensors or the
 * shards of model.safetensors.index.json, and the tokenizer files. */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int relp__source_has(const struct relp__source *s, const char *name) {
    if (s->dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        return relp__file_exists(path);
    }
    for (int32_t i = 0; i < s->n_files; i++)
        if (s->files[i].name && strcmp(s->files[i].name, name) == 0) return 1;
    return 0;
}

enum relp_status relp__source_get(struct relp_model *m, const struct relp__source *s, const char *name,
                                   struct relp_file *out) {
    if (s->dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        struct relp_mapped_file *grown = realloc(m->files, (size_t)(m->n_files + 1) * sizeof *grown);
        if (!grown) return relp__fail(m->error, RELP_STATUS_ALLOC_FAILED, "out of memory");
        m->files = grown;
        char err[RELP_ERROR_LEN];
        if (relp__map_file(&m->files[m->n_files], path, s->use_mmap, err, sizeof err))
            return relp__fail(m->error, RELP_STATUS_IO, "%s", err);
        out->data = m->files[m->n_files].data;
        out->size = m->files[m->n_files].size;
        m->n_files++;
        out->name = NULL;
        return RELP_STATUS_OK;
    }
    for (int32_t i = 0; i < s->n_files; i++) {
        if (s->files[i].name && strcmp(s->files[i].name, name) == 0) {
            *out = s->files[i];
            if (!out->data && out->size) return relp__fail(m->error, RELP_STATUS_BAD_ARGUMENT, "%s: NULL data", name);
            return RELP_STATUS_OK;
        }
    }
    return relp__fail(m->error, RELP_STATUS_IO, "%s: not among the files given", name);
}

const char *relp__source_label(const struct relp__source *s, const char *name, char *buf, size_t cap) {
    if (s->dir) snprintf(buf, cap, "%s/%s", s->dir, name);
    else snprintf(buf, cap, "%s", name);
    return buf;
}


enum relp_status relp__load_tensors(struct relp_model *m, const struct relp__source *s, struct st_tensor **list,
                                     int32_t *n, char labels[][512], int32_t *n_labels) {
    enum relp_status st;
    struct relp_file f;
    const char *shard_names[RELP_MAX_SHARDS];
    int32_t n_shards = 0;
    struct relp_json_doc idx;
    memset(&idx, 0, sizeof idx);
    if (relp__source_has(s, "model.safetensors.index.json")) {
        char lab[512];
        relp__source_label(s, "model.safetensors.index.json", lab, sizeof lab);
        if ((st = relp__source_get(m, s, "model.safetensors.index.json", &f))) return st;
        if (relp_json_parse(&idx, f.data, f.size)) {
            st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT, "%s: not valid JSON (%s)", lab, idx.error);
            goto out;
        }
        const struct relp_json_value *wm = relp_json_get(&idx, &idx.v[0], "weight_map");
        if (!wm || wm->type != RELP_JSON_OBJECT) {
            st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT,
                            "%s: no \"weight_map\" object (expected {\"weight_map\": {tensor: shard file}})", lab);
            goto out;
        }
        for (const struct relp_json_value *e = relp_json_first(&idx, wm); e; e = relp_json_next(&idx, e)) {
            if (e->type != RELP_JSON_STRING || strchr(e->str, '/') || strstr(e->str, "..") || !e->str_len) {
                st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT,
                                "%s: weight_map entry for '%s' must be a file name in the same directory", lab, e->key);
                goto out;
            }
            int seen = 0;
            for (int32_t k = 0; k < n_shards && !seen; k++) seen = strcmp(shard_names[k], e->str) == 0;
            if (seen) continue;
            if (n_shards == RELP_MAX_SHARDS) {
                st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT, "%s: more than %d shards", lab, RELP_MAX_SHARDS);
                goto out;
            }
            shard_names[n_shards++] = e->str;
        }
        if (n_shards == 0) {
            st = relp__fail(m->error, RELP_STATUS_BAD_FORMAT, "%s: weight_map is empty", lab);
            goto out;
        }
    } else if (relp__source_has(s, "model.safetensors")) {
        shard_names[n_shards++] = "model.safetensors";
    } else {
        const char *where = s->dir ? s->dir : "the files given";
        if (relp__source_has(s, "pytorch_model.bin"))
            st = relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                            "%s: has pytorch_model.bin but no model.safetensors; relp reads only safetensors (a pickle "
                            "file can run code). Convert it with safetensors.torch.save_file, or download the "
                            "checkpoint's model.safetensors",
                            where);
        else
            st = relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                            "%s: no model.safetensors or model.safetensors.index.json (expected a Hugging Face "
                            "checkpoint)",
                            where);
        goto out;
    }
    for (int32_t k = 0; k < n_shards; k++) {
        relp__source_label(s, shard_names[k], labels[*n_labels], 512);
        const char *lab = labels[(*n_labels)++];
        if ((st = relp__source_get(m, s, shard_names[k], &f))) goto out;
        if (st_parse(f.data, f.size, lab, m->arch->prefix, list, n, m->error, RELP_ERROR_LEN)) {
            st = RELP_STATUS_BAD_FORMAT;
            goto out;
        }
    }
    /* duplicate names across shards would make binding ambiguous */
    for (int32_t i = 0; i < *n; i++)
        for (int32_t j = i + 1; j < *n; j++)
            if (strcmp((*list)[i].name, (*list)[j].name) == 0) {
                st = relp__fail(m->error, RELP_STATUS_BAD_MODEL, "tensor '%s' appears twice (%s and %s)",
                                (*list)[i].name, (*list)[i].file, (*list)[j].file);
                goto out;
            }
    st = RELP_STATUS_OK;
out:
    relp_json_free(&idx);
    return st;
}

/* tokenizer.json (with tokenizer_config.json when there), or GPT-2's
 * vocab.json + merges.txt (or OpenAI's encoder.json + vocab.bpe). A GPT-2
 * checkpoint prefers its vocab.json + merges.txt (relp's GPT-2 behaviour,
 * BOS included, stays as it was); the others prefer tokenizer.json (Qwen2
 * ships both, and only tokenizer.json holds its pattern and special tokens). */
enum relp_status relp__load_tokenizer(struct relp_model *m, const struct relp__source *s, int required) {
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    const char *where = s->dir ? s->dir : "files";
    enum relp_status st;
    const int json = relp__source_has(s, "tokenizer.json");
    const int gpt2_files = relp__source_has(s, "vocab.json") && relp__source_has(s, "merges.txt");
    if (json && !(m->cfg.arch == RELP_ARCH_GPT2 && gpt2_files)) {
        struct relp_file j, c;
        char lj[512], lc[512];
        const int has_config = relp__source_has(s, "tokenizer_config.json");
        if ((st = relp__source_get(m, s, "tokenizer.json", &j)) ||
            (has_config && (st = relp__source_get(m, s, "tokenizer_config.json", &c))))
            return st;
        j.name = relp__source_label(s, "tokenizer.json", lj, sizeof lj);
        c.name = relp__source_label(s, "tokenizer_config.json", lc, sizeof lc);
        if ((st = relp__tokenizer_init_json(&m->tok, &j, has_config ? &c : NULL, m->error))) return st;
        if (relp__tokenizer_size(m->tok) > m->cfg.vocab_size)
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL, "%s has %d tokens but config.json vocab_size is %d", lj,
                              relp__tokenizer_size(m->tok), m->cfg.vocab_size);
        return RELP_STATUS_OK;
    }
    for (int i = 0; i < 2; i++) {
        if (!relp__source_has(s, pairs[i][0]) && !relp__source_has(s, pairs[i][1])) continue;
        if (!relp__source_has(s, pairs[i][0]) || !relp__source_has(s, pairs[i][1]))
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL, "%s: has %s but not %s (the tokenizer needs both)",
                              where, relp__source_has(s, pairs[i][0]) ? pairs[i][0] : pairs[i][1],
                              relp__source_has(s, pairs[i][0]) ? pairs[i][1] : pairs[i][0]);
        struct relp_file v, mg;
        char lv[512], lm[512];
        if ((st = relp__source_get(m, s, pairs[i][0], &v)) || (st = relp__source_get(m, s, pairs[i][1], &mg))) return st;
        v.name = relp__source_label(s, pairs[i][0], lv, sizeof lv);
        mg.name = relp__source_label(s, pairs[i][1], lm, sizeof lm);
        if ((st = relp__tokenizer_init(&m->tok, &v, &mg, m->error))) return st;
        if (relp__tokenizer_size(m->tok) > m->cfg.vocab_size)
            return relp__fail(m->error, RELP_STATUS_BAD_MODEL,
                              "%s has %d tokens but config.json vocab_size is %d", lv, relp__tokenizer_size(m->tok),
                              m->cfg.vocab_size);
        return RELP_STATUS_OK;
    }
    if (required)
        return relp__fail(m->error, RELP_STATUS_NO_TOKENIZER,
                          "%s: no tokenizer files (expected tokenizer.json, or vocab.json + merges.txt, or encoder.json + "
                          "vocab.bpe)",
                          where);
    return RELP_STATUS_OK;
}
