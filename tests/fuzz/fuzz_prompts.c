/* fuzz_prompts.c - the input is a --prompts JSON Lines file, read by the
 * CLI's own reader (cli/prompts.c) with the default bundled model's tokenizer:
 * bad JSON, missing keys, non-string values, answers that are not one
 * token, lengths that differ. Its messages go to stderr: run.sh passes
 * -close_fd_mask=2 so that only libFuzzer's own output is kept. */
#include "fuzz_common.h"
#include "prompts.h"

static struct relp_model *model;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    if (relp_model_init_from_dir(&model, RELP_FUZZ_TOKENIZER_DIR, NULL) != RELP_STATUS_OK) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct batch b;
    memset(&b, 0, sizeof b);
    int rc = load_prompts_text(model, (const char *)data, size, "fuzz.jsonl", 1, &b);
    if (rc == 0 && (b.n < 1 || b.T < 1)) abort(); /* success means at least one pair */
    batch_free(&b);
    return 0;
}
