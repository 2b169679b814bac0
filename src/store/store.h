#ifndef SALON_STORE_STORE_H
#define SALON_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* Storage, as the rest of salon sees it. One storage thread owns the
 * database connection; the loop hands it work through a queue and never
 * waits on disk, except store_open/store_recent at start-up and
 * store_close at shutdown. Rows come back as plain structs that the caller
 * borrows for the duration of a callback. No database type leaves store/.
 *
 * The interface is narrow on purpose: a PostgreSQL back end implements the
 * same functions (store_pg.c) without core/ changing. */
struct store;

/* One chat message as kept in history. */
struct store_msg {
    const char *msgid;      /* IRCv3 msgid, unique */
    int64_t time_ms;        /* wall clock, ms since the epoch */
    const char *key;        /* history key: "#room" (casefolded) or a
                               private conversation key "@sessA@sessB" */
    const char *sender;     /* sender's session id */
    const char *source;     /* "nick!user@host" as sent */
    const char *command;    /* "PRIVMSG" or "NOTICE" */
    const char *target;     /* the target parameter as sent: "#Room" or nick */
    const char *text;
};

/* Opens (creating) the database at path, runs schema migrations, starts the
 * storage thread. Returns NULL and sets *err on failure (logged). */
struct store *store_open(const char *path, enum sl_err *err);
/* Writes everything queued (durably), stops the thread, closes. NULL ok. */
void store_close(struct store *st);

/* Queues a copy of m for writing; returns at once. Writes are grouped into
 * transactions by the storage thread (group commit). */
void store_append_message(struct store *st, const struct store_msg *m);

typedef void store_msg_fn(const struct store_msg *m, void *ud);

/* Start-up only (blocks on disk): calls fn for the newest `limit` messages
 * of key, oldest first. Returns how many. */
size_t store_recent(struct store *st, const char *key, size_t limit,
                    store_msg_fn *fn, void *ud);

/* IRCv3 draft/chathistory selections. A bound is a msgid or a time; when
 * msgid is set it wins (resolved to that message's time and id). */
enum store_dir {
    STORE_LATEST,   /* newest messages, only those after `a` when set */
    STORE_BEFORE,   /* strictly before a */
    STORE_AFTER,    /* strictly after a */
    STORE_AROUND,   /* about limit/2 each side of a */
    STORE_BETWEEN,  /* strictly between a and b, either order */
    STORE_TARGETS,  /* conversations of `party` with activity between a and b */
};

struct store_bound {
    const char *msgid;      /* NULL when unset */
    int64_t time_ms;        /* -1 when unset */
};

struct store_query {
    enum store_dir dir;
    const char *key;        /* history key (not for STORE_TARGETS) */
    const char *party;      /* STORE_TARGETS: the session id */
    struct store_bound a, b;
    size_t limit;
};

/* Result of an async query: msgs oldest first (count entries) for history;
 * for STORE_TARGETS, each entry's key is a conversation key, target the
 * other party's last known nick and time_ms the latest activity. err is
 * SL_OK, SL_ENOTFOUND (an unknown msgid bound) or SL_EIO. */
struct store_result {
    enum sl_err err;
    size_t count;
    const struct store_msg *msgs;
};
typedef void store_result_fn(const struct store_result *r, void *ud);

/* Runs q on the storage thread (q is copied); fn(result, ud) is called later
 * on the loop thread from store_dispatch(). Results still waiting at
 * store_close are freed without their callbacks. TARGETS results come
 * newest first. */
void store_query(struct store *st, const struct store_query *q,
                 store_result_fn *fn, void *ud);
/* An fd that becomes readable when completions wait; the loop watches it. */
int store_notify_fd(const struct store *st);
/* Runs waiting completions on the calling (loop) thread. */
void store_dispatch(struct store *st);

/* Small durable records that other modules keep across restarts (an age
 * refusal per device, a session's settings): a value per (kind, key),
 * with an expiry (0: never). Writes are queued like messages and applied
 * in order; value NULL deletes the record. */
void store_put_record(struct store *st, const char *kind, const char *key,
                      const char *value, int64_t expires_ms);

typedef void store_record_fn(const char *key, const char *value,
                             int64_t expires_ms, void *ud);
/* Start-up only (blocks on disk): calls fn for every record of kind that
 * has not expired at now_ms. Returns how many. */
size_t store_load_records(struct store *st, const char *kind, int64_t now_ms,
                          store_record_fn *fn, void *ud);

/* Removes a message from history (moderation: "delete message"). */
void store_remove_message(struct store *st, const char *msgid);

/* ---- Moderation: reports, the audit log, staff accounts ---- */

/* A report with the evidence captured when it was made. */
struct store_report {
    int64_t id;                 /* set by storage; 0 when adding */
    int64_t time_ms;
    const char *category;       /* docs/moderation.md */
    int severity;               /* higher first in the queue */
    const char *reporter;       /* session id of the reporter */
    const char *reporter_nick;
    const char *reported;       /* session id of the reported person */
    const char *reported_nick;
    const char *where;          /* "#room", or "private" */
    const char *msgid;          /* the reported message, or "" */
    const char *comment;        /* the reporter's words */
    const char *evidence;       /* JSON: messages with ids, times, sessions, addresses */
    const char *status;         /* "open", "dismissed", "actioned" */
    const char *resolution;     /* staff note, "" while open */
    const char *automatic;      /* JSON from the rules engine, or "" (core/report.h) */
};

/* Called on the loop thread once a durable write is committed (or failed
 * for good); id is the new row's id. */
typedef void store_done_fn(enum sl_err err, int64_t id, void *ud);

/* Writes r durably (synchronous=FULL commit) and then calls fn(err, id).
 * Nothing may tell the reporter "received" before fn runs with SL_OK. */
void store_add_report(struct store *st, const struct store_report *r,
                      store_done_fn *fn, void *ud);
/* The same, synchronously on the calling (loop) thread, for a caller that
 * must answer in the same turn (an HTTP request): the one place where the
 * loop waits on disk, because the durability is the point. */
enum sl_err store_add_report_now(struct store *st, const struct store_report *r, int64_t *id);
/* Queues a status change of report id. */
void store_update_report(struct store *st, int64_t id, const char *status,
                         const char *resolution);
typedef void store_report_fn(const struct store_report *r, void *ud);
/* Start-up and command line only (blocks on disk): every report with that
 * status (NULL: all), oldest first. */
size_t store_load_reports(struct store *st, const char *status,
                          store_report_fn *fn, void *ud);

/* One entry of the append-only audit log; each carries the hash of the
 * previous one (core/audit.c computes them, in order). */
struct store_audit {
    int64_t seq;                /* 1, 2, ... (set by the caller) */
    int64_t time_ms;
    const char *actor;          /* "staff:NAME", "system", "room-op:NICK" */
    const char *action;
    const char *target;
    const char *detail;
    const char *prev_hash;      /* hex */
    const char *hash;           /* hex */
};
void store_append_audit(struct store *st, const struct store_audit *a);
typedef void store_audit_fn(const struct store_audit *a, void *ud);
/* Start-up and command line only: every entry in seq order. */
size_t store_scan_audit(struct store *st, store_audit_fn *fn, void *ud);

struct store_staff {
    const char *name;
    const char *role;           /* "moderator" or "admin" */
    const char *pwhash;         /* argon2id string (libsodium) */
    int64_t created_ms;
    bool is_disabled;
};
/* Command line: creates or replaces a staff account, durably. */
enum sl_err store_put_staff(struct store *st, const struct store_staff *s);
typedef void store_staff_fn(const struct store_staff *s, void *ud);
size_t store_load_staff(struct store *st, store_staff_fn *fn, void *ud);

/* How long appends may gather before one commit carries them all (default
 * 20 ms; 0 commits as soon as the thread is free). Queries, durable writes
 * and store_close never wait for it. */
void store_set_commit_window(struct store *st, int ms);

/* Counters for /healthz and tests. */
struct store_stats {
    uint64_t written;       /* messages committed */
    uint64_t queued;        /* messages waiting */
    uint64_t failures;      /* failed transactions (retried) */
    uint64_t commits;       /* transactions of appends committed */
};
void store_get_stats(struct store *st, struct store_stats *out);

#endif
