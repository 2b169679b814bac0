/* Tests for src/policy/pattern.c: rule patterns rewritten for framed text.
 * The rewrite must mean the same on framed text as the pattern as written
 * on the text alone (but for the one documented difference), so most
 * tests run both through Vectorscan. */
#include <criterion/criterion.h>

#include <hs.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "policy/pattern.h"

#define FLAGS (HS_FLAG_SINGLEMATCH | HS_FLAG_CASELESS | HS_FLAG_DOTALL)

static void expect_frame(const char *regex, const char *expected)
{
    char *got = pattern_frame(regex);
    cr_expect_str_eq(got, expected, "%s", regex);
    free(got);
}

Test(pattern, anchors_become_the_marks)
{
    expect_frame("^foo$", "\\x01foo\\x02");
    expect_frame("\\Afoo\\z", "\\x01foo\\x02");
    expect_frame("foo\\Z", "foo\\x02");
    expect_frame("(?:^|[^0-9])1[0-7](?:[^0-9]|$)", "(?:\\x01|[^0-9])1[0-7](?:[^0-9]|\\x02)");
}

Test(pattern, class_members_and_quotes_stay_as_written)
{
    expect_frame("[$^]x", "[$^]x");
    expect_frame("[^a-z]", "[^a-z]");
    expect_frame("[]^]x", "[]^]x");
    expect_frame("[[:alpha:]^]x", "[[:alpha:]^]x");
    expect_frame("\\Qa^b$\\E$", "\\Qa^b$\\E\\x02");
    expect_frame("\\^\\$", "\\^\\$");
}

Test(pattern, a_leading_boundary_before_a_word_reads_the_character_before)
{
    expect_frame("\\bsnap\\b", "\\Wsnap\\b");
    expect_frame("foo|\\bbar", "foo|\\Wbar");
    expect_frame("(?:\\bab|\\bcd)x", "(?:\\Wab|\\Wcd)x");
    expect_frame("\\b(?:mon|ma) (?:snap|insta)\\b", "\\W(?:mon|ma) (?:snap|insta)\\b");
    expect_frame("\\b(\\w{3,})\\W+\\1", "\\W(\\w{3,})\\W+\\1");
    expect_frame("\\b[0-9]{1,5} rue", "\\W[0-9]{1,5} rue");
    expect_frame("(?:\\bfoo )?bar", "(?:\\Wfoo )?bar");
}

Test(pattern, other_boundaries_stay)
{
    /* Not in leading position: something of the pattern comes before. */
    expect_frame("x\\bfoo", "x\\bfoo");
    /* A group that repeats: the second time round it does not lead. */
    expect_frame("(?:\\bfoo )+bar", "(?:\\bfoo )+bar");
    /* What follows may start with something other than a word character. */
    expect_frame("\\b(?:ab|\\.x)", "\\b(?:ab|\\.x)");
    expect_frame("\\b[a-z]?x", "\\b[a-z]?x");
    expect_frame("\\b[^a-z]x", "\\b[^a-z]x");
    expect_frame("\\b(?=a)a", "\\b(?=a)a");
    expect_frame("\\b", "\\b");
}

Test(pattern, unfinished_text_is_copied_for_the_engine_to_refuse)
{
    expect_frame("[abc", "[abc");
    expect_frame("(\\bfoo", "(\\bfoo");
    expect_frame("foo\\", "foo\\");
}

Test(pattern, framing_puts_a_mark_on_each_side)
{
    char out[16];
    cr_assert_eq(pattern_frame_text("abc", 3, out), 3 + PATTERN_FRAME_EXTRA);
    cr_assert_eq(memcmp(out, "\x01" "abc" "\x02", 5), 0);
    cr_assert_eq(pattern_frame_text("", 0, out), PATTERN_FRAME_EXTRA);
}

/* ---- the same meaning ---- */

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ud)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    *(bool *)ud = true;
    return 1;
}

static bool hs_matches(const char *regex, const char *text, size_t len)
{
    hs_database_t *db = NULL;
    hs_compile_error_t *ce = NULL;
    if (hs_compile(regex, FLAGS, HS_MODE_BLOCK, NULL, &db, &ce) != HS_SUCCESS)
        cr_assert_fail("%s: %s", regex, ce->message);
    hs_scratch_t *scratch = NULL;
    cr_assert_eq(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
    bool matched = false;
    cr_assert_eq(hs_scan(db, text, (unsigned)len, 0, scratch, on_match, &matched) ==
                 HS_SCAN_TERMINATED || !matched, true);
    hs_free_scratch(scratch);
    hs_free_database(db);
    return matched;
}

static bool as_written(const char *regex, const char *text)
{
    return hs_matches(regex, text, strlen(text));
}

static bool framed(const char *regex, const char *text)
{
    char *rewritten = pattern_frame(regex);
    char buf[256];
    size_t len = pattern_frame_text(text, strlen(text), buf);
    bool matched = hs_matches(rewritten, buf, len);
    free(rewritten);
    return matched;
}

Test(pattern, rewritten_patterns_match_exactly_where_they_did)
{
    static const char *const regexes[] = {
        "\\bsnap\\b", "\\bsnap", "snap\\b", "^snap", "snap$", "^snap$", "\\b1[0-7] ?ans\\b",
        "\\b(?:mon|ma) (?:snap|insta)\\b", "(?:^|x)ab", "ab(?:x|$)", "\\b(\\w+) \\w+$",
        "\\b[0-9]{2}\\b", "foo|\\bbar", "(?:\\bfoo )?bar", "\\b(?:t ?as|tu as) quel age\\b",
        "^(?:salut|hello)\\b", "\\Asnap\\z", "^$|^x$",
    };
    static const char *const texts[] = {
        "", "snap", " snap", "xsnap", "snapx", "snap!", "!snap", "ma snap", "mon insta ok",
        "le snap", "snapchat", "j ai 15 ans", "15 ans", "115 ans", "15ans", "xab", "ab",
        "cab", "abx", "ab!", "foo bar", "bar", "xbar", "foobar", "foo  bar", "t as quel age",
        "tu as quel age ?", "salut toi", "salutations", "hello", "x", "12", "a 12 b", "123",
        "un deux", "_snap", "snap_", "é snap", "snap é",
    };
    for (size_t r = 0; r < sizeof regexes / sizeof *regexes; r++)
        for (size_t t = 0; t < sizeof texts / sizeof *texts; t++)
            cr_expect_eq(framed(regexes[r], texts[t]), as_written(regexes[r], texts[t]),
                         "/%s/ on \"%s\"", regexes[r], texts[t]);
}

/* The documented difference: a class without letters, digits or white
 * space also matches a mark, so it matches at the edges too. */
Test(pattern, classes_that_take_a_mark_also_match_at_the_edges)
{
    cr_assert_not(as_written("[^0-9]1[0-7]", "15 ans"));
    cr_assert(framed("[^0-9]1[0-7]", "15 ans"));
    cr_assert(framed("[^0-9]1[0-7]", "j'ai 15 ans"));
    cr_assert_not(framed("[^0-9]1[0-7]", "215 ans"));
    cr_assert_not(framed("\\s15", "15 ans"), "white space is not a mark");
}
