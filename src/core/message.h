#ifndef SALON_CORE_MESSAGE_H
#define SALON_CORE_MESSAGE_H

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
enum sl_err message_to_room(struct user *u, struct room *r, const char *command,
                            const char *text, const char *client_tags,
                            const char **reason);
enum sl_err message_to_user(struct user *u, struct user *to, const char *command,
                            const char *text, const char *client_tags,
                            const char **reason);

#endif
