/* heatmap.c - layer x position (or layer x head, or one row of tokens)
 * heatmaps as PNG (stb_image_write, labels from the embedded font.h) and
 * SVG (written directly, real text, a <title> with the exact value on every
 * cell). Diverging colour map centred at 0 (RdBu), symmetric limits, a colour
 * bar with its limits. */
#include "heatmap.h"

#include "font.h"

#include <math.h>
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

enum { CELL_W = 34, CELL_H = 22, MARGIN_L = 54, MARGIN_T = 34, BAR_W = 16, BAR_GAP = 18, MARGIN_R = 86,
       LABEL_CHARS = 14 };

/* RdBu anchors at -1, -0.5, 0, 0.5, 1 */
static const unsigned char anchors[5][3] = {
    {33, 102, 172}, {103, 169, 207}, {247, 247, 247}, {239, 138, 98}, {178, 24, 43}};

static void heatmap_color(float v, float vmax, unsigned char rgb[3]) {
    float t = vmax > 0 ? v / vmax : 0.0f;
    if (!(t >= -1.0f)) t = -1.0f; /* also NaN */
    if (t > 1.0f) t = 1.0f;
    float x = (t + 1.0f) * 2.0f; /* 0..4 */
    int i = (int)x;
    if (i > 3) i = 3;
    float f = x - (float)i;
    for (int c = 0; c < 3; c++) rgb[c] = (unsigned char)lroundf(anchors[i][c] + f * (anchors[i + 1][c] - anchors[i][c]));
}

static float heatmap_vmax(const struct heatmap *h) {
    if (h->vmax > 0) return h->vmax;
    float m = 0;
    for (int i = 0; i < h->rows * h->cols; i++)
        if (fabsf(h->values[i]) > m) m = fabsf(h->values[i]);
    return m > 0 ? m : 1.0f;
}

/* label text, shortened to LABEL_CHARS, for the bitmap font: ASCII only */
static void ascii_label(char *out, const char *s) {
    int o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && o < LABEL_CHARS; p++) {
        if (*p >= 0x80) {
            if ((*p & 0xC0) == 0xC0) out[o++] = '?'; /* one ? per multi-byte character */
            continue;
        }
        out[o++] = *p >= 32 && *p < 127 ? (char)*p : '?';
    }
    out[o] = '\0';
}

struct canvas {
    unsigned char *px;
    int w, h;
};

static void fill_rect(struct canvas *c, int x0, int y0, int w, int h, const unsigned char rgb[3]) {
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++) {
            if (x < 0 || y < 0 || x >= c->w || y >= c->h) continue;
            memcpy(c->px + ((size_t)y * c->w + x) * 3, rgb, 3);
        }
}

/* draws s with its top-left at (x, y); vertical = rotated 90 degrees
 * counter-clockwise (reads bottom to top, (x, y) is the bottom-left) */
static void draw_text(struct canvas *c, int x, int y, const char *s, int vertical) {
    for (int i = 0; s[i]; i++) {
        int ch = (unsigned char)s[i];
        if (ch < 32 || ch > 126) ch = '?';
        const unsigned char *g = font_glyphs[ch - 32];
        for (int gy = 0; gy < FONT_H; gy++)
            for (int gx = 0; gx < FONT_W; gx++) {
                int a = g[gy * FONT_W + gx];
                if (!a) continue;
                int px = vertical ? x + gy : x + i * FONT_W + gx;
                int py = vertical ? y - i * FONT_W - gx : y + gy;
                if (px < 0 || py < 0 || px >= c->w || py >= c->h) continue;
                unsigned char *d = c->px + ((size_t)py * c->w + px) * 3;
                for (int k = 0; k < 3; k++) d[k] = (unsigned char)(d[k] * (255 - a) / 255); /* black text */
            }
    }
}

static void layout(const struct heatmap *h, int *W, int *H, int *bottom) {
    int longest = 0;
    for (int j = 0; h->col_labels && j < h->cols; j++) {
        char buf[LABEL_CHARS + 1];
        ascii_label(buf, h->col_labels[j]);
        if ((int)strlen(buf) > longest) longest = (int)strlen(buf);
    }
    *bottom = longest * FONT_W + 24 + (h->xlabel ? FONT_H + 4 : 0);
    *W = MARGIN_L + h->cols * CELL_W + MARGIN_R;
    *H = MARGIN_T + h->rows * CELL_H + *bottom;
    if (*H < MARGIN_T + 120) *H = MARGIN_T + 120; /* room for the colour bar labels */
}

int heatmap_write_png(const char *path, const struct heatmap *h) {
    int W, H, bottom;
    layout(h, &W, &H, &bottom);
    struct canvas c = {malloc((size_t)W * H * 3), W, H};
    if (!c.px) return -1;
    memset(c.px, 255, (size_t)W * H * 3);
    const float vmax = heatmap_vmax(h);
    if (h->title) draw_text(&c, MARGIN_L, 8, h->title, 0);
    for (int i = 0; i < h->rows; i++)
        for (int j = 0; j < h->cols; j++) {
            unsigned char rgb[3];
            heatmap_color(h->values[i * h->cols + j], vmax, rgb);
            fill_rect(&c, MARGIN_L + j * CELL_W, MARGIN_T + i * CELL_H, CELL_W - 1, CELL_H - 1, rgb);
        }
    for (int i = 0; h->row_labels && i < h->rows; i++) {
        char buf[LABEL_CHARS + 1];
        ascii_label(buf, h->row_labels[i]);
        int len = (int)strlen(buf);
        draw_text(&c, MARGIN_L - 6 - len * FONT_W, MARGIN_T + i * CELL_H + (CELL_H - FONT_H) / 2, buf, 0);
    }
    int y_axis = MARGIN_T + h->rows * CELL_H;
    for (int j = 0; h->col_labels && j < h->cols; j++) {
        char buf[LABEL_CHARS + 1];
        ascii_label(buf, h->col_labels[j]);
        draw_text(&c, MARGIN_L + j * CELL_W + (CELL_W - FONT_H) / 2, y_axis + 6 + (int)strlen(buf) * FONT_W, buf, 1);
    }
    if (h->xlabel) draw_text(&c, MARGIN_L, H - FONT_H - 4, h->xlabel, 0);
    if (h->ylabel) draw_text(&c, 4, MARGIN_T + h->rows * CELL_H / 2 + (int)strlen(h->ylabel) * FONT_W / 2, h->ylabel, 1);
    /* colour bar: +vmax at the top, -vmax at the bottom */
    int bx = MARGIN_L + h->cols * CELL_W + BAR_GAP, bh = h->rows * CELL_H > 100 ? h->rows * CELL_H : 100;
    for (int y = 0; y < bh; y++) {
        unsigned char rgb[3];
        heatmap_color(vmax * (1.0f - 2.0f * (float)y / (float)(bh - 1)), vmax, rgb);
        fill_rect(&c, bx, MARGIN_T + y, BAR_W, 1, rgb);
    }
    char lab[32];
    snprintf(lab, sizeof lab, "%+.3g", vmax);
    draw_text(&c, bx + BAR_W + 4, MARGIN_T - 2, lab, 0);
    draw_text(&c, bx + BAR_W + 4, MARGIN_T + bh / 2 - FONT_H / 2, "0", 0);
    snprintf(lab, sizeof lab, "%+.3g", -vmax);
    draw_text(&c, bx + BAR_W + 4, MARGIN_T + bh - FONT_H + 2, lab, 0);
    int ok = stbi_write_png(path, W, H, 3, c.px, W * 3);
    free(c.px);
    return ok ? 0 : -1;
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case ' ': fputs("&#160;", f); break; /* keep the leading spaces of GPT-2 tokens visible in width */
        default:
            if ((unsigned char)*s >= 32 || *s == '\t') fputc(*s, f);
        }
    }
}

int heatmap_write_svg(const char *path, const struct heatmap *h) {
    int W, H, bottom;
    layout(h, &W, &H, &bottom);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const float vmax = heatmap_vmax(h);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"DejaVu Sans Mono, monospace\" font-size=\"11\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n", W, H);
    if (h->title) {
        fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"12\">", MARGIN_L);
        xml_text(f, h->title);
        fputs("</text>\n", f);
    }
    for (int i = 0; i < h->rows; i++)
        for (int j = 0; j < h->cols; j++) {
            unsigned char rgb[3];
            float v = h->values[i * h->cols + j];
            heatmap_color(v, vmax, rgb);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#%02x%02x%02x\"><title>", MARGIN_L + j * CELL_W,
                    MARGIN_T + i * CELL_H, CELL_W - 1, CELL_H - 1, rgb[0], rgb[1], rgb[2]);
            if (h->row_labels) xml_text(f, h->row_labels[i]);
            fputs(" / ", f);
            if (h->col_labels) xml_text(f, h->col_labels[j]);
            fprintf(f, ": %.6g</title></rect>\n", v);
        }
    for (int i = 0; h->row_labels && i < h->rows; i++) {
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", MARGIN_L - 6, MARGIN_T + i * CELL_H + CELL_H / 2 + 4);
        xml_text(f, h->row_labels[i]);
        fputs("</text>\n", f);
    }
    int y_axis = MARGIN_T + h->rows * CELL_H;
    for (int j = 0; h->col_labels && j < h->cols; j++) {
        int x = MARGIN_L + j * CELL_W + CELL_W / 2 + 4;
        fprintf(f, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"end\">", x, y_axis + 6);
        xml_text(f, h->col_labels[j]);
        fputs("</text>\n", f);
    }
    if (h->xlabel) {
        fprintf(f, "<text x=\"%d\" y=\"%d\">", MARGIN_L, H - 6);
        xml_text(f, h->xlabel);
        fputs("</text>\n", f);
    }
    if (h->ylabel) {
        fprintf(f, "<text transform=\"translate(14,%d) rotate(-90)\" text-anchor=\"middle\">", MARGIN_T + h->rows * CELL_H / 2);
        xml_text(f, h->ylabel);
        fputs("</text>\n", f);
    }
    int bx = MARGIN_L + h->cols * CELL_W + BAR_GAP, bh = h->rows * CELL_H > 100 ? h->rows * CELL_H : 100;
    fputs("<defs><linearGradient id=\"bar\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">", f);
    for (int k = 0; k < 5; k++)
        fprintf(f, "<stop offset=\"%d%%\" stop-color=\"#%02x%02x%02x\"/>", k * 25, anchors[4 - k][0], anchors[4 - k][1],
                anchors[4 - k][2]);
    fputs("</linearGradient></defs>\n", f);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"url(#bar)\"/>\n", bx, MARGIN_T, BAR_W, bh);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%+.3g</text>\n", bx + BAR_W + 4, MARGIN_T + 8, vmax);
    fprintf(f, "<text x=\"%d\" y=\"%d\">0</text>\n", bx + BAR_W + 4, MARGIN_T + bh / 2 + 4);
    fprintf(f, "<text x=\"%d\" y=\"%d\">%+.3g</text>\n", bx + BAR_W + 4, MARGIN_T + bh, -vmax);
    fputs("</svg>\n", f);
    return fclose(f) == 0 ? 0 : -1;
}
