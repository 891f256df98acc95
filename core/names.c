/* names.c - the rule presets, and the names of methods, node types and
 * dtypes: the one table the CLI, the WebAssembly API (wasm/relp_wasm.c:
 * relpw_names, and the generated constants.mjs), the Python package and the
 * page read. */
#include "arch.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------- presets */

/* The rule presets: the one list of them (names, titles, rules, provenance) that
 * the CLI, the JS API and the tests read (relp_rules_presets). Provenance:
 * docs/method.md, "The official code's rules and defaults" and "Published
 * numbers" (the official code is FarnoushRJ/RelP,
 * whose LRP_rules default is LN-rule, Identity-rule, Half-rule). */
static const struct relp_preset presets[] = {
    {"grad", "gradient x input", {RELP_LN_EXACT, RELP_GELU_EXACT, RELP_ATTN_EXACT, RELP_GATE_EXACT},
     "the exact gradient: attribution patching (AtP)"},
    {"relp", "RelP", {RELP_LN_SIGMA_CONST, RELP_GELU_IDENTITY, RELP_ATTN_EXACT, RELP_GATE_HALF},
     "LN + Identity rules (+ the Half-rule on gated MLPs), attention exact: the official code's initial commit "
     "c38e291 (use_lrp on when the model is built) and its default LRP_rules, the likeliest setting of the paper's "
     "table"},
    {"relp-ln", "RelP-LN", {RELP_LN_SIGMA_CONST, RELP_GELU_EXACT, RELP_ATTN_EXACT, RELP_GATE_HALF},
     "LN rule (+ the Half-rule on gated MLPs), the activation's true gradient, attention exact: the official demo "
     "notebook at HEAD aa0e228 (it sets use_lrp after the model is built, too late for the Identity rule, which is "
     "installed at construction; the LN- and Half-rules are checked in forward)"},
    {"relp-cp", "RelP-CP", {RELP_LN_SIGMA_CONST, RELP_GELU_IDENTITY, RELP_ATTN_FROZEN, RELP_GATE_HALF},
     "LN + Identity (+ Half) rules, attention pattern frozen: the official code's AH-rule (off in its saved demo "
     "runs), LXT's CP-LRP"},
    {"attnlrp", "AttnLRP", {RELP_LN_SIGMA_CONST, RELP_GELU_IDENTITY, RELP_ATTN_ATTNLRP, RELP_GATE_HALF},
     "LN + Identity (+ Half) rules, AttnLRP's attention (1/2 on V, 1/4 on Q and K; Achtibat et al. 2024, LXT): not "
     "in the official RelP code"},
};
#define N_PRESETS (int32_t)(sizeof presets / sizeof presets[0])

const struct relp_preset *relp_rules_presets(int32_t *n_presets) {
    if (n_presets) *n_presets = N_PRESETS;
    return presets;
}

const struct relp_rules *relp_rules_preset(const char *name) {
    for (int32_t i = 0; name && i < N_PRESETS; i++)
        if (strcmp(name, presets[i].name) == 0) return &presets[i].rules;
    return NULL;
}

const char *relp_rules_describe(const struct relp_model *m, const struct relp_rules *r, char *buf, size_t cap) {
    static const char *act_name[] = {"GELU", "GELU", "SiLU"};
    const char *attn = r->attn == RELP_ATTN_FROZEN ? "attention pattern frozen"
                       : r->attn == RELP_ATTN_ATTNLRP ? "AttnLRP (v x 1/2, q and k x 1/4)"
                                                      : "attention exact";
    if (!m) { /* the rules alone, in short */
        snprintf(buf, cap, "%s, %s%s, %s", r->ln == RELP_LN_SIGMA_CONST ? "LN-rule" : "norms exact",
                 r->gelu == RELP_GELU_IDENTITY ? "Identity-rule" : "activation exact",
                 r->gate == RELP_GATE_HALF ? ", Half-rule" : "", attn);
        return buf;
    }
    const char *norm = m->rms_norm ? "RMSNorm rms" : "LayerNorm sigma";
    char gate[96];
    if (!m->gated) snprintf(gate, sizeof gate, "%s", r->gate == RELP_GATE_HALF ? "Half-rule: not applicable (no gated MLP)" : "no gated MLP");
    else snprintf(gate, sizeof gate, "%s", r->gate == RELP_GATE_HALF ? "Half-rule (gate x up)" : "gate x up exact");
    snprintf(buf, cap, "%s (%s %s)%s, %s (%s), %s, %s", r->ln == RELP_LN_SIGMA_CONST ? "LN-rule" : "norms exact", norm,
             r->ln == RELP_LN_SIGMA_CONST ? "constant" : "differentiated", m->qk_norm ? " on every norm incl. q/k" : "",
             r->gelu == RELP_GELU_IDENTITY ? "Identity-rule" : "activation exact", act_name[m->act], gate, attn);
    return buf;
}

/* ------------------------------------------------------------- methods */

/* ap, atp, every preset but "grad" (in the preset table's order), ig, ig-input */
int32_t relp_method_name(int32_t i, struct relp_method_name *out) {
    struct relp_method_name m;
    if (i == 0) m = (struct relp_method_name){"ap", RELP_METHOD_AP, "grad", "AP"};
    else if (i == 1) m = (struct relp_method_name){"atp", RELP_METHOD_GRAD, "grad", "AtP"};
    else if (i >= 2 && i < N_PRESETS + 1) /* presets[0] is "grad" (atp) */
        m = (struct relp_method_name){presets[i - 1].name, RELP_METHOD_GRAD, presets[i - 1].name, presets[i - 1].title};
    else if (i == N_PRESETS + 1) m = (struct relp_method_name){"ig", RELP_METHOD_IG, "grad", "IG"};
    else if (i == N_PRESETS + 2) m = (struct relp_method_name){"ig-input", RELP_METHOD_IG_INPUT, "grad", "IG-input"};
    else return 0;
    if (out) *out = m;
    return 1;
}

int32_t relp_method_find(const char *name, struct relp_method_name *out) {
    struct relp_method_name m;
    for (int32_t i = 0; name && relp_method_name(i, &m); i++)
        if (strcmp(m.name, name) == 0) {
            if (out) *out = m;
            return 1;
        }
    return 0;
}

/* --------------------------------------------------------------- nodes */

static const struct relp_node_name nodes[] = {
    {"resid", RELP_NODE_RESID_PRE, "residual stream (resid_pre)", 1},
    {"attn", RELP_NODE_ATTN_OUT, "attention output", 1},
    {"mlp", RELP_NODE_MLP_OUT, "MLP output", 1},
    {"head", RELP_NODE_ATTN_Z, "attention heads", 1},
    {"neuron", RELP_NODE_MLP_POST, "MLP neurons", 0},
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

/* enum relp_nodeset's order */
static const char *const nodesets[3] = {"features", "neurons", "components"};
const char *relp_nodeset_name(int32_t set) { return set >= 0 && set < 3 ? nodesets[set] : NULL; }

static const char *const fonts[2] = {"mono", "sans"}; /* enum relp_figure_font */
const char *relp_figure_font_name(int32_t font) { return font >= 0 && font < 2 ? fonts[font] : NULL; }
int32_t relp_figure_font_find(const char *name) {
    for (int32_t i = 0; name && i < 2; i++)
        if (!strcmp(name, fonts[i])) return i;
    return -1;
}

int32_t relp_dtype_from_name(const char *name) {
    for (int32_t i = 0; name && i < 3; i++)
        if (strcmp(dtypes[i], name) == 0) return i;
    return -1;
}

/* ------------------------------------------------------------- metrics */

static const struct relp_metric_name metrics[] = {
    {"logit_diff", RELP_METRIC_LOGIT_DIFF, "logit difference"},
    {"logprob", RELP_METRIC_LOGPROB, "log-probability"},
    {"logit", RELP_METRIC_LOGIT, "logit"},
};

const struct relp_metric_name *relp_metric_name(int32_t i) {
    return i >= 0 && (size_t)i < sizeof metrics / sizeof metrics[0] ? &metrics[i] : NULL;
}

const struct relp_metric_name *relp_metric_find(const char *name) {
    for (size_t i = 0; name && i < sizeof metrics / sizeof metrics[0]; i++)
        if (strcmp(metrics[i].name, name) == 0) return &metrics[i];
    return NULL;
}

/* ------------------------------------------------------------ warnings */

/* The warnings' names and words (relp.h WARNINGS), in flag order. The sentences are printf formats that
 * core/warnings.c fills in; strings arrive quoted (JSON.stringify's form), numbers as JavaScript's toFixed(3)
 * writes them, so that the page, the CLI and Python show the same text. */
static const struct {
    struct relp_warning_name n;
    const char *format;
} warnings[] = {
    {{RELP_WARNING_NOT_PREDICTED, "not_predicted", "answer not predicted"},
     /* top token, its p, the answer, its p, its rank */
     "the model does not predict the answer on the clean prompt: its top token is %s (p = %s), while %s has p = %s, "
     "rank %d. The map explains a prediction the model does not make"},
    {{RELP_WARNING_GAP_NEGATIVE, "gap_negative", "negative gap"},
     /* the metric's title, the gap */
     "the %s is not larger on the clean prompt than on the corrupted one (gap %s): \"share restored\" has no "
     "meaning here"},
    {{RELP_WARNING_GAP_ZERO, "gap_zero", "no gap: metric units"},
     /* the metric's value (%g) */
     "the metric is the same on the clean and the corrupted prompts (%s); the normalised metric is undefined, so "
     "scores are in metric units"},
    {{RELP_WARNING_GAP_SMALL, "gap_small", "small gap"},
     /* the metric's title, the gap, RELP_MIN_GAP */
     "the clean - corrupted gap of the %s is %s, below %g: too small to normalise by, so the shares are unstable"},
    {{RELP_WARNING_ANSWER_SPACE, "answer_space", "answer without its leading space"},
     /* "the answer" or "the wrong token", the token, the token with its space */
     "%s %s has no leading space though the prompt ends without one; after a word the model writes %s, with the "
     "space, as one token, so the metric reads a token it seldom writes there"},
    {{RELP_WARNING_NOISING, "noising", "noising"},
     "noising: each score is the change when one node of the clean run takes its corrupted value, as a share of "
     "the clean - corrupted gap (0: no change, -1: the whole gap lost)"},
    {{RELP_WARNING_NON_FINITE_WEIGHTS, "non_finite_weights", "NaN or Inf weights"},
     /* the count, the first tensor, its file */
     "%lld weights are NaN or Inf (the first in tensor '%s' of %s); every output will be NaN"},
};
#define N_WARNINGS (int32_t)(sizeof warnings / sizeof warnings[0])

const struct relp_warning_name *relp_warning_name(int32_t i) { return i >= 0 && i < N_WARNINGS ? &warnings[i].n : NULL; }

const char *relp__warning_format(uint32_t flag) {
    for (int32_t i = 0; i < N_WARNINGS; i++)
        if (warnings[i].n.flag == flag) return warnings[i].format;
    return "%s";
}
