/* figures.c - the CLI's figures: the facts of a run (cli/figures.h) turned
 * into relp.h's figure requests, with the warnings the run deserves in the
 * caption, drawn by the core (core/figure*.c) and written to files. The
 * warnings are the page's (web/guard.js runWarnings), in its words: the model
 * does not predict the answer; the gap is not positive, or below
 * RELP_FIGURE_MIN_GAP; the scores are in metric units (the core's words). */
#include "figures.h"

#include "relp.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* JSON.stringify of a string into out (the caption quotes tokens so) */
static void quote(char *out, size_t cap, const char *s) {
    size_t o = 0;
    if (cap < 3) return;
    out[o++] = '"';
    for (; *s && o + 8 < cap; s++) {
        const unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') o += (size_t)snprintf(out + o, cap - o, "\\%c", c);
        else if (c == '\n') o += (size_t)snprintf(out + o, cap - o, "\\n");
        else if (c < 0x20) o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        else out[o++] = (char)c;
    }
    out[o++] = '"';
    out[o] = '\0';
}

/* the run's warnings, at most 2, in w (each 512 bytes); returns the count */
static int warnings(const struct figure_caption *c, char w[2][512]) {
    int n = 0;
    if (c->rank > 1 && c->top) {
        char top[128], ans[128];
        quote(top, sizeof top, c->top);
        quote(ans, sizeof ans, c->answer ? c->answer : "");
        snprintf(w[n++], 512, "the model does not predict the answer on the clean prompt: its top token is %s (p = %.3f), while %s "
                              "has p = %.3f, rank %d. The map explains a prediction the model does not make",
                 top, c->p_top + 0.0, ans, c->p_answer + 0.0, c->rank);
    }
    if (!c->relevance && c->corrupt) {
        const double gap = c->m_clean - c->m_corrupt;
        if (c->units_warning)
            snprintf(w[n++], 512, "%s", strncmp(c->units_warning, "warning: ", 9) ? c->units_warning : c->units_warning + 9);
        else if (!(gap > 0))
            snprintf(w[n++], 512, "the logit difference is not larger on the clean prompt than on the corrupted one (gap %.3f): "
                                  "\"share restored\" has no meaning here", gap + 0.0);
        else if (gap < RELP_FIGURE_MIN_GAP)
            snprintf(w[n++], 512, "the clean - corrupted gap of the logit difference is %.3f, below %g: too small to normalise by, "
                                  "so the shares are unstable", gap, RELP_FIGURE_MIN_GAP);
    }
    return n;
}

static int write_file(const char *path, const char *what, const char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) {
        if (f) fclose(f);
        fprintf(stderr, "relp: %s %s: cannot write the file\n", what, path);
        return 1;
    }
    return 0;
}

int figure_write(const struct figure *f, const char *png, const char *svg) {
    const struct figure_caption *c = &f->cap;
    char w[2][512];
    const char *ws[2] = {w[0], w[1]};
    struct relp_figure_caption cap = {0};
    cap.model = c->model, cap.method = c->method, cap.steps = c->steps;
    cap.n_tokens = c->T, cap.clean = c->clean, cap.corrupt = c->corrupt;
    cap.answer = c->answer, cap.wrong = c->wrong;
    cap.metric_clean = c->m_clean, cap.metric_corrupt = c->m_corrupt, cap.n_prompts = c->n_prompts;
    cap.p_answer = c->p_answer, cap.rank = c->rank;
    cap.relevance = c->relevance, cap.relevance_total = c->rel_total, cap.relevance_value = c->rel_value;
    cap.n_warnings = warnings(c, w), cap.warnings = ws;
    struct relp_figure *fig = relp_figure_init();
    if (!fig) {
        fprintf(stderr, "relp: out of memory drawing the figure\n");
        return 1;
    }
    enum relp_status st;
    if (f->layout == FIGURE_TOKENS) {
        const struct relp_figure_tokens t = {c->T, c->clean, f->values, f->rules, &cap};
        st = relp_figure_tokens(fig, &t);
    } else {
        static const enum relp_figure_layout layouts[] = {RELP_FIGURE_POSITIONS, RELP_FIGURE_HEADS, RELP_FIGURE_HEAD_POSITIONS};
        const struct relp_figure_maps m = {layouts[f->layout], f->L, f->NH, f->NKV, c->T, c->clean, c->method, f->node, f->values, NULL,
                                           NAN, c->units_warning ? RELP_FIGURE_METRIC : RELP_FIGURE_SHARE, &cap};
        st = relp_figure_maps(fig, &m);
    }
    int rc = figure_save(fig, st, png, svg);
    relp_figure_free(fig);
    return rc;
}

int figure_save(struct relp_figure *fig, int drawn, const char *png, const char *svg) {
    if (drawn != RELP_STATUS_OK) {
        fprintf(stderr, "relp: %s\n", relp_figure_last_error(fig));
        return 1;
    }
    int rc = 0;
    size_t n = 0;
    const char *bytes = NULL;
    if (png) {
        if (relp_figure_png(fig, 1, &bytes, &n) != RELP_STATUS_OK) {
            fprintf(stderr, "relp: --png %s: %s\n", png, relp_figure_last_error(fig));
            rc = 1;
        } else rc = write_file(png, "--png", bytes, n);
    }
    if (!rc && svg) {
        bytes = relp_figure_svg(fig, &n);
        rc = bytes ? write_file(svg, "--svg", bytes, n) : 1;
        if (!bytes) fprintf(stderr, "relp: --svg %s: %s\n", svg, relp_figure_last_error(fig));
    }
    return rc;
}

/* ---------------------------------------------------------------- the caption's prediction */

int figure_predict(struct relp_ctx *ctx, int V, const int32_t *ids, int T, int32_t answer, double *p_answer, int *rank,
                   int32_t *top, double *p_top) {
    int32_t npos = 0;
    if (relp_ctx_set_logit_tokens(ctx, NULL, 0) || relp_ctx_set_logit_positions(ctx, NULL, 0) ||
        relp_forward(ctx, ids, 1, T))
        return -1;
    const float *lg = relp_ctx_logits(ctx, &npos);
    if (!lg || answer < 0 || answer >= V) return -1;
    double mx = -INFINITY, z = 0;
    int best = 0, r = 1;
    for (int i = 0; i < V; i++)
        if (lg[i] > mx) mx = lg[i], best = i;
    for (int i = 0; i < V; i++) {
        z += exp(lg[i] - mx);
        r += lg[i] > lg[answer];
    }
    *p_answer = exp(lg[answer] - mx) / z;
    *rank = r;
    *top = best;
    *p_top = 1 / z;
    return 0;
}
