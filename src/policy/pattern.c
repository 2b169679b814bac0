/* Rule patterns rewritten for framed text (pattern.h says what and why).
 *
 * The rewrite reads just enough of the regex syntax shared by Vectorscan
 * and PCRE2 to know where it stands: escapes, \Q...\E, classes (with
 * POSIX names inside) and groups. It is conservative: a \b is only turned
 * into \W when every match of what follows it starts with a letter, digit
 * or '_', and only where nothing in the pattern can come before it. */
#include "policy/pattern.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"

#define START_MARK "\\x01"
#define END_MARK "\\x02"

struct out {
    char *s;
    size_t n;
};

static void put(struct out *o, const char *s, size_t n)
{
    memcpy(o->s + o->n, s, n);
    o->n += n;
}

static bool is_word(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_';
}

/* The end of the \Q...\E quote at p (past \E, or the end of the text). */
static const char *quote_end(const char *p, const char *end)
{
    for (p += 2; p < end; p++)
        if (p[0] == '\\' && p + 1 < end && p[1] == 'E')
            return p + 2;
    return end;
}

/* The end of the class opening at p (past its ']'), or NULL when it does
 * not close. A ']' right after '[' or '[^' is a member. */
static const char *class_end(const char *p, const char *end)
{
    p++;
    if (p < end && *p == '^')
        p++;
    if (p < end && *p == ']')
        p++;
    while (p < end) {
        if (*p == '\\') {
            p += 2;
        } else if (*p == '[' && p + 1 < end && p[1] == ':') {
            const char *close = p + 2;
            while (close + 1 < end && !(close[0] == ':' && close[1] == ']'))
                close++;
            p = close + 1 < end ? close + 2 : p + 1;
        } else if (*p == ']') {
            return p + 1;
        } else {
            p++;
        }
    }
    return NULL;
}

/* The end of the group opening at p (past its ')'), or NULL. */
static const char *group_end(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        if (*p == '\\' && p + 1 < end && p[1] == 'Q') {
            p = quote_end(p, end);
        } else if (*p == '\\') {
            p += 2;
        } else if (*p == '[') {
            p = class_end(p, end);
            if (!p)
                return NULL;
        } else {
            if (*p == '(')
                depth++;
            else if (*p == ')' && --depth == 0)
                return p + 1;
            p++;
        }
    }
    return NULL;
}

/* The end of the top-level alternative starting at p ('|' or end). */
static const char *alternative_end(const char *p, const char *end)
{
    while (p < end && *p != '|') {
        const char *next;
        if (*p == '\\' && p + 1 < end && p[1] == 'Q')
            next = quote_end(p, end);
        else if (*p == '\\')
            next = p + 2;
        else if (*p == '[')
            next = class_end(p, end);
        else if (*p == '(')
            next = group_end(p, end);
        else
            next = p + 1;
        if (!next || next > end)
            return end;
        p = next;
    }
    return p;
}

/* Whether the quantifier at q (if any) lets its atom match nothing. */
static bool is_optional(const char *q, const char *end)
{
    if (q >= end)
        return false;
    if (*q == '?' || *q == '*')
        return true;
    return *q == '{' && q + 1 < end && (q[1] == '0' || q[1] == ',');
}

/* Whether the class [p, q) only holds letters, digits and '_'. */
static bool class_is_word(const char *p, const char *q)
{
    p++;                        /* '[' */
    q--;                        /* ']' */
    if (p >= q || *p == '^')
        return false;
    while (p < q) {
        if (*p == '\\') {
            if (p + 1 >= q || (p[1] != 'd' && p[1] != 'w'))
                return false;
            p += 2;
        } else if (p + 2 < q && p[1] == '-') {
            for (int c = (unsigned char)p[0]; c <= (unsigned char)p[2]; c++)
                if (!is_word((unsigned char)c))
                    return false;
            p += 3;
        } else {
            if (!is_word((unsigned char)*p))
                return false;
            p++;
        }
    }
    return true;
}

static bool starts_with_word(const char *p, const char *end);

/* Whether every alternative of the group body [p, end) starts with a word
 * character. */
static bool alternatives_start_with_word(const char *p, const char *end)
{
    for (;;) {
        const char *alt = alternative_end(p, end);
        if (!starts_with_word(p, alt))
            return false;
        if (alt >= end)
            return true;
        p = alt + 1;
    }
}

/* Whether every match of [p, end) starts with a letter, digit or '_'
 * (false when unsure). */
static bool starts_with_word(const char *p, const char *end)
{
    if (p >= end)
        return false;
    const char *q;
    bool is_word_atom;
    if (*p == '(') {
        q = group_end(p, end);
        if (!q || q > end)
            return false;
        const char *body = p + 1;
        if (body[0] == '?' && body[1] == ':')
            body += 2;
        else if (body[0] == '?')
            return false;       /* look-around, named group, flags: unsure */
        is_word_atom = alternatives_start_with_word(body, q - 1);
    } else if (*p == '[') {
        q = class_end(p, end);
        if (!q || q > end)
            return false;
        is_word_atom = class_is_word(p, q);
    } else if (*p == '\\') {
        q = p + 2;
        is_word_atom = q <= end && (p[1] == 'd' || p[1] == 'w');
    } else {
        q = p + 1;
        is_word_atom = is_word((unsigned char)*p);
    }
    return is_word_atom && !is_optional(q, end);
}

/* Copies [p, end) with the anchors turned into marks. */
static void copy_anchors(struct out *o, const char *p, const char *end)
{
    while (p < end) {
        if (*p == '\\' && p + 1 < end) {
            if (p[1] == 'Q') {
                const char *q = quote_end(p, end);
                put(o, p, (size_t)(q - p));
                p = q;
                continue;
            }
            if (p[1] == 'A')
                put(o, START_MARK, strlen(START_MARK));
            else if (p[1] == 'z' || p[1] == 'Z')
                put(o, END_MARK, strlen(END_MARK));
            else
                put(o, p, 2);
            p += 2;
        } else if (*p == '[') {
            const char *q = class_end(p, end);
            if (!q)
                q = end;
            put(o, p, (size_t)(q - p));
            p = q;
        } else if (*p == '(' && end - p >= 3 && p[1] == '?' && p[2] == '^') {
            put(o, p, 3);       /* PCRE2's (?^...): flags, not an anchor */
            p += 3;
        } else if (*p == '^') {
            put(o, START_MARK, strlen(START_MARK));
            p++;
        } else if (*p == '$') {
            put(o, END_MARK, strlen(END_MARK));
            p++;
        } else {
            put(o, p, 1);
            p++;
        }
    }
}

static void copy_lead(struct out *o, const char *p, const char *end);

/* One alternative in leading position: nothing of the pattern can match
 * before it. */
static void copy_lead_alternative(struct out *o, const char *p, const char *end)
{
    if (end - p >= 2 && p[0] == '\\' && p[1] == 'b' && starts_with_word(p + 2, end)) {
        put(o, "\\W", 2);
        copy_anchors(o, p + 2, end);
        return;
    }
    /* A group that opens the alternative leads too, unless it repeats
     * (the second time round, something came before it). */
    if (p < end && p[0] == '(' && (end - p < 3 || p[1] != '?' || p[2] == ':')) {
        const char *q = group_end(p, end);
        if (q && q <= end && !(q < end && (*q == '*' || *q == '+' || *q == '{'))) {
            size_t open = p[1] == '?' ? 3 : 1;
            put(o, p, open);
            copy_lead(o, p + open, q - 1);
            put(o, ")", 1);
            copy_anchors(o, q, end);
            return;
        }
    }
    copy_anchors(o, p, end);
}

static void copy_lead(struct out *o, const char *p, const char *end)
{
    for (;;) {
        const char *alt = alternative_end(p, end);
        copy_lead_alternative(o, p, alt);
        if (alt >= end)
            return;
        put(o, "|", 1);
        p = alt + 1;
    }
}

char *pattern_frame(const char *regex)
{
    size_t len = strlen(regex);
    /* A mark is 4 bytes for 1 or 2 in; \b becomes \W: 4 per byte is room. */
    struct out o = {.s = xmalloc(4 * len + 1)};
    copy_lead(&o, regex, regex + len);
    o.s[o.n] = '\0';
    return o.s;
}

size_t pattern_frame_text(const char *text, size_t len, char *out)
{
    out[0] = PATTERN_TEXT_START;
    memcpy(out + 1, text, len);
    out[len + 1] = PATTERN_TEXT_END;
    return len + PATTERN_FRAME_EXTRA;
}
