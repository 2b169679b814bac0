#include "policy/normalize.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/uspoof.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include "lib/log.h"

/* After case folding and decomposition, what happens to a code point in the
 * plain view depends on that code point alone: it is dropped, kept as it
 * is, or replaced by one ASCII byte (a space, a letter or a digit). The
 * answer costs a UTS #39 skeleton the first time, so it is cached: a table
 * for the BMP and a small direct-mapped cache for the other planes. The
 * tables are filled lazily with relaxed atomics: two threads that race
 * compute the same byte, so either store is right. */

enum {
    CLASS_UNKNOWN = 0,      /* not computed yet */
    CLASS_KEEP = 1,         /* kept as it is (UTF-8) */
    CLASS_DROP = 2,         /* dropped */
    /* any other value: the ASCII byte written instead (' ' for white space) */
};

/* Planes 1-16 hold few letters anyone types; 256 slots keep the ones a
 * message repeats. A slot packs (code point << 8) | class; 0 is empty. */
#define ASTRAL_SLOTS 256

static _Atomic unsigned char bmp_class[0x10000];
static _Atomic uint32_t astral_class[ASTRAL_SLOTS];

static const UNormalizer2 *nfkc_cf, *nfd;
static USpoofChecker *spoof;
static int init_result = -1;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static bool is_ascii_alnum(UChar32 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static unsigned char ascii_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

static bool is_mark(UChar32 c)
{
    /* Enclosing marks too: a keycap (U+20E3) around a digit is a disguise
     * for the digit, not a different character. */
    return (U_GET_GC_MASK(c) & (U_GC_MN_MASK | U_GC_ME_MASK)) != 0;
}

/* The Latin letter or digit that c looks like, or CLASS_KEEP. The skeleton
 * of a single letter is its prototype in UTS #39 confusables; marks are
 * dropped from it as they are from the text ("ø" is "o" + U+0338). Never
 * asked about ASCII: the skeleton would turn "m" into "rn" and "l" into
 * "I", which would break ordinary words. */
static unsigned char lookalike(UChar32 c)
{
    UChar in[U16_MAX_LENGTH], skel[32];
    int32_t in_len = 0;
    U16_APPEND_UNSAFE(in, in_len, c);
    UErrorCode status = U_ZERO_ERROR;
    int32_t n = uspoof_getSkeleton(spoof, 0, in, in_len, skel, 32, &status);
    if (U_FAILURE(status))
        return CLASS_KEEP;
    UChar32 base = -1;
    for (int32_t i = 0; i < n;) {
        UChar32 k;
        U16_NEXT(skel, i, n, k);
        if (is_mark(k))
            continue;
        if (base >= 0)
            return CLASS_KEEP;
        base = k;
    }
    if (!is_ascii_alnum(base))
        return CLASS_KEEP;
    return ascii_lower((unsigned char)base);
}

static inline unsigned char classify_ascii(unsigned char c)
{
    if (c > ' ' && c < 0x7f)
        return ascii_lower(c);
    if (c == ' ' || (c >= '\t' && c <= '\r'))
        return ' ';
    return CLASS_DROP;
}

/* What a code point above ASCII becomes. */
static unsigned char classify(UChar32 c)
{
    uint32_t gc = U_GET_GC_MASK(c);
    if (is_mark(c))
        return CLASS_DROP;
    if (u_isUWhiteSpace(c))
        return ' ';
    if (gc & (U_GC_CC_MASK | U_GC_CF_MASK))
        return CLASS_DROP;
    /* A decimal digit of any script is read as its value: the skeleton
     * would read Arabic-Indic one as "l" and Devanagari zero as "o", and
     * phone numbers are written in such digits to get past filters. */
    if (gc & U_GC_ND_MASK)
        return (unsigned char)('0' + u_charDigitValue(c));
    if (gc & U_GC_L_MASK)
        return lookalike(c);
    return CLASS_KEEP;
}

static unsigned char class_of(UChar32 c)
{
    if (c < 0x80)
        return classify_ascii((unsigned char)c);
    if (c < 0x10000) {
        unsigned char v = atomic_load_explicit(&bmp_class[c], memory_order_relaxed);
        if (v == CLASS_UNKNOWN) {
            v = classify(c);
            atomic_store_explicit(&bmp_class[c], v, memory_order_relaxed);
        }
        return v;
    }
    _Atomic uint32_t *slot = &astral_class[(uint32_t)c % ASTRAL_SLOTS];
    uint32_t packed = atomic_load_explicit(slot, memory_order_relaxed);
    if (packed >> 8 == (uint32_t)c)
        return (unsigned char)packed;
    unsigned char v = classify(c);
    atomic_store_explicit(slot, (uint32_t)c << 8 | v, memory_order_relaxed);
    return v;
}

/* The plain view is written one code point at a time. White space becomes
 * one space, written only before the next character, so both ends come out
 * trimmed. Characters are written as they come; the third of a run takes the
 * second back out and the rest are skipped, so a run of three or more is
 * written once. Digits are written as they are: "1000" and "0611122233" are
 * numbers, not stutters. Once a character does not fit in NORM_MAX - 1 bytes
 * nothing more is written, so a long view is the beginning of the whole one,
 * cut at a character boundary. */

struct plain_sink {
    char *buf;
    size_t len;
    bool full;
    bool gap;           /* white space since the last character */
    UChar32 last;       /* the last character, or -1 after white space */
    size_t run_n;       /* how many times in a row it came */
};

static inline void put_space(struct plain_sink *s)
{
    s->gap = s->len > 0;
    s->last = -1;
}

static inline void put_char(struct plain_sink *s, UChar32 c)
{
    if (c == s->last) {
        if (++s->run_n >= 3 && !(c >= '0' && c <= '9')) {
            if (s->run_n == 3)
                s->len -= (size_t)U8_LENGTH(c);
            return;
        }
    } else {
        s->last = c;
        s->run_n = 1;
    }
    size_t n = c < 0x80 ? 1 : (size_t)U8_LENGTH(c);
    if (s->len + s->gap + n > NORM_MAX - 1) {
        s->full = true;
        return;
    }
    /* The space is written whether or not it is due, and kept only when
     * it is: one store is cheaper than a branch taken once a word. */
    s->buf[s->len] = ' ';
    s->len += s->gap;
    s->gap = false;
    if (c < 0x80)
        s->buf[s->len++] = (char)c;
    else
        U8_APPEND_UNSAFE(s->buf, s->len, c);
}

/* Writes one byte of ASCII input. */
static inline void put_ascii(struct plain_sink *s, uint8_t b)
{
    unsigned char v = classify_ascii(b);
    if (v == ' ')
        put_space(s);
    else if (v != CLASS_DROP)
        put_char(s, v);
}

/* What one code point of case-folded, decomposed text does to the plain
 * view: nothing (EVENT_NONE), white space (' ', never a character here: a
 * space is classed as white space), or the character to write. */
#define EVENT_NONE (-1)

static inline UChar32 event_of(UChar32 c)
{
    unsigned char v = class_of(c);
    if (v == CLASS_DROP)
        return EVENT_NONE;
    return v == CLASS_KEEP ? c : v;
}

static inline void put_event(struct plain_sink *s, UChar32 event)
{
    if (event == ' ')
        put_space(s);
    else if (event != EVENT_NONE)
        put_char(s, event);
}

/* Writes one code point of case-folded, decomposed text. */
static inline void put_folded(struct plain_sink *s, UChar32 c)
{
    put_event(s, event_of(c));
}

/* The loops below work on a copy of the sink: the view is written
 * through a char pointer, which the compiler must assume may point into
 * the sink itself unless the sink is a local whose address stays here. */
static void put_units(struct plain_sink *sink, const UChar *u, int32_t n)
{
    struct plain_sink s = *sink;
    for (int32_t i = 0; i < n && !s.full;) {
        UChar32 c;
        U16_NEXT_UNSAFE(u, i, c);
        put_folded(&s, c);
    }
    *sink = s;
}

/* Text that is not all ASCII is decoded and normalised in chunks so that any
 * length of input is read with fixed stack buffers and the view is the
 * normalisation of all of it (a message padded with thousands of zero-width
 * characters hides nothing), stopping as soon as the view is full. A chunk
 * ends where the normaliser may cut without changing the result. */

/* UTF-16 units normalised per call: a typical message is one chunk. The
 * output buffers hold NORM_MAX units, four times this; text that expands
 * more (U+FDFA is 18 characters) is retried in smaller pieces. */
#define CHUNK_UNITS (NORM_MAX / 4)

/* The last index in (0, at] before which the normaliser may cut src (at is
 * inside src), or 0 when there is none. */
static int32_t last_boundary(const UChar *src, int32_t at)
{
    for (int32_t i = at; i > 0; i--) {
        if (U16_IS_TRAIL(src[i]) && U16_IS_LEAD(src[i - 1]))
            continue;
        UChar32 c;
        U16_GET_UNSAFE(src, i, c);
        if (unorm2_hasBoundaryBefore(nfkc_cf, c))
            return i;
    }
    return 0;
}

/* Where to cut src[0..n) in two for a retry: at a normalisation boundary
 * if there is one, else between two code points; n when it cannot be cut
 * (one code point). n >= 2. */
static int32_t half_of(const UChar *src, int32_t n)
{
    int32_t at = last_boundary(src, n / 2);
    if (at > 0)
        return at;
    at = n / 2;
    if (U16_IS_TRAIL(src[at]) && U16_IS_LEAD(src[at - 1]))
        at = at > 1 ? at - 1 : n;
    return at;
}

/* NFKC with case folding, then NFD, of src[0..n) into decomposed
 * (NORM_MAX units); returns its length. *status says whether it fitted
 * (U_BUFFER_OVERFLOW_ERROR when it did not) and must start U_ZERO_ERROR. */
static int32_t fold_decompose(const UChar *src, int32_t n, UChar *decomposed,
                              UErrorCode *status)
{
    UChar folded[NORM_MAX];
    int32_t f = unorm2_normalize(nfkc_cf, src, n, folded, NORM_MAX, status);
    return unorm2_normalize(nfd, folded, f, decomposed, NORM_MAX, status);
}

/* Normalises a prefix of src[0..n) into the sink; returns its length (all
 * of src unless it expanded past the buffers). */
static int32_t take_chunk(struct plain_sink *s, const UChar *src, int32_t n)
{
    UChar decomposed[NORM_MAX];
    for (;;) {
        UErrorCode status = U_ZERO_ERROR;
        int32_t d = fold_decompose(src, n, decomposed, &status);
        if (U_SUCCESS(status)) {
            put_units(s, decomposed, d);
            return n;
        }
        int32_t half = n;
        if (status == U_BUFFER_OVERFLOW_ERROR && n >= 2)
            half = half_of(src, n);
        if (half >= n) {
            /* Not expected: one code point expands to 18 units at most and
             * the input is well-formed. The rules still read the text,
             * only not normalised. */
            put_units(s, src, n);
            return n;
        }
        n = half;
    }
}

static void read_unicode(struct plain_sink *s, const uint8_t *in, size_t len)
{
    UChar src[CHUNK_UNITS];
    int32_t n = 0;
    size_t i = 0;
    while ((i < len || n > 0) && !s->full) {
        while (i < len && n <= CHUNK_UNITS - U16_MAX_LENGTH) {
            UChar32 c;
            U8_NEXT(in, i, len, c);
            if (c >= 0)
                U16_APPEND_UNSAFE(src, n, c);
        }
        int32_t end = n;
        if (i < len && n > 1) {
            int32_t at = last_boundary(src, n - 1);
            if (at > 0)
                end = at;
        }
        int32_t done = 0;
        while (done < end && !s->full)
            done += take_chunk(s, src + done, end - done);
        memmove(src, src + end, (size_t)(n - end) * sizeof *src);
        n -= end;
    }
}

/* Every byte is ASCII: no decoding, no ICU, the same result. */
static void read_ascii(struct plain_sink *sink, const uint8_t *in, size_t len)
{
    struct plain_sink s = *sink;
    for (size_t i = 0; i < len && !s.full; i++)
        put_ascii(&s, in[i]);
    *sink = s;
}

static bool all_ascii(const uint8_t *in, size_t len)
{
    uint8_t any = 0;
    for (size_t i = 0; i < len; i++)
        any |= in[i];
    return any < 0x80;
}

/* Most chat that is not ASCII is still Latin script: French "é è à ç œ",
 * "« » ’ …", no-break spaces. In text made only of such characters each one
 * gives the plain view the same events (put_event) wherever it stands, so
 * they are computed at start-up, by the ICU path itself on each code point
 * alone, and replayed: that is the table. Replaying gives what the ICU path
 * gives on the whole text because nothing there crosses from one code point
 * to the next:
 *   - NFKC with case folding: a code point goes into the table only when
 *     ICU says it has a normalisation boundary before it (nothing before it
 *     composes or reorders with it), so the text folds as each code point
 *     alone does. A combining accent has none ("e" + U+0301 composes to
 *     "é"), nor has a character that folding removes (U+00AD, U+200B, the
 *     bidi controls: removing it could bring two others together), so
 *     neither is in the table, and text holding one, as disguised text
 *     does, takes the ICU path. The case folding is full case folding,
 *     which has no context (unlike lower-casing: Greek final sigma).
 *   - NFD only reorders runs of combining marks; a code point goes into the
 *     table only when its folded, decomposed form is empty or starts with a
 *     starter (combining class 0), so no run crosses into the one before.
 *   - Classing (white space, dropped, digits, the skeleton of a letter) is
 *     done on one code point of the decomposed text at a time already.
 * Runs, spaces and the length limit are then applied by the same put_event()
 * to the same events. Any other code point, or a byte that is not UTF-8,
 * sends the whole text to the ICU path, and so does a view that fills up
 * just before such a code point, which could in principle still change the
 * last character written (none is known here: NFD undoes what would
 * compose and marks are dropped, but the argument above needs no such
 * knowledge). tests/unit/normalize_test.c holds the table path to the ICU
 * path on every table code point, alone, in context, in pairs, in random
 * text and where the view fills.
 *
 * The table holds ASCII, Latin-1 Supplement and Latin Extended-A and -B
 * (U+0000-U+024F: French and the other languages written in Latin script)
 * and General Punctuation, superscripts and subscripts and currency symbols
 * (U+2000-U+20CF: ’ “ ” … – — U+202F, €). */
#define TABLE_LATIN_END 0x250
#define TABLE_PUNCT_FIRST 0x2000
#define TABLE_PUNCT_END 0x20D0
#define TABLE_SIZE (TABLE_LATIN_END + (TABLE_PUNCT_END - TABLE_PUNCT_FIRST))
/* Events one code point may give: "…" gives "...", "⁗" four primes, the
 * most in the ranges above; a code point that gives more stays out. */
#define TABLE_EVENTS_MAX 4
#define TABLE_REFUSED UINT8_MAX

struct table_entry {
    uint8_t n;                              /* events, or TABLE_REFUSED */
    uint16_t event[TABLE_EVENTS_MAX];       /* what put_event() takes; BMP only */
};

/* Written once by normalize_init(), read-only after it. */
static struct table_entry table[TABLE_SIZE];

/* The table entry of c (c < 0 for a byte that is not UTF-8), or NULL when
 * c is not for the table path. */
static inline const struct table_entry *entry_of(UChar32 c)
{
    size_t at;
    if (c >= 0 && c < TABLE_LATIN_END)
        at = (size_t)c;
    else if (c >= TABLE_PUNCT_FIRST && c < TABLE_PUNCT_END)
        at = TABLE_LATIN_END + (size_t)(c - TABLE_PUNCT_FIRST);
    else
        return NULL;
    return table[at].n == TABLE_REFUSED ? NULL : &table[at];
}

/* Fills the entry of c by normalising c alone the way the ICU path does,
 * or leaves it TABLE_REFUSED when replaying it could differ from the ICU
 * path in some context (see above). */
static void fill_entry(UChar32 c, struct table_entry *e)
{
    e->n = TABLE_REFUSED;
    if (!unorm2_hasBoundaryBefore(nfkc_cf, c))
        return;
    UChar src[U16_MAX_LENGTH], decomposed[NORM_MAX];
    int32_t n = 0;
    U16_APPEND_UNSAFE(src, n, c);
    UErrorCode status = U_ZERO_ERROR;
    int32_t d = fold_decompose(src, n, decomposed, &status);
    if (U_FAILURE(status))
        return;
    uint8_t events = 0;
    for (int32_t i = 0; i < d;) {
        bool is_first = i == 0;
        UChar32 k;
        U16_NEXT_UNSAFE(decomposed, i, k);
        if (is_first && u_getCombiningClass(k) != 0)
            return;
        UChar32 event = event_of(k);
        if (event == EVENT_NONE)
            continue;
        if (events == TABLE_EVENTS_MAX || event > 0xFFFF)
            return;
        e->event[events++] = (uint16_t)event;
    }
    e->n = events;
}

/* Whether the ASCII entries are what read_ascii() writes: read_table()
 * reads ASCII that way, without the table, which is only sound when ICU
 * agrees (and gives ASCII the boundary before it that every table code
 * point needs). */
static bool ascii_agrees(void)
{
    for (uint8_t b = 0; b < 0x80; b++) {
        unsigned char v = classify_ascii(b);
        const struct table_entry *e = &table[b];
        if (v == CLASS_DROP ? e->n != 0 : e->n != 1 || e->event[0] != v)
            return false;
    }
    return true;
}

static void fill_table(void)
{
    for (UChar32 c = 0; c < TABLE_LATIN_END; c++)
        fill_entry(c, &table[c]);
    for (UChar32 c = TABLE_PUNCT_FIRST; c < TABLE_PUNCT_END; c++)
        fill_entry(c, &table[TABLE_LATIN_END + (c - TABLE_PUNCT_FIRST)]);
    if (ascii_agrees())
        return;
    log_error("normalize: ICU reads ASCII unlike the ASCII path; the table path is off");
    for (size_t i = 0; i < TABLE_SIZE; i++)
        table[i].n = TABLE_REFUSED;
}

/* Writes the plain view of text made of table code points only. Returns
 * false, having written part of it, at the first code point that is not,
 * for the caller to start again on the ICU path. */
static bool read_table(struct plain_sink *sink, const uint8_t *in, size_t len)
{
    struct plain_sink s = *sink;
    size_t i = 0;
    UChar32 c;
    while (i < len && !s.full) {
        if (in[i] < 0x80) {
            /* As on the ASCII path, which fill_table() made sure agrees. */
            put_ascii(&s, in[i++]);
            continue;
        }
        U8_NEXT(in, i, len, c);
        const struct table_entry *e = entry_of(c);
        if (!e)
            return false;
        for (unsigned k = 0; k < e->n && !s.full; k++)
            put_event(&s, e->event[k]);
    }
    if (i < len) {
        /* Full: what comes next must not be able to change the last code
         * point read, as a combining accent after it would. */
        U8_NEXT(in, i, len, c);
        if (!entry_of(c))
            return false;
    }
    *sink = s;
    return true;
}

/* The folded view is made from the plain one, in the order the header gives:
 * leetspeak undone in words that hold a letter, punctuation between two
 * letters dropped, one-letter words joined, runs shortened. Runs are
 * shortened while the first steps write, so before the joining as well as
 * after: "x y a.a.a" must read "xya" and not "x y a", which a second pass
 * would join, for the folded view of the folded view to be itself. The first
 * steps go word by word in one pass; the joining, a second pass, runs only
 * when there are three one-letter words to join. */

struct fold_out {
    char *buf;
    size_t len;
    char collapsed;     /* a run of it was made one: skip more of it */
};

static bool is_letter(char c)
{
    return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const char leet_letter[128] = {
    ['0'] = 'o', ['1'] = 'i', ['3'] = 'e', ['4'] = 'a', ['5'] = 's', ['7'] = 't',
    ['@'] = 'a', ['$'] = 's',
};

static char unleet(char c)
{
    unsigned char b = (unsigned char)c;
    return b < 128 && leet_letter[b] ? leet_letter[b] : c;
}

/* Appends one byte; the third of a run of one ASCII character other than
 * a digit takes the second back, as in the plain view. Bytes of other
 * characters never repeat into new runs here: plain has none, and only
 * ASCII letters are brought together. */
static inline void fold_put(struct fold_out *f, char c)
{
    if (c == f->collapsed)
        return;
    f->collapsed = 0;
    bool is_shortened = (unsigned char)c < 0x80 && !is_digit(c);
    if (is_shortened && f->len >= 2 && f->buf[f->len - 1] == c && f->buf[f->len - 2] == c) {
        f->len--;
        f->collapsed = c;
        return;
    }
    f->buf[f->len++] = c;
}

/* Whether the character at w[i] (leetspeak undone when leet) is
 * punctuation or a symbol, ASCII or not; *n gets its length in bytes. */
static bool is_punct_at(const char *w, size_t len, size_t i, bool leet, size_t *n)
{
    unsigned char b = (unsigned char)(leet ? unleet(w[i]) : w[i]);
    if (b < 0x80) {
        *n = 1;
        return b > ' ' && b < 0x7f && !is_ascii_alnum(b);
    }
    size_t j = i;
    UChar32 c;
    U8_NEXT((const uint8_t *)w, j, len, c);
    *n = j - i;
    return c >= 0 && (U_GET_GC_MASK(c) & (U_GC_P_MASK | U_GC_S_MASK)) != 0;
}

/* One word (no spaces): leetspeak undone when it holds a letter, so "15
 * ans" and phone numbers keep their digits while "sn4pch4t" reads
 * "snapchat"; every run of punctuation and symbols with a letter on both
 * sides dropped, so "s.n.a.p", "snap_chat" and "s•n•a•p" read as one word. */
static void fold_word(struct fold_out *f, const char *w, size_t len)
{
    bool leet = false;
    for (size_t i = 0; i < len && !leet; i++)
        leet = is_letter(w[i]);
    size_t i = 0;
    while (i < len) {
        size_t end = i, n = 0;
        while (end < len && is_punct_at(w, len, end, leet, &n))
            end += n;
        if (end == i) {
            end += n;           /* one character that is not punctuation */
        } else if (f->len > 0 && is_letter(f->buf[f->len - 1]) && end < len
                   && is_letter(leet ? unleet(w[end]) : w[end])) {
            i = end;
            continue;
        }
        for (; i < end; i++)
            fold_put(f, leet ? unleet(w[i]) : w[i]);
    }
}

static bool is_single_letter(const char *s, size_t len, size_t i)
{
    return is_letter(s[i]) && (i + 1 == len || s[i + 1] == ' ');
}

/* Joins three or more one-letter words in a row, in place: "s n a p"
 * reads "snap", while "il y a" keeps its two. Words are separated by
 * single spaces here (the plain view made them so). */
static size_t join_spelled(char *s, size_t len)
{
    struct fold_out f = {.buf = s};
    size_t r = 0;
    while (r < len) {
        size_t k = 0;
        while (r + 2 * k < len && is_single_letter(s, len, r + 2 * k))
            k++;
        if (k >= 3) {
            for (size_t i = 0; i < k; i++)
                fold_put(&f, s[r + 2 * i]);
            r += 2 * k - 1;
        } else {
            while (r < len && s[r] != ' ')
                fold_put(&f, s[r++]);
        }
        if (r < len)
            fold_put(&f, s[r++]);   /* the space before the next word */
    }
    return f.len;
}

/* Writes the folded view of plain[0..len) to out (at most len bytes);
 * returns its length. A word of letters only or of digits only, most words
 * of a message, has nothing to undo and is copied as it is. */
static size_t fold(const char *plain, size_t len, char *out)
{
    struct fold_out f = {.buf = out};
    unsigned singles = 0;
    size_t i = 0;
    while (i < len) {
        if (plain[i] == ' ') {
            fold_put(&f, plain[i++]);
            continue;
        }
        /* The word is copied while it is read, which costs less than a
         * memcpy() of a few bytes afterwards; fold_word() writes over the
         * copy when there is something to undo. f.len <= i: the folded
         * view is never longer than plain. */
        size_t end = i;
        bool is_letters = true, is_digits = true;
        for (; end < len && plain[end] != ' '; end++) {
            f.buf[f.len + (end - i)] = plain[end];
            is_letters &= is_letter(plain[end]);
            is_digits &= is_digit(plain[end]);
        }
        size_t n = end - i;
        if (is_letters || is_digits) {
            f.len += n;
            f.collapsed = 0;
            singles += is_letters && n == 1;
        } else {
            size_t start = f.len;
            fold_word(&f, plain + i, n);
            singles += f.len == start + 1 && is_letter(f.buf[start]);
        }
        i = end;
    }
    return singles >= 3 ? join_spelled(f.buf, f.len) : f.len;
}

static void open_icu(void)
{
    UErrorCode status = U_ZERO_ERROR;
    nfkc_cf = unorm2_getNFKCCasefoldInstance(&status);
    if (U_SUCCESS(status))
        nfd = unorm2_getNFDInstance(&status);
    if (U_SUCCESS(status))
        spoof = uspoof_open(&status);
    if (U_FAILURE(status)) {
        log_error("normalize: ICU data unavailable: %s", u_errorName(status));
        return;
    }
    fill_table();
    init_result = 0;
}

int normalize_init(void)
{
    pthread_once(&init_once, open_icu);
    return init_result;
}

/* Writes the plain view of len bytes of UTF-8 by the given path; returns
 * false, having written part of it, when that path does not take the
 * text. */
static bool read_by(enum normalize_path path, struct plain_sink *s, const uint8_t *in,
                    size_t len)
{
    assert(init_result == 0);
    if (path == NORMALIZE_BY_TABLE)
        return read_table(s, in, len);
    read_unicode(s, in, len);
    return true;
}

/* Ends the plain view at len bytes and makes the folded view from it. */
static void finish_views(struct norm_text *out, size_t len)
{
    out->plain_len = len;
    out->plain[len] = '\0';

    out->folded_len = fold(out->plain, len, out->folded);
    out->folded[out->folded_len] = '\0';
}

void normalize_text(const char *utf8, size_t len, struct norm_text *out)
{
    const uint8_t *in = (const uint8_t *)utf8;
    struct plain_sink s = {.buf = out->plain, .last = -1};
    if (all_ascii(in, len)) {
        read_ascii(&s, in, len);
    } else if (!read_by(NORMALIZE_BY_TABLE, &s, in, len)) {
        s = (struct plain_sink){.buf = out->plain, .last = -1};
        read_by(NORMALIZE_BY_ICU, &s, in, len);
    }
    finish_views(out, s.len);
}

bool normalize_text_by(enum normalize_path path, const char *utf8, size_t len,
                       struct norm_text *out)
{
    struct plain_sink s = {.buf = out->plain, .last = -1};
    if (!read_by(path, &s, (const uint8_t *)utf8, len))
        return false;
    finish_views(out, s.len);
    return true;
}
