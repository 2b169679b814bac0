#include "store/hist_sql.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/log.h"

/* Every selection is a range over one conversation in (time_ms, id) order,
 * the order of the messages_key_time index; id breaks ties between messages
 * of the same millisecond in the order they were stored. A bound is turned
 * into a point of that order, and both ends of a range are exclusive. */
struct pos {
    int64_t t;
    int64_t id;
};

static const struct pos POS_MIN = {INT64_MIN, INT64_MIN};
static const struct pos POS_MAX = {INT64_MAX, INT64_MAX};

/* A resolved bound: unset, a timestamp, or (is_exact) one stored message. */
struct bound_pos {
    bool is_set;
    bool is_exact;
    int64_t t;
    int64_t id;
};

#define MSG_COLS "msgid, time_ms, key, sender, source, command, target, text"
#define RANGE_WHERE \
    " FROM messages WHERE key = ?1 AND (time_ms, id) > (?2, ?3)" \
    " AND (time_ms, id) < (?4, ?5)"

struct hist_sql {
    sqlite3 *db;
    sqlite3_stmt *resolve;      /* msgid -> (time_ms, id), within a scope */
    sqlite3_stmt *range_asc;    /* oldest `limit` rows of a range */
    sqlite3_stmt *range_desc;   /* newest `limit` rows, returned oldest first */
    sqlite3_stmt *targets;      /* latest row of each of a party's keys */
};

/* A msgid bound only resolves within the conversation asked about (key), or
 * for TARGETS within the party's own conversations: a client must not learn
 * when a message of someone else's conversation was sent. */
static const char SQL_RESOLVE[] =
    "SELECT time_ms, id FROM messages WHERE msgid = ?1"
    " AND (key = ?2 OR party_a = ?3 OR party_b = ?3)";
static const char SQL_RANGE_ASC[] =
    "SELECT " MSG_COLS RANGE_WHERE " ORDER BY time_ms, id LIMIT ?6";
static const char SQL_RANGE_DESC[] =
    "SELECT * FROM (SELECT " MSG_COLS ", id" RANGE_WHERE
    " ORDER BY time_ms DESC, id DESC LIMIT ?6) ORDER BY time_ms, id";
static const char SQL_TARGETS[] =
    "SELECT msgid, time_ms, key, sender, source, command, target,"
    " party_a, party_b FROM ("
    "  SELECT msgid, time_ms, key, sender, source, command, target,"
    "  party_a, party_b, id, row_number() OVER"
    "  (PARTITION BY key ORDER BY time_ms DESC, id DESC) AS rn"
    "  FROM messages WHERE party_a = ?1 OR party_b = ?1)"
    " WHERE rn = 1 AND time_ms > ?2 AND time_ms < ?3"
    " ORDER BY time_ms DESC, id DESC LIMIT ?4";

static size_t slen(const char *s)
{
    return s ? strlen(s) : 0;
}

size_t hist_msg_size(const struct store_msg *m)
{
    return slen(m->msgid) + slen(m->key) + slen(m->sender) + slen(m->source) +
           slen(m->command) + slen(m->target) + slen(m->text) + 7;
}

static const char *put(char **p, const char *s)
{
    size_t n = slen(s);
    char *start = *p;
    if (n)
        memcpy(start, s, n);
    start[n] = '\0';
    *p = start + n + 1;
    return start;
}

void hist_msg_copy(struct store_msg *dst, char *buf, const struct store_msg *m)
{
    char *p = buf;
    dst->time_ms = m->time_ms;
    dst->msgid = put(&p, m->msgid);
    dst->key = put(&p, m->key);
    dst->sender = put(&p, m->sender);
    dst->source = put(&p, m->source);
    dst->command = put(&p, m->command);
    dst->target = put(&p, m->target);
    dst->text = put(&p, m->text);
}

static void rows_reserve(struct hist_rows *r, size_t n)
{
    if (r->count + n <= r->cap)
        return;
    size_t cap = r->cap ? r->cap : 16;
    while (cap < r->count + n)
        cap *= 2;
    r->msgs = xrealloc(r->msgs, cap * sizeof *r->msgs);
    r->blocks = xrealloc(r->blocks, cap * sizeof *r->blocks);
    r->cap = cap;
}

void hist_rows_add(struct hist_rows *r, const struct store_msg *m)
{
    char *block = xmalloc(hist_msg_size(m));
    rows_reserve(r, 1);
    hist_msg_copy(&r->msgs[r->count], block, m);
    r->blocks[r->count++] = block;
}

void hist_rows_cleanup(struct hist_rows *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->blocks[i]);
    free(r->msgs);
    free(r->blocks);
    memset(r, 0, sizeof *r);
}

/* Moves src's rows [from, from + n) to the end of dst, then empties src. */
static void rows_take(struct hist_rows *dst, struct hist_rows *src,
                      size_t from, size_t n)
{
    rows_reserve(dst, n);
    for (size_t i = from; i < from + n; i++) {
        dst->msgs[dst->count] = src->msgs[i];
        dst->blocks[dst->count++] = src->blocks[i];
        src->blocks[i] = NULL;
    }
    hist_rows_cleanup(src);
}

struct hist_sql *hist_sql_new(sqlite3 *db)
{
    struct hist_sql *h = xcalloc(1, sizeof *h);
    const unsigned flags = SQLITE_PREPARE_PERSISTENT;
    h->db = db;
    if (sqlite3_prepare_v3(db, SQL_RESOLVE, -1, flags, &h->resolve, NULL) ||
        sqlite3_prepare_v3(db, SQL_RANGE_ASC, -1, flags, &h->range_asc, NULL) ||
        sqlite3_prepare_v3(db, SQL_RANGE_DESC, -1, flags, &h->range_desc,
                           NULL) ||
        sqlite3_prepare_v3(db, SQL_TARGETS, -1, flags, &h->targets, NULL)) {
        log_error("store: preparing history statements: %s",
                  sqlite3_errmsg(db));
        hist_sql_free(h);
        h = NULL;
    }
    return h;
}

void hist_sql_free(struct hist_sql *h)
{
    if (!h)
        return;
    sqlite3_finalize(h->resolve);
    sqlite3_finalize(h->range_asc);
    sqlite3_finalize(h->range_desc);
    sqlite3_finalize(h->targets);
    free(h);
}

static void stmt_done(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

static enum sl_err sql_failed(struct hist_sql *h)
{
    log_error("store: history query failed: %s", sqlite3_errmsg(h->db));
    return SL_EIO;
}

static int64_t sql_limit(size_t limit)
{
    return limit > (size_t)INT64_MAX ? INT64_MAX : (int64_t)limit;
}

static const char *col_text(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

/* Resolves bound b: a msgid is looked up within key (history) or within
 * party's conversations (TARGETS); a negative time means unset. */
static enum sl_err resolve(struct hist_sql *h, const struct store_bound *b,
                           const char *key, const char *party,
                           struct bound_pos *out)
{
    enum sl_err err = SL_OK;
    memset(out, 0, sizeof *out);
    if (!b->msgid) {
        if (b->time_ms >= 0) {
            out->is_set = true;
            out->t = b->time_ms;
        }
        return SL_OK;
    }
    sqlite3_stmt *s = h->resolve;
    sqlite3_bind_text(s, 1, b->msgid, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(s, 3, party, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        out->is_set = true;
        out->is_exact = true;
        out->t = sqlite3_column_int64(s, 0);
        out->id = sqlite3_column_int64(s, 1);
    } else if (rc == SQLITE_DONE) {
        err = SL_ENOTFOUND;
    } else {
        err = sql_failed(h);
    }
    stmt_done(s);
    return err;
}

/* The exclusive lower end of "after b": a timestamp excludes its whole
 * millisecond, a msgid only the messages up to and including itself. */
static struct pos after_pos(const struct bound_pos *b)
{
    if (!b->is_set)
        return POS_MIN;
    if (b->is_exact)
        return (struct pos){b->t, b->id};
    return (struct pos){b->t, INT64_MAX};
}

/* The exclusive upper end of "before b". */
static struct pos before_pos(const struct bound_pos *b)
{
    if (!b->is_set)
        return POS_MAX;
    if (b->is_exact)
        return (struct pos){b->t, b->id};
    return (struct pos){b->t, INT64_MIN};
}

/* Appends to out, oldest first, the rows of key strictly between lo and hi:
 * the oldest `limit` of them, or the newest when `newest`. */
static enum sl_err fetch(struct hist_sql *h, const char *key, struct pos lo,
                         struct pos hi, bool newest, size_t limit,
                         struct hist_rows *out)
{
    enum sl_err err = SL_OK;
    sqlite3_stmt *s = newest ? h->range_desc : h->range_asc;
    int rc;
    if (limit == 0)
        return SL_OK;
    sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, lo.t);
    sqlite3_bind_int64(s, 3, lo.id);
    sqlite3_bind_int64(s, 4, hi.t);
    sqlite3_bind_int64(s, 5, hi.id);
    sqlite3_bind_int64(s, 6, sql_limit(limit));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        struct store_msg m = {
            .msgid = col_text(s, 0),
            .time_ms = sqlite3_column_int64(s, 1),
            .key = col_text(s, 2),
            .sender = col_text(s, 3),
            .source = col_text(s, 4),
            .command = col_text(s, 5),
            .target = col_text(s, 6),
            .text = col_text(s, 7),
        };
        hist_rows_add(out, &m);
    }
    if (rc != SQLITE_DONE)
        err = sql_failed(h);
    stmt_done(s);
    return err;
}

/* AROUND: up to limit messages, about half before a and half after it; a
 * msgid bound includes the message itself, a timestamp bound counts the
 * messages of its own millisecond as "after". When one side runs short, the
 * other side fills the rest, so the client still gets `limit` lines. */
static enum sl_err around(struct hist_sql *h, const struct store_query *q,
                          const struct bound_pos *a, struct hist_rows *out)
{
    enum sl_err err = SL_OK;
    struct hist_rows before = {0}, after = {0};
    size_t center = (a->is_exact && q->limit > 0) ? 1 : 0;
    size_t room = q->limit - center;
    struct pos after_lo = a->is_exact ? (struct pos){a->t, a->id}
                                      : (struct pos){a->t, INT64_MIN};

    err = fetch(h, q->key, POS_MIN, before_pos(a), true, room, &before);
    if (err)
        goto out;
    err = fetch(h, q->key, after_lo, POS_MAX, false, room, &after);
    if (err)
        goto out;
    size_t nb = before.count < room / 2 ? before.count : room / 2;
    size_t na = after.count < room - nb ? after.count : room - nb;
    nb = before.count < room - na ? before.count : room - na;
    rows_take(out, &before, before.count - nb, nb);
    if (center) {
        err = fetch(h, q->key, (struct pos){a->t, a->id - 1},
                    (struct pos){a->t, a->id + 1}, false, 1, out);
        if (err)
            goto out;
    }
    rows_take(out, &after, 0, na);
out:
    hist_rows_cleanup(&before);
    hist_rows_cleanup(&after);
    return err;
}

/* BETWEEN: strictly between a and b, `limit` counted from a's side, so a
 * client paging backwards (a newer than b) gets the newest of the range. */
static enum sl_err between(struct hist_sql *h, const struct store_query *q,
                           const struct bound_pos *a, const struct bound_pos *b,
                           struct hist_rows *out)
{
    bool is_forward = true;
    if (a->is_set && b->is_set) {
        if (a->t != b->t)
            is_forward = a->t < b->t;
        else if (a->is_exact && b->is_exact && a->id != b->id)
            is_forward = a->id < b->id;
        else
            return SL_OK;   /* one instant: nothing lies strictly between */
    }
    if (is_forward)
        return fetch(h, q->key, after_pos(a), before_pos(b), false, q->limit,
                     out);
    return fetch(h, q->key, after_pos(b), before_pos(a), true, q->limit, out);
}

/* TARGETS: party's private conversations whose latest message falls
 * strictly between the two times, newest first. Each row carries the
 * conversation key, the latest time and the other party's last known nick:
 * the nick they sent as, if they sent the latest message, else the name
 * party addressed them by. */
static enum sl_err targets(struct hist_sql *h, const struct store_query *q,
                           struct hist_rows *out)
{
    enum sl_err err = SL_OK;
    struct bound_pos a, b;
    sqlite3_stmt *s = h->targets;
    int rc;

    if (!q->party || q->limit == 0)
        return SL_OK;
    err = resolve(h, &q->a, NULL, q->party, &a);
    if (err)
        return err;
    err = resolve(h, &q->b, NULL, q->party, &b);
    if (err)
        return err;
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if (a.is_set && b.is_set) {
        lo = a.t < b.t ? a.t : b.t;
        hi = a.t < b.t ? b.t : a.t;
    } else if (a.is_set) {
        lo = a.t;
    } else if (b.is_set) {
        hi = b.t;
    }
    sqlite3_bind_text(s, 1, q->party, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, lo);
    sqlite3_bind_int64(s, 3, hi);
    sqlite3_bind_int64(s, 4, sql_limit(q->limit));
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *party_a = col_text(s, 7);
        const char *other = strcmp(party_a, q->party) == 0 ? col_text(s, 8)
                                                           : party_a;
        const char *sender = col_text(s, 3);
        const char *source = col_text(s, 4);
        char *nick = NULL;
        struct store_msg m = {
            .msgid = col_text(s, 0),
            .time_ms = sqlite3_column_int64(s, 1),
            .key = col_text(s, 2),
            .sender = sender,
            .source = source,
            .command = col_text(s, 5),
            .target = col_text(s, 6),
            .text = "",
        };
        if (strcmp(sender, other) == 0) {
            nick = xstrndup(source, strcspn(source, "!"));
            m.target = nick;
        }
        hist_rows_add(out, &m);
        free(nick);
    }
    if (rc != SQLITE_DONE)
        err = sql_failed(h);
    stmt_done(s);
    return err;
}

enum sl_err hist_sql_run(struct hist_sql *h, const struct store_query *q,
                         struct hist_rows *out)
{
    enum sl_err err = SL_OK;
    struct bound_pos a, b;

    if (q->dir == STORE_TARGETS)
        return targets(h, q, out);
    if (!q->key)
        return SL_OK;
    err = resolve(h, &q->a, q->key, NULL, &a);
    if (err)
        goto out;
    switch (q->dir) {
    case STORE_LATEST:
        /* "LATEST <target> <msgid|timestamp|*>": the newest messages, and
         * with a bound only those after it (IRCv3 draft/chathistory). */
        err = fetch(h, q->key, after_pos(&a), POS_MAX, true, q->limit, out);
        break;
    case STORE_BEFORE:
        err = fetch(h, q->key, POS_MIN, before_pos(&a), true, q->limit, out);
        break;
    case STORE_AFTER:
        err = fetch(h, q->key, after_pos(&a), POS_MAX, false, q->limit, out);
        break;
    case STORE_AROUND:
        if (!a.is_set)
            err = fetch(h, q->key, POS_MIN, POS_MAX, true, q->limit, out);
        else
            err = around(h, q, &a, out);
        break;
    case STORE_BETWEEN:
        /* b is resolved only here: other selections ignore it. */
        err = resolve(h, &q->b, q->key, NULL, &b);
        if (!err)
            err = between(h, q, &a, &b, out);
        break;
    case STORE_TARGETS:
        break;
    }
out:
    return err;
}
