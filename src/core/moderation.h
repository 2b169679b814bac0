#ifndef SALON_CORE_MODERATION_H
#define SALON_CORE_MODERATION_H

#include <stdint.h>

#include "lib/err.h"

/* Staff actions (docs/moderation.md). Each is audited; the person affected
 * receives a statement of reasons (what, why, which rule, how to appeal).
 * The dashboard API and IRC staff commands both come here. */
struct mod_request {
    const char *actor;          /* "staff:alice" */
    const char *action;         /* dismiss|warn|delete_message|mute|kick|ban|close_room|
                                   unban|answer_appeal, and for what the rules engine
                                   held: release|discard (report_id), approve_room
                                   (room), lift_restriction (session) */
    const char *reason;         /* required */
    const char *rule;           /* the house rule, may be "" */
    int64_t report_id;          /* 0: none */
    const char *session;        /* the person, by session id ... */
    const char *nick;           /* ... or by nick (connected) */
    const char *msgid;          /* delete_message */
    const char *room;           /* close_room, approve_room */
    int64_t duration_s;         /* mute, ban (0: for good) */
    const char *ban_by;         /* session|device|address|prefix|nick */
    const char *pattern;        /* ban by nick */
    int64_t ban_id;             /* unban */
};

struct mod_result {
    int64_t action_id;          /* the audit entry that records the action */
    int64_t ban_id;             /* ban: the new ban's id */
};

/* Carries out rq. Returns SL_OK with *res, or SL_EINVAL / SL_ENOTFOUND
 * with *error (static text). */
enum sl_err moderation_act(const struct mod_request *rq, struct mod_result *res,
                           const char **error);

/* Disconnects every connected user that a ban in force now matches,
 * with a statement of reasons naming action_id (what APPEAL cites).
 * Returns how many. */
unsigned moderation_enforce_bans(int64_t action_id, const char *rule);

#endif
