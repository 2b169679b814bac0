#include "store/migrate.h"

#include <stdbool.h>
#include <stdio.h>

#include "lib/log.h"

/* Ordered steps: migrations[i] upgrades schema version i to i + 1. Steps are
 * append-only: once released, a step is never edited, because databases in
 * the field have already run it. */
static const char *const migrations[] = {
    /* 1: message history. The index serves every chathistory selection:
     * equality on key, then a range on (time_ms, id), the order we page in. */
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY,"
    " msgid TEXT UNIQUE NOT NULL,"
    " key TEXT NOT NULL,"
    " time_ms INTEGER NOT NULL,"
    " sender TEXT NOT NULL,"
    " source TEXT NOT NULL,"
    " command TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " text TEXT NOT NULL);"
    "CREATE INDEX messages_key_time ON messages(key, time_ms, id);",

    /* 2: the two parties of a private conversation ("@<A>@<B>", A < B), so
     * CHATHISTORY TARGETS finds a session's conversations through an index
     * instead of scanning every private key for a "@<B>" suffix. NULL for
     * rooms; the partial indexes skip those rows. Existing rows are filled
     * from their keys (session ids contain no '@'). */
    "ALTER TABLE messages ADD COLUMN party_a TEXT;"
    "ALTER TABLE messages ADD COLUMN party_b TEXT;"
    "UPDATE messages SET"
    " party_a = substr(key, 2, instr(substr(key, 2), '@') - 1),"
    " party_b = substr(key, instr(substr(key, 2), '@') + 2)"
    " WHERE key LIKE '@%' AND instr(substr(key, 2), '@') > 0;"
    "CREATE INDEX messages_party_a ON messages(party_a, time_ms)"
    " WHERE party_a IS NOT NULL;"
    "CREATE INDEX messages_party_b ON messages(party_b, time_ms)"
    " WHERE party_b IS NOT NULL;",

    /* 3: small durable records of other modules (age refusals per device,
     * per-session settings), keyed by (kind, key), with an optional
     * expiry (0: none). */
    "CREATE TABLE records ("
    " kind TEXT NOT NULL,"
    " key TEXT NOT NULL,"
    " value TEXT NOT NULL,"
    " expires_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (kind, key)) WITHOUT ROWID;",

    /* 4: moderation. Reports keep their evidence (JSON) with them; the
     * audit log is append-only, each entry chained to the previous one by
     * hash; staff accounts hold argon2id hashes, never passwords. */
    "CREATE TABLE reports ("
    " id INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " category TEXT NOT NULL,"
    " severity INTEGER NOT NULL,"
    " reporter TEXT NOT NULL,"
    " reported TEXT NOT NULL,"
    " reported_nick TEXT NOT NULL,"
    " place TEXT NOT NULL,"
    " msgid TEXT NOT NULL,"
    " comment TEXT NOT NULL,"
    " evidence TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open',"
    " resolution TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX reports_status ON reports(status, severity, time_ms);"
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY,"
    " time_ms INTEGER NOT NULL,"
    " actor TEXT NOT NULL,"
    " action TEXT NOT NULL,"
    " target TEXT NOT NULL,"
    " detail TEXT NOT NULL,"
    " prev_hash TEXT NOT NULL,"
    " hash TEXT NOT NULL);"
    "CREATE TABLE staff ("
    " name TEXT PRIMARY KEY,"
    " role TEXT NOT NULL,"
    " pwhash TEXT NOT NULL,"
    " created_ms INTEGER NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;",

    /* 5: the reporter's nick at the time, shown in the queue. */
    "ALTER TABLE reports ADD COLUMN reporter_nick TEXT NOT NULL DEFAULT '';",

    /* 6: what a report made by the rules engine carries besides the
     * evidence (JSON: the rule, a held message, a room awaiting approval,
     * the conversation's risk score); '' for reports made by people. */
    "ALTER TABLE reports ADD COLUMN automatic TEXT NOT NULL DEFAULT '';",
};

int migrate_latest(void)
{
    return (int)(sizeof migrations / sizeof migrations[0]);
}

static int read_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        goto out;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        *version = sqlite3_column_int(stmt, 0);
        rc = SQLITE_OK;
    }
out:
    sqlite3_finalize(stmt);
    return rc;
}

enum sl_err migrate_apply(sqlite3 *db, const char *path)
{
    enum sl_err err = SL_EIO;
    int want = migrate_latest();
    int have = 0;
    char *msg = NULL;
    bool in_txn = false;

    for (;;) {
        /* The version is read inside a write transaction, so two processes
         * opening the same file cannot both run a step. */
        if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK)
            goto out;
        in_txn = true;
        if (read_version(db, &have) != SQLITE_OK)
            goto out;
        if (have > want) {
            log_error("store: %s has schema version %d but this salon knows "
                      "versions up to %d; refusing to open it (it was written "
                      "by a newer salon)", path, have, want);
            err = SL_EINVAL;
            goto out;
        }
        if (have == want)
            break;
        if (sqlite3_exec(db, migrations[have], NULL, NULL, &msg) != SQLITE_OK)
            goto out;
        char set[64];
        snprintf(set, sizeof set, "PRAGMA user_version = %d", have + 1);
        if (sqlite3_exec(db, set, NULL, NULL, &msg) != SQLITE_OK)
            goto out;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
            goto out;
        in_txn = false;
        log_info("store: %s migrated to schema version %d", path, have + 1);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK)
        goto out;
    in_txn = false;
    err = SL_OK;
out:
    if (err == SL_EIO)
        log_error("store: %s: schema migration (at version %d of %d) failed: "
                  "%s", path, have, want, msg ? msg : sqlite3_errmsg(db));
    if (in_txn && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_free(msg);
    return err;
}
