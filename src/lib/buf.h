#ifndef SALON_LIB_BUF_H
#define SALON_LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

/* A bounded input buffer. Its storage exists only while it holds bytes, so an
 * idle connection costs 16 bytes here, not a fixed multi-kilobyte array. */
struct buf {
    char *data;
    uint32_t len;
    uint32_t cap;
};

/* Makes room for at least want more bytes without the total passing max.
 * Returns SL_ELIMIT when len + want > max (nothing changes), else SL_OK. */
enum sl_err buf_reserve(struct buf *b, size_t want, size_t max);
/* Returns where the next bytes go; valid after buf_reserve. */
static inline char *buf_tail(struct buf *b) { return b->data + b->len; }
/* Drops the first n bytes; frees the storage when the buffer becomes empty. */
void buf_consume(struct buf *b, size_t n);
/* Appends bytes, bounded by max. */
enum sl_err buf_append(struct buf *b, const void *data, size_t n, size_t max);
/* Frees the storage. */
void buf_cleanup(struct buf *b);

#endif
