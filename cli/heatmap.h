/* heatmap.h - PNG and SVG heatmaps of attribution scores (see heatmap.c). */
#ifndef RELP_HEATMAP_H
#define RELP_HEATMAP_H

struct heatmap {
    const float *values;             /* (rows, cols) row-major */
    int rows, cols;
    const char *const *row_labels;   /* rows strings, may be NULL */
    const char *const *col_labels;   /* cols strings (UTF-8 tokens), may be NULL */
    const char *title, *xlabel, *ylabel;
    float vmax;                      /* colour limit; 0 = max |value| */
};

/* Return 0 on success, -1 if the file cannot be written. */
int heatmap_write_png(const char *path, const struct heatmap *h);
int heatmap_write_svg(const char *path, const struct heatmap *h);

#endif
