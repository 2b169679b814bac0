/* libFuzzer harness for irc/msg.c. Parses the input as one client line and,
 * when it parses, serialises the result and parses that again. Checks:
 * - the parser never reads or writes outside line[0..len], line[len]
 *   included (ASan; the copy has exactly one spare byte);
 * - a parsed message always re-serialises, with no CR, LF or NUL in the
 *   output: what we relay can never smuggle a second line to a client;
 * - format honours its capacity exactly;
 * - parse(format(m)) gives m back (SL_ELIMIT alone is tolerated: a 15th
 *   parameter sent without ':' gains one, which can pass 510 bytes). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "irc/msg.h"

/* Tags (4094) + '@' + space + body (510) + the ':' format may add, with
 * room to spare: escaping never makes a value longer than it arrived. */
#define OUT_MAX 8192

#define CHECK(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "irc_parse fuzz: check failed: %s (line %d)\n", \
                    #cond, __LINE__); \
            abort(); \
        } \
    } while (0)

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static void check_same(const struct irc_msg *a, const struct irc_msg *b)
{
    CHECK(a->ntags == b->ntags);
    for (size_t i = 0; i < a->ntags; i++) {
        CHECK(str_eq(a->tags[i].key, b->tags[i].key));
        CHECK(str_eq(a->tags[i].value, b->tags[i].value));
    }
    CHECK(str_eq(a->source, b->source));
    CHECK(str_eq(a->command, b->command));
    CHECK(a->nparams == b->nparams);
    for (size_t i = 0; i < a->nparams; i++)
        CHECK(str_eq(a->params[i], b->params[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[OUT_MAX];
    static char again[OUT_MAX];
    struct irc_msg m, m2;

    /* Transports never pass more than IRC_LINE_MAX-ish lines; far longer
     * inputs only slow the fuzzer down on the same length checks. */
    if (size > 16384)
        return 0;
    char *line = malloc(size + 1);
    memcpy(line, data, size);

    if (irc_parse(line, size, &m) != SL_OK)
        goto out;
    CHECK(m.command != NULL);
    CHECK(m.ntags <= IRC_TAGS_MAX);
    CHECK(m.nparams <= IRC_PARAMS_MAX);

    size_t n = irc_format(out, sizeof out, m.tags, m.ntags, m.source,
                          m.command, m.params, m.nparams);
    CHECK(n > 0);
    CHECK(strlen(out) == n);
    CHECK(memchr(out, '\r', n) == NULL);
    CHECK(memchr(out, '\n', n) == NULL);

    /* Capacity is exact: n + 1 fits, n does not. */
    CHECK(irc_format(again, n + 1, m.tags, m.ntags, m.source, m.command,
                     m.params, m.nparams) == n);
    CHECK(memcmp(again, out, n + 1) == 0);
    CHECK(irc_format(again, n, m.tags, m.ntags, m.source, m.command,
                     m.params, m.nparams) == 0);

    /* m points into line; reparse a copy of the output. */
    memcpy(again, out, n + 1);
    enum sl_err err = irc_parse(again, n, &m2);
    CHECK(err == SL_OK || err == SL_ELIMIT);
    if (err == SL_OK)
        check_same(&m, &m2);

out:
    free(line);
    return 0;
}
