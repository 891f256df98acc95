/* circuits.h - the circuit code's shared pieces (sae.c, circuits.c,
 * edges.c): the SAE objects behind relp.h's opaque handle and the hook
 * names. Nothing here is public API. */
#ifndef RELP_CIRCUITS_H
#define RELP_CIRCUITS_H

#include "internal.h"

/* One SAE (relp.h, CIRCUITS). */
struct relp_sae {
    char hook_name[64];
    char path[512];
    enum relp_node node;
    int32_t layer, hook_layer;
    int32_t order;             /* forward order of the hook (relp__hook_parse) */
    int32_t d_in, d_sae;
    enum relp_sae_arch arch;
    int32_t k, apply_b_dec_to_input;
    enum relp_dtype file_dtype;
    const float *W_enc;        /* (d_in, d_sae) packed in RELP_PANEL panels (ops.h), f32 */
    const float *W_dec;        /* (d_sae, d_in) row-major, f32 */
    const float *W_decT;       /* W_dec^T (d_in, d_sae) packed in panels: rho W_dec^T, the features' coefficients */
    const float *b_enc, *b_dec, *threshold; /* (d_sae), (d_in), (d_sae) jumprelu */
};

struct relp_saes {
    const struct relp_model *model;
    struct relp_sae *s; /* forward order */
    int32_t n;
    struct relp_mapped_file *files;
    int32_t n_files;
    void **owned;
    int32_t n_owned;
    char error[RELP_ERROR_LEN];
};

/* A TransformerLens hook name of m: its relp node and layer (resid_post L is resid_pre L+1), the L in the name,
 * and its forward order. 0, or -1 for a name m has not. */
int relp__hook_parse(const struct relp_model *m, const char *name, enum relp_node *node, int32_t *layer,
                     int32_t *hook_layer, int32_t *order);
/* The hook name of a node and layer (resid_post: the name of RESID_PRE layer as blocks.{layer-1}.hook_resid_post). */
void relp__hook_name(enum relp_node node, int32_t layer, int resid_post, char *buf, size_t cap);

/* Scratch floats relp__sae_encode needs for n rows. */
size_t relp__sae_scratch(const struct relp_sae *e, int64_t n);
/* f (n, d_sae) = encode(x (n, d_in)) */
void relp__sae_encode(const struct relp_sae *e, struct relp_pool *pool, const float *x, int64_t n, float *f,
                      float *scratch);
/* x_hat (n, d_in) = f W_dec + b_dec (the rows of W_dec where f is non-zero) */
void relp__sae_decode(const struct relp_sae *e, const float *f, int64_t n, float *x_hat);

#endif
