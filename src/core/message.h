#ifndef SALON_CORE_MESSAGE_H
#define SALON_CORE_MESSAGE_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct room;
struct user;

/* Sending a message: the policy gate, history, then fan-out (serialised
 * once per encoding, shared by every recipient). command is "PRIVMSG",
 * "NOTICE" or "TAGMSG" (TAGMSG: no text, not kept, only for recipients
 * that negotiated message-tags). client_tags are escaped client-only tags
 * or NULL. The sender gets an echo when it asked for echo-message.
 *
 * Returns SL_OK; SL_EPERM when the room refuses the sender (+n, +m, +b);
 * SL_EDENIED when the policy gate refused (*reason set, static text). */
/* What became of a private message, for the protocol layer to tell. */
enum message_fate {
    MESSAGE_SENT = 0,           /* delivered (or silently dropped: ignored) */
    MESSAGE_HELD_NEW,           /* held; a new request was opened */
    MESSAGE_HELD,               /* held in a request already waiting */
    MESSAGE_HELD_REVIEW,        /* kept for a moderator (docs/rules.md) */
};

/* What became of a message: its fate, or why it was refused. */
struct message_result {
    enum message_fate fate;
    const char *code;           /* SL_EDENIED: e.g. "PM_REFUSED", "SLOW_MODE" */
    const char *reason;         /* SL_EDENIED: for people */
    int64_t retry_ms;           /* SL_EDENIED: when trying again may work, 0: unknown */
};

enum sl_err message_to_room(struct user *u, struct room *r, const char *command,
                            const char *text, const char *client_tags,
                            struct message_result *res);
/* Private message. Besides SL_OK/SL_EDENIED (res->code and reason),
 * res->fate says whether it was delivered or held for consent or review. */
enum sl_err message_to_user(struct user *u, struct user *to, const char *command,
                            const char *text, const char *client_tags,
                            struct message_result *res);

/* u accepts the waiting request of `from`: its held messages are delivered
 * to u, and both may write to each other from now on. SL_ENOTFOUND when
 * nothing waits from `from` (the acceptance still holds). */
enum sl_err message_accept(struct user *u, struct user *from);
/* u declines `from`: held messages are discarded and `from` may not ask
 * again during u's session. SL_ENOTFOUND when nothing was waiting. */
enum sl_err message_decline(struct user *u, struct user *from);

/* True when `to` ignores everything from `from`. */
bool message_is_ignored(const struct user *to, const struct user *from);

#endif
