/* fuzz_index.c - the input is model.safetensors.index.json; the tiny
 * model's tensors are split over two shards, a.safetensors and
 * b.safetensors. Unknown shard names, missing tensors, non-JSON. */
#include "fuzz_common.h"

static unsigned char *a, *b;
static size_t an, bn;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!a) {
        a = tiny_safetensors(0, 7, &an);
        b = tiny_safetensors(7, TINY_N_TENSORS, &bn);
    }
    struct relp_file files[4] = {{"config.json", tiny_config, sizeof tiny_config - 1},
                                 {"model.safetensors.index.json", data, size},
                                 {"a.safetensors", a, an},
                                 {"b.safetensors", b, bn}};
    load_and_run(files, 4);
    return 0;
}
