#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/fanout.h"
#include "irc/client.h"
#include "irc/msg.h"
#include "lib/clock.h"

/* The formatter core's fan-out calls once per (tag set, framing): builds
 * the tag section the recipient negotiated, then the message itself. */
size_t irc_format_event(char *out, size_t cap, const struct event *ev, unsigned tags)
{
    struct irc_tag t[4];
    size_t nt = 0;
    char when[CLOCK_ISO_LEN + 1];
    if (ev->batch)
        t[nt++] = (struct irc_tag){"batch", ev->batch};
    if (tags & FANOUT_TAG_TIME) {
        clock_iso8601(ev->time_ms, when);
        t[nt++] = (struct irc_tag){"time", when};
    }
    if ((tags & FANOUT_TAG_MSG) && ev->msgid)
        t[nt++] = (struct irc_tag){"msgid", ev->msgid};
    /* Free text goes in trailing form; commands whose last parameter is a
     * name (JOIN, NICK, MODE, INVITE) do not. */
    static const char *const text_commands[] = {"PRIVMSG", "NOTICE", "TOPIC", "PART", "QUIT",
                                                "KICK", "AWAY"};
    bool is_text = false;
    for (size_t i = 0; i < sizeof text_commands / sizeof text_commands[0]; i++)
        if (strcmp(ev->command, text_commands[i]) == 0)
            is_text = ev->nparams >= 2 || strcmp(ev->command, "AWAY") == 0 ||
                      strcmp(ev->command, "QUIT") == 0;
    const char *const *params = ev->params;
    size_t nparams = ev->nparams;
    const char *joined[3];
    if ((tags & FANOUT_EXTENDED_JOIN) && ev->realname && strcmp(ev->command, "JOIN") == 0) {
        /* IRCv3 extended-join: JOIN #room <account> :<real name>; salon has
         * no accounts, so the account is "*". */
        joined[0] = ev->params[0];
        joined[1] = "*";
        joined[2] = ev->realname;
        params = joined;
        nparams = 3;
        is_text = true;
    }
    size_t n = (is_text ? irc_format_text : irc_format)(out, cap, t, nt, ev->source, ev->command,
                                                         params, nparams);
    if (n == 0 || !(tags & FANOUT_TAG_MSG) || !ev->client_tags || !ev->client_tags[0])
        return n;
    /* Client-only tags arrive already escaped: splice them into the tag
     * section rather than unescaping and escaping again. */
    size_t extra = strlen(ev->client_tags);
    if (n + extra + 2 >= cap)
        return n;
    if (out[0] == '@') {
        size_t sp = strcspn(out, " ");
        memmove(out + sp + 1 + extra, out + sp, n - sp + 1);
        out[sp] = ';';
        memcpy(out + sp + 1, ev->client_tags, extra);
        return n + extra + 1;
    }
    memmove(out + extra + 2, out, n + 1);
    out[0] = '@';
    memcpy(out + 1, ev->client_tags, extra);
    out[extra + 1] = ' ';
    return n + extra + 2;
}
