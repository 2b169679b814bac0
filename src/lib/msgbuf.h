#ifndef SALON_LIB_MSGBUF_H
#define SALON_LIB_MSGBUF_H

#include <stddef.h>
#include <stdint.h>

/* Reference-counted, immutable-once-shared bytes. Fan-out builds one msgbuf
 * per wire encoding of a message and gives every recipient's output queue a
 * reference, never a copy. Only the event-loop thread touches refcounts. */
struct msgbuf {
    uint32_t refs;
    uint32_t len;
    char data[];
};

/* Returns a new msgbuf of len bytes (contents uninitialised) with one
 * reference held by the caller. */
struct msgbuf *msgbuf_new(size_t len);
/* Returns a new msgbuf holding a copy of data; caller holds one reference. */
struct msgbuf *msgbuf_copy(const void *data, size_t len);
/* Takes another reference; returns mb. */
struct msgbuf *msgbuf_ref(struct msgbuf *mb);
/* Drops a reference, freeing on the last one. msgbuf_unref(NULL) is a no-op. */
void msgbuf_unref(struct msgbuf *mb);

#endif
