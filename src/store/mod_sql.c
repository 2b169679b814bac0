#include "store/mod_sql.h"

#include <stddef.h>

/* Runs one prepared write; returns SQLITE_OK or the error. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

int mod_sql_add_report(sqlite3 *db, const struct store_report *r, int64_t *id)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
        "INSERT INTO reports (time_ms, category, severity, reporter, reported, reported_nick,"
        " place, msgid, comment, evidence, reporter_nick, automatic)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12)",
        -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(s, 1, r->time_ms);
    bind_text(s, 2, r->category);
    sqlite3_bind_int(s, 3, r->severity);
    bind_text(s, 4, r->reporter);
    bind_text(s, 5, r->reported);
    bind_text(s, 6, r->reported_nick);
    bind_text(s, 7, r->where);
    bind_text(s, 8, r->msgid);
    bind_text(s, 9, r->comment);
    bind_text(s, 10, r->evidence);
    bind_text(s, 11, r->reporter_nick);
    bind_text(s, 12, r->automatic);
    rc = step_done(s);
    if (rc == SQLITE_OK)
        *id = sqlite3_last_insert_rowid(db);
    return rc;
}

int mod_sql_update_report(sqlite3 *db, int64_t id, const char *status, const char *resolution)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "UPDATE reports SET status = ?1, resolution = ?2 WHERE id = ?3",
                                -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    bind_text(s, 1, status);
    bind_text(s, 2, resolution);
    sqlite3_bind_int64(s, 3, id);
    return step_done(s);
}

int mod_sql_append_audit(sqlite3 *db, const struct store_audit *a)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
        "INSERT INTO audit (seq, time_ms, actor, action, target, detail, prev_hash, hash)"
        " VALUES (?1,?2,?3,?4,?5,?6,?7,?8)", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_bind_int64(s, 1, a->seq);
    sqlite3_bind_int64(s, 2, a->time_ms);
    bind_text(s, 3, a->actor);
    bind_text(s, 4, a->action);
    bind_text(s, 5, a->target);
    bind_text(s, 6, a->detail);
    bind_text(s, 7, a->prev_hash);
    bind_text(s, 8, a->hash);
    return step_done(s);
}

int mod_sql_put_staff(sqlite3 *db, const struct store_staff *st)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db,
        "INSERT INTO staff (name, role, pwhash, created_ms, disabled) VALUES (?1,?2,?3,?4,?5)"
        " ON CONFLICT (name) DO UPDATE SET role = ?2, pwhash = ?3, disabled = ?5", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    bind_text(s, 1, st->name);
    bind_text(s, 2, st->role);
    bind_text(s, 3, st->pwhash);
    sqlite3_bind_int64(s, 4, st->created_ms);
    sqlite3_bind_int(s, 5, st->is_disabled ? 1 : 0);
    return step_done(s);
}

int mod_sql_remove_message(sqlite3 *db, const char *msgid)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, "DELETE FROM messages WHERE msgid = ?1", -1, &s, NULL);
    if (rc != SQLITE_OK)
        return rc;
    bind_text(s, 1, msgid);
    return step_done(s);
}

static const char *col(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return t ? (const char *)t : "";
}

size_t mod_sql_load_reports(sqlite3 *db, const char *status, store_report_fn *fn, void *ud)
{
    sqlite3_stmt *s = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(db,
            "SELECT id, time_ms, category, severity, reporter, reported, reported_nick, place,"
            " msgid, comment, evidence, status, resolution, reporter_nick, automatic FROM reports"
            " WHERE ?1 IS NULL OR status = ?1 ORDER BY id", -1, &s, NULL) != SQLITE_OK)
        return 0;
    if (status)
        sqlite3_bind_text(s, 1, status, -1, SQLITE_STATIC);
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct store_report r = {
            .id = sqlite3_column_int64(s, 0), .time_ms = sqlite3_column_int64(s, 1),
            .category = col(s, 2), .severity = sqlite3_column_int(s, 3), .reporter = col(s, 4),
            .reported = col(s, 5), .reported_nick = col(s, 6), .where = col(s, 7),
            .msgid = col(s, 8), .comment = col(s, 9), .evidence = col(s, 10),
            .status = col(s, 11), .resolution = col(s, 12), .reporter_nick = col(s, 13),
            .automatic = col(s, 14),
        };
        fn(&r, ud);
        n++;
    }
    sqlite3_finalize(s);
    return n;
}

size_t mod_sql_scan_audit(sqlite3 *db, store_audit_fn *fn, void *ud)
{
    sqlite3_stmt *s = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(db,
            "SELECT seq, time_ms, actor, action, target, detail, prev_hash, hash FROM audit"
            " ORDER BY seq", -1, &s, NULL) != SQLITE_OK)
        return 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct store_audit a = {
            .seq = sqlite3_column_int64(s, 0), .time_ms = sqlite3_column_int64(s, 1),
            .actor = col(s, 2), .action = col(s, 3), .target = col(s, 4), .detail = col(s, 5),
            .prev_hash = col(s, 6), .hash = col(s, 7),
        };
        fn(&a, ud);
        n++;
    }
    sqlite3_finalize(s);
    return n;
}

size_t mod_sql_load_staff(sqlite3 *db, store_staff_fn *fn, void *ud)
{
    sqlite3_stmt *s = NULL;
    size_t n = 0;
    if (sqlite3_prepare_v2(db, "SELECT name, role, pwhash, created_ms, disabled FROM staff",
                           -1, &s, NULL) != SQLITE_OK)
        return 0;
    while (sqlite3_step(s) == SQLITE_ROW) {
        struct store_staff st = {.name = col(s, 0), .role = col(s, 1), .pwhash = col(s, 2),
                                 .created_ms = sqlite3_column_int64(s, 3),
                                 .is_disabled = sqlite3_column_int(s, 4) != 0};
        fn(&st, ud);
        n++;
    }
    sqlite3_finalize(s);
    return n;
}
