#include <stdio.h>
#include <string.h>

#include "core/room.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"
#include "lib/clock.h"

static void who_line(struct irc_client *c, const char *room_name, struct room *r,
                     struct user *u)
{
    char flags[4] = "H";
    size_t n = 1;
    if (u->away)
        flags[0] = 'G';
    if (r) {
        int modes = room_member_modes(r, u);
        if (modes & ROOM_MEMBER_OP)
            flags[n++] = '@';
        else if (modes & ROOM_MEMBER_VOICE)
            flags[n++] = '+';
    }
    flags[n] = '\0';
    irc_reply(c, RPL_WHOREPLY, "%s %s %s %s %s %s :0 %s", room_name, u->ident, u->host,
              irc_cfg.server_name, u->nick, flags, u->realname ? u->realname : "");
}

enum sl_err cmd_who(struct irc_client *c, struct irc_msg *m)
{
    const char *mask = m->nparams > 0 ? m->params[0] : "*";
    if (mask[0] == '#') {
        struct room *r = room_find(mask);
        /* Members of a room are visible to everyone who can see the room
         * (RFC 2812 3.6.1); +i rooms only to their members. */
        if (r && (!(r->modes & ROOM_MODE_INVITE) || room_member_modes(r, c->user) >= 0))
            for (uint32_t i = 0; i < r->nmembers; i++)
                who_line(c, r->name, r, r->members[i]);
    } else {
        /* salon offers no search of people: WHO matches one exact nick. */
        struct user *u = user_find(mask);
        if (u)
            who_line(c, "*", NULL, u);
    }
    irc_reply(c, RPL_ENDOFWHO, "%s :End of WHO list", mask);
    return SL_OK;
}

enum sl_err cmd_whois(struct irc_client *c, struct irc_msg *m)
{
    const char *nick = m->params[m->nparams > 1 ? 1 : 0];
    struct user *u = user_find(nick);
    if (!u) {
        irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", nick);
        irc_reply(c, RPL_ENDOFWHOIS, "%s :End of /WHOIS list", nick);
        return SL_OK;
    }
    irc_reply(c, RPL_WHOISUSER, "%s %s %s * :%s", u->nick, u->ident, u->host,
              u->realname ? u->realname : "");
    char list[400];
    size_t n = 0;
    list[0] = '\0';
    for (uint16_t i = 0; i < u->nrooms; i++) {
        struct room *r = u->rooms[i].room;
        if ((r->modes & ROOM_MODE_INVITE) && room_member_modes(r, c->user) < 0)
            continue;
        const char *prefix = (u->rooms[i].modes & ROOM_MEMBER_OP) ? "@"
                             : (u->rooms[i].modes & ROOM_MEMBER_VOICE) ? "+" : "";
        int w = snprintf(list + n, sizeof list - n, "%s%s%s", n ? " " : "", prefix, r->name);
        if (w < 0 || (size_t)w >= sizeof list - n)
            break;
        n += (size_t)w;
    }
    if (n)
        irc_reply(c, RPL_WHOISCHANNELS, "%s :%s", u->nick, list);
    irc_reply(c, RPL_WHOISSERVER, "%s %s :salon", u->nick, irc_cfg.server_name);
    if (u->away)
        irc_reply(c, RPL_AWAY, "%s :%s", u->nick, u->away);
    irc_reply(c, RPL_WHOISIDLE, "%s %lld %lld :seconds idle, signon time", u->nick,
              (long long)((clock_wall_ms() - u->idle_since_ms) / 1000),
              (long long)(u->signon_ms / 1000));
    irc_reply(c, RPL_ENDOFWHOIS, "%s :End of /WHOIS list", u->nick);
    return SL_OK;
}
