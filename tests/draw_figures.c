/* draw_figures.c - draws figure requests (relp.h, FIGURES: the JSON form) with
 * the native library, for tests/test_figures.mjs:
 *
 *   draw_figures OUT_DIR [--png SCALE] REQUEST.json ...
 *
 * Each file holds a request, or {"request": {...}, ...} (the fixtures'
 * form); NAME.json is drawn into OUT_DIR/NAME.svg (.html for the node
 * table) and, with --png, OUT_DIR/NAME.png at SCALE. Prints one line per
 * file: "ok NAME WIDTH HEIGHT" or "error NAME: message"; exits 1 if any
 * failed. */
#include "relp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
    if (s && fread(s, 1, (size_t)len, f) != (size_t)len) {
        free(s);
        s = NULL;
    }
    fclose(f);
    if (s) s[len] = '\0', *n = (size_t)len;
    return s;
}

static int put(const char *dir, const char *name, const char *ext, const char *bytes, size_t n) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(bytes, 1, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    return ok;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: draw_figures OUT_DIR [--png SCALE] REQUEST.json ...\n");
        return 2;
    }
    const char *dir = argv[1];
    int scale = 0, first = 2, failed = 0;
    if (argc > 3 && !strcmp(argv[2], "--png")) scale = atoi(argv[3]), first = 4;
    struct relp_figure *fig = relp_figure_init();
    for (int i = first; fig && i < argc; i++) {
        const char *base = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        char name[1024];
        snprintf(name, sizeof name, "%s", base);
        char *dot = strrchr(name, '.');
        if (dot) *dot = '\0';
        size_t n = 0;
        char *text = slurp(argv[i], &n);
        if (!text) {
            printf("error %s: cannot read %s\n", name, argv[i]);
            failed = 1;
            continue;
        }
        /* the fixtures' form: {"about": ..., "request": {...}}: draw the inner object */
        const char *req = text;
        size_t len = n;
        struct relp_json_doc doc = {0};
        if (!relp_json_parse(&doc, text, n) && doc.v[0].type == RELP_JSON_OBJECT && relp_json_get(&doc, &doc.v[0], "request")) {
            const char *k = strstr(text, "\"request\":");
            if (k) {
                req = k + strlen("\"request\":");
                len = n - (size_t)(req - text);
                while (len && (req[len - 1] == '\n' || req[len - 1] == ' ')) len--;
                if (len && req[len - 1] == '}') len--; /* the outer object's brace: the request is its last member */
            }
        }
        relp_json_free(&doc);
        if (relp_figure_draw_json(fig, req, len, NULL, 0) != RELP_STATUS_OK) {
            printf("error %s: %s\n", name, relp_figure_last_error(fig));
            failed = 1;
            free(text);
            continue;
        }
        size_t sn = 0;
        const char *svg = relp_figure_svg(fig, &sn);
        int32_t w = 0, h = 0;
        relp_figure_size(fig, &w, &h);
        const int html = svg && strncmp(svg, "<svg", 4) && strncmp(svg, "<", 1) == 0 && !strncmp(svg, "<p", 2);
        if (!svg || !put(dir, name, html ? "html" : "svg", svg, sn)) {
            printf("error %s: cannot write its SVG\n", name);
            failed = 1;
        } else if (scale > 0 && !html && !strncmp(svg, "<svg", 4)) {
            const char *png = NULL;
            size_t pn = 0;
            if (relp_figure_png(fig, scale, &png, &pn) != RELP_STATUS_OK || !put(dir, name, "png", png, pn)) {
                printf("error %s: PNG: %s\n", name, relp_figure_last_error(fig));
                failed = 1;
            }
        }
        if (svg) printf("ok %s %d %d\n", name, (int)w, (int)h);
        free(text);
    }
    relp_figure_free(fig);
    return failed || !fig;
}
