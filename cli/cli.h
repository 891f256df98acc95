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

/* Progress of a long method (AP sweep, IG steps) on stderr: on a terminal one line redrawn at most 5 times a
 * second; otherwise (a log file, a pipe) whole lines without carriage returns, one every 5 seconds once a run has
 * taken that long, and the last;
 * a relp_attr_params progress callback with a struct progress as its user pointer. */
struct progress {
    const char *label;
    double last;
    int shown;      /* a terminal line is open (a message first ends it) */
    int printed;    /* not a terminal: a line was written (the last one then follows) */
    double start;
};
void on_progress(void *user, int64_t done, int64_t total);
/* a context for B prompts of T tokens; 0, or 1 after a message */
int make_ctx(struct relp_model *m, int B, int T, long threads, struct relp_ctx **ctx);

/* A run's warnings (relp.h WARNINGS), copied from the core: it alone decides them and words them. */
struct warn_list {
    int n;
    uint32_t flag[8];
    char text[8][512];
};
void warn_collect(const struct relp_ctx *ctx, struct warn_list *w);
void warn_model(const struct relp_model *m, struct warn_list *w);
void warn_print(const struct warn_list *w, const char *where);   /* "relp: warning: ..." each, on stderr */
void warn_json(FILE *f, const struct warn_list *w);              /* "warnings":[{"kind":..,"text":..}] */
/* 1 if w holds this warning */
int warn_has(const struct warn_list *w, uint32_t flag);

/* An output file (--json, --png, --svg) checked before the work: "-" (stdout, where allowed) or a path that can be
 * written (its folder exists and takes files; an existing file is writable and not a folder). 0, or 2 after saying
 * which flag, the path and the system's reason. */
int check_out_path(const char *flag, const char *path, int stdout_ok);
/* the output paths of these flags among a's (--json may be "-"); 0 or 2 */
int check_out_paths(const struct args *a);
/* --metric logit_diff|logprob|logit (default logit_diff) */
int get_metric(const struct args *a, enum relp_metric_kind *kind, const char **name);
/* --scale 1..4 for --png (default 1) */
int get_scale(const struct args *a, int *scale);

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
