/* figure_views.c - the views of an attribution run, drawn into the display
 * list of figure.c: heatmaps (layer x position, layer x head, layer.head x
 * position), token relevance chips, the estimate-against-AP scatter, every
 * head's attention pattern, and the node table (HTML). Each figure is a title,
 * its panels, a legend that says what the colour means, and a caption (model,
 * both prompts with the differing tokens marked, answer and wrong token,
 * metric, method, r, and the run's warnings). See relp.h, FIGURES.
 *
 * These layouts were the page's (web/render.js) and the CLI's (cli/heatmap.c)
 * until both called this file; tests/test_figures.mjs holds every view to the
 * fixtures taken from them, element by element. */
#include "figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P FIG_PAD
#define LH FIG_CAPTION_LINE_H

static struct fig_text_style muted(int anchor, int rotate, const char *cls) {
    return (struct fig_text_style){anchor, rotate, 0, 0, FIG_MUTED, cls};
}
static const struct fig_text_style panel_title = {FIG_START, 0, 1, FIG_TITLE_SIZE, FIG_INK, "panel-title"};

static double absmax(const float *v, size_t n, double m) {
    for (size_t i = 0; v && i < n; i++)
        if (isfinite(v[i]) && fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}
static int32_t kv_of(int32_t n_head, int32_t n_kv) { return n_kv > 0 && n_kv < n_head ? n_kv : n_head; }

/* ---------------------------------------------------------------- legend */

static const char *legend_text(enum fig_legend u) {
    switch (u) {
    case FIG_LEGEND_SHARE: return "colour: share of the logit difference restored (0 = corrupted run, 1 = clean run)";
    case FIG_LEGEND_METRIC:
        return "colour: change of the logit difference, in logit units, not a share: the clean - corrupted gap is too "
               "small or not positive to normalise by";
    case FIG_LEGEND_RELEVANCE: return "colour: relevance for the logit difference (logit units; red raises it, blue lowers it)";
    case FIG_LEGEND_ATTENTION: return "colour: attention weight (row: query, column: key)";
    }
    return "";
}

/* the metric's name in a caption: its title (relp_metric_name), from the caption's metric, else logit difference,
 * or logit when there is an answer and no wrong token */
static const char *metric_title(const struct relp_figure_caption *c) {
    const struct relp_metric_name *mn = c && c->metric ? relp_metric_find(c->metric) : NULL;
    if (mn) return mn->title;
    return c && c->answer && !c->wrong ? "logit" : "logit difference";
}

/* the maps' legend in the caption's words: its metric, and noising's 0 and -1 (NULL: the default, logit difference
 * denoising); into out */
static const char *maps_legend(enum relp_figure_units u, const struct relp_figure_caption *c, char *out, size_t cap) {
    const char *mt = metric_title(c);
    const int logits = strcmp(mt, "log-probability") != 0;
    if (u == RELP_FIGURE_METRIC) {
        if (!strcmp(mt, "logit difference")) return NULL;
        snprintf(out, cap, "colour: change of the %s, in %s, not a share: the clean - corrupted gap is too small or not "
                           "positive to normalise by", mt, logits ? "logit units" : "nats");
    } else if (c && c->noising) {
        snprintf(out, cap, "colour: noising: change of the %s when a node of the clean run takes its corrupted value, "
                           "as a share of the gap (0 = no change, the clean run; -1 = the corrupted run)", mt);
    } else {
        if (!strcmp(mt, "logit difference")) return NULL;
        snprintf(out, cap, "colour: share of the %s restored (0 = corrupted run, 1 = clean run)", mt);
    }
    return out;
}

/* what the colour means (wrapped; text NULL: the units' words), the colour bar, ticks at -max, 0, +max (0, 1 for
 * attention); returns the height */
double relp__fig_legend(struct relp_figure *f, double x, double y, double width, double max, enum fig_legend units,
                        const char *text) {
    const int seq = units == FIG_LEGEND_ATTENTION;
    char **ls;
    const int n = relp__wrap(text ? text : legend_text(units), (int)floor(width / FIG_CHARW), &ls);
    relp__fig_group(f, "legend");
    for (int i = 0; i < n; i++) relp__fig_text(f, x, y + 11 + i * LH, ls[i], muted(FIG_START, 0, NULL));
    relp__lines_free(ls, n);
    const double by = y + n * LH + 4, w = FIG_LEGEND_W, bh = FIG_LEGEND_BAR_H;
    relp__fig_add(f, FIG_GRADIENT)->fill = seq ? FIG_GRAD_S : FIG_GRAD_D;
    struct fig_item *bar = relp__fig_rect(f, x, by, w, bh, seq ? FIG_GRAD_S : FIG_GRAD_D);
    bar->stroke = 0x999999u, bar->stroke_width = 0.5;
    const double at[3] = {0, 0.5, 1};
    for (int k = 0; k < 3; k++) {
        if (seq && k == 1) continue;
        char label[64];
        if (seq) strcpy(label, k ? "1" : "0");
        else if (k == 1) strcpy(label, "0");
        else relp__fig_tick(label, k == 0 ? -max : max);
        const double tx = x + at[k] * w;
        relp__fig_line(f, tx, by + bh, tx, by + bh + 3, FIG_MUTED);
        relp__fig_text(f, tx, by + bh + 14, label, muted(k == 0 ? FIG_START : k == 2 ? FIG_END : FIG_MIDDLE, 0, NULL));
    }
    relp__fig_end(f, FIG_GROUP_END);
    return n * LH + 4 + bh + 18;
}

/* ---------------------------------------------------------------- caption */

enum { CL_TEXT, CL_TOKENS, CL_WARN };
struct cline {
    int kind;
    char *text;
    const char *label;
    const char *const *tokens;
};

static void fixed3(struct fig_str *b, double v) {
    char t[64];
    relp__str_puts(b, relp__js_fixed(t, v, 3));
}

/* the caption's lines from what the figure shows; returns the count (at most 6 + warnings) */
static int caption_lines(const struct relp_figure_caption *c, struct cline *out) {
    int n = 0;
    struct fig_str b = {0};
    if (c->model && *c->model) relp__str_printf(&b, "model: %s; ", c->model);
    relp__str_printf(&b, "method: %s", relp__method_title(c->method));
    if (c->steps) relp__str_printf(&b, ", %d steps", (int)c->steps);
    if (c->noising) relp__str_puts(&b, ", noising");
    const char *mt = metric_title(c);
    relp__str_printf(&b, "; metric: %s", mt);
    if (c->answer && c->wrong && !strcmp(mt, "logit difference")) {
        relp__str_puts(&b, " ");
        relp__str_quote(&b, c->answer);
        relp__str_puts(&b, " - ");
        relp__str_quote(&b, c->wrong);
    } else if (c->answer) {
        relp__str_puts(&b, strcmp(mt, "logit") ? " of " : " ");
        relp__str_quote(&b, c->answer);
    }
    out[n++] = (struct cline){CL_TEXT, b.s, NULL, NULL};
    if (c->n_tokens > 0 && c->clean) {
        out[n++] = (struct cline){CL_TOKENS, NULL, c->corrupt ? "clean:     " : "prompt:    ", c->clean};
        if (c->corrupt) out[n++] = (struct cline){CL_TOKENS, NULL, "corrupted: ", c->corrupt};
    }
    b = (struct fig_str){0};
    if (c->relevance) {
        relp__str_puts(&b, "sum of relevances ");
        fixed3(&b, c->relevance_total);
        relp__str_printf(&b, ", %s ", mt);
        fixed3(&b, c->relevance_value);
        relp__str_puts(&b, ", conservation gap ");
        fixed3(&b, c->relevance_value - c->relevance_total);
    } else if (isfinite(c->metric_clean) && isfinite(c->metric_corrupt)) {
        relp__str_printf(&b, "%s: clean ", mt);
        fixed3(&b, c->metric_clean);
        relp__str_puts(&b, ", corrupted ");
        fixed3(&b, c->metric_corrupt);
        relp__str_puts(&b, ", gap ");
        fixed3(&b, c->metric_clean - c->metric_corrupt);
    }
    if (c->data) relp__str_printf(&b, "%sdata: %s", b.n ? "; " : "", c->data);
    if (c->n_prompts > 1) relp__str_printf(&b, "%smean of %d prompts (the first is shown)", b.n ? "; " : "", (int)c->n_prompts);
    if (c->rank > 0 && c->answer) {
        relp__str_puts(&b, b.n ? "; p(" : "p(");
        relp__str_quote(&b, c->answer);
        relp__str_puts(&b, ") = ");
        fixed3(&b, c->p_answer);
        relp__str_printf(&b, ", rank %d on the clean prompt", (int)c->rank);
    }
    if (b.n) out[n++] = (struct cline){CL_TEXT, b.s, NULL, NULL};
    else free(b.s);
    if (c->n_r > 0 && c->r_names && c->r_values) {
        b = (struct fig_str){0};
        relp__str_printf(&b, "Pearson r of %s with AP: ", relp__method_title(c->method));
        for (int32_t i = 0; i < c->n_r; i++) {
            relp__str_printf(&b, "%s%s ", i ? ", " : "", c->r_names[i] ? c->r_names[i] : "");
            if (isfinite(c->r_values[i])) fixed3(&b, c->r_values[i]);
            else relp__str_puts(&b, "n/a");
        }
        out[n++] = (struct cline){CL_TEXT, b.s, NULL, NULL};
    }
    return n;
}

/* lines of text (warnings: bold, the warning colour) wrapped into width; returns the count of lines drawn */
static int text_lines(struct relp_figure *f, double x, double y, int n, const char *s, int max, int warn) {
    char **ls;
    const int k = relp__wrap(s, max, &ls);
    for (int i = 0; i < k; i++, n++)
        relp__fig_text(f, x, y + 11 + n * LH, ls[i],
                       warn ? (struct fig_text_style){FIG_START, 0, 1, 0, FIG_WARN, "warning"}
                            : (struct fig_text_style){FIG_START, 0, 0, 0, FIG_INK, NULL});
    relp__lines_free(ls, k);
    return n;
}

/* a prompt's tokens after its label, wrapped at token boundaries; each line is one <text> of <tspan>s, the tokens
 * that differ between the prompts bold on a highlight (drawn before the line's text) */
static int token_lines(struct relp_figure *f, double x, double y, int n, const struct cline *cl,
                       const struct relp_figure_caption *c, int max) {
    const int indent = relp__utf8_len(cl->label), T = c->n_tokens;
    char **shown = calloc((size_t)T, sizeof *shown);
    if (!shown) {
        f->oom = 1;
        return n;
    }
    for (int t = 0; t < T; t++) {
        struct fig_str d = {0};
        relp__token_text(&d, cl->tokens[t] ? cl->tokens[t] : "", 0);
        shown[t] = d.s;
        if (d.oom) f->oom = 1;
    }
    int first = 0, col = indent;
    for (int t = 0; t <= T; t++) {
        const int dl = t < T && shown[t] ? relp__utf8_len(shown[t]) : 0;
        if (t < T && !(col + dl > max && col > indent)) {
            col += dl;
            continue;
        }
        /* tokens first .. t-1 make one line */
        int cc = indent;
        for (int k = first; k < t; k++) {
            const int w = shown[k] ? relp__utf8_len(shown[k]) : 0;
            if (c->corrupt && strcmp(c->clean[k] ? c->clean[k] : "", c->corrupt[k] ? c->corrupt[k] : ""))
                relp__fig_attrs(f, relp__fig_rect(f, x + cc * FIG_CHARW, y + n * LH + 1, (double)w * FIG_CHARW, LH - 2, FIG_HIGHLIGHT),
                                " class='differs'");
            cc += w;
        }
        struct fig_item *tx = relp__fig_add(f, FIG_TEXT);
        tx->x = x, tx->y = y + 11 + n * LH, tx->fill = FIG_INK;
        if (first == 0) {
            struct fig_item *lab = relp__fig_add(f, FIG_TSPAN);
            relp__fig_attrs(f, lab, " class='label'");
            lab->fill = FIG_MUTED;
            lab->text = relp__fig_strdup(f, cl->label);
        }
        cc = indent;
        for (int k = first; k < t; k++) {
            struct fig_item *sp = relp__fig_add(f, FIG_TSPAN);
            sp->has_x = 1, sp->x = x + cc * FIG_CHARW;
            sp->bold = c->corrupt && strcmp(c->clean[k] ? c->clean[k] : "", c->corrupt[k] ? c->corrupt[k] : "");
            sp->text = relp__fig_strdup(f, shown[k] ? shown[k] : "");
            cc += shown[k] ? relp__utf8_len(shown[k]) : 0;
        }
        relp__fig_end(f, FIG_TEXT_END);
        n++;
        first = t;
        col = indent + dl;
        if (t == T) break;
    }
    relp__lines_free(shown, T);
    return n;
}

/* the caption from (x, y) in a column of width px (kept as text too: relp_figure_caption_text); returns its height,
 * 0 when the style leaves it out of the picture */
static double caption(struct relp_figure *f, double x, double y, double width, const struct relp_figure_caption *c) {
    struct cline cl[8];
    const int ncl = caption_lines(c, cl), max = (int)floor(width / FIG_CHARW), draw = !f->style.no_caption;
    int n = 0;
    if (draw) relp__fig_group(f, "caption");
    for (int i = 0; i < ncl; i++) {
        if (cl[i].kind == CL_TOKENS) {
            struct fig_str t = {0};
            relp__str_puts(&t, cl[i].label);
            for (int k = 0; k < c->n_tokens; k++) relp__token_text(&t, cl[i].tokens[k] ? cl[i].tokens[k] : "", 0);
            if (t.s) relp__fig_caption_add(f, t.s);
            free(t.s);
            if (draw) n = token_lines(f, x, y, n, &cl[i], c, max);
        } else {
            if (!cl[i].text) f->oom = 1;
            else {
                relp__fig_caption_add(f, cl[i].text);
                if (draw) n = text_lines(f, x, y, n, cl[i].text, max, 0);
            }
            free(cl[i].text);
        }
    }
    for (int32_t i = 0; i < c->n_warnings && c->warnings; i++) {
        struct fig_str w = {0};
        relp__str_printf(&w, "WARNING: %s", c->warnings[i] ? c->warnings[i] : "");
        if (w.s) {
            relp__fig_caption_add(f, w.s);
            if (draw) n = text_lines(f, x, y, n, w.s, max, 1);
        }
        free(w.s);
    }
    if (draw) relp__fig_end(f, FIG_GROUP_END);
    return n * LH;
}

double relp__fig_caption_text(struct relp_figure *f, double x, double y, double width, const char *const *lines,
                              const int *warn, int n) {
    const int max = (int)floor(width / FIG_CHARW), draw = !f->style.no_caption;
    int k = 0;
    if (draw) relp__fig_group(f, "caption");
    for (int i = 0; i < n; i++) {
        if (!lines[i]) continue;
        if (warn && warn[i]) {
            struct fig_str w = {0};
            relp__str_printf(&w, "WARNING: %s", lines[i]);
            if (w.s) {
                relp__fig_caption_add(f, w.s);
                if (draw) k = text_lines(f, x, y, k, w.s, max, 1);
            }
            free(w.s);
        } else {
            relp__fig_caption_add(f, lines[i]);
            if (draw) k = text_lines(f, x, y, k, lines[i], max, 0);
        }
    }
    if (draw) relp__fig_end(f, FIG_GROUP_END);
    return k * LH;
}

/* ---------------------------------------------------------------- heatmaps */

struct panel {
    const char *title, *row_axis, *col_axis, *kind;
    int rows, cols;
    char **row_labels, **col_labels;
    const float *values;
};

/* a panel's width with cells of cell px: its row labels and axis title, the grid, or its title if wider */
static double panel_width(const struct panel *p, double cell) {
    int lw = 0;
    for (int r = 0; r < p->rows; r++) lw = relp__utf8_len(p->row_labels[r]) > lw ? relp__utf8_len(p->row_labels[r]) : lw;
    return fmax(FIG_AXIS_TITLE_H + lw * FIG_CHARW + FIG_LABEL_GAP + p->cols * cell, relp__text_w(p->title));
}

/* k panels of the same shape (titles titles[0..k-1]) fitted to the figure's width (relp__fig_fit): the cell size
 * and whether they stand side by side (1) or stacked (0); the default layout is cell0 side by side, or, fitted, the
 * largest cell up to cell0 that fits side by side, else stacked, down to FIG_FIT_CELL_MIN */
static double fit_panels(const struct relp_figure *f, struct panel *p, const char *const *titles, int k, double cell0,
                         int *side) {
    const double fit = relp__fig_fit(f);
    double w = 0;
    *side = 1;
    for (int i = 0; i < k; i++) p->title = titles[i], w += panel_width(p, cell0);
    if (fit == 0 || 2 * P + w + (k - 1) * FIG_PANEL_GAP <= fit) return cell0;
    for (double c = cell0 - 1; c >= FIG_FIT_CELL_MIN; c--) {
        w = 0;
        for (int i = 0; i < k; i++) p->title = titles[i], w += panel_width(p, c);
        if (2 * P + w + (k - 1) * FIG_PANEL_GAP <= fit) return c;
    }
    *side = k == 1;
    for (double c = cell0; c > FIG_FIT_CELL_MIN; c--) {
        double wmax = 0;
        for (int i = 0; i < k; i++) p->title = titles[i], wmax = fmax(wmax, panel_width(p, c));
        if (2 * P + wmax <= fit) return c;
    }
    return FIG_FIT_CELL_MIN;
}

/* one panel: a grid with its title, axis titles and labels, from (x, y); returns its width, *h its height. Cells of
 * non-finite values are grey ("not computed": AP as it fills in). */
static double panel(struct relp_figure *f, double x, double y, const struct panel *p, double cell, double max, int seq,
                    double *h) {
    int lw = 0, lh = 0;
    for (int r = 0; r < p->rows; r++) lw = relp__utf8_len(p->row_labels[r]) > lw ? relp__utf8_len(p->row_labels[r]) : lw;
    for (int c = 0; c < p->cols; c++) lh = relp__utf8_len(p->col_labels[c]) > lh ? relp__utf8_len(p->col_labels[c]) : lh;
    const double labW = lw * FIG_CHARW + FIG_LABEL_GAP, colLabH = lh * FIG_CHARW + FIG_LABEL_GAP;
    const double gridW = p->cols * cell, gridH = p->rows * cell;
    const double w = fmax(FIG_AXIS_TITLE_H + labW + gridW, relp__text_w(p->title));
    const double gx = x + FIG_AXIS_TITLE_H + labW, gy = y + FIG_TITLE_H;
    relp__fig_text(f, x, y + 13, p->title, panel_title);
    relp__fig_text(f, x + 13, gy + gridH / 2, p->row_axis, muted(FIG_MIDDLE, 1, "axis-title"));
    struct fig_str t = {0};
    for (int r = 0; r < p->rows; r++) {
        relp__fig_text(f, gx - FIG_LABEL_GAP, gy + r * cell + cell / 2 + 4, p->row_labels[r], muted(FIG_END, 0, NULL));
        for (int c = 0; c < p->cols; c++) {
            const double v = p->values[(size_t)r * p->cols + c];
            char vs[40];
            relp__js_num(vs, v);
            struct fig_item *it = relp__fig_rect(f, gx + c * cell, gy + r * cell, cell, cell,
                                                 !isfinite(v) ? 0xeeeeeeu : seq ? relp__fig_sequential_rgb(v) : relp__fig_diverging_rgb(v, max));
            it->stroke = FIG_CELL_STROKE, it->stroke_width = 0.5;
            relp__fig_attrs(f, it, " class='cell' data-kind='%s' data-r='%d' data-c='%d' data-v='%s'", p->kind, r, c, vs);
            t.n = 0;
            relp__str_printf(&t, "%s %s, %s %s: %s", p->row_axis, p->row_labels[r], p->col_axis, p->col_labels[c],
                             isfinite(v) ? vs : "not computed");
            it->title = relp__fig_strdup(f, relp__str_cstr(&t));
        }
    }
    if (t.oom) f->oom = 1;
    free(t.s);
    for (int c = 0; c < p->cols; c++)
        relp__fig_text(f, gx + c * cell + cell / 2 + 4, gy + gridH + FIG_LABEL_GAP, p->col_labels[c], muted(FIG_END, 1, NULL));
    relp__fig_text(f, gx + gridW / 2, gy + gridH + colLabH + FIG_AXIS_TITLE_H - 5, p->col_axis, muted(FIG_MIDDLE, 0, "axis-title"));
    *h = FIG_TITLE_H + gridH + colLabH + FIG_AXIS_TITLE_H;
    return w;
}

/* labels: "0", "1", ...; "1.0" (layer.head); "token 3" (the token as shown, and its position) */
static char **index_labels(int n, int per) {
    char **l = calloc((size_t)n, sizeof *l);
    for (int i = 0; l && i < n; i++) {
        char b[32];
        if (per) snprintf(b, sizeof b, "%d.%d", i / per, i % per);
        else snprintf(b, sizeof b, "%d", i);
        l[i] = malloc(strlen(b) + 1);
        if (!l[i]) {
            relp__lines_free(l, i);
            return NULL;
        }
        strcpy(l[i], b);
    }
    return l;
}
/* "token 3" labels; max > 0: a token of more code points cut to max - 1 and an ellipsis (fitted to a narrow width) */
static char **position_labels_cut(int n, const char *const *tokens, int max) {
    char **l = calloc((size_t)n, sizeof *l);
    for (int i = 0; l && i < n; i++) {
        struct fig_str s = {0};
        relp__token_text(&s, tokens[i] ? tokens[i] : "", 1);
        if (max > 0 && s.s && relp__utf8_len(s.s) > max) {
            s.n = relp__utf8_off(s.s, max - 1);
            s.s[s.n] = '\0';
            relp__str_puts(&s, "\xE2\x80\xA6");
        }
        relp__str_printf(&s, " %d", i);
        if (s.oom) {
            free(s.s);
            relp__lines_free(l, i);
            return NULL;
        }
        l[i] = s.s;
    }
    return l;
}
static char **position_labels(int n, const char *const *tokens) { return position_labels_cut(n, tokens, 0); }
#define ATT_CUT(f) (relp__fig_fit(f) > 0 ? 8 : 0) /* the attention focus's row labels, fitted: tokens of at most 8 */

/* " (query; kv = head ÷ 2)": with grouped-query attention, heads are query heads and NH / NKV of them read one
 * key/value head (query head h reads key/value head floor(h / group), as the core computes them) */
static void gqa_note(struct fig_str *b, int32_t NH, int32_t NKV) {
    char t[40];
    if (NKV > 0 && NKV < NH) relp__str_printf(b, " (query; kv = head \xC3\xB7 %s)", relp__js_num(t, (double)NH / NKV));
}

static void panel_title_of(struct fig_str *b, const char *method) {
    const char *t = relp__method_title(method), *what = method && !strcmp(method, "ap") ? "ground truth" : "estimate";
    const size_t n = strlen(t);
    if (n > 1 && t[n - 1] == ')' && strchr(t, '(')) relp__str_printf(b, "%.*s; %s)", (int)(n - 1), t, what); /* "X (y; estimate)" */
    else relp__str_printf(b, "%s (%s)", t, what);
}

enum relp_status relp_figure_maps(struct relp_figure *fig, const struct relp_figure_maps *m) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!m || !m->est || m->n_layer < 1 || (m->layout != RELP_FIGURE_POSITIONS && m->n_head < 1) ||
        (m->layout != RELP_FIGURE_HEADS && (m->n_tokens < 1 || !m->tokens)) || m->layout < RELP_FIGURE_POSITIONS ||
        m->layout > RELP_FIGURE_HEAD_POSITIONS)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure maps: expected est, n_layer >= 1, n_head >= 1 and, "
                                                             "by position, n_tokens >= 1 tokens (layout %d)", m ? (int)m->layout : -1);
    const int L = m->n_layer, NH = m->n_head, NKV = kv_of(m->n_head, m->n_kv_head);
    const int rows = m->layout == RELP_FIGURE_HEAD_POSITIONS ? L * NH : L;
    const int cols = m->layout == RELP_FIGURE_HEADS ? NH : m->n_tokens;
    struct panel p = {0};
    p.rows = rows, p.cols = cols;
    p.row_labels = index_labels(rows, m->layout == RELP_FIGURE_HEAD_POSITIONS ? NH : 0);
    p.col_labels = m->layout == RELP_FIGURE_HEADS ? index_labels(cols, 0) : position_labels(cols, m->tokens);
    struct fig_str row_axis = {0}, col_axis = {0}, title = {0}, t_est = {0}, t_ap = {0};
    relp__str_puts(&row_axis, m->layout == RELP_FIGURE_HEAD_POSITIONS ? "layer.head" : "layer");
    if (m->layout == RELP_FIGURE_HEAD_POSITIONS) gqa_note(&row_axis, NH, NKV);
    relp__str_puts(&col_axis, m->layout == RELP_FIGURE_HEADS ? "head" : "position (token)");
    if (m->layout == RELP_FIGURE_HEADS) gqa_note(&col_axis, NH, NKV);
    if (m->layout == RELP_FIGURE_POSITIONS) relp__str_printf(&title, "%s, by layer and position", relp__node_title(m->node));
    else relp__str_printf(&title, "%s, by layer%s", relp__node_title("head"),
                          m->layout == RELP_FIGURE_HEADS ? " and head" : ".head and position");
    panel_title_of(&t_est, m->method);
    panel_title_of(&t_ap, "ap");
    if (isfinite(m->r)) {
        char r[64];
        relp__str_printf(&t_ap, ", r = %s", relp__js_fixed(r, m->r, 3));
    }
    const double cell0 = m->layout == RELP_FIGURE_HEADS ? FIG_HEAD_CELL
                                                        : fmax(FIG_CELL_MIN, fmin(FIG_CELL_MAX, floor((double)FIG_GRID_TARGET / cols)));
    const size_t n = (size_t)rows * cols;
    const double largest = absmax(m->ap, n, absmax(m->est, n, 0));
    const double max = fig->style.color_max > 0 ? fig->style.color_max : largest;
    enum relp_status st = RELP_STATUS_OK;
    if (!p.row_labels || !p.col_labels || row_axis.oom || col_axis.oom || title.oom || t_est.oom || t_ap.oom) {
        st = relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure maps: out of memory");
        goto out;
    }
    p.row_axis = row_axis.s, p.col_axis = col_axis.s;
    const int np = m->ap ? 2 : 1;
    const char *titles[2] = {t_est.s, t_ap.s};
    int side;
    const double cell = fit_panels(fig, &p, titles, np, cell0, &side), fit = relp__fig_fit(fig);
    double wp = 0;
    for (int k = 0; k < np; k++) {
        p.title = titles[k];
        const double pw = panel_width(&p, cell);
        wp = side ? wp + pw + (k ? FIG_PANEL_GAP : 0) : fmax(wp, pw);
    }
    const double wmin = fit > 0 && fit < FIG_MIN_WIDTH ? fit : FIG_MIN_WIDTH;
    const double W = ceil(fmax(wmin, fmax(wp + 2 * P, FIG_LEGEND_W + 2 * P)));
    double y = P, x = P, ph = 0, h;
    y += relp__fig_title(fig, P, y, W - 2 * P, title.s, "figure-title");
    for (int k = 0; k < np; k++) {
        p.title = titles[k], p.kind = k ? "ap" : "est", p.values = k ? m->ap : m->est;
        const double pw = panel(fig, x, y, &p, cell, max, 0, &h);
        if (side) x += pw + FIG_PANEL_GAP, ph = fmax(ph, h);
        else y += h + (k + 1 < np ? FIG_PANEL_GAP : 0);
    }
    y += ph + FIG_LEGEND_GAP;
    char legend[400];
    const char *words = maps_legend(m->units, m->caption, legend, sizeof legend);
    struct fig_str fixed = {0};
    if (fig->style.color_max > 0) { /* a fixed scale: say so, and what happens past its ends */
        char lt[64];
        relp__fig_tick(lt, max);
        relp__str_printf(&fixed, "%s; a fixed scale, -%s to %s%s",
                         words ? words : legend_text(m->units == RELP_FIGURE_METRIC ? FIG_LEGEND_METRIC : FIG_LEGEND_SHARE), lt, lt,
                         largest > max ? " (larger values take the end colours)" : "");
        if (fixed.s) words = fixed.s;
    }
    y += relp__fig_legend(fig, P, y, W - 2 * P, max, m->units == RELP_FIGURE_METRIC ? FIG_LEGEND_METRIC : FIG_LEGEND_SHARE, words);
    free(fixed.s);
    if (m->caption) {
        y += FIG_CAPTION_GAP;
        y += caption(fig, P, y, W - 2 * P, m->caption);
    }
    relp__fig_doc(fig, W, ceil(y + P), title.s);
    if (fig->oom) st = relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure maps: out of memory");
out:
    relp__lines_free(p.row_labels, rows);
    relp__lines_free(p.col_labels, cols);
    free(row_axis.s), free(col_axis.s), free(title.s), free(t_est.s), free(t_ap.s);
    return st;
}

/* ---------------------------------------------------------------- token relevance */

enum relp_status relp_figure_tokens(struct relp_figure *fig, const struct relp_figure_tokens *t) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!t || t->n_tokens < 1 || !t->tokens || !t->relevance)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure tokens: expected n_tokens >= 1 tokens and their relevance");
    const double fit = relp__fig_fit(fig), W = fit > 0 && fit < FIG_TOKENS_WIDTH ? fit : FIG_TOKENS_WIDTH;
    const double max = absmax(t->relevance, (size_t)t->n_tokens, 0);
    double y = P, x = P;
    struct fig_str s = {0};
    /* the rules by their title: "gradient x input" (AtP's, and IG's one backward pass), "RelP", ... */
    const char *rules = t->rules ? t->rules : "relp";
    if (!strcmp(rules, "grad")) relp__str_puts(&s, "token relevance: gradient x input");
    else relp__str_printf(&s, "token relevance: %s rules", relp__method_title(rules));
    y += relp__fig_title(fig, P, y, W - 2 * P, relp__str_cstr(&s), "figure-title");
    for (int i = 0; i < t->n_tokens; i++) {
        struct fig_str label = {0};
        relp__token_text(&label, t->tokens[i] ? t->tokens[i] : "", 1);
        const double w = fmax(14, relp__text_w(relp__str_cstr(&label)) + 8);
        if (x + w > W - P && x > P) {
            x = P;
            y += FIG_CHIP_LINE_H;
        }
        const double v = t->relevance[i];
        char vs[40];
        relp__js_num(vs, v);
        const uint32_t fill = relp__fig_diverging_rgb(v, max);
        struct fig_item *chip = relp__fig_rect(fig, x, y, w, FIG_CHIP_H, fill);
        chip->rx = 3, chip->stroke = 0xbbbbbbu, chip->stroke_width = 0.5;
        relp__fig_attrs(fig, chip, " class='cell' data-kind='token' data-c='%d' data-v='%s' data-r='0'", i, vs);
        s.n = 0;
        relp__str_printf(&s, "position %d ", i);
        relp__str_quote(&s, t->tokens[i] ? t->tokens[i] : "");
        relp__str_printf(&s, ": %s", vs);
        chip->title = relp__fig_strdup(fig, relp__str_cstr(&s));
        struct fig_item *lab = relp__fig_text(fig, x + 4, y + 14, relp__str_cstr(&label),
                                              (struct fig_text_style){FIG_START, 0, 0, 0, relp__fig_ink_on(fill), NULL});
        relp__fig_attrs(fig, lab, " pointer-events='none'");
        x += w + FIG_CHIP_GAP;
        if (label.oom) fig->oom = 1;
        free(label.s);
    }
    if (s.oom) fig->oom = 1;
    free(s.s);
    y += FIG_CHIP_LINE_H + FIG_LEGEND_GAP;
    char legend[400];
    const char *mt = metric_title(t->caption);
    if (strcmp(mt, "logit difference") != 0)
        snprintf(legend, sizeof legend, "colour: relevance for the %s (%s; red raises it, blue lowers it)", mt,
                 strcmp(mt, "log-probability") ? "logit units" : "nats");
    y += relp__fig_legend(fig, P, y, W - 2 * P, max, FIG_LEGEND_RELEVANCE,
                          strcmp(mt, "logit difference") ? legend : NULL) + FIG_CAPTION_GAP;
    if (t->caption) y += caption(fig, P, y, W - 2 * P, t->caption);
    relp__fig_doc(fig, W, ceil(y + P), "token relevance");
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure tokens: out of memory") : RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- scatter */

static uint32_t type_colour(const char *n) {
    static const struct { const char *name; uint32_t rgb; } c[] = {
        {"resid", 0x1b9e77u}, {"attn", 0xd95f02u}, {"mlp", 0x7570b3u}, {"head", 0xe7298au}};
    for (size_t i = 0; n && i < sizeof c / sizeof c[0]; i++)
        if (!strcmp(c[i].name, n)) return c[i].rgb;
    return 0x666666u;
}

enum relp_status relp_figure_scatter(struct relp_figure *fig, const struct relp_figure_scatter *s) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!s || s->n_types < 1 || !s->types || !s->n_values || !s->est || !s->ap)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure scatter: expected n_types >= 1 node types with est and ap");
    const double fit = relp__fig_fit(fig), m = 56;
    const int narrow = fit > 0 && fit < FIG_MIN_WIDTH; /* the r legend below the plot, the plot smaller */
    const double size = narrow ? fmax(200, fmin(360, fit - m - P)) : 360;
    double lo = 0, hi = 0;
    for (int k = 0; k < s->n_types; k++)
        for (int32_t i = 0; i < s->n_values[k]; i++)
            for (int w = 0; w < 2; w++) {
                const double v = (w ? s->ap : s->est)[k][i];
                if (isfinite(v)) lo = fmin(lo, v), hi = fmax(hi, v);
            }
    if (hi - lo < 1e-9) lo -= 1, hi += 1;
    const double pad = (hi - lo) * 0.05;
    lo -= pad, hi += pad;
    const double W = narrow ? fmax(fit, m + size + P) : fmax(FIG_MIN_WIDTH, m + size + 170);
    const char *unit = s->units == RELP_FIGURE_METRIC ? "logit units" : "share restored", *mt = relp__method_title(s->method);
    struct fig_str t = {0};
    relp__str_printf(&t, "%s estimate vs activation patching, every node", mt);
    const double top = P + relp__fig_title(fig, P, P, W - 2 * P, t.s, "figure-title") + 8;
#define SX(v) (m + ((v) - lo) / (hi - lo) * size)
#define SY(v) (top + size - ((v) - lo) / (hi - lo) * size)
    struct fig_item *frame = relp__fig_rect(fig, m, top, size, size, FIG_NONE);
    frame->stroke = 0x999999u;
    relp__fig_line(fig, SX(lo), SY(lo), SX(hi), SY(hi), 0xbbbbbbu)->dash = "4 3";
    relp__fig_line(fig, SX(0), top, SX(0), top + size, 0xeeeeeeu);
    relp__fig_line(fig, m, SY(0), m + size, SY(0), 0xeeeeeeu);
    t.n = 0;
    relp__str_printf(&t, "AP, ground truth (%s)", unit);
    relp__fig_text(fig, m + size / 2, top + size + 34, t.s, muted(FIG_MIDDLE, 0, "axis-title"));
    t.n = 0;
    relp__str_printf(&t, "%s estimate (%s)", mt, unit);
    relp__fig_text(fig, 16, top + size / 2, t.s, muted(FIG_MIDDLE, 1, "axis-title"));
    /* ticks at round values: multiples of 1, 2 or 5 x 10^k, about five of them, 0 among them, all with the
     * step's decimals */
    double step = pow(10, floor(log10((hi - lo) / 4)));
    if ((hi - lo) / step > 20) step *= 5;
    else if ((hi - lo) / step > 8) step *= 2;
    const int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    for (double v = ceil(lo / step) * step; v <= hi + 1e-12 * step; v += step) {
        char tk[64];
        const double tv = fabs(v) < step / 2 ? 0 : v;
        relp__js_fixed(tk, tv, dec < 20 ? dec : 20);
        relp__fig_line(fig, SX(tv), top + size, SX(tv), top + size + 3, FIG_MUTED);
        relp__fig_line(fig, m - 3, SY(tv), m, SY(tv), FIG_MUTED);
        relp__fig_attrs(fig, relp__fig_text(fig, SX(tv), top + size + 16, tk, muted(FIG_MIDDLE, 0, NULL)), " class='tick'");
        relp__fig_attrs(fig, relp__fig_text(fig, m - 5, SY(tv) + 4, tk, muted(FIG_END, 0, NULL)), " class='tick'");
    }
    for (int k = 0; k < s->n_types; k++) {
        const char *n = s->types[k] ? s->types[k] : "";
        const uint32_t colour = type_colour(n);
        for (int32_t i = 0; i < s->n_values[k]; i++) {
            const double a = s->ap[k][i], e = s->est[k][i];
            if (!isfinite(a) || !isfinite(e)) continue;
            char as[40], es[40];
            relp__js_num(as, a), relp__js_num(es, e);
            struct fig_item *pt = relp__fig_circle(fig, SX(a), SY(e), 3, colour);
            pt->opacity = 0.7;
            relp__fig_attrs(fig, pt, " class='pt' data-kind='%s' data-i='%d' data-v='%s' data-ap='%s'", n, (int)i, es, as);
            t.n = 0;
            relp__str_printf(&t, "%s %d: AP %s, estimate %s", n, (int)i, as, es);
            pt->title = relp__fig_strdup(fig, relp__str_cstr(&t));
        }
        const double rv = s->r ? s->r[k] : NAN;
        char rs[64], rn[40];
        /* the legend: right of the plot, or (narrow) in two columns below it */
        const double lx = narrow ? m + (k % 2) * 150 : m + size + 20, ly = narrow ? top + size + 50 + (k / 2) * 20 : top + 10 + k * 20;
        relp__fig_circle(fig, lx, ly, 4, colour);
        t.n = 0;
        relp__str_printf(&t, "%s: r = %s", n, isfinite(rv) ? relp__js_fixed(rs, rv, 3) : "n/a");
        struct fig_item *rt = relp__fig_text(fig, lx + 10, ly + 4, t.s, (struct fig_text_style){0, 0, 0, 0, FIG_INK, NULL});
        relp__fig_attrs(fig, rt, " data-node='%s' data-r='%s' class='r'", n, relp__js_num(rn, rv));
    }
#undef SX
#undef SY
    double y = top + size + 44 + (narrow ? 20 * ((s->n_types + 1) / 2) + 10 : 0);
    relp__fig_group(fig, "legend");
    y += text_lines(fig, P, y, 0, "dashed: estimate = AP; colour: node type", (int)floor((W - 2 * P) / FIG_CHARW), 0) * LH + FIG_CAPTION_GAP;
    relp__fig_end(fig, FIG_GROUP_END);
    if (s->caption) y += caption(fig, P, y, W - 2 * P, s->caption);
    relp__fig_doc(fig, W, ceil(y + P), "estimate vs AP");
    if (t.oom) fig->oom = 1;
    free(t.s);
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure scatter: out of memory") : RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- attention */

static int attention_cells(int T) { return 56 / T < 1 ? 1 : 56 / T > 4 ? 4 : 56 / T; }
#define ATT_TITLE "attention patterns of every head (rows: layers, columns: heads)"

/* The attention figure's layout: every head's pattern in a grid per prompt (minis of px per token), the grids side
 * by side or (fitted to a narrow width) stacked; the focus head's two panels (cells of cell px) likewise. */
struct att_layout {
    int px, mini, grids_side, focus_side;
    double cell, title_h, grid_w, grid_h, grids_h, focus_w, width;
};
static const int ATT_GAP = 6;
static double att_grid_w(const struct relp_figure_attention *a, int mini) {
    char b[32];
    snprintf(b, sizeof b, "%d", a->n_layer - 1);
    return FIG_AXIS_TITLE_H + (double)strlen(b) * FIG_CHARW + FIG_LABEL_GAP + a->n_head * (mini + ATT_GAP);
}
static double att_focus_w(const struct relp_figure *f, const struct relp_figure_attention *a, double cell) {
    int lw = 0;
    for (int w = 0; w < 2; w++) {
        char **l = position_labels_cut(a->n_tokens, w ? a->corrupt_tokens : a->clean_tokens, ATT_CUT(f));
        for (int i = 0; l && i < a->n_tokens; i++)
            if (relp__utf8_len(l[i]) > lw) lw = relp__utf8_len(l[i]);
        relp__lines_free(l, a->n_tokens);
    }
    /* the wider title, the corrupted one's: "layer L head H (kv K), corrupted" */
    const int L = a->n_layer, NH = a->n_head, NKV = kv_of(NH, a->n_kv_head);
    const int layer = a->focus_layer < L - 1 ? (a->focus_layer < 0 ? 0 : a->focus_layer) : L - 1;
    const int head = a->focus_head < NH - 1 ? (a->focus_head < 0 ? 0 : a->focus_head) : NH - 1;
    char t[96];
    if (NKV < NH) snprintf(t, sizeof t, "layer %d head %d (kv %d), corrupted", layer, head, head / (NH / NKV));
    else snprintf(t, sizeof t, "layer %d head %d, corrupted", layer, head);
    return fmax(FIG_AXIS_TITLE_H + lw * FIG_CHARW + FIG_LABEL_GAP + a->n_tokens * cell, relp__text_w(t));
}
static void att_layout(const struct relp_figure *f, const struct relp_figure_attention *a, struct att_layout *o) {
    const int T = a->n_tokens, L = a->n_layer;
    const double fit = relp__fig_fit(f);
    o->px = attention_cells(T), o->grids_side = 1, o->focus_side = 1;
    o->cell = fmax(10, fmin(22, floor(300.0 / T)));
    if (fit > 0) {
        while (o->px > 1 && 2 * P + 2 * att_grid_w(a, T * o->px) + FIG_PANEL_GAP > fit) o->px--;
        if (2 * P + 2 * att_grid_w(a, T * o->px) + FIG_PANEL_GAP > fit) { /* stacked, as large again as fits */
            o->grids_side = 0;
            o->px = attention_cells(T);
            while (o->px > 1 && 2 * P + att_grid_w(a, T * o->px) > fit) o->px--;
        }
        const double c0 = o->cell;
        while (o->cell > 10 && 2 * P + 2 * att_focus_w(f, a, o->cell) + FIG_PANEL_GAP > fit) o->cell--;
        if (2 * P + 2 * att_focus_w(f, a, o->cell) + FIG_PANEL_GAP > fit) {
            o->focus_side = 0;
            o->cell = c0;
            while (o->cell > 10 && 2 * P + att_focus_w(f, a, o->cell) > fit) o->cell--;
        }
    }
    o->mini = T * o->px;
    o->grid_w = att_grid_w(a, o->mini);
    o->grid_h = FIG_TITLE_H + L * (o->mini + ATT_GAP) + 10 + FIG_AXIS_TITLE_H;
    o->grids_h = o->grids_side ? o->grid_h : 2 * o->grid_h + FIG_LEGEND_GAP;
    o->focus_w = att_focus_w(f, a, o->cell);
    /* the title: one line unless the width is fitted and it does not fit (as relp__fig_title wraps it) */
    o->title_h = FIG_TITLE_H;
    const double gw = o->grids_side ? 2 * o->grid_w + FIG_PANEL_GAP : o->grid_w;
    const double fw = o->focus_side ? 2 * o->focus_w + FIG_PANEL_GAP : o->focus_w;
    o->width = ceil(fmax(fit > 0 && fit < FIG_MIN_WIDTH ? fit : FIG_MIN_WIDTH, fmax(gw + 2 * P, fw + 2 * P)));
    const int max = (int)floor((o->width - 2 * P) / (FIG_CHARW * FIG_TITLE_SIZE / FIG_FONT_SIZE));
    if (fit > 0 && relp__utf8_len(ATT_TITLE) > max) {
        char **ls;
        const int n = relp__wrap(ATT_TITLE, max, &ls);
        relp__lines_free(ls, n);
        o->title_h += n > 1 ? (n - 1) * 15 : 0;
    }
}

/* the focus head drawn large, clean and corrupted, from (x0, y0); *h its height, returns its width */
static double attention_focus(struct relp_figure *f, const struct relp_figure_attention *a, const struct att_layout *lay,
                              double x0, double y0, double *h) {
    const int L = a->n_layer, NH = a->n_head, T = a->n_tokens, NKV = kv_of(NH, a->n_kv_head);
    const int layer = a->focus_layer < L - 1 ? (a->focus_layer < 0 ? 0 : a->focus_layer) : L - 1;
    const int head = a->focus_head < NH - 1 ? (a->focus_head < 0 ? 0 : a->focus_head) : NH - 1;
    const double cell = lay->cell;
    const size_t off = ((size_t)layer * NH + head) * T * T;
    double x = x0, y = y0, wmax = 0;
    *h = 0;
    for (int w = 0; w < 2; w++) {
        struct panel p = {0};
        struct fig_str title = {0};
        relp__str_printf(&title, "layer %d head %d", layer, head);
        if (NKV < NH) relp__str_printf(&title, " (kv %d)", head / (NH / NKV));
        relp__str_puts(&title, w ? ", corrupted" : ", clean");
        char **labels = position_labels_cut(T, w ? a->corrupt_tokens : a->clean_tokens, ATT_CUT(f));
        if (!labels || title.oom) {
            f->oom = 1;
            free(title.s);
            relp__lines_free(labels, T);
            return 0;
        }
        p = (struct panel){title.s, "query", "key", w ? "focus-corrupt" : "focus-clean", T, T, labels, labels,
                           (w ? a->corrupt : a->clean) + off};
        double ph;
        const double pw = panel(f, x, y, &p, cell, 1, 1, &ph);
        if (a->focus_row >= 0 && a->focus_row < T) {
            int lw = 0;
            for (int i = 0; i < T; i++) lw = relp__utf8_len(labels[i]) > lw ? relp__utf8_len(labels[i]) : lw;
            const double labW = lw * FIG_CHARW + FIG_LABEL_GAP;
            struct fig_item *mark = relp__fig_rect(f, x + FIG_AXIS_TITLE_H + labW - 1, y + FIG_TITLE_H + a->focus_row * cell - 1,
                                                   T * cell + 2, cell + 2, FIG_NONE);
            mark->stroke = 0x111111u, mark->stroke_width = 1.5;
            relp__fig_attrs(f, mark, " class='row-mark'");
        }
        if (lay->focus_side) {
            x += pw + FIG_PANEL_GAP;
            wmax = x - FIG_PANEL_GAP - x0;
            *h = fmax(*h, ph);
        } else {
            wmax = fmax(wmax, pw);
            y += ph + (w ? 0 : FIG_PANEL_GAP);
            *h = y - y0;
        }
        free(title.s);
        relp__lines_free(labels, T);
    }
    return wmax;
}

enum relp_status relp_figure_attention(struct relp_figure *fig, const struct relp_figure_attention *a) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!a || a->n_layer < 1 || a->n_head < 1 || a->n_tokens < 1 || !a->clean || !a->corrupt || !a->clean_tokens ||
        !a->corrupt_tokens)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure attention: expected n_layer, n_head, n_tokens >= 1, "
                                                             "both patterns and both prompts' tokens");
    const int L = a->n_layer, NH = a->n_head, T = a->n_tokens, gap = ATT_GAP;
    struct att_layout lay;
    att_layout(fig, a, &lay);
    const int px = lay.px, mini = lay.mini;
    double h;
    if (a->focus_only) { /* where the full figure puts it */
        fig->fragment = 1;
        attention_focus(fig, a, &lay, P, P + lay.title_h + lay.grids_h + FIG_LEGEND_GAP, &h);
        return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure attention: out of memory") : RELP_STATUS_OK;
    }
    const double Wt = lay.width;
    double y = P, x = P;
    relp__fig_title(fig, P, y, Wt - 2 * P, ATT_TITLE, "figure-title");
    y += lay.title_h;
    char b[64];
    for (int w = 0; w < 2; w++) {
        snprintf(b, sizeof b, "%d", L - 1);
        const double labW = (double)strlen(b) * FIG_CHARW + FIG_LABEL_GAP;
        relp__fig_text(fig, x, y + 13, w ? "corrupted prompt" : "clean prompt", (struct fig_text_style){0, 0, 1, 0, FIG_INK, "panel-title"});
        const double gx = x + FIG_AXIS_TITLE_H + labW, gy = y + FIG_TITLE_H;
        const float *pat = w ? a->corrupt : a->clean;
        relp__fig_text(fig, x + 13, gy + (L * (mini + gap)) / 2.0, "layer", muted(FIG_MIDDLE, 1, "axis-title"));
        for (int l = 0; l < L; l++) {
            snprintf(b, sizeof b, "%d", l);
            relp__fig_text(fig, gx - FIG_LABEL_GAP, gy + l * (mini + gap) + mini / 2.0 + 4, b, muted(FIG_END, 0, NULL));
            for (int hd = 0; hd < NH; hd++) {
                const double mx = gx + hd * (mini + gap), my = gy + l * (mini + gap);
                const size_t off = ((size_t)l * NH + hd) * T * T;
                const int on = l == a->focus_layer && hd == a->focus_head;
                struct fig_item *g = relp__fig_group(fig, NULL);
                relp__fig_attrs(fig, g, " class='mini' data-layer='%d' data-head='%d' data-which='%s'", l, hd, w ? "corrupt" : "clean");
                snprintf(b, sizeof b, "layer %d head %d", l, hd);
                g->title = relp__fig_strdup(fig, b);
                struct fig_item *fr = relp__fig_rect(fig, mx, my, mini, mini, 0xffffffu);
                fr->stroke = on ? 0x111111u : 0xccccccu, fr->stroke_width = on ? 2 : 0.5;
                for (int i = 0; i < T; i++)
                    for (int j = 0; j <= i; j++) {
                        const double v = pat[off + (size_t)i * T + j];
                        if (v > 0.02) relp__fig_rect(fig, mx + j * px, my + i * px, px, px, relp__fig_sequential_rgb(v));
                    }
                relp__fig_end(fig, FIG_GROUP_END);
            }
        }
        for (int hd = 0; hd < NH; hd++) {
            snprintf(b, sizeof b, "%d", hd);
            relp__fig_text(fig, gx + hd * (mini + gap) + mini / 2.0, gy + L * (mini + gap) + 10, b, muted(FIG_MIDDLE, 0, NULL));
        }
        relp__fig_text(fig, gx + (NH * (mini + gap)) / 2.0, gy + L * (mini + gap) + 10 + FIG_AXIS_TITLE_H, "head",
                       muted(FIG_MIDDLE, 0, "axis-title"));
        if (lay.grids_side) x = gx + NH * (mini + gap) + FIG_PANEL_GAP;
        else y += lay.grid_h + FIG_LEGEND_GAP;
    }
    y = P + lay.title_h + lay.grids_h + FIG_LEGEND_GAP;
    relp__fig_group(fig, "focus");
    const double fw = attention_focus(fig, a, &lay, P, y, &h);
    relp__fig_end(fig, FIG_GROUP_END);
    const double W = ceil(fmax(Wt, fw + 2 * P));
    y += h + FIG_LEGEND_GAP;
    y += relp__fig_legend(fig, P, y, W - 2 * P, 1, FIG_LEGEND_ATTENTION, NULL) + FIG_CAPTION_GAP;
    if (a->caption) y += caption(fig, P, y, W - 2 * P, a->caption);
    relp__fig_doc(fig, W, ceil(y + P), "attention patterns");
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure attention: out of memory") : RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- the node table */

struct rank_key {
    double a;
    int32_t i;
};
static int by_abs_desc(const void *pa, const void *pb) { /* |value| descending, NaN last, ties in row order */
    const struct rank_key *a = pa, *b = pb;
    const double x = isnan(a->a) ? -1 : a->a, y = isnan(b->a) ? -1 : b->a;
    return x > y ? -1 : x < y ? 1 : (a->i > b->i) - (a->i < b->i);
}

enum relp_status relp_figure_table(struct relp_figure *fig, const struct relp_figure_table *t) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!t || t->n_rows < 1 || t->n_methods < 1 || !t->methods || !t->values || !t->node || !t->layer || !t->index || !t->label)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure table: expected n_rows >= 1 rows and n_methods >= 1 columns");
    const int32_t R = t->n_rows, M = t->n_methods;
    int key = -1, ap = -1;
    for (int m = 0; m < M; m++) {
        if (t->methods[m] && t->sort && !strcmp(t->methods[m], t->sort)) key = m;
        if (t->methods[m] && !strcmp(t->methods[m], "ap")) ap = m;
    }
    if (key < 0) key = ap >= 0 ? ap : 0;
    int32_t *ranks = malloc(sizeof *ranks * (size_t)R * M), *idx = malloc(sizeof *idx * (size_t)R);
    struct rank_key *keys = malloc(sizeof *keys * (size_t)R);
    if (!ranks || !idx || !keys) {
        free(ranks), free(idx), free(keys);
        return relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure table: out of memory");
    }
    for (int m = 0; m < M; m++) {
        for (int32_t i = 0; i < R; i++) keys[i] = (struct rank_key){fabs(t->values[(size_t)m * R + i]), i};
        qsort(keys, (size_t)R, sizeof *keys, by_abs_desc);
        for (int32_t n = 0; n < R; n++) ranks[(size_t)m * R + keys[n].i] = n + 1;
    }
    for (int32_t n = 0; n < R; n++) idx[ranks[(size_t)key * R + n] - 1] = n; /* rows in order of the key's rank */
    const int32_t k = t->k > 0 && t->k < R ? t->k : R;
    /* the columns: AP (the ground truth) first, then the methods in their order */
    int col[64], nc = 0;
    if (ap >= 0) col[nc++] = ap;
    for (int m = 0; m < M && nc < 64; m++)
        if (m != ap) col[nc++] = m;
    /* every value with the same decimals: four significant digits of the largest shown */
    double big = 0;
    for (int32_t n = 0; n < k; n++)
        for (int m = 0; m < M; m++) {
            const double v = fabs(t->values[(size_t)m * R + idx[n]]);
            if (isfinite(v) && v > big) big = v;
        }
    int dec = big > 0 ? 3 - (int)floor(log10(big)) : 3;
    dec = dec < 0 ? 0 : dec > 8 ? 8 : dec;
    struct fig_str s = {0};
    relp__str_printf(&s, "<p class='table-caption info'>The %d nodes with the largest |", (int)k);
    relp__str_esc(&s, relp__method_title(t->methods[key]));
    relp__str_printf(&s, "| of %d; values in the map's units, ranks by |value| among all nodes. Click a column to sort by it.</p>"
                         "<table class='nodes'><thead><tr><th scope='col'>node, layer</th><th scope='col'>position / head</th>",
                     (int)R);
    for (int ci = 0; ci < nc; ci++) {
        const int m = col[ci];
        relp__str_printf(&s, "<th scope='col' colspan='2'><button type='button' class='sort%s' data-sort='", m == key ? " active" : "");
        relp__str_esc(&s, t->methods[m] ? t->methods[m] : "");
        relp__str_printf(&s, "' aria-pressed='%s'>", m == key ? "true" : "false");
        relp__str_esc(&s, relp__method_title(t->methods[m]));
        relp__str_printf(&s, "%s</button></th>", m == key ? " \xE2\x96\xBC" : "");
    }
    relp__str_puts(&s, "</tr><tr><th></th><th></th>");
    for (int ci = 0; ci < nc; ci++) relp__str_puts(&s, "<th>value</th><th>rank</th>");
    relp__str_puts(&s, "</tr></thead><tbody>");
    for (int32_t n = 0; n < k; n++) {
        const int32_t i = idx[n];
        relp__str_puts(&s, "<tr data-node='");
        relp__str_puts(&s, t->node[i] ? t->node[i] : "");
        relp__str_printf(&s, "' data-layer='%d' data-index='%d'><td>", (int)t->layer[i], (int)t->index[i]);
        relp__str_esc(&s, t->node[i] ? t->node[i] : "");
        relp__str_printf(&s, " %d</td><td class='tok'>", (int)t->layer[i]);
        relp__str_esc(&s, t->label[i] ? t->label[i] : "");
        relp__str_puts(&s, "</td>");
        for (int ci = 0; ci < nc; ci++) {
            const int m = col[ci];
            const double v = t->values[(size_t)m * R + i];
            char vs[40], fs[64];
            if (isfinite(v)) relp__js_fixed(fs, v, dec);
            else strcpy(fs, "n/a");
            relp__str_printf(&s, "<td class='v' data-v='%s' data-m='%s' style='background:#%06x'>%s</td><td class='rk'>%d</td>",
                             relp__js_num(vs, v), t->methods[m] ? t->methods[m] : "", (unsigned)relp__fig_diverging_rgb(v, 1), fs,
                             (int)ranks[(size_t)m * R + i]);
        }
        relp__str_puts(&s, "</tr>");
    }
    relp__str_puts(&s, "</tbody></table>");
    free(ranks), free(idx), free(keys);
    if (s.oom) {
        free(s.s);
        return relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure table: out of memory");
    }
    fig->html = 1;
    relp__fig_add(fig, FIG_HTML)->text = s.s;
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure table: out of memory") : RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- the paper's r table */

enum relp_status relp_figure_rtable(struct relp_figure *fig, const struct relp_figure_rtable *t) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!t || t->n_methods < 1 || t->n_nodes < 1 || !t->methods || !t->nodes || !t->r)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure rtable: expected n_methods >= 1 methods, n_nodes >= 1 "
                                                             "node types and their r");
    const int M = t->n_methods, N = t->n_nodes, secs = t->seconds != NULL;
    struct fig_str s = {0};
    /* the rows' labels: the method's title, and IG's steps */
    char **label = calloc((size_t)M, sizeof *label);
    int lw = 6;
    for (int m = 0; label && m < M; m++) {
        s.n = 0;
        relp__str_puts(&s, relp__method_title(t->methods[m]));
        if (t->steps > 0 && t->methods[m] && !strncmp(t->methods[m], "ig", 2)) relp__str_printf(&s, " (%d steps)", (int)t->steps);
        label[m] = relp__fig_strdup(fig, relp__str_cstr(&s));
        if (label[m] && relp__utf8_len(label[m]) > lw) lw = relp__utf8_len(label[m]);
    }
    if (!label) {
        free(s.s);
        return relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure rtable: out of memory");
    }
    const double fit = relp__fig_fit(fig), rowH = 22, labW = lw * FIG_CHARW + 12;
    /* the columns: as wide as "-0.126" and "seconds" need, wider where there is room */
    const double colW = fit > 0 && fit < FIG_MIN_WIDTH ? 50 : 64, secW = fit > 0 && fit < FIG_MIN_WIDTH ? 62 : 80;
    const double tableW = labW + N * colW + (secs ? secW : 0);
    const double wmin = fit > 0 && fit < FIG_MIN_WIDTH ? fit : FIG_MIN_WIDTH;
    const double W = ceil(fmax(wmin, tableW + 2 * P));
    double y = P;
    y += relp__fig_title(fig, P, y, W - 2 * P, "Pearson r of each method with activation patching, per node type", "figure-title");
    /* the header */
    const double x0 = P, gx = x0 + labW;
    relp__fig_text(fig, x0, y + 14, "method", muted(FIG_START, 0, "axis-title"));
    for (int k = 0; k < N; k++) {
        const char *n = t->nodes[k] ? t->nodes[k] : "";
        relp__fig_text(fig, gx + k * colW + colW / 2, y + 14, !strcmp(n, "head") ? "heads" : n, muted(FIG_MIDDLE, 0, "axis-title"));
    }
    if (secs) relp__fig_text(fig, gx + N * colW + secW - 4, y + 14, "seconds", muted(FIG_END, 0, "axis-title"));
    y += rowH;
    for (int m = 0; m < M; m++) {
        const double ry = y + m * rowH;
        relp__fig_text(fig, x0, ry + 15, label[m] ? label[m] : "", (struct fig_text_style){FIG_START, 0, 0, 0, FIG_INK, NULL});
        for (int k = 0; k < N; k++) {
            const double v = t->r[(size_t)m * N + k];
            char vs[40], fs[64];
            relp__js_num(vs, v);
            const uint32_t fill = isfinite(v) ? relp__fig_diverging_rgb(v, 1) : 0xeeeeeeu;
            struct fig_item *c = relp__fig_rect(fig, gx + k * colW + 1, ry + 1, colW - 2, rowH - 2, fill);
            c->stroke = FIG_CELL_STROKE, c->stroke_width = 0.5;
            relp__fig_attrs(fig, c, " class='cell' data-kind='r' data-r='%d' data-c='%d' data-v='%s' data-method='%s' data-node='%s'", m, k, vs,
                            t->methods[m] ? t->methods[m] : "", t->nodes[k] ? t->nodes[k] : "");
            s.n = 0;
            relp__str_printf(&s, "%s, %s: r = %s", label[m] ? label[m] : "", t->nodes[k] ? t->nodes[k] : "", isfinite(v) ? vs : "n/a");
            c->title = relp__fig_strdup(fig, relp__str_cstr(&s));
            if (isfinite(v)) relp__js_fixed(fs, v, 3);
            else strcpy(fs, "n/a");
            struct fig_item *tx = relp__fig_text(fig, gx + k * colW + colW / 2, ry + 15, fs,
                                                 (struct fig_text_style){FIG_MIDDLE, 0, 0, 0, relp__fig_ink_on(fill), NULL});
            relp__fig_attrs(fig, tx, " pointer-events='none'");
        }
        if (secs) {
            char fs[64];
            if (isfinite(t->seconds[m])) relp__js_fixed(fs, t->seconds[m], 2);
            else strcpy(fs, "");
            relp__fig_text(fig, gx + N * colW + secW - 4, ry + 15, fs, muted(FIG_END, 0, NULL));
        }
    }
    y += M * rowH + FIG_LEGEND_GAP;
    y += relp__fig_legend(fig, P, y, W - 2 * P, 1, FIG_LEGEND_SHARE,
                          "colour: Pearson r with AP over every cell (layer x position; heads: layer x head), -1 to 1") +
         FIG_CAPTION_GAP;
    /* the caption: model, data, metric, and the run's warnings */
    const struct relp_metric_name *mn = relp_metric_find(t->metric ? t->metric : "logit_diff");
    s.n = 0;
    if (t->model && *t->model) relp__str_printf(&s, "model: %s; ", t->model);
    relp__str_printf(&s, "data: %s", t->data && *t->data ? t->data : "prompts");
    if (t->n_prompts > 0) relp__str_printf(&s, " (%d prompts", (int)t->n_prompts);
    if (t->n_prompts > 0 && t->n_batches > 0) relp__str_printf(&s, " in %d batch%s of equal length", (int)t->n_batches, t->n_batches == 1 ? "" : "es");
    if (t->n_prompts > 0) relp__str_puts(&s, ")");
    relp__str_printf(&s, "; metric: %s; scores of each batch are its prompts' mean", mn ? mn->title : "logit difference");
    const char *lines[9];
    int warn[9] = {0}, nl = 0;
    char *first = relp__fig_strdup(fig, relp__str_cstr(&s));
    lines[nl++] = first;
    for (int32_t i = 0; i < t->n_warnings && t->warnings && nl < 9; i++) warn[nl] = 1, lines[nl++] = t->warnings[i];
    y += relp__fig_caption_text(fig, P, y, W - 2 * P, lines, warn, nl);
    free(first);
    relp__fig_doc(fig, W, ceil(y + P), "Pearson r with AP");
    for (int m = 0; m < M; m++) free(label[m]);
    free(label);
    if (s.oom) fig->oom = 1;
    free(s.s);
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure rtable: out of memory") : RELP_STATUS_OK;
}
