#ifndef SALON_POLICY_CHECKS_H
#define SALON_POLICY_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include "policy/gate.h"
#include "policy/normalize.h"

/* The checks of the gate's chain, one file each. Private to policy/. */
struct verdict check_ban(const struct action *a);
struct verdict check_age(const struct action *a);
struct verdict check_lockdown(const struct action *a);
struct verdict check_mute(const struct action *a);
struct verdict check_connection_limit(const struct action *a);
struct verdict check_connect_rate(const struct action *a);
struct verdict check_flood(const struct action *a);
struct verdict check_slow_mode(const struct action *a);
struct verdict check_spam(const struct action *a);
struct verdict check_content(const struct action *a);
struct verdict check_first_contact(const struct action *a);
struct verdict check_pm_consent(const struct action *a);

/* Shared configuration, set by policy_configure (flood.c). */
extern struct policy_config policy_cfg;

/* The action's text normalised once by the gate (normalize.h) for the
 * checks of this call: SAY_ROOM, SAY_PRIVATE, TOPIC and AWAY read text,
 * NICK, REGISTER and ENTER the nick, CREATE_ROOM the room name. NULL when
 * the action has no text; only valid during policy_check. */
extern const struct norm_text *policy_text;

/* The keys (policy_hash_str) of a->session and a->target_session, which
 * must be set: during policy_check each is hashed once however many checks
 * ask, since the action and its strings do not change until it returns;
 * asked about any other action they are hashed afresh. */
uint64_t policy_session_key(const struct action *a);
uint64_t policy_target_key(const struct action *a);

/* Which policy_check call a is the action of (never 0), or 0 when a is
 * not: what a check computes from the action it may keep for the rest
 * of that call under this number. */
uint64_t policy_call(const struct action *a);

/* A message's tables are looked up at keys spread over megabytes: on a
 * busy server each lookup is a cache miss, and one after the other they
 * cost more than the checks' own work. So before normalising a chat
 * message the gate asks each check with such tables for the index slots
 * it will read (PREFETCH_SLOTS), and after normalising, when those lines
 * have arrived, for the entries they point to (PREFETCH_ENTRIES); the
 * misses then overlap each other and the normalisation. A prefetch
 * changes nothing: it is a hint the checks could do without. */
enum prefetch_stage { PREFETCH_SLOTS, PREFETCH_ENTRIES };
/* Listed in prefetchers[] (gate.c); each is called for room and private
 * messages that have a session. */
void spam_prefetch(const struct action *a, enum prefetch_stage stage);
void risk_prefetch(const struct action *a, enum prefetch_stage stage);

/* The action's clocks: the facts when the caller set them, otherwise the
 * system's (a caller that forgets a clock gets live limits, not frozen
 * ones). Monotonic for windows and rates, wall for session ages. */
int64_t policy_mono_ms(const struct action *a);
int64_t policy_wall_ms(const struct action *a);

/* A rate of per_minute events with bursts of up to per_minute, kept in one
 * number per key (GCRA, the flood clock's model in microseconds): *tat_us
 * is the time the allowance is full again, 0 for a fresh key.
 * rate_wait says how many ms until one more event fits (0: now);
 * rate_take spends one. */
int64_t rate_wait(int64_t tat_us, unsigned per_minute, int64_t now_ms);
void rate_take(int64_t *tat_us, unsigned per_minute, int64_t now_ms);

/* What the gate remembers once the final verdict is known (gate.c), so
 * that refused attempts never consume anything:
 * - connlimit_opened: a connection from addr was allowed (the count that
 *   policy_connection_closed gives back);
 * - connect_rate_known: an entry from addr was allowed; the address is
 *   exempt from the unknown-address connect rate for a day;
 * - contact_passed: a private message went out or was held for consent:
 *   it is counted in its conversation, and a new conversation spends one
 *   of the sender's first contacts. */
void connlimit_opened(const uint8_t addr[16]);
void connect_rate_known(const uint8_t addr[16], int64_t now_ms);
void contact_passed(const struct action *a);

/* A bounded table keyed by 64-bit keyed hashes (policy_hash), for the
 * state the checks keep per address, session, conversation or text. It
 * never holds more than the cap given to ptable_add: the least recently
 * used entry makes room, so what a flood of new keys costs is fixed.
 * Entries are fixed-size structs that begin with a struct ptable_head;
 * they live in one dense array (moved on removal, reallocated on growth),
 * so a pointer to an entry is valid only until the next ptable_add or
 * ptable_remove on that table. Keys are not stored beyond their hash: two
 * keys share an entry with probability n^2 / 2^65 (3e-10 for 100,000),
 * and the hash key is random per process, so nobody can aim for that.
 * Cost per entry: the struct, plus 16 bytes of index (two 8-byte slots). */
struct ptable_head {
    uint64_t key;
    uint32_t newer, older;          /* LRU neighbours, PTABLE_NIL at the ends */
};
#define PTABLE_NIL UINT32_MAX

struct ptable {
    size_t size;                    /* bytes of one entry */
    uint32_t count, alloc;          /* entries in use, allocated */
    uint32_t nslots;                /* index size, a power of two >= 2 alloc */
    uint64_t *slots;                /* key's low half << 32 | entry index + 1; 0: empty */
    unsigned char *ents;
    uint32_t newest, oldest;        /* LRU ends, PTABLE_NIL when empty */
};
#define PTABLE_INIT(type) {.size = sizeof(type), .newest = PTABLE_NIL, .oldest = PTABLE_NIL}

/* The entry of key, or NULL. Does not count as a use. */
void *ptable_find(struct ptable *t, uint64_t key);
/* A zeroed entry for key (which must be absent), now the most recent.
 * When the table holds cap entries already the least recent goes first. */
void *ptable_add(struct ptable *t, uint64_t key, size_t cap);
/* The entry of key, made most recent; added (zeroed) when absent. */
void *ptable_use(struct ptable *t, uint64_t key, size_t cap);
void ptable_touch(struct ptable *t, void *entry);
void ptable_remove(struct ptable *t, void *entry);
/* Hints for a lookup of key to come (see enum prefetch_stage): the cache
 * line of its index slot; then, once that line is in, the line of its
 * entry if it has one. */
void ptable_prefetch_slot(const struct ptable *t, uint64_t key);
void ptable_prefetch_entry(const struct ptable *t, uint64_t key);
/* Entry i < t->count, in no particular order (for sweeps: removing entry
 * i moves another into its place). */
void *ptable_at(struct ptable *t, uint32_t i);

/* SipHash-2-4 of len bytes under a key drawn once per process. */
uint64_t policy_hash(const void *data, size_t len);
uint64_t policy_hash_str(const char *s);

#endif
