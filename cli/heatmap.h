/* heatmap.h - relp's figures as SVG and PNG files (see heatmap.c): the same
 * layout, colours and wording as the page's exported figures (web/render.js),
 * both read from the SPEC at the top of web/render.js. */
#ifndef RELP_HEATMAP_H
#define RELP_HEATMAP_H

#include <stddef.h>
#include <stdint.h>

struct relp_ctx;

/* What a figure's caption says about the run. */
struct figure_caption {
    const char *model;               /* the model's name as shown */
    const char *method;              /* a key of the spec's "methods": relp, ap, atp, ... */
    int steps;                       /* IG steps to mention; 0: none */
    const char *const *clean;        /* T token strings of the (first) clean prompt */
    const char *const *corrupt;      /* T token strings of its corrupted prompt; NULL: one prompt (explain) */
    int T;
    const char *answer, *wrong;      /* wrong NULL: the metric is the answer's logit */
    double m_clean, m_corrupt;       /* the metric on both prompts (unnormalised) */
    int n_prompts;                   /* > 1: the map is their mean; the first is shown */
    double p_answer;                 /* the answer's probability after the clean prompt ... */
    int rank;                        /* ... and its rank (1 = predicted); 0: not known */
    const char *top;                 /* the model's top token there, when rank > 1 */
    double p_top;
    int relevance;                   /* token relevance: say the sum and the conservation gap */
    double rel_total, rel_value;
    const char *units_warning;       /* the core's warning when the scores are in metric units, or NULL */
};

enum heatmap_layout {
    HEATMAP_POSITIONS,      /* (L, T): layer x position of one node type */
    HEATMAP_HEADS,          /* (L, NH): layer x head */
    HEATMAP_HEAD_POSITIONS, /* (L, NH, T): layer.head x position */
    HEATMAP_TOKENS          /* (T): one relevance per token of the prompt, as chips */
};

struct heatmap {
    enum heatmap_layout layout;
    const float *values;
    int L, NH;
    const char *node;        /* HEATMAP_POSITIONS: a key of the spec's "nodes" (resid, attn, mlp) */
    const char *rules;       /* HEATMAP_TOKENS: the rule preset's name */
    struct figure_caption cap;
};

/* Return 0 on success, -1 if the file cannot be written. */
int heatmap_write_png(const char *path, const struct heatmap *h);
int heatmap_write_svg(const char *path, const struct heatmap *h);

/* The model's prediction after ids (one prompt of T tokens; V: the
 * vocabulary's size): the answer's probability and rank, and the top token's
 * id and probability, for the caption. Runs one forward pass on ctx (all
 * logit columns). Returns 0, or -1 on failure. */
int figure_predict(struct relp_ctx *ctx, int V, const int32_t *ids, int T, int32_t answer, double *p_answer, int *rank,
                   int32_t *top, double *p_top);

#endif
