#include "lib/msgbuf.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"

struct msgbuf *msgbuf_new(size_t len)
{
    assert(len <= UINT32_MAX);
    struct msgbuf *mb = xmalloc(sizeof *mb + len);
    mb->refs = 1;
    mb->len = (uint32_t)len;
    return mb;
}

struct msgbuf *msgbuf_copy(const void *data, size_t len)
{
    struct msgbuf *mb = msgbuf_new(len);
    memcpy(mb->data, data, len);
    return mb;
}

struct msgbuf *msgbuf_ref(struct msgbuf *mb)
{
    assert(mb->refs > 0);
    mb->refs++;
    return mb;
}

void msgbuf_unref(struct msgbuf *mb)
{
    if (!mb)
        return;
    assert(mb->refs > 0);
    if (--mb->refs == 0)
        free(mb);
}
