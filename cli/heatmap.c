/* heatmap.c - relp's figures as SVG and PNG, laid out exactly as the page lays
 * out its exported figures (web/render.js), from the one spec both read
 * (SPEC at the top of web/render.js, turned into figure_spec.h at configure time): a title;
 * the grid with axis titles and labels; a legend that says what the colour
 * means; a caption with the model, both prompts (the tokens that differ
 * marked), answer and wrong token, metric, method and warnings about the run.
 * tests/test_figure_layout.mjs checks that both put the same cells, labels,
 * legend and caption in the same places.
 *
 * The layout code runs once per output through a small drawing interface: a
 * measuring pass, then the SVG writer (real text, a <title> with the exact
 * value on every cell) or the PNG rasteriser (labels in the embedded font of
 * font.h, 7 x 14 px, which matches the spec's character width). */
#include "heatmap.h"

#include "figure_spec.h"
#include "font.h"
#include "relp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#if FIG_CHARW != FONT_W
#error "web/render.js SPEC.charW must equal the PNG font's glyph width (cli/font.h FONT_W)"
#endif

/* ---------------------------------------------------------------- strings */

/* a growable string */
struct str {
    char *s;
    size_t n, cap;
};
static void sput(struct str *b, const char *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) return;
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
static void sputs(struct str *b, const char *s) { sput(b, s, strlen(s)); }
static void sprintf_(struct str *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) sput(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}
static char *sdup(const char *s) {
    size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (p) memcpy(p, s, n + 1);
    return p;
}

/* characters (code points) of UTF-8 text: the layout's unit of width */
static int ulen(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}
/* byte offset of the k-th code point */
static size_t uoff(const char *s, int k) {
    size_t i = 0;
    for (int c = 0; s[i] && c <= k; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && c++ == k) return i;
    return i;
}

/* a token as a label shows it (render.js showToken): spaces as U+2423, newlines as U+21B5, control characters as
 * U+FFFD; visible = 0: spaces kept (the caption's prompts, render.js plainToken) */
static void token_text(struct str *b, const char *t, int visible) {
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (c == ' ' && visible) sputs(b, "\xE2\x90\xA3");
        else if (c == '\n') sputs(b, "\xE2\x86\xB5");
        else if (c < 0x20) sputs(b, "\xEF\xBF\xBD");
        else sput(b, t, 1);
    }
}

/* JSON.stringify of a string (the caption quotes tokens this way) */
static void json_quote(struct str *b, const char *s) {
    sputs(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') sputs(b, "\\\"");
        else if (c == '\\') sputs(b, "\\\\");
        else if (c == '\n') sputs(b, "\\n");
        else if (c == '\r') sputs(b, "\\r");
        else if (c == '\t') sputs(b, "\\t");
        else if (c == '\b') sputs(b, "\\b");
        else if (c == '\f') sputs(b, "\\f");
        else if (c < 0x20) sprintf_(b, "\\u%04x", c);
        else sput(b, s, 1);
    }
    sputs(b, "\"");
}

static const char *spec_lookup(const char *const table[][2], const char *key) {
    for (int i = 0; table[i][0]; i++)
        if (!strcmp(table[i][0], key)) return table[i][1];
    return key;
}

/* numbers as render.js writes them: num() for coordinates, toFixed(3), and fmtTick for legend ticks */
static void num(char *out, double v) { snprintf(out, 32, "%.10g", round(v * 10) / 10 + 0.0); }
static void fixed3(struct str *b, double v) { sprintf_(b, "%.3f", v + 0.0); }
static void fmt_tick(char *out, double v) {
    double a = fabs(v);
    if (!(a > 0)) { strcpy(out, "0"); return; }
    if (a >= 100) snprintf(out, 32, "%.0f", v);
    else if (a >= 1) snprintf(out, 32, "%.2f", v);
    else if (a >= 0.01) snprintf(out, 32, "%.3f", v);
    else { /* toExponential(1): 1.2e-3 */
        char t[12];
        snprintf(t, sizeof t, "%.1e", v);
        char *e = strchr(t, 'e');
        int ex = e ? atoi(e + 1) : 0;
        if (e) *e = '\0';
        snprintf(out, 32, "%.12se%s%d", t, ex < 0 ? "-" : "+", abs(ex) % 1000);
    }
}

/* ---------------------------------------------------------------- colours (render.js diverging, sequential) */

static void diverging(double v, double max, unsigned char rgb[3]) {
    double t = max > 0 && isfinite(v) ? v / max : 0;
    if (t < -1) t = -1;
    if (t > 1) t = 1;
    double x = (t + 1) * 2;
    int i = (int)floor(x);
    if (i > 3) i = 3;
    double f = x - i;
    for (int k = 0; k < 3; k++)
        rgb[k] = (unsigned char)floor(fig_colors_diverging[i][k] + f * (fig_colors_diverging[i + 1][k] - fig_colors_diverging[i][k]) + 0.5);
}
static void hex_rgb(const char *hex, unsigned char rgb[3]) {
    unsigned v = (unsigned)strtoul(hex + 1, NULL, 16);
    rgb[0] = (unsigned char)(v >> 16);
    rgb[1] = (unsigned char)(v >> 8);
    rgb[2] = (unsigned char)v;
}
static double lin(int c) {
    double v = c / 255.0;
    return v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}
/* text on a coloured cell: black or white, whichever contrasts more (render.js inkOn) */
static const char *ink_on(const unsigned char rgb[3]) {
    double L = 0.2126 * lin(rgb[0]) + 0.7152 * lin(rgb[1]) + 0.0722 * lin(rgb[2]);
    return L > 0.179 ? "#000000" : "#ffffff";
}

/* ---------------------------------------------------------------- the drawing interface */

enum { OUT_MEASURE, OUT_SVG, OUT_PNG };
enum { A_START, A_MIDDLE, A_END };
struct out {
    int kind;
    FILE *f;
    unsigned char *px;
    int w, h;
};

/* text content (render.js txt): a space that SVG would drop (leading, trailing, or one of several in a row: GPT-2
 * tokens lead with them) as a no-break space; single spaces between words stay spaces */
static void svg_text_content(FILE *f, const char *s) {
    const char *start = s;
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        case ' ': fputs(s == start || !s[1] || s[1] == ' ' || (s > start && s[-1] == ' ') ? "&#160;" : " ", f); break;
        default: fputc(*s, f);
        }
    }
}
static void svg_attr(FILE *f, const char *s) { /* esc() of render.js */
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void px_blend(struct out *o, int x, int y, const unsigned char rgb[3], int a) {
    if (x < 0 || y < 0 || x >= o->w || y >= o->h || a <= 0) return;
    unsigned char *d = o->px + ((size_t)y * o->w + x) * 3;
    for (int k = 0; k < 3; k++) d[k] = (unsigned char)((d[k] * (255 - a) + rgb[k] * a) / 255);
}
static void px_fill(struct out *o, double x, double y, double w, double h, const unsigned char rgb[3]) {
    int x0 = (int)lround(x), y0 = (int)lround(y), x1 = (int)lround(x + w), y1 = (int)lround(y + h);
    for (int yy = y0; yy < y1; yy++)
        for (int xx = x0; xx < x1; xx++) px_blend(o, xx, yy, rgb, 255);
}
static void px_outline(struct out *o, double x, double y, double w, double h, const unsigned char rgb[3], int a) {
    int x0 = (int)lround(x), y0 = (int)lround(y), x1 = (int)lround(x + w) - 1, y1 = (int)lround(y + h) - 1;
    for (int xx = x0; xx <= x1; xx++) { px_blend(o, xx, y0, rgb, a); px_blend(o, xx, y1, rgb, a); }
    for (int yy = y0 + 1; yy < y1; yy++) { px_blend(o, x0, yy, rgb, a); px_blend(o, x1, yy, rgb, a); }
}

/* One glyph of the PNG font at text coordinates (u, v_top) of a text whose origin is (tx, ty); rotate: -90 degrees
 * as SVG's rotate(-90) (reads bottom to top). cp: the code point. */
static void px_glyph(struct out *o, double tx, double ty, int rotate, int u, int vtop, unsigned cp, const unsigned char rgb[3],
                     int bold) {
    unsigned char g[FONT_W * FONT_H];
    if (cp >= 32 && cp <= 126) memcpy(g, font_glyphs[cp - 32], sizeof g);
    else if (cp == 0x2423) { /* the visible space: a small open box at the baseline */
        memset(g, 0, sizeof g);
        for (int x = 1; x <= 5; x++) g[11 * FONT_W + x] = 255;
        g[10 * FONT_W + 1] = g[9 * FONT_W + 1] = g[10 * FONT_W + 5] = g[9 * FONT_W + 5] = 255;
    } else memcpy(g, font_glyphs['?' - 32], sizeof g);
    int ox = (int)lround(tx), oy = (int)lround(ty);
    for (int b = 0; b <= bold; b++)
        for (int gy = 0; gy < FONT_H; gy++)
            for (int gx = 0; gx < FONT_W; gx++) {
                int a = g[gy * FONT_W + gx];
                if (!a) continue;
                int tu = u + gx + b, tv = vtop + gy;
                if (rotate) px_blend(o, ox + tv, oy - tu, rgb, a);
                else px_blend(o, ox + tu, oy + tv, rgb, a);
            }
}

static void d_rect(struct out *o, double x, double y, double w, double h, const unsigned char fill[3], const char *stroke,
                   const char *extra, const char *title) {
    char a[32], b[32], c[32], d[32];
    if (o->kind == OUT_SVG) {
        num(a, x), num(b, y), num(c, w), num(d, h);
        fprintf(o->f, "<rect%s x='%s' y='%s' width='%s' height='%s' fill='#%02x%02x%02x'%s", extra ? extra : "", a, b, c, d,
                fill[0], fill[1], fill[2], stroke ? stroke : "");
        if (title) {
            fputs("><title>", o->f);
            svg_attr(o->f, title);
            fputs("</title></rect>", o->f);
        } else fputs("/>", o->f);
    } else if (o->kind == OUT_PNG) {
        px_fill(o, x, y, w, h, fill);
        if (stroke) {
            unsigned char s[3];
            const char *p = strstr(stroke, "stroke='#");
            hex_rgb(p ? p + 8 : "#e4e4e4", s);
            px_outline(o, x, y, w, h, s, strstr(stroke, "stroke-width='0.5'") ? 160 : 255);
        }
    }
}

struct text_style {
    int anchor, rotate, bold;
    double size;
    const char *fill, *cls;
};

static void d_text(struct out *o, double x, double y, const char *s, struct text_style st) {
    char a[32], b[32];
    num(a, x), num(b, y);
    if (o->kind == OUT_SVG) {
        fputs("<text", o->f);
        if (st.cls) fprintf(o->f, " class='%s'", st.cls);
        if (st.rotate) fprintf(o->f, " transform='translate(%s,%s) rotate(-90)'", a, b);
        else fprintf(o->f, " x='%s' y='%s'", a, b);
        if (st.anchor) fprintf(o->f, " text-anchor='%s'", st.anchor == A_MIDDLE ? "middle" : "end");
        if (st.bold) fputs(" font-weight='bold'", o->f);
        if (st.size > 0) fprintf(o->f, " font-size='%g'", st.size);
        fprintf(o->f, " fill='%s'>", st.fill ? st.fill : FIG_COLORS_TEXT);
        svg_text_content(o->f, s);
        fputs("</text>", o->f);
    } else if (o->kind == OUT_PNG) {
        unsigned char rgb[3];
        hex_rgb(st.fill ? st.fill : FIG_COLORS_TEXT, rgb);
        int n = ulen(s), u = st.anchor == A_END ? -n * FIG_CHARW : st.anchor == A_MIDDLE ? -(n * FIG_CHARW) / 2 : 0;
        double tx = round(x * 10) / 10, ty = round(y * 10) / 10;
        for (const unsigned char *p = (const unsigned char *)s; *p;) { /* decode UTF-8 */
            unsigned cp = *p++;
            if (cp >= 0xC0) {
                int more = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : 1;
                cp &= 0x3F >> more;
                while (more-- && (*p & 0xC0) == 0x80) cp = (cp << 6) | (*p++ & 0x3F);
            } else if (cp >= 0x80) continue;
            px_glyph(o, tx, ty, st.rotate, u, -(FONT_H - 2), cp, rgb, st.bold);
            u += FIG_CHARW;
        }
    }
}

static void d_line(struct out *o, double x1, double y1, double x2, double y2, const char *colour) {
    char a[32], b[32], c[32], d[32];
    if (o->kind == OUT_SVG) {
        num(a, x1), num(b, x2), num(c, y1), num(d, y2);
        fprintf(o->f, "<line x1='%s' x2='%s' y1='%s' y2='%s' stroke='%s'/>", a, b, c, d, colour);
    } else if (o->kind == OUT_PNG) {
        unsigned char rgb[3];
        hex_rgb(colour, rgb);
        px_fill(o, x1 - 0.5, y1, x2 - x1 + 1, y2 - y1, rgb);
    }
}

static void raw(struct out *o, const char *s) {
    if (o->kind == OUT_SVG) fputs(s, o->f);
}

/* ---------------------------------------------------------------- text wrapping (render.js wrapText) */

struct lines {
    char **s;
    int n;
};
static void lines_add(struct lines *l, const char *s, size_t n) {
    char **p = realloc(l->s, sizeof *p * (size_t)(l->n + 1));
    if (!p) return;
    l->s = p;
    l->s[l->n] = malloc(n + 1);
    if (!l->s[l->n]) return;
    memcpy(l->s[l->n], s, n);
    l->s[l->n++][n] = '\0';
}
static void lines_free(struct lines *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    l->s = NULL;
    l->n = 0;
}
static struct lines wrap_text(const char *s, int max) {
    struct lines out = {0};
    struct str cur = {0};
    sputs(&cur, "");
    const char *w = s;
    for (;;) {
        const char *e = strchr(w, ' ');
        size_t wl = e ? (size_t)(e - w) : strlen(w);
        char *word = malloc(wl + 1);
        if (!word) break;
        memcpy(word, w, wl);
        word[wl] = '\0';
        if (!cur.n) sputs(&cur, word);
        else if (ulen(cur.s) + 1 + ulen(word) <= max) { sputs(&cur, " "); sputs(&cur, word); }
        else { lines_add(&out, cur.s, cur.n); cur.n = 0; cur.s[0] = '\0'; sputs(&cur, word); }
        free(word);
        while (ulen(cur.s) > max) {
            size_t cut = uoff(cur.s, max);
            lines_add(&out, cur.s, cut);
            memmove(cur.s, cur.s + cut, cur.n - cut + 1);
            cur.n -= cut;
        }
        if (!e) break;
        w = e + 1;
    }
    lines_add(&out, cur.s ? cur.s : "", cur.n);
    free(cur.s);
    return out;
}

/* ---------------------------------------------------------------- legend and caption */

static double legend(struct out *o, double x, double y, double width, double max, const char *units) {
    struct lines ls = wrap_text(spec_lookup(fig_legends, units), (int)floor(width / FIG_CHARW));
    raw(o, "<g class='legend'>");
    for (int i = 0; i < ls.n; i++)
        d_text(o, x, y + 11 + i * FIG_CAPTIONLINEH, ls.s[i], (struct text_style){A_START, 0, 0, 0, FIG_COLORS_MUTED, NULL});
    const double by = y + ls.n * FIG_CAPTIONLINEH + 4, w = FIG_LEGENDW, bh = FIG_LEGENDBARH;
    if (o->kind == OUT_SVG) {
        fputs("<defs><linearGradient id='relp-lg-d' x1='0' x2='1' y1='0' y2='0'>", o->f);
        for (int i = 0; i < FIG_COLORS_DIVERGING_N; i++) {
            char p[32];
            num(p, 100.0 * i / (FIG_COLORS_DIVERGING_N - 1));
            fprintf(o->f, "<stop offset='%s%%' stop-color='#%02x%02x%02x'/>", p, fig_colors_diverging[i][0],
                    fig_colors_diverging[i][1], fig_colors_diverging[i][2]);
        }
        char a[32], b[32];
        num(a, x), num(b, by);
        fprintf(o->f, "</linearGradient></defs><rect x='%s' y='%s' width='%d' height='%d' fill='url(#relp-lg-d)' stroke='#999999' "
                      "stroke-width='0.5'/>", a, b, (int)w, (int)bh);
    } else if (o->kind == OUT_PNG) {
        for (int i = 0; i < (int)w; i++) {
            unsigned char rgb[3];
            diverging(-max + 2 * max * (i + 0.5) / w, max, rgb);
            px_fill(o, x + i, by, 1, bh, rgb);
        }
        unsigned char grey[3] = {0x99, 0x99, 0x99};
        px_outline(o, x, by, w, bh, grey, 160);
    }
    const double ticks[3] = {0, 0.5, 1};
    for (int k = 0; k < 3; k++) {
        char label[32];
        if (k == 1) strcpy(label, "0");
        else fmt_tick(label, k == 0 ? -max : max);
        double tx = x + ticks[k] * w;
        d_line(o, tx, by + bh, tx, by + bh + 3, FIG_COLORS_MUTED);
        d_text(o, tx, by + bh + 14, label, (struct text_style){k == 0 ? A_START : k == 2 ? A_END : A_MIDDLE, 0, 0, 0, FIG_COLORS_MUTED, NULL});
    }
    raw(o, "</g>");
    double h = ls.n * FIG_CAPTIONLINEH + 4 + bh + 18;
    lines_free(&ls);
    return h;
}

/* the caption's lines (render.js captionLines) */
enum { L_TEXT, L_TOKENS, L_WARN };
struct cline {
    int kind;
    char *text;                /* L_TEXT, L_WARN */
    const char *label;         /* L_TOKENS */
    const char *const *tokens; /* L_TOKENS: T strings */
};
static int caption_lines(const struct figure_caption *c, struct cline *out) {
    int n = 0;
    struct str b = {0};
    sprintf_(&b, "model: %s; method: %s", c->model, spec_lookup(fig_methods, c->method));
    if (c->steps) sprintf_(&b, ", %d steps", c->steps);
    sputs(&b, "; metric: ");
    if (c->wrong) {
        sputs(&b, "logit difference ");
        json_quote(&b, c->answer);
        sputs(&b, " - ");
        json_quote(&b, c->wrong);
    } else {
        sputs(&b, "logit ");
        json_quote(&b, c->answer);
    }
    out[n++] = (struct cline){L_TEXT, b.s, NULL, NULL};
    out[n++] = (struct cline){L_TOKENS, NULL, c->corrupt ? "clean:     " : "prompt:    ", c->clean};
    if (c->corrupt) out[n++] = (struct cline){L_TOKENS, NULL, "corrupted: ", c->corrupt};
    b = (struct str){0};
    if (c->relevance) {
        sputs(&b, "sum of relevances ");
        fixed3(&b, c->rel_total);
        sputs(&b, c->wrong ? ", logit difference " : ", logit ");
        fixed3(&b, c->rel_value);
        sputs(&b, ", conservation gap ");
        fixed3(&b, c->rel_value - c->rel_total);
    } else {
        sputs(&b, "logit difference: clean ");
        fixed3(&b, c->m_clean);
        sputs(&b, ", corrupted ");
        fixed3(&b, c->m_corrupt);
        sputs(&b, ", gap ");
        fixed3(&b, c->m_clean - c->m_corrupt);
    }
    if (c->n_prompts > 1) sprintf_(&b, "; mean of %d prompts (the first is shown)", c->n_prompts);
    if (c->rank > 0) {
        sputs(&b, "; p(");
        json_quote(&b, c->answer);
        sputs(&b, ") = ");
        fixed3(&b, c->p_answer);
        sprintf_(&b, ", rank %d on the clean prompt", c->rank);
    }
    out[n++] = (struct cline){L_TEXT, b.s, NULL, NULL};
    /* warnings: web/guard.js runWarnings, in its words */
    if (c->rank > 1 && c->top) {
        b = (struct str){0};
        sputs(&b, "WARNING: the model does not predict the answer on the clean prompt: its top token is ");
        json_quote(&b, c->top);
        sputs(&b, " (p = ");
        fixed3(&b, c->p_top);
        sputs(&b, "), while ");
        json_quote(&b, c->answer);
        sputs(&b, " has p = ");
        fixed3(&b, c->p_answer);
        sprintf_(&b, ", rank %d. The map explains a prediction the model does not make", c->rank);
        out[n++] = (struct cline){L_WARN, b.s, NULL, NULL};
    }
    if (!c->relevance && c->corrupt) {
        const double gap = c->m_clean - c->m_corrupt;
        b = (struct str){0};
        if (c->units_warning) {
            sputs(&b, "WARNING: ");
            sputs(&b, strncmp(c->units_warning, "warning: ", 9) ? c->units_warning : c->units_warning + 9);
        } else if (!(gap > 0)) {
            sputs(&b, "WARNING: the logit difference is not larger on the clean prompt than on the corrupted one (gap ");
            fixed3(&b, gap);
            sputs(&b, "): \"share restored\" has no meaning here");
        } else if (gap < FIG_MINGAP) {
            sputs(&b, "WARNING: the clean - corrupted gap of the logit difference is ");
            fixed3(&b, gap);
            sprintf_(&b, ", below %g: too small to normalise by, so the shares are unstable", (double)FIG_MINGAP);
        }
        if (b.s) out[n++] = (struct cline){L_WARN, b.s, NULL, NULL};
    }
    return n;
}

/* caption lines laid out from (x, y) in a column of width px; tokens wrap at token boundaries. Returns the height. */
static double caption(struct out *o, double x, double y, double width, const struct figure_caption *c) {
    struct cline cl[8];
    int ncl = caption_lines(c, cl), n = 0, max = (int)floor(width / FIG_CHARW);
    const double LH = FIG_CAPTIONLINEH;
    raw(o, "<g class='caption'>");
    for (int i = 0; i < ncl; i++) {
        if (cl[i].kind != L_TOKENS) {
            struct lines ls = wrap_text(cl[i].text, max);
            for (int k = 0; k < ls.n; k++, n++)
                d_text(o, x, y + 11 + n * LH, ls.s[k],
                       cl[i].kind == L_WARN ? (struct text_style){A_START, 0, 1, 0, FIG_COLORS_WARN, "warning"}
                                            : (struct text_style){A_START, 0, 0, 0, FIG_COLORS_TEXT, NULL});
            lines_free(&ls);
            free(cl[i].text);
            continue;
        }
        /* one <text> per line: the label, then a <tspan x=...> per token; differing tokens on a highlight, bold */
        const int indent = ulen(cl[i].label);
        int col = indent, first = 0;
        for (int t = 0; t <= c->T; t++) {
            struct str d = {0};
            if (t < c->T) token_text(&d, cl[i].tokens[t], 0);
            const int dl = d.s ? ulen(d.s) : 0;
            if (t == c->T || (col + dl > max && col > indent)) { /* flush tokens first .. t-1 as one line */
                const double by = y + 11 + n * LH;
                char a[32], b[32], e[32], f[32];
                int cc = indent;
                if (o->kind == OUT_SVG) /* the highlights go before the line's text */
                    for (int k = first; k < t; k++) {
                        struct str dk = {0};
                        token_text(&dk, cl[i].tokens[k], 0);
                        if (c->corrupt && strcmp(c->clean[k], c->corrupt[k])) {
                            num(a, x + cc * FIG_CHARW), num(b, y + n * LH + 1), num(e, (double)ulen(dk.s ? dk.s : "") * FIG_CHARW);
                            fprintf(o->f, "<rect class='differs' x='%s' y='%s' width='%s' height='%d' fill='%s'/>", a, b, e,
                                    (int)LH - 2, FIG_COLORS_HIGHLIGHT);
                        }
                        cc += dk.s ? ulen(dk.s) : 0;
                        free(dk.s);
                    }
                cc = indent;
                if (o->kind == OUT_SVG) {
                    num(a, x), num(b, by);
                    fprintf(o->f, "<text x='%s' y='%s' fill='%s'>", a, b, FIG_COLORS_TEXT);
                    if (first == 0) {
                        fprintf(o->f, "<tspan class='label' fill='%s'>", FIG_COLORS_MUTED);
                        svg_text_content(o->f, cl[i].label);
                        fputs("</tspan>", o->f);
                    }
                } else if (first == 0) {
                    d_text(o, x, by, cl[i].label, (struct text_style){A_START, 0, 0, 0, FIG_COLORS_MUTED, NULL});
                }
                for (int k = first; k < t; k++) {
                    struct str dk = {0};
                    token_text(&dk, cl[i].tokens[k], 0);
                    const char *s = dk.s ? dk.s : "";
                    const int hi = c->corrupt && strcmp(c->clean[k], c->corrupt[k]);
                    if (o->kind == OUT_SVG) {
                        num(f, x + cc * FIG_CHARW);
                        fprintf(o->f, "<tspan x='%s'%s>", f, hi ? " font-weight='bold'" : "");
                        svg_text_content(o->f, s);
                        fputs("</tspan>", o->f);
                    } else if (o->kind == OUT_PNG) {
                        if (hi) {
                            unsigned char hl[3];
                            hex_rgb(FIG_COLORS_HIGHLIGHT, hl);
                            px_fill(o, x + cc * FIG_CHARW, y + n * LH + 1, (double)ulen(s) * FIG_CHARW, LH - 2, hl);
                        }
                        d_text(o, x + cc * FIG_CHARW, by, s, (struct text_style){A_START, 0, hi, 0, FIG_COLORS_TEXT, NULL});
                    }
                    cc += ulen(s);
                    free(dk.s);
                }
                if (o->kind == OUT_SVG) fputs("</text>", o->f);
                n++;
                first = t;
                col = indent;
            }
            col += dl;
            free(d.s);
        }
    }
    raw(o, "</g>");
    return n * LH;
}

/* ---------------------------------------------------------------- figures */

static void svg_begin(struct out *o, int W, int H, const char *title) {
    if (o->kind != OUT_SVG) return;
    fprintf(o->f, "<svg xmlns='http://www.w3.org/2000/svg' class='relp-figure' width='%d' height='%d' viewBox='0 0 %d %d' "
                  "font-family='%s' font-size='%g'><title>", W, H, W, H, FIG_FONT, (double)FIG_FONTSIZE);
    svg_attr(o->f, title);
    fprintf(o->f, "</title><rect width='%d' height='%d' fill='%s'/>", W, H, FIG_COLORS_BACKGROUND);
}

struct grid {
    int rows, cols;
    char **row_labels, **col_labels;
    const char *row_axis, *col_axis, *title;
};

static void free_strs(char **s, int n) {
    for (int i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

static double absmax(const float *v, int n) {
    double m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && fabs(v[i]) > m) m = fabs(v[i]);
    return m;
}

/* one panel (render.js panel): returns its width, *h its height */
static double panel(struct out *o, double x, double y, const struct grid *p, const float *values, int cell, double max,
                    double *h) {
    int lw = 0, lh = 0;
    for (int r = 0; r < p->rows; r++) lw = ulen(p->row_labels[r]) > lw ? ulen(p->row_labels[r]) : lw;
    for (int c = 0; c < p->cols; c++) lh = ulen(p->col_labels[c]) > lh ? ulen(p->col_labels[c]) : lh;
    const double labW = lw * FIG_CHARW + FIG_LABELGAP, colLabH = lh * FIG_CHARW + FIG_LABELGAP;
    const double gridW = (double)p->cols * cell, gridH = (double)p->rows * cell;
    double w = FIG_AXISTITLEH + labW + gridW;
    if (ulen(p->title) * FIG_CHARW > w) w = ulen(p->title) * FIG_CHARW;
    const double gx = x + FIG_AXISTITLEH + labW, gy = y + FIG_TITLEH;
    d_text(o, x, y + 13, p->title, (struct text_style){A_START, 0, 1, FIG_TITLESIZE, FIG_COLORS_TEXT, "panel-title"});
    d_text(o, x + 13, gy + gridH / 2, p->row_axis, (struct text_style){A_MIDDLE, 1, 0, 0, FIG_COLORS_MUTED, "axis-title"});
    struct str t = {0};
    for (int r = 0; r < p->rows; r++) {
        d_text(o, gx - FIG_LABELGAP, gy + r * cell + cell / 2.0 + 4, p->row_labels[r],
               (struct text_style){A_END, 0, 0, 0, FIG_COLORS_MUTED, NULL});
        for (int c = 0; c < p->cols; c++) {
            const float v = values[(size_t)r * p->cols + c];
            unsigned char rgb[3];
            diverging(v, max, rgb);
            char extra[160], stroke[96];
            snprintf(extra, sizeof extra, " class='cell' data-kind='est' data-r='%d' data-c='%d' data-v='%.9g'", r, c, (double)v);
            snprintf(stroke, sizeof stroke, " stroke='%s' stroke-width='0.5'", FIG_COLORS_CELLSTROKE);
            t.n = 0;
            sprintf_(&t, "%s %s, %s %s: %.9g", p->row_axis, p->row_labels[r], p->col_axis, p->col_labels[c], (double)v);
            d_rect(o, gx + c * cell, gy + r * cell, cell, cell, rgb, stroke, extra, t.s);
        }
    }
    free(t.s);
    for (int c = 0; c < p->cols; c++)
        d_text(o, gx + c * cell + cell / 2.0 + 4, gy + gridH + FIG_LABELGAP, p->col_labels[c],
               (struct text_style){A_END, 1, 0, 0, FIG_COLORS_MUTED, NULL});
    d_text(o, gx + gridW / 2, gy + gridH + colLabH + FIG_AXISTITLEH - 5, p->col_axis,
           (struct text_style){A_MIDDLE, 0, 0, 0, FIG_COLORS_MUTED, "axis-title"});
    *h = FIG_TITLEH + gridH + colLabH + FIG_AXISTITLEH;
    return w;
}

static char *index_label(int i) {
    char b[24];
    snprintf(b, sizeof b, "%d", i);
    return sdup(b);
}

/* render.js mapsFigure with one panel (the CLI computes one method); returns the figure's size */
static void maps_figure(struct out *o, const struct heatmap *h, int *W, int *H) {
    const int T = h->cap.T, L = h->L, NH = h->NH;
    struct grid g = {0};
    g.rows = h->layout == HEATMAP_HEAD_POSITIONS ? L * NH : L;
    g.cols = h->layout == HEATMAP_HEADS ? NH : T;
    g.row_labels = calloc((size_t)g.rows, sizeof *g.row_labels);
    g.col_labels = calloc((size_t)g.cols, sizeof *g.col_labels);
    for (int r = 0; g.row_labels && r < g.rows; r++) {
        char b[32];
        if (h->layout == HEATMAP_HEAD_POSITIONS) snprintf(b, sizeof b, "%d.%d", r / NH, r % NH);
        else snprintf(b, sizeof b, "%d", r);
        g.row_labels[r] = sdup(b);
    }
    for (int c = 0; g.col_labels && c < g.cols; c++) {
        if (h->layout == HEATMAP_HEADS) { g.col_labels[c] = index_label(c); continue; }
        struct str s = {0};
        token_text(&s, h->cap.clean[c], 1);
        sprintf_(&s, " %d", c);
        g.col_labels[c] = s.s;
    }
    g.row_axis = h->layout == HEATMAP_HEAD_POSITIONS ? FIG_AXES_LAYERHEAD : FIG_AXES_LAYER;
    g.col_axis = h->layout == HEATMAP_HEADS ? FIG_AXES_HEAD : FIG_AXES_POSITION;
    struct str title = {0}, ptitle = {0};
    if (h->layout == HEATMAP_POSITIONS) sprintf_(&title, "%s, by layer and position", spec_lookup(fig_nodes, h->node));
    else if (h->layout == HEATMAP_HEADS) sprintf_(&title, "%s, by layer and head", FIG_NODES_HEAD);
    else sprintf_(&title, "%s, by layer.head and position", FIG_NODES_HEAD);
    sprintf_(&ptitle, "%s (%s)", spec_lookup(fig_methods, h->cap.method), strcmp(h->cap.method, "ap") ? "estimate" : "ground truth");
    g.title = ptitle.s;
    const int cell = h->layout == HEATMAP_HEADS ? FIG_HEADCELL
                                                : (int)fmax(FIG_CELLMIN, fmin(FIG_CELLMAX, floor((double)FIG_GRIDTARGET / g.cols)));
    const double max = absmax(h->values, g.rows * g.cols);
    svg_begin(o, *W, *H, title.s);
    double y = FIG_PAD, ph = 0;
    d_text(o, FIG_PAD, y + 13, title.s, (struct text_style){A_START, 0, 1, FIG_TITLESIZE, FIG_COLORS_TEXT, "figure-title"});
    y += FIG_TITLEH;
    if (g.row_labels && g.col_labels) {
        double pw = panel(o, FIG_PAD, y, &g, h->values, cell, max, &ph);
        double w = fmax(FIG_MINWIDTH, fmax(FIG_PAD + pw + FIG_PAD, FIG_LEGENDW + 2 * FIG_PAD));
        *W = (int)ceil(w);
    }
    y += ph + FIG_LEGENDGAP;
    y += legend(o, FIG_PAD, y, *W - 2 * FIG_PAD, max, h->cap.units_warning ? "metric" : "share");
    y += FIG_CAPTIONGAP;
    y += caption(o, FIG_PAD, y, *W - 2 * FIG_PAD, &h->cap);
    *H = (int)ceil(y + FIG_PAD);
    free(title.s);
    free(ptitle.s);
    free_strs(g.row_labels, g.rows);
    free_strs(g.col_labels, g.cols);
}

/* render.js tokensFigure */
static void tokens_figure(struct out *o, const struct heatmap *h, int *W, int *H) {
    const int T = h->cap.T;
    *W = FIG_TOKENSWIDTH;
    const double max = absmax(h->values, T);
    struct str title = {0};
    sprintf_(&title, "token relevance (%s rules)", h->rules ? h->rules : "relp");
    svg_begin(o, *W, *H, "token relevance");
    double y = FIG_PAD, x = FIG_PAD;
    d_text(o, FIG_PAD, y + 13, title.s, (struct text_style){A_START, 0, 1, FIG_TITLESIZE, FIG_COLORS_TEXT, "figure-title"});
    y += FIG_TITLEH;
    struct str t = {0};
    for (int i = 0; i < T; i++) {
        struct str label = {0};
        token_text(&label, h->cap.clean[i], 1);
        const char *lab = label.s ? label.s : "";
        const double w = fmax(14, ulen(lab) * FIG_CHARW + 8);
        if (x + w > *W - FIG_PAD && x > FIG_PAD) {
            x = FIG_PAD;
            y += FIG_CHIPLINEH;
        }
        unsigned char rgb[3];
        diverging(h->values[i], max, rgb);
        char extra[160];
        snprintf(extra, sizeof extra, " class='cell' data-kind='token' data-c='%d' data-v='%.9g' data-r='0'", i, (double)h->values[i]);
        t.n = 0;
        sprintf_(&t, "position %d ", i);
        json_quote(&t, h->cap.clean[i]);
        sprintf_(&t, ": %.9g", (double)h->values[i]);
        if (o->kind == OUT_SVG) {
            char a[32], b[32], c[32];
            num(a, x), num(b, y), num(c, w);
            fprintf(o->f, "<rect%s x='%s' y='%s' width='%s' height='%d' rx='3' fill='#%02x%02x%02x' stroke='#bbbbbb' stroke-width='0.5'><title>",
                    extra, a, b, c, FIG_CHIPH, rgb[0], rgb[1], rgb[2]);
            svg_attr(o->f, t.s);
            fputs("</title></rect>", o->f);
            char tx[32], ty[32];
            num(tx, x + 4), num(ty, y + 14);
            fprintf(o->f, "<text pointer-events='none' x='%s' y='%s' fill='%s'>", tx, ty, ink_on(rgb));
            svg_text_content(o->f, lab);
            fputs("</text>", o->f);
        } else {
            d_rect(o, x, y, w, FIG_CHIPH, rgb, " stroke='#bbbbbb' stroke-width='0.5'", NULL, NULL);
            d_text(o, x + 4, y + 14, lab, (struct text_style){A_START, 0, 0, 0, ink_on(rgb), NULL});
        }
        x += w + FIG_CHIPGAP;
        free(label.s);
    }
    free(t.s);
    y += FIG_CHIPLINEH + FIG_LEGENDGAP;
    y += legend(o, FIG_PAD, y, *W - 2 * FIG_PAD, max, "relevance");
    y += FIG_CAPTIONGAP;
    y += caption(o, FIG_PAD, y, *W - 2 * FIG_PAD, &h->cap);
    *H = (int)ceil(y + FIG_PAD);
    free(title.s);
}

static void figure(struct out *o, const struct heatmap *h, int *W, int *H) {
    if (h->layout == HEATMAP_TOKENS) tokens_figure(o, h, W, H);
    else maps_figure(o, h, W, H);
}

static void measure(const struct heatmap *h, int *W, int *H) {
    struct out m = {OUT_MEASURE, NULL, NULL, 0, 0};
    *W = *H = 0;
    figure(&m, h, W, H);
}

int heatmap_write_svg(const char *path, const struct heatmap *h) {
    int W, H;
    measure(h, &W, &H);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    struct out o = {OUT_SVG, f, NULL, W, H};
    figure(&o, h, &W, &H);
    fputs("</svg>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}

int heatmap_write_png(const char *path, const struct heatmap *h) {
    int W, H;
    measure(h, &W, &H);
    struct out o = {OUT_PNG, NULL, malloc((size_t)W * H * 3), W, H};
    if (!o.px) return -1;
    unsigned char bg[3];
    hex_rgb(FIG_COLORS_BACKGROUND, bg);
    for (size_t i = 0; i < (size_t)W * H; i++) memcpy(o.px + i * 3, bg, 3);
    figure(&o, h, &W, &H);
    int ok = stbi_write_png(path, W, H, 3, o.px, W * 3);
    free(o.px);
    return ok ? 0 : -1;
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
