#include "core/message.h"

#include <string.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/room.h"
#include "core/user.h"
#include "lib/casemap.h"
#include "lib/clock.h"
#include "policy/gate.h"

static unsigned private_history = 100;

static bool is_tagmsg(const char *command)
{
    return strcmp(command, "TAGMSG") == 0;
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
    struct verdict v = policy_check(&(struct action){.kind = ACTION_SAY_ROOM, .nick = u->nick,
                                                     .target = r->name, .text = text});
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
        char key[ROOM_NAME_MAX + 1];
        casemap_fold(key, r->name, sizeof key);
        struct store_msg sm = {.msgid = msgid, .time_ms = now, .key = key, .sender = u->session,
                               .source = mask, .command = command, .target = r->name,
                               .text = text};
        history_add(r->history, &sm);
    }
    struct fanout f;
    fanout_init(&f, &ev);
    for (uint32_t i = 0; i < r->nmembers; i++) {
        struct user *m = r->members[i];
        if (m != u || (u->wants & USER_WANTS_ECHO))
            deliver(&f, m, tagmsg);
    }
    fanout_done(&f);
    u->idle_since_ms = now;
    return SL_OK;
}

enum sl_err message_to_user(struct user *u, struct user *to, const char *command,
                            const char *text, const char *client_tags,
                            const char **reason)
{
    struct verdict v = policy_check(&(struct action){.kind = ACTION_SAY_PRIVATE, .nick = u->nick,
                                                     .target = to->nick, .text = text});
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
                       .source = mask, .command = command, .params = {to->nick, text},
                       .nparams = tagmsg ? 1 : 2};
    if (!tagmsg) {
        char key[HISTORY_KEY_MAX];
        history_private_key(key, u->session, to->session);
        struct store_msg sm = {.msgid = msgid, .time_ms = now, .key = key, .sender = u->session,
                               .source = mask, .command = command, .target = to->nick,
                               .text = text};
        history_add(history_private(key, private_history), &sm);
    }
    struct fanout f;
    fanout_init(&f, &ev);
    deliver(&f, to, tagmsg);
    if (to != u && (u->wants & USER_WANTS_ECHO))
        deliver(&f, u, tagmsg);
    fanout_done(&f);
    u->idle_since_ms = now;
    return SL_OK;
}
