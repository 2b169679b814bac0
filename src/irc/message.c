#include <stdio.h>
#include <string.h>

#include "core/message.h"
#include "core/room.h"
#include "core/session.h"
#include "core/ticket.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"
#include "lib/clock.h"

/* Re-escapes the client-only tags (+key) of m into out for relaying;
 * returns out, or NULL when there are none. */
static const char *client_tags(const struct irc_msg *m, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < m->ntags; i++) {
        if (m->tags[i].key[0] != '+')
            continue;
        char val[IRC_CLIENT_TAGS_MAX + 1];
        size_t vl = m->tags[i].value[0] ? irc_tag_escape(val, sizeof val, m->tags[i].value) : 0;
        int w = snprintf(out + n, cap - n, "%s%s%s%s", n ? ";" : "", m->tags[i].key,
                         vl ? "=" : "", vl ? val : "");
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    return n ? out : NULL;
}

/* A stranger's first private message opened a request: the recipient is
 * asked (with what they need to decide: pseudonym, age band, gender, how
 * old the session is) and the sender is told it waits. */
static void announce_request(struct irc_client *c, struct user *to)
{
    struct user *u = c->user;
    int64_t age_s = (clock_wall_ms() - u->profile.session_created_ms) / 1000;
    if (u->profile.session_created_ms <= 0 || age_s < 0)
        age_s = (clock_wall_ms() - u->signon_ms) / 1000;
    irc_send_user(to, ":%s NOTE PRIVMSG PM_REQUEST %s %s %s %lld :%s would like to talk with you "
                  "privately (PMACCEPT %s or PMDECLINE %s)",
                  irc_cfg.server_name, u->nick, session_age_band(u->profile.age),
                  ticket_gender_name(u->profile.gender), (long long)age_s, u->nick, u->nick,
                  u->nick);
    irc_send(c, ":%s NOTE PRIVMSG PM_REQUEST_SENT %s :Your request was sent; %s will see your "
             "messages once they accept", irc_cfg.server_name, to->nick, to->nick);
}

/* PRIVMSG, NOTICE and TAGMSG share this: NOTICE never gets an error reply
 * (RFC 2812 section 3.3.2), so automatic replies cannot loop. */
static enum sl_err send_message(struct irc_client *c, struct irc_msg *m, const char *command)
{
    bool is_notice = strcmp(command, "NOTICE") == 0;
    bool is_tagmsg = strcmp(command, "TAGMSG") == 0;
    if (m->nparams < 1 || !m->params[0][0]) {
        if (!is_notice)
            irc_reply(c, ERR_NORECIPIENT, ":No recipient given (%s)", command);
        return SL_OK;
    }
    const char *text = is_tagmsg ? "" : (m->nparams > 1 ? m->params[1] : "");
    if (!is_tagmsg && !text[0]) {
        if (!is_notice)
            irc_reply(c, ERR_NOTEXTTOSEND, ":No text to send");
        return SL_OK;
    }
    char tags[4096];
    const char *ctags = client_tags(m, tags, sizeof tags);
    char targets[512];
    snprintf(targets, sizeof targets, "%s", m->params[0]);
    char *save = NULL;
    int count = 0;
    for (char *t = strtok_r(targets, ",", &save); t && count < 4;
         t = strtok_r(NULL, ",", &save), count++) {
        const char *reason = NULL;
        enum sl_err err;
        if (t[0] == '#') {
            struct room *r = room_find(t);
            if (!r) {
                if (!is_notice)
                    irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", t);
                continue;
            }
            err = message_to_room(c->user, r, command, text, ctags, &reason);
            if (err == SL_EDENIED) {
                irc_send(c, ":%s FAIL %s MESSAGE_REJECTED %s :%s", irc_cfg.server_name, command,
                         r->name, reason);
                continue;
            }
            if (err == SL_EPERM && !is_notice)
                irc_reply(c, ERR_CANNOTSENDTOCHAN, "%s :Cannot send to channel", r->name);
        } else {
            struct user *to = user_find(t);
            if (!to) {
                if (!is_notice)
                    irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", t);
                continue;
            }
            enum message_fate fate;
            const char *code = "MESSAGE_REJECTED";
            err = message_to_user(c->user, to, command, text, ctags, &fate, &code, &reason);
            if (err == SL_OK && fate == MESSAGE_HELD_NEW)
                announce_request(c, to);
            else if (err == SL_OK && fate == MESSAGE_SENT && to->away && !is_notice && !is_tagmsg)
                irc_reply(c, RPL_AWAY, "%s :%s", to->nick, to->away);
            if (err == SL_EDENIED) {
                irc_send(c, ":%s FAIL %s %s %s :%s", irc_cfg.server_name, command, code,
                         to->nick, reason);
                continue;
            }
        }
        if (err == SL_EDENIED)
            irc_send(c, ":%s FAIL %s MESSAGE_REJECTED %s :%s", irc_cfg.server_name, command, t,
                     reason);
    }
    return SL_OK;
}

enum sl_err cmd_privmsg(struct irc_client *c, struct irc_msg *m)
{
    return send_message(c, m, "PRIVMSG");
}

enum sl_err cmd_notice(struct irc_client *c, struct irc_msg *m)
{
    return send_message(c, m, "NOTICE");
}

enum sl_err cmd_tagmsg(struct irc_client *c, struct irc_msg *m)
{
    return send_message(c, m, "TAGMSG");
}

enum sl_err cmd_away(struct irc_client *c, struct irc_msg *m)
{
    if (m->nparams > 0 && m->params[0][0]) {
        user_set_away(c->user, m->params[0]);
        irc_reply(c, RPL_NOWAWAY, ":You have been marked as being away");
    } else {
        user_set_away(c->user, NULL);
        irc_reply(c, RPL_UNAWAY, ":You are no longer marked as being away");
    }
    return SL_OK;
}
