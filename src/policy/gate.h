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
    ACTION_TOPIC,           /* setting a room's topic (text) */
    ACTION_AWAY,            /* setting an away text */
    ACTION_KINDS
};

enum verdict_kind {
    VERDICT_NONE = 0,       /* no opinion: ask the next check */
    VERDICT_ALLOW,
    VERDICT_DENY,           /* refused; reason says why */
    VERDICT_HOLD,           /* private message kept for the recipient's consent */
    VERDICT_THROTTLE,       /* not now: retry after retry_ms */
    VERDICT_REVIEW,         /* kept for a moderator's review; reason says why */
};

/* What else the action asks of core, on top of the verdict. Checks may
 * answer VERDICT_NONE with effects; the gate gathers the effects of every
 * check it runs and returns them with the final verdict. */
enum {
    EFFECT_FLAG = 1 << 0,           /* queue for review, with evidence (rule) */
    EFFECT_WARN_RECIPIENT = 1 << 1, /* show `warning` before the text; tell the sender */
    EFFECT_MUTE = 1 << 2,           /* mute the sender for mute_ms */
    EFFECT_RESTRICT_PM = 1 << 3,    /* restrict the sender's new private
                                     * conversations until a moderator decides */
    EFFECT_SAFETY_TIP = 1 << 4,     /* show the recipient the safety tip */
    EFFECT_REVIEW_CONVERSATION = 1 << 5, /* queue the conversation (risk score) */
    EFFECT_HIDE_ROOM = 1 << 6,      /* CREATE_ROOM: keep it out of the
                                     * directory until a moderator approves */
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
    const uint8_t *addr;            /* 16 bytes, IPv4-mapped; CONNECT, ENTER, REGISTER */
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
    int64_t wall_ms;                /* wall clock (every kind that sets it) */
    /* Facts for the protection checks (docs/rules.md). */
    const char *target_session;     /* SAY_PRIVATE: the recipient's session */
    int64_t session_since_ms;       /* SAY_*: wall clock the session began */
    unsigned room_category;         /* SAY_ROOM, TOPIC, CREATE_ROOM: ROOM_CAT_* */
    int64_t room_slow_ms;           /* SAY_ROOM: the room's slow mode, 0: off */
    int64_t last_said_ms;           /* SAY_ROOM: the sender's last message
                                     * in that room (monotonic), 0: never */
    unsigned mentions;              /* SAY_ROOM: member nicks named in text
                                     * (only needed when the session is new) */
    bool pm_restricted;             /* SAY_PRIVATE: the sender is restricted */
    const char *pow;                /* ENTER: the proof of work, or NULL */
};

struct rule;

struct verdict {
    enum verdict_kind kind;
    const char *reason;             /* static text for DENY/HOLD/REVIEW */
    const char *code;               /* machine-readable, e.g. "PM_REFUSED" */
    int64_t retry_ms;               /* THROTTLE, and DENY when waiting helps */
    unsigned effects;               /* EFFECT_* */
    const struct rule *rule;        /* the rule that decided or flagged, or NULL */
    int64_t mute_ms;                /* EFFECT_MUTE */
    const char *warning;            /* EFFECT_WARN_RECIPIENT: shown to the recipient */
    int risk;                       /* SAY_PRIVATE: the conversation's score after it */
    const char *challenge;          /* ENTER refused for lockdown: a proof-of-work
                                     * challenge to solve (lockdown.h) */
};

/* Every field after age_lock_ms takes its default (in brackets) when
 * left 0, so that a caller setting only the older fields gets the
 * protections as documented; a count limit is relaxed by raising it. */
struct policy_config {
    unsigned flood_rate;            /* commands per second, sustained */
    unsigned flood_burst;           /* commands allowed ahead of the clock */
    unsigned per_address;           /* connections per address; 0: no limit */
    int64_t age_lock_ms;            /* a device refused for age waits this long */
    /* New connections per minute from one address no entry was allowed
     * from in the last day [20], and from one /24 or /64 prefix of such
     * addresses [60] (connlimit.c). */
    unsigned connect_per_minute;
    unsigned connect_prefix_per_minute;
    /* Messages per minute from one session, rooms and private [30]. */
    unsigned messages_per_minute;
    /* The same text (12 characters or more) from one session to this many
     * rooms or people [3], or into one room or to one person from this
     * many sessions [5], within the window [60 s], is refused as spam
     * (spam.c). At most 8 each. */
    unsigned duplicate_targets;
    unsigned duplicate_sessions;
    int64_t duplicate_window_ms;
    /* A session is new for this long after it began [10 min]: it may then
     * put at most new_links_max links in a message [1], name at most
     * new_mentions_max members of a room [3] and open at most
     * first_contacts_new new private conversations an hour [3]. */
    int64_t new_session_ms;
    unsigned new_links_max;
    unsigned new_mentions_max;
    unsigned first_contacts_new;
    /* New private conversations a session may open an hour [10] (at most
     * 32, contact.c). */
    unsigned first_contacts_per_hour;
    /* Conversation risk (risk.h): signal weights halve every
     * risk_half_life_ms [7 days]; a conversation's score shows the
     * recipient a safety tip at risk_tip [40], queues it for review at
     * risk_review [70] and restricts the sender's new conversations at
     * risk_restrict [100]; a session's score over all its conversations
     * and rooms queues it for review at session_review [150]. At most
     * risk_max_conversations conversations are tracked [100,000]. */
    int64_t risk_half_life_ms;
    unsigned risk_tip;
    unsigned risk_review;
    unsigned risk_restrict;
    unsigned session_review;
    unsigned risk_max_conversations;
    /* Off-platform friction (content.c): a rule with action "warn" warns
     * the recipient while the two have exchanged fewer messages [10]. */
    unsigned friction_messages;
    /* Leading zero bits of SHA-256 a lockdown challenge asks for [16]
     * (lockdown.h): about 65,000 hashes, a second of a phone's time. */
    unsigned pow_bits;
};
void policy_configure(const struct policy_config *cfg);

/* The one entry point. */
struct verdict policy_check(const struct action *a);

/* Whether the limits on new sessions apply to a's session: it began less
 * than new_session_ms ago (false when a does not say when it began).
 * Callers use it to skip gathering facts only those limits read. */
bool policy_session_is_new(const struct action *a);

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
