/* cli.h - shared pieces of the relp command (cli_common.c) and its
 * commands (relp_cli.c: info, forward, tokenize, bench; cmd_attribute.c:
 * attribute, explain, ioi; cmd_paper.c: paper; cmd_sva.c: sva). */
#ifndef RELP_CLI_H
#define RELP_CLI_H

#include "relp.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct opt {
    const char *name;
    int takes_value;
    const char *value; /* NULL when absent; "" for a given flag without value */
};

struct args {
    struct opt *opts;
    int n;
};

/* prints "relp: <fmt>" and the help hint on stderr; returns 2 */
int usage(const char *fmt, const char *a, const char *b);
/* 0, or an exit status after a message */
int parse_args(int argc, char **argv, const char *cmd, struct args *a);
const char *get(const struct args *a, const char *name);
int get_int(const struct args *a, const char *name, long lo, long hi, long def, long *out);
char *read_file(const char *path, size_t *size);
enum relp_status attach_tokenizer(struct relp_model *m, const char *dir);
/* --model, or the bundled default model when it is left out; NULL if neither */
const char *model_path(const struct args *a);
/* --model DIR|SHAPE [--weights] [--tokenizer]; 0 or an exit status */
int load_model(const struct args *a, struct relp_model **out);
const char *dtype_name(enum relp_dtype d);
/* the names of one of relp.h's name tables as "a, b or c" (static storage) */
enum names_kind { NAMES_NODES, NAMES_SHAPES, NAMES_DTYPES }; /* methods and presets: method_names, preset_names */
const char *names_list(enum names_kind kind);
/* --threads when left out: every online core */
int default_threads(void);
double now_ms(void);
double peak_rss_mb(void);
void json_str(FILE *f, const char *s, int n);
void json_str_buf(char *dst, size_t cap, const char *s);
void print_piece(FILE *f, const struct relp_model *m, int id);

/* The methods by name, from the core's method table (relp_method_name, made
 * from its preset table): ap, atp, every RelP preset but "grad", ig, ig-input. */
#define METHODS_MAX 24
struct method_spec {
    const char *name;  /* "ap", "atp", "relp", ... */
    const char *title; /* for tables: "AP", "AtP", "RelP", ... */
    enum relp_method method;
    const char *rules; /* preset name */
};
int method_list(struct method_spec *out, int cap);
int find_method(const char *name, struct method_spec *out); /* 0, or -1 for an unknown name */
/* the names joined: "a, b or c" (sep NULL) or "a|b|c" (sep "|") */
void method_names(char *buf, size_t cap, const char *sep);
void preset_names(char *buf, size_t cap, const char *sep);

/* Progress of a long method (AP sweep, IG steps) on stderr, at most 5 times a second;
 * a relp_attr_params progress callback with a struct progress as its user pointer. */
struct progress {
    const char *label;
    double last;
    int shown;
};
void on_progress(void *user, int64_t done, int64_t total);
/* a context for B prompts of T tokens; 0, or 1 after a message */
int make_ctx(struct relp_model *m, int B, int T, long threads, struct relp_ctx **ctx);

int cmd_attribute(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_ioi(int argc, char **argv);
int cmd_paper(int argc, char **argv);
int cmd_features(int argc, char **argv);
int cmd_faithfulness(int argc, char **argv);
int cmd_edges(int argc, char **argv);
int cmd_sva(int argc, char **argv);
/* the SVA kinds of the core (relp_sva_kind_name) joined as method_names joins methods */
void sva_kind_names(char *buf, size_t cap, const char *sep);

#endif
