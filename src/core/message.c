#include "core/message.h"

#include <stdio.h>
#include <string.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/protect.h"
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

/* How many distinct members of r the text names, word by word (for the
 * mention limit of new sessions): a lookup per word, not per member. */
static unsigned count_mentions(const struct room *r, const char *text)
{
    char word[NICK_MAX + 1], seen[8][NICK_MAX + 1];
    unsigned n = 0, words = 0;
    for (const char *p = text; *p && words < 64;) {
        size_t len = strcspn(p, " ,:;!?.\t");
        if (len > 0 && len <= NICK_MAX) {
            words++;
            memcpy(word, p, len);
            word[len] = '\0';
            struct user *m = user_find(word);
            bool dup = false;
            for (unsigned i = 0; i < n && i < 8; i++)
                dup = dup || strcmp(seen[i], m ? m->nick : "") == 0;
            if (m && !dup && room_member_modes(r, m) >= 0) {
                if (n < 8)
                    snprintf(seen[n], sizeof seen[n], "%s", m->nick);
                n++;
            }
        }
        p += len;
        p += *p != '\0';
    }
    return n;
}

static void refused(const struct verdict *v, struct message_result *res)
{
    res->code = v->code ? v->code : "MESSAGE_REJECTED";
    res->reason = v->reason ? v->reason : "Message refused";
    res->retry_ms = v->retry_ms;
}

enum sl_err message_to_room(struct user *u, struct room *r, const char *command,
                            const char *text, const char *client_tags,
                            struct message_result *res)
{
    *res = (struct message_result){.fate = MESSAGE_SENT};
    if (room_can_send(r, u) != ROOM_OK)
        return SL_EPERM;
    bool tagmsg = is_tagmsg(command);
    struct membership *ms = room_membership(r, u);
    int64_t mono = clock_mono_ms();
    struct action a = {
        .kind = ACTION_SAY_ROOM, .nick = u->nick, .target = r->name,
        .text = tagmsg ? NULL : text, .session = u->session,
        .muted_until_ms = u->sess ? u->sess->muted_until_ms : 0, .now_ms = mono,
        .wall_ms = clock_wall_ms(), .session_since_ms = u->profile.session_created_ms,
        .room_category = r->category,
        .room_slow_ms = (ms && ms->modes & (ROOM_MEMBER_OP | ROOM_MEMBER_VOICE))
                            ? 0 : (int64_t)r->slow_s * 1000,
        .last_said_ms = ms ? ms->last_said_ms : 0};
    /* Mentions are counted only where the limit reads them: not on every
     * message of every established session. */
    if (!tagmsg && policy_session_is_new(&a))
        a.mentions = count_mentions(r, text);
    struct verdict v = policy_check(&a);
    struct protect_msg pm = {.from = u, .room = r, .command = command, .text = text};
    if (v.kind == VERDICT_REVIEW && !tagmsg) {
        char msgid[HISTORY_MSGID_MAX];
        protect_hold(&v, &pm, msgid);
        res->fate = MESSAGE_HELD_REVIEW;
        return SL_OK;
    }
    if (v.kind != VERDICT_ALLOW) {
        refused(&v, res);
        if (v.effects & EFFECT_MUTE)
            protect_after(&(struct verdict){.effects = EFFECT_MUTE, .mute_ms = v.mute_ms}, &pm);
        return SL_EDENIED;
    }
    if (ms && !tagmsg)
        ms->last_said_ms = mono;
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
    fanout_init_room(&f, &ev, r);
    for (uint32_t i = 0; i < r->nmembers; i++) {
        struct user *m = r->members[i];
        if (m == u ? (u->wants & USER_WANTS_ECHO) != 0 : !message_is_ignored(m, u))
            deliver(&f, m, tagmsg);
    }
    fanout_done(&f);
    u->idle_since_ms = now;
    if (v.effects) {
        pm.msgid = msgid;
        protect_after(&v, &pm);
    }
    return SL_OK;
}

/* Delivers one private message from u to `to` now: history, then fan-out,
 * and the echo for u unless it had it already (a held message was echoed
 * when it was held). A held message keeps its msgid and time. */
static void deliver_private(struct user *u, struct user *to, const char *command,
                            const char *text, const char *client_tags, int64_t time_ms,
                            const char *held_msgid, char *msgid)
{
    bool tagmsg = is_tagmsg(command);
    char mask[USER_MASK_MAX];
    if (held_msgid)
        snprintf(msgid, HISTORY_MSGID_MAX, "%s", held_msgid);
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
                            struct message_result *res)
{
    *res = (struct message_result){.fate = MESSAGE_SENT};
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
    bool tagmsg = is_tagmsg(command);
    int64_t now = clock_wall_ms();
    struct verdict v = policy_check(&(struct action){
        .kind = ACTION_SAY_PRIVATE, .nick = u->nick, .target = to->nick,
        .text = tagmsg ? NULL : text, .pm = &pm, .session = u->session,
        .target_session = to->session, .muted_until_ms = from ? from->muted_until_ms : 0,
        .now_ms = clock_mono_ms(), .wall_ms = now,
        .session_since_ms = u->profile.session_created_ms,
        .pm_restricted = from && from->is_pm_restricted});
    u->idle_since_ms = now;
    struct protect_msg prm = {.from = u, .to = to, .command = command, .text = text};
    if (tagmsg && (v.kind == VERDICT_HOLD || v.kind == VERDICT_REVIEW))
        return SL_OK;   /* a typing notification never opens a request */
    if (v.kind == VERDICT_REVIEW) {
        char msgid[HISTORY_MSGID_MAX];
        protect_hold(&v, &prm, msgid);
        res->fate = MESSAGE_HELD_REVIEW;
        return SL_OK;
    }
    if (v.kind == VERDICT_DENY) {
        refused(&v, res);
        if (v.effects & EFFECT_MUTE)
            protect_after(&(struct verdict){.effects = EFFECT_MUTE, .mute_ms = v.mute_ms}, &prm);
        return SL_EDENIED;
    }
    /* Writing first to someone is accepting their replies. */
    if (from && rcpt && from != rcpt)
        session_accept(from, rcpt->id);
    if (message_is_ignored(to, u))
        return SL_OK;       /* silently, as far as the sender can tell */
    if (v.kind == VERDICT_HOLD) {
        res->fate = rq ? MESSAGE_HELD : MESSAGE_HELD_NEW;
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
        /* Flags and risk still count for a request; warnings wait for the
         * delivery they belong to. */
        v.effects &= ~(unsigned)(EFFECT_WARN_RECIPIENT | EFFECT_SAFETY_TIP);
        prm.msgid = msgid;
        protect_after(&v, &prm);
        return SL_OK;
    }
    if (v.kind != VERDICT_ALLOW) {
        res->code = "MESSAGE_REJECTED";
        res->reason = "Message refused";
        return SL_EDENIED;
    }
    protect_before_delivery(&v, &prm);
    char msgid[HISTORY_MSGID_MAX];
    deliver_private(u, to, command, text, client_tags, now, NULL, msgid);
    if (v.effects) {
        prm.msgid = msgid;
        protect_after(&v, &prm);
    }
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
        char msgid[HISTORY_MSGID_MAX];
        deliver_private(from, u, h->command, h->text, h->client_tags, h->time_ms, h->msgid,
                        msgid);
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
