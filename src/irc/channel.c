#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fanout.h"
#include "core/protect.h"
#include "core/room.h"
#include "core/user.h"
#include "irc/client.h"
#include "irc/numeric.h"
#include "lib/clock.h"
#include "policy/gate.h"

#define ROOM_PENDING_TEXT \
    "This room's name awaits a moderator's review; it opens to others once approved"

/* Maps core's reasons to numerics: the one place for room errors. */
static void room_error(struct irc_client *c, enum room_deny d, const char *name)
{
    switch (d) {
    case ROOM_OK:
    case ROOM_ALREADY_MEMBER:
        break;
    case ROOM_NO_SUCH:
    case ROOM_BAD_NAME:
        irc_reply(c, ERR_NOSUCHCHANNEL, "%s :No such channel", name);
        break;
    case ROOM_CREATION_OFF:
        irc_reply(c, ERR_NOSUCHCHANNEL, "%s :No such channel (creating rooms is disabled)", name);
        break;
    case ROOM_TOO_MANY:
        irc_reply(c, ERR_TOOMANYCHANNELS, "%s :You have joined too many channels", name);
        break;
    case ROOM_FULL:
        irc_reply(c, ERR_CHANNELISFULL, "%s :Cannot join channel (+l)", name);
        break;
    case ROOM_INVITE_ONLY:
        irc_reply(c, ERR_INVITEONLYCHAN, "%s :Cannot join channel (+i)", name);
        break;
    case ROOM_BANNED:
        irc_reply(c, ERR_BANNEDFROMCHAN, "%s :Cannot join channel (+b)", name);
        break;
    case ROOM_BAD_KEY:
        irc_reply(c, ERR_BADCHANNELKEY, "%s :Cannot join channel (+k)", name);
        break;
    case ROOM_NOT_MEMBER:
        irc_reply(c, ERR_NOTONCHANNEL, "%s :You're not on that channel", name);
        break;
    case ROOM_NOT_OP:
        irc_reply(c, ERR_CHANOPRIVSNEEDED, "%s :You're not channel operator", name);
        break;
    case ROOM_CANNOT_SEND:
        irc_reply(c, ERR_CANNOTSENDTOCHAN, "%s :Cannot send to channel", name);
        break;
    case ROOM_TARGET_NOT_MEMBER:
        irc_reply(c, ERR_USERNOTINCHANNEL, "%s :They aren't on that channel", name);
        break;
    case ROOM_PENDING_REVIEW:
        irc_send(c, ":%s FAIL JOIN ROOM_PENDING_REVIEW %s :%s", irc_cfg.server_name, name,
                 ROOM_PENDING_TEXT);
        irc_reply(c, ERR_NOSUCHCHANNEL, "%s :%s", name, ROOM_PENDING_TEXT);
        break;
    }
}

static void send_topic(struct irc_client *c, struct room *r, bool quiet_if_none)
{
    if (!r->topic) {
        if (!quiet_if_none)
            irc_reply(c, RPL_NOTOPIC, "%s :No topic is set", r->name);
        return;
    }
    irc_reply(c, RPL_TOPIC, "%s :%s", r->name, r->topic);
    irc_reply(c, RPL_TOPICWHOTIME, "%s %s %lld", r->name, r->topic_by,
              (long long)(r->topic_time_ms / 1000));
}

void irc_send_names(struct irc_client *c, struct room *r)
{
    /* 353 lines stay under 512 bytes: flush the list when it gets long. */
    char list[400];
    size_t n = 0;
    bool multi = c->caps & CAP_MULTI_PREFIX, full = c->caps & CAP_USERHOST_IN_NAMES;
    for (uint32_t i = 0; i < r->nmembers; i++) {
        struct user *m = r->members[i];
        int modes = room_member_modes(r, m);
        char prefix[3] = "";
        size_t p = 0;
        if (modes & ROOM_MEMBER_OP)
            prefix[p++] = '@';
        if ((modes & ROOM_MEMBER_VOICE) && (multi || p == 0))
            prefix[p++] = '+';
        prefix[p] = '\0';
        char who[USER_MASK_MAX];
        if (full)
            user_mask(m, who);
        else
            snprintf(who, sizeof who, "%s", m->nick);
        size_t need = strlen(prefix) + strlen(who) + 1;
        if (n + need >= sizeof list) {
            irc_reply(c, RPL_NAMREPLY, "= %s :%s", r->name, list);
            n = 0;
        }
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s%s", n ? " " : "", prefix, who);
    }
    if (n)
        irc_reply(c, RPL_NAMREPLY, "= %s :%s", r->name, list);
    irc_reply(c, RPL_ENDOFNAMES, "%s :End of /NAMES list.", r->name);
}

enum sl_err cmd_join(struct irc_client *c, struct irc_msg *m)
{
    if (strcmp(m->params[0], "0") == 0) {
        while (c->user->nrooms > 0)
            room_part(c->user, c->user->rooms[c->user->nrooms - 1].room, "Left all channels");
        return SL_OK;
    }
    char names[512], keys[512] = "";
    snprintf(names, sizeof names, "%s", m->params[0]);
    if (m->nparams > 1)
        snprintf(keys, sizeof keys, "%s", m->params[1]);
    char *ns = NULL, *ks = NULL;
    char *key = strtok_r(keys, ",", &ks);
    int count = 0;
    for (char *name = strtok_r(names, ",", &ns); name && count < 10;
         name = strtok_r(NULL, ",", &ns), key = strtok_r(NULL, ",", &ks), count++) {
        struct room *r = room_find(name);
        bool creating = r == NULL;
        struct verdict v = policy_check(&(struct action){
            .kind = creating ? ACTION_CREATE_ROOM : ACTION_JOIN, .nick = c->user->nick,
            .target = name, .session = c->user->session, .now_ms = clock_mono_ms(),
            .wall_ms = clock_wall_ms(), .session_since_ms = c->user->profile.session_created_ms});
        if (v.kind != VERDICT_ALLOW) {
            if (v.code)
                irc_send(c, ":%s FAIL JOIN %s %s :%s", irc_cfg.server_name, v.code, name,
                         v.reason ? v.reason : "Refused");
            irc_reply(c, ERR_NOSUCHCHANNEL, "%s :%s", name, v.reason ? v.reason : "Refused");
            continue;
        }
        enum room_deny d = room_join(c->user, name, key, &r);
        if (d != ROOM_OK) {
            room_error(c, d, name);
            continue;
        }
        /* A name a rule holds: the room exists for its creator only, out of
         * the directory, until a moderator approves it. */
        if (creating && (v.effects & EFFECT_HIDE_ROOM))
            protect_room_pending(r, c->user, &v);
        send_topic(c, r, true);
        irc_send_names(c, r);
    }
    return SL_OK;
}

enum sl_err cmd_part(struct irc_client *c, struct irc_msg *m)
{
    char names[512];
    snprintf(names, sizeof names, "%s", m->params[0]);
    const char *reason = m->nparams > 1 ? m->params[1] : NULL;
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        struct room *r = room_find(name);
        if (!r) {
            room_error(c, ROOM_NO_SUCH, name);
            continue;
        }
        room_error(c, room_part(c->user, r, reason), name);
    }
    return SL_OK;
}

enum sl_err cmd_topic(struct irc_client *c, struct irc_msg *m)
{
    struct room *r = room_find(m->params[0]);
    if (!r) {
        room_error(c, ROOM_NO_SUCH, m->params[0]);
        return SL_OK;
    }
    if (m->nparams < 2) {
        send_topic(c, r, false);
        return SL_OK;
    }
    if (m->params[1][0] && room_member_modes(r, c->user) >= 0 &&
        !irc_text_allowed(c, ACTION_TOPIC, r, m->params[1], "TOPIC", r->name))
        return SL_OK;
    room_error(c, room_set_topic(c->user, r, m->params[1]), r->name);
    return SL_OK;
}

enum sl_err cmd_names(struct irc_client *c, struct irc_msg *m)
{
    if (m->nparams == 0) {
        irc_reply(c, RPL_ENDOFNAMES, "* :End of /NAMES list.");
        return SL_OK;
    }
    char names[512];
    snprintf(names, sizeof names, "%s", m->params[0]);
    char *save = NULL;
    for (char *name = strtok_r(names, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
        struct room *r = room_find(name);
        if (r)
            irc_send_names(c, r);
        else
            irc_reply(c, RPL_ENDOFNAMES, "%s :End of /NAMES list.", name);
    }
    return SL_OK;
}

enum sl_err cmd_list(struct irc_client *c, struct irc_msg *m)
{
    (void)m;
    irc_reply(c, RPL_LISTSTART, "Channel :Users  Name");
    size_t pos = 0;
    for (struct room *r; (r = room_next(&pos));) {
        if (!room_is_listed(r, c->user))
            continue;
        irc_reply(c, RPL_LIST, "%s %u :%s", r->name, r->nmembers, r->topic ? r->topic : "");
    }
    irc_reply(c, RPL_LISTEND, ":End of /LIST");
    return SL_OK;
}

static void send_modes(struct irc_client *c, struct room *r)
{
    char modes[64] = "+", args[64] = "";
    size_t n = 1;
    static const struct { uint32_t flag; char ch; } flags[] = {
        {ROOM_MODE_INVITE, 'i'}, {ROOM_MODE_MODERATED, 'm'},
        {ROOM_MODE_NO_EXTERNAL, 'n'}, {ROOM_MODE_TOPIC_OPS, 't'},
    };
    for (size_t i = 0; i < 4; i++)
        if (r->modes & flags[i].flag)
            modes[n++] = flags[i].ch;
    bool member = room_member_modes(r, c->user) >= 0;
    if (r->key[0]) {
        modes[n++] = 'k';
        snprintf(args, sizeof args, " %s", member ? r->key : "*");
    }
    if (r->limit) {
        modes[n++] = 'l';
        size_t a = strlen(args);
        snprintf(args + a, sizeof args - a, " %u", r->limit);
    }
    if (r->slow_s) {
        modes[n++] = 'W';
        size_t a = strlen(args);
        snprintf(args + a, sizeof args - a, " %u", r->slow_s);
    }
    modes[n] = '\0';
    irc_reply(c, RPL_CHANNELMODEIS, "%s %s%s", r->name, modes, args);
    irc_reply(c, RPL_CREATIONTIME, "%s %lld", r->name, (long long)(r->created_ms / 1000));
}

static void send_banlist(struct irc_client *c, struct room *r)
{
    for (uint32_t i = 0; i < r->nbans; i++)
        irc_reply(c, RPL_BANLIST, "%s %s", r->name, r->bans[i]);
    irc_reply(c, RPL_ENDOFBANLIST, "%s :End of channel ban list", r->name);
}

/* MODE #room <changes> [args...]: applies each change, then broadcasts
 * the ones that took effect as one MODE line. */
static void room_mode(struct irc_client *c, struct room *r, struct irc_msg *m)
{
    if (m->nparams == 1) {
        send_modes(c, r);
        return;
    }
    const char *spec = m->params[1];
    size_t argi = 2;
    int modes = room_member_modes(r, c->user);
    bool is_op = modes >= 0 && (modes & ROOM_MEMBER_OP);
    char done[64] = "", doneargs[400] = "";
    size_t dn = 0, an = 0;
    char last_sign = 0;
    bool on = true;
    int changes = 0;
    for (const char *p = spec; *p && changes < 8; p++) {
        if (*p == '+' || *p == '-') {
            on = *p == '+';
            continue;
        }
        const char *arg = NULL;
        bool needs_arg = strchr("ovbk", *p) || ((*p == 'l' || *p == 'W') && on);
        if (needs_arg) {
            if (argi < m->nparams)
                arg = m->params[argi++];
            else if (*p == 'b') {
                send_banlist(c, r);
                continue;
            } else if (*p == 'k' && !on) {
                arg = "*";
            } else {
                irc_reply(c, ERR_NEEDMOREPARAMS, "MODE :Not enough parameters");
                continue;
            }
        }
        if (!strchr("imntklbovW", *p)) {
            irc_reply(c, ERR_UNKNOWNMODE, "%c :is unknown mode char to me", *p);
            continue;
        }
        if (!is_op) {
            irc_reply(c, ERR_CHANOPRIVSNEEDED, "%s :You're not channel operator", r->name);
            return;
        }
        bool changed = false;
        switch (*p) {
        case 'i': changed = room_set_flag(r, ROOM_MODE_INVITE, on); break;
        case 'm': changed = room_set_flag(r, ROOM_MODE_MODERATED, on); break;
        case 'n': changed = room_set_flag(r, ROOM_MODE_NO_EXTERNAL, on); break;
        case 't': changed = room_set_flag(r, ROOM_MODE_TOPIC_OPS, on); break;
        case 'k':
            if (on && (strlen(arg) > ROOM_KEY_MAX || strpbrk(arg, " ,:") || !arg[0])) {
                irc_reply(c, ERR_INVALIDMODEPARAM, "%s k %s :Invalid key", r->name, arg);
                continue;
            }
            changed = room_set_key(r, on ? arg : NULL);
            break;
        case 'l': {
            if (!on) {
                changed = room_set_limit(r, 0);
                break;
            }
            char *end = NULL;
            long v = strtol(arg, &end, 10);
            if (*end || v <= 0 || v > 100000) {
                irc_reply(c, ERR_INVALIDMODEPARAM, "%s l %s :Invalid limit", r->name, arg);
                continue;
            }
            changed = room_set_limit(r, (uint32_t)v);
            break;
        }
        case 'W': {
            /* Slow mode: one message per member every N seconds. */
            if (!on) {
                changed = room_set_slow(r, 0);
                break;
            }
            char *end = NULL;
            long v = strtol(arg, &end, 10);
            if (*end || v <= 0 || v > 3600) {
                irc_reply(c, ERR_INVALIDMODEPARAM, "%s W %s :Invalid slow mode (1-3600 s)",
                          r->name, arg);
                continue;
            }
            changed = room_set_slow(r, (uint32_t)v);
            break;
        }
        case 'b':
            changed = on ? room_add_ban(r, arg) : room_del_ban(r, arg);
            if (on && !changed && r->nbans >= ROOM_BANS_MAX)
                irc_reply(c, ERR_BANLISTFULL, "%s %s :Channel ban list is full", r->name, arg);
            break;
        case 'o':
        case 'v': {
            struct user *t = user_find(arg);
            if (!t) {
                irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", arg);
                continue;
            }
            if (room_member_modes(r, t) < 0) {
                irc_reply(c, ERR_USERNOTINCHANNEL, "%s %s :They aren't on that channel",
                          t->nick, r->name);
                continue;
            }
            changed = room_set_member_mode(r, t, *p == 'o' ? ROOM_MEMBER_OP : ROOM_MEMBER_VOICE, on);
            arg = t->nick;
            break;
        }
        }
        if (!changed)
            continue;
        changes++;
        char sign = on ? '+' : '-';
        if (sign != last_sign && dn < sizeof done - 2) {
            done[dn++] = sign;
            last_sign = sign;
        }
        if (dn < sizeof done - 1)
            done[dn++] = *p;
        done[dn] = '\0';
        if (arg && (needs_arg) && an < sizeof doneargs - 1)
            an += (size_t)snprintf(doneargs + an, sizeof doneargs - an, " %s", arg);
    }
    if (dn == 0)
        return;
    char mask[USER_MASK_MAX], line[512];
    user_mask(c->user, mask);
    /* The arguments are separate parameters; the last one must not need a
     * ':' (they never contain spaces), so the line is formatted directly. */
    snprintf(line, sizeof line, "%s%s", done, doneargs);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask, .command = "MODE",
                       .params = {r->name}, .nparams = 1};
    /* Split "modes args..." into parameters for the formatter. */
    char *save = NULL;
    for (char *tok = strtok_r(line, " ", &save); tok && ev.nparams < EVENT_PARAMS_MAX;
         tok = strtok_r(NULL, " ", &save))
        ev.params[ev.nparams++] = tok;
    room_broadcast(r, &ev, NULL);
}

enum sl_err cmd_mode(struct irc_client *c, struct irc_msg *m)
{
    const char *target = m->params[0];
    if (target[0] == '#') {
        struct room *r = room_find(target);
        if (!r)
            room_error(c, ROOM_NO_SUCH, target);
        else
            room_mode(c, r, m);
        return SL_OK;
    }
    struct user *u = user_find(target);
    if (!u) {
        irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", target);
        return SL_OK;
    }
    if (u != c->user) {
        irc_reply(c, ERR_USERSDONTMATCH, ":Can't change mode for other users");
        return SL_OK;
    }
    if (m->nparams > 1 && strcmp(m->params[1], "+i") != 0 && strcmp(m->params[1], "-i") != 0) {
        irc_reply(c, ERR_UMODEUNKNOWNFLAG, ":Unknown MODE flag");
        return SL_OK;
    }
    /* Everyone is invisible (+i): salon never lists people outside rooms. */
    irc_reply(c, RPL_UMODEIS, "+i");
    return SL_OK;
}

enum sl_err cmd_kick(struct irc_client *c, struct irc_msg *m)
{
    struct room *r = room_find(m->params[0]);
    if (!r) {
        room_error(c, ROOM_NO_SUCH, m->params[0]);
        return SL_OK;
    }
    struct user *victim = user_find(m->params[1]);
    if (!victim) {
        irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", m->params[1]);
        return SL_OK;
    }
    const char *reason = m->nparams > 2 ? m->params[2] : c->user->nick;
    enum room_deny d = room_kick(c->user, r, victim, reason);
    if (d == ROOM_TARGET_NOT_MEMBER)
        irc_reply(c, ERR_USERNOTINCHANNEL, "%s %s :They aren't on that channel", victim->nick,
                  r->name);
    else
        room_error(c, d, r->name);
    return SL_OK;
}

enum sl_err cmd_invite(struct irc_client *c, struct irc_msg *m)
{
    struct user *target = user_find(m->params[0]);
    if (!target) {
        irc_reply(c, ERR_NOSUCHNICK, "%s :No such nick/channel", m->params[0]);
        return SL_OK;
    }
    struct room *r = room_find(m->params[1]);
    if (!r) {
        room_error(c, ROOM_NO_SUCH, m->params[1]);
        return SL_OK;
    }
    enum room_deny d = room_invite(c->user, r, target);
    if (d == ROOM_ALREADY_MEMBER) {
        irc_reply(c, ERR_USERONCHANNEL, "%s %s :is already on channel", target->nick, r->name);
        return SL_OK;
    }
    if (d != ROOM_OK) {
        room_error(c, d, r->name);
        return SL_OK;
    }
    irc_reply(c, RPL_INVITING, "%s %s", target->nick, r->name);
    char mask[USER_MASK_MAX];
    user_mask(c->user, mask);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask, .command = "INVITE",
                       .params = {target->nick, r->name}, .nparams = 2};
    fanout_one(target, &ev);
    return SL_OK;
}
