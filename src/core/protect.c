#include "core/protect.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/report.h"
#include "core/room.h"
#include "core/session.h"
#include "core/user.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "policy/gate.h"
#include "policy/rules.h"

/* What people are told. The page shows its own translation by code and
 * falls back to these words (docs/protocol.md). */
#define TEXT_OFF_PLATFORM_SENT                                                          \
    "You shared contact details or an app name with someone you hardly know; they were " \
    "shown a safety warning with your message"
#define TEXT_SAFETY_TIP                                                                  \
    "This conversation shows signs that often come before abuse: questions about age or " \
    "school, secrecy, moving to another app, meeting. You owe nobody an answer. You can " \
    "leave, block and report in one click; a moderator will look at it."
#define TEXT_RESTRICTED                                                                  \
    "Until a moderator has looked at a conversation of yours, you cannot start new "      \
    "private conversations"

static void note(struct user *to, const char *verb, const char *code, const char *about,
                 const char *text)
{
    struct event ev = {.time_ms = clock_wall_ms(), .source = fanout_server_name(),
                       .command = "NOTE", .params = {verb, code, about, text}, .nparams = 4};
    fanout_one(to, &ev);
}

/* The automatic report's "rule" member. */
static void add_rule(json_t *o, const struct rule *r)
{
    if (r)
        json_object_set_new(o, "rule", json_pack("{s:s, s:s}", "id", r->id, "name", r->name));
}

static void auto_report(const struct verdict *v, const struct protect_msg *m, json_t *automatic,
                        const char *category, const char *comment, const struct auto_report *base)
{
    add_rule(automatic, v->rule);
    char *json = json_dumps(automatic, JSON_COMPACT);
    json_decref(automatic);
    struct auto_report ar = base ? *base : (struct auto_report){0};
    ar.category = category;
    ar.severity = v->rule && ar.severity == 0 ? v->rule->severity : ar.severity;
    ar.reported = m->from->session;
    ar.reported_nick = m->from->nick;
    ar.comment = comment;
    ar.automatic = json;
    if (!ar.where) {
        if (m->room) {
            ar.where = m->room->name;
            ar.context = m->room->history;
        } else {
            char key[HISTORY_KEY_MAX];
            ar.where = "private";
            if (m->to) {
                history_private_key(key, m->from->session, m->to->session);
                ar.context = history_private(key, 100);
            }
        }
    }
    if (report_create_auto(&ar) != SL_OK)
        log_error("automatic report (%s) not made: unknown category", category);
    free(json);
}

void protect_before_delivery(const struct verdict *v, const struct protect_msg *m)
{
    if (!m->to)
        return;
    if (v->effects & EFFECT_SAFETY_TIP)
        note(m->to, "SAFETY", "TIP", m->from->nick, TEXT_SAFETY_TIP);
    if ((v->effects & EFFECT_WARN_RECIPIENT) && v->warning)
        note(m->to, "PRIVMSG", "OFF_PLATFORM", m->from->nick, v->warning);
}

void protect_after(const struct verdict *v, const struct protect_msg *m)
{
    struct session *s = m->from->sess;
    if ((v->effects & EFFECT_WARN_RECIPIENT) && m->to)
        note(m->from, "PRIVMSG", "OFF_PLATFORM_SENT", m->to->nick, TEXT_OFF_PLATFORM_SENT);
    if ((v->effects & EFFECT_MUTE) && s && v->mute_ms > 0) {
        int64_t until = clock_wall_ms() + v->mute_ms;
        if (until > s->muted_until_ms)
            s->muted_until_ms = until;
    }
    if (v->effects & EFFECT_FLAG) {
        char comment[200];
        snprintf(comment, sizeof comment, "Flagged by rule %s", v->rule ? v->rule->id : "?");
        auto_report(v, m, json_object(), v->rule ? v->rule->category : "other", comment,
                    &(struct auto_report){.msgid = m->msgid});
    }
    if (v->effects & (EFFECT_REVIEW_CONVERSATION | EFFECT_RESTRICT_PM)) {
        /* A conversation's risk: its whole recent context goes to people,
         * whichever single line tipped it. Grooming signals are a child
         * safety matter first. */
        char comment[200];
        snprintf(comment, sizeof comment, "Conversation risk score %d crossed the %s threshold",
                 v->risk, (v->effects & EFFECT_RESTRICT_PM) ? "restriction" : "review");
        json_t *a = json_pack("{s:i}", "risk", v->risk);
        if (v->effects & EFFECT_RESTRICT_PM)
            json_object_set_new(a, "restricted", json_true());
        auto_report(&(struct verdict){.risk = v->risk}, m, a, "child_safety", comment, NULL);
    }
    if ((v->effects & EFFECT_RESTRICT_PM) && s && !s->is_pm_restricted) {
        session_set_pm_restricted(s, true);
        note(m->from, "PRIVMSG", "PM_RESTRICTED", "*", TEXT_RESTRICTED);
    }
}

void protect_hold(const struct verdict *v, const struct protect_msg *m, char *msgid_out)
{
    history_new_msgid(msgid_out);
    char mask[USER_MASK_MAX];
    user_mask(m->from, mask);
    const char *target = m->room ? m->room->name : m->to->nick;
    json_t *held = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "kind",
                             m->room ? "room" : "private", "target", target, "target_session",
                             m->to ? m->to->session : "", "source", mask, "command",
                             m->command, "text", m->text, "msgid", msgid_out, "time_ms",
                             (json_int_t)clock_wall_ms());
    char comment[200];
    snprintf(comment, sizeof comment, "Held by rule %s", v->rule ? v->rule->id : "?");
    auto_report(v, m, json_pack("{s:o}", "held", held), v->rule ? v->rule->category : "other",
                comment,
                &(struct auto_report){.held_text = m->text, .held_msgid = msgid_out,
                                      .held_target = target});
    /* The rest of the verdict (a mute, a restriction) still applies. */
    protect_after(&(struct verdict){.effects = v->effects & ~EFFECT_FLAG, .rule = v->rule,
                                    .mute_ms = v->mute_ms, .risk = v->risk},
                  m);
}

void protect_room_pending(struct room *r, struct user *creator, const struct verdict *v)
{
    r->is_pending = true;
    note(creator, "JOIN", "ROOM_PENDING_REVIEW", r->name,
         "This room's name awaits a moderator's review; it will be listed and open to others "
         "once approved");
    char comment[200];
    snprintf(comment, sizeof comment, "Room name held by rule %s", v->rule ? v->rule->id : "?");
    struct protect_msg m = {.from = creator, .room = r};
    auto_report(v, &m, json_pack("{s:s}", "pending_room", r->name),
                v->rule ? v->rule->category : "other", comment, NULL);
}

enum sl_err protect_release(const struct report *rep, const char **error)
{
    json_t *a = json_loads(rep->automatic, 0, NULL);
    json_t *held = a ? json_object_get(a, "held") : NULL;
    const char *kind = json_string_value(json_object_get(held, "kind"));
    const char *target = json_string_value(json_object_get(held, "target"));
    const char *tsess = json_string_value(json_object_get(held, "target_session"));
    const char *source = json_string_value(json_object_get(held, "source"));
    const char *command = json_string_value(json_object_get(held, "command"));
    const char *text = json_string_value(json_object_get(held, "text"));
    const char *msgid = json_string_value(json_object_get(held, "msgid"));
    enum sl_err err = SL_OK;
    if (!kind || !target || !source || !command || !text || !msgid || !tsess) {
        *error = "This report holds no message";
        err = SL_EINVAL;
        goto out;
    }
    int64_t now = clock_wall_ms();
    struct event ev = {.msgid = msgid, .time_ms = now, .source = source, .command = command,
                       .params = {target, text}, .nparams = 2};
    struct store_msg sm = {.msgid = msgid, .time_ms = now, .sender = rep->reported,
                           .source = source, .command = command, .target = target,
                           .text = text};
    if (!strcmp(kind, "room")) {
        struct room *r = room_find(target);
        if (!r) {
            *error = "That room no longer exists";
            err = SL_ENOTFOUND;
            goto out;
        }
        sm.key = history_key(r->history);
        history_add(r->history, &sm);
        room_broadcast(r, &ev, NULL);
    } else {
        /* To the recipient if connected; kept in the conversation's history
         * either way, so CHATHISTORY shows it later. */
        char key[HISTORY_KEY_MAX];
        history_private_key(key, rep->reported, tsess);
        sm.key = key;
        history_add(history_private(key, 100), &sm);
        struct user *to = user_find_session(tsess);
        if (to)
            fanout_one(to, &ev);
    }
    struct user *author = user_find_session(rep->reported);
    if (author)
        note(author, "PRIVMSG", "RELEASED", target,
             "A moderator reviewed your message and let it through");
out:
    json_decref(a);
    return err;
}

enum sl_err protect_approve_room(const char *name, const char **error)
{
    struct room *r = name ? room_find(name) : NULL;
    if (!r) {
        *error = "That room no longer exists";
        return SL_ENOTFOUND;
    }
    r->is_pending = false;
    for (uint32_t i = 0; i < r->nmembers; i++)
        note(r->members[i], "JOIN", "ROOM_APPROVED", r->name,
             "A moderator approved this room: it is now listed and open to others");
    return SL_OK;
}

enum sl_err protect_lift_restriction(const char *session, const char **error)
{
    struct session *s = session ? session_find(session) : NULL;
    if (!s) {
        *error = "No such session";
        return SL_ENOTFOUND;
    }
    session_set_pm_restricted(s, false);
    struct user *u = user_find_session(session);
    if (u)
        note(u, "PRIVMSG", "PM_UNRESTRICTED", "*",
             "A moderator lifted the restriction: you may start private conversations again");
    return SL_OK;
}
