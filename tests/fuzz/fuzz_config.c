/* fuzz_config.c - the input is config.json, loaded with the tiny model's
 * valid weights: shapes that disagree, absurd sizes, zero or negative
 * counts, non-JSON. */
#include "fuzz_common.h"

static unsigned char *weights;
static size_t weights_size;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!weights) weights = tiny_safetensors(0, TINY_N_TENSORS, &weights_size);
    struct relp_file files[2] = {{"config.json", data, size}, {"model.safetensors", weights, weights_size}};
    load_and_run(files, 2);
    return 0;
}
