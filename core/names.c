/* names.c - the names of methods, node types, rule presets and dtypes, and
 * the presets themselves: the one table the CLI, the WebAssembly API
 * (wasm/relp_wasm.c: relpw_names, and the generated constants.mjs) and the
 * page read. */
#include "arch.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------- presets */

static const struct {
    const char *name;
    struct relp_rules rules;
} presets[] = {
    {"grad", {RELP_LN_EXACT, RELP_GELU_EXACT, RELP_ATTN_EXACT, RELP_GATE_EXACT}},            /* AtP: the gradient */
    {"relp", {RELP_LN_SIGMA_CONST, RELP_GELU_IDENTITY, RELP_ATTN_EXACT, RELP_GATE_HALF}},    /* the official code's default */
    {"relp-cp", {RELP_LN_SIGMA_CONST, RELP_GELU_IDENTITY, RELP_ATTN_FROZEN, RELP_GATE_HALF}}, /* + frozen pattern */
    {"attnlrp", {RELP_LN_SIGMA_CONST, RELP_GELU_IDENTITY, RELP_ATTN_ATTNLRP, RELP_GATE_HALF}} /* + AttnLRP's 1/2, 1/4 */
};
#define N_PRESETS (int32_t)(sizeof presets / sizeof presets[0])

const struct relp_rules *relp_rules_preset(const char *name) {
    for (int32_t i = 0; name && i < N_PRESETS; i++)
        if (strcmp(name, presets[i].name) == 0) return &presets[i].rules;
    return NULL;
}

const char *relp_rules_preset_name(int32_t i) { return i >= 0 && i < N_PRESETS ? presets[i].name : NULL; }

const char *relp_rules_describe(const struct relp_model *m, const struct relp_rules *r, char *buf, size_t cap) {
    static const char *act_name[] = {"GELU", "GELU", "SiLU"};
    const char *norm = m->rms_norm ? "RMSNorm rms" : "LayerNorm sigma";
    const char *attn = r->attn == RELP_ATTN_FROZEN ? "attention pattern frozen"
                       : r->attn == RELP_ATTN_ATTNLRP ? "AttnLRP (v x 1/2, q and k x 1/4)"
                                                      : "attention exact";
    char gate[96];
    if (!m->gated) snprintf(gate, sizeof gate, "%s", r->gate == RELP_GATE_HALF ? "Half-rule: not applicable (no gated MLP)" : "no gated MLP");
    else snprintf(gate, sizeof gate, "%s", r->gate == RELP_GATE_HALF ? "Half-rule (gate x up)" : "gate x up exact");
    snprintf(buf, cap, "%s (%s %s)%s, %s (%s), %s, %s", r->ln == RELP_LN_SIGMA_CONST ? "LN-rule" : "norms exact", norm,
             r->ln == RELP_LN_SIGMA_CONST ? "constant" : "differentiated", m->qk_norm ? " on every norm incl. q/k" : "",
             r->gelu == RELP_GELU_IDENTITY ? "Identity-rule" : "activation exact", act_name[m->act], gate, attn);
    return buf;
}

/* ------------------------------------------------------------- methods */

/* in the order relp ioi prints them, AP (the ground truth) last */
static const struct relp_method_name methods[] = {
    {"atp", RELP_METHOD_GRAD, "grad", "AtP"},
    {"relp", RELP_METHOD_GRAD, "relp", "RelP"},
    {"relp-cp", RELP_METHOD_GRAD, "relp-cp", "RelP-CP"},
    {"attnlrp", RELP_METHOD_GRAD, "attnlrp", "AttnLRP"},
    {"ig", RELP_METHOD_IG, "grad", "IG"},
    {"ig-input", RELP_METHOD_IG_INPUT, "grad", "IG-input"},
    {"ap", RELP_METHOD_AP, "grad", "AP"},
};

const struct relp_method_name *relp_method_name(int32_t i) {
    return i >= 0 && (size_t)i < sizeof methods / sizeof methods[0] ? &methods[i] : NULL;
}

const struct relp_method_name *relp_method_find(const char *name) {
    for (size_t i = 0; name && i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(methods[i].name, name) == 0) return &methods[i];
    return NULL;
}

/* --------------------------------------------------------------- nodes */

static const struct relp_node_name nodes[] = {
    {"resid", RELP_NODE_RESID_PRE, "residual stream"},
    {"attn", RELP_NODE_ATTN_OUT, "attention output"},
    {"mlp", RELP_NODE_MLP_OUT, "MLP output"},
    {"head", RELP_NODE_ATTN_Z, "attention heads"},
};

const struct relp_node_name *relp_node_name(int32_t i) {
    return i >= 0 && (size_t)i < sizeof nodes / sizeof nodes[0] ? &nodes[i] : NULL;
}

const struct relp_node_name *relp_node_find(const char *name) {
    for (size_t i = 0; name && i < sizeof nodes / sizeof nodes[0]; i++)
        if (strcmp(nodes[i].name, name) == 0) return &nodes[i];
    return NULL;
}

/* -------------------------------------------------------------- dtypes */

static const char *const dtypes[] = {"f32", "f16", "bf16"};

const char *relp_dtype_name(int32_t dt) { return dt >= 0 && dt < 3 ? dtypes[dt] : NULL; }

int32_t relp_dtype_from_name(const char *name) {
    for (int32_t i = 0; name && i < 3; i++)
        if (strcmp(dtypes[i], name) == 0) return i;
    return -1;
}
