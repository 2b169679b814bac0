#include "core/moderation.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/audit.h"
#include "core/fanout.h"
#include "core/history.h"
#include "core/protect.h"
#include "core/report.h"
#include "core/room.h"
#include "core/session.h"
#include "core/user.h"
#include "lib/addr.h"
#include "lib/clock.h"
#include "lib/outq.h"
#include "policy/gate.h"


/* Sends "NOTE MODERATION <ACTION> <id> :<what>, because <reason> (rule:
 * <rule>). To appeal ..." to u. */
static void statement(struct user *u, const char *action, int64_t id, const char *what,
                      const char *reason, const char *rule)
{
    char upper[32], idtext[24], text[700];
    size_t i = 0;
    for (; action[i] && i < sizeof upper - 1; i++)
        upper[i] = (char)(action[i] >= 'a' && action[i] <= 'z' ? action[i] - 32 : action[i]);
    upper[i] = '\0';
    snprintf(idtext, sizeof idtext, "%" PRId64, id);
    snprintf(text, sizeof text,
             "%s, because %s (rule: %s). To appeal, send APPEAL %s :<your words>, or use "
             "the appeal form of the web page with action %s.",
             what, reason, rule && rule[0] ? rule : "house rules", idtext, idtext);
    struct event ev = {.time_ms = clock_wall_ms(), .source = fanout_server_name(),
                       .command = "NOTE", .params = {"MODERATION", upper, idtext, text},
                       .nparams = 4};
    fanout_one(u, &ev);
}

static void disconnect(struct user *u, const char *why, int64_t id)
{
    char reason[400];
    snprintf(reason, sizeof reason, "%s, action %" PRId64, why, id);
    outq_close_dup(u->out, reason);
}

static struct user *find_user(const struct mod_request *rq)
{
    if (rq->nick && rq->nick[0])
        return user_find(rq->nick);
    if (rq->session && rq->session[0]) {
        size_t pos = 0;
        for (struct user *u; (u = user_next(&pos)) != NULL;)
            if (strcmp(u->session, rq->session) == 0)
                return u;
    }
    return NULL;
}

unsigned moderation_enforce_bans(int64_t action_id, const char *rule)
{
    unsigned n = 0;
    int64_t now = clock_wall_ms();
    size_t pos = 0;
    for (struct user *u; (u = user_next(&pos)) != NULL;) {
        if (u->out->is_closing)
            continue;
        const struct ban *b = policy_ban_find(u->session, u->device, u->addr, u->nick, now);
        if (!b)
            continue;
        char what[80];
        snprintf(what, sizeof what, "You are banned (ban %" PRId64 ")", b->id);
        statement(u, "ban", action_id, what, b->reason, rule);
        disconnect(u, "Banned", action_id);
        n++;
    }
    return n;
}

static bool ban_value(const struct mod_request *rq, struct user *u, enum ban_kind kind,
                      char *out, size_t cap)
{
    char addr[ADDR_TEXT_MAX];
    switch (kind) {
    case BAN_SESSION:
        snprintf(out, cap, "%s", u ? u->session : (rq->session ? rq->session : ""));
        return out[0] != '\0';
    case BAN_DEVICE:
        if (!u || !u->device[0])
            return false;
        snprintf(out, cap, "%s", u->device);
        return true;
    case BAN_ADDRESS:
    case BAN_PREFIX:
        if (rq->pattern && rq->pattern[0]) {
            snprintf(out, cap, "%s", rq->pattern);
            return true;
        }
        if (!u)
            return false;
        snprintf(out, cap, "%s", addr_format(u->addr, addr, sizeof addr));
        return true;
    case BAN_NICK:
        snprintf(out, cap, "%s", rq->pattern && rq->pattern[0] ? rq->pattern : (u ? u->nick : ""));
        return out[0] != '\0';
    }
    return false;
}

enum sl_err moderation_act(const struct mod_request *rq, struct mod_result *res,
                           const char **error)
{
    *res = (struct mod_result){0};
    char ban_detail[200] = "";
    const char *a = rq->action ? rq->action : "";
    if (!rq->reason || !rq->reason[0]) {
        *error = "A reason is required";
        return SL_EINVAL;
    }
    struct report *rep = rq->report_id ? report_find(rq->report_id) : NULL;
    if (rq->report_id && !rep) {
        *error = "No such open report";
        return SL_ENOTFOUND;
    }
    struct mod_request eff = *rq;
    if (rep && !eff.session && !eff.nick)
        eff.session = rep->reported;
    struct user *u = find_user(&eff);
    const char *target = eff.nick ? eff.nick : (eff.session ? eff.session : "");
    int64_t now = clock_wall_ms();

    if (!strcmp(a, "dismiss")) {
        if (!rep) {
            *error = "dismiss needs a report_id";
            return SL_EINVAL;
        }
    } else if (!strcmp(a, "warn") || !strcmp(a, "kick") || !strcmp(a, "mute")) {
        if (!u && strcmp(a, "mute") != 0) {
            *error = "That person is not connected";
            return SL_ENOTFOUND;
        }
        if (!strcmp(a, "mute")) {
            struct session *s = u ? u->sess : session_find(eff.session ? eff.session : "");
            if (!s || rq->duration_s <= 0) {
                *error = s ? "mute needs duration_s" : "No such session";
                return s ? SL_EINVAL : SL_ENOTFOUND;
            }
            s->muted_until_ms = now + rq->duration_s * 1000;
        }
    } else if (!strcmp(a, "delete_message")) {
        struct history *h;
        if (!rq->msgid || !history_lookup(rq->msgid, &h)) {
            *error = "No such message in recent history";
            return SL_ENOTFOUND;
        }
    } else if (!strcmp(a, "close_room")) {
        if (!rq->room || !room_find(rq->room)) {
            *error = "No such room";
            return SL_ENOTFOUND;
        }
    } else if (!strcmp(a, "ban")) {
        int kind = ban_kind_parse(rq->ban_by ? rq->ban_by : "session");
        char value[64];
        if (kind < 0 || !ban_value(&eff, u, (enum ban_kind)kind, value, sizeof value)) {
            *error = "Cannot ban that way: unknown ban_by, or the person is not connected";
            return SL_EINVAL;
        }
        int64_t until = rq->duration_s > 0 ? now + rq->duration_s * 1000 : 0;
        int64_t ban_id = policy_ban_add((enum ban_kind)kind, value, until, rq->reason, rq->actor);
        if (!ban_id) {
            *error = "That ban value does not parse";
            return SL_EINVAL;
        }
        res->ban_id = ban_id;
        snprintf(ban_detail, sizeof ban_detail, "ban %lld by %s %s; ", (long long)ban_id,
                 ban_kind_name((enum ban_kind)kind), value);
    } else if (!strcmp(a, "unban")) {
        if (!rq->ban_id || !policy_ban_remove(rq->ban_id)) {
            *error = "No such ban";
            return SL_ENOTFOUND;
        }
    } else if (!strcmp(a, "answer_appeal")) {
        if (!rep || strcmp(rep->category, "appeal") != 0) {
            *error = "answer_appeal needs the report_id of an appeal";
            return SL_EINVAL;
        }
    } else if (!strcmp(a, "release") || !strcmp(a, "discard")) {
        if (!rep || !strstr(rep->automatic, "\"held\"")) {
            *error = "release and discard need the report_id of a held message";
            return SL_EINVAL;
        }
        if (!strcmp(a, "release") && protect_release(rep, error) != SL_OK)
            return SL_ENOTFOUND;
    } else if (!strcmp(a, "approve_room")) {
        if (protect_approve_room(rq->room, error) != SL_OK)
            return SL_ENOTFOUND;
        target = rq->room;
    } else if (!strcmp(a, "lift_restriction")) {
        if (protect_lift_restriction(eff.session, error) != SL_OK)
            return SL_ENOTFOUND;
    } else {
        *error = "Unknown action";
        return SL_EINVAL;
    }

    /* The action id is the audit entry that records it. */
    char detail[600];
    snprintf(detail, sizeof detail, "%s (rule %s)", rq->reason, rq->rule ? rq->rule : "");
    if (!strcmp(a, "unban"))
        snprintf(ban_detail, sizeof ban_detail, "ban %lld lifted; ", (long long)rq->ban_id);
    audit_log(rq->actor, a, target, "%s%s; report %lld; duration %lld s", ban_detail, detail,
              (long long)rq->report_id, (long long)rq->duration_s);
    int64_t id = audit_last_seq();
    res->action_id = id;
    struct session *target_sess = u ? u->sess : session_find(eff.session ? eff.session : "");
    if (target_sess && strcmp(a, "dismiss") != 0)
        session_note_action(target_sess, id, a, rq->reason, now);

    if (!strcmp(a, "answer_appeal") && u) {
        /* The decision goes back to the person, if connected now. */
        statement(u, "appeal", id, "A moderator decided on your appeal", rq->reason, rq->rule);
    } else if (!strcmp(a, "warn")) {
        statement(u, "warn", id, "A moderator warns you", rq->reason, rq->rule);
    } else if (!strcmp(a, "mute")) {
        if (u) {
            char what[96];
            snprintf(what, sizeof what, "You are muted for %lld minutes",
                     (long long)((rq->duration_s + 59) / 60));
            statement(u, "mute", id, what, rq->reason, rq->rule);
        }
    } else if (!strcmp(a, "kick")) {
        statement(u, "kick", id, "You were removed from salon", rq->reason, rq->rule);
        disconnect(u, "Removed by a moderator", id);
    } else if (!strcmp(a, "ban")) {
        moderation_enforce_bans(id, rq->rule);
    } else if (!strcmp(a, "delete_message")) {
        struct history *h;
        const struct store_msg *m = history_lookup(rq->msgid, &h);
        char author[NICK_MAX + 1];
        const char *bang = strchr(m->source, '!');
        snprintf(author, sizeof author, "%.*s", bang ? (int)(bang - m->source) : NICK_MAX,
                 m->source);
        struct room *r = m->target[0] == '#' ? room_find(m->target) : NULL;
        /* IRCv3 draft/message-redaction: REDACT <target> <msgid> :<reason> */
        struct event ev = {.time_ms = now, .source = fanout_server_name(), .command = "REDACT",
                           .params = {m->target, rq->msgid, "Removed by a moderator"},
                           .nparams = 3};
        char notice[200];
        snprintf(notice, sizeof notice, "A message from %s was removed by a moderator", author);
        struct event plain = {.time_ms = now, .source = fanout_server_name(),
                              .command = "NOTICE", .params = {m->target, notice}, .nparams = 2};
        struct user *author_user = user_find(author);
        if (r) {
            /* Clients that can remove a message from view get REDACT; the
             * others are told in words. */
            struct fanout fr, fp;
            fanout_init(&fr, &ev);
            fanout_init(&fp, &plain);
            for (uint32_t i = 0; i < r->nmembers; i++)
                fanout_to((r->members[i]->wants & USER_WANTS_REDACTION) ? &fr : &fp,
                          r->members[i]);
            fanout_done(&fr);
            fanout_done(&fp);
        }
        if (author_user)
            statement(author_user, "delete_message", id, "Your message was removed",
                      rq->reason, rq->rule);
        history_remove(rq->msgid);
    } else if (!strcmp(a, "close_room")) {
        struct room *r = room_find(rq->room);
        while (r->nmembers > 0) {
            struct user *m = r->members[r->nmembers - 1];
            statement(m, "close_room", id, "This room was closed", rq->reason, rq->rule);
            room_part(m, r, "Room closed by a moderator");
            r = room_find(rq->room);
            if (!r)
                break;
        }
        if (r)
            r->is_closed = true;
    }
    if (rep)
        report_close(rep, strcmp(a, "dismiss") ? "actioned" : "dismissed", rq->reason);
    return SL_OK;
}
