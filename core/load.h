/* load.h - the loader's parts, shared by config.c, plan.c, files.c and
 * loader.c. Nothing here is public API. */
#ifndef RELP_LOAD_H
#define RELP_LOAD_H

#include "arch.h"
#include "safetensors.h"

/* config.c: config.json into *cfg (resolved); err names the file. */
enum relp_status relp__parse_config(struct relp_config *cfg, const struct relp_file *f, char *err);
/* config.c: fills the zero defaults of *c, checks it and derives *d. */
enum relp_status relp__resolve(struct relp_config *c, struct relp_dims *d, const char *file, char *err);

/* plan.c: every parameter of m's architecture bound from the checkpoint's
 * tensors (list == NULL: random weights from seed instead), converted,
 * packed or used in place. m->cfg, m->d, m->arch and m->weight_dtype are
 * set; fills m->layers and the model's tensor fields. */
enum relp_status relp__bind(struct relp_model *m, const struct st_tensor *list, int32_t n, uint64_t seed);
/* plan.c: parameter count of the model's architecture and config */
int64_t relp__count_params(const struct relp_model *m);
/* plan.c: bytes of the weights in memory (owned, none used in place) */
int64_t relp__weight_bytes(const struct relp_model *m, enum relp_dtype weights, int transposed);
/* plan.c: the model's architecture switches from m->cfg */
void relp__set_arch(struct relp_model *m);

/* files.c: where checkpoint files come from: a directory (mapped on demand,
 * kept in model->files) or the caller's buffers. */
struct relp__source {
    const char *dir;
    const struct relp_file *files;
    int32_t n_files;
    int use_mmap;
};
int relp__source_has(const struct relp__source *s, const char *name);
enum relp_status relp__source_get(struct relp_model *m, const struct relp__source *s, const char *name,
                                  struct relp_file *out);
const char *relp__source_label(const struct relp__source *s, const char *name, char *buf, size_t cap);
#define RELP_MAX_SHARDS 256
/* files.c: the tensors of model.safetensors or of every shard of its index */
enum relp_status relp__load_tensors(struct relp_model *m, const struct relp__source *s, struct st_tensor **list,
                                    int32_t *n, char labels[][512], int32_t *n_labels);
/* files.c: the tokenizer files, if any (required: fail without them) */
enum relp_status relp__load_tokenizer(struct relp_model *m, const struct relp__source *s, int required);

#endif
