/* warnings.c - the warnings of a run and of a model (relp.h WARNINGS): their
 * rules, applied from the facts of a run (the metric on both prompts, the
 * direction, the prompts' last tokens and the answers, the prediction), and
 * their sentences, printed from core/names.c's formats. The one owner of
 * them: the CLI, the WebAssembly API (and so the page) and the Python
 * package read the flags and the texts from here and never build their own.
 * What it does not do: decide what a front end shows (a token relevance
 * figure, for one, has no gap). */
#include "internal.h"
#include "figure.h"
#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the list */

void relp__warn_add(struct relp__warnings *w, uint32_t flag, const char *fmt, ...) {
    if ((w->flags & flag) || w->n >= RELP__MAX_WARNINGS) return;
    /* kept in flag order */
    int at = w->n;
    while (at > 0 && w->flag[at - 1] > flag) at--;
    for (int i = w->n; i > at; i--) {
        w->flag[i] = w->flag[i - 1];
        memcpy(w->text[i], w->text[i - 1], RELP__WARNING_LEN);
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->text[at], RELP__WARNING_LEN, fmt, ap);
    va_end(ap);
    w->flag[at] = flag;
    w->flags |= flag;
    w->n++;
}

static const char *text_of(const struct relp__warnings *w, int32_t i, uint32_t *flag) {
    if (i < 0 || i >= w->n) return NULL;
    if (flag) *flag = w->flag[i];
    return w->text[i];
}

uint32_t relp_ctx_warnings(const struct relp_ctx *ctx) { return ctx ? ctx->warn.flags : 0; }
const char *relp_ctx_warning(const struct relp_ctx *ctx, int32_t i, uint32_t *flag) {
    return ctx ? text_of(&ctx->warn, i, flag) : NULL;
}
uint32_t relp_model_warnings(const struct relp_model *model) { return model ? model->warn.flags : 0; }
const char *relp_model_warning(const struct relp_model *model, int32_t i, uint32_t *flag) {
    return model ? text_of(&model->warn, i, flag) : NULL;
}

/* ---------------------------------------------------------------- the rules */

static const char *metric_title(enum relp_metric_kind k) {
    const struct relp_metric_name *n = relp_metric_name((int32_t)k);
    return n && n->kind == k ? n->title : "metric";
}

/* a token's bytes, quoted as JSON.stringify quotes a string (prefix: prepended), into out */
static const char *quoted(const struct relp_model *m, const char *prefix, int32_t id, char *out, size_t cap) {
    int32_t n = 0;
    const char *p = m->tok ? relp_token_bytes(m, id, &n) : NULL;
    if (!p) { /* no tokenizer: the id */
        snprintf(out, cap, "token %d", (int)id);
        return out;
    }
    char raw[256];
    snprintf(raw, sizeof raw, "%s%.*s", prefix, (int)(n < 200 ? n : 200), p);
    struct fig_str b = {0};
    relp__str_quote(&b, raw);
    snprintf(out, cap, "%s", b.s && !b.oom ? b.s : "\"?\"");
    free(b.s);
    return out;
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* 1 when token id starts with a letter or digit (no space), the prompt's last token does not end in white space,
 * and " " + the token is one token of the vocabulary: the word as the model writes it after a word */
static int lacks_space(const struct relp_model *m, int32_t id, int32_t last) {
    if (!m->tok || id < 0 || id >= m->cfg.vocab_size) return 0;
    int32_t n = 0, nl = 0;
    const char *p = relp_token_bytes(m, id, &n), *q = last >= 0 ? relp_token_bytes(m, last, &nl) : NULL;
    if (!p || n <= 0 || n > 200) return 0;
    const unsigned char c0 = (unsigned char)p[0];
    if (!((c0 >= 'A' && c0 <= 'Z') || (c0 >= 'a' && c0 <= 'z') || (c0 >= '0' && c0 <= '9') || c0 >= 0x80)) return 0;
    if (q && nl > 0 && is_space((unsigned char)q[nl - 1])) return 0;
    char text[256], err[RELP_ERROR_LEN];
    text[0] = ' ';
    memcpy(text + 1, p, (size_t)n);
    int32_t ids[4];
    int64_t k = 0;
    if (relp__tokenize(m->tok, text, n + 1, 0, ids, 4, &k, err) != RELP_STATUS_OK) return 0;
    return k == 1 && ids[0] != id;
}

static void warn_space(struct relp__warnings *w, const struct relp_model *m, int B, const int32_t *last,
                       const int32_t *answer, const int32_t *wrong) {
    for (int b = 0; last && answer && b < B; b++) {
        const int32_t ids[2] = {answer[b], wrong ? wrong[b] : -1};
        for (int k = 0; k < 2; k++)
            if (lacks_space(m, ids[k], last[b])) {
                char tok[300], spaced[300];
                relp__warn_add(w, RELP_WARNING_ANSWER_SPACE, relp__warning_format(RELP_WARNING_ANSWER_SPACE),
                               k ? "the wrong token" : "the answer", quoted(m, "", ids[k], tok, sizeof tok),
                               quoted(m, " ", ids[k], spaced, sizeof spaced));
                return;
            }
    }
}

static void warn_gap(struct relp__warnings *w, enum relp_metric_kind kind, double mc, double mr) {
    if (w->flags & (RELP_WARNING_GAP_NEGATIVE | RELP_WARNING_GAP_ZERO | RELP_WARNING_GAP_SMALL)) return;
    const double gap = mc - mr;
    char num[64];
    if (mc == mr) {
        snprintf(num, sizeof num, "%g", mc);
        relp__warn_add(w, RELP_WARNING_GAP_ZERO, relp__warning_format(RELP_WARNING_GAP_ZERO), num);
    } else if (!(gap > 0)) {
        relp__warn_add(w, RELP_WARNING_GAP_NEGATIVE, relp__warning_format(RELP_WARNING_GAP_NEGATIVE), metric_title(kind),
                       relp__js_fixed(num, gap, 3));
    } else if (gap < RELP_MIN_GAP) {
        relp__warn_add(w, RELP_WARNING_GAP_SMALL, relp__warning_format(RELP_WARNING_GAP_SMALL), metric_title(kind),
                       relp__js_fixed(num, gap, 3), RELP_MIN_GAP);
    }
}

static void warn_prediction(struct relp__warnings *w, const struct relp_model *m, const struct relp_prediction *p) {
    if (!p || p->rank <= 1) return;
    char top[300], ans[300], pt[64], pa[64];
    relp__warn_add(w, RELP_WARNING_NOT_PREDICTED, relp__warning_format(RELP_WARNING_NOT_PREDICTED),
                   quoted(m, "", p->top, top, sizeof top), relp__js_fixed(pt, p->p_top, 3),
                   quoted(m, "", p->answer, ans, sizeof ans), relp__js_fixed(pa, p->p_answer, 3), (int)p->rank);
}

static void warn_noising(struct relp__warnings *w, int noising) {
    if (noising) relp__warn_add(w, RELP_WARNING_NOISING, "%s", relp__warning_format(RELP_WARNING_NOISING));
}

uint32_t relp_run_warnings(struct relp_ctx *ctx, const struct relp_run_facts *f) {
    if (!ctx) return 0;
    memset(&ctx->warn, 0, sizeof ctx->warn);
    if (!f) return 0;
    ctx->warn_metric = f->metric;
    warn_prediction(&ctx->warn, ctx->model, f->prediction);
    if (!isnan(f->metric_clean) || !isnan(f->metric_corrupt)) warn_gap(&ctx->warn, f->metric, f->metric_clean, f->metric_corrupt);
    warn_space(&ctx->warn, ctx->model, f->n_prompts, f->clean_last, f->answer,
               f->metric == RELP_METRIC_LOGIT_DIFF ? f->wrong : NULL);
    warn_noising(&ctx->warn, f->noising);
    return ctx->warn.flags;
}

void relp__warn_begin(struct relp_ctx *ctx, const int32_t *clean, int32_t B, int32_t T, const struct relp_metric *mt,
                      int noising) {
    memset(&ctx->warn, 0, sizeof ctx->warn);
    ctx->warn_metric = mt ? mt->kind : RELP_METRIC_LOGIT_DIFF;
    if (clean && mt && B > 0 && T > 0 && B <= 4096) {
        int32_t last[4096];
        for (int b = 0; b < B; b++) last[b] = clean[(size_t)b * T + T - 1];
        warn_space(&ctx->warn, ctx->model, B, last, mt->answer, mt->kind == RELP_METRIC_LOGIT_DIFF ? mt->wrong : NULL);
    }
    warn_noising(&ctx->warn, noising);
}

void relp__warn_gap(struct relp_ctx *ctx, double mc, double mr) { warn_gap(&ctx->warn, ctx->warn_metric, mc, mr); }

/* ---------------------------------------------------------------- the prediction */

enum relp_status relp_predict(struct relp_ctx *ctx, const int32_t *ids, int32_t T, int32_t answer,
                              struct relp_prediction *out) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    if (!ids || !out) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "predict: NULL argument");
    const int V = ctx->model->d.V;
    if (answer < 0 || answer >= V)
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "predict: answer token %d outside the vocabulary [0, %d)",
                              answer, V);
    enum relp_status st;
    if ((st = relp_ctx_set_logit_tokens(ctx, NULL, 0)) || (st = relp_ctx_set_logit_positions(ctx, NULL, 0)) ||
        (st = relp_forward(ctx, ids, 1, T)))
        return st;
    const float *lg = relp_ctx_logits(ctx, NULL);
    double mx = -INFINITY, z = 0;
    int best = 0, rank = 1;
    for (int i = 0; i < V; i++)
        if (lg[i] > mx) mx = lg[i], best = i;
    for (int i = 0; i < V; i++) {
        z += exp(lg[i] - mx);
        rank += lg[i] > lg[answer];
    }
    out->answer = answer;
    out->p_answer = exp(lg[answer] - mx) / z;
    out->rank = rank;
    out->top = best;
    out->p_top = 1 / z;
    return RELP_STATUS_OK;
}
