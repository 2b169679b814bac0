/* Tests for src/policy/normalize.c: the plain and folded views the rules
 * engine reads, through normalize_text() only. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "lib/utf8.h"
#include "policy/normalize.h"

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
