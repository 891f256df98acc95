/* errors.c - where failures are written: the model's or context's error
 * text, or a thread-local one for loads that could not create a model
 * object; and the status names. The library never prints. */
#include "internal.h"

#include <stdio.h>

static _Thread_local char orphan_error[RELP_ERROR_LEN];
char *relp__orphan_error(void) { return orphan_error; }

enum relp_status relp__fail(char *buf, enum relp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, RELP_ERROR_LEN, fmt, ap);
    va_end(ap);
    return st;
}

enum relp_status relp__ctx_fail(struct relp_ctx *ctx, enum relp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->error, RELP_ERROR_LEN, fmt, ap);
    va_end(ap);
    return st;
}

const char *relp_last_error(const struct relp_model *model) { return model ? model->error : orphan_error; }

const char *relp_ctx_last_error(const struct relp_ctx *ctx) { return ctx ? ctx->error : orphan_error; }

const char *relp_status_str(enum relp_status s) {
    switch (s) {
    case RELP_STATUS_OK: return "ok";
    case RELP_STATUS_IO: return "i/o error";
    case RELP_STATUS_BAD_FORMAT: return "bad file format";
    case RELP_STATUS_BAD_MODEL: return "not a usable checkpoint";
    case RELP_STATUS_BAD_ARGUMENT: return "bad argument";
    case RELP_STATUS_ALLOC_FAILED: return "out of memory";
    case RELP_STATUS_NO_TOKENIZER: return "model has no tokenizer";
    case RELP_STATUS_CANCELLED: return "cancelled";
    }
    return "unknown status";
}
