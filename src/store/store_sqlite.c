#include "store/store.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/alloc.h"
#include "lib/log.h"
#include "store/hist_sql.h"
#include "store/migrate.h"
#include "store/mod_sql.h"

/* The SQLite back end of store.h. See docs/internals/storage.md.
 *
 * Threads: the loop thread calls store_append_message/store_query (which
 * only copy and enqueue), store_dispatch and store_get_stats; the storage
 * thread owns the write connection `wdb` and everything prepared on it.
 * store_open/store_recent/store_close run on the loop thread, which owns
 * the read connection `rdb` (WAL lets it read while the thread writes). */

/* Jobs waiting for the storage thread. 100k messages of at most ~1 KiB
 * (an IRC line, RFC 1459 section 2.3, plus tags) bound the queue near
 * 100 MB; group commit drains well over 30k/s, so the queue only fills
 * when the disk has stopped answering. Past it, appends are dropped and
 * counted rather than blocking the loop thread, which serves every user. */
#define STORE_QUEUE_MAX 100000
/* Appends committed per transaction at most: one fsync (synchronous=FULL)
 * covers the whole group. Under steady load a group is whatever arrived
 * during the previous commit; the cap only matters for a backlog, where
 * 1024 drained ~1.5x faster than 256 here, while a transaction still holds
 * the write lock (and delays queued queries) for only a few ms. */
#define STORE_BATCH_MAX 1024
/* How long appends may gather before the thread commits them, counted from
 * the first one to reach an idle thread, or from the end of the commit
 * before. Every commit syncs the WAL and rewrites each page it touches (the
 * end of the table, each room's place in the key index), so its cost barely
 * depends on how many rows it carries:
 * at 1,000 msg/s a commit per arrival took ~10 % of a CPU here, one per
 * 20 ms about a quarter of that. Appends still queued are lost if the
 * process dies either way; the window adds 20 ms to that exposure. Queries
 * and durable moderation writes never wait for it. */
#define STORE_COMMIT_WINDOW_MS 20
/* A failed transaction is retried this many times in all, with the delay
 * doubling from STORE_RETRY_BASE_MS (50+100+200+400 ms), before its rows
 * are given up as lost: long enough to ride out a checkpoint or a busy
 * lock held by a backup tool, short enough not to pile up the queue. */
#define STORE_RETRY_MAX 5
#define STORE_RETRY_BASE_MS 50
/* How long SQLite itself waits on a lock held by another connection (our
 * read connection, or an operator's sqlite3 shell) before SQLITE_BUSY. */
#define STORE_BUSY_TIMEOUT_MS 5000

enum job_kind { JOB_APPEND, JOB_QUERY, JOB_RECORD, JOB_REPORT, JOB_REPORT_UPDATE, JOB_AUDIT,
                JOB_STAFF, JOB_REMOVE };

/* One queued unit of work, strings copied into buf (one allocation). */
struct job {
    struct job *next;
    enum job_kind kind;
    struct store_msg msg;           /* JOB_APPEND */
    struct store_query query;       /* JOB_QUERY */
    struct {                        /* JOB_RECORD */
        const char *kind, *key, *value;
        int64_t expires_ms;
    } record;
    struct store_report report;     /* JOB_REPORT, JOB_REPORT_UPDATE */
    struct store_audit audit;       /* JOB_AUDIT */
    struct store_staff staff;       /* JOB_STAFF */
    store_done_fn *done;            /* durable jobs: called once committed */
    store_result_fn *fn;
    void *ud;
    char buf[];
};

/* A finished query waiting for store_dispatch on the loop thread. */
struct completion {
    struct completion *next;
    store_result_fn *fn;
    store_done_fn *done;            /* a durable write finished (fn NULL) */
    int64_t id;
    void *ud;
    enum sl_err err;
    struct hist_rows rows;
};

struct store {
    char *path;
    sqlite3 *wdb;                   /* storage thread only, once started */
    sqlite3_stmt *insert;           /* on wdb */
    struct hist_sql *whist;         /* on wdb */
    sqlite3 *rdb;                   /* loop thread: store_recent */
    sqlite3 *sdb;                   /* loop thread: synchronous report writes */
    struct hist_sql *rhist;         /* on rdb */
    int efd;                        /* eventfd: completions wait */
    pthread_t thread;
    bool has_thread;

    pthread_mutex_t mu;             /* guards everything below */
    pthread_cond_t cv;              /* the queue became non-empty, or stop */
    struct job *head, *tail;
    size_t njobs;
    size_t nurgent;                 /* queued jobs that are not appends */
    int window_ms;                  /* commit window (gather()) */
    enum { WAIT_NONE, WAIT_IDLE, WAIT_GATHER } waiting; /* what the thread sleeps for */
    uint64_t commits;               /* transactions of appends committed */
    struct completion *done_head, *done_tail;
    bool is_stopping;
    uint64_t written;               /* messages committed */
    uint64_t pending;               /* appends queued or in flight */
    uint64_t failures;              /* failed transactions + dropped appends */
    uint64_t dropped;               /* appends refused: queue full */
    uint64_t lost;                  /* appends given up after retries */
};

static const char SQL_INSERT[] =
    "INSERT INTO messages (msgid, key, time_ms, sender, source, command,"
    " target, text, party_a, party_b)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
    " ON CONFLICT (msgid) DO NOTHING";

/* Opens one connection with the settings durability depends on. WAL lets
 * the read connection and the writer work at once; synchronous=FULL syncs
 * the WAL on every commit, so a committed message survives power loss, not
 * just a crash of the process. */
static enum sl_err conn_open(const char *path, bool is_readonly, sqlite3 **out)
{
    enum sl_err err = SL_EIO;
    sqlite3 *db = NULL;
    char *msg = NULL;
    int flags = SQLITE_OPEN_NOMUTEX |
                (is_readonly ? SQLITE_OPEN_READONLY
                             : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(path, &db, flags, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
        sqlite3_extended_result_codes(db, 1);
    }
    if (rc == SQLITE_OK && !is_readonly)
        rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous = FULL;"
                              "PRAGMA foreign_keys = ON;", NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        log_error("store: cannot open %s: %s", path,
                  msg ? msg : db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto out;
    }
    err = SL_OK;
out:
    sqlite3_free(msg);
    if (err) {
        sqlite3_close(db);
        db = NULL;
    }
    *out = db;
    return err;
}

/* Checks that the write connection really is in WAL mode: journal_mode
 * silently stays "delete" on file systems without shared memory, and the
 * read connection would then block the writer. */
static bool is_wal(sqlite3 *db)
{
    sqlite3_stmt *s = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *mode = sqlite3_column_text(s, 0);
        ok = mode && strcmp((const char *)mode, "wal") == 0;
    }
    sqlite3_finalize(s);
    return ok;
}

static void completion_free(struct completion *c)
{
    hist_rows_cleanup(&c->rows);
    free(c);
}

/* Queues a finished query for the loop thread and wakes it. Any thread. */
static void complete(struct store *st, struct completion *c)
{
    uint64_t one = 1;
    pthread_mutex_lock(&st->mu);
    if (st->done_tail)
        st->done_tail->next = c;
    else
        st->done_head = c;
    st->done_tail = c;
    pthread_mutex_unlock(&st->mu);
    /* Can only fail with EAGAIN when the counter is near 2^64: the fd is
     * readable then anyway. */
    ssize_t n = write(st->efd, &one, sizeof one);
    (void)n;
}

/* Finds the parties of a private key "@<A>@<B>" (session ids contain no
 * '@'): points a and b into key, with lengths la and lb. Returns false for
 * a room key or a malformed one, which is then stored without parties. */
static bool key_parties(const char *key, const char **a, int *la,
                        const char **b, int *lb)
{
    if (!key || key[0] != '@')
        return false;
    const char *sep = strchr(key + 1, '@');
    if (!sep || sep == key + 1 || sep[1] == '\0' || strchr(sep + 1, '@'))
        return false;
    *a = key + 1;
    *la = (int)(sep - key - 1);
    *b = sep + 1;
    *lb = (int)strlen(sep + 1);
    return true;
}

static int bind_msg(sqlite3_stmt *s, const struct store_msg *m)
{
    const char *a, *b;
    int la, lb;
    int rc = SQLITE_OK;
    rc |= sqlite3_bind_text(s, 1, m->msgid, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 2, m->key, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_int64(s, 3, m->time_ms);
    rc |= sqlite3_bind_text(s, 4, m->sender, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 5, m->source, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 6, m->command, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 7, m->target, -1, SQLITE_STATIC);
    rc |= sqlite3_bind_text(s, 8, m->text, -1, SQLITE_STATIC);
    if (key_parties(m->key, &a, &la, &b, &lb)) {
        rc |= sqlite3_bind_text(s, 9, a, la, SQLITE_STATIC);
        rc |= sqlite3_bind_text(s, 10, b, lb, SQLITE_STATIC);
    } else {
        rc |= sqlite3_bind_null(s, 9);
        rc |= sqlite3_bind_null(s, 10);
    }
    return rc;
}

/* One attempt at committing the batch in one transaction. Returns SQLITE_OK
 * or the failing code (the transaction is rolled back). *dups counts rows
 * skipped because their msgid was already stored. */
static int write_once(struct store *st, struct job **batch, size_t n,
                      size_t *dups)
{
    sqlite3 *db = st->wdb;
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    *dups = 0;
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
        const struct store_msg *m = &batch[i]->msg;
        rc = bind_msg(st->insert, m);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st->insert);
        if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
            if (sqlite3_changes(db) == 0) {
                /* A msgid is unique by construction; a repeat is a bug
                 * upstream, and must not sink the rest of the group. */
                log_warn("store: duplicate msgid %s not stored", m->msgid);
                (*dups)++;
            }
        }
        sqlite3_reset(st->insert);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_clear_bindings(st->insert);
    return rc;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

/* Group commit: the whole batch in one transaction, retried with back-off.
 * Rows are only given up after STORE_RETRY_MAX failed transactions, and
 * then loudly, with their count. Storage thread. */
static void write_batch(struct store *st, struct job **batch, size_t n)
{
    size_t dups = 0;
    for (int attempt = 1;; attempt++) {
        int rc = write_once(st, batch, n, &dups);
        if (rc == SQLITE_OK) {
            pthread_mutex_lock(&st->mu);
            st->written += n - dups;
            st->pending -= n;
            st->commits++;
            pthread_mutex_unlock(&st->mu);
            break;
        }
        pthread_mutex_lock(&st->mu);
        st->failures++;
        if (attempt >= STORE_RETRY_MAX) {
            st->pending -= n;
            st->lost += n;
        }
        uint64_t lost = st->lost;
        pthread_mutex_unlock(&st->mu);
        if (attempt >= STORE_RETRY_MAX) {
            log_error("store: %s: LOST %zu messages: their transaction failed "
                      "%d times (%s); %llu messages lost since start",
                      st->path, n, attempt, sqlite3_errstr(rc),
                      (unsigned long long)lost);
            break;
        }
        long delay = (long)STORE_RETRY_BASE_MS << (attempt - 1);
        log_warn("store: %s: writing %zu messages failed (%s); retry %d in "
                 "%ld ms", st->path, n, sqlite3_errstr(rc), attempt, delay);
        sleep_ms(delay);
    }
    for (size_t i = 0; i < n; i++)
        free(batch[i]);
}

/* Applies one record write in its own transaction, with the same retry
 * policy as messages. Storage thread. */
static void write_record(struct store *st, struct job *j)
{
    static const char put[] =
        "INSERT INTO records (kind, key, value, expires_ms) VALUES (?1, ?2, ?3, ?4)"
        " ON CONFLICT (kind, key) DO UPDATE SET value = ?3, expires_ms = ?4";
    static const char del[] = "DELETE FROM records WHERE kind = ?1 AND key = ?2";
    for (int attempt = 1;; attempt++) {
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(st->wdb, j->record.value ? put : del, -1, &stmt, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(stmt, 1, j->record.kind, -1, SQLITE_STATIC);
            sqlite3_bind_text(stmt, 2, j->record.key, -1, SQLITE_STATIC);
            if (j->record.value) {
                sqlite3_bind_text(stmt, 3, j->record.value, -1, SQLITE_STATIC);
                sqlite3_bind_int64(stmt, 4, j->record.expires_ms);
            }
            rc = sqlite3_step(stmt);
            if (rc == SQLITE_DONE)
                rc = SQLITE_OK;
        }
        sqlite3_finalize(stmt);
        if (rc == SQLITE_OK)
            break;
        pthread_mutex_lock(&st->mu);
        st->failures++;
        pthread_mutex_unlock(&st->mu);
        if (attempt >= STORE_RETRY_MAX) {
            log_error("store: %s: LOST record %s/%s: %s", st->path, j->record.kind,
                      j->record.key, sqlite3_errstr(rc));
            break;
        }
        sleep_ms((long)STORE_RETRY_BASE_MS << (attempt - 1));
    }
    free(j);
}

/* Runs one moderation write in its own transaction, with the message
 * retry policy. Durable jobs complete on the loop thread afterwards, with
 * the new row's id, so a report is acknowledged only once it is on disk
 * (synchronous=FULL). Storage thread. */
static void write_moderation(struct store *st, struct job *j)
{
    int64_t id = 0;
    int rc = SQLITE_OK;
    for (int attempt = 1;; attempt++) {
        switch (j->kind) {
        case JOB_REPORT:
            rc = mod_sql_add_report(st->wdb, &j->report, &id);
            break;
        case JOB_REPORT_UPDATE:
            rc = mod_sql_update_report(st->wdb, j->report.id, j->report.status,
                                       j->report.resolution);
            break;
        case JOB_AUDIT:
            rc = mod_sql_append_audit(st->wdb, &j->audit);
            break;
        case JOB_STAFF:
            rc = mod_sql_put_staff(st->wdb, &j->staff);
            break;
        case JOB_REMOVE:
            rc = mod_sql_remove_message(st->wdb, j->report.msgid);
            break;
        default:
            rc = SQLITE_MISUSE;
            break;
        }
        if (rc == SQLITE_OK || attempt >= STORE_RETRY_MAX)
            break;
        pthread_mutex_lock(&st->mu);
        st->failures++;
        pthread_mutex_unlock(&st->mu);
        log_warn("store: %s: moderation write failed (%s); retry %d", st->path,
                 sqlite3_errstr(rc), attempt);
        sleep_ms((long)STORE_RETRY_BASE_MS << (attempt - 1));
    }
    if (rc != SQLITE_OK)
        log_error("store: %s: LOST a moderation write (kind %d): %s", st->path, (int)j->kind,
                  sqlite3_errstr(rc));
    if (j->done) {
        struct completion *c = xcalloc(1, sizeof *c);
        c->done = j->done;
        c->ud = j->ud;
        c->id = id;
        c->err = rc == SQLITE_OK ? SL_OK : SL_EIO;
        complete(st, c);
    }
    free(j);
}

/* Runs a query in queue order, so it sees every append queued before it.
 * At shutdown the result could never be dispatched: skip it. */
static void run_query(struct store *st, struct job *j, bool is_stopping)
{
    if (!is_stopping) {
        struct completion *c = xcalloc(1, sizeof *c);
        c->fn = j->fn;
        c->ud = j->ud;
        c->err = hist_sql_run(st->whist, &j->query, &c->rows);
        if (c->err)
            hist_rows_cleanup(&c->rows);
        complete(st, c);
    }
    free(j);
}

/* Lets appends gather until the commit window ends, unless something must
 * not wait: a query or durable write queued, a full batch, or shutdown.
 * Called with st->mu held. */
static void gather(struct store *st)
{
    if (st->window_ms <= 0)
        return;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += st->window_ms / 1000;
    until.tv_nsec += (st->window_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    st->waiting = WAIT_GATHER;
    while (!st->is_stopping && !st->nurgent && st->njobs < STORE_BATCH_MAX) {
        int rc = pthread_cond_timedwait(&st->cv, &st->mu, &until);
        if (rc == ETIMEDOUT)
            break;
    }
    st->waiting = WAIT_NONE;
}

static void *store_thread(void *arg)
{
    struct store *st = arg;
    struct job *batch[STORE_BATCH_MAX];
    /* Appends were just committed: more are likely. The thread then waits
     * out a window before it sleeps for good, so that under steady traffic
     * its one wake-up per window is the window's end; appends reaching it
     * meanwhile need no signal. */
    bool is_lingering = false;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        if (!is_lingering) {
            st->waiting = WAIT_IDLE;
            while (!st->head && !st->is_stopping)
                pthread_cond_wait(&st->cv, &st->mu);
            st->waiting = WAIT_NONE;
        }
        if (is_lingering || (st->head && st->head->kind == JOB_APPEND))
            gather(st);
        is_lingering = false;
        if (!st->head) {
            if (st->is_stopping)
                break;
            continue;
        }
        /* Take a run of appends (one transaction), or the one query that
         * heads the queue: FIFO keeps reads after the writes before them. */
        size_t n = 0;
        struct job *query = NULL;
        if (st->head->kind != JOB_APPEND) {
            query = st->head;
            st->head = query->next;
            st->njobs--;
            st->nurgent--;
        } else {
            while (n < STORE_BATCH_MAX && st->head &&
                   st->head->kind == JOB_APPEND) {
                batch[n++] = st->head;
                st->head = st->head->next;
                st->njobs--;
            }
        }
        if (!st->head)
            st->tail = NULL;
        bool is_stopping = st->is_stopping;
        pthread_mutex_unlock(&st->mu);
        if (query && query->kind == JOB_RECORD)
            write_record(st, query);
        else if (query && query->kind != JOB_QUERY)
            write_moderation(st, query);
        else if (query)
            run_query(st, query, is_stopping);
        else
            write_batch(st, batch, n);
        pthread_mutex_lock(&st->mu);
        is_lingering = !query && st->window_ms > 0;
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

/* Starts the storage thread and makes it SCHED_BATCH: its wake-ups never
 * preempt the event loop. On a machine whose cores are all busy, delivery
 * must not wait behind history: as a normal thread it woke about 170 times
 * a second at 1,000 msg/s in benchmark scenario A (its commit timer, then
 * each wait on the disk), and each time took the loop's CPU mid-fan-out for
 * up to half a millisecond; as a batch thread it waits for the loop's next
 * sleep (docs/internals/storage.md). Its share of a saturated CPU stays the
 * default one: at a lower weight (nice 19) it fell behind and dropped
 * history at saturation (scenario B). glibc's thread attributes do not
 * take SCHED_BATCH, so the policy is set just after creation; where it is
 * refused (a sandbox), the thread stays a normal one. */
static bool start_thread(struct store *st)
{
    if (pthread_create(&st->thread, NULL, store_thread, st) != 0)
        return false;
    int rc = pthread_setschedparam(st->thread, SCHED_BATCH, &(struct sched_param){0});
    if (rc != 0)
        log_warn("store: %s: the storage thread runs as a normal thread: %s", st->path,
                 strerror(rc));
    return true;
}

/* Frees everything store_open may have set up; the thread must be gone. */
static void store_free(struct store *st)
{
    sqlite3_close(st->sdb);
    hist_sql_free(st->rhist);
    sqlite3_close(st->rdb);
    hist_sql_free(st->whist);
    sqlite3_finalize(st->insert);
    /* The last connection to close checkpoints the WAL into the db. */
    sqlite3_close(st->wdb);
    if (st->efd >= 0)
        close(st->efd);
    struct completion *c = st->done_head;
    while (c) {
        struct completion *next = c->next;
        completion_free(c);
        c = next;
    }
    pthread_cond_destroy(&st->cv);
    pthread_mutex_destroy(&st->mu);
    free(st->path);
    free(st);
}

struct store *store_open(const char *path, enum sl_err *err)
{
    enum sl_err e = SL_OK;
    struct store *st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    st->efd = -1;
    st->window_ms = STORE_COMMIT_WINDOW_MS;
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_t cva;
    pthread_condattr_init(&cva);
    pthread_condattr_setclock(&cva, CLOCK_MONOTONIC);  /* gather()'s deadline */
    pthread_cond_init(&st->cv, &cva);
    pthread_condattr_destroy(&cva);

    e = conn_open(path, false, &st->wdb);
    if (e)
        goto out;
    if (!is_wal(st->wdb)) {
        log_error("store: %s: WAL journal mode is not available here", path);
        e = SL_EIO;
        goto out;
    }
    e = migrate_apply(st->wdb, path);
    if (e)
        goto out;
    e = SL_EIO;
    if (sqlite3_prepare_v3(st->wdb, SQL_INSERT, -1, SQLITE_PREPARE_PERSISTENT,
                           &st->insert, NULL) != SQLITE_OK) {
        log_error("store: %s: preparing insert: %s", path,
                  sqlite3_errmsg(st->wdb));
        goto out;
    }
    st->whist = hist_sql_new(st->wdb);
    if (!st->whist)
        goto out;
    if (conn_open(path, true, &st->rdb))
        goto out;
    st->rhist = hist_sql_new(st->rdb);
    if (!st->rhist)
        goto out;
    st->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (st->efd < 0) {
        log_error("store: eventfd: %s", strerror(errno));
        goto out;
    }
    /* From here on wdb belongs to the thread; pthread_create orders our
     * set-up before its first use. */
    if (!start_thread(st)) {
        log_error("store: cannot start the storage thread");
        goto out;
    }
    st->has_thread = true;
    e = SL_OK;
out:
    if (e) {
        store_free(st);
        st = NULL;
    }
    if (err)
        *err = e;
    return st;
}

void store_close(struct store *st)
{
    if (!st)
        return;
    if (st->has_thread) {
        pthread_mutex_lock(&st->mu);
        st->is_stopping = true;
        pthread_cond_signal(&st->cv);
        pthread_mutex_unlock(&st->mu);
        /* The thread exits only once the queue is empty: every append has
         * been committed (or logged as lost). */
        pthread_join(st->thread, NULL);
        /* What finished after the loop's last turn still gets its callback
         * (the callers free what they handed over there). */
        store_dispatch(st);
    }
    if (st->dropped || st->lost)
        log_error("store: %s: closed having lost %llu messages (%llu dropped "
                  "on a full queue, %llu after failed retries)", st->path,
                  (unsigned long long)(st->dropped + st->lost),
                  (unsigned long long)st->dropped,
                  (unsigned long long)st->lost);
    store_free(st);
}

/* Pushes j; returns false (j not taken) when the queue is full. */
static bool enqueue(struct store *st, struct job *j)
{
    bool is_queued = false;
    pthread_mutex_lock(&st->mu);
    if (st->njobs < STORE_QUEUE_MAX) {
        /* An idle thread wakes for anything; a gathering one only for
         * what must not wait (gather()); a busy one looks at the queue
         * when it is done. */
        bool is_urgent = j->kind != JOB_APPEND;
        if (st->waiting == WAIT_IDLE || (st->waiting == WAIT_GATHER &&
                                         (is_urgent || st->njobs + 1 == STORE_BATCH_MAX)))
            pthread_cond_signal(&st->cv);
        if (is_urgent)
            st->nurgent++;
        if (st->tail)
            st->tail->next = j;
        else
            st->head = j;
        st->tail = j;
        st->njobs++;
        if (j->kind == JOB_APPEND)
            st->pending++;
        is_queued = true;
    } else if (j->kind == JOB_APPEND) {
        st->failures++;
        st->dropped++;
    }
    pthread_mutex_unlock(&st->mu);
    return is_queued;
}

void store_append_message(struct store *st, const struct store_msg *m)
{
    struct job *j = xmalloc(sizeof *j + hist_msg_size(m));
    memset(j, 0, sizeof *j);
    j->kind = JOB_APPEND;
    hist_msg_copy(&j->msg, j->buf, m);
    if (enqueue(st, j))
        return;
    pthread_mutex_lock(&st->mu);
    uint64_t dropped = st->dropped;
    pthread_mutex_unlock(&st->mu);
    /* Log the 1st, 2nd, 4th, 8th... drop: loud, yet bounded when the disk
     * is gone and every message of every user lands here. */
    if ((dropped & (dropped - 1)) == 0)
        log_error("store: %s: queue full (%d jobs), message %s NOT stored; "
                  "%llu dropped so far", st->path, STORE_QUEUE_MAX, j->msg.msgid,
                  (unsigned long long)dropped);
    free(j);
}

static size_t opt_len(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Copies s into *p (advancing it); NULL stays NULL. */
static const char *opt_put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *start = *p;
    memcpy(start, s, n);
    *p = start + n;
    return start;
}

void store_query(struct store *st, const struct store_query *q,
                 store_result_fn *fn, void *ud)
{
    size_t size = opt_len(q->key) + opt_len(q->party) + opt_len(q->a.msgid) +
                  opt_len(q->b.msgid);
    struct job *j = xmalloc(sizeof *j + size);
    char *p = j->buf;
    memset(j, 0, sizeof *j);
    j->kind = JOB_QUERY;
    j->fn = fn;
    j->ud = ud;
    j->query = *q;
    j->query.key = opt_put(&p, q->key);
    j->query.party = opt_put(&p, q->party);
    j->query.a.msgid = opt_put(&p, q->a.msgid);
    j->query.b.msgid = opt_put(&p, q->b.msgid);
    if (enqueue(st, j))
        return;
    /* Full queue: answer at once with an error through the usual path, so
     * the caller's callback still runs exactly once. */
    log_warn("store: %s: queue full, history query refused", st->path);
    struct completion *c = xcalloc(1, sizeof *c);
    c->fn = fn;
    c->ud = ud;
    c->err = SL_EIO;
    complete(st, c);
    free(j);
}

int store_notify_fd(const struct store *st)
{
    return st->efd;
}

void store_dispatch(struct store *st)
{
    uint64_t count;
    /* Reset the eventfd before taking the list: a completion pushed after
     * this read sets it again, so none is left without a wake-up. */
    ssize_t n = read(st->efd, &count, sizeof count);
    (void)n;
    pthread_mutex_lock(&st->mu);
    struct completion *c = st->done_head;
    st->done_head = st->done_tail = NULL;
    pthread_mutex_unlock(&st->mu);
    while (c) {
        struct completion *next = c->next;
        struct store_result r = {
            .err = c->err,
            .count = c->rows.count,
            .msgs = c->rows.msgs,
        };
        if (c->done)
            c->done(c->err, c->id, c->ud);
        else
            c->fn(&r, c->ud);
        completion_free(c);
        c = next;
    }
}

size_t store_recent(struct store *st, const char *key, size_t limit,
                    store_msg_fn *fn, void *ud)
{
    struct hist_rows rows = {0};
    struct store_query q = {
        .dir = STORE_LATEST,
        .key = key,
        .a = {NULL, -1},
        .b = {NULL, -1},
        .limit = limit,
    };
    size_t n = 0;
    if (hist_sql_run(st->rhist, &q, &rows) == SL_OK) {
        for (size_t i = 0; i < rows.count; i++)
            fn(&rows.msgs[i], ud);
        n = rows.count;
    }
    hist_rows_cleanup(&rows);
    return n;
}

void store_put_record(struct store *st, const char *kind, const char *key,
                      const char *value, int64_t expires_ms)
{
    struct job *j = xmalloc(sizeof *j + opt_len(kind) + opt_len(key) + opt_len(value));
    char *p = j->buf;
    memset(j, 0, sizeof *j);
    j->kind = JOB_RECORD;
    j->record.kind = opt_put(&p, kind);
    j->record.key = opt_put(&p, key);
    j->record.value = opt_put(&p, value);
    j->record.expires_ms = expires_ms;
    if (!enqueue(st, j)) {
        log_error("store: %s: queue full, record %s/%s NOT stored", st->path, kind, key);
        free(j);
    }
}

size_t store_load_records(struct store *st, const char *kind, int64_t now_ms,
                          store_record_fn *fn, void *ud)
{
    sqlite3_stmt *stmt = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(st->rdb,
                           "SELECT key, value, expires_ms FROM records WHERE kind = ?1"
                           " AND (expires_ms = 0 OR expires_ms > ?2)",
                           -1, &stmt, NULL) != SQLITE_OK) {
        log_error("store: %s: cannot read records: %s", st->path, sqlite3_errmsg(st->rdb));
        return 0;
    }
    sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 2, now_ms);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        fn((const char *)sqlite3_column_text(stmt, 0), (const char *)sqlite3_column_text(stmt, 1),
           sqlite3_column_int64(stmt, 2), ud);
        n++;
    }
    sqlite3_finalize(stmt);
    return n;
}

static struct job *job_new(enum job_kind kind, size_t strings)
{
    struct job *j = xmalloc(sizeof *j + strings);
    memset(j, 0, sizeof *j);
    j->kind = kind;
    return j;
}

/* Durable jobs refused by a full queue still complete exactly once. */
static void enqueue_or_fail(struct store *st, struct job *j)
{
    if (enqueue(st, j))
        return;
    log_error("store: %s: queue full, moderation write (kind %d) refused", st->path,
              (int)j->kind);
    if (j->done) {
        struct completion *c = xcalloc(1, sizeof *c);
        c->done = j->done;
        c->ud = j->ud;
        c->err = SL_EIO;
        complete(st, c);
    }
    free(j);
}

void store_add_report(struct store *st, const struct store_report *r,
                      store_done_fn *fn, void *ud)
{
    const char *f[] = {r->category, r->reporter, r->reported, r->reported_nick, r->where,
                       r->msgid, r->comment, r->evidence, r->reporter_nick, r->automatic};
    size_t size = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        size += opt_len(f[i] ? f[i] : "");
    struct job *j = job_new(JOB_REPORT, size);
    char *p = j->buf;
    j->report = *r;
    j->report.category = opt_put(&p, r->category ? r->category : "");
    j->report.reporter = opt_put(&p, r->reporter ? r->reporter : "");
    j->report.reported = opt_put(&p, r->reported ? r->reported : "");
    j->report.reported_nick = opt_put(&p, r->reported_nick ? r->reported_nick : "");
    j->report.where = opt_put(&p, r->where ? r->where : "");
    j->report.msgid = opt_put(&p, r->msgid ? r->msgid : "");
    j->report.comment = opt_put(&p, r->comment ? r->comment : "");
    j->report.evidence = opt_put(&p, r->evidence ? r->evidence : "[]");
    j->report.reporter_nick = opt_put(&p, r->reporter_nick ? r->reporter_nick : "");
    j->report.automatic = opt_put(&p, r->automatic ? r->automatic : "");
    j->done = fn;
    j->ud = ud;
    enqueue_or_fail(st, j);
}

enum sl_err store_add_report_now(struct store *st, const struct store_report *r, int64_t *id)
{
    if (!st->sdb && conn_open(st->path, false, &st->sdb) != SL_OK)
        return SL_EIO;
    int rc = mod_sql_add_report(st->sdb, r, id);
    if (rc != SQLITE_OK) {
        log_error("store: %s: report NOT stored: %s", st->path, sqlite3_errstr(rc));
        return SL_EIO;
    }
    return SL_OK;
}

void store_update_report(struct store *st, int64_t id, const char *status,
                         const char *resolution)
{
    struct job *j = job_new(JOB_REPORT_UPDATE, opt_len(status) + opt_len(resolution ? resolution : ""));
    char *p = j->buf;
    j->report.id = id;
    j->report.status = opt_put(&p, status);
    j->report.resolution = opt_put(&p, resolution ? resolution : "");
    enqueue_or_fail(st, j);
}

void store_append_audit(struct store *st, const struct store_audit *a)
{
    const char *f[] = {a->actor, a->action, a->target, a->detail, a->prev_hash, a->hash};
    size_t size = 0;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        size += opt_len(f[i] ? f[i] : "");
    struct job *j = job_new(JOB_AUDIT, size);
    char *p = j->buf;
    j->audit = *a;
    j->audit.actor = opt_put(&p, a->actor ? a->actor : "");
    j->audit.action = opt_put(&p, a->action ? a->action : "");
    j->audit.target = opt_put(&p, a->target ? a->target : "");
    j->audit.detail = opt_put(&p, a->detail ? a->detail : "");
    j->audit.prev_hash = opt_put(&p, a->prev_hash ? a->prev_hash : "");
    j->audit.hash = opt_put(&p, a->hash ? a->hash : "");
    enqueue_or_fail(st, j);
}

void store_remove_message(struct store *st, const char *msgid)
{
    struct job *j = job_new(JOB_REMOVE, opt_len(msgid));
    char *p = j->buf;
    j->report.msgid = opt_put(&p, msgid);
    enqueue_or_fail(st, j);
}

static void staff_done(enum sl_err err, int64_t id, void *ud)
{
    (void)id;
    enum sl_err *out = ud;
    *out = err;
}

enum sl_err store_put_staff(struct store *st, const struct store_staff *s)
{
    struct job *j = job_new(JOB_STAFF, opt_len(s->name) + opt_len(s->role) + opt_len(s->pwhash));
    char *p = j->buf;
    j->staff = *s;
    j->staff.name = opt_put(&p, s->name);
    j->staff.role = opt_put(&p, s->role);
    j->staff.pwhash = opt_put(&p, s->pwhash);
    enum sl_err result = SL_EAGAIN;
    j->done = staff_done;
    j->ud = &result;
    enqueue_or_fail(st, j);
    /* The command line has no loop: wait here for the durable completion. */
    while (result == SL_EAGAIN) {
        struct pollfd pfd = {.fd = st->efd, .events = POLLIN};
        poll(&pfd, 1, 1000);
        store_dispatch(st);
    }
    return result;
}

size_t store_load_reports(struct store *st, const char *status, store_report_fn *fn, void *ud)
{
    return mod_sql_load_reports(st->rdb, status, fn, ud);
}

size_t store_scan_audit(struct store *st, store_audit_fn *fn, void *ud)
{
    return mod_sql_scan_audit(st->rdb, fn, ud);
}

size_t store_load_staff(struct store *st, store_staff_fn *fn, void *ud)
{
    return mod_sql_load_staff(st->rdb, fn, ud);
}

void store_get_stats(struct store *st, struct store_stats *out)
{
    pthread_mutex_lock(&st->mu);
    out->written = st->written;
    out->queued = st->pending;
    out->failures = st->failures;
    out->commits = st->commits;
    pthread_mutex_unlock(&st->mu);
}

void store_set_commit_window(struct store *st, int ms)
{
    pthread_mutex_lock(&st->mu);
    st->window_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&st->mu);
}
