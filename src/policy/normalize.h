#ifndef SALON_POLICY_NORMALIZE_H
#define SALON_POLICY_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

/* Text normalisation for the rules engine (docs/rules.md, "How text is
 * read"). Rules never see what a person typed: they see two views of it,
 * built so that disguises do not work.
 *
 * plain:  Unicode NFKC with case folding (ICU; this also removes default
 *         ignorable characters such as U+200B and U+00AD), accents removed
 *         (NFD, then non-spacing and enclosing marks dropped: a keycap
 *         around a digit is the digit), decimal digits of every script read
 *         as ASCII digits, every remaining non-ASCII letter that is
 *         confusable with a Latin letter or digit replaced by it (UTS #39
 *         skeleton of that one character, marks dropped: Cyrillic "а" ->
 *         "a", Greek "ο" -> "o", "ø" -> "o"), format and control characters
 *         dropped, every run of white space made one space and the ends
 *         trimmed, runs of three or more of the same character made one
 *         ("suuuuper" -> "super"; "www" reads "w"), except digits, which
 *         stay as they are ("1000", "0611122233"). Digits and punctuation
 *         stay: ages, phone numbers, e-mail addresses and links are read
 *         here.
 * folded: plain, then leetspeak undone inside words that hold an ASCII
 *         letter (0->o 1->i 3->e 4->a 5->s 7->t @->a $->s; "15 ans" keeps
 *         its digits, "4eme" reads "aeme"), punctuation and symbols between
 *         two letters dropped ("s.n.a.p" and "snap_chat" -> "snap",
 *         "snapchat"), runs of three or more single letters separated by
 *         spaces joined ("s n a p" -> "snap"; "il y a" stays), and runs of
 *         three or more of the same character made one again. Words are
 *         read here.
 *
 * Both views are NUL-terminated ASCII except for characters with no Latin
 * look-alike (kept as UTF-8). Input of any length is read, in chunks with
 * fixed buffers on the stack (about 10 KB), until the view is full, so
 * padding hides nothing; output longer than NORM_MAX - 1 bytes is cut at a
 * character boundary.
 * Normalising the same input twice gives the same views, and normalising
 * a view again changes nothing (idempotent). */

#define NORM_MAX 2048

struct norm_text {
    size_t plain_len, folded_len;
    char plain[NORM_MAX];
    char folded[NORM_MAX];
};

/* Opens the ICU instances (once, at start-up; later calls return the first
 * answer). Returns 0, or -1 when ICU data is missing (the error is
 * logged). */
int normalize_init(void);

/* Fills out from len bytes of UTF-8 (invalid sequences are dropped).
 * Needs normalize_init() to have returned 0; safe from any thread after
 * that. */
void normalize_text(const char *utf8, size_t len, struct norm_text *out);

/* For tests/unit/normalize_test.c only: normalize_text() by one path, so
 * that the test can hold the table path (text made only of ASCII and common
 * Latin letters and punctuation, see normalize.c) to the ICU path, which
 * reads any text. Returns false, out undefined, when the path does not take
 * the text (the ICU path takes all). Same conditions as normalize_text(). */
enum normalize_path {
    NORMALIZE_BY_ICU,
    NORMALIZE_BY_TABLE,
};

bool normalize_text_by(enum normalize_path path, const char *utf8, size_t len,
                       struct norm_text *out);

#endif
