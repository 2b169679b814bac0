#include "irc/msg.h"

#include <string.h>

/* Grammar: RFC 1459 / RFC 2812 section 2.3.1, extended by IRCv3
 * message-tags (https://ircv3.net/specs/extensions/message-tags):
 *
 *   message  = [ "@" tags SPACE ] [ ":" source SPACE ] command [ params ]
 *   tags     = tag *( ";" tag )
 *   tag      = key [ "=" escaped-value ]
 *   key      = [ "+" ] [ vendor "/" ] key-name
 *   command  = 1*letter / 3digit
 *   params   = *14( SPACE middle ) [ SPACE ":" trailing ]
 *            / 14( SPACE middle ) [ SPACE [ ":" ] trailing ]
 *
 * As RFC 1459 (and the ircdocs parser tests) do, one or more spaces separate
 * the parts, so "CMD  a   b " is CMD with params "a" and "b". */

static bool is_letter(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* IRCv3 message-tags: key-name = 1*( letter / digit / "-" ). */
static bool is_key_char(char c)
{
    return is_letter(c) || is_digit(c) || c == '-';
}

/* IRCv3 message-tags: vendor is a host name (letters, digits, '-', '.'). */
static bool is_vendor_char(char c)
{
    return is_key_char(c) || c == '.';
}

/* True when key[0..len) is a well-formed tag key. Keys are checked because
 * client-only tags ('+') are relayed to other users: a malformed key must
 * never reach someone else's line. */
static bool key_valid(const char *key, size_t len)
{
    size_t i = 0;
    if (i < len && key[i] == '+')
        i++;
    const char *slash = memchr(key + i, '/', len - i);
    if (slash) {
        size_t vend = (size_t)(slash - key);
        if (vend == i)
            return false;
        for (; i < vend; i++)
            if (!is_vendor_char(key[i]))
                return false;
        i++;
    }
    if (i == len)
        return false;
    for (; i < len; i++)
        if (!is_key_char(key[i]))
            return false;
    return true;
}

/* RFC 1459 section 2.3.1: a command is letters or exactly three digits. */
static bool command_valid(const char *cmd, size_t len)
{
    if (len == 3 && is_digit(cmd[0]) && is_digit(cmd[1]) && is_digit(cmd[2]))
        return true;
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_letter(cmd[i]))
            return false;
    return true;
}

/* Unescapes a tag value in place (IRCv3 message-tags, "Escaping values"):
 * "\:" ';'  "\s" ' '  "\\" '\'  "\r" CR  "\n" LF, any other "\x" is 'x' and
 * a lone trailing '\' is dropped. The result is never longer than the input,
 * so it is written over it. Returns the unescaped length. */
static size_t unescape(char *v, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\\') {
            v[o++] = v[i];
            continue;
        }
        if (++i == len)
            break;
        switch (v[i]) {
        case ':': v[o++] = ';'; break;
        case 's': v[o++] = ' '; break;
        case 'r': v[o++] = '\r'; break;
        case 'n': v[o++] = '\n'; break;
        default:  v[o++] = v[i]; break;
        }
    }
    return o;
}

/* Parses the tag section s[0..len) (after '@', before the space) into m.
 * Empty elements ("a;;b", a trailing ';') are skipped. A repeated key
 * replaces the earlier value: the spec says parsers SHOULD keep only the
 * final occurrence. */
static enum sl_err parse_tags(char *s, size_t len, struct irc_msg *m)
{
    size_t i = 0;
    while (i < len) {
        char *elem = s + i;
        char *semi = memchr(elem, ';', len - i);
        size_t elen = semi ? (size_t)(semi - elem) : len - i;
        i += elen + 1;
        if (elen == 0)
            continue;
        elem[elen] = '\0';      /* the ';' or the space after the section */

        char *eq = memchr(elem, '=', elen);
        size_t klen = eq ? (size_t)(eq - elem) : elen;
        if (!key_valid(elem, klen))
            return SL_EPROTO;
        const char *value = "";
        if (eq) {
            *eq = '\0';
            char *v = eq + 1;
            size_t vlen = unescape(v, elen - klen - 1);
            v[vlen] = '\0';
            value = v;
        }

        size_t k = 0;
        while (k < m->ntags && strcmp(m->tags[k].key, elem) != 0)
            k++;
        if (k == m->ntags) {
            if (m->ntags == IRC_TAGS_MAX)
                return SL_ELIMIT;
            m->tags[m->ntags++].key = elem;
        }
        m->tags[k].value = value;
    }
    return SL_OK;
}

static size_t skip_spaces(const char *s, size_t i, size_t len)
{
    while (i < len && s[i] == ' ')
        i++;
    return i;
}

/* See msg.h. Choices the header leaves open:
 * - NUL, CR or LF anywhere in line[0..len) is SL_EPROTO (RFC 1459 2.3.1);
 * - a malformed tag key is SL_EPROTO; empty tag elements are skipped;
 * - a repeated tag key keeps its first position and its last value;
 * - leading spaces are skipped and count toward neither limit;
 * - on any error m is left empty (no tags, source, command or params), but
 *   line may already hold NULs. */
enum sl_err irc_parse(char *line, size_t len, struct irc_msg *m)
{
    enum sl_err err = SL_OK;
    size_t i = 0;
    char *tags = NULL;
    size_t tags_len = 0;

    m->ntags = 0;
    m->source = NULL;
    m->command = NULL;
    m->nparams = 0;
    line[len] = '\0';

    if (len > 0 && line[0] == '@') {
        tags = line + 1;
        char *sp = memchr(tags, ' ', len - 1);
        tags_len = sp ? (size_t)(sp - tags) : len - 1;
        /* IRCv3 message-tags "Size limit": 4094 bytes of tag data from a
         * client; more is how a client would make every recipient's line
         * (and our buffers) grow. */
        if (tags_len > IRC_CLIENT_TAGS_MAX) {
            err = SL_ELIMIT;
            goto out;
        }
        i = 1 + tags_len;
    }
    i = skip_spaces(line, i, len);
    /* RFC 1459 section 2.3: 512 bytes with CRLF for the rest of the line. */
    if (len - i > IRC_MSG_MAX - 2) {
        err = SL_ELIMIT;
        goto out;
    }
    /* RFC 1459 section 2.3.1: NUL, CR and LF may appear nowhere. The caller
     * splits on CR/LF, so this only catches embedded bytes that would
     * otherwise cut a field short silently. */
    for (size_t k = 0; k < len; k++) {
        if (line[k] == '\0' || line[k] == '\r' || line[k] == '\n') {
            err = SL_EPROTO;
            goto out;
        }
    }

    if (i < len && line[i] == ':') {
        size_t start = ++i;
        while (i < len && line[i] != ' ')
            i++;
        if (i == start) {
            err = SL_EPROTO;
            goto out;
        }
        m->source = line + start;
        line[i] = '\0';
        i = skip_spaces(line, i + 1 > len ? len : i + 1, len);
    }

    size_t cstart = i;
    while (i < len && line[i] != ' ')
        i++;
    if (!command_valid(line + cstart, i - cstart)) {
        err = SL_EPROTO;
        goto out;
    }
    m->command = line + cstart;
    line[i] = '\0';
    if (i < len)
        i++;

    for (;;) {
        i = skip_spaces(line, i, len);
        if (i >= len)
            break;
        if (line[i] == ':' || m->nparams == IRC_PARAMS_MAX - 1) {
            /* The trailing parameter, or the 15th, which RFC 2812 lets run
             * to the end of the line with or without ':'. */
            if (line[i] == ':')
                i++;
            m->params[m->nparams++] = line + i;
            break;
        }
        m->params[m->nparams++] = line + i;
        while (i < len && line[i] != ' ')
            i++;
        line[i] = '\0';
        if (i < len)
            i++;
    }

    /* Tags last: unescaping writes into the section, and a line rejected
     * above should not pay for it. */
    if (tags) {
        tags[tags_len] = '\0';
        err = parse_tags(tags, tags_len, m);
    }

out:
    if (err) {
        m->ntags = 0;
        m->source = NULL;
        m->command = NULL;
        m->nparams = 0;
    }
    return err;
}

/* Appends src[0..n) at *pos when it fits (leaving room for the NUL). */
static bool put(char *out, size_t cap, size_t *pos, const char *src, size_t n)
{
    if (n >= cap - *pos)
        return false;
    memcpy(out + *pos, src, n);
    *pos += n;
    return true;
}

static bool has_crlf(const char *s)
{
    return strpbrk(s, "\r\n") != NULL;
}

static bool escape_into(char *out, size_t cap, size_t *pos, const char *v)
{
    for (; *v; v++) {
        const char *rep;
        char one[1];
        size_t n = 2;
        switch (*v) {
        case ';':  rep = "\\:"; break;
        case ' ':  rep = "\\s"; break;
        case '\\': rep = "\\\\"; break;
        case '\r': rep = "\\r"; break;
        case '\n': rep = "\\n"; break;
        default:   one[0] = *v; rep = one; n = 1; break;
        }
        if (!put(out, cap, pos, rep, n))
            return false;
    }
    return true;
}

/* See msg.h. value NULL is taken as "". out is NUL-terminated whenever
 * cap > 0; an empty value returns 0 like a value that did not fit, so
 * callers tell them apart by value[0]. */
size_t irc_tag_escape(char *out, size_t cap, const char *value)
{
    size_t pos = 0;
    if (cap == 0)
        return 0;
    if (!escape_into(out, cap, &pos, value ? value : "")) {
        out[0] = '\0';
        return 0;
    }
    out[pos] = '\0';
    return pos;
}

/* The last parameter needs ':' when it could not be read as a middle one
 * (RFC 1459 section 2.3.1). */
static bool needs_colon(const char *p)
{
    return p[0] == '\0' || p[0] == ':' || strchr(p, ' ') != NULL;
}

/* See msg.h. Besides "does not fit", returns 0 (out = "") for anything
 * that would not parse back as the same message: a command that is not
 * letters or three digits, a malformed tag key, a source with a space,
 * CR or LF in the source or a parameter, a middle parameter that is empty,
 * holds a space or starts with ':', more than IRC_PARAMS_MAX parameters.
 * A tag with an empty or NULL value is written as a bare key. The length
 * limits of RFC 1459 are the caller's to apply; only cap is checked. */
static size_t format(char *out, size_t cap, const struct irc_tag *tags,
                     size_t ntags, const char *source, const char *command,
                     const char *const *params, size_t nparams, bool trailing)
{
    size_t pos = 0;
    bool ok = false;

    if (cap == 0)
        return 0;
    if (!command || !command_valid(command, strlen(command)))
        goto out;
    if (nparams > IRC_PARAMS_MAX || (nparams && !params))
        goto out;

    for (size_t k = 0; k < ntags; k++) {
        const char *key = tags[k].key;
        const char *value = tags[k].value ? tags[k].value : "";
        if (!key || !key_valid(key, strlen(key)))
            goto out;
        if (!put(out, cap, &pos, k ? ";" : "@", 1) ||
            !put(out, cap, &pos, key, strlen(key)))
            goto out;
        if (value[0] && (!put(out, cap, &pos, "=", 1) ||
                         !escape_into(out, cap, &pos, value)))
            goto out;
    }
    if (ntags && !put(out, cap, &pos, " ", 1))
        goto out;

    if (source && source[0]) {
        /* A source with a space would shift every later field. */
        if (strchr(source, ' ') || has_crlf(source))
            goto out;
        if (!put(out, cap, &pos, ":", 1) ||
            !put(out, cap, &pos, source, strlen(source)) ||
            !put(out, cap, &pos, " ", 1))
            goto out;
    }

    if (!put(out, cap, &pos, command, strlen(command)))
        goto out;

    for (size_t k = 0; k < nparams; k++) {
        const char *p = params[k];
        bool is_last = k + 1 == nparams;
        if (!p || has_crlf(p))
            goto out;
        /* Only the last parameter may be empty, hold spaces or start with
         * ':'; a middle one like that would change how the line splits. */
        if (!is_last && needs_colon(p))
            goto out;
        if (!put(out, cap, &pos, " ", 1))
            goto out;
        if (is_last && (trailing || needs_colon(p)) && !put(out, cap, &pos, ":", 1))
            goto out;
        if (!put(out, cap, &pos, p, strlen(p)))
            goto out;
    }
    ok = true;

out:
    if (!ok) {
        out[0] = '\0';
        return 0;
    }
    out[pos] = '\0';
    return pos;
}

size_t irc_format(char *out, size_t cap, const struct irc_tag *tags,
                  size_t ntags, const char *source, const char *command,
                  const char *const *params, size_t nparams)
{
    return format(out, cap, tags, ntags, source, command, params, nparams, false);
}

size_t irc_format_text(char *out, size_t cap, const struct irc_tag *tags,
                       size_t ntags, const char *source, const char *command,
                       const char *const *params, size_t nparams)
{
    return format(out, cap, tags, ntags, source, command, params, nparams, true);
}
