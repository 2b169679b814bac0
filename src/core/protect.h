#ifndef SALON_CORE_PROTECT_H
#define SALON_CORE_PROTECT_H

#include <stddef.h>

#include "lib/err.h"

struct report;
struct room;
struct user;
struct verdict;

/* What core does with the protection effects of a policy verdict
 * (docs/rules.md): warnings and safety tips for the person written to,
 * automatic reports for moderators, mutes and restrictions for the sender,
 * messages and room names kept for review, and the staff decisions that
 * end those holds. The gate decides; this module only carries out. */

/* A message the gate had an opinion about. */
struct protect_msg {
    struct user *from;
    struct room *room;          /* a room message, or NULL */
    struct user *to;            /* a private message's recipient, or NULL */
    const char *command;        /* PRIVMSG or NOTICE */
    const char *text;
    const char *msgid;          /* once delivered (or held), else NULL */
};

/* Before the message reaches `to`: the off-platform warning and the safety
 * tip, each as a NOTE line that arrives before the text. */
void protect_before_delivery(const struct verdict *v, const struct protect_msg *m);
/* After the message went out (or was held for consent): tells the sender
 * about a warning shown, and carries out flag, mute, restriction and
 * conversation review. */
void protect_after(const struct verdict *v, const struct protect_msg *m);
/* VERDICT_REVIEW: keeps the message for a moderator, in an automatic
 * report with its evidence. Sets m->msgid's buffer: the id it will keep
 * when released (out, HISTORY_MSGID_MAX). */
void protect_hold(const struct verdict *v, const struct protect_msg *m, char *msgid_out);
/* A room just created under a name a rule holds: out of the directory
 * until approved, and in the queue. */
void protect_room_pending(struct room *r, struct user *creator, const struct verdict *v);

/* Staff decisions (core/moderation.c calls these, and audits them). Each
 * returns SL_OK, or an error with *error (static text). */
enum sl_err protect_release(const struct report *rep, const char **error);
enum sl_err protect_approve_room(const char *room, const char **error);
enum sl_err protect_lift_restriction(const char *session, const char **error);

#endif
