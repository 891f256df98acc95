/* fuzz_safetensors.c - the input is model.safetensors: its header (JSON),
 * offsets, dtypes and shapes, loaded with a valid tiny config.json. A load
 * must succeed and run, or fail with a message; never read out of bounds. */
#include "fuzz_common.h"
#include "safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct st_tensor *list = NULL;
    int32_t n = 0;
    char err[256];
    st_parse(data, size, "fuzz.safetensors", NULL, &list, &n, err, sizeof err);
    free(list);
    struct relp_file files[2] = {{"config.json", tiny_config, sizeof tiny_config - 1}, {"model.safetensors", data, size}};
    load_and_run(files, 2);
    return 0;
}
