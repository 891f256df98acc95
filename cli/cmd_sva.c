/* cmd_sva.c - `relp sva`: subject-verb agreement prompt pairs, written as
 * Marks et al.'s JSON Lines ({"clean_prefix", "patch_prefix",
 * "clean_answer", "patch_answer", "case"}), for `relp attribute --prompts`
 * and for their own code. The pairs and their filters are the core's
 * (core/sva.c, relp_sva_generate); this file parses flags, loads the model
 * for its tokenizer, writes the file and says what was kept.
 *
 *   relp sva --model DIR --kind simple|nounpp|within_rc|rc [--n N] [--seed S] --out FILE.jsonl|- [--no-bos]
 *
 * Exit status: 0 written, 1 the model or the file failed, 2 bad usage. */
#include "cli.h"
#include "prompts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SVA_MAX 1000000

/* "simple, nounpp, within_rc or rc" (sep NULL) or "simple|nounpp|within_rc|rc", from the core's names */
void sva_kind_names(char *buf, size_t cap, const char *sep) {
    size_t o = 0;
    int n = 0;
    while (relp_sva_kind_name(n)) n++;
    buf[0] = '\0';
    for (int i = 0; i < n && o < cap; i++) {
        const char *s = i == 0 ? "" : sep ? sep : i == n - 1 ? " or " : ", ";
        int w = snprintf(buf + o, cap - o, "%s%s", s, relp_sva_kind_name(i));
        if (w < 0) break;
        o += (size_t)w;
    }
}

int cmd_sva(int argc, char **argv) {
    struct opt o[] = {{"--model", 1, NULL}, {"--kind", 1, NULL},      {"--n", 1, NULL},
                      {"--seed", 1, NULL},  {"--out", 1, NULL},       {"--no-bos", 0, NULL},
                      {"--tokenizer", 1, NULL},
                      {"--low-memory", 0, NULL}}; /* not a flag of sva: set below, for load_model */
    struct args a = {o, (int)(sizeof o / sizeof o[0]) - 1};
    long n, seed;
    char kinds[128];
    sva_kind_names(kinds, sizeof kinds, NULL);
    int rc = parse_args(argc, argv, "sva", &a);
    if (rc || (rc = get_int(&a, "--n", 1, SVA_MAX, 100, &n)) || (rc = get_int(&a, "--seed", 0, LONG_MAX, 1, &seed)))
        return rc;
    const char *kind_name = get(&a, "--kind"), *out = get(&a, "--out");
    if (!kind_name) return usage("sva: --kind is required: %s%s", kinds, "");
    int32_t kind = relp_sva_kind_from_name(kind_name);
    if (kind < 0) return usage("sva: --kind must be %s, got '%s'", kinds, kind_name);
    if (!out || !out[0]) return usage("sva: --out FILE.jsonl is required (- writes to stdout)%s%s", "", "");
    /* only the tokenizer is used: no transposed copies of the weights for a backward pass */
    o[a.n].value = "";
    a.n++;
    struct relp_model *m = NULL;
    struct relp_sva_prompt *p = NULL;
    if ((rc = load_model(&a, &m))) return rc;
    if (!relp_has_tokenizer(m)) {
        fprintf(stderr, "relp: sva: %s has no tokenizer (expected tokenizer.json, or vocab.json + merges.txt, in its "
                        "directory; or --tokenizer DIR): the pairs are filtered by its token counts\n",
                model_path(&a));
        rc = 1;
        goto done;
    }
    /* room for what can be written: never more than the kind's candidates */
    const int32_t room = n < relp_sva_n_candidates(kind) ? (int32_t)n : relp_sva_n_candidates(kind);
    p = calloc((size_t)room, sizeof *p);
    if (!p) {
        fprintf(stderr, "relp: sva: out of memory for --n %ld pairs\n", n);
        rc = 1;
        goto done;
    }
    const int bos = !get(&a, "--no-bos");
    struct relp_sva_stats st;
    if (relp_sva_generate(m, (enum relp_sva_kind)kind, room, (uint64_t)seed, bos, p, &st)) {
        fprintf(stderr, "relp: %s\n", relp_last_error(m));
        rc = 1;
        goto done;
    }
    if ((rc = write_sva_prompts(out, p, st.n_written))) goto done;
    /* the summary: what the filters kept and the length chosen, then the cases written */
    char cases[160] = "";
    for (int c = 0, o2 = 0; c < st.n_cases && o2 < (int)sizeof cases; c++) {
        struct relp_sva_prompt one;
        for (int32_t i = 0; relp_sva_candidate(kind, i, &one) == 0; i++) /* the case's name from a candidate */
            if (one.case_index == c) break;
        int w = snprintf(cases + o2, sizeof cases - (size_t)o2, "%s%s %d", c ? ", " : "", one.case_label,
                         st.per_case[c]);
        if (w < 0) break;
        o2 += w;
    }
    fprintf(stderr,
            "relp sva %s: %d candidates, %d pass the token filters (%d of %d answer verb pairs one token each), "
            "%d kept at the shortest length, %d tokens%s; wrote %d to %s (%s)\n",
            kind_name, st.n_candidates, st.n_valid, st.n_verbs_ok, st.n_verbs, st.n_kept, st.n_tokens,
            bos ? " with BOS" : "", st.n_written, out, cases);
    if (st.n_written < n)
        fprintf(stderr,
                "relp sva %s: only %d distinct pairs of %d tokens exist for this tokenizer; wrote %d, not --n %ld\n",
                kind_name, st.n_kept, st.n_tokens, st.n_written, n);
done:
    free(p);
    relp_model_free(m);
    return rc;
}
