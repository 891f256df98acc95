/* unicode.c - UTF-8 decoding, character classes and NFC (see unicode.h).
 *
 * NFC follows UAX #15 step by step: every code point is decomposed
 * canonically (recursively, Hangul syllables algorithmically), runs of
 * non-starters are put in canonical order (a stable sort by combining
 * class), and each character is composed with the last starter when it is
 * not blocked and the pair has a primary composite (Full_Composition_Exclusion
 * left out by the table generator; Hangul L+V and LV+T composed
 * algorithmically). Invalid UTF-8 bytes are starters that never combine
 * and are written back as they were. */
#include "unicode.h"

#include "unicode_tables.h"

#include <stdlib.h>
#include <string.h>

int relp__utf8_next(const unsigned char *s, int64_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) { *cp = c; return 1; }
    int len = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (len == 0 || len > n) { *cp = RELP_CP_INVALID; return 1; }
    uint32_t v = c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) { *cp = RELP_CP_INVALID; return 1; }
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xD800 && v < 0xE000))) || (len == 4 && (v < 0x10000 || v > 0x10FFFF))) {
        *cp = RELP_CP_INVALID;
        return 1;
    }
    *cp = v;
    return len;
}

static int in_table(const uint32_t (*t)[2], size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < t[mid][0]) hi = mid;
        else if (cp > t[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

enum relp_cls relp__classify(uint32_t cp) {
    if (cp < 0x80) {
        if ((cp | 32) >= 'a' && (cp | 32) <= 'z') return RELP_CLS_LETTER;
        if (cp >= '0' && cp <= '9') return RELP_CLS_NUMBER;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return RELP_CLS_SPACE;
        return RELP_CLS_OTHER;
    }
    if (cp == RELP_CP_INVALID) return RELP_CLS_OTHER;
#define IN(t) in_table(t, sizeof t / sizeof t[0], cp)
    if (IN(relp_unicode_letter)) return RELP_CLS_LETTER;
    if (IN(relp_unicode_number)) return RELP_CLS_NUMBER;
    if (IN(relp_unicode_space)) return RELP_CLS_SPACE;
#undef IN
    return RELP_CLS_OTHER;
}

/* ------------------------------------------------------------------- NFC */

#define INVALID_BYTE 0x80000000u /* | byte: an invalid byte kept as it is */
#define S_BASE 0xAC00u
#define L_BASE 0x1100u
#define V_BASE 0x1161u
#define T_BASE 0x11A7u
#define L_COUNT 19u
#define V_COUNT 21u
#define T_COUNT 28u
#define N_COUNT (V_COUNT * T_COUNT)
#define S_COUNT (L_COUNT * N_COUNT)

static int ccc_of(uint32_t cp) {
    if (cp < 0x300 || cp & INVALID_BYTE) return 0;
    size_t lo = 0, hi = sizeof relp_unicode_ccc / sizeof relp_unicode_ccc[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < relp_unicode_ccc[mid][0]) hi = mid;
        else if (cp > relp_unicode_ccc[mid][1]) lo = mid + 1;
        else return (int)relp_unicode_ccc[mid][2];
    }
    return 0;
}

static const uint32_t *decomp_of(uint32_t cp) {
    if (cp < 0xC0 || cp & INVALID_BYTE) return NULL;
    size_t lo = 0, hi = sizeof relp_unicode_decomp / sizeof relp_unicode_decomp[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < relp_unicode_decomp[mid][0]) hi = mid;
        else if (cp > relp_unicode_decomp[mid][0]) lo = mid + 1;
        else return relp_unicode_decomp[mid];
    }
    return NULL;
}

/* the primary composite of a + b, or 0 */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    if ((a | b) & INVALID_BYTE) return 0;
    size_t lo = 0, hi = sizeof relp_unicode_comp / sizeof relp_unicode_comp[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = relp_unicode_comp[mid];
        if (a < e[0] || (a == e[0] && b < e[1])) hi = mid;
        else if (a > e[0] || b > e[1]) lo = mid + 1;
        else return e[2];
    }
    return 0;
}

/* appends the full canonical decomposition of cp to buf[*n] (room for 4 more) */
static void decompose(uint32_t cp, uint32_t *buf, int64_t *n) {
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
        uint32_t s = cp - S_BASE;
        buf[(*n)++] = L_BASE + s / N_COUNT;
        buf[(*n)++] = V_BASE + (s % N_COUNT) / T_COUNT;
        if (s % T_COUNT) buf[(*n)++] = T_BASE + s % T_COUNT;
        return;
    }
    const uint32_t *d = decomp_of(cp);
    if (!d) {
        buf[(*n)++] = cp;
        return;
    }
    decompose(d[1], buf, n); /* at most 4 deep in Unicode 15 */
    if (d[2]) decompose(d[2], buf, n);
}

int64_t relp__nfc(const unsigned char *s, int64_t n, unsigned char *out) {
    int64_t i = 0;
    while (i < n && s[i] < 0x80) i++; /* ASCII is its own NFC... */
    if (i == n) {
        memcpy(out, s, (size_t)n);
        return n;
    }
    if (i > 0) i--; /* ...but the last ASCII letter may compose with what follows */
    const int64_t prefix = i;
    memcpy(out, s, (size_t)prefix);
    uint32_t *cp = malloc(sizeof(uint32_t) * (size_t)(4 * (n - i) + 4));
    if (!cp) return -1;
    int64_t m = 0;
    while (i < n) {
        uint32_t c;
        int l = relp__utf8_next(s + i, n - i, &c);
        if (c == RELP_CP_INVALID) cp[m++] = INVALID_BYTE | s[i];
        else decompose(c, cp, &m);
        i += l;
    }
    /* canonical order: a stable insertion sort of each run of non-starters */
    for (int64_t k = 1; k < m; k++) {
        int cc = ccc_of(cp[k]);
        if (!cc) continue;
        for (int64_t j = k; j > 0 && ccc_of(cp[j - 1]) > cc; j--) {
            uint32_t t = cp[j];
            cp[j] = cp[j - 1];
            cp[j - 1] = t;
        }
    }
    /* composition */
    int64_t w = 0, starter = -1;
    int last_cc = 0;
    for (int64_t k = 0; k < m; k++) {
        uint32_t c = cp[k];
        int cc = ccc_of(c);
        if (starter >= 0 && (last_cc < cc || (last_cc == 0 && w - 1 == starter))) {
            uint32_t x = compose(cp[starter], c);
            if (x) {
                cp[starter] = x;
                continue;
            }
        }
        if (cc == 0) starter = w;
        cp[w++] = c;
        last_cc = cc;
    }
    /* back to UTF-8 after the ASCII prefix */
    unsigned char *o = out + prefix;
    for (int64_t k = 0; k < w; k++) {
        uint32_t c = cp[k];
        if (c & INVALID_BYTE) *o++ = (unsigned char)(c & 0xFF);
        else if (c < 0x80) *o++ = (unsigned char)c;
        else if (c < 0x800) { *o++ = (unsigned char)(0xC0 | (c >> 6)); *o++ = (unsigned char)(0x80 | (c & 63)); }
        else if (c < 0x10000) {
            *o++ = (unsigned char)(0xE0 | (c >> 12));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 63));
            *o++ = (unsigned char)(0x80 | (c & 63));
        } else {
            *o++ = (unsigned char)(0xF0 | (c >> 18));
            *o++ = (unsigned char)(0x80 | ((c >> 12) & 63));
            *o++ = (unsigned char)(0x80 | ((c >> 6) & 63));
            *o++ = (unsigned char)(0x80 | (c & 63));
        }
    }
    free(cp);
    return (int64_t)(o - out);
}
