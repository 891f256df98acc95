/* cards.c - what a feature card says about one unit of a node set (relp.h,
 * CIRCUITS: cards): how strongly it fires on each token of some texts, and
 * the tokens its output direction promotes and suppresses through the
 * unembedding.
 *
 * The direction of an SAE feature is its decoder row W_dec[i], of a neuron
 * its row of the MLP's output matrix W_out[j]; both are written into the
 * residual stream. Through the unembedding, as TransformerLens's fold_ln
 * reads it (and Neuronpedia's logit lens of a decoder direction): centred
 * for a LayerNorm model (the final norm subtracts the mean), times the final
 * norm's gain, times W_U; the norm's 1/rms scale is left out, so the logits
 * rank tokens but are not the logits of any run. Heads and MLPs as components
 * write no single direction and have no card here. */
#include "circuits.h"
#include "ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* the hook h of a node set: its SAE (features) or layer (neurons); -1 when h is not one of the set's hooks */
static int hook_of(const struct relp_model *m, const struct relp_saes *saes, enum relp_nodeset set, int32_t hook,
                   int32_t unit, int *width) {
    if (set == RELP_NODESET_FEATURES) {
        if (!saes || saes->model != m || hook < 0 || hook >= saes->n) return -1;
        *width = saes->s[hook].d_sae;
    } else if (set == RELP_NODESET_NEURONS) {
        if (hook < 0 || hook >= m->d.L) return -1;
        *width = m->d.I;
    } else {
        return -1;
    }
    return unit >= 0 && unit < *width ? 0 : -1;
}

enum relp_status relp_unit_direction(const struct relp_model *m, const struct relp_saes *saes, enum relp_nodeset set,
                                     int32_t hook, int32_t unit, float *dir) {
    int width;
    if (!m || !dir || hook_of(m, saes, set, hook, unit, &width)) return RELP_STATUS_BAD_ARGUMENT;
    const int C = m->d.C;
    if (set == RELP_NODESET_FEATURES) {
        memcpy(dir, saes->s[hook].W_dec + (size_t)unit * C, sizeof(float) * (size_t)C);
        return RELP_STATUS_OK;
    }
    float *e = calloc((size_t)width, sizeof(float)); /* a one-hot row through the packed W_out: its row j */
    if (!e) return RELP_STATUS_ALLOC_FAILED;
    e[unit] = 1.0f;
    matmul_xw_packed(NULL, dir, e, m->layers[hook].w_mp, m->weight_dtype, NULL, 1, width, C, width, 0);
    free(e);
    return RELP_STATUS_OK;
}

enum relp_status relp_direction_logits(const struct relp_model *m, const float *dir, float *logits) {
    if (!m || !dir || !logits) return RELP_STATUS_BAD_ARGUMENT;
    const int C = m->d.C;
    float *x = malloc(sizeof(float) * (size_t)C);
    if (!x) return RELP_STATUS_ALLOC_FAILED;
    double mean = 0;
    if (!m->rms_norm)
        for (int c = 0; c < C; c++) mean += dir[c];
    mean /= C;
    for (int c = 0; c < C; c++) x[c] = (float)(dir[c] - mean) * (m->lnf_g ? m->lnf_g[c] : 1.0f);
    matmul_xwt(NULL, logits, x, m->wu, m->weight_dtype, 1, C, m->d.V);
    free(x);
    return RELP_STATUS_OK;
}

enum relp_status relp_unit_activations(struct relp_ctx *ctx, const int32_t *ids, int32_t B, int32_t T,
                                       const struct relp_saes *saes, enum relp_nodeset set, int32_t hook, int32_t unit,
                                       float *acts) {
    if (!ctx) return RELP_STATUS_BAD_ARGUMENT;
    const struct relp_model *m = ctx->model;
    int width;
    if (!ids || !acts || hook_of(m, saes, set, hook, unit, &width))
        return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT,
                              "cards: hook %d unit %d is not a %s of this node set (cards are for SAE features and "
                              "neurons)",
                              (int)hook, (int)unit, set == RELP_NODESET_FEATURES ? "feature" : "unit");
    enum relp_status st = relp_forward(ctx, ids, B, T);
    if (st) return st;
    const size_t N = (size_t)B * T;
    if (set == RELP_NODESET_NEURONS) {
        const float *a = relp_ctx_node(ctx, RELP_NODE_MLP_POST, hook);
        if (!a) return relp__ctx_fail(ctx, RELP_STATUS_BAD_ARGUMENT, "cards: this model caches no MLP neurons");
        for (size_t r = 0; r < N; r++) acts[r] = a[r * width + unit];
        return RELP_STATUS_OK;
    }
    const struct relp_sae *e = &saes->s[hook];
    const float *x = relp_ctx_node(ctx, e->node, e->layer);
    float *f = malloc(sizeof(float) * N * (size_t)e->d_sae);
    float *scratch = malloc(relp__sae_scratch(e, (int64_t)N) * sizeof(float) + 8);
    if (!x || !f || !scratch) {
        free(f), free(scratch);
        return relp__ctx_fail(ctx, x ? RELP_STATUS_ALLOC_FAILED : RELP_STATUS_BAD_ARGUMENT,
                              x ? "out of memory" : "cards: the SAE's hook is not cached by this model");
    }
    relp__sae_encode(e, ctx->pool, x, (int64_t)N, f, scratch);
    for (size_t r = 0; r < N; r++) acts[r] = f[r * e->d_sae + unit];
    free(f), free(scratch);
    return RELP_STATUS_OK;
}
