/* ioi.c - Indirect Object Identification prompts: the official RelP demo's
 * 8 prompts with its adjacent-swap corruption, and Wang et al. (2022)'s
 * distribution (BABA and ABBA templates, its names, places, objects, ABC
 * corruption), seeded. Text only: callers tokenize. Sources:
 * ../shared/relp-method.md section c; Wang et al.'s ioi_dataset.py. */
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
    }
    return 8;
}

/* Wang et al.'s NAMES as transcribed in ../shared/relp-method.md: it announces
 * 100 but lists 99 (the missing one could not be checked here), so 99. */
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

static uint64_t next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int pick(uint64_t *s, int n) { return (int)(next(s) % (uint64_t)n); }

/* The template with its first [B] -> slot1, first [A] -> slot2, second [B]
 * (S2) -> s2, cut before the final " [A]" (the answer). */
static void fill(char *out, size_t cap, const char *tpl, const char *slot1, const char *slot2, const char *s2,
                 const char *place, const char *object) {
    size_t o = 0;
    int b_seen = 0;
    const char *end = tpl + strlen(tpl) - 4;
    for (const char *p = tpl; p < end && o + 1 < cap;) {
        const char *word = NULL;
        size_t skip = 0;
        if (!strncmp(p, "[A]", 3)) word = slot2, skip = 3;
        else if (!strncmp(p, "[B]", 3)) word = b_seen++ ? s2 : slot1, skip = 3;
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

int32_t relp_ioi_wang(struct relp_ioi_prompt *out, int32_t n, uint64_t seed, uint32_t template_mask) {
    uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
    int32_t made = 0;
    if (!template_mask) template_mask = (1u << 15) - 1;
    while (made < n) {
        int t = pick(&s, 15);
        if (!(template_mask >> t & 1)) continue;
        int abba = made % 2; /* "mixed": alternate BABA and ABBA */
        int a = pick(&s, N_NAMES), b, x, y, z;
        do b = pick(&s, N_NAMES); while (b == a);
        /* ABC corruption: IO, S1 and S2 replaced by three new distinct names */
        do x = pick(&s, N_NAMES); while (x == a || x == b);
        do y = pick(&s, N_NAMES); while (y == a || y == b || y == x);
        do z = pick(&s, N_NAMES); while (z == a || z == b || z == x || z == y);
        const char *place = places[pick(&s, 8)], *object = objects[pick(&s, 8)];
        struct relp_ioi_prompt *p = &out[made++];
        /* BABA: "[B] and [A] ... [B] gave ... to"; ABBA: "[A] and [B] ... [B] gave ... to".
         * Corrupted: IO -> x, S1 -> y, S2 -> z. */
        if (abba) {
            fill(p->clean, sizeof p->clean, baba[t], names[a], names[b], names[b], place, object);
            fill(p->corrupt, sizeof p->corrupt, baba[t], names[x], names[y], names[z], place, object);
        } else {
            fill(p->clean, sizeof p->clean, baba[t], names[b], names[a], names[b], place, object);
            fill(p->corrupt, sizeof p->corrupt, baba[t], names[y], names[x], names[z], place, object);
        }
        snprintf(p->answer, sizeof p->answer, " %s", names[a]);
        snprintf(p->wrong, sizeof p->wrong, " %s", names[b]);
    }
    return made;
}
