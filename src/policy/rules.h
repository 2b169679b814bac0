#ifndef SALON_POLICY_RULES_H
#define SALON_POLICY_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "policy/normalize.h"

struct store;

/* The rules engine (docs/rules.md): rules shipped as packs under the rules
 * directory (one file per language and category), plus rules added or
 * switched off from the moderation dashboard. Every rule is compiled into
 * a Vectorscan (Hyperscan) database per view of the text and kind of text
 * it reads (room messages, private messages, the rest), so one scan per
 * view reads a message against every rule that reads it; the few patterns
 * Vectorscan cannot take (back-references, look-around) run through PCRE2
 * with JIT and a match limit. Compilation happens on a background thread
 * and the new set is swapped in on the loop (rules_poll), so a reload never
 * stalls the chat and a broken reload leaves the running set in place.
 *
 * Owned by the loop thread, like the rest of the policy gate. */

/* What a rule reads (the "reads" key). */
enum rule_read {
    READ_ROOM = 1 << 0,         /* a message to a room */
    READ_PRIVATE = 1 << 1,      /* a private message */
    READ_NICK = 1 << 2,         /* a nickname (entry, NICK) */
    READ_ROOM_NAME = 1 << 3,    /* the name of a room being created */
    READ_TOPIC = 1 << 4,        /* a room topic */
    READ_AWAY = 1 << 5,         /* an away text */
};

/* What a match does, weakest first: when several rules match, the
 * strongest action is the one taken (the "action" key). */
enum rule_action {
    RULE_NONE = 0,      /* nothing by itself: only its signal counts */
    RULE_WARN,          /* warn the recipient before the text; tell the sender */
    RULE_FLAG,          /* allow, and put it in the moderation queue with evidence */
    RULE_RESTRICT,      /* allow; restrict the sender's new private conversations */
    RULE_MUTE,          /* refuse, and mute the sender for mute_ms */
    RULE_HOLD,          /* keep it for a moderator; the sender is told */
    RULE_BLOCK,         /* refuse with the rule's reason */
};

/* Grooming and risk signals a rule may carry (the "signal" key). They
 * feed the conversation risk score (policy/risk.h): any one alone weighs
 * little, several kinds in one conversation weigh far more. */
enum rule_signal {
    SIGNAL_NONE = 0,
    SIGNAL_AGE_PROBE,       /* asking age or school year */
    SIGNAL_SCHOOL,          /* school words: collège, 4e, homework */
    SIGNAL_SECRECY,         /* "don't tell your parents", "our secret" */
    SIGNAL_OFF_PLATFORM,    /* app names, handles, phone numbers, e-mail */
    SIGNAL_PHOTO,           /* asking for photos or to show oneself */
    SIGNAL_MEETING,         /* asking to meet */
    SIGNAL_GIFT,            /* gifts, money, phone credit */
    SIGNAL_SEXUAL,          /* sexual talk */
    SIGNAL_KINDS
};

enum rule_view { VIEW_FOLDED = 0, VIEW_PLAIN };
enum rule_scope { SCOPE_ALL = 0, SCOPE_ROOMS, SCOPE_PRIVATE };

#define RULE_ID_MAX 64

struct rule {
    char id[RULE_ID_MAX];       /* "fr.offplatform.snapchat" */
    char *name;                 /* one line for people */
    char *category;             /* a report category (docs/moderation.md) */
    int severity;               /* the category's unless given */
    unsigned reads;             /* READ_* bits */
    unsigned langs;             /* RULE_LANG_* bits */
    enum rule_scope scope;
    unsigned room_categories;   /* 1 << ROOM_CAT_*; 0: every room */
    char **exempt_rooms;        /* NULL-terminated room names, or NULL */
    enum rule_action action;
    int64_t mute_ms;            /* RULE_MUTE */
    enum rule_signal signal;
    int weight;                 /* of the signal, 0..100 */
    char *reason;               /* shown to the sender (block, hold, mute, warn) */
    char *keywords;             /* as written ("snap*, snapchat"), or NULL */
    char *regex;                /* as written, or NULL */
    char *and_keywords;         /* must also be in the same text, or NULL */
    char *and_regex;            /* idem, as a regex, or NULL */
    enum rule_view view;        /* keywords read folded; regex plain unless said */
    char *origin;               /* the pack file, or "dashboard" */
    unsigned order;             /* load order (packs by path, then the dashboard's) */
    bool enabled;
};

enum { RULE_LANG_FR = 1 << 0, RULE_LANG_EN = 1 << 1 };

/* Where the text is, for scope and exemptions. */
struct rule_context {
    enum rule_read read;        /* exactly one READ_* bit */
    const char *room;           /* the room, for room texts; else NULL */
    unsigned room_category;     /* its ROOM_CAT_* (0: none) */
};

#define RULE_HITS_MAX 16

/* The rules a text matched. The pointers are into the running set: valid
 * until the next rules_poll(), so use them in the same loop turn. */
struct rule_hits {
    unsigned n;                         /* distinct rules matched (capped) */
    const struct rule *hit[RULE_HITS_MAX];
    const struct rule *strongest;       /* the strongest action (then the
                                           highest severity); NULL when no
                                           hit has an action but RULE_NONE */
    unsigned signals;                   /* 1 << SIGNAL_* of every hit */
    int weight[SIGNAL_KINDS];           /* the heaviest hit per signal */
};

/* Loads every "*.rules" file under dir (recursively, in name order) and
 * the dashboard's changes from storage (st may be NULL), and compiles them
 * now. Returns 0, or -1 when a pack does not parse or a rule does not
 * compile (each error on stderr with file, line and rule id): the server
 * then refuses to start. A stored dashboard rule that no longer loads is
 * left out with an error instead (only the dashboard can mend it). Call
 * normalize_init() first. A NULL or empty dir loads no pack. */
int rules_init(const char *dir, struct store *st);
/* Where compiled databases are kept between runs (created when missing;
 * NULL or "": no cache). Call before rules_init. */
void rules_set_cache_dir(const char *dir);
void rules_fini(void);

/* Matches one normalised text (see normalize.h) against every enabled rule
 * that reads ctx->read in ctx's scope. Never allocates. Scope "rooms" means
 * room messages, topics and names; "private", private messages.
 * room_categories and exempt_rooms only restrict room texts. */
void rules_match(const struct norm_text *t, const struct rule_context *ctx,
                 struct rule_hits *out);

/* Reload: re-reads the packs and recompiles in the background; the new
 * set replaces the running one at the next rules_poll() on the loop. A
 * reload that fails keeps the running set and logs why. */
void rules_reload(void);
/* Swaps in a set compiled in the background, if one is ready. Called by
 * the loop before it sleeps; cheap when there is nothing to do. */
void rules_poll(void);
/* For tests: waits until no background compile runs, then rules_poll(). */
void rules_wait_idle(void);

/* Version of the running set: increases with every change from the
 * dashboard and every reload (docs/rules.md: versioning). */
uint64_t rules_version(void);
/* The version the running set will have once every change asked for so
 * far is compiled (equal to rules_version() when nothing is pending). */
uint64_t rules_version_pending(void);

/* The rules of the running set, in load order (packs, then dashboard). */
size_t rules_count(void);
const struct rule *rules_at(size_t i);
const struct rule *rules_find(const char *id);

/* Dashboard changes: kept in storage, effective after the background
 * compile that follows (rules_poll). The caller audits them. err gets a
 * sentence for people when the change is refused. */
enum sl_err rules_set_enabled(const char *id, bool enabled, char *err, size_t errcap);
/* A new rule from key/value pairs, the same keys as a pack's [rule ...]
 * section (keys[i] = values[i]); its id must start with "custom.". */
enum sl_err rules_add(const char *id, const char *const *keys, const char *const *values,
                      size_t n, char *err, size_t errcap);
enum sl_err rules_remove(const char *id, char *err, size_t errcap);    /* "custom." only */

/* Compiles one pattern alone the way a pack would (for the dashboard's
 * "test this rule" and for unit tests): returns true when it would load.
 * With text (NULL: none), *matches tells whether the pattern matches that
 * text once normalised, read through the given view. Runs on the calling
 * thread: a few milliseconds of Vectorscan compiling. */
bool rules_check_pattern(const char *keywords, const char *regex, enum rule_view view,
                         const char *text, bool *matches, char *err, size_t errcap);

const char *rule_action_name(enum rule_action a);
const char *rule_signal_name(enum rule_signal s);
const char *rule_read_name(enum rule_read r);

#endif
