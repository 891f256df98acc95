/* figure_circuits.c - the circuit views: faithfulness curves (how much of the
 * model's behaviour the n highest-scored nodes carry, per method, against n)
 * and the circuit graph (nodes by where they sit in the model, edges by
 * score). Drawn into figure.c's display list like every other figure, a
 * column wide (FIG_WIDE, 770 px); relp.h (FIGURES) documents the inputs.
 * Not done: edge routing around nodes (edges are curves that may cross
 * nodes of the rows they pass). */
#include "figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P FIG_PAD
#define LH FIG_CAPTION_LINE_H

/* each method's colour, fixed (Tableau 10): the same method looks the same in every figure */
static uint32_t method_colour(const char *name, int i) {
    static const struct { const char *name; uint32_t rgb; } c[] = {
        {"relp", 0xd62728u}, {"atp", 0x1f77b4u}, {"ig", 0x2ca02cu}, {"ig-input", 0x17becfu}, {"relp-ln", 0xff7f0eu},
        {"relp-cp", 0x9467bdu}, {"attnlrp", 0x8c564bu}, {"ap", 0x7f7f7fu}, {"grad", 0x1f77b4u}};
    static const uint32_t other[] = {0xe377c2u, 0xbcbd22u, 0x393b79u, 0x637939u};
    for (size_t k = 0; name && k < sizeof c / sizeof c[0]; k++)
        if (!strcmp(c[k].name, name)) return c[k].rgb;
    return other[(i < 0 ? 0 : i) % 4];
}

static struct fig_text_style style(int anchor, int rotate, int bold, double size, uint32_t fill, const char *cls) {
    return (struct fig_text_style){anchor, rotate, bold, size, fill, cls};
}

/* ---------------------------------------------------------------- faithfulness curves */

/* a tick step near range / 5: 1, 2, 2.5 or 5 times a power of ten */
static double nice_step(double range) {
    const double raw = range / 5, p = pow(10, floor(log10(raw))), m = raw / p;
    return p * (m <= 1 ? 1 : m <= 2 ? 2 : m <= 2.5 ? 2.5 : m <= 5 ? 5 : 10);
}
static char *clean_num(char *out, double v) { /* 0.30000000000000004 -> 0.3 */
    char t[40];
    snprintf(t, sizeof t, "%.10g", v);
    return relp__js_num(out, strtod(t, NULL) + 0.0);
}
static char *decade_label(char *out, int k) {
    if (k >= 0 && k <= 3) return relp__js_num(out, pow(10, k));
    snprintf(out, 40, "1e%d", k);
    return out;
}

enum relp_status relp_figure_curves(struct relp_figure *fig, const struct relp_figure_curves *c) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!c || c->n_series < 1 || !c->series)
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure curves: expected n_series >= 1 series");
    double xlo = INFINITY, xhi = -INFINITY, ylo = 0, yhi = 1;
    for (int32_t s = 0; s < c->n_series; s++) {
        const struct relp_figure_series *se = &c->series[s];
        if (se->n < 0 || (se->n > 0 && !se->n_nodes))
            return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure curves: series %d has no n_nodes", (int)s);
        for (int32_t i = 0; i < se->n; i++) {
            if (!(se->n_nodes[i] > 0) || !isfinite(se->n_nodes[i])) continue;
            xlo = fmin(xlo, se->n_nodes[i]), xhi = fmax(xhi, se->n_nodes[i]);
            for (int w = 0; w < 2; w++) {
                const double *v = w ? se->completeness : se->faithfulness;
                if (v && isfinite(v[i])) ylo = fmin(ylo, v[i]), yhi = fmax(yhi, v[i]);
            }
        }
    }
    if (!isfinite(xlo)) xlo = 1, xhi = 10;
    int k0 = (int)floor(log10(xlo) + 1e-9), k1 = (int)ceil(log10(xhi) - 1e-9);
    if (k1 <= k0) k1 = k0 + 1;
    const double ypad = (yhi - ylo) * 0.05;
    ylo -= ypad, yhi += ypad;
    /* fitted to a narrow width (relp_figure_style): the two panels stacked */
    const double fit = relp__fig_fit(fig), W = fit > 0 && fit < FIG_WIDE ? fit : FIG_WIDE;
    const int side = W >= FIG_MIN_WIDTH;
    const double pw = side ? (W - 2 * P - FIG_PANEL_GAP) / 2 : W - 2 * P, ml = FIG_AXIS_TITLE_H + 6 * FIG_CHARW + FIG_LABEL_GAP;
    const double ph = side ? 240 : 200;
    const double top = P + relp__fig_title(fig, P, P, W - 2 * P, "faithfulness and completeness of the circuits of the n highest-scored nodes",
                                           "figure-title");
    const double block = FIG_TITLE_H + 6 + ph + 32 + 10; /* a panel, its title and its axis titles */
    const double step = nice_step(yhi - ylo), every = k1 - k0 > 8 ? 2 : 1;
    struct fig_str t = {0};
    for (int w = 0; w < 2; w++) {
        const double x0 = side ? P + w * (pw + FIG_PANEL_GAP) : P, ptop = side ? top : top + w * block;
        const double gx = x0 + ml, gw = pw - ml - 8, gy = ptop + FIG_TITLE_H + 6;
#define SX(v) (gx + (log10(v) - k0) / (double)(k1 - k0) * gw)
#define SY(v) (gy + ph - ((v) - ylo) / (yhi - ylo) * ph)
        relp__fig_text(fig, x0, ptop + 13, w ? "completeness" : "faithfulness F", style(FIG_START, 0, 1, FIG_TITLE_SIZE, FIG_INK, "panel-title"));
        struct fig_item *frame = relp__fig_rect(fig, gx, gy, gw, ph, FIG_NONE);
        frame->stroke = 0x999999u;
        char b[40];
        for (int k = k0; k <= k1; k++) { /* decades: grid lines, and labels (every other past 8 decades) */
            const double x = SX(pow(10, k));
            if (k > k0 && k < k1) relp__fig_line(fig, x, gy, x, gy + ph, 0xeeeeeeu);
            relp__fig_line(fig, x, gy + ph, x, gy + ph + 3, FIG_MUTED);
            if ((k - k0) % (int)every == 0)
                relp__fig_attrs(fig, relp__fig_text(fig, x, gy + ph + 15, decade_label(b, k), style(FIG_MIDDLE, 0, 0, 0, FIG_MUTED, NULL)),
                                " class='tick-x'");
        }
        for (double v = ceil(ylo / step) * step; v <= yhi + 1e-12; v += step) {
            relp__fig_line(fig, gx - 3, SY(v), gx, SY(v), FIG_MUTED);
            relp__fig_attrs(fig, relp__fig_text(fig, gx - 5, SY(v) + 4, clean_num(b, v), style(FIG_END, 0, 0, 0, FIG_MUTED, NULL)),
                            " class='tick-y'");
        }
        for (int r = 0; r < 2; r++) { /* 0: the circuit does nothing; 1: all of the model's behaviour */
            struct fig_item *ref = relp__fig_line(fig, gx, SY(r), gx + gw, SY(r), 0x999999u);
            ref->dash = "4 3";
            relp__fig_attrs(fig, ref, " class='ref' data-v='%d'", r);
        }
        relp__fig_text(fig, x0 + 13, gy + ph / 2, w ? "completeness" : "faithfulness F", style(FIG_MIDDLE, 1, 0, 0, FIG_MUTED, "axis-title"));
        relp__fig_text(fig, gx + gw / 2, gy + ph + 32, "number of nodes (log scale)", style(FIG_MIDDLE, 0, 0, 0, FIG_MUTED, "axis-title"));
        for (int32_t s = 0; s < c->n_series; s++) {
            const struct relp_figure_series *se = &c->series[s];
            const double *v = w ? se->completeness : se->faithfulness;
            const uint32_t colour = method_colour(se->method, s);
            if (!v) continue;
            for (int32_t i = 0; i < se->n;) { /* a line through each run of drawable points */
                int32_t j = i;
                while (j < se->n && isfinite(v[j]) && se->n_nodes[j] > 0) j++;
                if (j - i >= 2) {
                    struct fig_item *pl = relp__fig_add(fig, FIG_POLYLINE);
                    pl->pts = malloc(sizeof *pl->pts * 2 * (size_t)(j - i));
                    if (!pl->pts) fig->oom = 1;
                    for (int32_t k = i; pl->pts && k < j; k++) pl->pts[2 * (k - i)] = SX(se->n_nodes[k]), pl->pts[2 * (k - i) + 1] = SY(v[k]);
                    pl->n_pts = pl->pts ? j - i : 0;
                    pl->stroke = colour, pl->stroke_width = 1.5;
                    relp__fig_attrs(fig, pl, " class='series' data-method='%s'", se->method ? se->method : "");
                }
                i = j == i ? i + 1 : j;
            }
            for (int32_t i = 0; i < se->n; i++) {
                if (!isfinite(v[i]) || !(se->n_nodes[i] > 0)) continue;
                char xs[40], vs[40], v3[64];
                struct fig_item *pt = relp__fig_circle(fig, SX(se->n_nodes[i]), SY(v[i]), 3, colour);
                relp__fig_attrs(fig, pt, " class='pt' data-method='%s' data-x='%s' data-v='%s'", se->method ? se->method : "",
                                relp__js_num(xs, se->n_nodes[i]), relp__js_num(vs, v[i]));
                t.n = 0;
                relp__str_printf(&t, "%s: %s nodes, %s %s", relp__method_title(se->method), xs, w ? "completeness" : "F",
                                 relp__js_fixed(v3, v[i], 3));
                pt->title = relp__fig_strdup(fig, relp__str_cstr(&t));
            }
        }
#undef SX
#undef SY
    }
    /* the legend: a swatch per method and its time, wrapped into the width */
    double y = top + (side ? 1 : 2) * block + 4, x = P;
    relp__fig_group(fig, "legend");
    for (int32_t s = 0; s < c->n_series; s++) {
        const struct relp_figure_series *se = &c->series[s];
        char sec[64];
        t.n = 0;
        relp__str_puts(&t, relp__method_title(se->method));
        if (isfinite(se->seconds)) relp__str_printf(&t, " (%s s)", relp__js_fixed(sec, se->seconds, se->seconds < 10 ? 2 : 1));
        const double w = 26 + relp__text_w(relp__str_cstr(&t)) + 18;
        if (x + w > W - P && x > P) x = P, y += 18;
        const uint32_t colour = method_colour(se->method, s);
        struct fig_item *sw = relp__fig_line(fig, x, y - 4, x + 20, y - 4, colour);
        sw->stroke_width = 1.5;
        relp__fig_circle(fig, x + 10, y - 4, 3, colour);
        relp__fig_attrs(fig, relp__fig_text(fig, x + 26, y, relp__str_cstr(&t), style(FIG_START, 0, 0, 0, FIG_INK, NULL)),
                        " class='legend-entry' data-method='%s'", se->method ? se->method : "");
        x += w;
    }
    relp__fig_end(fig, FIG_GROUP_END);
    y += 8 + FIG_CAPTION_GAP;
    t.n = 0;
    const char *part[4] = {c->model, c->nodes, c->data, c->metric}, *label[4] = {"model", "nodes", "data", "metric"};
    for (int i = 0; i < 4; i++)
        if (part[i] && *part[i]) relp__str_printf(&t, "%s%s: %s", t.n ? "; " : "", label[i], part[i]);
    const char *lines[2 + 64];
    int warn[2 + 64], n = 0;
    if (t.n) lines[n] = t.s, warn[n++] = 0;
    lines[n] = "F = (m(C) - m(none)) / (m(model) - m(none)), m the metric's mean over the prompts, C the circuit of the n nodes "
               "(every other node mean-ablated); completeness: F of the model without C (lower is more complete)";
    warn[n++] = 0;
    for (int32_t i = 0; i < c->n_warnings && c->warnings && n < 66; i++) lines[n] = c->warnings[i], warn[n++] = 1;
    y += relp__fig_caption_text(fig, P, y, W - 2 * P, lines, warn, n);
    if (t.oom) fig->oom = 1;
    free(t.s);
    relp__fig_doc(fig, W, ceil(y + P), "faithfulness curves");
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure curves: out of memory") : RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- the circuit graph */

#define NODE_H 18
#define ROW_GAP 40   /* between rows: room for the edges and the q/k/v ports */
#define LINE_GAP 26  /* between the lines of a row that wraps */

struct placed {
    int32_t i;   /* the node */
    int32_t column, position;
    double key;  /* its row: a layer's resid_pre < attention < MLP, the input below all, the logits above */
    double x, y, w;
};

static double row_key(const struct relp_figure_node *n) {
    const int part = n->kind == RELP_FIGURE_NODE_FEATURE ? n->hook : (int)n->kind;
    switch (n->kind) {
    case RELP_FIGURE_NODE_EMBED: return -1e9;
    case RELP_FIGURE_NODE_LOGITS: return 1e9;
    default: break;
    }
    return n->layer * 3.0 + (part == RELP_FIGURE_NODE_HEAD || part == RELP_FIGURE_NODE_ATTN ? 1 : part == RELP_FIGURE_NODE_MLP ? 2 : 0);
}
static int by_row(const void *pa, const void *pb) { /* top row first; in a row by column, position, index */
    const struct placed *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    if (a->column != b->column) return a->column < b->column ? -1 : 1;
    if (a->position != b->position) return a->position < b->position ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

static void row_name(char *out, const struct relp_figure_node *n) {
    const int part = n->kind == RELP_FIGURE_NODE_FEATURE ? n->hook : (int)n->kind;
    const char *what = part == RELP_FIGURE_NODE_HEAD || part == RELP_FIGURE_NODE_ATTN ? "attn" : part == RELP_FIGURE_NODE_MLP ? "mlp" : "resid";
    if (n->kind == RELP_FIGURE_NODE_EMBED) strcpy(out, "input");
    else if (n->kind == RELP_FIGURE_NODE_LOGITS) strcpy(out, "logits");
    else snprintf(out, 32, "L%d %s", (int)n->layer, what);
}

/* where an edge meets node p: its top or bottom centre, or a head's q / k / v port (bottom, left to right) */
static void anchor_at(const struct placed *p, int bottom, char letter, double *x, double *y) {
    const double f = letter == 'q' ? 1.0 / 6 : letter == 'k' ? 0.5 : letter == 'v' ? 5.0 / 6 : 0.5;
    *x = p->x + f * p->w;
    *y = bottom ? p->y + NODE_H : p->y;
}

static int by_abs_score(const void *pa, const void *pb) { /* weakest edges first: the strong ones drawn on top */
    const struct relp_figure_edge *a = *(const struct relp_figure_edge *const *)pa, *b = *(const struct relp_figure_edge *const *)pb;
    const double x = isfinite(a->score) ? fabs(a->score) : 0, y = isfinite(b->score) ? fabs(b->score) : 0;
    return x < y ? -1 : x > y ? 1 : (a > b) - (a < b);
}

enum relp_status relp_figure_circuit(struct relp_figure *fig, const struct relp_figure_circuit *c) {
    if (!fig) return RELP_STATUS_BAD_ARGUMENT;
    relp__fig_reset(fig);
    if (!c || c->n_nodes < 1 || !c->nodes || c->n_edges < 0 || (c->n_edges > 0 && !c->edges))
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure circuit: expected n_nodes >= 1 nodes (and their edges)");
    for (int32_t e = 0; e < c->n_edges; e++)
        if (c->edges[e].u < 0 || c->edges[e].u >= c->n_nodes || c->edges[e].v < 0 || c->edges[e].v >= c->n_nodes)
            return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure circuit: edge %d joins nodes %d and %d of %d", (int)e,
                                  (int)c->edges[e].u, (int)c->edges[e].v, (int)c->n_nodes);
    const int32_t N = c->n_nodes;
    struct placed *pl = malloc(sizeof *pl * (size_t)N), **at = malloc(sizeof *at * (size_t)N);
    const struct relp_figure_edge **order = malloc(sizeof *order * (size_t)(c->n_edges ? c->n_edges : 1));
    if (!pl || !at || !order) {
        free(pl), free(at), free(order);
        return relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure circuit: out of memory");
    }
    for (int32_t i = 0; i < N; i++) pl[i] = (struct placed){i, c->nodes[i].column, c->nodes[i].position, row_key(&c->nodes[i]), 0, 0, 0};
    qsort(pl, (size_t)N, sizeof *pl, by_row);
    for (int32_t i = 0; i < N; i++) at[pl[i].i] = &pl[i];
    /* place the rows top-down: a box per node as wide as its label, lines wrapped to the width */
    const double fit = relp__fig_fit(fig), W = fit > 0 && fit < FIG_WIDE ? fit : FIG_WIDE, lm = P + 10 * FIG_CHARW + 8, right = W - P;
    double node_max = 0, edge_max = 0;
    for (int32_t i = 0; i < N; i++)
        if (isfinite(c->nodes[i].score)) node_max = fmax(node_max, fabs(c->nodes[i].score));
    for (int32_t e = 0; e < c->n_edges; e++)
        if (isfinite(c->edges[e].score)) edge_max = fmax(edge_max, fabs(c->edges[e].score));
    const double top = P + relp__fig_title(fig, P, P, W - 2 * P, c->title ? c->title : "circuit", "figure-title") + 8;
    double y = top;
    for (int32_t i = 0; i < N;) {
        int32_t j = i;
        while (j < N && pl[j].key == pl[i].key) j++;
        double x = lm;
        for (int32_t k = i; k < j; k++) {
            const char *name = c->nodes[pl[k].i].name ? c->nodes[pl[k].i].name : "";
            pl[k].w = fmax(24, relp__text_w(name) + 10);
            if (x + pl[k].w > right && x > lm) x = lm, y += LINE_GAP;
            pl[k].x = x, pl[k].y = y;
            x += pl[k].w + 16;
        }
        for (int32_t k = i; k < j;) { /* each line centred in the width */
            int32_t e = k;
            while (e < j && pl[e].y == pl[k].y) e++;
            const double shift = fmax(0, (right - (pl[e - 1].x + pl[e - 1].w)) / 2);
            for (int32_t q = k; q < e; q++) pl[q].x += shift;
            k = e;
        }
        y += NODE_H + ROW_GAP;
        i = j;
    }
    const double bottom = y - ROW_GAP;
    struct fig_str t = {0};
    /* row labels, at each row's first line */
    for (int32_t i = 0; i < N; i++) {
        if (i > 0 && pl[i].key == pl[i - 1].key) continue;
        char name[40];
        row_name(name, &c->nodes[pl[i].i]);
        relp__fig_text(fig, P, pl[i].y + 13, name, style(FIG_START, 0, 0, 0, FIG_MUTED, "row-label"));
    }
    /* edges under the nodes, weakest first */
    for (int32_t e = 0; e < c->n_edges; e++) order[e] = &c->edges[e];
    qsort(order, (size_t)c->n_edges, sizeof *order, by_abs_score);
    for (int32_t e = 0; e < c->n_edges; e++) {
        const struct relp_figure_edge *ed = order[e];
        const struct placed *u = at[ed->u], *v = at[ed->v];
        const int up = u->y >= v->y; /* drawn upwards: from u's top to v's bottom */
        double x1, y1, x2, y2;
        anchor_at(u, !up, 0, &x1, &y1);
        anchor_at(v, up, c->nodes[ed->v].kind == RELP_FIGURE_NODE_HEAD && up ? ed->letter : 0, &x2, &y2);
        const double s = isfinite(ed->score) ? ed->score : 0, mag = edge_max > 0 ? fabs(s) / edge_max : 0;
        struct fig_item *pa = relp__fig_add(fig, FIG_PATH);
        pa->pts = malloc(sizeof *pa->pts * 8);
        if (!pa->pts) {
            fig->oom = 1;
            continue;
        }
        const double my = (y1 + y2) / 2;
        const double pts[8] = {x1, y1, x1, my, x2, my, x2, y2};
        memcpy(pa->pts, pts, sizeof pts);
        pa->n_pts = 4;
        pa->stroke = relp__fig_diverging_rgb((s < 0 ? -1 : 1) * fmax(0.45, mag), 1);
        pa->stroke_width = 0.75 + 4.25 * mag;
        char ss[40];
        relp__js_num(ss, ed->score);
        relp__fig_attrs(fig, pa, " class='edge' data-u='%d' data-v='%d' data-score='%s'%s%s%s", (int)ed->u, (int)ed->v, ss,
                        ed->letter ? " data-letter='" : "", ed->letter ? (ed->letter == 'q' ? "q" : ed->letter == 'k' ? "k" : "v") : "",
                        ed->letter ? "'" : "");
        t.n = 0;
        relp__str_printf(&t, "%s -> %s", c->nodes[ed->u].name ? c->nodes[ed->u].name : "", c->nodes[ed->v].name ? c->nodes[ed->v].name : "");
        if (ed->letter) relp__str_printf(&t, " (%c)", ed->letter);
        relp__str_printf(&t, ": %s", ss);
        pa->title = relp__fig_strdup(fig, relp__str_cstr(&t));
    }
    /* nodes: a box filled by the node's score, its name inside; the q / k / v ports its edges use, under a head */
    for (int32_t k = 0; k < N; k++) {
        const struct relp_figure_node *n = &c->nodes[pl[k].i];
        char ss[40];
        relp__js_num(ss, n->score);
        struct fig_item *g = relp__fig_group(fig, NULL);
        t.n = 0;
        relp__str_printf(&t, " class='node' data-i='%d' data-name='", (int)pl[k].i);
        relp__str_esc(&t, n->name ? n->name : "");
        relp__str_printf(&t, "' data-score='%s'", ss);
        g->attrs = relp__fig_strdup(fig, relp__str_cstr(&t));
        t.n = 0;
        relp__str_printf(&t, "%s: %s", n->name ? n->name : "", ss);
        g->title = relp__fig_strdup(fig, relp__str_cstr(&t));
        const uint32_t fill = relp__fig_diverging_rgb(n->score, node_max);
        struct fig_item *box = relp__fig_rect(fig, pl[k].x, pl[k].y, pl[k].w, NODE_H, fill);
        box->rx = 3, box->stroke = 0x666666u, box->stroke_width = 0.5;
        relp__fig_text(fig, pl[k].x + pl[k].w / 2, pl[k].y + 13, n->name ? n->name : "", style(FIG_MIDDLE, 0, 0, 0, relp__fig_ink_on(fill), NULL));
        if (n->kind == RELP_FIGURE_NODE_HEAD) {
            int used[3] = {0, 0, 0};
            for (int32_t e = 0; e < c->n_edges; e++)
                if (c->edges[e].v == pl[k].i && c->edges[e].letter && at[c->edges[e].u]->y >= pl[k].y)
                    used[c->edges[e].letter == 'q' ? 0 : c->edges[e].letter == 'k' ? 1 : 2] = 1;
            for (int p = 0; p < 3; p++) {
                if (!used[p]) continue;
                const char l[2] = {"qkv"[p], 0};
                double px_, py_;
                anchor_at(&pl[k], 1, l[0], &px_, &py_);
                relp__fig_attrs(fig, relp__fig_text(fig, px_ + 4, py_ + 9, l, style(FIG_START, 0, 1, 10, FIG_MUTED, NULL)), " class='port'");
            }
        }
        relp__fig_end(fig, FIG_GROUP_END);
    }
    /* the legend: sample edges for |score| = max, max/2, max/4, and what the colours mean */
    y = bottom + 24;
    relp__fig_group(fig, "legend");
    double x = P;
    for (int k = 0; k < 3 && edge_max > 0; k++) {
        const double mag = 1.0 / (1 << k);
        struct fig_item *l = relp__fig_line(fig, x, y - 4, x + 26, y - 4, relp__fig_diverging_rgb(fmax(0.45, mag), 1));
        l->stroke_width = 0.75 + 4.25 * mag;
        char b[64];
        relp__fig_tick(b, edge_max * mag);
        t.n = 0;
        relp__str_printf(&t, "|score| %s", b);
        relp__fig_text(fig, x + 32, y, relp__str_cstr(&t), style(FIG_START, 0, 0, 0, FIG_MUTED, NULL));
        x += 32 + relp__text_w(relp__str_cstr(&t)) + 20;
    }
    y += edge_max > 0 ? 10 : 0;
    const char *key[2] = {"edges: red raises the metric, blue lowers it, wider is larger; q, k, v: the input of the head "
                          "an edge enters (query, key, value)",
                          "nodes: filled by their own score on the same palette"};
    char **ls;
    int nl = 0;
    for (int k = c->n_edges > 0 ? 0 : 1; k < 2; k++) { /* no edges: only the nodes' key */
        const int n = relp__wrap(key[k], (int)floor((W - 2 * P) / FIG_CHARW), &ls);
        for (int i = 0; i < n; i++, nl++) relp__fig_text(fig, P, y + 11 + nl * LH, ls[i], style(FIG_START, 0, 0, 0, FIG_MUTED, NULL));
        relp__lines_free(ls, n);
    }
    relp__fig_end(fig, FIG_GROUP_END);
    y += nl * LH + FIG_CAPTION_GAP;
    const int nc = (c->n_lines > 0 ? c->n_lines : 0) + (c->n_warnings > 0 ? c->n_warnings : 0);
    const char **lines = malloc(sizeof *lines * (size_t)(nc ? nc : 1));
    int *warn = malloc(sizeof *warn * (size_t)(nc ? nc : 1)), n = 0;
    if (!lines || !warn) fig->oom = 1;
    for (int32_t i = 0; lines && warn && i < c->n_lines && c->lines; i++) lines[n] = c->lines[i], warn[n++] = 0;
    for (int32_t i = 0; lines && warn && i < c->n_warnings && c->warnings; i++) lines[n] = c->warnings[i], warn[n++] = 1;
    if (lines && warn) y += relp__fig_caption_text(fig, P, y, W - 2 * P, lines, warn, n);
    free(lines), free(warn);
    relp__fig_doc(fig, W, ceil(y + P), c->title ? c->title : "circuit");
    if (t.oom) fig->oom = 1;
    free(t.s);
    free(pl), free(at), free(order);
    return fig->oom ? relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure circuit: out of memory") : RELP_STATUS_OK;
}
