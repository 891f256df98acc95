/* figure.h - the figure library's inside (relp.h, FIGURES, is its outside):
 * the display list that every view is drawn into, and the helpers the views
 * share. figure.c holds the list, its SVG writer and its PNG rasteriser;
 * figure_views.c the heatmaps, token chips, scatter, attention grid and node
 * table; figure_circuits.c the faithfulness curves and the circuit graph;
 * figure_json.c the JSON form of the requests (for bindings).
 *
 * A view draws items in document order with fig_rect, fig_text, ... and sets
 * the canvas size last (fig_doc). Coordinates are CSS pixels, as the SVG's;
 * the PNG multiplies them by its scale. Every string is copied: callers keep
 * nothing alive. */
#ifndef RELP_FIGURE_INTERNAL_H
#define RELP_FIGURE_INTERNAL_H

#include "relp.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- the layout spec (one place: here and figure.c)
 * Sizes in CSS pixels. FIG_CHARW is the width of one character at FIG_FONT_SIZE
 * (DejaVu Sans Mono advances 0.602 em: 6.98 px at 11.6 px), which the layout
 * uses to measure text and the PNG's bitmap font has (core/font.h). */
#define FIG_FONT "DejaVu Sans Mono, Menlo, Consolas, monospace"
#define FIG_FONT_SANS "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
#define FIG_FONT_SIZE 11.6
#define FIG_TITLE_SIZE 12
#define FIG_CHARW 7
#define FIG_PAD 12
#define FIG_TITLE_H 20
#define FIG_AXIS_TITLE_H 18
#define FIG_LABEL_GAP 4
#define FIG_PANEL_GAP 28
#define FIG_CELL_MIN 14
#define FIG_CELL_MAX 22
#define FIG_GRID_TARGET 560
#define FIG_HEAD_CELL 22
#define FIG_MIN_WIDTH 600
#define FIG_LEGEND_W 220
#define FIG_LEGEND_BAR_H 10
#define FIG_LEGEND_GAP 14
#define FIG_CAPTION_GAP 12
#define FIG_CAPTION_LINE_H 15
#define FIG_CHIP_H 20
#define FIG_CHIP_GAP 3
#define FIG_CHIP_LINE_H 26
#define FIG_TOKENS_WIDTH 640
#define FIG_WIDE 770 /* the circuit views: a page column */
#define FIG_FIT_MIN 320       /* relp_figure_style.width: the narrowest layout */
#define FIG_FIT_CELL_MIN 12   /* fitted to a width: the smallest cell (its labels, 11.6 px, must not overlap) */

/* colours, 0xRRGGBB */
#define FIG_INK 0x222222u     /* text */
#define FIG_MUTED 0x555555u
#define FIG_CELL_STROKE 0xe4e4e4u
#define FIG_HIGHLIGHT 0xffe08au
#define FIG_WARN 0xa0361cu
#define FIG_BACKGROUND 0xffffffu
#define FIG_NONE 0xff000000u    /* fill='none' */
#define FIG_GRAD_D 0xff000001u  /* fill='url(#relp-lg-d)': the diverging legend bar */
#define FIG_GRAD_S 0xff000002u  /* fill='url(#relp-lg-s)': the sequential one */
extern const unsigned char relp__fig_diverging[5][3];
extern const unsigned char relp__fig_sequential[2][3];

/* ---------------------------------------------------------------- the display list */
enum fig_kind {
    FIG_RECT, FIG_LINE, FIG_CIRCLE, FIG_POLYLINE, FIG_PATH, /* shapes */
    FIG_TEXT,                                             /* a text with its content, or (tspans) the start of one */
    FIG_TSPAN, FIG_TEXT_END,                              /* the runs of a text, and its end */
    FIG_GROUP, FIG_GROUP_END,                             /* <g>: class, data attributes, a <title> */
    FIG_GRADIENT,                                         /* <defs> with a legend bar's gradient */
    FIG_HTML                                              /* markup written as it is (the node table) */
};
enum { FIG_START, FIG_MIDDLE, FIG_END };

struct fig_item {
    enum fig_kind kind;
    double x, y, w, h;     /* RECT x y width height; LINE x1 y1 x2 y2; CIRCLE cx cy r; TEXT/TSPAN x y */
    double rx;             /* RECT corner radius */
    uint32_t fill, stroke; /* FIG_NONE: absent (stroke) or 'none' (fill) */
    double stroke_width;   /* 0: not written (SVG's default, 1) */
    double opacity;        /* fill-opacity; 1: not written */
    const char *dash;      /* stroke-dasharray, a static string, or NULL */
    int anchor, rotate, bold, has_x, no_xy;
    double size;           /* font-size; 0: the document's */
    char *attrs;           /* attributes written before the geometry: " class='cell' data-r='0'" (escaped) */
    char *text;            /* TEXT, TSPAN content; GROUP title; HTML markup; GRADIENT id */
    char *title;           /* the tooltip: a <title> child */
    double *pts;           /* POLYLINE x0 y0 x1 y1 ...; PATH: x0 y0, then c1 c2 p per cubic segment */
    int n_pts;             /* points (pairs) */
};

struct relp_figure {
    struct fig_item *items;
    int n, cap;
    double width, height;  /* the canvas, set by fig_doc */
    char *doc_title;
    int html;              /* the node table: markup, no canvas */
    int fragment;          /* items only, no <svg> around them (the attention figure's focus group) */
    struct fig_item spare; /* where an add that could not grow the list draws (oom is set) */
    char *svg;             /* written on demand from the items */
    size_t svg_len;
    unsigned char *png;
    size_t png_len, png_cap;
    int oom;
    char error[256];
    struct relp_figure_style style; /* relp_figure_set_style: kept across draws */
    char *caption_text;             /* the last figure's caption as text (relp_figure_caption_text) */
    size_t caption_len;
};

/* the width a figure is fitted to (relp_figure_style.width, at least FIG_FIT_MIN), or 0: the default layout */
double relp__fig_fit(const struct relp_figure *f);
/* the caption's lines as text, kept on the figure (relp_figure_caption_text) */
void relp__fig_caption_add(struct relp_figure *f, const char *line);
/* a title wrapped into width (one line when it fits, as the default layout has it); returns the height it takes */
double relp__fig_title(struct relp_figure *f, double x, double y, double width, const char *s, const char *cls);

/* items; attributes and texts are copied. fmt-style attrs: printf into the attrs string. */
void relp__fig_reset(struct relp_figure *f);
struct fig_item *relp__fig_add(struct relp_figure *f, enum fig_kind kind);
void relp__fig_attrs(struct relp_figure *f, struct fig_item *it, const char *fmt, ...);
char *relp__fig_strdup(struct relp_figure *f, const char *s);
void relp__fig_doc(struct relp_figure *f, double w, double h, const char *title);
enum relp_status relp__fig_fail(struct relp_figure *f, enum relp_status st, const char *fmt, ...);

struct fig_text_style {
    int anchor, rotate, bold;
    double size;
    uint32_t fill;
    const char *cls;
};
struct fig_item *relp__fig_text(struct relp_figure *f, double x, double y, const char *s, struct fig_text_style st);
struct fig_item *relp__fig_rect(struct relp_figure *f, double x, double y, double w, double h, uint32_t fill);
struct fig_item *relp__fig_line(struct relp_figure *f, double x1, double y1, double x2, double y2, uint32_t stroke);
struct fig_item *relp__fig_circle(struct relp_figure *f, double cx, double cy, double r, uint32_t fill);
struct fig_item *relp__fig_group(struct relp_figure *f, const char *cls);
void relp__fig_end(struct relp_figure *f, enum fig_kind end);

/* ---------------------------------------------------------------- text, numbers, colours */
/* A growable string; on allocation failure it stays short and sets oom. */
struct fig_str {
    char *s;
    size_t n, cap;
    int oom;
};
void relp__str_put(struct fig_str *b, const char *s, size_t n);
void relp__str_puts(struct fig_str *b, const char *s);
void relp__str_printf(struct fig_str *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void relp__str_quote(struct fig_str *b, const char *s); /* JSON.stringify of a string */
void relp__str_esc(struct fig_str *b, const char *s);   /* XML-escaped, for attributes and titles */
const char *relp__str_cstr(struct fig_str *b);          /* "" when empty */

int relp__utf8_len(const char *s);                       /* code points: the layout's unit of width */
size_t relp__utf8_off(const char *s, int k);             /* byte offset of code point k */
#define relp__text_w(s) ((double)relp__utf8_len(s) * FIG_CHARW)

/* Numbers as JavaScript's String(v) writes them (the shortest text that reads back as v); out: 32 bytes. */
char *relp__js_num(char *out, double v);
/* JavaScript's v.toFixed(digits) (0..20) and v.toExponential(digits); out: 64 bytes */
char *relp__js_fixed(char *out, double v, int digits);
char *relp__js_exp(char *out, double v, int digits);
/* A coordinate: rounded to 0.1 (Math.round(v * 10) / 10) and written as a number */
char *relp__fig_num(char *out, double v);
/* A value for people: four significant digits, "n/a" when not finite; a legend tick */
char *relp__fig_fmt(char *out, double v);
char *relp__fig_tick(char *out, double v);

uint32_t relp__fig_diverging_rgb(double v, double max); /* the maps' palette, blue - white - red, over [-max, max] */
uint32_t relp__fig_sequential_rgb(double v);             /* white to purple over [0, 1] */
uint32_t relp__fig_ink_on(uint32_t fill);                /* black or white, whichever contrasts more */

/* Words wrapped to max characters (long words cut); returns the count, lines in *out (free with relp__lines_free). */
int relp__wrap(const char *s, int max, char ***out);
void relp__lines_free(char **l, int n);

/* Tokens as labels show them: spaces as U+2423, newlines U+21B5, control characters U+FFFD; visible 0: spaces kept */
void relp__token_text(struct fig_str *b, const char *t, int visible);

/* The title of a method or rules preset name from the core's tables (names.c), or the name itself */
const char *relp__method_title(const char *name);
const char *relp__node_title(const char *name);

/* ---------------------------------------------------------------- pieces the views share (figure_views.c) */
enum fig_legend { FIG_LEGEND_SHARE, FIG_LEGEND_METRIC, FIG_LEGEND_RELEVANCE, FIG_LEGEND_ATTENTION };
double relp__fig_legend(struct relp_figure *f, double x, double y, double width, double max, enum fig_legend units,
                        const char *text);
/* caption lines: text, or a warning (bold, in the warning colour) */
struct fig_cline {
    int kind; /* 0 text, 1 tokens, 2 warning */
    char *text;
    const char *label;
    const char *const *tokens;
};
double relp__fig_caption_text(struct relp_figure *f, double x, double y, double width, const char *const *lines,
                              const int *warn, int n);

#endif
