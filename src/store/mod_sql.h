#ifndef SALON_STORE_MOD_SQL_H
#define SALON_STORE_MOD_SQL_H

#include <sqlite3.h>
#include <stdint.h>

#include "store/store.h"

/* The SQL of moderation (reports, audit log, staff), private to store/.
 * Each write is one transaction; each returns an SQLite result code. */
int mod_sql_add_report(sqlite3 *db, const struct store_report *r, int64_t *id);
int mod_sql_update_report(sqlite3 *db, int64_t id, const char *status, const char *resolution);
int mod_sql_append_audit(sqlite3 *db, const struct store_audit *a);
int mod_sql_put_staff(sqlite3 *db, const struct store_staff *s);
int mod_sql_remove_message(sqlite3 *db, const char *msgid);

size_t mod_sql_load_reports(sqlite3 *db, const char *status, store_report_fn *fn, void *ud);
size_t mod_sql_scan_audit(sqlite3 *db, store_audit_fn *fn, void *ud);
size_t mod_sql_load_staff(sqlite3 *db, store_staff_fn *fn, void *ud);

#endif
