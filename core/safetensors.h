/* safetensors.h - parse a .safetensors file held in memory.
 *
 * Layout: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *  "__metadata__": {..}}, then the data block. Every offset, size and shape
 * is checked against the file length before anything is used. */
#ifndef RELP_SAFETENSORS_H
#define RELP_SAFETENSORS_H

#include "relp.h"

#include <stddef.h>

#define st_parse relp__st_parse /* the library's prefix on the symbols (ops.h) */
#define st_dtype_size relp__st_dtype_size
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_NAME 160

struct st_tensor {
    char name[ST_MAX_NAME]; /* with the prefix given to st_parse removed */
    enum relp_dtype dtype;
    int32_t ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const unsigned char *data; /* inside the file buffer */
    const char *file;          /* label of the file, for messages */
};

/* Appends the tensors of one file to *list (realloc'd), names without
 * prefix (may be NULL) where they start with it. Returns 0, or -1 with err
 * holding "<label>: what is wrong; what is expected". */
int st_parse(const unsigned char *buf, size_t size, const char *label, const char *prefix, struct st_tensor **list,
             int32_t *n, char *err, size_t cap);
size_t st_dtype_size(enum relp_dtype dt);

#endif
