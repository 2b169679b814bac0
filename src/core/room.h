#ifndef SALON_CORE_ROOM_H
#define SALON_CORE_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

struct user;
struct event;

/* Room names: '#' then up to ROOM_NAME_MAX - 1 bytes, no space, comma,
 * BEL or control character (RFC 2812 section 1.3). */
#define ROOM_NAME_MAX 50
#define ROOM_TOPIC_MAX 390
#define ROOM_KEY_MAX 23
#define ROOM_BANS_MAX 100

enum room_category { ROOM_CAT_NONE = 0, ROOM_CAT_THEME, ROOM_CAT_REGION, ROOM_CAT_AGE };

enum {
    ROOM_MEMBER_OP = 1,
    ROOM_MEMBER_VOICE = 2,
};

/* Channel modes (RFC 2811 section 4). */
enum {
    ROOM_MODE_INVITE = 1 << 0,      /* +i */
    ROOM_MODE_MODERATED = 1 << 1,   /* +m */
    ROOM_MODE_NO_EXTERNAL = 1 << 2, /* +n */
    ROOM_MODE_TOPIC_OPS = 1 << 3,   /* +t */
};

/* Why core refused a room action; irc/ maps each to its numeric. */
enum room_deny {
    ROOM_OK = 0,
    ROOM_NO_SUCH,           /* 403 */
    ROOM_BAD_NAME,          /* 403 (or 479) */
    ROOM_TOO_MANY,          /* 405 */
    ROOM_FULL,              /* 471 */
    ROOM_INVITE_ONLY,       /* 473 */
    ROOM_BANNED,            /* 474 */
    ROOM_BAD_KEY,           /* 475 */
    ROOM_NOT_MEMBER,        /* 442 */
    ROOM_NOT_OP,            /* 482 */
    ROOM_CANNOT_SEND,       /* 404 */
    ROOM_TARGET_NOT_MEMBER, /* 441 */
    ROOM_ALREADY_MEMBER,    /* 443 */
    ROOM_CREATION_OFF,      /* 403: user rooms are disabled */
    ROOM_PENDING_REVIEW,    /* 403: its name awaits a moderator */
};

struct room {
    char name[ROOM_NAME_MAX + 1];
    char *topic;
    char topic_by[64];
    int64_t topic_time_ms;
    int64_t created_ms;
    char key[ROOM_KEY_MAX + 1];     /* "" when no +k */
    uint32_t limit;                 /* 0 when no +l */
    uint32_t modes;                 /* ROOM_MODE_* */
    enum room_category category;
    bool is_catalogue;              /* from configuration: never removed */
    bool is_closed;                 /* closed by a moderator: no joins */
    bool is_pending;                /* its name awaits a moderator: out of the
                                     * directory, nobody else may join */
    uint32_t slow_s;                /* +W slow mode: seconds between two
                                     * messages of one member, 0: off */
    struct user **members;
    uint32_t nmembers, members_cap;
    char **bans;                    /* +b masks */
    uint32_t nbans;
    char **invites;                 /* nicks invited past +i (folded) */
    uint32_t ninvites;
    struct history *history;
};

struct room_config {
    bool user_rooms;                /* may users create rooms by joining */
    unsigned max_rooms_per_user;
    unsigned history_memory;        /* messages kept in memory per room */
};
void room_configure(const struct room_config *cfg);

bool room_name_valid(const char *name);
struct room *room_find(const char *name);
/* Creates a catalogue room (start-up). */
struct room *room_add_catalogue(const char *name, const char *topic,
                                enum room_category cat);
/* Iterates rooms: *pos starts at 0; NULL at the end. */
struct room *room_next(size_t *pos);
size_t room_count(void);

/* Membership modes of u in r, or -1 when u is not a member. */
int room_member_modes(const struct room *r, const struct user *u);
/* u's membership of r, or NULL. */
struct membership *room_membership(const struct room *r, const struct user *u);
/* Whether the room directory (LIST, GET /api/v1/rooms) shows r to u (u may
 * be NULL: anyone): not invite-only unless u is a member, not awaiting
 * review, not closed. */
bool room_is_listed(const struct room *r, const struct user *u);

/* Joins u to name (creating a user room when allowed; its creator becomes
 * operator). Broadcasts JOIN to every member, u included. key may be NULL.
 * *out_room is set on success. */
enum room_deny room_join(struct user *u, const char *name, const char *key,
                         struct room **out_room);
/* Leaves, broadcasting PART (or nothing when quiet). Removes an empty user
 * room. */
enum room_deny room_part(struct user *u, struct room *r, const char *reason);
/* Removes u from r without any message (used by QUIT after its own
 * broadcast). */
void room_remove_member(struct room *r, struct user *u);

/* May u send to r (+n, +m, +b)? */
enum room_deny room_can_send(const struct room *r, const struct user *u);
/* Delivers ev to every member of r except `except` (may be NULL). */
void room_broadcast(struct room *r, const struct event *ev, const struct user *except);

enum room_deny room_set_topic(struct user *u, struct room *r, const char *topic);
enum room_deny room_kick(struct user *u, struct room *r, struct user *victim,
                         const char *reason);
enum room_deny room_invite(struct user *u, struct room *r, struct user *target);
/* True when u matches a +b mask of r. */
bool room_is_banned(const struct room *r, const struct user *u);

/* Mode changes; the caller (irc/) parses the mode string and calls these
 * for each change after checking operator status with room_member_modes.
 * Each returns ROOM_OK when something changed. */
bool room_set_flag(struct room *r, uint32_t flag, bool on);
bool room_set_key(struct room *r, const char *key);       /* NULL: -k */
bool room_set_limit(struct room *r, uint32_t limit);      /* 0: -l */
bool room_set_slow(struct room *r, uint32_t seconds);     /* 0: -W */
bool room_add_ban(struct room *r, const char *mask);
bool room_del_ban(struct room *r, const char *mask);
bool room_set_member_mode(struct room *r, struct user *u, uint8_t mode, bool on);

/* Removes an empty user room (called after members leave). */
void room_maybe_destroy(struct room *r);

/* Simple glob with '*' and '?', case-insensitive (ascii), for ban masks. */
bool room_mask_match(const char *mask, const char *text);

#endif
