#include "lib/buf.h"

#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"

enum sl_err buf_reserve(struct buf *b, size_t want, size_t max)
{
    if (want > max || b->len > max - want)
        return SL_ELIMIT;
    size_t need = b->len + want;
    if (need <= b->cap)
        return SL_OK;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < need)
        cap *= 2;
    if (cap > max)
        cap = max;
    b->data = xrealloc(b->data, cap);
    b->cap = (uint32_t)cap;
    return SL_OK;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_cleanup(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= (uint32_t)n;
}

enum sl_err buf_append(struct buf *b, const void *data, size_t n, size_t max)
{
    if (n == 0)
        return SL_OK;
    enum sl_err err = buf_reserve(b, n, max);
    if (err)
        return err;
    memcpy(b->data + b->len, data, n);
    b->len += (uint32_t)n;
    return SL_OK;
}

void buf_cleanup(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
