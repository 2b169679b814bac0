#ifndef SALON_POLICY_GATE_H
#define SALON_POLICY_GATE_H

#include <stdbool.h>
#include <stdint.h>

/* The policy gate: every user action that can hurt someone passes through
 * policy_check(), and safety features plug in here and only here. Each check
 * receives the facts of the action and answers allow, deny (with a reason),
 * hold for review, throttle, or no opinion; the first decisive answer wins.
 * If every check has no opinion the action's declared default applies; an
 * action without a declared default is denied (fail closed). */

enum action_kind {
    ACTION_CONNECT,         /* a new connection from addr */
    ACTION_ENTER,           /* creating a session: age, device */
    ACTION_COMMAND,         /* any command (flood control) */
    ACTION_REGISTER,        /* entering: nick + profile known */
    ACTION_NICK,            /* changing nick */
    ACTION_JOIN,            /* joining an existing room */
    ACTION_CREATE_ROOM,     /* joining a room that does not exist yet */
    ACTION_SAY_ROOM,        /* PRIVMSG/NOTICE to a room */
    ACTION_SAY_PRIVATE,     /* PRIVMSG/NOTICE to a person */
    ACTION_KINDS
};

enum verdict_kind {
    VERDICT_NONE = 0,       /* no opinion: ask the next check */
    VERDICT_ALLOW,
    VERDICT_DENY,           /* refused; reason says why */
    VERDICT_HOLD,           /* kept for a moderator's review */
    VERDICT_THROTTLE,       /* not now: retry after retry_ms */
};

/* A penalty clock (ngIRCd/IRC style): each command pushes it forward by its
 * cost; while it runs more than the burst ahead of now, the client waits. */
struct flood_clock {
    int64_t ahead_until_ms;
};

/* Facts about a private message's recipient, gathered by core
 * (ACTION_SAY_PRIVATE). The setting values mirror core's enum pm_policy. */
enum { POLICY_PM_REQUESTS = 0, POLICY_PM_EVERYONE, POLICY_PM_NOBODY };
#define POLICY_PM_HELD_MAX 10

struct pm_facts {
    uint8_t setting;                /* the recipient's POLICY_PM_* */
    bool is_accepted;               /* the recipient accepted the sender */
    bool is_declined;               /* the recipient declined the sender */
    bool is_waiting;                /* a request from the sender waits */
    unsigned held;                  /* messages held in that request */
};

struct action {
    enum action_kind kind;
    const uint8_t *addr;            /* 16 bytes, IPv4-mapped; CONNECT */
    struct flood_clock *clock;      /* COMMAND */
    unsigned cost;                  /* COMMAND: penalty units (1 = normal) */
    int64_t now_ms;                 /* monotonic */
    const char *nick;
    const char *target;
    const char *text;
    const struct pm_facts *pm;      /* SAY_PRIVATE */
    const char *session;            /* REGISTER, SAY_*: the actor's session */
    int64_t muted_until_ms;         /* SAY_*: the actor's mute, 0: none */
    int age;                        /* ENTER: the age given */
    const char *device;             /* ENTER: the device id, or NULL */
    int64_t wall_ms;                /* ENTER: wall clock */
};

struct verdict {
    enum verdict_kind kind;
    const char *reason;             /* static text for DENY/HOLD */
    const char *code;               /* machine-readable, e.g. "PM_REFUSED" */
    int64_t retry_ms;               /* THROTTLE */
};

struct policy_config {
    unsigned flood_rate;            /* commands per second, sustained */
    unsigned flood_burst;           /* commands allowed ahead of the clock */
    unsigned per_address;           /* connections per address; 0: no limit */
    int64_t age_lock_ms;            /* a device refused for age waits this long */
};
void policy_configure(const struct policy_config *cfg);

/* The one entry point. */
struct verdict policy_check(const struct action *a);

/* Loads the age locks still in force from storage (start-up; st may be
 * NULL in unit tests) and keeps new ones there. */
struct store;
void policy_init_store(struct store *st, int64_t now_wall_ms);
/* Loads the bans in force (start-up). */
void policy_bans_init(struct store *st, int64_t now_wall_ms);

/* Bans (docs/moderation.md). A ban matches a session id, a device id, an
 * address, an address prefix (/24 for IPv4, /64 for IPv6) or a nick
 * pattern ('*' and '?'), for a time or for good (until_ms 0). */
enum ban_kind { BAN_SESSION, BAN_DEVICE, BAN_ADDRESS, BAN_PREFIX, BAN_NICK };

struct ban {
    int64_t id;
    enum ban_kind kind;
    char value[64];                 /* id, pattern, or address text */
    uint8_t addr[16];               /* ADDRESS, PREFIX */
    int64_t until_ms;               /* wall clock; 0: for good */
    int64_t created_ms;
    char reason[256];
    char by[64];
};

/* Adds a ban (id assigned, kept in storage); returns its id, or 0 when
 * value does not parse for kind. */
int64_t policy_ban_add(enum ban_kind kind, const char *value, int64_t until_ms,
                       const char *reason, const char *by);
bool policy_ban_remove(int64_t id);
int ban_kind_parse(const char *name);       /* -1 when unknown */
const char *ban_kind_name(enum ban_kind k);
/* The first ban in force matching these facts (any may be NULL), or NULL. */
const struct ban *policy_ban_find(const char *session, const char *device,
                                  const uint8_t *addr, const char *nick, int64_t now_wall_ms);

/* A connection that passed ACTION_CONNECT has ended. */
void policy_connection_closed(const uint8_t addr[16]);

#endif
