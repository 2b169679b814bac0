#ifndef SALON_STORE_HIST_SQL_H
#define SALON_STORE_HIST_SQL_H

#include <stddef.h>

#include <sqlite3.h>

#include "lib/err.h"
#include "store/store.h"

/* The chathistory selections (IRCv3 draft/chathistory) as SQL over the
 * messages table. A struct hist_sql holds prepared statements for one
 * connection and is used only by the thread that owns that connection.
 * Only store/ includes this header. */
struct hist_sql;

/* Rows of a result, oldest first. Each msgs[i] points into blocks[i], one
 * allocation per row, owned by the struct until hist_rows_cleanup(). */
struct hist_rows {
    struct store_msg *msgs;
    char **blocks;
    size_t count;
    size_t cap;
};

/* Prepares the statements on db (which must be at the latest schema).
 * Returns NULL and logs on failure. */
struct hist_sql *hist_sql_new(sqlite3 *db);
/* Finalises the statements; the connection stays open. NULL ok. */
void hist_sql_free(struct hist_sql *h);

/* Runs q and appends its rows to out (which starts empty: {0}). Returns
 * SL_OK, SL_ENOTFOUND for a msgid bound not in the conversation, or SL_EIO
 * (logged). On error out may hold partial rows; the caller cleans it up. */
enum sl_err hist_sql_run(struct hist_sql *h, const struct store_query *q,
                         struct hist_rows *out);

/* Bytes needed to copy m's strings (NUL-terminated; NULL counts as ""). */
size_t hist_msg_size(const struct store_msg *m);
/* Copies m into *dst with its strings in buf (hist_msg_size(m) bytes). */
void hist_msg_copy(struct store_msg *dst, char *buf, const struct store_msg *m);

/* Appends a copy of m (NULL strings become ""). */
void hist_rows_add(struct hist_rows *r, const struct store_msg *m);
/* Frees the rows; r is left empty and may be reused. */
void hist_rows_cleanup(struct hist_rows *r);

#endif
