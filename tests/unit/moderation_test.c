/* Tests for the moderation modules: the audit log (core/audit.c), bans and
 * the mute check of the policy gate (policy/ban.c), reports with their
 * evidence (core/report.c), staff actions (core/moderation.c) and staff
 * accounts and dashboard sessions (core/staff.c).
 *
 * These modules keep their state in globals with no reset function.
 * Criterion runs each Test in its own process (fork), so every Test starts
 * from empty tables; the tests rely on that (they would not be isolated
 * under --no-fork). Where a test needs a "restart" (state loaded from disk
 * into empty globals), it writes in a forked child and reads in the parent.
 *
 * Users write to their own struct outq; the real IRC formatter (irc_init)
 * turns core events into lines, read back with outq_entry(). The "bug_" tests
 * pin down defects and fail until src/ is fixed (see each comment). */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/audit.h"
#include "core/history.h"
#include "core/message.h"
#include "core/moderation.h"
#include "core/report.h"
#include "core/room.h"
#include "core/session.h"
#include "core/staff.h"
#include "core/user.h"
#include "irc/irc.h"
#include "lib/clock.h"
#include "lib/outq.h"
#include "policy/gate.h"
#include "store/store.h"

/* ---- a temp directory with a SQLite store ---- */

static char tmp_dir[64];
static char db_path[128];

static void tmp_make(void)
{
    strcpy(tmp_dir, "/tmp/salon-mod-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp_dir));
    snprintf(db_path, sizeof db_path, "%s/salon.db", tmp_dir);
}

static void tmp_remove(void)
{
    static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
    char p[160];
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        snprintf(p, sizeof p, "%s%s", db_path, suffixes[i]);
        unlink(p);
    }
    rmdir(tmp_dir);
}

static struct store *open_store(void)
{
    enum sl_err err = SL_EIO;
    struct store *st = store_open(db_path, &err);
    cr_assert_not_null(st, "store_open %s", db_path);
    cr_assert_eq(err, SL_OK);
    return st;
}

/* Runs SQL on the database behind salon's back (the store must be closed). */
static void db_exec(const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    cr_assert_gt(sqlite3_changes(db), 0, "%s changed nothing", sql);
    sqlite3_close(db);
}

/* Runs fn in a child process (a "previous run" of the server) and checks
 * that it exited 0. The parent's globals stay untouched, as after a restart. */
static void in_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        fn();
        _exit(0);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child failed: status %d", status);
}

/* audit_verify's report, captured as text. */
static bool verify_text(struct store *st, char *out, size_t cap)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    bool ok = audit_verify(st, f);
    fclose(f);
    snprintf(out, cap, "%s", buf ? buf : "");
    free(buf);
    return ok;
}

/* ---- users ---- */

#define NU 8
static struct outq Q[NU];
static struct user *U[NU];

/* IPv4-mapped 192.0.2.n (RFC 5737 documentation range). */
static void addr_v4(uint8_t out[16], uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    memset(out, 0, 16);
    out[10] = out[11] = 0xff;
    out[12] = a;
    out[13] = b;
    out[14] = c;
    out[15] = d;
}

static void addr_v6(uint8_t out[16], const char *text)
{
    cr_assert_eq(inet_pton(AF_INET6, text, out), 1, "%s", text);
}

static void session_of(int i, char out[SESSION_ID_LEN + 1])
{
    snprintf(out, SESSION_ID_LEN + 1, "%08x%024x", 0xa0000000u + (unsigned)i, 0u);
}

static void device_of(int i, char out[SESSION_ID_LEN + 1])
{
    snprintf(out, SESSION_ID_LEN + 1, "%08x%024x", 0xd0000000u + (unsigned)i, 0u);
}

/* A registered user i with a session (as registration gives it), a device
 * and the address 192.0.2.(10 + i). */
static struct user *mkuser(int i, const char *nick)
{
    cr_assert_lt(i, NU);
    cr_assert_null(U[i]);
    outq_init(&Q[i], 1 << 20, WIRE_LINE);
    char session[SESSION_ID_LEN + 1];
    session_of(i, session);
    struct user *u = user_new(&Q[i], session);
    cr_assert_not_null(u);
    cr_assert_eq(user_set_nick(u, nick), SL_OK, "nick %s", nick);
    user_register(u);
    device_of(i, u->device);
    addr_v4(u->addr, 192, 0, 2, (uint8_t)(10 + i));
    u->sess = session_get(u->session, NULL, 0, false);
    session_attach(u->sess);
    U[i] = u;
    return u;
}

static struct room *join_ok(struct user *u, const char *name)
{
    struct room *r = NULL;
    enum room_deny d = room_join(u, name, NULL, &r);
    cr_assert_eq(d, ROOM_OK, "%s joining %s: %d", u->nick, name, d);
    cr_assert_not_null(r);
    return r;
}

/* Queued line i of q without its CRLF. */
static const char *line_at(const struct outq *q, uint32_t i, char *out, size_t cap)
{
    cr_assert_lt(i, q->count);
    const struct outq_ent *e = outq_entry(q, i);
    cr_assert_geq(e->len, 2);
    size_t len = e->len - 2;
    cr_assert_lt(len, cap);
    memcpy(out, e->mb->data + e->off, len);
    out[len] = '\0';
    return out;
}

/* The first queued line of q containing needle (copied to out), or NULL. */
static const char *find_line(const struct outq *q, const char *needle, char *out, size_t cap)
{
    for (uint32_t i = 0; i < q->count; i++)
        if (strstr(line_at(q, i, out, cap), needle))
            return out;
    return NULL;
}

static void clear_queue(int i)
{
    while (outq_pending_pop())
        ;
    outq_cleanup(&Q[i]);
    outq_init(&Q[i], 1 << 20, WIRE_LINE);
}

/* The msgid of the newest message in r's history. */
static void newest_msgid(const struct room *r, char out[HISTORY_MSGID_MAX])
{
    const struct store_msg *msgs[64];
    size_t n = history_snapshot(r->history, msgs, 64);
    cr_assert_gt(n, 0, "history of %s is empty", r->name);
    snprintf(out, HISTORY_MSGID_MAX, "%s", msgs[n - 1]->msgid);
}

static void say(struct user *u, struct room *r, const char *text)
{
    struct message_result res;
    cr_assert_eq(message_to_room(u, r, "PRIVMSG", text, NULL, &res), SL_OK,
                 "%s says %s: %s", u->nick, text, res.reason ? res.reason : "");
}

static void core_setup(void)
{
    history_init(NULL, 0);
    irc_init();
    struct room_config c = {.user_rooms = true, .max_rooms_per_user = 20, .history_memory = 50};
    room_configure(&c);
    report_init(NULL);
    audit_init(NULL);
    policy_bans_init(NULL, 0);
}

static void core_teardown(void)
{
    while (outq_pending_pop())
        ;
    for (int i = 0; i < NU; i++) {
        if (U[i]) {
            struct session *s = U[i]->sess;
            user_quit(U[i], "end");
            user_free(U[i]);
            session_detach(s);
            U[i] = NULL;
        }
        while (outq_pending_pop())
            ;
        outq_release(&Q[i]);
    }
    report_init(NULL);
    while (report_list())
        report_close(report_list(), "dismissed", "");
}

static void store_setup(void)
{
    tmp_make();
    core_setup();
}

static void store_teardown(void)
{
    core_teardown();
    tmp_remove();
}

TestSuite(audit, .init = store_setup, .fini = store_teardown, .timeout = 30);
TestSuite(ban, .init = store_setup, .fini = store_teardown, .timeout = 30);
TestSuite(report, .init = store_setup, .fini = store_teardown, .timeout = 30);
TestSuite(mod, .init = store_setup, .fini = store_teardown, .timeout = 30);
TestSuite(staff, .init = tmp_make, .fini = tmp_remove, .timeout = 60);

/* ==================== audit ==================== */

/* Three entries in a fresh store, then closed; detail of seq 2 starts 'r'. */
static void write_three(void)
{
    struct store *st = open_store();
    audit_init(st);
    cr_assert_eq(audit_last_seq(), 0);
    audit_log("staff:alice", "warn", "aaaa", "reason: %s", "insults");
    audit_log("staff:alice", "mute", "bbbb", "reason: %s", "spam");
    audit_log("staff:bob", "ban", "cccc", "reason: %s", "threats");
    cr_assert_eq(audit_last_seq(), 3);
    store_close(st);
}

Test(audit, chain_intact_after_reopen_and_continues)
{
    write_three();
    struct store *st = open_store();
    audit_init(st);
    cr_assert_eq(audit_last_seq(), 3, "audit_init finds the end of the chain");
    char out[512];
    cr_assert(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "3 entries, chain intact"), "%s", out);
    /* The chain continues across the restart. */
    audit_log("staff:bob", "dismiss", "", "no case");
    cr_assert_eq(audit_last_seq(), 4);
    store_close(st);
    st = open_store();
    cr_assert(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "4 entries, chain intact"), "%s", out);
    store_close(st);
}

Test(audit, empty_log_verifies)
{
    struct store *st = open_store();
    audit_init(st);
    char out[256];
    cr_assert(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "0 entries"), "%s", out);
    store_close(st);
}

Test(audit, one_edited_byte_is_detected)
{
    write_three();
    /* "reason: spam" -> "Xeason: spam": one byte of entry 2's detail. */
    db_exec("UPDATE audit SET detail = 'X' || substr(detail, 2) WHERE seq = 2");
    struct store *st = open_store();
    char out[512];
    cr_assert_not(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "entry 2"), "names the first bad entry: %s", out);
    store_close(st);
}

Test(audit, edited_actor_of_first_entry_is_detected)
{
    write_three();
    db_exec("UPDATE audit SET actor = 'staff:mallory' WHERE seq = 1");
    struct store *st = open_store();
    char out[512];
    cr_assert_not(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "entry 1"), "%s", out);
    store_close(st);
}

Test(audit, removed_last_entry_is_detected_by_head)
{
    write_three();
    db_exec("DELETE FROM audit WHERE seq = 3");
    struct store *st = open_store();
    char out[512];
    cr_assert_not(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "removed from the end"), "%s", out);
    store_close(st);
}

Test(audit, removed_middle_entry_is_detected)
{
    write_three();
    db_exec("DELETE FROM audit WHERE seq = 2");
    struct store *st = open_store();
    char out[512];
    cr_assert_not(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "entry 3"), "%s", out);
    store_close(st);
}

Test(audit, swapped_entries_are_detected)
{
    write_three();
    db_exec("UPDATE audit SET seq = -1 WHERE seq = 1;"
            "UPDATE audit SET seq = 1 WHERE seq = 2;"
            "UPDATE audit SET seq = 2 WHERE seq = -1");
    struct store *st = open_store();
    char out[512];
    cr_assert_not(verify_text(st, out, sizeof out), "%s", out);
    cr_assert_not_null(strstr(out, "entry 1"), "%s", out);
    store_close(st);
}

struct seen {
    int n;
    int64_t seq[256];
    char action[256][32];
    char actor[4][64];
};

static void collect(const struct store_audit *a, void *ud)
{
    struct seen *s = ud;
    if (s->n < 256) {
        s->seq[s->n] = a->seq;
        snprintf(s->action[s->n], sizeof s->action[0], "%s", a->action);
        if (s->n < 4)
            snprintf(s->actor[s->n], sizeof s->actor[0], "%s", a->actor);
    }
    s->n++;
}

Test(audit, recent_lists_newest_first)
{
    audit_init(NULL);
    cr_assert_eq(audit_last_seq(), 0);
    audit_log("staff:alice", "warn", "t1", "one");
    cr_assert_eq(audit_last_seq(), 1);
    audit_log("staff:alice", "mute", "t2", "two");
    cr_assert_eq(audit_last_seq(), 2);
    audit_log("system", "ban", NULL, "three");
    cr_assert_eq(audit_last_seq(), 3);
    struct seen s = {0};
    audit_recent(collect, &s);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.seq[0], 3);
    cr_assert_eq(s.seq[1], 2);
    cr_assert_eq(s.seq[2], 1);
    cr_assert_str_eq(s.action[0], "ban");
    cr_assert_str_eq(s.action[2], "warn");
    cr_assert_str_eq(s.actor[0], "system");
}

Test(audit, recent_keeps_the_newest_200)
{
    audit_init(NULL);
    for (int i = 0; i < 205; i++)
        audit_log("system", "look", "x", "%d", i);
    struct seen s = {0};
    audit_recent(collect, &s);
    cr_assert_eq(s.n, 200);
    cr_assert_eq(s.seq[0], 205);
    cr_assert_eq(s.seq[199], 6);
}

/* ==================== bans ==================== */

#define HEX32_A "0123456789abcdef0123456789abcdef"
#define HEX32_B "fedcba9876543210fedcba9876543210"

Test(ban, kind_names_parse)
{
    static const char *const names[] = {"session", "device", "address", "prefix", "nick"};
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(ban_kind_parse(names[i]), i);
        cr_assert_str_eq(ban_kind_name((enum ban_kind)i), names[i]);
    }
    cr_assert_eq(ban_kind_parse("bogus"), -1);
    cr_assert_eq(ban_kind_parse(""), -1);
    cr_assert_eq(ban_kind_parse("Session"), -1);
}

Test(ban, by_session)
{
    int64_t now = clock_wall_ms();
    int64_t id = policy_ban_add(BAN_SESSION, HEX32_A, 0, "spam", "staff:alice");
    cr_assert_gt(id, 0);
    const struct ban *b = policy_ban_find(HEX32_A, NULL, NULL, NULL, now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, id);
    cr_assert_eq(b->kind, BAN_SESSION);
    cr_assert_str_eq(b->reason, "spam");
    cr_assert_str_eq(b->by, "staff:alice");
    cr_assert_null(policy_ban_find(HEX32_B, NULL, NULL, NULL, now));
    /* A session id is not a device id. */
    cr_assert_null(policy_ban_find(NULL, HEX32_A, NULL, NULL, now));
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, NULL, now));
}

Test(ban, by_device)
{
    int64_t now = clock_wall_ms();
    int64_t id = policy_ban_add(BAN_DEVICE, HEX32_B, 0, "evasion", "staff:alice");
    cr_assert_gt(id, 0);
    const struct ban *b = policy_ban_find(HEX32_A, HEX32_B, NULL, "anyone", now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, id);
    cr_assert_null(policy_ban_find(HEX32_B, HEX32_A, NULL, NULL, now));
    cr_assert_null(policy_ban_find(NULL, "", NULL, NULL, now));
}

Test(ban, by_address_v4_and_v6)
{
    int64_t now = clock_wall_ms();
    int64_t id4 = policy_ban_add(BAN_ADDRESS, "192.0.2.7", 0, "r", "s");
    int64_t id6 = policy_ban_add(BAN_ADDRESS, "2001:db8::7", 0, "r", "s");
    cr_assert_gt(id4, 0);
    cr_assert_gt(id6, 0);
    cr_assert_neq(id4, id6);
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 7);
    const struct ban *b = policy_ban_find(NULL, NULL, a, NULL, now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, id4);
    addr_v4(a, 192, 0, 2, 8);
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now), "an address ban is exact");
    addr_v6(a, "2001:db8::7");
    b = policy_ban_find(NULL, NULL, a, NULL, now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, id6);
    addr_v6(a, "2001:db8::8");
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now));
    /* The IPv4-mapped text form is the same address. */
    addr_v6(a, "::ffff:192.0.2.7");
    b = policy_ban_find(NULL, NULL, a, NULL, now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, id4);
}

Test(ban, prefix_v4_is_slash_24)
{
    int64_t now = clock_wall_ms();
    int64_t id = policy_ban_add(BAN_PREFIX, "192.0.2.7", 0, "r", "s");
    cr_assert_gt(id, 0);
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 200);
    const struct ban *b = policy_ban_find(NULL, NULL, a, NULL, now);
    cr_assert_not_null(b, "192.0.2.200 is in 192.0.2.0/24");
    cr_assert_eq(b->id, id);
    addr_v4(a, 192, 0, 2, 0);
    cr_assert_not_null(policy_ban_find(NULL, NULL, a, NULL, now));
    addr_v4(a, 192, 0, 3, 1);
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now), "192.0.3.1 is outside");
    addr_v4(a, 193, 0, 2, 7);
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now));
    /* An IPv6 address never matches an IPv4 prefix. */
    addr_v6(a, "::c000:207");
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now));
}

Test(ban, prefix_v6_is_slash_64)
{
    int64_t now = clock_wall_ms();
    int64_t id = policy_ban_add(BAN_PREFIX, "2001:db8:1:2::1", 0, "r", "s");
    cr_assert_gt(id, 0);
    uint8_t a[16];
    addr_v6(a, "2001:db8:1:2:ffff:eeee:dddd:cccc");
    const struct ban *b = policy_ban_find(NULL, NULL, a, NULL, now);
    cr_assert_not_null(b, "same /64");
    cr_assert_eq(b->id, id);
    addr_v6(a, "2001:db8:1:3::1");
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now), "another /64");
    addr_v4(a, 192, 0, 2, 1);
    cr_assert_null(policy_ban_find(NULL, NULL, a, NULL, now));
}

Test(ban, nick_pattern_glob_case_insensitive)
{
    int64_t now = clock_wall_ms();
    int64_t star = policy_ban_add(BAN_NICK, "troll*", 0, "r", "s");
    cr_assert_gt(star, 0);
    const struct ban *b = policy_ban_find(NULL, NULL, NULL, "TrollFace", now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, star);
    cr_assert_not_null(policy_ban_find(NULL, NULL, NULL, "troll", now), "* matches nothing too");
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "atroll", now), "anchored at the start");
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "trol", now));
    cr_assert(policy_ban_remove(star));

    int64_t q = policy_ban_add(BAN_NICK, "B?d", 0, "r", "s");
    cr_assert_gt(q, 0);
    cr_assert_not_null(policy_ban_find(NULL, NULL, NULL, "bad", now));
    cr_assert_not_null(policy_ban_find(NULL, NULL, NULL, "BID", now));
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "bd", now), "? is exactly one");
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "baad", now));
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "bade", now), "anchored at the end");

    int64_t mid = policy_ban_add(BAN_NICK, "*x*y?", 0, "r", "s");
    cr_assert_gt(mid, 0);
    cr_assert_not_null(policy_ban_find(NULL, NULL, NULL, "aXbYc", now));
    cr_assert_not_null(policy_ban_find(NULL, NULL, NULL, "xyz", now));
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "xy", now));
}

Test(ban, expiry)
{
    int64_t now = clock_wall_ms();
    int64_t past = policy_ban_add(BAN_SESSION, HEX32_A, now - 1000, "r", "s");
    cr_assert_gt(past, 0, "an expired ban is still accepted as a record");
    cr_assert_null(policy_ban_find(HEX32_A, NULL, NULL, NULL, now), "expired: no match");
    int64_t future = policy_ban_add(BAN_SESSION, HEX32_B, now + 60000, "r", "s");
    const struct ban *b = policy_ban_find(HEX32_B, NULL, NULL, NULL, now);
    cr_assert_not_null(b);
    cr_assert_eq(b->id, future);
    cr_assert_null(policy_ban_find(HEX32_B, NULL, NULL, NULL, now + 60000), "ends at until_ms");
    /* until 0: for good. */
    policy_ban_add(BAN_NICK, "forever", 0, "r", "s");
    cr_assert_not_null(policy_ban_find(NULL, NULL, NULL, "forever", now + 100LL * 365 * 86400000));
}

Test(ban, remove)
{
    int64_t now = clock_wall_ms();
    int64_t a = policy_ban_add(BAN_SESSION, HEX32_A, 0, "r", "s");
    int64_t b = policy_ban_add(BAN_SESSION, HEX32_B, 0, "r", "s");
    cr_assert(policy_ban_remove(a));
    cr_assert_null(policy_ban_find(HEX32_A, NULL, NULL, NULL, now));
    const struct ban *kept = policy_ban_find(HEX32_B, NULL, NULL, NULL, now);
    cr_assert_not_null(kept, "removing one ban keeps the others");
    cr_assert_eq(kept->id, b);
    cr_assert_not(policy_ban_remove(a), "already removed");
    cr_assert_not(policy_ban_remove(0));
    cr_assert_not(policy_ban_remove(12345));
    /* Ids are not reused within a run. */
    int64_t c = policy_ban_add(BAN_SESSION, HEX32_A, 0, "r", "s");
    cr_assert_gt(c, b);
}

Test(ban, invalid_values_refused)
{
    cr_assert_eq(policy_ban_add(BAN_SESSION, "abc", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_SESSION, HEX32_A "0", 0, "r", "s"), 0, "33 characters");
    cr_assert_eq(policy_ban_add(BAN_SESSION, "", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_DEVICE, "", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_DEVICE, "short", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_ADDRESS, "not-an-address", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_ADDRESS, "192.0.2.256", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_ADDRESS, "", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_PREFIX, "2001:db8::g", 0, "r", "s"), 0);
    cr_assert_eq(policy_ban_add(BAN_NICK, "", 0, "r", "s"), 0);
    char longv[80];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    cr_assert_eq(policy_ban_add(BAN_NICK, longv, 0, "r", "s"), 0, "longer than value[64]");
    /* Nothing refused was kept. */
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "abc", clock_wall_ms()));
}

Test(ban, gate_connect_from_banned_address)
{
    int64_t id = policy_ban_add(BAN_ADDRESS, "192.0.2.7", 0, "a spam run", "staff:alice");
    cr_assert_gt(id, 0);
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 7);
    struct verdict v = policy_check(&(struct action){.kind = ACTION_CONNECT, .addr = a});
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_not_null(v.code);
    cr_assert_str_eq(v.code, "banned");
    cr_assert_not_null(v.reason);
    char want[32];
    snprintf(want, sizeof want, "ban %lld", (long long)id);
    cr_assert_not_null(strstr(v.reason, want), "reason names the ban: %s", v.reason);
    cr_assert_not_null(strstr(v.reason, "a spam run"), "%s", v.reason);
    cr_assert_not_null(strstr(v.reason, "appeal"), "%s", v.reason);
    addr_v4(a, 192, 0, 2, 8);
    v = policy_check(&(struct action){.kind = ACTION_CONNECT, .addr = a});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
    policy_connection_closed(a);
}

Test(ban, gate_register_and_enter_with_banned_device)
{
    int64_t id = policy_ban_add(BAN_DEVICE, HEX32_B, 0, "evasion", "staff:alice");
    cr_assert_gt(id, 0);
    struct verdict v = policy_check(&(struct action){
        .kind = ACTION_REGISTER, .nick = "newname", .session = HEX32_A, .device = HEX32_B});
    cr_assert_eq(v.kind, VERDICT_DENY, "a banned device with a new pseudonym is refused");
    cr_assert_str_eq(v.code, "banned");
    v = policy_check(&(struct action){.kind = ACTION_ENTER, .age = 30, .device = HEX32_B,
                                      .wall_ms = clock_wall_ms()});
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "banned");
    v = policy_check(&(struct action){
        .kind = ACTION_REGISTER, .nick = "newname", .session = HEX32_A, .device = HEX32_A});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
}

Test(ban, gate_register_and_nick_with_banned_pattern)
{
    policy_ban_add(BAN_NICK, "*nazi*", 0, "hate", "staff:alice");
    struct verdict v = policy_check(&(struct action){.kind = ACTION_REGISTER, .nick = "NaziBoy",
                                                     .session = HEX32_A});
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "banned");
    v = policy_check(&(struct action){.kind = ACTION_NICK, .nick = "xNAZIx",
                                      .session = HEX32_A});
    cr_assert_eq(v.kind, VERDICT_DENY);
    v = policy_check(&(struct action){.kind = ACTION_NICK, .nick = "kind", .session = HEX32_A});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
}

Test(ban, gate_mute)
{
    int64_t now = clock_wall_ms();
    struct verdict v = policy_check(&(struct action){
        .kind = ACTION_SAY_ROOM, .nick = "n", .target = "#r", .text = "hi",
        .session = HEX32_A, .muted_until_ms = now + 60000});
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "MUTED");
    cr_assert_not_null(v.reason);
    v = policy_check(&(struct action){
        .kind = ACTION_SAY_PRIVATE, .nick = "n", .target = "m", .text = "hi",
        .session = HEX32_A, .muted_until_ms = now + 60000});
    cr_assert_eq(v.kind, VERDICT_DENY);
    cr_assert_str_eq(v.code, "MUTED");
    v = policy_check(&(struct action){
        .kind = ACTION_SAY_ROOM, .nick = "n", .target = "#r", .text = "hi",
        .session = HEX32_A, .muted_until_ms = now - 1000});
    cr_assert_eq(v.kind, VERDICT_ALLOW, "a mute in the past is over");
    v = policy_check(&(struct action){
        .kind = ACTION_SAY_ROOM, .nick = "n", .target = "#r", .text = "hi", .session = HEX32_A});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
    /* A mute does not keep anyone from joining. */
    v = policy_check(&(struct action){.kind = ACTION_JOIN, .nick = "n", .target = "#r",
                                      .session = HEX32_A, .muted_until_ms = now + 60000});
    cr_assert_eq(v.kind, VERDICT_ALLOW);
}

/* A previous run: bans written to storage. */
static void bans_in_child(void)
{
    struct store *st = open_store();
    policy_bans_init(st, clock_wall_ms());
    int64_t now = clock_wall_ms();
    if (policy_ban_add(BAN_SESSION, HEX32_A, 0, "spam", "staff:alice") != 1 ||
        policy_ban_add(BAN_PREFIX, "192.0.2.7", now + 3600000, "raid", "staff:bob") != 2 ||
        policy_ban_add(BAN_DEVICE, HEX32_B, now - 1000, "old", "staff:bob") != 3 ||
        policy_ban_add(BAN_NICK, "gone*", 0, "x", "staff:bob") != 4 || !policy_ban_remove(4))
        _exit(1);
    store_close(st);
}

Test(ban, survive_restart)
{
    in_child(bans_in_child);
    struct store *st = open_store();
    int64_t now = clock_wall_ms();
    policy_bans_init(st, now);
    const struct ban *b = policy_ban_find(HEX32_A, NULL, NULL, NULL, now);
    cr_assert_not_null(b, "a ban for good is loaded");
    cr_assert_eq(b->id, 1);
    cr_assert_str_eq(b->reason, "spam");
    cr_assert_str_eq(b->by, "staff:alice");
    uint8_t a[16];
    addr_v4(a, 192, 0, 2, 99);
    b = policy_ban_find(NULL, NULL, a, NULL, now);
    cr_assert_not_null(b, "a ban for a time is loaded");
    cr_assert_eq(b->id, 2);
    cr_assert_eq(b->kind, BAN_PREFIX);
    cr_assert_gt(b->until_ms, now);
    cr_assert_null(policy_ban_find(NULL, HEX32_B, NULL, NULL, now), "expired");
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "gonegirl", now), "removed");
    /* New ids continue after the loaded ones. */
    cr_assert_gt(policy_ban_add(BAN_NICK, "new*", 0, "r", "s"), 2);
    policy_bans_init(NULL, 0);
    store_close(st);
}

/* BUG: a ban is saved as "kind|value|created|by|reason" and read back by
 * splitting on '|'. '|' is a valid nick character (RFC 2812 2.3.1
 * "special"), so a nick pattern such as "x|y*" comes back after a restart
 * as the pattern "x" (the rest shifted into created/by/reason): the ban no
 * longer matches the nicks it was made for, and matches "x" instead. A
 * reason containing '|' is cut too. Fix (src/policy/ban.c save/load_one):
 * escape '|' and '\\' in value, by and reason when saving and unescape
 * when loading, or store the record as a JSON object (jansson is already
 * linked). */
static void pipe_ban_in_child(void)
{
    struct store *st = open_store();
    policy_bans_init(st, clock_wall_ms());
    if (policy_ban_add(BAN_NICK, "x|y*", 0, "slurs | threats", "staff:alice") != 1)
        _exit(1);
    store_close(st);
}

Test(ban, bug_pattern_with_pipe_survives_restart)
{
    in_child(pipe_ban_in_child);
    struct store *st = open_store();
    int64_t now = clock_wall_ms();
    policy_bans_init(st, now);
    const struct ban *b = policy_ban_find(NULL, NULL, NULL, "x|yz", now);
    const struct ban *wrong = policy_ban_find(NULL, NULL, NULL, "x", now);
    char value[64] = "", reason[256] = "";
    if (b) {
        snprintf(value, sizeof value, "%s", b->value);
        snprintf(reason, sizeof reason, "%s", b->reason);
    }
    policy_bans_init(NULL, 0);
    store_close(st);
    cr_assert_null(wrong, "after a restart the ban on \"x|y*\" matches the nick \"x\"");
    cr_assert_not_null(b, "after a restart the ban on \"x|y*\" no longer matches \"x|yz\"");
    cr_assert_str_eq(value, "x|y*");
    cr_assert_str_eq(reason, "slurs | threats");
}

/* ==================== reports ==================== */

Test(report, severity_order)
{
    static const char *const order[] = {"child_safety", "sexual_violence", "threat", "hate",
                                        "harassment", "spam", "other"};
    for (size_t i = 0; i + 1 < sizeof order / sizeof order[0]; i++)
        cr_assert_gt(report_severity(order[i]), report_severity(order[i + 1]), "%s > %s",
                     order[i], order[i + 1]);
    cr_assert_eq(report_severity("child_safety"), 100);
    cr_assert_eq(report_severity("other"), 10);
    cr_assert_eq(report_severity("illegal"), report_severity("harassment"));
    cr_assert_gt(report_severity("illegal"), report_severity("spam"));
    cr_assert_eq(report_severity("bogus"), -1);
    cr_assert_eq(report_severity(""), -1);
    cr_assert_eq(report_severity("CHILD_SAFETY"), -1);
}

struct done_rec {
    int calls;
    enum sl_err err;
    int64_t id;
};

static void on_done(enum sl_err err, int64_t id, void *ud)
{
    struct done_rec *d = ud;
    d->calls++;
    d->err = err;
    d->id = id;
}

/* The evidence entry with msgid, or NULL. */
static json_t *evidence_entry(json_t *ev, const char *msgid)
{
    size_t i;
    json_t *e;
    json_array_foreach(ev, i, e)
        if (!strcmp(json_string_value(json_object_get(e, "msgid")), msgid))
            return e;
    return NULL;
}

Test(report, room_message_with_evidence)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct room *r = join_ok(a, "#Lounge");
    cr_assert_eq(join_ok(b, "#lounge"), r);
    say(a, r, "good evening");
    say(b, r, "you are disgusting");
    char bad[HISTORY_MSGID_MAX];
    newest_msgid(r, bad);
    say(a, r, "please stop");

    struct done_rec d = {0};
    cr_assert_eq(report_create(a, NULL, bad, "harassment", "he insults me", on_done, &d, NULL),
                 SL_OK);
    cr_assert_eq(d.calls, 1, "memory only: done runs at once");
    cr_assert_eq(d.err, SL_OK);

    struct report *rep = report_list();
    cr_assert_not_null(rep);
    cr_assert_null(rep->next);
    cr_assert_eq(report_find(d.id), rep);
    cr_assert_str_eq(rep->category, "harassment");
    cr_assert_eq(rep->severity, 50);
    cr_assert_str_eq(rep->reporter, a->session);
    cr_assert_str_eq(rep->reported, b->session);
    cr_assert_str_eq(rep->reported_nick, "bob");
    cr_assert_str_eq(rep->where, "#Lounge");
    cr_assert_str_eq(rep->msgid, bad);
    cr_assert_str_eq(rep->comment, "he insults me");
    cr_assert_str_eq(rep->status, "open");

    json_error_t jerr;
    json_t *ev = json_loads(rep->evidence, 0, &jerr);
    cr_assert_not_null(ev, "evidence is JSON: %s", jerr.text);
    cr_assert(json_is_array(ev));
    cr_assert_eq(json_array_size(ev), 3, "the surrounding lines too");
    json_t *e = evidence_entry(ev, bad);
    cr_assert_not_null(e, "the reported message is in the evidence");
    cr_assert_str_eq(json_string_value(json_object_get(e, "text")), "you are disgusting");
    cr_assert(json_is_true(json_object_get(e, "reported")));
    cr_assert_str_eq(json_string_value(json_object_get(e, "session")), b->session);
    cr_assert_str_eq(json_string_value(json_object_get(e, "nick")), "bob");
    json_t *p = json_object_get(e, "participant");
    cr_assert(json_is_object(p), "a connected participant is described");
    cr_assert_str_eq(json_string_value(json_object_get(p, "address")), "192.0.2.11");
    cr_assert_str_eq(json_string_value(json_object_get(p, "device")), b->device);
    /* The other lines are context, not the reported one. */
    size_t i;
    json_array_foreach(ev, i, e) {
        const char *id = json_string_value(json_object_get(e, "msgid"));
        cr_assert_not_null(id);
        cr_assert(json_is_boolean(json_object_get(e, "reported")));
        if (strcmp(id, bad) != 0)
            cr_assert(json_is_false(json_object_get(e, "reported")));
        cr_assert_not_null(json_string_value(json_object_get(e, "time")));
    }
    json_decref(ev);
}

Test(report, message_of_a_room_the_reporter_is_not_in)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct user *c = mkuser(2, "carol");
    struct room *r = join_ok(a, "#private");
    join_ok(b, "#private");
    join_ok(c, "#elsewhere");
    say(b, r, "secret");
    char id[HISTORY_MSGID_MAX];
    newest_msgid(r, id);
    struct done_rec d = {0};
    cr_assert_eq(report_create(c, NULL, id, "spam", "", on_done, &d, NULL), SL_ENOTFOUND);
    cr_assert_eq(d.calls, 0, "no callback for a refused report");
    cr_assert_null(report_list());
    /* Nor after leaving the room. */
    cr_assert_eq(room_part(a, r, "bye"), ROOM_OK);
    cr_assert_eq(report_create(a, NULL, id, "spam", "", on_done, &d, NULL), SL_ENOTFOUND);
    cr_assert_eq(report_create(a, NULL, "nosuchmsgid", "spam", "", on_done, &d, NULL),
                 SL_ENOTFOUND);
    cr_assert_eq(report_create(b, NULL, id, "nonsense", "", on_done, &d, NULL), SL_EINVAL);
    cr_assert_eq(report_create(b, NULL, NULL, "spam", "", on_done, &d, NULL), SL_ENOTFOUND,
                 "neither a person nor a message");
    cr_assert_eq(d.calls, 0);
    cr_assert_null(report_list());
}

Test(report, private_conversation)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct user *c = mkuser(2, "carol");
    session_set_pm_policy(a->sess, PM_EVERYONE);
    struct message_result res;
    cr_assert_eq(message_to_user(b, a, "PRIVMSG", "send me pictures", NULL, &res), SL_OK);
    cr_assert_eq(res.fate, MESSAGE_SENT);
    char key[HISTORY_KEY_MAX];
    history_private_key(key, a->session, b->session);
    struct history *h = history_private(key, 100);
    const struct store_msg *msgs[4];
    cr_assert_eq(history_snapshot(h, msgs, 4), 1);
    char id[HISTORY_MSGID_MAX];
    snprintf(id, sizeof id, "%s", msgs[0]->msgid);

    struct done_rec d = {0};
    cr_assert_eq(report_create(c, NULL, id, "harassment", "", on_done, &d, NULL), SL_ENOTFOUND,
                 "someone else's private conversation");
    cr_assert_eq(report_create(a, NULL, id, "harassment", "", on_done, &d, NULL), SL_OK);
    cr_assert_eq(d.err, SL_OK);
    struct report *rep = report_list();
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep->where, "private");
    cr_assert_str_eq(rep->reported, b->session);
    cr_assert_not_null(strstr(rep->evidence, "send me pictures"));

    /* By person: the conversation between the two is the evidence. */
    cr_assert_eq(report_create(a, b, NULL, "harassment", "again", on_done, &d, NULL), SL_OK);
    rep = report_list();
    cr_assert_str_eq(rep->reported, b->session);
    cr_assert_str_eq(rep->reported_nick, "bob");
    cr_assert_str_eq(rep->msgid, "");
    cr_assert_not_null(strstr(rep->evidence, "send me pictures"));
    /* Reporting someone never talked to: no evidence, still a report. */
    cr_assert_eq(report_create(c, b, NULL, "spam", "", on_done, &d, NULL), SL_OK);
    cr_assert_str_eq(report_list()->evidence, "[]");
    cr_assert_eq(d.calls, 3);
}

Test(report, close_removes_from_list)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct user *c = mkuser(2, "carol");
    cr_assert_eq(report_create(a, b, NULL, "spam", "one", NULL, NULL, NULL), SL_OK);
    cr_assert_eq(report_create(a, c, NULL, "threat", "two", NULL, NULL, NULL), SL_OK);
    cr_assert_eq(report_create(b, c, NULL, "other", "three", NULL, NULL, NULL), SL_OK);
    struct report *first = report_list();
    cr_assert_str_eq(first->comment, "three", "newest first");
    struct report *mid = first->next;
    cr_assert_str_eq(mid->comment, "two");
    report_close(mid, "dismissed", "not a threat");
    int n = 0;
    for (struct report *r = report_list(); r; r = r->next, n++)
        cr_assert_str_neq(r->comment, "two");
    cr_assert_eq(n, 2);
    report_close(report_list(), "actioned", "");
    report_close(report_list(), "actioned", "");
    cr_assert_null(report_list());
}

Test(report, appeal_is_queued)
{
    int64_t id = -1;
    cr_assert_eq(report_create_appeal(HEX32_A, 7, "I did nothing wrong", NULL, NULL, &id),
                 SL_OK);
    struct report *rep = report_list();
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep->category, "appeal");
    cr_assert_str_eq(rep->where, "action 7");
    cr_assert_str_eq(rep->reporter, HEX32_A);
    cr_assert_str_eq(rep->comment, "I did nothing wrong");
    cr_assert_gt(rep->severity, 0);
}

/* With storage: done() runs only once the report is on disk (after the
 * storage thread committed it and the loop dispatched), with a real id,
 * and the report is there after a restart. */
Test(report, durable_before_done)
{
    struct store *st = open_store();
    history_init(st, 0);
    report_init(st);
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct done_rec d = {0};
    cr_assert_eq(report_create(a, b, NULL, "threat", "he knows where I live", on_done, &d, NULL),
                 SL_OK);
    cr_assert_eq(d.calls, 0, "not acknowledged before the write");
    cr_assert_null(report_list(), "not in the queue before it is on disk");
    for (int spins = 0; d.calls == 0 && spins < 100; spins++) {
        struct pollfd p = {.fd = store_notify_fd(st), .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 10000), 1, "completion fd never woke");
        store_dispatch(st);
    }
    cr_assert_eq(d.calls, 1);
    cr_assert_eq(d.err, SL_OK);
    cr_assert_gt(d.id, 0);
    struct report *rep = report_find(d.id);
    cr_assert_not_null(rep);
    cr_assert_str_eq(rep->comment, "he knows where I live");

    /* The synchronous form returns the id at once. */
    int64_t id2 = 0;
    cr_assert_eq(report_create(b, a, NULL, "spam", "", NULL, NULL, &id2), SL_OK);
    cr_assert_gt(id2, d.id);
    cr_assert_not_null(report_find(id2));

    report_init(NULL);
    history_init(NULL, 0);
    store_close(st);
    st = open_store();
    /* A "restarted" queue: the open reports are loaded with their ids. */
    while (report_list())
        report_close(report_list(), "x", "");
    report_init(st);
    rep = report_find(d.id);
    cr_assert_not_null(rep, "report %lld lost across a restart", (long long)d.id);
    cr_assert_str_eq(rep->category, "threat");
    cr_assert_str_eq(rep->reported, b->session);
    cr_assert_not_null(report_find(id2));
    report_init(NULL);
    store_close(st);
}

/* BUG: struct report has reporter_nick and the queue API returns it
 * (docs/moderation.md: reports[].reporter_nick), but report_create never
 * keeps it: report_from() always sets "". Staff see no reporter nick.
 * Fix (src/core/report.c): keep by->nick in struct pending (a 9th string)
 * and copy it into r->reporter_nick in on_stored; for reports loaded at
 * start-up, add a reporter_nick column (store_report field + migration)
 * or take it from the evidence. */
Test(report, bug_reporter_nick_is_kept)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    cr_assert_eq(report_create(a, b, NULL, "spam", "", NULL, NULL, NULL), SL_OK);
    cr_assert_not_null(report_list());
    cr_assert_str_eq(report_list()->reporter_nick, "alice");
}

/* ==================== moderation_act ==================== */

static void ignore_report(const struct store_report *r, void *ud)
{
    (void)r;
    (void)ud;
}

/* The ban id moderation_act returned last. */
static int64_t last_ban_id;

/* moderation_act as staff:alice (unless actor is set); *id: the action id. */
static enum sl_err act(struct mod_request rq, int64_t *id, const char **error)
{
    if (!rq.actor)
        rq.actor = "staff:alice";
    struct mod_result res = {.action_id = -1, .ban_id = -1};
    *error = NULL;
    enum sl_err err = moderation_act(&rq, &res, error);
    *id = res.action_id;
    last_ban_id = res.ban_id;
    return err;
}

Test(mod, reason_required)
{
    struct user *b = mkuser(1, "bob");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "warn", .nick = "bob"}, &id, &error),
                 SL_EINVAL);
    cr_assert_not_null(error);
    cr_assert_eq(act((struct mod_request){.action = "kick", .nick = "bob", .reason = ""}, &id,
                     &error), SL_EINVAL);
    cr_assert_eq(audit_last_seq(), 0, "a refused action is not audited");
    cr_assert_not(b->out->is_closing);
    cr_assert_eq(b->out->count, 0);
}

Test(mod, warn_sends_statement_of_reasons)
{
    struct user *b = mkuser(1, "bob");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "warn", .nick = "bob",
                                          .reason = "insulting people", .rule = "2.1"},
                     &id, &error), SL_OK, "%s", error ? error : "");
    cr_assert_gt(id, 0);
    cr_assert_eq(id, audit_last_seq(), "the action id is its audit entry");
    char want[64], line[1024];
    snprintf(want, sizeof want, "NOTE MODERATION WARN %lld :", (long long)id);
    cr_assert_not_null(find_line(b->out, want, line, sizeof line), "no %s line", want);
    cr_assert_not_null(strstr(line, "insulting people"), "%s", line);
    cr_assert_not_null(strstr(line, "2.1"), "%s", line);
    cr_assert_not_null(strstr(line, "appeal"), "%s", line);
    cr_assert_not(b->out->is_closing, "a warning does not disconnect");

    struct seen s = {0};
    audit_recent(collect, &s);
    cr_assert_eq(s.n, 1);
    cr_assert_str_eq(s.action[0], "warn");
    cr_assert_str_eq(s.actor[0], "staff:alice");

    /* By session as well as by nick. */
    cr_assert_eq(act((struct mod_request){.action = "warn", .session = b->session,
                                          .reason = "again"}, &id, &error), SL_OK);
    cr_assert_eq(act((struct mod_request){.action = "warn", .nick = "nobody", .reason = "x"},
                     &id, &error), SL_ENOTFOUND);
}

Test(mod, mute_denies_the_next_room_message)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct room *r = join_ok(a, "#room");
    join_ok(b, "#room");
    say(b, r, "before");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "mute", .nick = "bob", .reason = "flooding",
                                          .duration_s = 600}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    int64_t now = clock_wall_ms();
    cr_assert_gt(b->sess->muted_until_ms, now + 590000);
    cr_assert_leq(b->sess->muted_until_ms, now + 600000);
    char want[64], line[1024];
    snprintf(want, sizeof want, "NOTE MODERATION MUTE %lld :", (long long)id);
    cr_assert_not_null(find_line(b->out, want, line, sizeof line));
    cr_assert_not_null(strstr(line, "10 minutes"), "%s", line);

    uint32_t a_before = a->out->count;
    struct message_result res;
    cr_assert_eq(message_to_room(b, r, "PRIVMSG", "after", NULL, &res), SL_EDENIED);
    cr_assert_not_null(res.reason);
    cr_assert_eq(a->out->count, a_before, "nothing delivered");
    say(a, r, "others still talk");

    /* mute needs a duration; a session nobody has is not found. */
    cr_assert_eq(act((struct mod_request){.action = "mute", .nick = "bob", .reason = "x"}, &id,
                     &error), SL_EINVAL);
    cr_assert_eq(act((struct mod_request){.action = "mute", .session = HEX32_A, .reason = "x",
                                          .duration_s = 60}, &id, &error), SL_ENOTFOUND);
}

Test(mod, ban_by_session_disconnects)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "ban", .nick = "bob", .reason = "threats",
                                          .ban_by = "session"}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    cr_assert_gt(id, 0);
    cr_assert(b->out->is_closing, "the banned user is disconnected at once");
    cr_assert_not_null(b->out->close_reason);
    cr_assert_not(a->out->is_closing);
    char line[1024];
    cr_assert_not_null(find_line(b->out, "NOTE MODERATION BAN ", line, sizeof line));
    cr_assert_not_null(strstr(line, "threats"), "%s", line);
    const struct ban *ban = policy_ban_find(b->session, NULL, NULL, NULL, clock_wall_ms());
    cr_assert_not_null(ban);
    cr_assert_eq(ban->id, last_ban_id, "the action returns the ban id");
    cr_assert_eq(ban->kind, BAN_SESSION);
    cr_assert_str_eq(ban->reason, "threats");
    cr_assert_str_eq(ban->by, "staff:alice");
    cr_assert_eq(ban->until_ms, 0, "no duration: for good");
    /* Coming back is refused at registration. */
    struct verdict v = policy_check(&(struct action){.kind = ACTION_REGISTER, .nick = "bob2",
                                                     .session = b->session});
    cr_assert_eq(v.kind, VERDICT_DENY);
}

Test(mod, ban_by_address_for_a_time_hits_everyone_there)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct user *c = mkuser(2, "carol");
    memcpy(c->addr, b->addr, 16);       /* a second connection from bob's address */
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "ban", .nick = "bob", .reason = "raid",
                                          .ban_by = "address", .duration_s = 3600},
                     &id, &error), SL_OK, "%s", error ? error : "");
    cr_assert(b->out->is_closing);
    cr_assert(c->out->is_closing, "a ban applies at once to everyone connected who matches");
    cr_assert_not(a->out->is_closing);
    uint8_t addr[16];
    addr_v4(addr, 192, 0, 2, 11);
    const struct ban *ban = policy_ban_find(NULL, NULL, addr, NULL, clock_wall_ms());
    cr_assert_not_null(ban);
    cr_assert_eq(ban->kind, BAN_ADDRESS);
    cr_assert_gt(ban->until_ms, clock_wall_ms() + 3500000);
    /* Bad ban_by, or device of someone not connected. */
    cr_assert_eq(act((struct mod_request){.action = "ban", .nick = "alice", .reason = "x",
                                          .ban_by = "planet"}, &id, &error), SL_EINVAL);
    cr_assert_eq(act((struct mod_request){.action = "ban", .nick = "ghost", .reason = "x",
                                          .ban_by = "device"}, &id, &error), SL_EINVAL);
    cr_assert_not(a->out->is_closing);
}

Test(mod, unban_lifts_the_ban)
{
    mkuser(0, "alice");
    int64_t id;
    const char *error;
    int64_t ban = policy_ban_add(BAN_NICK, "troll*", 0, "r", "staff:bob");
    cr_assert_gt(ban, 0);
    cr_assert_eq(act((struct mod_request){.action = "unban", .ban_id = ban,
                                          .reason = "appeal granted"}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    cr_assert_gt(id, 0);
    cr_assert_null(policy_ban_find(NULL, NULL, NULL, "trollface", clock_wall_ms()));
    cr_assert_eq(act((struct mod_request){.action = "unban", .ban_id = ban, .reason = "x"}, &id,
                     &error), SL_ENOTFOUND, "already lifted");
    cr_assert_eq(act((struct mod_request){.action = "unban", .reason = "x"}, &id, &error),
                 SL_ENOTFOUND, "no ban_id");
}

Test(mod, answer_appeal)
{
    struct store *st = open_store();
    report_init(st);
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    int64_t appeal = 0, plain = 0;
    cr_assert_eq(report_create_appeal(b->session, 3, "it was a joke", NULL, NULL, &appeal), SL_OK);
    cr_assert_eq(report_create(a, b, NULL, "spam", "", NULL, NULL, &plain), SL_OK);
    cr_assert_gt(appeal, 0);
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "answer_appeal", .report_id = plain,
                                          .reason = "x"}, &id, &error), SL_EINVAL,
                 "only an appeal can be answered");
    cr_assert_eq(act((struct mod_request){.action = "answer_appeal", .report_id = appeal,
                                          .reason = "the ban stands"}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    char want[64], line[1024];
    snprintf(want, sizeof want, "NOTE MODERATION APPEAL %lld :", (long long)id);
    cr_assert_not_null(find_line(b->out, want, line, sizeof line), "the person is told");
    cr_assert_not_null(strstr(line, "the ban stands"), "%s", line);
    cr_assert_null(report_find(appeal), "the appeal leaves the queue");
    cr_assert_not_null(report_find(plain));
    report_init(NULL);
    store_close(st);
}

Test(mod, ban_by_prefix_v6)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct user *c = mkuser(2, "carol");
    addr_v6(b->addr, "2001:db8:1:2::b");
    addr_v6(c->addr, "2001:db8:1:2:ffff::c");   /* same /64 */
    addr_v6(a->addr, "2001:db8:1:3::a");        /* the next /64 */
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "ban", .nick = "bob", .reason = "raid",
                                          .ban_by = "prefix"}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    cr_assert(b->out->is_closing);
    cr_assert(c->out->is_closing);
    cr_assert_not(a->out->is_closing);
    uint8_t addr[16];
    addr_v6(addr, "2001:db8:1:2:1234::1");
    const struct ban *ban = policy_ban_find(NULL, NULL, addr, NULL, clock_wall_ms());
    cr_assert_not_null(ban);
    cr_assert_eq(ban->kind, BAN_PREFIX);
    cr_assert_eq(ban->id, last_ban_id);
}

Test(mod, kick_closes_the_queue)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "kick", .nick = "bob", .reason = "rude"},
                     &id, &error), SL_OK, "%s", error ? error : "");
    cr_assert(b->out->is_closing);
    cr_assert_not(a->out->is_closing);
    char want[64], line[1024];
    snprintf(want, sizeof want, "NOTE MODERATION KICK %lld :", (long long)id);
    cr_assert_not_null(find_line(b->out, want, line, sizeof line));
    cr_assert_not_null(strstr(line, "rude"), "%s", line);
    snprintf(want, sizeof want, "action %lld", (long long)id);
    cr_assert_not_null(strstr(b->out->close_reason, want), "%s", b->out->close_reason);
    /* A kick is not a ban. */
    cr_assert_null(policy_ban_find(b->session, b->device, b->addr, b->nick, clock_wall_ms()));
    cr_assert_eq(act((struct mod_request){.action = "kick", .nick = "ghost", .reason = "x"},
                     &id, &error), SL_ENOTFOUND);
}

Test(mod, unknown_action)
{
    struct user *b = mkuser(1, "bob");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "obliterate", .nick = "bob", .reason = "x"},
                     &id, &error), SL_EINVAL);
    cr_assert_not_null(error);
    cr_assert_eq(act((struct mod_request){.nick = "bob", .reason = "x"}, &id, &error),
                 SL_EINVAL, "no action");
    cr_assert_eq(audit_last_seq(), 0);
    cr_assert_not(b->out->is_closing);
}

Test(mod, delete_message_removes_it_from_history)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct room *r = join_ok(a, "#room");
    join_ok(b, "#room");
    a->wants |= USER_WANTS_REDACTION;
    say(b, r, "doxxing text");
    char msgid[HISTORY_MSGID_MAX];
    newest_msgid(r, msgid);
    clear_queue(0);
    clear_queue(1);
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "delete_message", .msgid = msgid,
                                          .reason = "doxxing"}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    struct history *h;
    cr_assert_null(history_lookup(msgid, &h));
    char line[1024], want[128];
    /* draft/message-redaction: REDACT <room> <msgid> :<reason> */
    snprintf(want, sizeof want, "REDACT #room %s ", msgid);
    cr_assert_not_null(find_line(a->out, want, line, sizeof line), "no %s", want);
    /* Others are told in words, naming the author. */
    cr_assert_null(find_line(b->out, "REDACT", line, sizeof line));
    cr_assert_not_null(find_line(b->out, "NOTICE #room :A message from bob was removed", line,
                                 sizeof line));
    cr_assert_null(find_line(b->out, "doxxing text", line, sizeof line));
    snprintf(want, sizeof want, "NOTE MODERATION DELETE_MESSAGE %lld :", (long long)id);
    cr_assert_not_null(find_line(b->out, want, line, sizeof line), "the author is told why");
    cr_assert_eq(act((struct mod_request){.action = "delete_message", .msgid = msgid,
                                          .reason = "again"}, &id, &error), SL_ENOTFOUND);
}

/* dismiss needs report ids, which only storage assigns. */
Test(mod, dismiss_removes_the_report)
{
    struct store *st = open_store();
    report_init(st);
    audit_init(st);
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    int64_t rid = 0;
    cr_assert_eq(report_create(a, b, NULL, "spam", "ads", NULL, NULL, &rid), SL_OK);
    cr_assert_gt(rid, 0);
    cr_assert_not_null(report_find(rid));
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "dismiss", .reason = "not spam"}, &id,
                     &error), SL_EINVAL, "dismiss needs a report");
    cr_assert_eq(act((struct mod_request){.action = "dismiss", .reason = "x",
                                          .report_id = rid + 100}, &id, &error), SL_ENOTFOUND);
    cr_assert_eq(act((struct mod_request){.action = "dismiss", .reason = "not spam",
                                          .report_id = rid}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    cr_assert_null(report_find(rid));
    cr_assert_null(report_list());
    cr_assert_eq(b->out->count, 0, "nobody is told about a dismissal");
    cr_assert_eq(act((struct mod_request){.action = "dismiss", .reason = "x",
                                          .report_id = rid}, &id, &error), SL_ENOTFOUND,
                 "already closed");
    report_init(NULL);
    audit_init(NULL);
    store_close(st);
    st = open_store();
    int dismissed = (int)store_load_reports(st, "dismissed", ignore_report, NULL);
    int open = (int)store_load_reports(st, "open", ignore_report, NULL);
    char out[256];
    bool ok = verify_text(st, out, sizeof out);
    store_close(st);
    cr_assert_eq(dismissed, 1, "the dismissal is stored");
    cr_assert_eq(open, 0);
    cr_assert(ok, "%s", out);
}

Test(mod, action_on_a_report_targets_the_reported_session)
{
    struct user *a = mkuser(0, "alice");
    struct user *b = mkuser(1, "bob");
    struct store *st = open_store();
    report_init(st);
    int64_t rid = 0;
    cr_assert_eq(report_create(a, b, NULL, "harassment", "", NULL, NULL, &rid), SL_OK);
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "warn", .reason = "harassing alice",
                                          .report_id = rid}, &id, &error), SL_OK,
                 "%s", error ? error : "");
    char line[1024];
    cr_assert_not_null(find_line(b->out, "NOTE MODERATION WARN", line, sizeof line));
    cr_assert_null(find_line(a->out, "NOTE MODERATION WARN", line, sizeof line));
    cr_assert_null(report_find(rid), "an actioned report leaves the queue");
    report_init(NULL);
    store_close(st);
    st = open_store();
    size_t actioned = store_load_reports(st, "actioned", ignore_report, NULL);
    store_close(st);
    cr_assert_eq(actioned, 1);
}

/* BUG: the statement of reasons for a ban carries the ban id, not the
 * action id that moderation_act returns (docs/moderation.md: "NOTE
 * MODERATION <ACTION> <action id>", "ERROR :Closing Link: ... (<reason>,
 * action <id>)", and the statement itself says "send APPEAL <action id>").
 * The "ban" branch calls moderation_enforce_bans(), which sends "NOTE
 * MODERATION BAN <ban id>" and closes with "Banned, action <ban id>"; ban
 * ids and audit seqs are separate counters, so the user appeals against
 * an unrelated audit entry. Fix (src/core/moderation.c): give
 * moderation_enforce_bans an action_id parameter (0: none, print the ban
 * id as "ban <id>") and pass res->action_id from moderation_act; or, in
 * the "ban" branch, send the statement and disconnect with id to each
 * connected user the new ban matches before calling it. */
Test(mod, bug_ban_statement_carries_action_id)
{
    /* Make the counters differ, as they do on a live server. */
    audit_log("system", "start", "", "boot");
    audit_log("system", "look", "", "x");
    struct user *b = mkuser(1, "bob");
    int64_t id;
    const char *error;
    cr_assert_eq(act((struct mod_request){.action = "ban", .nick = "bob", .reason = "threats",
                                          .ban_by = "session"}, &id, &error), SL_OK);
    char want[64], line[1024];
    snprintf(want, sizeof want, "NOTE MODERATION BAN %lld :", (long long)id);
    cr_assert_not_null(find_line(b->out, want, line, sizeof line),
                       "statement has another id: %s",
                       find_line(b->out, "NOTE MODERATION BAN", line, sizeof line) ? line : "-");
    snprintf(want, sizeof want, "action %lld", (long long)id);
    cr_assert_not_null(strstr(b->out->close_reason, want), "%s", b->out->close_reason);
}

/* ==================== staff ==================== */

Test(staff, name_and_role_validity)
{
    cr_assert(staff_name_valid("alice"));
    cr_assert(staff_name_valid("Bob_the-2nd"));
    cr_assert(staff_name_valid("abcdefghijklmnopqrstuvwxyz012345"), "32 characters");
    cr_assert_not(staff_name_valid("abcdefghijklmnopqrstuvwxyz0123456"), "33 characters");
    cr_assert_not(staff_name_valid(""));
    cr_assert_not(staff_name_valid("al ice"));
    cr_assert_not(staff_name_valid("alice:"));
    cr_assert_not(staff_name_valid("al/ice"));
    cr_assert_not(staff_name_valid("élodie"));
    cr_assert(staff_role_valid("moderator"));
    cr_assert(staff_role_valid("admin"));
    cr_assert_not(staff_role_valid("user"));
    cr_assert_not(staff_role_valid("Admin"));
    cr_assert_not(staff_role_valid(""));
}

struct staff_copy {
    int n;
    char pwhash[256];
    char role[16];
};

static void copy_staff(const struct store_staff *s, void *ud)
{
    struct staff_copy *c = ud;
    c->n++;
    snprintf(c->pwhash, sizeof c->pwhash, "%s", s->pwhash);
    snprintf(c->role, sizeof c->role, "%s", s->role);
}

Test(staff, accounts_and_passwords)
{
    struct store *st = open_store();
    cr_assert_eq(staff_add(st, "alice", "moderator", "short pass"), SL_ELIMIT, "< 12 chars");
    cr_assert_eq(staff_add(st, "al ice", "moderator", "a long passphrase"), SL_EINVAL);
    cr_assert_eq(staff_add(st, "alice", "root", "a long passphrase"), SL_EINVAL);
    cr_assert_eq(staff_add(st, "alice", "moderator", "a long passphrase"), SL_OK);

    struct staff_copy c = {0};
    cr_assert_eq(store_load_staff(st, copy_staff, &c), 1);
    cr_assert_str_eq(c.role, "moderator");
    cr_assert_eq(strncmp(c.pwhash, "$argon2id$", 10), 0, "an argon2id hash: %s", c.pwhash);
    cr_assert_null(strstr(c.pwhash, "passphrase"), "never the password");

    staff_init(st);
    char role[16] = "";
    cr_assert(staff_check_password("alice", "a long passphrase", role));
    cr_assert_str_eq(role, "moderator");
    strcpy(role, "unchanged");
    cr_assert_not(staff_check_password("alice", "a long passphrasE", role));
    cr_assert_str_eq(role, "unchanged");
    cr_assert_not(staff_check_password("mallory", "a long passphrase", role));
    cr_assert_not(staff_check_password("alice", "", role));

    /* A disabled account no longer logs in. */
    struct store_staff off = {.name = "alice", .role = "moderator", .pwhash = c.pwhash,
                              .created_ms = 1, .is_disabled = true};
    cr_assert_eq(store_put_staff(st, &off), SL_OK);
    staff_init(st);
    cr_assert_not(staff_check_password("alice", "a long passphrase", role));
    store_close(st);
}

Test(staff, dashboard_sessions)
{
    const struct staff_session *s = staff_session_open("alice", "admin");
    cr_assert_not_null(s);
    char token[STAFF_TOKEN_LEN + 1], csrf[STAFF_TOKEN_LEN + 1];
    snprintf(token, sizeof token, "%s", s->token);
    snprintf(csrf, sizeof csrf, "%s", s->csrf);
    cr_assert_eq(strlen(token), STAFF_TOKEN_LEN);
    cr_assert_eq(strlen(csrf), STAFF_TOKEN_LEN);
    cr_assert_eq(strspn(token, "0123456789abcdef"), STAFF_TOKEN_LEN);
    cr_assert_str_neq(token, csrf, "the CSRF token is not the session token");
    cr_assert_str_eq(s->name, "alice");
    cr_assert_str_eq(s->role, "admin");
    int64_t now = clock_wall_ms();
    cr_assert_gt(s->expires_ms, now + 7LL * 3600 * 1000, "about 8 hours");
    cr_assert_leq(s->expires_ms, now + 8LL * 3600 * 1000);

    const struct staff_session *found = staff_session_find(token);
    cr_assert_eq(found, s);
    cr_assert_null(staff_session_find(csrf), "the CSRF token does not open the session");
    char wrong[STAFF_TOKEN_LEN + 1];
    snprintf(wrong, sizeof wrong, "%s", token);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    cr_assert_null(staff_session_find(wrong));
    cr_assert_null(staff_session_find(NULL));
    cr_assert_null(staff_session_find(""));
    char prefix[33];
    memcpy(prefix, token, sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    cr_assert_null(staff_session_find(prefix), "a prefix of the token is not the token");

    const struct staff_session *s2 = staff_session_open("bob", "moderator");
    char token2[STAFF_TOKEN_LEN + 1];
    snprintf(token2, sizeof token2, "%s", s2->token);
    cr_assert_str_neq(token, token2);
    cr_assert_str_eq(staff_session_find(token)->name, "alice", "a second session keeps the first");

    staff_session_close(token);
    cr_assert_null(staff_session_find(token), "closed");
    cr_assert_not_null(staff_session_find(token2), "closing one keeps the other");
    cr_assert_str_eq(staff_session_find(token2)->name, "bob");
    staff_session_close(token);         /* twice: harmless */
    staff_session_close("nonsense");
    cr_assert_not_null(staff_session_find(token2));
}
