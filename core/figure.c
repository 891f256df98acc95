/* figure.c - the figure library's machinery: the display list that every view
 * is drawn into (figure.h), written as SVG text or rasterised to PNG here, and
 * the text, number and colour helpers the views share. The views themselves
 * are in figure_views.c and figure_circuits.c; relp.h (FIGURES) is the API.
 *
 * SVG: real text with the page's font stack; numbers written as JavaScript
 * writes them (the page used to draw these figures in JS, and its tests and
 * fixtures read the same digits). PNG: the same items rasterised at 1x, 2x,
 * 4x ... the canvas, with the text in the bitmap font of font.h (DejaVu Sans
 * Mono 12 px, 7 px per character: the layout's FIG_CHARW), scaled by pixel
 * replication; written with stb_image_write (https://github.com/nothings/stb).
 * Not done: kerning, non-ASCII glyphs other than a few (drawn as '?'). */
#include "figure.h"

#include "font.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if defined(__GNUC__) /* stb's static functions this file does not call: for the whole file, as GCC warns at its end */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

#if FIG_CHARW != FONT_W
#error "FIG_CHARW must equal the PNG font's glyph width (core/font.h FONT_W)"
#endif

const unsigned char relp__fig_diverging[5][3] = {{33, 102, 172}, {146, 197, 222}, {255, 255, 255}, {244, 165, 130}, {178, 24, 43}};
const unsigned char relp__fig_sequential[2][3] = {{255, 255, 255}, {84, 39, 143}};

/* ---------------------------------------------------------------- strings */

void relp__str_put(struct fig_str *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}
void relp__str_puts(struct fig_str *b, const char *s) { relp__str_put(b, s, strlen(s)); }
void relp__str_printf(struct fig_str *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        relp__str_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    relp__str_put(b, big, (size_t)n);
    free(big);
}
const char *relp__str_cstr(struct fig_str *b) { return b->s ? b->s : ""; }

void relp__str_quote(struct fig_str *b, const char *s) {
    relp__str_puts(b, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') relp__str_puts(b, "\\\"");
        else if (c == '\\') relp__str_puts(b, "\\\\");
        else if (c == '\n') relp__str_puts(b, "\\n");
        else if (c == '\r') relp__str_puts(b, "\\r");
        else if (c == '\t') relp__str_puts(b, "\\t");
        else if (c == '\b') relp__str_puts(b, "\\b");
        else if (c == '\f') relp__str_puts(b, "\\f");
        else if (c < 0x20) relp__str_printf(b, "\\u%04x", c);
        else relp__str_put(b, s, 1);
    }
    relp__str_puts(b, "\"");
}

static const char *xml_entity(char c) {
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    }
    return NULL;
}
void relp__str_esc(struct fig_str *b, const char *s) {
    for (const char *run = s;; s++) {
        const char *e = *s ? xml_entity(*s) : NULL;
        if (*s && !e) continue;
        relp__str_put(b, run, (size_t)(s - run));
        if (!*s) return;
        relp__str_puts(b, e);
        run = s + 1;
    }
}
/* text content: escaped, and a space that SVG would drop (leading, trailing, or one of several in a row: GPT-2
 * tokens lead with them) written as a no-break space; single spaces between words stay spaces */
static void str_text(struct fig_str *b, const char *s) {
    const size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        if (s[i] != ' ') {
            const char *e = xml_entity(s[i]);
            if (e) relp__str_puts(b, e);
            else relp__str_put(b, s + i, 1);
            i++;
            continue;
        }
        size_t j = i;
        while (j < n && s[j] == ' ') j++;
        const int keep = j - i == 1 && i > 0 && j < n;
        for (size_t k = i; k < j; k++) relp__str_puts(b, keep ? " " : "&#160;");
        i = j;
    }
}

int relp__utf8_len(const char *s) {
    int n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}
size_t relp__utf8_off(const char *s, int k) {
    size_t i = 0;
    for (int c = 0; s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80 && c++ == k) return i;
    return i;
}

void relp__token_text(struct fig_str *b, const char *t, int visible) {
    for (; *t; t++) {
        unsigned char c = (unsigned char)*t;
        if (c == ' ' && visible) relp__str_puts(b, "\xE2\x90\xA3");
        else if (c == '\n') relp__str_puts(b, "\xE2\x86\xB5");
        else if (c < 0x20) relp__str_puts(b, "\xEF\xBF\xBD");
        else relp__str_put(b, t, 1);
    }
    if (!b->s) relp__str_puts(b, "");
}

int relp__wrap(const char *s, int max, char ***out) {
    char **l = NULL;
    int n = 0;
    struct fig_str cur = {0};
    relp__str_puts(&cur, "");
#define PUSH(p, len)                                                                                                   \
    do {                                                                                                               \
        char **nl = realloc(l, sizeof *nl * (size_t)(n + 1));                                                          \
        char *c = malloc((len) + 1);                                                                                   \
        if (!nl || !c) {                                                                                               \
            free(c);                                                                                                   \
            if (nl) l = nl;                                                                                            \
            goto fail;                                                                                                 \
        }                                                                                                              \
        l = nl;                                                                                                        \
        memcpy(c, p, len);                                                                                             \
        c[len] = '\0';                                                                                                 \
        l[n++] = c;                                                                                                    \
    } while (0)
    for (const char *w = s;;) {
        const char *e = strchr(w, ' ');
        const size_t wl = e ? (size_t)(e - w) : strlen(w);
        char *word = malloc(wl + 1);
        if (!word) goto fail;
        memcpy(word, w, wl);
        word[wl] = '\0';
        if (!cur.n) relp__str_puts(&cur, word);
        else if (relp__utf8_len(cur.s) + 1 + relp__utf8_len(word) <= max) {
            relp__str_puts(&cur, " ");
            relp__str_puts(&cur, word);
        } else {
            PUSH(cur.s, cur.n);
            cur.n = 0;
            cur.s[0] = '\0';
            relp__str_puts(&cur, word);
        }
        free(word);
        while (!cur.oom && relp__utf8_len(cur.s) > max) {
            const size_t cut = relp__utf8_off(cur.s, max);
            PUSH(cur.s, cut);
            memmove(cur.s, cur.s + cut, cur.n - cut + 1);
            cur.n -= cut;
        }
        if (cur.oom) goto fail;
        if (!e) break;
        w = e + 1;
    }
    PUSH(cur.s, cur.n);
#undef PUSH
    free(cur.s);
    *out = l;
    return n;
fail:
    free(cur.s);
    relp__lines_free(l, n);
    *out = NULL;
    return 0;
}
void relp__lines_free(char **l, int n) {
    for (int i = 0; l && i < n; i++) free(l[i]);
    free(l);
}

/* ---------------------------------------------------------------- numbers as JavaScript writes them */

char *relp__js_num(char *out, double v) {
    if (v != v) return strcpy(out, "NaN");
    if (isinf(v)) return strcpy(out, v > 0 ? "Infinity" : "-Infinity");
    if (v == 0) return strcpy(out, "0");
    char e[40];
    int p = 1;
    for (; p < 17; p++) { /* the shortest digits that read back as v */
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    char d[24];
    int k = 0, neg = e[0] == '-';
    const char *m = e + neg;
    for (; *m && *m != 'e'; m++)
        if (*m >= '0' && *m <= '9') d[k++] = *m;
    while (k > 1 && d[k - 1] == '0') k--;
    d[k] = '\0';
    const int n = atoi(m + 1) + 1; /* v = 0.d1d2... x 10^n */
    char *o = out;
    if (neg) *o++ = '-';
    if (k <= n && n <= 21) {
        memcpy(o, d, (size_t)k);
        o += k;
        for (int i = k; i < n; i++) *o++ = '0';
    } else if (0 < n && n <= 21) {
        memcpy(o, d, (size_t)n);
        o += n;
        *o++ = '.';
        memcpy(o, d + n, (size_t)(k - n));
        o += k - n;
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++) *o++ = '0';
        memcpy(o, d, (size_t)k);
        o += k;
    } else {
        *o++ = d[0];
        if (k > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)(k - 1));
            o += k - 1;
        }
        o += sprintf(o, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
    *o = '\0';
    return out;
}

char *relp__js_fixed(char *out, double v, int digits) {
    if (!isfinite(v) || fabs(v) >= 1e21) return relp__js_num(out, v);
    v += 0.0; /* -0 -> 0, as toFixed writes it */
    /* toFixed rounds a tie away from zero, printf to even: look for one in the digits past the last */
    char wide[400];
    snprintf(wide, sizeof wide, "%.*f", digits + 30, fabs(v));
    const char *dot = strchr(wide, '.');
    const char *rest = dot ? dot + 1 + digits : "";
    int tie = *rest == '5';
    for (const char *r = rest + (*rest ? 1 : 0); tie && *r; r++) tie = *r == '0';
    if (!tie) {
        snprintf(out, 64, "%.*f", digits, v);
        return out;
    }
    const double step = pow(10, -digits);
    snprintf(out, 64, "%s%.*f", v < 0 ? "-" : "", digits, fabs(v) + step / 2);
    return out;
}

char *relp__js_exp(char *out, double v, int digits) {
    if (!isfinite(v)) return relp__js_num(out, v);
    char t[64];
    snprintf(t, 40, "%.*e", digits < 20 ? digits : 20, v + 0.0);
    char *e = strchr(t, 'e');
    const int ex = e ? atoi(e + 1) : 0;
    if (e) *e = '\0';
    snprintf(out, 64, "%.40se%c%d", t, ex < 0 ? '-' : '+', abs(ex) % 1000);
    return out;
}

char *relp__fig_num(char *out, double v) { return relp__js_num(out, floor(v * 10 + 0.5) / 10); }

char *relp__fig_fmt(char *out, double v) {
    if (!isfinite(v)) return strcpy(out, "n/a");
    const double a = fabs(v);
    if (a == 0) return strcpy(out, "0");
    if (a >= 1e4 || a < 1e-3) return relp__js_exp(out, v, 2);
    char t[40];
    snprintf(t, sizeof t, "%.3e", v); /* toPrecision(4), read back as a number */
    return relp__js_num(out, strtod(t, NULL));
}

char *relp__fig_tick(char *out, double v) {
    const double a = fabs(v);
    if (!(a > 0)) return strcpy(out, "0");
    if (a >= 100) return relp__js_fixed(out, v, 0);
    if (a >= 1) return relp__js_fixed(out, v, 2);
    if (a >= 0.01) return relp__js_fixed(out, v, 3);
    return relp__js_exp(out, v, 1);
}

/* ---------------------------------------------------------------- colours */

static uint32_t rgb3(const unsigned char c[3]) { return (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2]; }
static uint32_t mix(const unsigned char a[3], const unsigned char b[3], double f) {
    unsigned char c[3];
    for (int k = 0; k < 3; k++) c[k] = (unsigned char)floor(a[k] + f * (b[k] - a[k]) + 0.5);
    return rgb3(c);
}
uint32_t relp__fig_diverging_rgb(double v, double max) {
    double t = max > 0 && isfinite(v) ? v / max : 0;
    t = t < -1 ? -1 : t > 1 ? 1 : t;
    const double x = (t + 1) * 2;
    int i = (int)floor(x);
    if (i > 3) i = 3;
    return mix(relp__fig_diverging[i], relp__fig_diverging[i + 1], x - i);
}
uint32_t relp__fig_sequential_rgb(double v) {
    double t = isfinite(v) ? v : 0;
    t = t < 0 ? 0 : t > 1 ? 1 : t;
    return mix(relp__fig_sequential[0], relp__fig_sequential[1], t);
}
static double lin(unsigned c) {
    const double v = c / 255.0;
    return v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}
uint32_t relp__fig_ink_on(uint32_t fill) {
    const double L = 0.2126 * lin(fill >> 16 & 255) + 0.7152 * lin(fill >> 8 & 255) + 0.0722 * lin(fill & 255);
    return L > 0.179 ? 0x000000u : 0xffffffu;
}

/* ---------------------------------------------------------------- names from the core's tables */

const char *relp__method_title(const char *name) {
    struct relp_method_name m;
    if (!name) return "";
    if (relp_method_find(name, &m)) return m.title;
    int32_t n = 0;
    const struct relp_preset *ps = relp_rules_presets(&n);
    for (int32_t i = 0; i < n; i++)
        if (!strcmp(ps[i].name, name)) return ps[i].title;
    return name;
}
const char *relp__node_title(const char *name) {
    const struct relp_node_name *n = relp_node_find(name);
    return n ? n->label : name ? name : "";
}

/* ---------------------------------------------------------------- the display list */

static void item_free(struct fig_item *it) {
    free(it->attrs);
    free(it->text);
    free(it->title);
    free(it->pts);
}
void relp__fig_reset(struct relp_figure *f) {
    for (int i = 0; i < f->n; i++) item_free(&f->items[i]);
    f->n = 0;
    f->width = f->height = 0;
    free(f->doc_title);
    f->doc_title = NULL;
    free(f->svg);
    f->svg = NULL;
    f->svg_len = 0;
    f->png_len = 0;
    f->html = f->fragment = f->oom = 0;
    f->error[0] = '\0';
    free(f->caption_text);
    f->caption_text = NULL;
    f->caption_len = 0;
}

double relp__fig_fit(const struct relp_figure *f) {
    return f->style.width > 0 ? (f->style.width < FIG_FIT_MIN ? FIG_FIT_MIN : f->style.width) : 0;
}

void relp__fig_caption_add(struct relp_figure *f, const char *line) {
    const size_t n = strlen(line);
    char *p = realloc(f->caption_text, f->caption_len + n + 2);
    if (!p) {
        f->oom = 1;
        return;
    }
    f->caption_text = p;
    memcpy(p + f->caption_len, line, n);
    f->caption_len += n;
    p[f->caption_len++] = '\n';
    p[f->caption_len] = '\0';
}

double relp__fig_title(struct relp_figure *f, double x, double y, double width, const char *s, const char *cls) {
    const struct fig_text_style st = {FIG_START, 0, 1, FIG_TITLE_SIZE, FIG_INK, cls};
    /* bold 12 px: a little wider than the layout's characters */
    const int max = (int)floor(width / (FIG_CHARW * FIG_TITLE_SIZE / FIG_FONT_SIZE));
    if (relp__fig_fit(f) == 0 || relp__utf8_len(s) <= max) {
        relp__fig_text(f, x, y + 13, s, st);
        return FIG_TITLE_H;
    }
    char **ls;
    const int n = relp__wrap(s, max, &ls);
    for (int i = 0; i < n; i++) relp__fig_text(f, x, y + 13 + i * 15, ls[i], st);
    relp__lines_free(ls, n);
    return FIG_TITLE_H + (n > 1 ? (n - 1) * 15 : 0);
}
struct fig_item *relp__fig_add(struct relp_figure *f, enum fig_kind kind) {
    if (f->n == f->cap) {
        const int cap = f->cap ? 2 * f->cap : 256;
        struct fig_item *p = realloc(f->items, sizeof *p * (size_t)cap);
        if (!p) { /* the view goes on drawing into the spare; fig->oom reports the failure */
            f->oom = 1;
            item_free(&f->spare);
            memset(&f->spare, 0, sizeof f->spare);
            return &f->spare;
        }
        f->items = p;
        f->cap = cap;
    }
    struct fig_item *it = &f->items[f->n++];
    memset(it, 0, sizeof *it);
    it->kind = kind;
    it->fill = FIG_NONE;
    it->stroke = FIG_NONE;
    it->opacity = 1;
    return it;
}
char *relp__fig_strdup(struct relp_figure *f, const char *s) {
    if (!s) return NULL;
    const size_t n = strlen(s);
    char *p = malloc(n + 1);
    if (!p) {
        f->oom = 1;
        return NULL;
    }
    return memcpy(p, s, n + 1);
}
void relp__fig_attrs(struct relp_figure *f, struct fig_item *it, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    free(it->attrs);
    it->attrs = relp__fig_strdup(f, tmp);
}
void relp__fig_doc(struct relp_figure *f, double w, double h, const char *title) {
    f->width = w;
    f->height = h;
    free(f->doc_title);
    f->doc_title = relp__fig_strdup(f, title ? title : "");
}
enum relp_status relp__fig_fail(struct relp_figure *f, enum relp_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->error, sizeof f->error, fmt, ap);
    va_end(ap);
    return st;
}

struct fig_item *relp__fig_text(struct relp_figure *f, double x, double y, const char *s, struct fig_text_style st) {
    struct fig_item *it = relp__fig_add(f, FIG_TEXT);
    it->x = x, it->y = y;
    it->anchor = st.anchor, it->rotate = st.rotate, it->bold = st.bold, it->size = st.size;
    it->fill = st.fill;
    it->text = relp__fig_strdup(f, s ? s : "");
    if (st.cls) relp__fig_attrs(f, it, " class='%s'", st.cls);
    return it;
}
struct fig_item *relp__fig_rect(struct relp_figure *f, double x, double y, double w, double h, uint32_t fill) {
    struct fig_item *it = relp__fig_add(f, FIG_RECT);
    it->x = x, it->y = y, it->w = w, it->h = h, it->fill = fill;
    return it;
}
struct fig_item *relp__fig_line(struct relp_figure *f, double x1, double y1, double x2, double y2, uint32_t stroke) {
    struct fig_item *it = relp__fig_add(f, FIG_LINE);
    it->x = x1, it->y = y1, it->w = x2, it->h = y2, it->stroke = stroke;
    return it;
}
struct fig_item *relp__fig_circle(struct relp_figure *f, double cx, double cy, double r, uint32_t fill) {
    struct fig_item *it = relp__fig_add(f, FIG_CIRCLE);
    it->x = cx, it->y = cy, it->w = r, it->fill = fill;
    return it;
}
struct fig_item *relp__fig_group(struct relp_figure *f, const char *cls) {
    struct fig_item *it = relp__fig_add(f, FIG_GROUP);
    if (cls) relp__fig_attrs(f, it, " class='%s'", cls);
    return it;
}
void relp__fig_end(struct relp_figure *f, enum fig_kind end) { relp__fig_add(f, end); }

/* ---------------------------------------------------------------- SVG */

static void put_num(struct fig_str *b, const char *name, double v) {
    char t[40];
    relp__str_printf(b, " %s='%s'", name, relp__fig_num(t, v));
}
static void put_colour(struct fig_str *b, const char *name, uint32_t c) {
    if (c == FIG_NONE) relp__str_printf(b, " %s='none'", name);
    else if (c == FIG_GRAD_D || c == FIG_GRAD_S) relp__str_printf(b, " %s='url(#relp-lg-%c)'", name, c == FIG_GRAD_D ? 'd' : 's');
    else relp__str_printf(b, " %s='#%06x'", name, (unsigned)c);
}
static void put_paint(struct fig_str *b, const struct fig_item *it) {
    char t[40];
    put_colour(b, "fill", it->fill);
    if (it->opacity != 1) relp__str_printf(b, " fill-opacity='%s'", relp__js_num(t, it->opacity));
    if (it->stroke != FIG_NONE) put_colour(b, "stroke", it->stroke);
    if (it->stroke_width > 0) relp__str_printf(b, " stroke-width='%s'", relp__js_num(t, it->stroke_width));
    if (it->dash) relp__str_printf(b, " stroke-dasharray='%s'", it->dash);
}
static void put_title_end(struct fig_str *b, const struct fig_item *it, const char *tag) {
    if (!it->title) {
        relp__str_puts(b, "/>");
        return;
    }
    relp__str_puts(b, "><title>");
    relp__str_esc(b, it->title);
    relp__str_printf(b, "</title></%s>", tag);
}

static void write_item(struct fig_str *b, const struct fig_item *it) {
    const char *attrs = it->attrs ? it->attrs : "";
    char t[40];
    switch (it->kind) {
    case FIG_RECT:
        relp__str_printf(b, "<rect%s", attrs);
        if (!it->no_xy) put_num(b, "x", it->x), put_num(b, "y", it->y);
        put_num(b, "width", it->w), put_num(b, "height", it->h);
        if (it->rx > 0) put_num(b, "rx", it->rx);
        put_paint(b, it);
        put_title_end(b, it, "rect");
        break;
    case FIG_LINE:
        relp__str_printf(b, "<line%s", attrs);
        put_num(b, "x1", it->x), put_num(b, "y1", it->y), put_num(b, "x2", it->w), put_num(b, "y2", it->h);
        put_colour(b, "stroke", it->stroke);
        if (it->stroke_width > 0) relp__str_printf(b, " stroke-width='%s'", relp__js_num(t, it->stroke_width));
        if (it->dash) relp__str_printf(b, " stroke-dasharray='%s'", it->dash);
        put_title_end(b, it, "line");
        break;
    case FIG_CIRCLE:
        relp__str_printf(b, "<circle%s", attrs);
        put_num(b, "cx", it->x), put_num(b, "cy", it->y), put_num(b, "r", it->w);
        put_paint(b, it);
        put_title_end(b, it, "circle");
        break;
    case FIG_POLYLINE:
    case FIG_PATH:
        relp__str_printf(b, it->kind == FIG_PATH ? "<path%s d='" : "<polyline%s points='", attrs);
        for (int i = 0; i < it->n_pts; i++) {
            char u[40];
            if (it->kind == FIG_PATH) relp__str_puts(b, i == 0 ? "M" : i == 1 ? " C" : " ");
            else if (i) relp__str_puts(b, " ");
            relp__str_printf(b, "%s%s%s", relp__fig_num(t, it->pts[2 * i]), it->kind == FIG_PATH ? " " : ",",
                             relp__fig_num(u, it->pts[2 * i + 1]));
        }
        relp__str_puts(b, "'");
        put_paint(b, it);
        put_title_end(b, it, it->kind == FIG_PATH ? "path" : "polyline");
        break;
    case FIG_TEXT:
        relp__str_printf(b, "<text%s", attrs);
        if (it->rotate) {
            char u[40];
            relp__str_printf(b, " transform='translate(%s,%s) rotate(-90)'", relp__fig_num(t, it->x), relp__fig_num(u, it->y));
        } else put_num(b, "x", it->x), put_num(b, "y", it->y);
        if (it->anchor) relp__str_printf(b, " text-anchor='%s'", it->anchor == FIG_MIDDLE ? "middle" : "end");
        if (it->bold) relp__str_puts(b, " font-weight='bold'");
        if (it->size > 0) relp__str_printf(b, " font-size='%s'", relp__js_num(t, it->size));
        put_colour(b, "fill", it->fill);
        relp__str_puts(b, ">");
        if (it->text) {
            str_text(b, it->text);
            relp__str_puts(b, "</text>");
        }
        break;
    case FIG_TSPAN:
        relp__str_printf(b, "<tspan%s", attrs);
        if (it->has_x) put_num(b, "x", it->x);
        if (it->bold) relp__str_puts(b, " font-weight='bold'");
        if (it->fill != FIG_NONE) put_colour(b, "fill", it->fill);
        relp__str_puts(b, ">");
        str_text(b, it->text ? it->text : "");
        relp__str_puts(b, "</tspan>");
        break;
    case FIG_TEXT_END: relp__str_puts(b, "</text>"); break;
    case FIG_GROUP:
        relp__str_printf(b, "<g%s>", attrs);
        if (it->title) {
            relp__str_puts(b, "<title>");
            relp__str_esc(b, it->title);
            relp__str_puts(b, "</title>");
        }
        break;
    case FIG_GROUP_END: relp__str_puts(b, "</g>"); break;
    case FIG_GRADIENT: {
        const int seq = it->fill == FIG_GRAD_S, n = seq ? 2 : 5;
        relp__str_printf(b, "<defs><linearGradient id='relp-lg-%c' x1='0' x2='1' y1='0' y2='0'>", seq ? 's' : 'd');
        for (int i = 0; i < n; i++) {
            const unsigned char *c = seq ? relp__fig_sequential[i] : relp__fig_diverging[i];
            relp__str_printf(b, "<stop offset='%s%%' stop-color='#%06x'/>", relp__fig_num(t, 100.0 * i / (n - 1)),
                             (unsigned)rgb3(c));
        }
        relp__str_puts(b, "</linearGradient></defs>");
        break;
    }
    case FIG_HTML: relp__str_puts(b, it->text ? it->text : ""); break;
    }
}

static enum relp_status build_svg(struct relp_figure *f) {
    if (f->svg) return RELP_STATUS_OK;
    struct fig_str b = {0};
    relp__str_puts(&b, "");
    if (!f->html && !f->fragment) {
        const int W = (int)f->width, H = (int)f->height;
        char fs[40];
        relp__str_printf(&b, "<svg xmlns='http://www.w3.org/2000/svg' class='relp-figure' width='%d' height='%d' viewBox='0 0 %d %d' "
                             "font-family='%s' font-size='%s'><title>", W, H, W, H,
                         f->style.font == RELP_FIGURE_FONT_SANS ? FIG_FONT_SANS : FIG_FONT, relp__js_num(fs, FIG_FONT_SIZE));
        relp__str_esc(&b, f->doc_title ? f->doc_title : "");
        relp__str_printf(&b, "</title><rect width='%d' height='%d' fill='#%06x'/>", W, H, (unsigned)FIG_BACKGROUND);
    }
    for (int i = 0; i < f->n; i++) write_item(&b, &f->items[i]);
    if (!f->html && !f->fragment) relp__str_puts(&b, "</svg>");
    if (b.oom) {
        free(b.s);
        return relp__fig_fail(f, RELP_STATUS_ALLOC_FAILED, "figure: out of memory writing the SVG");
    }
    f->svg = b.s;
    f->svg_len = b.n;
    return RELP_STATUS_OK;
}

/* ---------------------------------------------------------------- PNG */

struct canvas {
    unsigned char *px;
    int w, h, s; /* pixels, and the scale from CSS pixels */
};

static void blend(struct canvas *c, int x, int y, uint32_t rgb, double a) {
    if (x < 0 || y < 0 || x >= c->w || y >= c->h || !(a > 0)) return;
    if (a > 1) a = 1;
    unsigned char *d = c->px + ((size_t)y * c->w + x) * 3;
    const int ai = (int)(a * 255 + 0.5);
    const unsigned char s[3] = {(unsigned char)(rgb >> 16), (unsigned char)(rgb >> 8), (unsigned char)rgb};
    for (int k = 0; k < 3; k++) d[k] = (unsigned char)((d[k] * (255 - ai) + s[k] * ai + 127) / 255);
}
static void fill_px(struct canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb, double a) {
    for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
        for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) blend(c, x, y, rgb, a);
}
static int px(double v, int s) { return (int)lround(v * s); }

static uint32_t gradient_at(uint32_t which, double t) {
    const int n = which == FIG_GRAD_S ? 2 : 5;
    const unsigned char(*stops)[3] = which == FIG_GRAD_S ? relp__fig_sequential : relp__fig_diverging;
    double x = (t < 0 ? 0 : t > 1 ? 1 : t) * (n - 1);
    int i = (int)floor(x);
    if (i > n - 2) i = n - 2;
    return mix(stops[i], stops[i + 1], x - i);
}

static void draw_rect(struct canvas *c, const struct fig_item *it) {
    const int s = c->s, x0 = it->no_xy ? 0 : px(it->x, s), y0 = it->no_xy ? 0 : px(it->y, s);
    const int x1 = x0 + px(it->w, s), y1 = y0 + px(it->h, s);
    const double r = it->rx * s;
    if (it->fill != FIG_NONE)
        for (int y = y0 < 0 ? 0 : y0; y < y1 && y < c->h; y++)
            for (int x = x0 < 0 ? 0 : x0; x < x1 && x < c->w; x++) {
                if (r > 0) { /* rounded corners: outside the quarter circles, nothing */
                    const double cx = x + 0.5 < x0 + r ? x0 + r : x + 0.5 > x1 - r ? x1 - r : x + 0.5;
                    const double cy = y + 0.5 < y0 + r ? y0 + r : y + 0.5 > y1 - r ? y1 - r : y + 0.5;
                    const double d = hypot(x + 0.5 - cx, y + 0.5 - cy);
                    if (d > r + 0.5) continue;
                }
                uint32_t rgb = it->fill;
                if (rgb == FIG_GRAD_D || rgb == FIG_GRAD_S) rgb = gradient_at(rgb, (x + 0.5 - x0) / (double)(x1 - x0));
                blend(c, x, y, rgb, it->opacity);
            }
    if (it->stroke != FIG_NONE) { /* inside the edges, as thick as the stroke (at least a pixel, lighter if thinner) */
        const double sw = (it->stroke_width > 0 ? it->stroke_width : 1) * s;
        const int t = sw < 1 ? 1 : (int)lround(sw);
        const double a = sw < 1 ? sw : 1;
        fill_px(c, x0, y0, x1, y0 + t, it->stroke, a);
        fill_px(c, x0, y1 - t, x1, y1, it->stroke, a);
        fill_px(c, x0, y0 + t, x0 + t, y1 - t, it->stroke, a);
        fill_px(c, x1 - t, y0 + t, x1, y1 - t, it->stroke, a);
    }
}

/* a segment w pixels wide: crisp when it runs along an axis, anti-aliased otherwise */
static void draw_segment(struct canvas *c, double x1, double y1, double x2, double y2, double w, uint32_t rgb, double a) {
    if (x1 == x2 || y1 == y2) {
        const int t = w < 1 ? 1 : (int)lround(w);
        if (w < 1) a *= w;
        if (x1 == x2) {
            const int x = (int)lround(x1 - t / 2.0);
            fill_px(c, x, (int)lround(fmin(y1, y2)), x + t, (int)lround(fmax(y1, y2)) + (y1 == y2), rgb, a);
        } else {
            const int y = (int)lround(y1 - t / 2.0);
            fill_px(c, (int)lround(fmin(x1, x2)), y, (int)lround(fmax(x1, x2)), y + t, rgb, a);
        }
        return;
    }
    const double dx = x2 - x1, dy = y2 - y1, len2 = dx * dx + dy * dy, hw = w / 2;
    const int bx0 = (int)floor(fmin(x1, x2) - hw - 1), bx1 = (int)ceil(fmax(x1, x2) + hw + 1);
    const int by0 = (int)floor(fmin(y1, y2) - hw - 1), by1 = (int)ceil(fmax(y1, y2) + hw + 1);
    for (int y = by0 < 0 ? 0 : by0; y < by1 && y < c->h; y++)
        for (int x = bx0 < 0 ? 0 : bx0; x < bx1 && x < c->w; x++) {
            const double px_ = x + 0.5, py_ = y + 0.5;
            double u = ((px_ - x1) * dx + (py_ - y1) * dy) / len2;
            u = u < 0 ? 0 : u > 1 ? 1 : u;
            const double d = hypot(px_ - (x1 + u * dx), py_ - (y1 + u * dy));
            const double cov = (w < 1 ? w : 1) * fmin(1, hw + 0.5 - d + (w < 1 ? 0.5 - hw : 0));
            if (cov > 0) blend(c, x, y, rgb, a * cov);
        }
}
/* a stroked line, dashed when asked ("4 3": on 4, off 3) */
static void draw_line(struct canvas *c, double x1, double y1, double x2, double y2, double w, const char *dash, uint32_t rgb) {
    const int s = c->s;
    x1 *= s, y1 *= s, x2 *= s, y2 *= s;
    double on = 0, off = 0;
    if (dash && sscanf(dash, "%lf %lf", &on, &off) == 2 && on > 0 && off >= 0) {
        const double len = hypot(x2 - x1, y2 - y1), ux = (x2 - x1) / len, uy = (y2 - y1) / len;
        for (double t = 0; t < len; t += (on + off) * s) {
            const double e = fmin(len, t + on * s);
            draw_segment(c, x1 + ux * t, y1 + uy * t, x1 + ux * e, y1 + uy * e, w * s, rgb, 1);
        }
        return;
    }
    draw_segment(c, x1, y1, x2, y2, w * s, rgb, 1);
}

static void draw_circle(struct canvas *c, const struct fig_item *it) {
    const double s = c->s, cx = it->x * s, cy = it->y * s, r = it->w * s;
    const double sw = it->stroke != FIG_NONE ? (it->stroke_width > 0 ? it->stroke_width : 1) * s : 0;
    for (int y = (int)floor(cy - r - sw - 1); y <= (int)ceil(cy + r + sw + 1); y++)
        for (int x = (int)floor(cx - r - sw - 1); x <= (int)ceil(cx + r + sw + 1); x++) {
            const double d = hypot(x + 0.5 - cx, y + 0.5 - cy);
            if (it->fill != FIG_NONE) blend(c, x, y, it->fill, it->opacity * fmin(1, r + 0.5 - d));
            if (sw > 0) blend(c, x, y, it->stroke, fmin(1, sw / 2 + 0.5 - fabs(d - r)));
        }
}

/* one glyph: coverage FONT_W x FONT_H; a few code points past ASCII drawn from others */
static void glyph_of(unsigned cp, unsigned char g[FONT_W * FONT_H]) {
    if (cp >= 32 && cp <= 126) {
        memcpy(g, font_glyphs[cp - 32], FONT_W * FONT_H);
        if (cp == '_') memset(g + 12 * FONT_W, 255, FONT_W); /* font.h's underscore lies below its cell: empty */
        return;
    }
    memset(g, 0, FONT_W * FONT_H);
    if (cp == 0x2423) { /* the visible space: an open box at the baseline */
        for (int x = 1; x <= 5; x++) g[11 * FONT_W + x] = 255;
        g[10 * FONT_W + 1] = g[9 * FONT_W + 1] = g[10 * FONT_W + 5] = g[9 * FONT_W + 5] = 255;
    } else if (cp == 0xF7) { /* division sign: a minus with a dot above and below */
        memcpy(g, font_glyphs['-' - 32], FONT_W * FONT_H);
        g[5 * FONT_W + 3] = g[11 * FONT_W + 3] = 255;
    } else if (cp == 0x2212) memcpy(g, font_glyphs['-' - 32], FONT_W * FONT_H);
    else if (cp == 0x2026) { /* the ellipsis: the full stop's rows as three dots */
        memcpy(g, font_glyphs['.' - 32], FONT_W * FONT_H);
        for (int y = 0; y < FONT_H; y++) {
            unsigned char m = 0;
            for (int x = 0; x < FONT_W; x++) m = g[y * FONT_W + x] > m ? g[y * FONT_W + x] : m;
            memset(g + y * FONT_W, 0, FONT_W);
            if (m) g[y * FONT_W + 1] = g[y * FONT_W + 3] = g[y * FONT_W + 5] = m;
        }
    }
    else memcpy(g, font_glyphs['?' - 32], FONT_W * FONT_H);
}

/* text from its origin (x, y: the baseline, CSS px), u0: the first glyph's offset in characters' pixels */
static void draw_text(struct canvas *c, double x, double y, const char *s, int anchor, int rotate, int bold, uint32_t rgb) {
    const int sc = c->s, n = relp__utf8_len(s);
    int u = anchor == FIG_END ? -n * FIG_CHARW : anchor == FIG_MIDDLE ? -(n * FIG_CHARW) / 2 : 0;
    const int ox = px(x, sc), oy = px(y, sc), vtop = -(FONT_H - 2);
    unsigned char g[FONT_W * FONT_H];
    for (const unsigned char *p = (const unsigned char *)s; *p;) { /* decode UTF-8 */
        unsigned cp = *p++;
        if (cp >= 0xC0) {
            int more = cp >= 0xF0 ? 3 : cp >= 0xE0 ? 2 : 1;
            cp &= 0x3Fu >> more;
            while (more-- && (*p & 0xC0) == 0x80) cp = (cp << 6) | (*p++ & 0x3Fu);
        } else if (cp >= 0x80) continue;
        glyph_of(cp, g);
        for (int b = 0; b <= bold; b++)
            for (int gy = 0; gy < FONT_H; gy++)
                for (int gx = 0; gx < FONT_W; gx++) {
                    const int a = g[gy * FONT_W + gx];
                    if (!a) continue;
                    const int tu = u + gx + b, tv = vtop + gy;
                    const int bx = rotate ? ox + tv * sc : ox + tu * sc, by = rotate ? oy - (tu + 1) * sc : oy + tv * sc;
                    for (int yy = 0; yy < sc; yy++)
                        for (int xx = 0; xx < sc; xx++) blend(c, bx + xx, by + yy, rgb, a / 255.0);
                }
        u += FIG_CHARW;
    }
}

static void cubic_at(const double *p, double t, double *x, double *y) {
    const double a = (1 - t) * (1 - t) * (1 - t), b = 3 * (1 - t) * (1 - t) * t, cc = 3 * (1 - t) * t * t, d = t * t * t;
    *x = a * p[0] + b * p[2] + cc * p[4] + d * p[6];
    *y = a * p[1] + b * p[3] + cc * p[5] + d * p[7];
}

static void raster(struct relp_figure *f, struct canvas *c) {
    double tx = 0, ty = 0; /* the open text's origin, and where its next run starts */
    uint32_t tfill = FIG_INK;
    int tbold = 0;
    for (int i = 0; i < f->n; i++) {
        const struct fig_item *it = &f->items[i];
        const double sw = it->stroke_width > 0 ? it->stroke_width : 1;
        switch (it->kind) {
        case FIG_RECT: draw_rect(c, it); break;
        case FIG_LINE: draw_line(c, it->x, it->y, it->w, it->h, sw, it->dash, it->stroke); break;
        case FIG_CIRCLE: draw_circle(c, it); break;
        case FIG_POLYLINE:
            for (int k = 1; k < it->n_pts && it->stroke != FIG_NONE; k++)
                draw_line(c, it->pts[2 * k - 2], it->pts[2 * k - 1], it->pts[2 * k], it->pts[2 * k + 1], sw, it->dash, it->stroke);
            break;
        case FIG_PATH: /* cubic segments, flattened */
            for (int k = 1; k + 2 < it->n_pts && it->stroke != FIG_NONE; k += 3) {
                double seg[8] = {it->pts[2 * k - 2], it->pts[2 * k - 1], it->pts[2 * k], it->pts[2 * k + 1],
                                 it->pts[2 * k + 2], it->pts[2 * k + 3], it->pts[2 * k + 4], it->pts[2 * k + 5]};
                double px0 = seg[0], py0 = seg[1];
                for (int q = 1; q <= 24; q++) {
                    double x, y;
                    cubic_at(seg, q / 24.0, &x, &y);
                    const double x0 = px0 * c->s, y0 = py0 * c->s, x1 = x * c->s, y1 = y * c->s;
                    /* overlapping ends would darken the joints of a translucent stroke: the shapes here are opaque */
                    draw_segment(c, x0, y0, x1, y1, sw * c->s, it->stroke, it->opacity);
                    px0 = x, py0 = y;
                }
            }
            break;
        case FIG_TEXT:
            if (it->text) draw_text(c, it->x, it->y, it->text, it->anchor, it->rotate, it->bold, it->fill);
            else tx = it->x, ty = it->y, tfill = it->fill, tbold = it->bold;
            break;
        case FIG_TSPAN: {
            const double x = it->has_x ? it->x : tx;
            if (it->text) draw_text(c, x, ty, it->text, FIG_START, 0, it->bold || tbold, it->fill != FIG_NONE ? it->fill : tfill);
            tx = x + relp__text_w(it->text ? it->text : "");
            break;
        }
        default: break;
        }
    }
}

static void png_sink(void *user, void *data, int size) {
    struct relp_figure *f = user;
    if (f->oom || size <= 0) return;
    if (f->png_len + (size_t)size > f->png_cap) {
        const size_t cap = (f->png_len + (size_t)size) * 2;
        unsigned char *p = realloc(f->png, cap);
        if (!p) {
            f->oom = 1;
            return;
        }
        f->png = p;
        f->png_cap = cap;
    }
    memcpy(f->png + f->png_len, data, (size_t)size);
    f->png_len += (size_t)size;
}

/* ---------------------------------------------------------------- the API */

struct relp_figure *relp_figure_init(void) { return calloc(1, sizeof(struct relp_figure)); }

void relp_figure_free(struct relp_figure *fig) {
    if (!fig) return;
    relp__fig_reset(fig);
    item_free(&fig->spare);
    free(fig->items);
    free(fig->png);
    free(fig);
}

const char *relp_figure_last_error(const struct relp_figure *fig) { return fig ? fig->error : "no figure (NULL)"; }

void relp_figure_set_style(struct relp_figure *fig, const struct relp_figure_style *style) {
    if (!fig) return;
    if (style) fig->style = *style;
    else memset(&fig->style, 0, sizeof fig->style);
    if (!(fig->style.color_max > 0) || !isfinite(fig->style.color_max)) fig->style.color_max = 0;
    if (fig->style.font != RELP_FIGURE_FONT_SANS) fig->style.font = RELP_FIGURE_FONT_MONO;
}

const char *relp_figure_caption_text(struct relp_figure *fig, size_t *len) {
    if (len) *len = fig && fig->caption_text ? fig->caption_len : 0;
    return fig && fig->caption_text ? fig->caption_text : "";
}

const char *relp_figure_svg(struct relp_figure *fig, size_t *len) {
    if (len) *len = 0;
    if (!fig || (!fig->n && !fig->width) || build_svg(fig) != RELP_STATUS_OK) return NULL;
    if (len) *len = fig->svg_len;
    return fig->svg;
}

void relp_figure_size(const struct relp_figure *fig, int32_t *width, int32_t *height) {
    if (width) *width = fig ? (int32_t)fig->width : 0;
    if (height) *height = fig ? (int32_t)fig->height : 0;
}

enum relp_status relp_figure_png(struct relp_figure *fig, int32_t scale, const char **png, size_t *len) {
    if (png) *png = NULL;
    if (len) *len = 0;
    if (!fig || !png || !len) return RELP_STATUS_BAD_ARGUMENT;
    if (fig->html || fig->fragment || !(fig->width > 0 && fig->height > 0))
        return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure: %s has no PNG (draw a figure first)",
                              fig->html ? "the node table (HTML)" : fig->fragment ? "a part of a figure" : "an empty figure");
    if (scale < 1 || scale > 8) return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure: PNG scale %d: expected 1 to 8", (int)scale);
    struct canvas c = {NULL, (int)fig->width * scale, (int)fig->height * scale, scale};
    if ((double)c.w * c.h > 4e8) return relp__fig_fail(fig, RELP_STATUS_BAD_ARGUMENT, "figure: a %dx%d PNG is too large", c.w, c.h);
    c.px = malloc((size_t)c.w * c.h * 3);
    if (!c.px) return relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure: out of memory for a %dx%d PNG", c.w, c.h);
    memset(c.px, 0xff, (size_t)c.w * c.h * 3); /* FIG_BACKGROUND */
    raster(fig, &c);
    fig->png_len = 0;
    fig->oom = 0;
    const int ok = stbi_write_png_to_func(png_sink, fig, c.w, c.h, 3, c.px, c.w * 3);
    free(c.px);
    if (!ok || fig->oom) return relp__fig_fail(fig, RELP_STATUS_ALLOC_FAILED, "figure: out of memory writing the PNG");
    *png = (const char *)fig->png;
    *len = fig->png_len;
    return RELP_STATUS_OK;
}
