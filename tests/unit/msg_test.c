/* Tests for irc/msg.c: the IRC line parser and serialiser. Parser cases
 * follow the ircdocs parser-tests (msg-split) and the IRCv3 message-tags
 * spec; limits are tested exactly at and one past each bound. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "irc/msg.h"
#include "test_rng.h"

/* A writable copy of a test line with the spare byte irc_parse may write. */
static char linebuf[8192];

static enum sl_err parse_n(const char *s, size_t len, struct irc_msg *m)
{
    cr_assert(len < sizeof linebuf);
    memcpy(linebuf, s, len);
    linebuf[len] = 'X';     /* the parser must not need it to be NUL */
    return irc_parse(linebuf, len, m);
}

static enum sl_err parse(const char *s, struct irc_msg *m)
{
    return parse_n(s, strlen(s), m);
}

static const char *tag(const struct irc_msg *m, const char *key)
{
    for (size_t i = 0; i < m->ntags; i++)
        if (strcmp(m->tags[i].key, key) == 0)
            return m->tags[i].value;
    return NULL;
}

static void expect_params(const struct irc_msg *m, size_t n,
                          const char *const *want)
{
    cr_assert_eq(m->nparams, n, "nparams %zu, want %zu", m->nparams, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(m->params[i], want[i], "param %zu", i);
}

#define PARAMS(m, ...) do { \
        const char *const want_[] = {__VA_ARGS__}; \
        expect_params((m), sizeof want_ / sizeof want_[0], want_); \
    } while (0)

/* ---- parser: shapes of a line ---- */

Test(parse, simple)
{
    struct irc_msg m;
    cr_assert_eq(parse("foo bar baz asdf", &m), SL_OK);
    cr_assert_null(m.source);
    cr_assert_eq(m.ntags, 0);
    cr_assert_str_eq(m.command, "foo");
    PARAMS(&m, "bar", "baz", "asdf");
}

Test(parse, command_only)
{
    struct irc_msg m;
    cr_assert_eq(parse("COMMAND", &m), SL_OK);
    cr_assert_str_eq(m.command, "COMMAND");
    cr_assert_eq(m.nparams, 0);
    cr_assert_null(m.source);
}

Test(parse, source)
{
    struct irc_msg m;
    cr_assert_eq(parse(":coolguy foo bar baz asdf", &m), SL_OK);
    cr_assert_str_eq(m.source, "coolguy");
    cr_assert_str_eq(m.command, "foo");
    PARAMS(&m, "bar", "baz", "asdf");
}

Test(parse, full_source_and_numeric)
{
    struct irc_msg m;
    cr_assert_eq(parse(":irc.example.com 001 nick :Welcome to the network",
                       &m), SL_OK);
    cr_assert_str_eq(m.source, "irc.example.com");
    cr_assert_str_eq(m.command, "001");
    PARAMS(&m, "nick", "Welcome to the network");

    cr_assert_eq(parse(":n!~u@host.example PRIVMSG #room :hi", &m), SL_OK);
    cr_assert_str_eq(m.source, "n!~u@host.example");
}

Test(parse, trailing_forms)
{
    struct irc_msg m;
    cr_assert_eq(parse("foo bar baz :asdf quux", &m), SL_OK);
    PARAMS(&m, "bar", "baz", "asdf quux");
    cr_assert_eq(parse("foo bar baz :", &m), SL_OK);
    PARAMS(&m, "bar", "baz", "");
    cr_assert_eq(parse("foo bar baz ::asdf", &m), SL_OK);
    PARAMS(&m, "bar", "baz", ":asdf");
    cr_assert_eq(parse(":coolguy foo bar baz :  asdf quux ", &m), SL_OK);
    PARAMS(&m, "bar", "baz", "  asdf quux ");
    cr_assert_eq(parse(":coolguy PRIVMSG bar :lol :) ", &m), SL_OK);
    PARAMS(&m, "bar", "lol :) ");
    cr_assert_eq(parse(":coolguy foo bar baz :  ", &m), SL_OK);
    PARAMS(&m, "bar", "baz", "  ");
    cr_assert_eq(parse("TEST foo:bar", &m), SL_OK);
    PARAMS(&m, "foo:bar");
}

Test(parse, join_last_param_forms)
{
    struct irc_msg m;
    cr_assert_eq(parse(":src JOIN #chan", &m), SL_OK);
    PARAMS(&m, "#chan");
    cr_assert_eq(parse(":src JOIN :#chan", &m), SL_OK);
    PARAMS(&m, "#chan");
}

Test(parse, no_params_with_trailing_space)
{
    struct irc_msg m;
    cr_assert_eq(parse(":src AWAY", &m), SL_OK);
    cr_assert_eq(m.nparams, 0);
    cr_assert_eq(parse(":src AWAY ", &m), SL_OK);
    cr_assert_str_eq(m.command, "AWAY");
    cr_assert_eq(m.nparams, 0);
}

Test(parse, tab_is_not_space)
{
    struct irc_msg m;
    cr_assert_eq(parse(":cool\tguy foo bar baz", &m), SL_OK);
    cr_assert_str_eq(m.source, "cool\tguy");
    PARAMS(&m, "bar", "baz");
}

Test(parse, control_codes_in_source)
{
    struct irc_msg m;
    cr_assert_eq(parse(":coolguy!~ag@n\x02" "et\x03" "05w\x0f" "ork.admin "
                       "PRIVMSG foo :bar baz", &m), SL_OK);
    cr_assert_str_eq(m.source, "coolguy!~ag@n\x02" "et\x03" "05w\x0f" "ork.admin");
    PARAMS(&m, "foo", "bar baz");
}

Test(parse, many_spaces_between_parts)
{
    struct irc_msg m;
    cr_assert_eq(parse(":gravel.mozilla.org 432  #momo :Erroneous Nickname: "
                       "Illegal characters", &m), SL_OK);
    cr_assert_str_eq(m.command, "432");
    PARAMS(&m, "#momo", "Erroneous Nickname: Illegal characters");
    cr_assert_eq(parse(":gravel.mozilla.org MODE #tckk +n ", &m), SL_OK);
    PARAMS(&m, "#tckk", "+n");
    cr_assert_eq(parse(":services.esper.net MODE #foo-bar +o foobar  ", &m),
                 SL_OK);
    PARAMS(&m, "#foo-bar", "+o", "foobar");
    cr_assert_eq(parse("@a=b    :src    CMD    x    :y  z", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "a"), "b");
    cr_assert_str_eq(m.source, "src");
    cr_assert_str_eq(m.command, "CMD");
    PARAMS(&m, "x", "y  z");
    cr_assert_eq(parse("   PING x", &m), SL_OK);
    cr_assert_str_eq(m.command, "PING");
}

Test(parse, mode_forms)
{
    struct irc_msg m;
    cr_assert_eq(parse(":SomeOp MODE #channel :+i", &m), SL_OK);
    PARAMS(&m, "#channel", "+i");
    cr_assert_eq(parse(":SomeOp MODE #channel +oo SomeUser :AnotherUser", &m),
                 SL_OK);
    PARAMS(&m, "#channel", "+oo", "SomeUser", "AnotherUser");
}

Test(parse, command_case_kept)
{
    struct irc_msg m;
    cr_assert_eq(parse("privMsg #a :b", &m), SL_OK);
    cr_assert_str_eq(m.command, "privMsg");
}

/* ---- parser: tags ---- */

Test(parse, tags_basic)
{
    struct irc_msg m;
    cr_assert_eq(parse("@a=b;c=32;k;rt=ql7 foo", &m), SL_OK);
    cr_assert_eq(m.ntags, 4);
    cr_assert_str_eq(tag(&m, "a"), "b");
    cr_assert_str_eq(tag(&m, "c"), "32");
    cr_assert_str_eq(tag(&m, "k"), "");
    cr_assert_str_eq(tag(&m, "rt"), "ql7");
    cr_assert_str_eq(m.command, "foo");
    cr_assert_eq(m.nparams, 0);
    /* Order is kept. */
    cr_assert_str_eq(m.tags[0].key, "a");
    cr_assert_str_eq(m.tags[3].key, "rt");
}

Test(parse, tags_escaped)
{
    struct irc_msg m;
    cr_assert_eq(parse("@a=b\\\\and\\nk;c=72\\s45;d=gh\\:764 foo", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "a"), "b\\and\nk");
    cr_assert_str_eq(tag(&m, "c"), "72 45");
    cr_assert_str_eq(tag(&m, "d"), "gh;764");
}

Test(parse, tags_every_escape)
{
    struct irc_msg m;
    cr_assert_eq(parse("@foo=\\\\\\\\\\:\\\\s\\s\\r\\n COMMAND", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "foo"), "\\\\;\\s \r\n");
}

Test(parse, tags_char_at_a_time)
{
    struct irc_msg m;
    cr_assert_eq(parse("@tag1=value\\\\ntest COMMAND", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "tag1"), "value\\ntest");
}

Test(parse, tags_unknown_escape_drops_backslash)
{
    struct irc_msg m;
    cr_assert_eq(parse("@tag1=value\\1 COMMAND", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "tag1"), "value1");
    cr_assert_eq(parse("@t=\\a\\b\\= COMMAND", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "t"), "ab=");
}

Test(parse, tags_trailing_backslash_dropped)
{
    struct irc_msg m;
    cr_assert_eq(parse("@tag1=value1\\ COMMAND", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "tag1"), "value1");
    cr_assert_eq(parse("@a=\\;b=2 COMMAND", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "a"), "");
    cr_assert_str_eq(tag(&m, "b"), "2");
}

Test(parse, tags_with_source)
{
    struct irc_msg m;
    cr_assert_eq(parse("@c;h=;a=b :quux ab cd", &m), SL_OK);
    cr_assert_eq(m.ntags, 3);
    cr_assert_str_eq(tag(&m, "c"), "");
    cr_assert_str_eq(tag(&m, "h"), "");
    cr_assert_str_eq(tag(&m, "a"), "b");
    cr_assert_str_eq(m.source, "quux");
    cr_assert_str_eq(m.command, "ab");
    PARAMS(&m, "cd");
}

Test(parse, tags_vendor_and_client)
{
    struct irc_msg m;
    cr_assert_eq(parse("@tag1=value1;tag2;vendor1/tag3=value2;vendor2/tag4= "
                       ":irc.example.com COMMAND param1 param2 :param3 param3",
                       &m), SL_OK);
    cr_assert_eq(m.ntags, 4);
    cr_assert_str_eq(tag(&m, "tag1"), "value1");
    cr_assert_str_eq(tag(&m, "tag2"), "");
    cr_assert_str_eq(tag(&m, "vendor1/tag3"), "value2");
    cr_assert_str_eq(tag(&m, "vendor2/tag4"), "");
    cr_assert_str_eq(m.source, "irc.example.com");
    PARAMS(&m, "param1", "param2", "param3 param3");

    cr_assert_eq(parse("@+example.com/reply=abc;+typing=active;msgid=1 "
                       "TAGMSG #r", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "+example.com/reply"), "abc");
    cr_assert_str_eq(tag(&m, "+typing"), "active");
    cr_assert_str_eq(tag(&m, "msgid"), "1");
}

Test(parse, tags_duplicate_last_wins)
{
    struct irc_msg m;
    cr_assert_eq(parse("@tag1=1;tag2=3;tag3=4;tag1=5 COMMAND", &m), SL_OK);
    cr_assert_eq(m.ntags, 3);
    cr_assert_str_eq(tag(&m, "tag1"), "5");
    cr_assert_str_eq(tag(&m, "tag2"), "3");
    cr_assert_str_eq(tag(&m, "tag3"), "4");
    cr_assert_eq(parse("@tag1=1;tag2=3;tag3=4;tag1=5;vendor/tag2=8 COMMAND",
                       &m), SL_OK);
    cr_assert_eq(m.ntags, 4);
    cr_assert_str_eq(tag(&m, "tag2"), "3");
    cr_assert_str_eq(tag(&m, "vendor/tag2"), "8");
    /* '+a' and 'a' are different keys. */
    cr_assert_eq(parse("@a=1;+a=2;a COMMAND", &m), SL_OK);
    cr_assert_eq(m.ntags, 2);
    cr_assert_str_eq(tag(&m, "a"), "");
    cr_assert_str_eq(tag(&m, "+a"), "2");
}

Test(parse, tags_empty_elements_skipped)
{
    struct irc_msg m;
    cr_assert_eq(parse("@a=1;;b=2; CMD", &m), SL_OK);
    cr_assert_eq(m.ntags, 2);
    cr_assert_str_eq(tag(&m, "b"), "2");
    cr_assert_eq(parse("@ CMD", &m), SL_OK);
    cr_assert_eq(m.ntags, 0);
    cr_assert_str_eq(m.command, "CMD");
}

Test(parse, tags_value_may_hold_equals_and_utf8)
{
    struct irc_msg m;
    cr_assert_eq(parse("@a=x=y;b=\xc3\xa9t\xc3\xa9 CMD", &m), SL_OK);
    cr_assert_str_eq(tag(&m, "a"), "x=y");
    cr_assert_str_eq(tag(&m, "b"), "\xc3\xa9t\xc3\xa9");
}

Test(parse, tags_bad_keys)
{
    static const char *bad[] = {
        "@=v CMD", "@+ CMD", "@+=v CMD", "@a_b=1 CMD", "@/a CMD", "@v/ CMD",
        "@v//a CMD", "@a/b/c CMD", "@ok;b!d CMD", "@+ven_dor/a CMD",
        "@a\tb CMD", "@\xc3\xa9=1 CMD",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct irc_msg m;
        cr_assert_eq(parse(bad[i], &m), SL_EPROTO, "%s", bad[i]);
    }
}

/* ---- parser: errors ---- */

Test(parse, empty_and_missing_command)
{
    static const char *bad[] = {
        "", " ", "     ", ":src", ":src   ", ": CMD", ":", "@a=b", "@a=b ",
        "@a=b :src", "@", "@ ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct irc_msg m;
        cr_assert_eq(parse(bad[i], &m), SL_EPROTO, "'%s'", bad[i]);
        cr_assert_null(m.command);
        cr_assert_eq(m.nparams, 0);
    }
}

Test(parse, bad_command_syntax)
{
    static const char *bad[] = {
        "12 x", "1234", "0 x", "AB1", "1AB", "PRIV-MSG x", "PRIV_MSG",
        ":s 12a x", "\xc3\xa9 x", "CMD\t x", "#chan", ":s :CMD",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct irc_msg m;
        cr_assert_eq(parse(bad[i], &m), SL_EPROTO, "'%s'", bad[i]);
    }
    struct irc_msg m;
    cr_assert_eq(parse("001", &m), SL_OK);
    cr_assert_eq(parse("x", &m), SL_OK);
}

Test(parse, embedded_nul_cr_lf)
{
    struct irc_msg m;
    cr_assert_eq(parse_n("PRIVMSG #a :b\0c", 15, &m), SL_EPROTO);
    cr_assert_eq(parse_n("PRIVMSG #a :b\rc", 15, &m), SL_EPROTO);
    cr_assert_eq(parse_n("PRIVMSG #a :b\nc", 15, &m), SL_EPROTO);
    cr_assert_eq(parse_n("@a=\0 CMD", 8, &m), SL_EPROTO);
    cr_assert_eq(parse_n("CMD\0", 4, &m), SL_EPROTO);
}

Test(parse, error_resets_result)
{
    struct irc_msg m;
    cr_assert_eq(parse("@a=1 :src CMD x y", &m), SL_OK);
    cr_assert_eq(parse("@a=1;b_=2 :src CMD x y", &m), SL_EPROTO);
    cr_assert_eq(m.ntags, 0);
    cr_assert_null(m.source);
    cr_assert_null(m.command);
    cr_assert_eq(m.nparams, 0);
}

/* ---- parser: parameter count ---- */

Test(parse, fifteen_params)
{
    struct irc_msg m;
    cr_assert_eq(parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", &m), SL_OK);
    PARAMS(&m, "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12",
           "13", "14", "15");
}

Test(parse, fourteen_and_trailing)
{
    struct irc_msg m;
    cr_assert_eq(parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :15 x", &m), SL_OK);
    cr_assert_eq(m.nparams, 15);
    cr_assert_str_eq(m.params[14], "15 x");
    cr_assert_eq(parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 :14 15 16", &m), SL_OK);
    cr_assert_eq(m.nparams, 14);
    cr_assert_str_eq(m.params[13], "14 15 16");
}

Test(parse, more_than_fifteen_params_rest_of_line)
{
    struct irc_msg m;
    cr_assert_eq(parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16  17 :18",
                       &m), SL_OK);
    cr_assert_eq(m.nparams, IRC_PARAMS_MAX);
    cr_assert_str_eq(m.params[13], "14");
    cr_assert_str_eq(m.params[14], "15 16  17 :18");
    cr_assert_eq(parse("CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14    ", &m), SL_OK);
    cr_assert_eq(m.nparams, 14);
}

/* ---- parser: limits ---- */

/* Builds "@" + tags of exactly n bytes + " CMD x" into buf; returns length. */
static size_t line_with_tags(char *buf, size_t n)
{
    size_t len = 0;
    buf[len++] = '@';
    memcpy(buf + len, "k=", 2);
    len += 2;
    memset(buf + len, 'v', n - 2);
    len += n - 2;
    memcpy(buf + len, " CMD x", 6);
    return len + 6;
}

Test(limits, tag_section_at_and_past_limit)
{
    static char buf[8192];
    struct irc_msg m;
    size_t len = line_with_tags(buf, IRC_CLIENT_TAGS_MAX);
    cr_assert_eq(parse_n(buf, len, &m), SL_OK);
    cr_assert_eq(strlen(tag(&m, "k")), IRC_CLIENT_TAGS_MAX - 2);
    cr_assert_str_eq(m.command, "CMD");

    len = line_with_tags(buf, IRC_CLIENT_TAGS_MAX + 1);
    cr_assert_eq(parse_n(buf, len, &m), SL_ELIMIT);
    cr_assert_null(m.command);

    /* No space at all after a huge tag section. */
    len = line_with_tags(buf, IRC_CLIENT_TAGS_MAX + 1) - 6;
    cr_assert_eq(parse_n(buf, len, &m), SL_ELIMIT);
}

/* "CMD :" + padding of total length n. */
static size_t body_of(char *buf, size_t n)
{
    memcpy(buf, "CMD :", 5);
    memset(buf + 5, 'a', n - 5);
    return n;
}

Test(limits, body_at_and_past_limit)
{
    static char buf[8192];
    struct irc_msg m;
    size_t len = body_of(buf, IRC_MSG_MAX - 2);
    cr_assert_eq(parse_n(buf, len, &m), SL_OK);
    cr_assert_eq(strlen(m.params[0]), IRC_MSG_MAX - 2 - 5);
    len = body_of(buf, IRC_MSG_MAX - 1);
    cr_assert_eq(parse_n(buf, len, &m), SL_ELIMIT);
}

Test(limits, body_limit_counts_only_the_non_tag_part)
{
    static char buf[8192];
    struct irc_msg m;
    size_t n = line_with_tags(buf, IRC_CLIENT_TAGS_MAX) - 6;
    /* Extra spaces after the tags belong to neither part. */
    memcpy(buf + n, "   ", 3);
    n += 3;
    body_of(buf + n, IRC_MSG_MAX - 2);
    cr_assert_eq(parse_n(buf, n + IRC_MSG_MAX - 2, &m), SL_OK);
    cr_assert_eq(m.ntags, 1);
    cr_assert_eq(strlen(m.params[0]), IRC_MSG_MAX - 2 - 5);
    body_of(buf + n, IRC_MSG_MAX - 1);
    cr_assert_eq(parse_n(buf, n + IRC_MSG_MAX - 1, &m), SL_ELIMIT);
}

static size_t line_with_ntags(char *buf, size_t ntags, bool dup)
{
    size_t len = (size_t)sprintf(buf, "@");
    for (size_t i = 0; i < ntags; i++)
        len += (size_t)sprintf(buf + len, "%st%zu=%zu", i ? ";" : "",
                               dup ? i % IRC_TAGS_MAX : i, i);
    len += (size_t)sprintf(buf + len, " CMD");
    return len;
}

Test(limits, tag_count_at_and_past_limit)
{
    static char buf[8192];
    struct irc_msg m;
    size_t len = line_with_ntags(buf, IRC_TAGS_MAX, false);
    cr_assert_eq(parse_n(buf, len, &m), SL_OK);
    cr_assert_eq(m.ntags, IRC_TAGS_MAX);
    cr_assert_str_eq(tag(&m, "t31"), "31");

    len = line_with_ntags(buf, IRC_TAGS_MAX + 1, false);
    cr_assert_eq(parse_n(buf, len, &m), SL_ELIMIT);

    /* Repeats replace values and do not count twice. */
    len = line_with_ntags(buf, IRC_TAGS_MAX * 3, true);
    cr_assert_eq(parse_n(buf, len, &m), SL_OK);
    cr_assert_eq(m.ntags, IRC_TAGS_MAX);
    cr_assert_str_eq(tag(&m, "t0"), "64");
}

/* ---- tag escaping ---- */

Test(escape, every_special_char)
{
    char out[64];
    cr_assert_eq(irc_tag_escape(out, sizeof out, "a;b c\\d\re\nf"), 16);
    cr_assert_str_eq(out, "a\\:b\\sc\\\\d\\re\\nf");
    cr_assert_eq(irc_tag_escape(out, sizeof out, "plain=ok"), 8);
    cr_assert_str_eq(out, "plain=ok");
}

Test(escape, empty_and_null)
{
    char out[4] = "zzz";
    cr_assert_eq(irc_tag_escape(out, sizeof out, ""), 0);
    cr_assert_str_eq(out, "");
    cr_assert_eq(irc_tag_escape(out, sizeof out, NULL), 0);
    cr_assert_eq(irc_tag_escape(out, 0, "x"), 0);
}

Test(escape, capacity_exact)
{
    char out[8];
    /* "a b" -> "a\sb": 4 bytes + NUL. */
    cr_assert_eq(irc_tag_escape(out, 5, "a b"), 4);
    cr_assert_str_eq(out, "a\\sb");
    cr_assert_eq(irc_tag_escape(out, 4, "a b"), 0);
    cr_assert_str_eq(out, "");
    /* Does not fit in the middle of an escape pair. */
    cr_assert_eq(irc_tag_escape(out, 3, "a;"), 0);
}

/* ---- serialiser ---- */

Test(format, command_and_params)
{
    char out[512];
    const char *p[] = {"#room", "hello world"};
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "PRIVMSG", p, 2),
                 strlen("PRIVMSG #room :hello world"));
    cr_assert_str_eq(out, "PRIVMSG #room :hello world");

    cr_assert_neq(irc_format(out, sizeof out, NULL, 0, NULL, "PING", NULL, 0), 0);
    cr_assert_str_eq(out, "PING");

    const char *one[] = {"word"};
    cr_assert_neq(irc_format(out, sizeof out, NULL, 0, "", "JOIN", one, 1), 0);
    cr_assert_str_eq(out, "JOIN word");
}

Test(format, last_param_colon_rules)
{
    char out[64];
    const char *empty[] = {"a", ""};
    cr_assert_neq(irc_format(out, sizeof out, NULL, 0, NULL, "X", empty, 2), 0);
    cr_assert_str_eq(out, "X a :");
    const char *colon[] = {":x"};
    cr_assert_neq(irc_format(out, sizeof out, NULL, 0, NULL, "X", colon, 1), 0);
    cr_assert_str_eq(out, "X ::x");
    const char *inner[] = {"a:b"};
    cr_assert_neq(irc_format(out, sizeof out, NULL, 0, NULL, "X", inner, 1), 0);
    cr_assert_str_eq(out, "X a:b");
}

Test(format, source_and_tags)
{
    char out[256];
    struct irc_tag t[] = {
        {"time", "2024-01-01T00:00:00.000Z"},
        {"+draft/reply", "a b;c"},
        {"flag", ""},
        {"nullv", NULL},
    };
    const char *p[] = {"#r", "hi there"};
    size_t n = irc_format(out, sizeof out, t, 4, "nick!u@h", "PRIVMSG", p, 2);
    const char *want = "@time=2024-01-01T00:00:00.000Z;+draft/reply=a\\sb\\:c;"
                       "flag;nullv :nick!u@h PRIVMSG #r :hi there";
    cr_assert_str_eq(out, want);
    cr_assert_eq(n, strlen(want));
}

Test(format, bad_middle_params)
{
    char out[128];
    const char *empty[] = {"", "x"};
    const char *space[] = {"a b", "x"};
    const char *colon[] = {":a", "x"};
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", empty, 2), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", space, 2), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", colon, 2), 0);
    cr_assert_str_eq(out, "");
}

Test(format, refuses_cr_lf)
{
    char out[128];
    const char *cr[] = {"a\rb"};
    const char *lf[] = {"#r", "a\nb"};
    const char *ok[] = {"#r"};
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", cr, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", lf, 2), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, "s\r", "X", ok, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, "s\n", "X", ok, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X\r", ok, 1), 0);
    /* CR/LF in a tag value is escaped, not refused. */
    struct irc_tag t[] = {{"k", "a\r\nb"}};
    cr_assert_neq(irc_format(out, sizeof out, t, 1, NULL, "X", ok, 1), 0);
    cr_assert_str_eq(out, "@k=a\\r\\nb X #r");
}

Test(format, refuses_bad_source_command_keys)
{
    char out[128];
    const char *p[] = {"x"};
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, "a b", "X", p, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, NULL, p, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "", p, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "A B", p, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "12", p, 1), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "P1", p, 1), 0);
    static const char *badkeys[] = {"", "a b", "a;b", "a=b", "+", "v/", "k\n"};
    for (size_t i = 0; i < sizeof badkeys / sizeof badkeys[0]; i++) {
        struct irc_tag t[] = {{badkeys[i], "v"}};
        cr_assert_eq(irc_format(out, sizeof out, t, 1, NULL, "X", p, 1), 0,
                     "key '%s'", badkeys[i]);
    }
    struct irc_tag nullkey[] = {{NULL, "v"}};
    cr_assert_eq(irc_format(out, sizeof out, nullkey, 1, NULL, "X", p, 1), 0);
    const char *withnull[] = {"a", NULL};
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", withnull, 2), 0);
}

Test(format, param_count)
{
    char out[256];
    const char *p[16];
    for (int i = 0; i < 16; i++)
        p[i] = "p";
    cr_assert_neq(irc_format(out, sizeof out, NULL, 0, NULL, "X", p, 15), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", p, 16), 0);
    cr_assert_eq(irc_format(out, sizeof out, NULL, 0, NULL, "X", NULL, 1), 0);
}

Test(format, capacity_exact)
{
    char out[64];
    const char *p[] = {"#r", "a b"};
    const char *want = "@k=v :s X #r :a b";
    struct irc_tag t[] = {{"k", "v"}};
    size_t len = strlen(want);
    cr_assert_eq(irc_format(out, len + 1, t, 1, "s", "X", p, 2), len);
    cr_assert_str_eq(out, want);
    for (size_t cap = 0; cap <= len; cap++) {
        memset(out, 'Z', sizeof out);
        cr_assert_eq(irc_format(out, cap, t, 1, "s", "X", p, 2), 0,
                     "cap %zu", cap);
        if (cap)
            cr_assert_eq(out[0], '\0');
        else
            cr_assert_eq(out[0], 'Z');
    }
}

/* ---- round trips ---- */

struct rt_case {
    struct irc_tag tags[4];
    size_t ntags;
    const char *source;
    const char *command;
    const char *params[IRC_PARAMS_MAX];
    size_t nparams;
};

static void roundtrip(const struct rt_case *c)
{
    char out[8192];
    size_t n = irc_format(out, sizeof out, c->tags, c->ntags, c->source,
                          c->command, c->params, c->nparams);
    cr_assert_neq(n, 0, "format failed for %s", c->command);
    cr_assert_eq(strlen(out), n);
    cr_assert_null(memchr(out, '\r', n));
    cr_assert_null(memchr(out, '\n', n));

    char line[8192];
    memcpy(line, out, n + 1);
    struct irc_msg m;
    cr_assert_eq(irc_parse(line, n, &m), SL_OK, "reparse of '%s'", out);
    cr_assert_eq(m.ntags, c->ntags, "'%s'", out);
    for (size_t i = 0; i < c->ntags; i++) {
        cr_assert_str_eq(m.tags[i].key, c->tags[i].key);
        cr_assert_str_eq(m.tags[i].value,
                         c->tags[i].value ? c->tags[i].value : "");
    }
    if (c->source && c->source[0])
        cr_assert_str_eq(m.source, c->source);
    else
        cr_assert_null(m.source);
    cr_assert_str_eq(m.command, c->command);
    cr_assert_eq(m.nparams, c->nparams, "'%s'", out);
    for (size_t i = 0; i < c->nparams; i++)
        cr_assert_str_eq(m.params[i], c->params[i], "'%s' param %zu", out, i);
}

Test(roundtrip, table)
{
    static const struct rt_case cases[] = {
        {.command = "PING"},
        {.command = "PRIVMSG", .params = {"#r", "hello world"}, .nparams = 2},
        {.command = "PRIVMSG", .params = {"#r", ""}, .nparams = 2},
        {.command = "PRIVMSG", .params = {"#r", ":)"}, .nparams = 2},
        {.command = "PRIVMSG", .params = {"#r", " lead and trail "},
         .nparams = 2},
        {.source = "n!u@h", .command = "JOIN", .params = {"#r"}, .nparams = 1},
        {.source = "srv", .command = "005",
         .params = {"nick", "CASEMAPPING=ascii", "are supported"},
         .nparams = 3},
        {.tags = {{"msgid", "abc"}, {"+typing", "active"},
                  {"vendor.example/x", "a;b c\\d\r\n"}, {"flag", ""}},
         .ntags = 4, .source = "n!u@h", .command = "TAGMSG",
         .params = {"#r"}, .nparams = 1},
        {.command = "X",
         .params = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
                    "12", "13", "14", "last one"},
         .nparams = 15},
        {.command = "X",
         .params = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
                    "12", "13", "14", ""},
         .nparams = 15},
        {.command = "X",
         .params = {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11",
                    "12", "13", "14", ":x"},
         .nparams = 15},
        {.command = "MODE", .params = {"#r", "+o-v", "a", "b"}, .nparams = 4},
        {.command = "PRIVMSG",
         .params = {"#r", "caf\xc3\xa9 \xf0\x9f\x98\x80 \x01" "ACTION x\x01"},
         .nparams = 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        roundtrip(&cases[i]);
}

Test(roundtrip, canonical_lines_are_fixed_points)
{
    static const char *lines[] = {
        "PING",
        "PING :",
        ":srv 001 nick :Welcome to salon",
        "@a=b;c :n!u@h PRIVMSG #r :hi there",
        "@k=a\\sb\\:c\\\\d\\r\\n X y",
        "@+draft/react=\xf0\x9f\x91\x8d TAGMSG #r",
        "CMD 1 2 3 4 5 6 7 8 9 10 11 12 13 14 :15 16",
        "CMD a ::b",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        struct irc_msg m;
        char out[1024];
        size_t len = strlen(lines[i]);
        cr_assert_eq(parse(lines[i], &m), SL_OK, "%s", lines[i]);
        size_t n = irc_format(out, sizeof out, m.tags, m.ntags, m.source,
                              m.command, m.params, m.nparams);
        cr_assert_eq(n, len, "%s -> %s", lines[i], out);
        cr_assert_str_eq(out, lines[i]);
    }
}

static void rnd_str(char *out, size_t maxlen, const char *alphabet,
                    size_t minlen)
{
    size_t n = minlen + test_rng((uint32_t)(maxlen - minlen + 1));
    size_t a = strlen(alphabet);
    for (size_t i = 0; i < n; i++)
        out[i] = alphabet[test_rng((uint32_t)a)];
    out[n] = '\0';
}

Test(roundtrip, random_messages)
{
    static const char keych[] = "abcXYZ019-";
    static const char valch[] = "ab ;\\\r\n=:@!\x01\xc3\xa9";
    static const char midch[] = "ab#:!@\\;=\t\x02";
    static const char lastch[] = "ab :;\\\t";
    for (int iter = 0; iter < 3000; iter++) {
        struct rt_case c = {0};
        char keys[4][48], vals[4][24], src[24], cmd[16];
        char params[IRC_PARAMS_MAX][24];

        c.ntags = test_rng(5);
        for (size_t i = 0; i < c.ntags; i++) {
            char name[12];
            rnd_str(name, 8, keych, 1);
            /* Distinct keys, so dedupe does not change the count. */
            snprintf(keys[i], sizeof keys[i], "%s%s%u%s",
                     test_rng(2) ? "+" : "", test_rng(2) ? "v.e/" : "", (unsigned)i,
                     name);
            rnd_str(vals[i], 12, valch, 0);
            c.tags[i].key = keys[i];
            c.tags[i].value = vals[i];
        }
        if (test_rng(2)) {
            rnd_str(src, 16, "abn!u@h.:", 1);
            c.source = src;
        }
        if (test_rng(4) == 0)
            snprintf(cmd, sizeof cmd, "%03u", test_rng(1000));
        else
            rnd_str(cmd, 7, "ABCPRIVMSGjoin", 1);
        c.command = cmd;
        c.nparams = test_rng(IRC_PARAMS_MAX + 1);
        for (size_t i = 0; i < c.nparams; i++) {
            bool is_last = i + 1 == c.nparams;
            if (is_last) {
                rnd_str(params[i], 12, lastch, 0);
            } else {
                rnd_str(params[i], 12, midch, 1);
                if (params[i][0] == ':')
                    params[i][0] = 'm';
            }
            c.params[i] = params[i];
        }
        roundtrip(&c);
    }
}

Test(format, text_form_always_trails)
{
    char out[128];
    const char *p[] = {"#room", "hello"};
    size_t n = irc_format_text(out, sizeof out, NULL, 0, "n!u@h", "PRIVMSG", p, 2);
    cr_assert_str_eq(out, ":n!u@h PRIVMSG #room :hello");
    cr_assert_eq(n, strlen(out));
    n = irc_format(out, sizeof out, NULL, 0, "n!u@h", "PRIVMSG", p, 2);
    cr_assert_str_eq(out, ":n!u@h PRIVMSG #room hello");
}
