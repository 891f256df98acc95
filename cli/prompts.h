/* prompts.h - clean/corrupted prompt pairs for the CLI: tokenizing with
 * readable errors, the single-token checks of answers, and the --prompts
 * JSON Lines reader (one {"clean", "corrupt", "answer", "wrong"} per line, or
 * Marks et al.'s {"clean_prefix", "patch_prefix", "clean_answer",
 * "patch_answer", ...}).
 * Messages go to stderr; functions return 0, or the CLI's exit code. */
#ifndef RELP_CLI_PROMPTS_H
#define RELP_CLI_PROMPTS_H

#include "relp.h"

#include <stddef.h>
#include <stdio.h>

struct batch {
    int n, T;
    int32_t *clean, *corrupt; /* (n, T) */
    int32_t *answer, *wrong;  /* (n) */
};

void batch_free(struct batch *b);
void print_tokens(FILE *f, const struct relp_model *m, const int32_t *ids, int64_t n);
int tokenize_prompt(struct relp_model *m, const char *text, int bos, const char *what, int32_t **out, int64_t *n);
int single_token(struct relp_model *m, const char *text, const char *what, int32_t *id);
/* Appends one pair to the batch (all pairs of a batch have one length). wrong NULL: a metric of the answer alone
 * (its wrong token is then the answer's). */
int add_prompt(struct relp_model *m, struct batch *b, const char *clean, const char *corrupt, const char *answer,
               const char *wrong, int bos, const char *where);
/* The JSON Lines text of a --prompts file (label: its path, for messages). */
int load_prompts_text(struct relp_model *m, const char *text, size_t size, const char *label, int bos,
                      struct batch *b);
int load_prompts_file(struct relp_model *m, const char *path, int bos, struct batch *b);
/* The circuit commands' --prompts: every line read, the pairs of the most common token length kept (ties: the
 * shortest), the number left out said on stderr. */
int load_prompts_one_length(struct relp_model *m, const char *path, int bos, struct batch *b);
/* --prompts-out: generated IOI prompts as JSON Lines, one object per prompt with the --prompts fields
 * (clean, corrupt, answer, wrong) and how it was made (dataset, index, template, order, template_text,
 * io, s, io_new, s_new, s1_new, place, object; null where not applicable). */
int write_ioi_prompts(const char *path, const char *dataset, const struct relp_ioi_prompt *p, int n);
/* relp sva --out: subject-verb agreement pairs as Marks et al.'s JSON Lines, one {"clean_prefix", "patch_prefix",
 * "clean_answer", "patch_answer", "case"} per pair; path "-": stdout. */
int write_sva_prompts(const char *path, const struct relp_sva_prompt *p, int n);

#endif
