#ifndef SALON_CORE_HISTORY_H
#define SALON_CORE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Recent messages of one history key (a room, or a private conversation),
 * kept in memory so that joining a room costs no disk access, and written
 * through to storage so that history survives a restart. Older messages
 * are read from storage (store_query) by the caller. */
struct history;

/* Connects history to storage (NULL: memory only, as in unit tests). */
void history_init(struct store *st, unsigned private_capacity);
struct store *history_store(void);

/* Opens the ring for key, keeping at most cap messages; at start-up
 * (before the loop runs) it is filled from storage. */
struct history *history_open(const char *key, unsigned cap);
void history_close(struct history *h);
/* Marks the end of start-up: later opens do not read storage. */
void history_started(void);

/* The ring of a private conversation, created on first use. The number of
 * private rings in memory is bounded; the oldest is dropped first (its
 * messages stay in storage). */
struct history *history_private(const char *key, unsigned cap);

/* Records m (copied) in memory and queues it for storage. */
void history_add(struct history *h, const struct store_msg *m);

/* If memory holds the newest `limit` messages of the key (or everything
 * the key ever had), calls fn for each, oldest first, and returns true;
 * else returns false and the caller asks storage. */
bool history_latest(struct history *h, size_t limit, store_msg_fn *fn, void *ud);

/* Finds msgid in any ring in memory: sets *h and returns the message, or
 * NULL. For reports (rare: a linear scan is fine). */
const struct store_msg *history_lookup(const char *msgid, struct history **h);
/* Up to max pointers to the messages of h, oldest first (valid until h
 * changes). Returns how many. */
size_t history_snapshot(const struct history *h, const struct store_msg **out, size_t max);
/* The key of h ("#room" folded, or "@A@B"). */
const char *history_key(const struct history *h);
/* Removes msgid from memory and storage; true when it was in memory. */
bool history_remove(const char *msgid);

/* Time of the newest message in memory, or -1 when there is none. */
int64_t history_last_time(const struct history *h);

/* True when history_latest(h, limit, ...) would be served from memory. */
bool history_covers(const struct history *h, size_t limit);

/* Writes a new unique msgid into out (at least HISTORY_MSGID_MAX bytes). */
#define HISTORY_MSGID_MAX 32
void history_new_msgid(char *out);

/* Builds the key of the private conversation between two sessions:
 * "@A@B" with A < B, so both sides name it alike. */
#define HISTORY_KEY_MAX 80
void history_private_key(char *out, const char *session_a, const char *session_b);

#endif
