/* ioi.c - Indirect Object Identification prompts: the official RelP demo's
 * 8 prompts with its adjacent-swap corruption, and Wang et al. (2022)'s
 * distribution as the ACDC / Redwood code generates it (IOIDataset with
 * prompt_type "mixed", then its ABC corruption), seeded. Text only: callers
 * tokenize. Written from the rules, not translated: the names, places,
 * objects and templates were checked against
 * ArthurConmy/Automatic-Circuit-Discovery acdc/ioi/ioi_dataset.py (commit
 * f27ab0c), a lightly edited copy of Redwood's Easy-Transformer
 * ioi_dataset.py. What it does not reproduce: Python's and numpy's random
 * streams (relp has its own seeded generator), so the same seed gives other
 * prompts than the Python code, drawn the same way. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *demo[8][3] = {
    {"When John and Mary went to the shops, John gave the bag to", " Mary", " John"},
    {"When John and Mary went to the shops, Mary gave the bag to", " John", " Mary"},
    {"When Tom and James went to the park, James gave the ball to", " Tom", " James"},
    {"When Tom and James went to the park, Tom gave the ball to", " James", " Tom"},
    {"When Dan and Sid went to the shops, Sid gave an apple to", " Dan", " Sid"},
    {"When Dan and Sid went to the shops, Dan gave an apple to", " Sid", " Dan"},
    {"After Martin and Amy went to the park, Amy gave a drink to", " Martin", " Amy"},
    {"After Martin and Amy went to the park, Martin gave a drink to", " Amy", " Martin"},
};

int32_t relp_ioi_demo(struct relp_ioi_prompt *out, int32_t cap) {
    for (int i = 0; i < 8 && i < cap; i++) {
        snprintf(out[i].clean, sizeof out[i].clean, "%s", demo[i][0]);
        snprintf(out[i].corrupt, sizeof out[i].corrupt, "%s", demo[i ^ 1][0]); /* clean_tokens[[1,0,3,2,5,4,7,6]] */
        snprintf(out[i].answer, sizeof out[i].answer, "%s", demo[i][1]);
        snprintf(out[i].wrong, sizeof out[i].wrong, "%s", demo[i][2]);
        out[i].template_index = -1;
        snprintf(out[i].io, sizeof out[i].io, "%s", demo[i][1] + 1);
        snprintf(out[i].s, sizeof out[i].s, "%s", demo[i][2] + 1);
        /* "When John and Mary ..., John gave the bag to" -> " Mary": BABA; "..., Mary gave ..." -> " John": ABBA */
        out[i].abba = strstr(demo[i][0], out[i].io) < strstr(demo[i][0], out[i].s);
        out[i].io_new[0] = out[i].s_new[0] = out[i].s1_new[0] = out[i].place[0] = out[i].object[0] = '\0';
    }
    return 8;
}

/* Wang et al.'s NAMES: 99 entries in ioi_dataset.py (the "100 names" often
 * quoted is folklore), checked name by name against that file. */
#define N_NAMES 99
static const char *names[N_NAMES] = {
    "Michael", "Christopher", "Jessica", "Matthew", "Ashley", "Jennifer", "Joshua", "Amanda", "Daniel", "David",
    "James", "Robert", "John", "Joseph", "Andrew", "Ryan", "Brandon", "Jason", "Justin", "Sarah",
    "William", "Jonathan", "Stephanie", "Brian", "Nicole", "Nicholas", "Anthony", "Heather", "Eric", "Elizabeth",
    "Adam", "Megan", "Melissa", "Kevin", "Steven", "Thomas", "Timothy", "Christina", "Kyle", "Rachel",
    "Laura", "Lauren", "Amber", "Brittany", "Danielle", "Richard", "Kimberly", "Jeffrey", "Amy", "Crystal",
    "Michelle", "Tiffany", "Jeremy", "Benjamin", "Mark", "Emily", "Aaron", "Charles", "Rebecca", "Jacob",
    "Stephen", "Patrick", "Sean", "Erin", "Jamie", "Kelly", "Samantha", "Nathan", "Sara", "Dustin",
    "Paul", "Angela", "Tyler", "Scott", "Katherine", "Andrea", "Gregory", "Erica", "Mary", "Travis",
    "Lisa", "Kenneth", "Bryan", "Lindsey", "Kristen", "Jose", "Alexander", "Jesse", "Katie", "Lindsay",
    "Shannon", "Vanessa", "Courtney", "Christine", "Alicia", "Cody", "Allison", "Bradley", "Samuel"};

static const char *places[8] = {"store", "garden", "restaurant", "school", "hospital", "office", "house", "station"};
static const char *objects[8] = {"ring", "kiss", "bone", "basketball", "computer", "necklace", "drink", "snack"};

/* BABA templates; [A] = IO, [B] = S. The final " [A]" is the answer and is cut. */
static const char *baba[15] = {
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
};

int32_t relp_ioi_n_templates(void) { return 15; }
int32_t relp_ioi_n_names(void) { return N_NAMES; }
const char *relp_ioi_name(int32_t i) { return i >= 0 && i < N_NAMES ? names[i] : NULL; }

/* ABBA form of a BABA template, as ioi_dataset.py derives ABBA_TEMPLATES:
 * every [B] before the first [A] becomes [A], and that first [A] becomes [B]. */
int32_t relp_ioi_template(int32_t t, int32_t abba, char *out, int32_t cap) {
    if (t < 0 || t >= 15 || !out || cap <= 0) return -1;
    const char *tpl = baba[t];
    int32_t n = (int32_t)strlen(tpl);
    if (n >= cap) return -1;
    memcpy(out, tpl, (size_t)n + 1);
    for (char *p = out; abba && (p = strchr(p, '[')) != NULL; p++) {
        if (!strncmp(p, "[B]", 3)) p[1] = 'A';
        else if (!strncmp(p, "[A]", 3)) {
            p[1] = 'B';
            break;
        }
    }
    return n;
}

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int pick(uint64_t *s, int n) { return (int)(next(s) % (uint64_t)n); }

/* ------------------------------------------------------- words of a prompt */

#define MAX_WORDS 48

/* A prompt as space-separated words; a word is a slice of the filled
 * template, or a name that replaced one. */
struct words {
    int n;
    const char *w[MAX_WORDS];
    size_t len[MAX_WORDS];
};

static void split(struct words *ws, const char *text) {
    ws->n = 0;
    for (const char *p = text; ws->n < MAX_WORDS;) {
        const char *e = strchr(p, ' ');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        ws->w[ws->n] = p;
        ws->len[ws->n++] = len;
        if (!e) break;
        p = e + 1;
    }
}

static int is_word(const struct words *ws, int i, const char *name) {
    return ws->len[i] == strlen(name) && !strncmp(ws->w[i], name, ws->len[i]);
}

static int first_word(const struct words *ws, const char *name) {
    for (int i = 0; i < ws->n; i++)
        if (is_word(ws, i, name)) return i;
    return -1;
}

static int last_word(const struct words *ws, const char *name) {
    for (int i = ws->n - 1; i >= 0; i--)
        if (is_word(ws, i, name)) return i;
    return -1;
}

static void set_word(struct words *ws, int i, const char *name) {
    if (i < 0) return; /* cannot happen: every name replaced is in the prompt */
    ws->w[i] = name;
    ws->len[i] = strlen(name);
}

/* The words joined by spaces, without the last one (the answer: " IO"). */
static void join_but_last(char *out, size_t cap, const struct words *ws) {
    size_t o = 0;
    for (int i = 0; i + 1 < ws->n && o + 1 < cap; i++) {
        size_t n = ws->len[i] + (i > 0);
        if (o + n >= cap) break;
        if (i > 0) out[o++] = ' ';
        memcpy(out + o, ws->w[i], ws->len[i]);
        o += ws->len[i];
    }
    out[o] = '\0';
}

/* tpl with every [A], [B], [PLACE], [OBJECT] substituted */
static void fill(char *out, size_t cap, const char *tpl, const char *A, const char *B, const char *place,
                 const char *object) {
    size_t o = 0;
    for (const char *p = tpl; *p && o + 1 < cap;) {
        const char *word = NULL;
        size_t skip = 0;
        if (!strncmp(p, "[A]", 3)) word = A, skip = 3;
        else if (!strncmp(p, "[B]", 3)) word = B, skip = 3;
        else if (!strncmp(p, "[PLACE]", 7)) word = place, skip = 7;
        else if (!strncmp(p, "[OBJECT]", 8)) word = object, skip = 8;
        if (!word) {
            out[o++] = *p++;
            continue;
        }
        size_t w = strlen(word);
        if (o + w >= cap) break;
        memcpy(out + o, word, w);
        o += w;
        p += skip;
    }
    out[o] = '\0';
}

/* ------------------------------------------------------ Wang et al.'s set */

/* IOIDataset(prompt_type="mixed") and its ABC corruption, per prompt:
 *  - the template: uniformly one of the selected BABA templates and their
 *    ABBA forms (default: the first 15 // 2 = 7 of each, 14 in all, as
 *    "mixed" with nb_templates=None takes BABA[:7] + ABBA[:7]);
 *  - names: IO, S and a third name drawn until all three differ (the third
 *    is unused, as in gen_prompt_uniform); then [PLACE] and [OBJECT];
 *    text = template with every [A] -> IO and every [B] -> S;
 *  - ABC corruption, gen_flipped_prompts on space-separated words:
 *    (IO, RAND): a name other than IO and S replaces IO's first two
 *    occurrences (the first clause and the answer); (S, RAND): any name
 *    replaces S's first and last occurrences (S1 and S2) and becomes S;
 *    (S1, RAND): any name replaces the first occurrence of the current S.
 * The final word (the answer " IO"; " IO_new" in the corrupted text) is cut.
 * Four independent streams as the Python code seeds one per step. */
int32_t relp_ioi_wang(struct relp_ioi_prompt *out, int32_t n, uint64_t seed, uint32_t template_mask) {
    uint64_t gen = seed * 0x2545F4914F6CDD1Dull + 1, flip_io = gen ^ 0x1111111111111111ull,
             flip_s = gen ^ 0x2222222222222222ull, flip_s1 = gen ^ 0x3333333333333333ull;
    int sel[15], k = 0;
    if (!(template_mask & 0x7FFFu)) template_mask = (1u << (15 / 2)) - 1; /* "mixed": BABA[:7] + ABBA[:7] */
    for (int t = 0; t < 15; t++)
        if (template_mask >> t & 1) sel[k++] = t;
    for (int32_t made = 0; made < n; made++) {
        struct relp_ioi_prompt *p = &out[made];
        memset(p, 0, sizeof *p);
        int c = pick(&gen, 2 * k);
        p->template_index = sel[c % k];
        p->abba = c >= k;
        int a, b, x;
        do {
            a = pick(&gen, N_NAMES);
            b = pick(&gen, N_NAMES);
            x = pick(&gen, N_NAMES);
        } while (a == b || a == x || b == x);
        const char *io = names[a], *s = names[b];
        const char *place = places[pick(&gen, 8)], *object = objects[pick(&gen, 8)];
        char tpl[256], text[256];
        relp_ioi_template(p->template_index, p->abba, tpl, sizeof tpl);
        fill(text, sizeof text, tpl, io, s, place, object);
        struct words ws;
        split(&ws, text);
        join_but_last(p->clean, sizeof p->clean, &ws);
        /* (IO, RAND) */
        const char *io_new;
        do io_new = names[pick(&flip_io, N_NAMES)];
        while (io_new == io || io_new == s);
        set_word(&ws, first_word(&ws, io), io_new);
        set_word(&ws, first_word(&ws, io), io_new);
        /* (S, RAND): S1 and S2 */
        const char *s_new = names[pick(&flip_s, N_NAMES)];
        set_word(&ws, first_word(&ws, s), s_new);
        set_word(&ws, last_word(&ws, s), s_new);
        /* (S1, RAND): the first occurrence of the current S */
        const char *s1_new = names[pick(&flip_s1, N_NAMES)];
        set_word(&ws, first_word(&ws, s_new), s1_new);
        join_but_last(p->corrupt, sizeof p->corrupt, &ws);
        snprintf(p->answer, sizeof p->answer, " %s", io);
        snprintf(p->wrong, sizeof p->wrong, " %s", s);
        snprintf(p->io, sizeof p->io, "%s", io);
        snprintf(p->s, sizeof p->s, "%s", s);
        snprintf(p->io_new, sizeof p->io_new, "%s", io_new);
        snprintf(p->s_new, sizeof p->s_new, "%s", s_new);
        snprintf(p->s1_new, sizeof p->s1_new, "%s", s1_new);
        snprintf(p->place, sizeof p->place, "%s", place);
        snprintf(p->object, sizeof p->object, "%s", object);
    }
    return n;
}
