#include <stdio.h>
#include <string.h>

#include "core/message.h"
#include "core/protect.h"
#include "core/room.h"
#include "core/session.h"
#include "core/ticket.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"
#include "lib/clock.h"
#include "policy/gate.h"

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
        struct message_result res;
        const char *name = t;
        enum sl_err err;
        if (t[0] == '#') {
            struct room *r = room_find(t);
            if (!r) {
                if (!is_notice)
                    irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", t);
                continue;
            }
            name = r->name;
            err = message_to_room(c->user, r, command, text, ctags, &res);
            if (err == SL_EPERM && !is_notice)
                irc_reply(c, ERR_CANNOTSENDTOCHAN, "%s :Cannot send to channel", r->name);
        } else {
            struct user *to = user_find(t);
            if (!to) {
                if (!is_notice)
                    irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", t);
                continue;
            }
            name = to->nick;
            err = message_to_user(c->user, to, command, text, ctags, &res);
            if (err == SL_OK && res.fate == MESSAGE_HELD_NEW)
                announce_request(c, to);
            else if (err == SL_OK && res.fate == MESSAGE_SENT && to->away && !is_notice &&
                     !is_tagmsg)
                irc_reply(c, RPL_AWAY, "%s :%s", to->nick, to->away);
        }
        if (err == SL_EDENIED)
            irc_send(c, ":%s FAIL %s %s %s :%s", irc_cfg.server_name, command, res.code, name,
                     res.reason);
        else if (err == SL_OK && res.fate == MESSAGE_HELD_REVIEW)
            irc_send(c, ":%s NOTE %s HELD_FOR_REVIEW %s :Your message awaits a moderator's "
                     "review before anyone sees it.", irc_cfg.server_name, command, name);
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

bool irc_text_allowed(struct irc_client *c, int kind, struct room *r, const char *text,
                      const char *verb, const char *about)
{
    struct user *u = c->user;
    struct verdict v = policy_check(&(struct action){
        .kind = (enum action_kind)kind, .nick = u->nick, .target = r ? r->name : NULL,
        .text = text, .session = u->session, .now_ms = clock_mono_ms(),
        .wall_ms = clock_wall_ms(), .session_since_ms = u->profile.session_created_ms,
        .room_category = r ? r->category : 0});
    if (v.effects & EFFECT_FLAG)
        protect_after(&(struct verdict){.effects = EFFECT_FLAG, .rule = v.rule},
                      &(struct protect_msg){.from = u, .room = r, .command = verb, .text = text});
    if (v.kind == VERDICT_ALLOW)
        return true;
    irc_send(c, ":%s FAIL %s %s %s :%s", irc_cfg.server_name, verb,
             kind == ACTION_TOPIC ? "TOPIC_BLOCKED" : "AWAY_BLOCKED", about,
             v.reason ? v.reason : "Refused");
    return false;
}

enum sl_err cmd_away(struct irc_client *c, struct irc_msg *m)
{
    if (m->nparams > 0 && m->params[0][0]) {
        if (!irc_text_allowed(c, ACTION_AWAY, NULL, m->params[0], "AWAY", "*"))
            return SL_OK;
        user_set_away(c->user, m->params[0]);
        irc_reply(c, RPL_NOWAWAY, ":You have been marked as being away");
    } else {
        user_set_away(c->user, NULL);
        irc_reply(c, RPL_UNAWAY, ":You are no longer marked as being away");
    }
    return SL_OK;
}
