/* Tests for src/policy/normalize.c: the plain and folded views the rules
 * engine reads, through normalize_text(), and the table path held to the
 * ICU path through normalize_text_by(). */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "policy/normalize.h"
#include "test_rng.h"

static struct norm_text t;

static void setup(void)
{
    cr_assert_eq(normalize_init(), 0);
    cr_assert_eq(normalize_init(), 0, "a second call changes nothing");
}

TestSuite(normalize, .init = setup);

static const char *plain_of(const char *s)
{
    normalize_text(s, strlen(s), &t);
    cr_assert_eq(t.plain_len, strlen(t.plain));
    return t.plain;
}

static const char *folded_of(const char *s)
{
    normalize_text(s, strlen(s), &t);
    cr_assert_eq(t.folded_len, strlen(t.folded));
    return t.folded;
}

Test(normalize, disguises_of_one_word_fold_to_it)
{
    static const char *const disguised[] = {
        "Snapchat",
        "SNAPCHAT",
        "sn\xD0\xB0pchat",                      /* Cyrillic а */
        "\xEF\xBD\x93\xEF\xBD\x8E\xEF\xBD\x81\xEF\xBD\x90\xEF\xBD\x83"
        "\xEF\xBD\x88\xEF\xBD\x81\xEF\xBD\x94", /* fullwidth ｓｎａｐｃｈａｔ */
        "s.n.a.p.c.h.a.t",
        "s n a p c h a t",
        "sn4pch4t",
        "snap\xE2\x80\x8B" "chat",              /* U+200B zero width space */
        "snaaaapchat",
        "snap_chat",
        "s-n-a-p-c-h-a-t",
        "SN@PCH@T",
        "s\xE2\x80\xA2n\xE2\x80\xA2" "apchat",  /* s•n•apchat */
        "\xF0\x9D\x90\xAC" "napchat",           /* U+1D42C bold s */
    };
    for (size_t i = 0; i < sizeof disguised / sizeof *disguised; i++)
        cr_assert_str_eq(folded_of(disguised[i]), "snapchat", "input %zu: %s", i, disguised[i]);
}

Test(normalize, accents_are_removed_in_plain)
{
    cr_assert_str_eq(plain_of("\xC3\xA0 son insu"), "a son insu");                 /* à */
    cr_assert_str_eq(plain_of("\xC3\x89l\xC3\xA8ve de 4\xC3\xA8me"), "eleve de 4eme"); /* Élève, ème */
    cr_assert_str_eq(plain_of("elle s'est endormie devant la t\xC3\xA9l\xC3\xA9"),
                     "elle s'est endormie devant la tele");
    /* A combining accent typed after its letter goes the same way. */
    cr_assert_str_eq(plain_of("te\xCC\x81le\xCC\x81"), "tele");
    /* Letters with a stroke read as their base letter. */
    cr_assert_str_eq(plain_of("\xC3\xB8 \xC5\x82 \xC4\x91"), "o l d");            /* ø ł đ */
}

Test(normalize, compatibility_forms_and_case_folding)
{
    cr_assert_str_eq(plain_of("\xEF\xAC\x81"), "fi");                 /* ﬁ ligature */
    cr_assert_str_eq(plain_of("Stra\xC3\x9F" "e"), "strasse");       /* ß */
    cr_assert_str_eq(plain_of("\xE2\x91\xA0\xE2\x91\xA1"), "12");   /* ①② */
}

Test(normalize, look_alike_letters_become_latin)
{
    /* Cyrillic а е о р с х і, Greek ο ν */
    cr_assert_str_eq(plain_of("\xD0\xB0\xD0\xB5\xD0\xBE\xD1\x80\xD1\x81\xD1\x85\xD1\x96"),
                     "aeopcxi");
    cr_assert_str_eq(plain_of("\xCE\xBF\xCE\xBD"), "ov");
    /* ASCII never goes through the skeleton, which would read m as rn,
     * l as I and 0 as O. */
    cr_assert_str_eq(plain_of("mille 0 l"), "mille 0 l");
    /* Outside the BMP: Lycian S and Carian A, each twice (the second time
     * from the cache). */
    cr_assert_str_eq(plain_of("\xF0\x90\x8A\x96nap \xF0\x90\x8A\xA0"), "snap a");
    cr_assert_str_eq(plain_of("\xF0\x90\x8A\x96nap \xF0\x90\x8A\xA0"), "snap a");
    /* A letter with no Latin look-alike stays as it is. */
    cr_assert_str_eq(plain_of("\xD0\xB6"), "\xD0\xB6");              /* ж */
}

Test(normalize, digits_of_any_script_read_as_ascii_digits)
{
    /* Arabic-Indic ٠٦ and Devanagari ०६: the skeleton would say "o" or "l". */
    cr_assert_str_eq(plain_of("\xD9\xA0\xD9\xA6 \xE0\xA5\xA6\xE0\xA5\xAC"), "06 06");
    /* A keycap digit is the digit. */
    cr_assert_str_eq(plain_of("1\xEF\xB8\x8F\xE2\x83\xA3"), "1");
}

Test(normalize, digits_stay_where_no_letter_is)
{
    cr_assert_str_eq(plain_of("j'ai 15 ans"), "j'ai 15 ans");
    cr_assert_str_eq(folded_of("j'ai 15 ans"), "jai 15 ans");
    cr_assert_str_eq(folded_of("5n@p"), "snap");
    cr_assert_str_eq(folded_of("appelle le 06 12 34 56 78"), "appelle le 06 12 34 56 78");
    cr_assert_str_eq(folded_of("tel: 06.12.34.56.78 @+"), "tel: 06.12.34.56.78 @+");
    /* Runs of digits are numbers, not stutters. */
    cr_assert_str_eq(plain_of("0611122233 ou 1000"), "0611122233 ou 1000");
}

Test(normalize, runs_of_three_or_more_become_one)
{
    cr_assert_str_eq(plain_of("suuuuper"), "super");
    cr_assert_str_eq(plain_of("SuUuUper"), "super");
    cr_assert_str_eq(plain_of("elle"), "elle", "a pair is not a run");
    cr_assert_str_eq(plain_of("quoi!!!!!"), "quoi!");
    /* A run made by the folding is shortened too: "sn4444p" reads
     * "snaaaap". */
    cr_assert_str_eq(folded_of("sn4444p"), "snap");
    cr_assert_str_eq(folded_of("sn44.4.4p"), "snap");
}

Test(normalize, punctuation_between_letters_only_is_dropped)
{
    cr_assert_str_eq(folded_of("s-n-a-p"), "snap");
    cr_assert_str_eq(folded_of("s..n..a..p"), "snap");
    cr_assert_str_eq(folded_of("fin. ok?"), "fin. ok?");
    cr_assert_str_eq(plain_of("s.n.a.p"), "s.n.a.p", "plain keeps it for addresses and links");
}

Test(normalize, one_letter_words_join_from_three)
{
    cr_assert_str_eq(folded_of("a b"), "a b");
    cr_assert_str_eq(folded_of("il y a"), "il y a");
    cr_assert_str_eq(folded_of("mon s n a p"), "mon snap");
    cr_assert_str_eq(folded_of("x y a.a.a"), "xya");
}

Test(normalize, white_space_and_invisible_characters)
{
    cr_assert_str_eq(plain_of("  a \t\r\n b  "), "a b");
    /* no-break space, ideographic space, next line */
    cr_assert_str_eq(plain_of("a\xC2\xA0" "b\xE3\x80\x80" "c\xC2\x85" "d"), "a b c d");
    /* soft hyphen, zero width joiner, byte order mark, a control */
    cr_assert_str_eq(plain_of("s\xC2\xAD" "n\xE2\x80\x8D" "a\xEF\xBB\xBF" "p\x01"), "snap");
    cr_assert_str_eq(plain_of(" \xE2\x80\x8B "), "");
}

Test(normalize, invalid_utf8_is_dropped)
{
    /* a stray byte, a truncated sequence, an overlong slash, a surrogate,
     * and a sequence cut by the end of the input */
    cr_assert_str_eq(plain_of("sn\xFF" "ap\xC3" "ch\xC0\xAF" "at\xED\xA0\x80 \xE2\x82"), "snapchat");
    cr_assert_str_eq(folded_of("\x80\x80\x80"), "");
}

Test(normalize, empty_input)
{
    normalize_text("", 0, &t);
    cr_assert_eq(t.plain_len, 0);
    cr_assert_eq(t.folded_len, 0);
    cr_assert_str_eq(t.plain, "");
    cr_assert_str_eq(t.folded, "");
}

/* Fills buf with repeats of unit up to about n bytes; returns the length. */
static size_t repeat(char *buf, size_t n, const char *unit)
{
    size_t len = 0, u = strlen(unit);
    while (len + u <= n) {
        memcpy(buf + len, unit, u);
        len += u;
    }
    buf[len] = '\0';
    return len;
}

Test(normalize, long_input_is_cut_at_a_character_boundary)
{
    static char big[1 << 20];
    /* ASCII: exactly NORM_MAX - 1 bytes, no trailing space */
    size_t len = repeat(big, sizeof big - 1, "ab ");
    normalize_text(big, len, &t);
    cr_assert_leq(t.plain_len, NORM_MAX - 1);
    cr_assert_geq(t.plain_len, NORM_MAX - 3);
    cr_assert_neq(t.plain[t.plain_len - 1], ' ');
    cr_assert_eq(t.plain_len, strlen(t.plain));
    cr_assert_leq(t.folded_len, t.plain_len);

    /* "€ab": a three-byte character that cannot fit in the last two bytes */
    len = repeat(big, sizeof big - 1, "\xE2\x82\xAC" "ab");
    normalize_text(big, len, &t);
    cr_assert_leq(t.plain_len, NORM_MAX - 1);
    cr_assert_geq(t.plain_len, NORM_MAX - 5);
    cr_assert(utf8_valid(t.plain, t.plain_len), "cut inside a character");
    cr_assert(utf8_valid(t.folded, t.folded_len));
    cr_assert_eq(t.plain_len, strlen(t.plain));

    /* a character that expands 18 times (U+FDFA) */
    len = repeat(big, 200000, "\xEF\xB7\xBA");
    normalize_text(big, len, &t);
    cr_assert_leq(t.plain_len, NORM_MAX - 1);
    cr_assert_geq(t.plain_len, NORM_MAX - 64);
    cr_assert(utf8_valid(t.plain, t.plain_len));
}

Test(normalize, padding_does_not_hide_what_follows)
{
    static char big[40000];
    size_t len = repeat(big, sizeof big - 16, "\xE2\x80\x8B");   /* zero width spaces */
    memcpy(big + len, "sn4pchat", 9);
    len += 8;
    cr_assert_str_eq(folded_of(big), "snapchat");

    /* a letter under thousands of combining marks */
    big[0] = 'x';
    len = 1 + repeat(big + 1, sizeof big - 16, "\xCC\x81");     /* U+0301 */
    memcpy(big + len, " snap", 6);
    cr_assert_str_eq(plain_of(big), "x snap");
}

static const char *const samples[] = {
    "Snapchat", "sn\xD0\xB0pchat", "s.n.a.p.c.h.a.t", "s n a p c h a t", "sn4pch4t",
    "snap\xE2\x80\x8B" "chat", "\xC3\x89l\xC3\xA8ve de 4\xC3\xA8me", "j'ai 15 ans",
    "suuuuper", "\xEF\xAC\x81", "x y a.a.a", "il y a \xC3\xA0 faire", "a.a.a b c",
    "h3ll0 @ll, t'@s qu3l @g3 ?", "www.example.com", "06 11 12 22 33",
    "s\xE2\x80\xA2n\xE2\x80\xA2" "a\xE2\x80\xA2p", "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
    "c'est l'\xC3\xA9t\xC3\xA9 !!! ...", "\xD9\xA0\xD9\xA6 1\xEF\xB8\x8F\xE2\x83\xA3",
    "\xE1\xBE\xB3 \xCE\x9F\xCE\x9D\xCE\x95 \xC7\x85",   /* ᾳ ΟΝΕ ǅ */
};

Test(normalize, views_are_idempotent)
{
    static struct norm_text once, again;
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        normalize_text(samples[i], strlen(samples[i]), &once);
        normalize_text(once.plain, once.plain_len, &again);
        cr_assert_str_eq(again.plain, once.plain, "plain of %s", samples[i]);
        cr_assert_str_eq(again.folded, once.folded, "folded via plain of %s", samples[i]);
        normalize_text(once.folded, once.folded_len, &again);
        cr_assert_str_eq(again.folded, once.folded, "folded of %s", samples[i]);
        cr_assert_str_eq(again.plain, once.folded, "the folded view is plain already");
    }
}

/* The ASCII fast path must give what the Unicode path gives: a zero
 * width space, which normalisation removes, sends a copy of the same text
 * down the Unicode path. */
static void assert_same_both_ways(const char *ascii, size_t len, int case_id)
{
    static struct norm_text fast, slow;
    static char zw[128];
    cr_assert_lt(len + 6, sizeof zw);
    memcpy(zw, "\xE2\x80\x8B", 3);
    memcpy(zw + 3, ascii, len);
    memcpy(zw + 3 + len, "\xE2\x80\x8B", 3);
    normalize_text(ascii, len, &fast);
    normalize_text(zw, len + 6, &slow);
    cr_assert_str_eq(fast.plain, slow.plain, "plain, case %d", case_id);
    cr_assert_str_eq(fast.folded, slow.folded, "folded, case %d", case_id);
}

Test(normalize, ascii_fast_path_agrees_with_unicode_path)
{
    /* every ASCII byte, as a run, and next to a leet digit; case = byte */
    for (int b = 0; b < 0x80; b++) {
        char s[] = {'X', (char)b, (char)b, (char)b, 'y', ' ', '4', (char)b, 'z'};
        assert_same_both_ways(s, sizeof s, b);
    }
    static const char *const lines[] = {
        "Salut tout le monde, quelqu'un veut parler de foot ce soir ?",
        "hey ADD ME on sn4pch4t: s.n.a.p my name is xxXXxx lol!!!!",
        "  a\tb\r\nc  ",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++)
        assert_same_both_ways(lines[i], strlen(lines[i]), 0x100 + (int)i);
}

/* The table path (ASCII with common Latin letters and punctuation, no ICU
 * at run time) must give byte for byte what the ICU path gives, on every
 * text it takes. The table covers U+0000-U+024F and U+2000-U+20CF; the
 * tests below try a little more on each side. */

static const uint32_t tried_ranges[][2] = {
    {0x01, 0x380},          /* to the end of the combining marks and on */
    {0x1FF0, 0x2110},       /* all of U+2000-U+20CF, the marks after it */
};

/* Appends the UTF-8 of c to buf at *len (buf has room). */
static void put_utf8(char *buf, size_t *len, uint32_t c)
{
    if (c < 0x80) {
        buf[(*len)++] = (char)c;
    } else if (c < 0x800) {
        buf[(*len)++] = (char)(0xC0 | c >> 6);
        buf[(*len)++] = (char)(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
        buf[(*len)++] = (char)(0xE0 | c >> 12);
        buf[(*len)++] = (char)(0x80 | (c >> 6 & 0x3F));
        buf[(*len)++] = (char)(0x80 | (c & 0x3F));
    } else {
        buf[(*len)++] = (char)(0xF0 | c >> 18);
        buf[(*len)++] = (char)(0x80 | (c >> 12 & 0x3F));
        buf[(*len)++] = (char)(0x80 | (c >> 6 & 0x3F));
        buf[(*len)++] = (char)(0x80 | (c & 0x3F));
    }
}

/* Normalises s both ways and fails unless normalize_text() gives what the
 * ICU path gives and, when the table path takes s, so does it. Returns
 * whether the table path took s. what and id (a code point, two of them,
 * a case number) name the case in a failure. */
static bool agrees_with_icu(const char *s, size_t len, const char *what, uint32_t id)
{
    static struct norm_text icu, table, any;
    cr_assert(normalize_text_by(NORMALIZE_BY_ICU, s, len, &icu), "the ICU path takes all");
    normalize_text(s, len, &any);
    cr_assert_eq(any.plain_len, icu.plain_len, "plain length, %s, %04X", what, id);
    cr_assert_str_eq(any.plain, icu.plain, "plain, %s, %04X", what, id);
    cr_assert_eq(any.folded_len, icu.folded_len, "folded length, %s, %04X", what, id);
    cr_assert_str_eq(any.folded, icu.folded, "folded, %s, %04X", what, id);
    if (!normalize_text_by(NORMALIZE_BY_TABLE, s, len, &table))
        return false;
    cr_assert_eq(table.plain_len, icu.plain_len, "plain length, %s, %04X", what, id);
    cr_assert_str_eq(table.plain, icu.plain, "plain, %s, %04X", what, id);
    cr_assert_eq(table.folded_len, icu.folded_len, "folded length, %s, %04X", what, id);
    cr_assert_str_eq(table.folded, icu.folded, "folded, %s, %04X", what, id);
    return true;
}

/* Builds the text of pattern, where each '#' stands for c, and checks it. */
static bool pattern_agrees(const char *pattern, uint32_t c)
{
    char buf[256];
    size_t len = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p == '#')
            put_utf8(buf, &len, c);
        else
            buf[len++] = *p;
    }
    return agrees_with_icu(buf, len, pattern, c);
}

Test(normalize, table_path_agrees_with_icu_path_on_each_code_point)
{
    /* Alone, between letters (a final sigma would care), next to digits
     * (leetspeak), spaces, punctuation (dropped between letters), repeated
     * (runs of three), spelled out (one-letter words), next to the accents
     * and punctuation French uses most, and with a letter it could compose
     * with. */
    static const char *const patterns[] = {
        "#", "a#b", "A#B", "x#", "#y", "1#2", "4#4", "s#n4p", "# #", " # ", "a # b",
        ".#.", "a.#.b", "s#n#a#p", "##", "###", "####", "a###b", "# # # #",
        "\xC3\xA9#\xC3\xA9", "#\xE2\x80\x99" "a", "\xC2\xAB#\xC2\xBB", "e#\xE2\x80\xA6",
        "#\xC3\xA0" "1", "\xC5\x93#", "O#", "#\xC2\xA0#",
    };
    size_t tried = 0, taken = 0;
    for (size_t r = 0; r < sizeof tried_ranges / sizeof *tried_ranges; r++) {
        for (uint32_t c = tried_ranges[r][0]; c < tried_ranges[r][1]; c++) {
            for (size_t p = 0; p < sizeof patterns / sizeof *patterns; p++) {
                taken += pattern_agrees(patterns[p], c);
                tried++;
            }
        }
    }
    /* Most of these are for the table path: a table that took nothing
     * would make the comparison above say nothing. */
    cr_assert_gt(taken, tried / 2, "the table path took %zu texts of %zu", taken, tried);
}

Test(normalize, table_path_agrees_with_icu_path_on_pairs)
{
    /* Every code point tried next to every other one that is not ASCII:
     * two characters that interact (compose, reorder) would show here. */
    uint32_t cps[2048];
    size_t n = 0;
    for (size_t r = 0; r < sizeof tried_ranges / sizeof *tried_ranges; r++)
        for (uint32_t c = tried_ranges[r][0]; c < tried_ranges[r][1]; c++)
            if (c >= 0xA0)
                cps[n++] = c;
    cr_assert_leq(n, sizeof cps / sizeof *cps);
    static bool is_taken[2048];
    size_t alone = 0;
    for (size_t i = 0; i < n; i++) {
        char buf[8];
        size_t len = 0;
        put_utf8(buf, &len, cps[i]);
        is_taken[i] = agrees_with_icu(buf, len, "alone", cps[i]);
        alone += is_taken[i];
    }
    cr_assert_gt(alone, n / 2, "the table path took %zu code points of %zu", alone, n);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            char buf[16];
            size_t len = 0;
            put_utf8(buf, &len, cps[i]);
            put_utf8(buf, &len, cps[j]);
            bool taken = agrees_with_icu(buf, len, "pair", cps[i] << 16 | cps[j]);
            cr_assert_eq(taken, is_taken[i] && is_taken[j],
                         "a pair is for the table path when each one is (U+%04X U+%04X)",
                         cps[i], cps[j]);
        }
    }
}

Test(normalize, table_path_takes_french_and_nothing_it_cannot_read_alone)
{
    static struct norm_text out;
    static const char *const taken[] = {
        "\xC3\xA9\xC3\xA8\xC3\xA0\xC3\xA7\xC3\xB9\xC3\xAA\xC3\xB4\xC3\xAE\xC5\x93",  /* éèàçùêôîœ */
        "\xC3\x89l\xC3\xA8ve \xC2\xAB super \xC2\xBB",                               /* Élève « super » */
        "l\xE2\x80\x99\xC3\xA9t\xC3\xA9\xE2\x80\xA6 \xE2\x80\x93 \xE2\x80\x94",      /* l’été… – — */
        "\xE2\x80\x9C" "a\xE2\x80\x9D \xE2\x80\x98" "b\xE2\x80\x99",                 /* “a” ‘b’ */
        "10\xC2\xA0\xE2\x82\xAC ?\xE2\x80\xAF!",                                     /* 10 € ? ! */
    };
    for (size_t i = 0; i < sizeof taken / sizeof *taken; i++) {
        cr_assert(normalize_text_by(NORMALIZE_BY_TABLE, taken[i], strlen(taken[i]), &out),
                  "not taken: %s", taken[i]);
        agrees_with_icu(taken[i], strlen(taken[i]), taken[i], 0);
    }
    cr_assert_str_eq(out.plain, "10 \xE2\x82\xAC ? !");

    static const char *const refused[] = {
        "te\xCC\x81le",                 /* a combining accent composes with "e" */
        "e\xC2\xAD\xCC\x81",            /* a soft hyphen, which folding removes */
        "snap\xE2\x80\x8B" "chat",      /* a zero width space, likewise */
        "sn\xD0\xB0p",                  /* Cyrillic а */
        "\xCF\x83\xCF\x82",             /* Greek σς */
        "caf\xC3\xA9 \xE2\x98\x95",     /* café ☕ */
        "caf\xC3\xA9\xFF",              /* a byte that is not UTF-8 */
        "caf\xC3",                      /* a sequence cut short */
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        cr_assert_not(normalize_text_by(NORMALIZE_BY_TABLE, refused[i], strlen(refused[i]), &out),
                      "taken: %s", refused[i]);
        agrees_with_icu(refused[i], strlen(refused[i]), refused[i], 0);
    }
}

/* A code point for random text: mostly ASCII and table code points, now
 * and then one the table path must refuse or a byte that is not UTF-8
 * (returned as 0x110000 + byte). */
static uint32_t random_code_point(void)
{
    static const char ascii[] = "aeiousnptzAEIOUSNPT0134579@$.,'!?-_ \t\n";
    static const uint32_t latin[] = {
        0xE9, 0xE8, 0xE0, 0xE7, 0xF9, 0xEA, 0xF4, 0xEE, 0x153, 0xC9, 0xC0, 0xAB, 0xBB,
        0x2019, 0x2018, 0x201C, 0x201D, 0x2026, 0x2013, 0x2014, 0xA0, 0x202F, 0x20AC,
        0xDF, 0x130, 0x131, 0x149, 0x17F, 0x1C4, 0x1C5, 0x1F0, 0xA8, 0xB4, 0xB8, 0xBD,
        0xB2, 0xAA, 0xF8, 0x142, 0x111, 0x2070, 0x2075, 0x2044, 0x2022, 0x2028, 0x85,
    };
    static const uint32_t others[] = {
        0x300, 0x301, 0x308, 0x327, 0x338, 0x345, 0x20E3, 0xAD, 0x200B, 0x200D, 0x2060,
        0xFE0F, 0x3A3, 0x3C2, 0x3C3, 0x390, 0x430, 0x415, 0x1100, 0x1161, 0x11A8, 0xFDFA,
        0xFF41, 0x1F600, 0x2600, 0x1D42C, 0x660,
    };
    uint32_t pick = test_rng(100);
    if (pick < 55)
        return (uint8_t)ascii[test_rng(sizeof ascii - 1)];
    if (pick < 75)
        return latin[test_rng(sizeof latin / sizeof *latin)];
    if (pick < 95)
        return 0xA0 + test_rng(0x250 - 0xA0);
    if (pick < 99)
        return others[test_rng(sizeof others / sizeof *others)];
    return 0x110000 + 0x80 + test_rng(0x80);
}

Test(normalize, table_path_agrees_with_icu_path_on_random_text)
{
    size_t taken = 0, cases = 5000;
    for (size_t k = 0; k < cases; k++) {
        char buf[512];
        size_t len = 0, n = 1 + test_rng(40);
        for (size_t i = 0; i < n; i++) {
            uint32_t c = random_code_point();
            if (c >= 0x110000)
                buf[len++] = (char)(c - 0x110000);
            else
                put_utf8(buf, &len, c);
        }
        taken += agrees_with_icu(buf, len, "random case", (uint32_t)k);
    }
    /* About one code point in twenty is one the table path refuses, so
     * about two of these texts in five (20 code points on average) hold none. */
    cr_assert_gt(taken, cases / 5, "the table path took %zu of %zu", taken, cases);
}

Test(normalize, table_path_agrees_with_icu_path_where_the_view_fills)
{
    /* Texts longer than the view: the limit falls at every place in a
     * repeated unit (the prefix shifts it), inside the three characters of
     * "…" and the five of "œ½", inside runs; and the code point after the
     * one that fills the view may be one the table path refuses (a
     * combining accent changes the character before it). */
    static const char *const units[] = {
        "ab", "\xC3\xA9" "a", "a\xE2\x80\xA6", "\xC5\x93\xC2\xBD", "e\xC2\xA0",
        "\xC3\xA9\xC3\xA9\xC3\xA9z",
    };
    static const char *const followers[] = {
        "", "\xCC\x81", "\xC2\xAD", "\xD0\xB0", "\xE2\x80\xA6", "x", "\xFF",
    };
    static char big[4 * NORM_MAX];
    static struct norm_text out;
    for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
        size_t unit = strlen(units[u]), len = 0;
        for (size_t r = 0; r < 64; r++, len += unit)
            memcpy(big + len, units[u], unit);
        normalize_text(big, len, &out);
        size_t fill = (NORM_MAX - 1) * 64 / out.plain_len;
        for (size_t prefix = 0; prefix < 8; prefix++) {
            for (size_t reps = fill - 2; reps <= fill + 2; reps++) {
                for (size_t f = 0; f < sizeof followers / sizeof *followers; f++) {
                    memset(big, 'x', prefix);
                    len = prefix;
                    for (size_t r = 0; r < reps; r++, len += unit)
                        memcpy(big + len, units[u], unit);
                    size_t follower = strlen(followers[f]);
                    cr_assert_lt(len + follower, sizeof big);
                    memcpy(big + len, followers[f], follower);
                    len += follower;
                    agrees_with_icu(big, len, units[u], (uint32_t)(prefix << 16 | reps));
                }
            }
        }
    }
}
