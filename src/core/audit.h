#ifndef SALON_CORE_AUDIT_H
#define SALON_CORE_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct store;

/* The append-only audit log of staff actions and looks at private data.
 * Entries are chained: each holds the hash of the previous one, so that
 * editing, removing or reordering any entry breaks every hash after it
 * (docs/moderation.md). Written in order from the loop thread. */

/* Finds the end of the chain in storage (start-up). */
void audit_init(struct store *st);

/* Appends one entry; detail is printf-style. actor names who acted:
 * "staff:alice", "room-op:nick", "system". */
void audit_log(const char *actor, const char *action, const char *target,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Calls fn for the newest entries kept in memory (up to 200, newest first). */
struct store_audit;
typedef void audit_entry_fn(const struct store_audit *a, void *ud);
void audit_recent(audit_entry_fn *fn, void *ud);

/* The sequence number of the newest entry (0 when empty). */
int64_t audit_last_seq(void);

/* Recomputes the whole chain from storage; prints what it finds on out.
 * Returns true when every entry is intact and in sequence. */
bool audit_verify(struct store *st, FILE *out);

#endif
