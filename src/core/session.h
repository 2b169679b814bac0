#ifndef SALON_CORE_SESSION_H
#define SALON_CORE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/user.h"
#include "lib/err.h"

struct store;

/* A session is the anonymous person behind one or more connections: the
 * profile from their ticket, and what they decided about others (private
 * message setting, who they accepted, declined or ignore). It outlives
 * connections, so reconnecting with the same ticket keeps it; its choices
 * are kept in storage until the ticket expires, so a restart keeps them. */

enum pm_policy { PM_REQUESTS = 0, PM_EVERYONE, PM_NOBODY };

/* Messages held while a private-message request waits (docs/protocol.md). */
#define SESSION_HELD_MAX 10
/* Entries in each of a session's lists (accepted, declined, ignored). */
#define SESSION_LIST_MAX 500

struct held_msg {
    char *msgid;            /* kept on delivery: the sender's echo had it */
    char *command;
    char *text;
    char *client_tags;      /* may be NULL */
    int64_t time_ms;
};

/* A request from `from` waiting for this session's answer. */
struct pm_request {
    struct pm_request *next;
    char from[SESSION_ID_LEN + 1];
    struct held_msg held[SESSION_HELD_MAX];
    unsigned nheld;
};

struct id_list {
    char (*ids)[SESSION_ID_LEN + 1];
    size_t len;
};

/* What staff see of a session's past (docs/moderation.md: session history). */
#define SESSION_PAST_MAX 8

struct past_nick {
    char nick[NICK_MAX + 1];
    int64_t since_ms;
};

struct past_action {
    int64_t action_id;
    int64_t time_ms;
    char action[20];
    char reason[120];
};

struct session {
    char id[SESSION_ID_LEN + 1];
    struct profile profile;
    int64_t expires_ms;             /* wall clock; 0: ends with its user */
    enum pm_policy pm_policy;
    struct id_list accepted;        /* may write to me privately */
    struct id_list declined;        /* I declined; may not ask again */
    struct id_list ignored;         /* nothing from them reaches me */
    struct pm_request *requests;    /* waiting for my answer */
    unsigned users;                 /* connected users on this session */
    int64_t muted_until_ms;         /* wall clock; 0: not muted */
    /* Newest last, at most SESSION_PAST_MAX each, allocated as they grow:
     * most sessions keep one nick and never see a staff action, and every
     * open-registration connection has a session of its own (idle memory
     * per connection, docs/benchmarks.md). */
    struct past_nick *nicks;
    unsigned nnicks, nicks_cap;
    struct past_action *actions;
    unsigned nactions, actions_cap;
    bool is_persistent;             /* ticket-backed: kept in storage */
    bool is_pm_restricted;          /* may not open new private conversations
                                     * until a moderator decides (docs/rules.md) */
};

/* Connects the registry to storage and loads the sessions still valid at
 * now (start-up only). st may be NULL (unit tests). */
void session_init(struct store *st, int64_t now_wall_ms);

/* The session with id, creating it from profile when unknown. persistent:
 * ticket-backed (kept in storage until expires_ms). A user holds it with
 * session_attach/session_detach. */
struct session *session_get(const char *id, const struct profile *profile,
                            int64_t expires_ms, bool persistent);
struct session *session_find(const char *id);
void session_attach(struct session *s);
/* Drops a user's hold; an ephemeral session with no user is freed. */
void session_detach(struct session *s);

bool session_list_has(const struct id_list *l, const char *id);
/* Adds/removes id; returns true when the list changed. Saves the session. */
bool session_accept(struct session *s, const char *id);
bool session_decline(struct session *s, const char *id);
bool session_ignore(struct session *s, const char *id, bool on);
void session_set_pm_policy(struct session *s, enum pm_policy p);
const char *session_pm_policy_name(enum pm_policy p);
int session_pm_policy_parse(const char *name);      /* -1 when unknown */

/* The waiting request from `from`, or NULL; _add creates it. */
struct pm_request *session_request_find(struct session *s, const char *from);
struct pm_request *session_request_add(struct session *s, const char *from);
/* Removes and frees a request (its held messages with it). */
void session_request_drop(struct session *s, struct pm_request *rq);
/* Holds a copy of a message; SL_ELIMIT when SESSION_HELD_MAX are held. */
enum sl_err session_request_hold(struct pm_request *rq, const char *msgid,
                                 const char *command, const char *text,
                                 const char *client_tags, int64_t time_ms);

/* "18-24", "25-34", "35-49", "50+" or "?" for an unknown age. */
const char *session_age_band(int age);
/* The public profile line shown as the IRC real name, e.g.
 * "25-34 woman 75" (region only when shown). */
void session_profile_line(const struct profile *p, char *out, size_t cap);

/* Remembers that the session used nick from now (kept: the last few). */
void session_note_nick(struct session *s, const char *nick, int64_t now_wall_ms);
/* Remembers a staff action against the session. */
void session_note_action(struct session *s, int64_t action_id, const char *action,
                         const char *reason, int64_t now_wall_ms);

/* Restricts (or frees) the session's new private conversations. Saved. */
void session_set_pm_restricted(struct session *s, bool on);
/* Forgets expired sessions nobody uses (call now and then). */
void session_sweep(int64_t now_wall_ms);

#endif
