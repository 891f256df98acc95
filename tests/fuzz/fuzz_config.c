/* fuzz_config.c - the input is config.json, loaded with the tiny model's
 * valid weights: shapes that disagree, absurd sizes, zero or negative
 * counts, non-JSON. */
#include "fuzz_common.h"

static unsigned char *weights;
static size_t weights_size;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!weights) weights = tiny_safetensors(0, TINY_N_TENSORS, &weights_size);
    struct relp_file files[2] = {{"config.json", data, size}, {"model.safetensors", weights, weights_size}};
    struct relp_model *m = NULL;
    enum relp_status st = relp_model_init_from_memory(&m, files, 2, NULL);
    check_error(m, st);
    if (st == RELP_STATUS_OK) run_model(m);
    relp_model_free(m);
    return 0;
}
