#ifndef SALON_CORE_USER_H
#define SALON_CORE_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/outq.h"

struct room;
struct event;
struct session;

/* Nick rules: RFC 2812 section 2.3.1 letters, digits and specials, at most
 * NICK_MAX bytes (advertised as NICKLEN). */
#define NICK_MAX 30
#define USER_IDENT_MAX 16
#define SESSION_ID_LEN 32           /* hex of 16 random bytes */
#define AWAY_MAX 200
#define REALNAME_MAX 100

/* What the server knows about a person's session. Age and profile come from
 * the server-signed ticket and are never taken from the client. */
enum gender { GENDER_UNSAID = 0, GENDER_WOMAN, GENDER_MAN, GENDER_OTHER };

struct profile {
    int age;                        /* 0: unknown (open registration) */
    enum gender gender;
    char region[8];                 /* "75", "2A", "BE", "other", "" */
    bool show_region;
    int64_t session_created_ms;     /* wall clock */
};

/* Delivery preferences the protocol negotiated (IRCv3 capabilities). */
enum {
    USER_WANTS_TIME = 1 << 0,       /* server-time */
    USER_WANTS_TAGS = 1 << 1,       /* message-tags */
    USER_WANTS_ECHO = 1 << 2,       /* echo-message */
    USER_WANTS_AWAY_NOTIFY = 1 << 3,
    USER_WANTS_EXTENDED_JOIN = 1 << 4,
    USER_WANTS_REDACTION = 1 << 5,  /* draft/message-redaction */
};

struct membership {
    struct room *room;
    uint32_t index;                 /* position in room's member array */
    uint8_t modes;                  /* ROOM_MEMBER_OP | ROOM_MEMBER_VOICE */
    int64_t last_said_ms;           /* monotonic time of u's last message
                                     * there (slow mode), 0: none yet */
};

struct user {
    struct outq *out;               /* the connection's queue (borrowed) */
    char nick[NICK_MAX + 1];
    char ident[USER_IDENT_MAX + 1];
    char host[24];                  /* a cloak: addresses are never shown */
    char session[SESSION_ID_LEN + 1];
    char device[SESSION_ID_LEN + 1];    /* from the ticket; "" when unknown */
    uint8_t addr[16];                   /* staff and bans only: never shown */
    char *realname;
    char *away;                     /* NULL: present */
    struct profile profile;
    struct session *sess;           /* set at registration (core/session.h) */
    struct membership *rooms;       /* nrooms entries, grown on demand */
    uint16_t nrooms, rooms_cap;
    uint8_t wants;                  /* USER_WANTS_* */
    bool is_registered;
    uint32_t mark;                  /* generation mark for peer walks */
    int64_t signon_ms;              /* wall clock */
    int64_t idle_since_ms;          /* wall clock of last message sent */
};

/* Creates an unregistered user writing to out; session is its session id
 * (copied). Caller frees with user_free after user_quit. */
struct user *user_new(struct outq *out, const char *session);
void user_free(struct user *u);

/* True when nick is syntactically valid (RFC 2812 2.3.1, NICK_MAX). */
bool user_nick_valid(const char *nick);
/* Finds a registered user by nick (case-insensitive), or NULL. */
struct user *user_find(const char *nick);
/* Reserves nick for u (also on first registration). SL_EEXIST when another
 * user holds it. Broadcasts NICK to everyone sharing a room with u when u
 * is registered. */
enum sl_err user_set_nick(struct user *u, const char *nick);
/* Marks u registered under its current nick. */
void user_register(struct user *u);
/* "nick!ident@host" into out (at least USER_MASK_MAX bytes). */
#define USER_MASK_MAX (NICK_MAX + USER_IDENT_MAX + 24 + 3)
const char *user_mask(const struct user *u, char *out);

/* Sets or clears (text NULL) the away message; notifies room peers that
 * asked for away-notify. */
void user_set_away(struct user *u, const char *text);
/* Leaves every room and tells everyone who shared one ("QUIT :reason"),
 * and releases the nick. Safe to call on an unregistered user. */
void user_quit(struct user *u, const char *reason);

/* Calls fn for every distinct user sharing at least one room with u
 * (excluding u). Each peer is visited once. */
typedef void user_peer_fn(struct user *peer, void *ud);
void user_for_each_peer(struct user *u, user_peer_fn *fn, void *ud);

/* Iterates registered users: *pos starts at 0; NULL at the end. */
struct user *user_next(size_t *pos);
/* A registered user of session id, or NULL (a walk over every user: for
 * staff and report paths, not per message). */
struct user *user_find_session(const char *session);

/* Registered users, for counts (LUSERS, /healthz). */
size_t user_count(void);

#endif
