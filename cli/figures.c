/* figures.c - the CLI's figures: the facts of a run (cli/figures.h) turned
 * into relp.h's figure requests, with the run's warnings in the caption (the
 * core's, as the page and Python show them: relp.h WARNINGS), drawn by the
 * core (core/figure*.c) and written to files. */
#include "figures.h"
#include "cli.h"

#include "relp.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *path, const char *what, const char *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, n, f) != n || fclose(f) != 0) {
        const char *why = strerror(errno);
        if (f) fclose(f);
        fprintf(stderr, "relp: %s %s: cannot write the file: %s\n", what, path, why);
        return 1;
    }
    return 0;
}

int figure_write(const struct figure *f, const char *png, const char *svg, int scale) {
    const struct figure_caption *c = &f->cap;
    const char *ws[8];
    const struct warn_list *wl = c->warnings;
    int nw = 0;
    for (int i = 0; wl && i < wl->n && nw < 8; i++) /* token relevance has no gap: only the prediction and the space */
        if (!c->relevance || wl->flag[i] == RELP_WARNING_NOT_PREDICTED || wl->flag[i] == RELP_WARNING_ANSWER_SPACE)
            ws[nw++] = wl->text[i];
    struct relp_figure_caption cap = {0};
    cap.model = c->model, cap.method = c->method, cap.steps = c->steps;
    cap.n_tokens = c->T, cap.clean = c->clean, cap.corrupt = c->corrupt;
    cap.answer = c->answer, cap.wrong = c->wrong;
    cap.metric_clean = c->m_clean, cap.metric_corrupt = c->m_corrupt, cap.n_prompts = c->n_prompts;
    cap.p_answer = c->p_answer, cap.rank = c->rank;
    cap.relevance = c->relevance, cap.relevance_total = c->rel_total, cap.relevance_value = c->rel_value;
    cap.n_warnings = nw, cap.warnings = ws;
    cap.metric = c->metric, cap.noising = c->noising;
    struct relp_figure *fig = relp_figure_init();
    figure_style(fig);
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
        const int metric_units = wl && warn_has(wl, RELP_WARNING_GAP_ZERO);
        const struct relp_figure_maps m = {layouts[f->layout], f->L, f->NH, f->NKV, c->T, c->clean, c->method, f->node, f->values, NULL,
                                           NAN, metric_units ? RELP_FIGURE_METRIC : RELP_FIGURE_SHARE, &cap};
        st = relp_figure_maps(fig, &m);
    }
    int rc = figure_save(fig, st, png, svg, scale);
    relp_figure_free(fig);
    return rc;
}

void figure_style(struct relp_figure *fig) {
    if (fig) relp_figure_set_style(fig, &cli_figure_style);
}

/* --no-caption: the caption as text beside the file, FILE.ext -> FILE.caption.txt */
static int write_caption(struct relp_figure *fig, const char *path, const char *what) {
    size_t n = 0;
    const char *text = relp_figure_caption_text(fig, &n);
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    const size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    char *out = malloc(stem + 16);
    if (!out) return 1;
    memcpy(out, path, stem);
    strcpy(out + stem, ".caption.txt");
    const int rc = write_file(out, what, text, n);
    free(out);
    return rc;
}

int figure_save(struct relp_figure *fig, int drawn, const char *png, const char *svg, int scale) {
    if (drawn != RELP_STATUS_OK) {
        fprintf(stderr, "relp: %s\n", relp_figure_last_error(fig));
        return 1;
    }
    int rc = 0;
    size_t n = 0;
    const char *bytes = NULL;
    if (png) {
        if (relp_figure_png(fig, scale < 1 ? 1 : scale, &bytes, &n) != RELP_STATUS_OK) {
            fprintf(stderr, "relp: --png %s: %s\n", png, relp_figure_last_error(fig));
            rc = 1;
        } else rc = write_file(png, "--png", bytes, n);
    }
    if (!rc && svg) {
        bytes = relp_figure_svg(fig, &n);
        rc = bytes ? write_file(svg, "--svg", bytes, n) : 1;
        if (!bytes) fprintf(stderr, "relp: --svg %s: %s\n", svg, relp_figure_last_error(fig));
    }
    if (!rc && cli_figure_style.no_caption) {
        if (svg) rc = write_caption(fig, svg, "--no-caption (beside --svg)");
        if (!rc && png) rc = write_caption(fig, png, "--no-caption (beside --png)");
    }
    return rc;
}
