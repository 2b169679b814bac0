/* Storage back end against a real SQLite file in a fresh temp directory. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/migrate.h"
#include "store/store.h"

static char tmp_dir[64];
static char db_path[128];

static void setup(void)
{
    strcpy(tmp_dir, "/tmp/salon-store-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/salon.db", tmp_dir);
}

static void teardown(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char p[160];
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
        unlink(p);
    }
    rmdir(tmp_dir);
}

TestSuite(store, .init = setup, .fini = teardown, .timeout = 60);

static struct store *open_ok(void)
{
    enum sl_err err = SL_EIO;
    struct store *st = store_open(db_path, &err);
    cr_assert_not_null(st);
    cr_assert_eq(err, SL_OK);
    return st;
}

/* Appends a message with the given msgid, key, time and sender/nick. */
static void put(struct store *st, const char *msgid, const char *key,
                int64_t t, const char *sender, const char *source,
                const char *target)
{
    struct store_msg m = {
        .msgid = msgid,
        .time_ms = t,
        .key = key,
        .sender = sender,
        .source = source,
        .command = "PRIVMSG",
        .target = target,
        .text = "hello",
    };
    store_append_message(st, &m);
}

/* What a test keeps of a result: "m1,m2,..." plus per-row fields. */
struct got {
    bool is_done;
    enum sl_err err;
    size_t count;
    char ids[4096];
    char keys[16][64];
    char targets[16][64];
    int64_t times[16];
};

static void on_result(const struct store_result *r, void *ud)
{
    struct got *g = ud;
    g->is_done = true;
    g->err = r->err;
    g->count = r->count;
    for (size_t i = 0; i < r->count; i++) {
        size_t len = strlen(g->ids);
        snprintf(g->ids + len, sizeof g->ids - len, "%s%s", i ? "," : "",
                 r->msgs[i].msgid);
        if (i < 16) {
            snprintf(g->keys[i], sizeof g->keys[i], "%s", r->msgs[i].key);
            snprintf(g->targets[i], sizeof g->targets[i], "%s",
                     r->msgs[i].target);
            g->times[i] = r->msgs[i].time_ms;
        }
    }
}

/* Runs q and waits for its completion the way the loop does: poll the
 * notify fd, then dispatch. */
static void run(struct store *st, const struct store_query *q, struct got *g)
{
    memset(g, 0, sizeof *g);
    store_query(st, q, on_result, g);
    while (!g->is_done) {
        struct pollfd p = {.fd = store_notify_fd(st), .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 10000), 1, "completion fd never woke");
        store_dispatch(st);
    }
}

#define UNSET {NULL, -1}
#define AT(t) {NULL, (t)}
#define ID(m) {(m), -1}

static struct got hist(struct store *st, enum store_dir dir,
                       struct store_bound a, struct store_bound b,
                       size_t limit)
{
    struct got g;
    struct store_query q = {
        .dir = dir, .key = "#r", .a = a, .b = b, .limit = limit,
    };
    run(st, &q, &g);
    return g;
}

#define expect(g, want)                                                    \
    do {                                                                   \
        cr_assert_eq((g).err, SL_OK);                                      \
        cr_assert_str_eq((g).ids, (want));                                 \
    } while (0)

/* "#r" holds m1..m10 at 1000..10000 ms and m11 in m10's millisecond (ties
 * order by id); "#other" interleaves its own messages. */
static struct store *fill_room(void)
{
    struct store *st = open_ok();
    char id[16], oid[16];
    for (int i = 1; i <= 10; i++) {
        snprintf(id, sizeof id, "m%d", i);
        snprintf(oid, sizeof oid, "o%d", i);
        put(st, id, "#r", i * 1000, "s1", "ann!a@h", "#R");
        put(st, oid, "#other", i * 1000 + 500, "s1", "ann!a@h", "#other");
    }
    put(st, "m11", "#r", 10000, "s1", "ann!a@h", "#R");
    return st;
}

static size_t recent_n;
static char recent_ids[1024];

static void on_recent(const struct store_msg *m, void *ud)
{
    (void)ud;
    size_t len = strlen(recent_ids);
    snprintf(recent_ids + len, sizeof recent_ids - len, "%s%s",
             recent_n++ ? "," : "", m->msgid);
}

static size_t recent(struct store *st, const char *key, size_t limit)
{
    recent_n = 0;
    recent_ids[0] = '\0';
    return store_recent(st, key, limit, on_recent, NULL);
}

Test(store, survives_close_and_reopen_in_order)
{
    struct store *st = open_ok();
    /* Stored out of time order: history is ordered by time, then id. */
    put(st, "c", "#r", 3000, "s1", "ann!a@h", "#R");
    put(st, "a", "#r", 1000, "s1", "ann!a@h", "#R");
    put(st, "b", "#r", 2000, "s1", "ann!a@h", "#R");
    put(st, "d", "#r", 3000, "s1", "ann!a@h", "#R");
    put(st, "x", "#elsewhere", 1500, "s1", "ann!a@h", "#elsewhere");
    store_close(st);

    st = open_ok();
    cr_assert_eq(recent(st, "#r", 100), 4);
    cr_assert_str_eq(recent_ids, "a,b,c,d");
    cr_assert_eq(recent(st, "#r", 2), 2);
    cr_assert_str_eq(recent_ids, "c,d");
    cr_assert_eq(recent(st, "#nothing", 10), 0);
    store_close(st);
}

static size_t count_n;
static int64_t count_last;
static bool count_sorted;

static void on_count(const struct store_msg *m, void *ud)
{
    (void)ud;
    if (m->time_ms < count_last)
        count_sorted = false;
    count_last = m->time_ms;
    count_n++;
}

Test(store, group_commit_of_10k)
{
    struct store *st = open_ok();
    char id[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof id, "g%d", i);
        put(st, id, "#big", 1000000 + i, "s1", "ann!a@h", "#big");
    }
    /* A query queued after the appends sees all of them committed. */
    struct got g;
    struct store_query q = {
        .dir = STORE_LATEST, .key = "#big", .a = UNSET, .b = UNSET,
        .limit = 1,
    };
    run(st, &q, &g);
    cr_assert_str_eq(g.ids, "g9999");
    struct store_stats stats;
    store_get_stats(st, &stats);
    cr_assert_eq(stats.written, 10000);
    cr_assert_eq(stats.queued, 0);
    cr_assert_eq(stats.failures, 0);
    store_close(st);

    st = open_ok();
    count_n = 0;
    count_last = 0;
    count_sorted = true;
    cr_assert_eq(store_recent(st, "#big", 20000, on_count, NULL), 10000);
    cr_assert_eq(count_n, 10000);
    cr_assert(count_sorted);
    store_close(st);
}

Test(store, committed_messages_survive_a_crash)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct store *st = store_open(db_path, NULL);
        if (!st)
            _exit(1);
        put(st, "k1", "#r", 1000, "s1", "ann!a@h", "#R");
        put(st, "k2", "#r", 2000, "s1", "ann!a@h", "#R");
        struct got g;
        struct store_query q = {
            .dir = STORE_LATEST, .key = "#r", .a = UNSET, .b = UNSET,
            .limit = 1,
        };
        run(st, &q, &g);    /* both committed once this returns */
        _exit(strcmp(g.ids, "k2") == 0 ? 0 : 2);  /* no store_close */
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct store *st = open_ok();
    cr_assert_eq(recent(st, "#r", 10), 2);
    cr_assert_str_eq(recent_ids, "k1,k2");
    store_close(st);
}

Test(store, close_commits_everything_queued)
{
    struct store *st = open_ok();
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "q%d", i);
        put(st, id, "#r", i, "s1", "ann!a@h", "#R");
    }
    store_close(st);    /* no wait: close itself must drain the queue */
    st = open_ok();
    cr_assert_eq(recent(st, "#r", 5000), 3000);
    store_close(st);
}

static struct store *open_with_window(int ms)
{
    struct store *st = open_ok();
    store_set_commit_window(st, ms);
    return st;
}

/* The counters once `n` messages are committed, or after 10 s. */
static struct store_stats wait_written(struct store *st, uint64_t n)
{
    struct store_stats stats;
    for (int i = 0; i < 1000; i++) {
        store_get_stats(st, &stats);
        if (stats.written == n)
            break;
        poll(NULL, 0, 10);
    }
    return stats;
}

/* After 100 ms, still only `written` messages are committed: the rest wait
 * for the window. Returns the counters. */
static struct store_stats expect_gathering(struct store *st, uint64_t written)
{
    poll(NULL, 0, 100);
    struct store_stats stats;
    store_get_stats(st, &stats);
    cr_assert_eq(stats.written, written, "committed before the window ended");
    return stats;
}

/* Appends wait out the commit window and then go in one transaction; a
 * query or store_close does not wait for it. */
Test(store, appends_gather_until_a_query_or_close)
{
    struct store *st = open_with_window(60000);
    put(st, "w1", "#r", 1000, "s1", "ann!a@h", "#R");
    put(st, "w2", "#r", 2000, "s1", "ann!a@h", "#R");
    put(st, "w3", "#r", 3000, "s1", "ann!a@h", "#R");
    struct store_stats stats = expect_gathering(st, 0);
    cr_assert_eq(stats.queued, 3);

    struct got g = hist(st, STORE_LATEST, (struct store_bound)UNSET,
                        (struct store_bound)UNSET, 10);
    cr_assert_str_eq(g.ids, "w1,w2,w3");
    store_get_stats(st, &stats);
    cr_assert_eq(stats.written, 3);
    cr_assert_eq(stats.commits, 1, "three appends, %llu commits",
                 (unsigned long long)stats.commits);

    put(st, "w4", "#r", 4000, "s1", "ann!a@h", "#R");
    store_close(st);
    st = open_ok();
    cr_assert_eq(recent(st, "#r", 10), 4);
    cr_assert_str_eq(recent_ids, "w1,w2,w3,w4");
    store_close(st);
}

/* A durable write (here a record) ends the window too: the appends before
 * it are committed without waiting the window out. */
Test(store, durable_write_ends_the_window)
{
    struct store *st = open_with_window(60000);
    put(st, "d1", "#r", 1000, "s1", "ann!a@h", "#R");
    put(st, "d2", "#r", 2000, "s1", "ann!a@h", "#R");
    store_put_record(st, "test", "k", "v", 0);
    struct store_stats stats = wait_written(st, 2);
    cr_assert_eq(stats.written, 2, "the appends waited for the window");
    cr_assert_eq(stats.commits, 1);
    store_close(st);
}

/* With no window, an append is committed without waiting for company. */
Test(store, no_commit_window_commits_at_once)
{
    struct store *st = open_with_window(0);
    put(st, "n1", "#r", 1000, "s1", "ann!a@h", "#R");
    cr_assert_eq(wait_written(st, 1).written, 1);
    store_close(st);
}

/* After a commit the thread waits out one more window before it sleeps:
 * appends arriving then share one commit without waking it, a durable
 * write still cuts that wait short, and once the thread has gone to sleep
 * the next append wakes it. */
Test(store, the_thread_lingers_one_window_after_a_commit)
{
    struct store *st = open_with_window(60000);
    char id[16];
    for (int i = 0; i < 1024; i++) {                    /* a full batch ends the window */
        snprintf(id, sizeof id, "f%d", i);
        put(st, id, "#r", 1000 + i, "s1", "ann!a@h", "#R");
    }
    cr_assert_eq(wait_written(st, 1024).written, 1024);
    put(st, "l2", "#r", 5000, "s1", "ann!a@h", "#R");
    put(st, "l3", "#r", 6000, "s1", "ann!a@h", "#R");
    expect_gathering(st, 1024);
    store_put_record(st, "test", "k", "w", 0);
    struct store_stats stats = wait_written(st, 1026);
    cr_assert_eq(stats.written, 1026, "a durable write did not end the linger");
    cr_assert_eq(stats.commits, 2);
    store_close(st);

    st = open_with_window(50);
    put(st, "q1", "#r", 1000, "s1", "ann!a@h", "#R");
    cr_assert_eq(wait_written(st, 1).written, 1);
    poll(NULL, 0, 300);                                 /* the linger is over */
    put(st, "q2", "#r", 2000, "s1", "ann!a@h", "#R");
    cr_assert_eq(wait_written(st, 2).written, 2, "a sleeping thread did not wake");
    store_close(st);
}

/* The storage thread must not preempt the event loop when it wakes. */
Test(store, the_storage_thread_is_a_batch_thread)
{
    struct store *st = open_ok();
    int batch = 0, others = 0;
    DIR *d = opendir("/proc/self/task");
    cr_assert_not_null(d);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        int policy = sched_getscheduler((pid_t)atoi(e->d_name));
        if (policy == SCHED_BATCH)
            batch++;
        else
            others++;
    }
    closedir(d);
    cr_assert_eq(batch, 1, "%d SCHED_BATCH threads, %d others", batch, others);
    cr_assert_eq(sched_getscheduler(0), SCHED_OTHER, "the caller's thread changed");
    store_close(st);
}

Test(store, duplicate_msgid_does_not_sink_its_group)
{
    struct store *st = open_ok();
    put(st, "a", "#r", 1000, "s1", "ann!a@h", "#R");
    put(st, "a", "#r", 2000, "s1", "ann!a@h", "#R");
    put(st, "b", "#r", 3000, "s1", "ann!a@h", "#R");
    struct got g = hist(st, STORE_LATEST, (struct store_bound)UNSET,
                        (struct store_bound)UNSET, 10);
    expect(g, "a,b");
    store_close(st);
}

Test(store, latest)
{
    struct store *st = fill_room();
    struct store_bound u = UNSET;
    expect(hist(st, STORE_LATEST, u, u, 3), "m9,m10,m11");
    /* With a bound: only messages after it, the newest `limit` of them. */
    expect(hist(st, STORE_LATEST, (struct store_bound)ID("m8"), u, 10),
           "m9,m10,m11");
    expect(hist(st, STORE_LATEST, (struct store_bound)ID("m8"), u, 2),
           "m10,m11");
    expect(hist(st, STORE_LATEST, (struct store_bound)AT(9000), u, 10),
           "m10,m11");
    expect(hist(st, STORE_LATEST, (struct store_bound)ID("m11"), u, 10), "");
    expect(hist(st, STORE_LATEST, u, u, 0), "");
    store_close(st);
}

Test(store, before)
{
    struct store *st = fill_room();
    struct store_bound u = UNSET;
    expect(hist(st, STORE_BEFORE, (struct store_bound)ID("m5"), u, 2),
           "m3,m4");
    expect(hist(st, STORE_BEFORE, (struct store_bound)AT(5000), u, 10),
           "m1,m2,m3,m4");
    expect(hist(st, STORE_BEFORE, (struct store_bound)AT(5001), u, 10),
           "m1,m2,m3,m4,m5");
    /* Ties: m11 shares m10's millisecond but was stored after it. */
    expect(hist(st, STORE_BEFORE, (struct store_bound)ID("m11"), u, 2),
           "m9,m10");
    expect(hist(st, STORE_BEFORE, (struct store_bound)ID("m1"), u, 5), "");
    store_close(st);
}

Test(store, after)
{
    struct store *st = fill_room();
    struct store_bound u = UNSET;
    expect(hist(st, STORE_AFTER, (struct store_bound)ID("m5"), u, 2),
           "m6,m7");
    expect(hist(st, STORE_AFTER, (struct store_bound)AT(9500), u, 10),
           "m10,m11");
    expect(hist(st, STORE_AFTER, (struct store_bound)AT(9000), u, 1), "m10");
    expect(hist(st, STORE_AFTER, (struct store_bound)ID("m10"), u, 10),
           "m11");
    store_close(st);
}

Test(store, around)
{
    struct store *st = fill_room();
    struct store_bound u = UNSET;
    /* A msgid bound includes the message itself. */
    expect(hist(st, STORE_AROUND, (struct store_bound)ID("m5"), u, 5),
           "m3,m4,m5,m6,m7");
    expect(hist(st, STORE_AROUND, (struct store_bound)ID("m5"), u, 1), "m5");
    /* Near the start, the later side fills the rest of the limit. */
    expect(hist(st, STORE_AROUND, (struct store_bound)ID("m1"), u, 5),
           "m1,m2,m3,m4,m5");
    expect(hist(st, STORE_AROUND, (struct store_bound)ID("m11"), u, 3),
           "m9,m10,m11");
    expect(hist(st, STORE_AROUND, (struct store_bound)AT(5500), u, 4),
           "m4,m5,m6,m7");
    expect(hist(st, STORE_AROUND, (struct store_bound)AT(5000), u, 2),
           "m4,m5");
    store_close(st);
}

Test(store, between)
{
    struct store *st = fill_room();
    expect(hist(st, STORE_BETWEEN, (struct store_bound)ID("m2"),
                (struct store_bound)ID("m6"), 10), "m3,m4,m5");
    /* The limit counts from a's side; results are always oldest first. */
    expect(hist(st, STORE_BETWEEN, (struct store_bound)ID("m2"),
                (struct store_bound)ID("m9"), 2), "m3,m4");
    expect(hist(st, STORE_BETWEEN, (struct store_bound)ID("m9"),
                (struct store_bound)ID("m2"), 2), "m7,m8");
    expect(hist(st, STORE_BETWEEN, (struct store_bound)AT(2000),
                (struct store_bound)AT(6000), 10), "m3,m4,m5");
    expect(hist(st, STORE_BETWEEN, (struct store_bound)AT(8500),
                (struct store_bound)ID("m2"), 3), "m6,m7,m8");
    expect(hist(st, STORE_BETWEEN, (struct store_bound)ID("m10"),
                (struct store_bound)AT(20000), 10), "m11");
    expect(hist(st, STORE_BETWEEN, (struct store_bound)ID("m4"),
                (struct store_bound)ID("m4"), 10), "");
    store_close(st);
}

Test(store, unknown_msgid_is_not_found)
{
    struct store *st = fill_room();
    struct store_bound u = UNSET;
    struct got g = hist(st, STORE_BEFORE, (struct store_bound)ID("nope"), u,
                        10);
    cr_assert_eq(g.err, SL_ENOTFOUND);
    cr_assert_eq(g.count, 0);
    /* A msgid of another conversation is not a bound here either. */
    g = hist(st, STORE_AFTER, (struct store_bound)ID("o3"), u, 10);
    cr_assert_eq(g.err, SL_ENOTFOUND);
    g = hist(st, STORE_BETWEEN, (struct store_bound)ID("m2"),
             (struct store_bound)ID("nope"), 10);
    cr_assert_eq(g.err, SL_ENOTFOUND);
    store_close(st);
}

static struct got targets(struct store *st, const char *party,
                          struct store_bound a, struct store_bound b,
                          size_t limit)
{
    struct got g;
    struct store_query q = {
        .dir = STORE_TARGETS, .party = party, .a = a, .b = b, .limit = limit,
    };
    run(st, &q, &g);
    cr_assert_eq(g.err, SL_OK);
    return g;
}

Test(store, targets)
{
    struct store *st = open_ok();
    struct store_bound u = UNSET;
    /* s1 <-> s2: the latest message is from s2, who was "bob" then. */
    put(st, "p1", "@s1@s2", 1000, "s1", "ann!a@h", "bobby");
    put(st, "p2", "@s1@s2", 3000, "s2", "bob!b@h", "ann");
    /* s1 <-> s3: the latest is from s1, who called s3 "Carol". */
    put(st, "p3", "@s1@s3", 2000, "s3", "carol!c@h", "ann");
    put(st, "p4", "@s1@s3", 5000, "s1", "ann!a@h", "Carol");
    /* Not s1's: another pair, and a room s1 spoke in. */
    put(st, "p5", "@s2@s3", 7000, "s2", "bob!b@h", "carol");
    put(st, "p6", "#room", 8000, "s1", "ann!a@h", "#room");

    struct got g = targets(st, "s1", u, u, 10);
    cr_assert_eq(g.count, 2);
    cr_assert_str_eq(g.keys[0], "@s1@s3");
    cr_assert_str_eq(g.targets[0], "Carol");
    cr_assert_eq(g.times[0], 5000);
    cr_assert_str_eq(g.keys[1], "@s1@s2");
    cr_assert_str_eq(g.targets[1], "bob");
    cr_assert_eq(g.times[1], 3000);

    g = targets(st, "s1", (struct store_bound)AT(4000),
                (struct store_bound)AT(6000), 10);
    cr_assert_eq(g.count, 1);
    cr_assert_str_eq(g.keys[0], "@s1@s3");
    /* Either order of the two times; bounds are exclusive. */
    g = targets(st, "s1", (struct store_bound)AT(6000),
                (struct store_bound)AT(3000), 10);
    cr_assert_eq(g.count, 1);
    cr_assert_str_eq(g.keys[0], "@s1@s3");

    g = targets(st, "s1", u, u, 1);
    cr_assert_eq(g.count, 1);
    cr_assert_str_eq(g.keys[0], "@s1@s3");

    /* s3 is the second party of both its keys. */
    g = targets(st, "s3", u, u, 10);
    cr_assert_eq(g.count, 2);
    cr_assert_str_eq(g.keys[0], "@s2@s3");
    cr_assert_str_eq(g.targets[0], "bob");
    cr_assert_str_eq(g.keys[1], "@s1@s3");
    cr_assert_str_eq(g.targets[1], "ann");

    g = targets(st, "nobody", u, u, 10);
    cr_assert_eq(g.count, 0);
    store_close(st);
}

static int user_version(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int v = -1;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL),
                 SQLITE_OK);
    if (sqlite3_step(s) == SQLITE_ROW)
        v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void exec_sql(const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s",
                 sqlite3_errmsg(db));
    sqlite3_close(db);
}

Test(store, migrations_run_once)
{
    struct store *st = open_ok();
    put(st, "a", "#r", 1000, "s1", "ann!a@h", "#R");
    store_close(st);
    cr_assert_eq(user_version(), migrate_latest());
    /* Reopening must not run any step again (CREATE TABLE would fail) and
     * must keep the data. */
    st = open_ok();
    cr_assert_eq(recent(st, "#r", 10), 1);
    store_close(st);
    cr_assert_eq(user_version(), migrate_latest());
}

Test(store, newer_schema_is_refused)
{
    struct store *st = open_ok();
    store_close(st);
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", migrate_latest() + 1);
    exec_sql(sql);
    enum sl_err err = SL_OK;
    cr_assert_null(store_open(db_path, &err));
    cr_assert_eq(err, SL_EINVAL);
    cr_assert_eq(user_version(), migrate_latest() + 1);
}

Test(store, version_1_database_is_upgraded)
{
    /* A database as schema version 1 left it, with a private message. */
    exec_sql("CREATE TABLE messages (id INTEGER PRIMARY KEY,"
             " msgid TEXT UNIQUE NOT NULL, key TEXT NOT NULL,"
             " time_ms INTEGER NOT NULL, sender TEXT NOT NULL,"
             " source TEXT NOT NULL, command TEXT NOT NULL,"
             " target TEXT NOT NULL, text TEXT NOT NULL);"
             "CREATE INDEX messages_key_time ON messages(key, time_ms, id);"
             "INSERT INTO messages (msgid, key, time_ms, sender, source,"
             " command, target, text) VALUES ('old', '@s1@s2', 1000, 's2',"
             " 'bob!b@h', 'PRIVMSG', 'ann', 'hi');"
             "PRAGMA user_version = 1;");
    struct store *st = open_ok();
    cr_assert_eq(user_version(), migrate_latest());
    struct store_bound u = UNSET;
    struct got g = targets(st, "s2", u, u, 10);
    cr_assert_eq(g.count, 1);
    cr_assert_str_eq(g.keys[0], "@s1@s2");
    cr_assert_str_eq(g.targets[0], "ann");
    g = targets(st, "s1", u, u, 10);
    cr_assert_eq(g.count, 1);
    cr_assert_str_eq(g.targets[0], "bob");
    store_close(st);
}

static int calls;

static void on_count_call(const struct store_result *r, void *ud)
{
    (void)r;
    (void)ud;
    calls++;
}

Test(store, completion_fd_wakes_the_loop)
{
    struct store *st = fill_room();
    int fd = store_notify_fd(st);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    cr_assert_geq(fd, 0);
    calls = 0;
    struct store_query q = {
        .dir = STORE_LATEST, .key = "#r", .a = UNSET, .b = UNSET, .limit = 5,
    };
    store_query(st, &q, on_count_call, NULL);
    store_query(st, &q, on_count_call, NULL);
    /* Nothing runs before dispatch, whatever the thread has done. */
    cr_assert_eq(calls, 0);
    while (calls < 2) {
        cr_assert_eq(poll(&p, 1, 10000), 1);
        cr_assert(p.revents & POLLIN);
        store_dispatch(st);
    }
    cr_assert_eq(calls, 2);
    /* Dispatch drained the eventfd: no spurious wake-up. */
    cr_assert_eq(poll(&p, 1, 0), 0);
    store_close(st);
}

Test(store, close_runs_no_callback)
{
    struct store *st = fill_room();
    calls = 0;
    struct store_query q = {
        .dir = STORE_LATEST, .key = "#r", .a = UNSET, .b = UNSET, .limit = 5,
    };
    store_query(st, &q, on_count_call, NULL);
    store_close(st);
    cr_assert_eq(calls, 0);
}

struct seen_records {
    char keys[8][32];
    char values[8][32];
    size_t count;
};

static void collect_record(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)expires_ms;
    struct seen_records *s = ud;
    cr_assert_lt(s->count, 8);
    snprintf(s->keys[s->count], sizeof s->keys[0], "%s", key);
    snprintf(s->values[s->count], sizeof s->values[0], "%s", value);
    s->count++;
}

Test(records, survive_reopen_expire_and_delete, .init = setup, .fini = teardown)
{
    struct store *st = open_ok();
    store_put_record(st, "refusal", "dev1", "until", 5000);
    store_put_record(st, "refusal", "dev2", "old", 1000);
    store_put_record(st, "refusal", "dev3", "gone", 0);
    store_put_record(st, "refusal", "dev3", NULL, 0);          /* delete */
    store_put_record(st, "setting", "dev1", "other kind", 0);
    store_put_record(st, "refusal", "dev4", "first", 0);
    store_put_record(st, "refusal", "dev4", "second", 0);     /* upsert */
    store_close(st);

    st = open_ok();
    struct seen_records seen = {0};
    /* At t=2000, dev2 (expired at 1000) is gone; dev1 and dev4 remain. */
    size_t n = store_load_records(st, "refusal", 2000, collect_record, &seen);
    cr_assert_eq(n, 2);
    bool has_dev1 = false, has_dev4 = false;
    for (size_t i = 0; i < seen.count; i++) {
        if (!strcmp(seen.keys[i], "dev1"))
            has_dev1 = !strcmp(seen.values[i], "until");
        if (!strcmp(seen.keys[i], "dev4"))
            has_dev4 = !strcmp(seen.values[i], "second");
    }
    cr_assert(has_dev1 && has_dev4);
    store_close(st);
}
