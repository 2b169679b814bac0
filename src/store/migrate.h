#ifndef SALON_STORE_MIGRATE_H
#define SALON_STORE_MIGRATE_H

#include <sqlite3.h>

#include "lib/err.h"

/* Schema migrations for the SQLite back end. The schema version is kept in
 * PRAGMA user_version; step N of the table turns version N-1 into N. Only
 * store/ includes this header (sqlite3 types never leave store/). */

/* Returns the newest schema version this build knows. */
int migrate_latest(void);

/* Brings db up to migrate_latest(), one transaction per step. Returns SL_OK,
 * SL_EINVAL when the file was written by a newer salon (refused: an older
 * binary would misread or damage it), or SL_EIO. Logs the reason. path is
 * only used in log lines. Call before any other use of db. */
enum sl_err migrate_apply(sqlite3 *db, const char *path);

#endif
