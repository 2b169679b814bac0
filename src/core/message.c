#include "core/message.h"

#include <stdio.h>
#include <string.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/room.h"
#include "core/session.h"
#include "core/user.h"
#include "lib/clock.h"
#include "policy/gate.h"

static unsigned private_history = 100;

static bool is_tagmsg(const char *command)
{
    return strcmp(command, "TAGMSG") == 0;
}

bool message_is_ignored(const struct user *to, const struct user *from)
{
    return to->sess && from->sess && to->sess->ignored.len &&
           session_list_has(&to->sess->ignored, from->sess->id);
}

static void deliver(struct fanout *f, struct user *to, bool tagmsg)
{
    if (tagmsg && !(to->wants & USER_WANTS_TAGS))
        return;
    fanout_to(f, to);
}

enum sl_err message_to_room(struct user *u, struct room *r, const char *command,
                            const char *text, const char *client_tags,
                            const char **reason)
{
    if (room_can_send(r, u) != ROOM_OK)
        return SL_EPERM;
    struct verdict v = policy_check(&(struct action){
        .kind = ACTION_SAY_ROOM, .nick = u->nick, .target = r->name, .text = text,
        .session = u->session, .muted_until_ms = u->sess ? u->sess->muted_until_ms : 0});
    if (v.kind != VERDICT_ALLOW) {
        *reason = v.reason ? v.reason : "Message refused";
        return SL_EDENIED;
    }
    bool tagmsg = is_tagmsg(command);
    char msgid[HISTORY_MSGID_MAX], mask[USER_MASK_MAX];
    history_new_msgid(msgid);
    user_mask(u, mask);
    int64_t now = clock_wall_ms();
    struct event ev = {.msgid = msgid, .time_ms = now, .client_tags = client_tags,
                       .source = mask, .command = command, .params = {r->name, text},
                       .nparams = tagmsg ? 1 : 2};
    if (!tagmsg) {
        struct store_msg sm = {.msgid = msgid, .time_ms = now, .key = history_key(r->history),
                               .sender = u->session,
                               .source = mask, .command = command, .target = r->name,
                               .text = text};
        history_add(r->history, &sm);
    }
    struct fanout f;
    fanout_init(&f, &ev);
    for (uint32_t i = 0; i < r->nmembers; i++) {
        struct user *m = r->members[i];
        if (m == u ? (u->wants & USER_WANTS_ECHO) != 0 : !message_is_ignored(m, u))
            deliver(&f, m, tagmsg);
    }
    fanout_done(&f);
    u->idle_since_ms = now;
    return SL_OK;
}

/* Delivers one private message from u to `to` now: history, then fan-out,
 * and the echo for u unless it had it already (a held message was echoed
 * when it was held). A held message keeps its msgid and time. */
static void deliver_private(struct user *u, struct user *to, const char *command,
                            const char *text, const char *client_tags, int64_t time_ms,
                            const char *held_msgid)
{
    bool tagmsg = is_tagmsg(command);
    char msgid[HISTORY_MSGID_MAX], mask[USER_MASK_MAX];
    if (held_msgid)
        snprintf(msgid, sizeof msgid, "%s", held_msgid);
    else
        history_new_msgid(msgid);
    user_mask(u, mask);
    struct event ev = {.msgid = msgid, .time_ms = time_ms, .client_tags = client_tags,
                       .source = mask, .command = command, .params = {to->nick, text},
                       .nparams = tagmsg ? 1 : 2};
    if (!tagmsg) {
        char key[HISTORY_KEY_MAX];
        history_private_key(key, u->session, to->session);
        struct store_msg sm = {.msgid = msgid, .time_ms = time_ms, .key = key,
                               .sender = u->session, .source = mask, .command = command,
                               .target = to->nick, .text = text};
        history_add(history_private(key, private_history), &sm);
    }
    struct fanout f;
    fanout_init(&f, &ev);
    deliver(&f, to, tagmsg);
    if (to != u && !held_msgid && (u->wants & USER_WANTS_ECHO))
        deliver(&f, u, tagmsg);
    fanout_done(&f);
}

enum sl_err message_to_user(struct user *u, struct user *to, const char *command,
                            const char *text, const char *client_tags,
                            enum message_fate *fate, const char **code,
                            const char **reason)
{
    *fate = MESSAGE_SENT;
    struct session *from = u->sess, *rcpt = to->sess;
    struct pm_facts pm = {.is_accepted = true};
    struct pm_request *rq = NULL;
    if (from && rcpt && from != rcpt) {
        rq = session_request_find(rcpt, from->id);
        pm.setting = (uint8_t)rcpt->pm_policy;
        pm.is_accepted = session_list_has(&rcpt->accepted, from->id);
        pm.is_declined = session_list_has(&rcpt->declined, from->id);
        pm.is_waiting = rq != NULL;
        pm.held = rq ? rq->nheld : 0;
    }
    struct verdict v = policy_check(&(struct action){
        .kind = ACTION_SAY_PRIVATE, .nick = u->nick, .target = to->nick, .text = text,
        .pm = &pm, .session = u->session,
        .muted_until_ms = from ? from->muted_until_ms : 0});
    int64_t now = clock_wall_ms();
    u->idle_since_ms = now;
    if (v.kind == VERDICT_DENY || (v.kind == VERDICT_HOLD && is_tagmsg(command))) {
        /* A typing notification never opens a request: dropped quietly. */
        if (v.kind == VERDICT_HOLD)
            return SL_OK;
        *code = v.code ? v.code : "MESSAGE_REJECTED";
        *reason = v.reason ? v.reason : "Message refused";
        return SL_EDENIED;
    }
    /* Writing first to someone is accepting their replies. */
    if (from && rcpt && from != rcpt)
        session_accept(from, rcpt->id);
    if (message_is_ignored(to, u))
        return SL_OK;       /* silently, as far as the sender can tell */
    if (v.kind == VERDICT_HOLD) {
        *fate = rq ? MESSAGE_HELD : MESSAGE_HELD_NEW;
        if (!rq)
            rq = session_request_add(rcpt, from->id);
        char msgid[HISTORY_MSGID_MAX];
        history_new_msgid(msgid);
        session_request_hold(rq, msgid, command, text, client_tags, now);
        /* echo-message: the sender sees its own words at once, with the
         * msgid they will keep once delivered. */
        if (u->wants & USER_WANTS_ECHO) {
            char mask[USER_MASK_MAX];
            user_mask(u, mask);
            struct event ev = {.msgid = msgid, .time_ms = now, .client_tags = client_tags,
                               .source = mask, .command = command, .params = {to->nick, text},
                               .nparams = 2};
            fanout_one(u, &ev);
        }
        return SL_OK;
    }
    if (v.kind != VERDICT_ALLOW) {
        *code = "MESSAGE_REJECTED";
        *reason = "Message refused";
        return SL_EDENIED;
    }
    deliver_private(u, to, command, text, client_tags, now, NULL);
    return SL_OK;
}

enum sl_err message_accept(struct user *u, struct user *from)
{
    if (!u->sess || !from->sess)
        return SL_EINVAL;
    session_accept(u->sess, from->sess->id);
    struct pm_request *rq = session_request_find(u->sess, from->sess->id);
    if (!rq)
        return SL_ENOTFOUND;
    for (unsigned i = 0; i < rq->nheld; i++) {
        struct held_msg *h = &rq->held[i];
        deliver_private(from, u, h->command, h->text, h->client_tags, h->time_ms, h->msgid);
    }
    session_request_drop(u->sess, rq);
    return SL_OK;
}

enum sl_err message_decline(struct user *u, struct user *from)
{
    if (!u->sess || !from->sess)
        return SL_EINVAL;
    session_decline(u->sess, from->sess->id);
    struct pm_request *rq = session_request_find(u->sess, from->sess->id);
    if (!rq)
        return SL_ENOTFOUND;
    session_request_drop(u->sess, rq);
    return SL_OK;
}
