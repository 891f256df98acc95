/* unicode.h - what the tokenizers need of Unicode (core/unicode.c, tables
 * generated from Debian's unicode-data by tools/gen_unicode_tables.py):
 * UTF-8 decoding that never fails, the character classes of the
 * pre-tokenizer patterns, and NFC normalization. Internal. */
#ifndef RELP_UNICODE_H
#define RELP_UNICODE_H

#include <stdint.h>

#define RELP_CP_INVALID 0xFFFFFFFFu

/* One code point at s[0..n): its length, or 1 with *cp = RELP_CP_INVALID
 * for a byte that does not start a valid UTF-8 sequence. */
int relp__utf8_next(const unsigned char *s, int64_t n, uint32_t *cp);

/* \p{L}, \p{N}, \s (White_Space), anything else (invalid bytes included) */
enum relp_cls { RELP_CLS_LETTER, RELP_CLS_NUMBER, RELP_CLS_SPACE, RELP_CLS_OTHER };
enum relp_cls relp__classify(uint32_t cp);

/* NFC (UAX #15: canonical decomposition, reordering, composition) of
 * s[0..n) into out, which must hold 3 n + 4 bytes (NFC never grows UTF-8
 * text more than threefold). Bytes that are not valid UTF-8 pass through
 * unchanged. Returns the bytes written, or -1 when out of memory. */
int64_t relp__nfc(const unsigned char *s, int64_t n, unsigned char *out);

#endif
