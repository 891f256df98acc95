/* sva.c - subject-verb agreement (SVA) prompt pairs as Marks et al. (2024),
 * "Sparse Feature Circuits", build them: Finlayson et al. (2021)'s
 * structures and nouns (themselves Lakretz et al. (2019)'s), a verb set cut
 * to the pairs whose singular and plural are one token each, one noun's
 * number flipped for the patch, and the filters of their loader
 * (feature-circuits data_loading_utils.py load_examples, which circuit.py
 * calls with use_min_length_only=True):
 *   - each answer is one token (with its leading space);
 *   - the clean and the patch prefix are the same number of tokens;
 *   - prefix + answer tokenizes as the prefix's tokens then the answer's;
 *   - one token length per file: the shortest any pair has.
 * Text and tokenizer only; no forward pass. relp's own seeded generator
 * (splitmix64, as core/ioi.c): the same model and seed give the same pairs.
 *
 * What it does not reproduce: Marks et al.'s files were sampled with
 * replacement (their lines repeat) and are filtered at load time after a
 * Python shuffle; here every pair is distinct, drawn balanced over the
 * "case" (the clean prefix's numbers), and filtered when drawn. Their rc
 * files were not available to check the verbs inside the relative clause
 * against: those are Finlayson et al.'s, cut the same way (one token each
 * in this model's vocabulary).
 *
 * Sources of the word lists (checked word by word):
 *   [L] Lakretz et al. 2019, FAIRNS/Number_and_syntax_units_in_LSTM_LMs
 *       Code/generate_NA_task.pl: @nouns, @location_nouns, @noun_loc_preps
 *   [F] Finlayson et al. 2021, mattf1n/lm-intervention: vocab_utils.py (the
 *       nouns, prepositions and PP nouns of vocab/nounpp.txt, which are
 *       [L]'s), vocab/verb2.txt (the relative clause's verbs), noun2.txt
 *       (the relative clause's nouns; the copy read is Mueller et al.'s
 *       fork aaronmueller/multilingual-lm-intervention
 *       vocab/wordlists/noun2.txt)
 *   [M] Marks et al. 2024, saprmarks/feature-circuits data/simple_*.json,
 *       nounpp_*.json, within_rc_*.json: the four answer verbs, and the
 *       nouns, prepositions and PP nouns above, as they occur there */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pair {
    const char *sg, *pl;
};

/* subjects [L] [F] [M] */
#define N_NOUNS 20
static const struct pair nouns[N_NOUNS] = {
    {"athlete", "athletes"}, {"aunt", "aunts"},     {"boy", "boys"},         {"carpenter", "carpenters"},
    {"doctor", "doctors"},   {"farmer", "farmers"}, {"father", "fathers"},   {"friend", "friends"},
    {"girl", "girls"},       {"guy", "guys"},       {"kid", "kids"},         {"lawyer", "lawyers"},
    {"man", "men"},          {"mother", "mothers"}, {"poet", "poets"},       {"singer", "singers"},
    {"teacher", "teachers"}, {"uncle", "uncles"},   {"victim", "victims"},   {"woman", "women"}};

/* nounpp: the prepositions ([L]'s noun_loc_preps) and their nouns ([L]'s location_nouns) [F] [M] */
#define N_PREPS 3
static const char *const preps[N_PREPS] = {"near", "behind", "beside"};
#define N_PP_NOUNS 10
static const struct pair pp_nouns[N_PP_NOUNS] = {
    {"bike", "bikes"}, {"car", "cars"},     {"cat", "cats"},   {"chair", "chairs"},   {"desk", "desks"},
    {"dog", "dogs"},   {"table", "tables"}, {"tree", "trees"}, {"truck", "trucks"}, {"window", "windows"}};

/* the relative clause's subject, noun2.txt [F] [M] */
#define N_NOUNS2 10
static const struct pair nouns2[N_NOUNS2] = {
    {"guard", "guards"},       {"chef", "chefs"},         {"architect", "architects"}, {"skater", "skaters"},
    {"dancer", "dancers"},     {"minister", "ministers"}, {"driver", "drivers"},       {"assistant", "assistants"},
    {"executive", "executives"}, {"parent", "parents"}};

/* the answers: [M]'s verb set, every pair one token each in Pythia's vocabulary */
#define N_VERBS 4
static const struct pair verbs[N_VERBS] = {{"is", "are"}, {"has", "have"}, {"does", "do"}, {"goes", "go"}};

/* rc: the relative clause's verb, agreeing with its subject, vocab/verb2.txt [F] */
#define N_VERBS2 11
static const struct pair verbs2[N_VERBS2] = {
    {"praises", "praise"},   {"calls", "call"},       {"describes", "describe"}, {"follows", "follow"},
    {"influences", "influence"}, {"forgives", "forgive"}, {"protects", "protect"}, {"informs", "inform"},
    {"visits", "visit"},     {"likes", "like"},       {"hates", "hate"}};

static const char *const kind_names[4] = {"simple", "nounpp", "within_rc", "rc"};
static const char *const number_names[2] = {"singular", "plural"};

const char *relp_sva_kind_name(int32_t kind) { return kind >= 0 && kind < 4 ? kind_names[kind] : NULL; }

int32_t relp_sva_kind_from_name(const char *name) {
    for (int32_t k = 0; name && k < 4; k++)
        if (!strcmp(name, kind_names[k])) return k;
    return -1;
}

/* prefixes (everything but the answer verb) of a kind: the product of its slots' sizes */
static int32_t n_prefixes(int32_t kind) {
    switch (kind) {
    case RELP_SVA_SIMPLE: return N_NOUNS * 2;
    case RELP_SVA_NOUNPP: return N_NOUNS * 2 * N_PREPS * N_PP_NOUNS * 2;
    case RELP_SVA_WITHIN_RC: return N_NOUNS * 2 * N_NOUNS2 * 2;
    case RELP_SVA_RC: return N_NOUNS * 2 * N_NOUNS2 * 2 * N_VERBS2;
    }
    return -1;
}

int32_t relp_sva_n_candidates(int32_t kind) { return n_prefixes(kind) < 0 ? -1 : n_prefixes(kind) * N_VERBS; }

static int n_cases(int32_t kind) { return kind == RELP_SVA_SIMPLE ? 2 : 4; }

/* One candidate's draws. Candidate i = prefix * N_VERBS + verb; the prefix
 * index runs over the slots, the last fastest:
 *   simple     noun, number
 *   nounpp     noun, number, preposition, PP noun, its number
 *   within_rc  noun, number, noun2, its number
 *   rc         noun, number, noun2, its number, verb2 */
struct draw {
    int noun, num, prep, noun2, num2, verb2, verb;
};

static struct draw decode(int32_t kind, int32_t i) {
    struct draw d = {0, 0, 0, 0, 0, 0, 0};
    d.verb = i % N_VERBS;
    i /= N_VERBS;
    if (kind == RELP_SVA_RC) {
        d.verb2 = i % N_VERBS2;
        i /= N_VERBS2;
    }
    if (kind == RELP_SVA_NOUNPP || kind == RELP_SVA_WITHIN_RC || kind == RELP_SVA_RC) {
        d.num2 = i % 2;
        i /= 2;
        d.noun2 = i % (kind == RELP_SVA_NOUNPP ? N_PP_NOUNS : N_NOUNS2);
        i /= kind == RELP_SVA_NOUNPP ? N_PP_NOUNS : N_NOUNS2;
    }
    if (kind == RELP_SVA_NOUNPP) {
        d.prep = i % N_PREPS;
        i /= N_PREPS;
    }
    d.num = i % 2;
    d.noun = i / 2;
    return d;
}

static const char *form(const struct pair *p, int plural) { return plural ? p->pl : p->sg; }

/* The pair of a candidate: clean prefix with the draws' numbers, patch prefix
 * with the agreeing noun's number flipped (the subject; within_rc: the
 * relative clause's subject), answers the verb agreeing with each. */
static void build(int32_t kind, const struct draw *d, struct relp_sva_prompt *out) {
    memset(out, 0, sizeof *out);
    const int flip_noun2 = kind == RELP_SVA_WITHIN_RC;
    for (int patch = 0; patch < 2; patch++) {
        int num = d->num ^ (patch && !flip_noun2), num2 = d->num2 ^ (patch && flip_noun2);
        char *dst = patch ? out->patch_prefix : out->clean_prefix;
        size_t cap = sizeof out->clean_prefix;
        const char *n1 = form(&nouns[d->noun], num);
        switch (kind) {
        case RELP_SVA_SIMPLE: snprintf(dst, cap, "The %s", n1); break;
        case RELP_SVA_NOUNPP:
            snprintf(dst, cap, "The %s %s the %s", n1, preps[d->prep], form(&pp_nouns[d->noun2], num2));
            break;
        case RELP_SVA_WITHIN_RC: snprintf(dst, cap, "The %s that the %s", n1, form(&nouns2[d->noun2], num2)); break;
        default: /* rc: the relative clause's verb agrees with its subject, which the patch keeps */
            snprintf(dst, cap, "The %s that the %s %s", n1, form(&nouns2[d->noun2], num2),
                     form(&verbs2[d->verb2], num2));
        }
        int agree = flip_noun2 ? num2 : num;
        snprintf(patch ? out->patch_answer : out->clean_answer, sizeof out->clean_answer, " %s",
                 form(&verbs[d->verb], agree));
    }
    if (kind == RELP_SVA_SIMPLE) snprintf(out->case_label, sizeof out->case_label, "%s", number_names[d->num]);
    else snprintf(out->case_label, sizeof out->case_label, "%s_%s", number_names[d->num], number_names[d->num2]);
    out->case_index = kind == RELP_SVA_SIMPLE ? d->num : d->num * 2 + d->num2;
    out->n_tokens = 0;
}

/* the case group of candidate i: the clean prefix's numbers */
static int case_of(int32_t kind, int32_t i) {
    struct draw d = decode(kind, i);
    return kind == RELP_SVA_SIMPLE ? d.num : d.num * 2 + d.num2;
}

int32_t relp_sva_candidate(int32_t kind, int32_t i, struct relp_sva_prompt *out) {
    if (!out || i < 0 || i >= relp_sva_n_candidates(kind)) return -1;
    struct draw d = decode(kind, i);
    build(kind, &d, out);
    return 0;
}

/* ------------------------------------------------------------- drawing */

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void shuffle(int32_t *v, int32_t n, uint64_t *s) { /* Fisher-Yates */
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)(next(s) % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

#define MAX_IDS 160 /* a prefix + answer is under 112 bytes: at most one token per byte, + BOS */

/* ids of text; the count, or -1 (too long, or a tokenizer failure) */
static int tok(struct relp_model *m, const char *text, int bos, int32_t *ids) {
    int64_t n = 0;
    if (relp__tokenize(m->tok, text, -1, bos, ids, MAX_IDS, &n, m->error) != RELP_STATUS_OK || n > MAX_IDS) return -1;
    return (int)n;
}

/* the id of " word" when it is one token, else -1 */
static int32_t one_token(struct relp_model *m, const char *word) {
    char text[32];
    int32_t ids[MAX_IDS];
    snprintf(text, sizeof text, " %s", word);
    return tok(m, text, 0, ids) == 1 ? ids[0] : -1;
}

/* both forms one token each, and different tokens */
static int pair_ok(struct relp_model *m, const struct pair *p, int32_t id[2]) {
    id[0] = one_token(m, p->sg);
    id[1] = one_token(m, p->pl);
    return id[0] >= 0 && id[1] >= 0 && id[0] != id[1];
}

/* prefix + answer tokenizes as the prefix's ids then the answer's id (Marks et al.'s "tokenization mismatch") */
static int joins(struct relp_model *m, const char *prefix, const char *answer, const int32_t *pre_ids, int n_pre,
                 int32_t answer_id, int bos) {
    char text[MAX_IDS];
    int32_t ids[MAX_IDS];
    snprintf(text, sizeof text, "%s%s", prefix, answer);
    int n = tok(m, text, bos, ids);
    return n == n_pre + 1 && !memcmp(ids, pre_ids, sizeof(int32_t) * (size_t)n_pre) && ids[n_pre] == answer_id;
}

enum relp_status relp_sva_generate(struct relp_model *model, enum relp_sva_kind kind, int32_t n, uint64_t seed,
                                   int32_t add_bos, struct relp_sva_prompt *out, struct relp_sva_stats *stats) {
    struct relp_sva_stats st;
    memset(&st, 0, sizeof st);
    if (stats) *stats = st;
    if (!model) return RELP_STATUS_BAD_ARGUMENT;
    if (!model->tok)
        return relp__fail(model->error, RELP_STATUS_NO_TOKENIZER,
                          "relp_sva_generate: the model has no tokenizer (expected tokenizer.json, or vocab.json + "
                          "merges.txt, beside the checkpoint); the pairs are filtered by its token counts");
    if (n_prefixes((int32_t)kind) < 0)
        return relp__fail(model->error, RELP_STATUS_BAD_ARGUMENT,
                          "relp_sva_generate: kind %d is not one of 0..3 (simple, nounpp, within_rc, rc)", (int)kind);
    if (n < 0 || (n > 0 && !out))
        return relp__fail(model->error, RELP_STATUS_BAD_ARGUMENT,
                          "relp_sva_generate: n = %d with %s output array; expected n >= 0 and room for n pairs",
                          (int)n, out ? "an" : "no");
    const char *name = kind_names[kind];
    const int32_t np = n_prefixes((int32_t)kind), nc = np * N_VERBS, ncase = n_cases((int32_t)kind);
    const int bos = add_bos != 0;
    st.n_candidates = nc;
    st.n_cases = ncase;
    st.n_verbs = N_VERBS;
    /* the verb sets cut to the pairs of one token each (Marks et al.'s rule, here in this model's vocabulary) */
    int32_t verb_id[N_VERBS][2], verb2_id[N_VERBS2][2];
    int verb_ok[N_VERBS], verb2_ok[N_VERBS2], n_verbs2_ok = 0;
    for (int v = 0; v < N_VERBS; v++) st.n_verbs_ok += (verb_ok[v] = pair_ok(model, &verbs[v], verb_id[v]));
    for (int v = 0; v < N_VERBS2; v++)
        n_verbs2_ok += (verb2_ok[v] = kind != RELP_SVA_RC || pair_ok(model, &verbs2[v], verb2_id[v]));
    int32_t *len = malloc(sizeof(int32_t) * (size_t)nc), *pick = malloc(sizeof(int32_t) * (size_t)nc);
    if (!len || !pick) {
        free(len);
        free(pick);
        return relp__fail(model->error, RELP_STATUS_ALLOC_FAILED, "relp_sva_generate: out of memory");
    }
    /* each candidate's prefix length, or -1 where a filter drops it (a prefix too long for MAX_IDS is dropped,
     * not an error: the model's error text is kept as it was) */
    char saved_error[RELP_ERROR_LEN];
    memcpy(saved_error, model->error, sizeof saved_error);
    int32_t t_min = -1;
    for (int32_t p = 0; p < np; p++) {
        struct draw d = decode((int32_t)kind, p * N_VERBS);
        struct relp_sva_prompt pr;
        build((int32_t)kind, &d, &pr);
        int32_t ids_c[MAX_IDS], ids_p[MAX_IDS];
        int n_c = verb2_ok[d.verb2] ? tok(model, pr.clean_prefix, bos, ids_c) : -1;
        int n_p = n_c >= 0 ? tok(model, pr.patch_prefix, bos, ids_p) : -1;
        for (int v = 0; v < N_VERBS; v++) {
            int32_t i = p * N_VERBS + v;
            len[i] = -1;
            if (n_c < 0 || n_c != n_p || !verb_ok[v]) continue;
            d.verb = v;
            build((int32_t)kind, &d, &pr);
            int agree_c = kind == RELP_SVA_WITHIN_RC ? d.num2 : d.num;
            if (!joins(model, pr.clean_prefix, pr.clean_answer, ids_c, n_c, verb_id[v][agree_c], bos) ||
                !joins(model, pr.patch_prefix, pr.patch_answer, ids_p, n_p, verb_id[v][!agree_c], bos))
                continue;
            len[i] = n_c;
            st.n_valid++;
            if (t_min < 0 || n_c < t_min) t_min = n_c;
        }
    }
    memcpy(model->error, saved_error, sizeof saved_error);
    if (t_min < 0) {
        free(len);
        free(pick);
        if (st.n_verbs_ok == 0)
            return relp__fail(model->error, RELP_STATUS_BAD_ARGUMENT,
                              "sva %s: no pair passes Marks et al.'s filters with this tokenizer: none of the answer "
                              "verbs (' is'/' are', ' has'/' have', ' does'/' do', ' goes'/' go') is one token in "
                              "both forms", name);
        if (n_verbs2_ok == 0)
            return relp__fail(model->error, RELP_STATUS_BAD_ARGUMENT,
                              "sva %s: no pair passes Marks et al.'s filters with this tokenizer: none of the relative "
                              "clause's verbs (' praises'/' praise', ' likes'/' like', ...) is one token in both forms",
                              name);
        return relp__fail(model->error, RELP_STATUS_BAD_ARGUMENT,
                          "sva %s: no pair passes Marks et al.'s filters with this tokenizer: of %d candidates none "
                          "has clean and patch prefixes of equal token length whose answers join them token by token",
                          name, (int)nc);
    }
    st.n_tokens = t_min;
    /* the shortest prefixes only, grouped by case, each group shuffled */
    int32_t count[4] = {0, 0, 0, 0}, start[4] = {0, 0, 0, 0}, taken[4] = {0, 0, 0, 0};
    for (int32_t i = 0; i < nc; i++)
        if (len[i] == t_min) count[case_of((int32_t)kind, i)]++;
    for (int c = 0, o = 0; c < ncase; o += count[c], c++) start[c] = o;
    for (int c = 0; c < ncase; c++) st.n_kept += count[c];
    {
        int32_t fill[4];
        memcpy(fill, start, sizeof fill);
        for (int32_t i = 0; i < nc; i++)
            if (len[i] == t_min) pick[fill[case_of((int32_t)kind, i)]++] = i;
    }
    uint64_t s = seed;
    for (int c = 0; c < ncase; c++) shuffle(pick + start[c], count[c], &s);
    /* balanced: one from each case in turn (from a drawn case), skipping cases used up */
    int32_t want = n < st.n_kept ? n : st.n_kept, made = 0;
    int c0 = (int)(next(&s) % (uint64_t)ncase);
    int32_t *chosen = len; /* reused: the candidates' lengths are no longer needed */
    while (made < want)
        for (int k = 0; k < ncase && made < want; k++) {
            int c = (c0 + k) % ncase;
            if (taken[c] < count[c]) chosen[made++] = pick[start[c] + taken[c]++];
        }
    shuffle(chosen, made, &s);
    for (int32_t k = 0; k < made; k++) {
        struct draw d = decode((int32_t)kind, chosen[k]);
        build((int32_t)kind, &d, &out[k]);
        out[k].n_tokens = t_min;
        st.per_case[out[k].case_index]++;
    }
    st.n_written = made;
    free(len);
    free(pick);
    if (stats) *stats = st;
    return RELP_STATUS_OK;
}
