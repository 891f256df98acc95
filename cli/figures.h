/* figures.h - the CLI's --svg and --png: relp's figures (relp.h, FIGURES,
 * drawn by core/figure*.c as for the page and the Python package) written to
 * files, with the caption's facts the CLI knows and the run's warnings (the
 * core's: relp.h WARNINGS). */
#ifndef RELP_CLI_FIGURES_H
#define RELP_CLI_FIGURES_H

#include <stddef.h>
#include <stdint.h>

struct relp_ctx;
struct warn_list;

/* What a figure's caption says about the run. */
struct figure_caption {
    const char *model;               /* the model's name as shown */
    const char *method;              /* a method or rules preset name: relp, ap, atp, ... */
    int steps;                       /* IG steps to mention; 0: none */
    const char *const *clean;        /* T token strings of the (first) clean prompt */
    const char *const *corrupt;      /* T token strings of its corrupted prompt; NULL: one prompt (explain) */
    int T;
    const char *answer, *wrong;      /* wrong NULL: the metric is the answer's logit */
    double m_clean, m_corrupt;       /* the metric on both prompts (unnormalised) */
    int n_prompts;                   /* > 1: the map is their mean; the first is shown */
    double p_answer;                 /* the answer's probability after the clean prompt ... */
    int rank;                        /* ... and its rank (1 = predicted); 0: not known */
    int relevance;                   /* token relevance: say the sum and the conservation gap */
    double rel_total, rel_value;
    const char *metric;              /* the metric's name (relp_metric_name); NULL: logit_diff (logit without wrong) */
    int noising;
    const struct warn_list *warnings; /* the run's (cli.h), or NULL; GAP_ZERO: the scores are in metric units */
};

enum figure_layout {
    FIGURE_POSITIONS,      /* (L, T): layer x position of one node type */
    FIGURE_HEADS,          /* (L, NH): layer x head */
    FIGURE_HEAD_POSITIONS, /* (L, NH, T): layer.head x position */
    FIGURE_TOKENS          /* (T): one relevance per token of the prompt, as chips */
};

struct figure {
    enum figure_layout layout;
    const float *values;
    int L, NH, NKV;
    const char *node;        /* FIGURE_POSITIONS: resid, attn or mlp */
    const char *rules;       /* FIGURE_TOKENS: the rule preset's name */
    struct figure_caption cap;
};

/* The figures' style from --font, --no-caption and --color-max (cli_common.c get_scale reads them); figure_style
 * sets it on a figure before it is drawn. With --no-caption, figure_save writes the caption as text beside each
 * file: FILE.svg -> FILE.caption.txt. */
struct relp_figure;
struct relp_figure_style;
extern struct relp_figure_style cli_figure_style;
void figure_style(struct relp_figure *fig);

/* Draws the figure and writes it to png (scale x the SVG's size, 1 to 4) and svg, either may be NULL.
 * Returns 0, or 1 after saying on stderr what failed. */
int figure_write(const struct figure *f, const char *png, const char *svg, int scale);
/* Writes a figure drawn with status drawn (relp.h FIGURES) to png (at scale) and svg, either may be NULL; 0, or 1
 * after saying on stderr what failed. */
struct relp_figure;
int figure_save(struct relp_figure *fig, int drawn, const char *png, const char *svg, int scale);

#endif
