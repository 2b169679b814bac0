#ifndef SALON_IRC_MSG_H
#define SALON_IRC_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/err.h"

/* Parsing and serialising one IRC line: RFC 1459/2812 section 2.3 grammar
 * plus IRCv3 message-tags. Pure functions, no state. */

/* RFC 2812 section 2.3: at most 15 parameters. */
#define IRC_PARAMS_MAX 15
/* IRCv3 message-tags: the tag section of a client line is at most 4094
 * bytes (4096 with '@' and the space). */
#define IRC_CLIENT_TAGS_MAX 4094
/* Tags kept per message; more is a protocol error, not an allocation. */
#define IRC_TAGS_MAX 32
/* RFC 1459 section 2.3: 512 bytes including CRLF for the non-tag part. */
#define IRC_MSG_MAX 512

struct irc_tag {
    const char *key;        /* may start with '+' (client-only tag) */
    const char *value;      /* unescaped; "" when absent or empty */
};

/* A parsed line. Every pointer points into the line that was parsed and is
 * valid only while that buffer is (copy what you keep). */
struct irc_msg {
    struct irc_tag tags[IRC_TAGS_MAX];
    size_t ntags;
    const char *source;     /* without ':', NULL when absent */
    const char *command;    /* as sent; compare case-insensitively */
    const char *params[IRC_PARAMS_MAX];
    size_t nparams;
};

/* Parses line[0..len) in place (it writes NULs and unescapes tag values);
 * line[len] must be writable. The line has no CR/LF.
 * Returns SL_OK; SL_EPROTO when there is no command or the syntax is
 * broken; SL_ELIMIT when the tag section passes IRC_CLIENT_TAGS_MAX, there
 * are more than IRC_TAGS_MAX tags, or the non-tag part is longer than
 * IRC_MSG_MAX - 2 bytes. More than 15 parameters: the 15th takes the rest
 * of the line, as in RFC 2812. */
enum sl_err irc_parse(char *line, size_t len, struct irc_msg *m);

/* Writes "@k=v;k2 :source COMMAND p1 p2 :last" into out (no CRLF), escaping
 * tag values. The last parameter gets ':' when it is empty, contains a
 * space or starts with ':'. tags/source may be empty/NULL.
 * Returns the length written (out NUL-terminated), or 0 when it does not
 * fit in cap. */
size_t irc_format(char *out, size_t cap, const struct irc_tag *tags,
                  size_t ntags, const char *source, const char *command,
                  const char *const *params, size_t nparams);

/* Like irc_format, but the last parameter always gets ':' (when there is
 * one). Used for free text (PRIVMSG, TOPIC, QUIT...), which clients
 * commonly expect in trailing form even when it is a single word. */
size_t irc_format_text(char *out, size_t cap, const struct irc_tag *tags,
                       size_t ntags, const char *source, const char *command,
                       const char *const *params, size_t nparams);

/* Escapes a tag value (IRCv3: ';' -> "\:", ' ' -> "\s", '\\' -> "\\\\",
 * CR -> "\r", LF -> "\n") into out; returns length, 0 when it does not fit. */
size_t irc_tag_escape(char *out, size_t cap, const char *value);

#endif
