#ifndef SALON_LIB_OUTQ_H
#define SALON_LIB_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "lib/err.h"
#include "lib/msgbuf.h"
#include "lib/wire.h"

/* A connection's output queue: references to byte ranges of shared msgbufs
 * waiting to be written, plus the two flags every layer may set on a
 * connection without knowing about sockets: "flush me" (pending) and
 * "close me" (closing).
 *
 * Pattern (Redis): a handler never writes to a socket. It pushes here; the
 * queue links itself on the global pending list; before the loop sleeps,
 * net/ pops each pending queue and flushes it with one writev. Closing is a
 * flag that net/ acts on at a safe point.
 *
 * An entry is a range of a msgbuf. A push that continues the last entry's
 * range in the same msgbuf extends it instead of adding one: fan-out lays a
 * room's messages of one turn end to end in one buffer (core/fanout.c), so
 * a member's many messages leave in one iovec, and the kernel copies one
 * run instead of one small segment per message.
 *
 * The entry array exists only while the queue holds more than one range,
 * so an idle connection's queue is a few dozen bytes. */
struct outq_ent {
    struct msgbuf *mb;       /* one reference per entry */
    uint32_t off;            /* next byte of mb->data to write */
    uint32_t len;            /* bytes left to write */
};

struct outq {
    struct outq_ent *ents;   /* ring of cap (a power of two) entries, or NULL */
    uint32_t head, count, cap;
    struct outq_ent first;   /* the only entry while cap is 0: a queue of one
                              * range, the usual one, allocates nothing */
    uint32_t limit;          /* SendQ: most bytes that may wait (0: none) */
    size_t bytes;            /* bytes waiting */
    struct outq *next_pending;
    const char *close_reason;/* set with is_closing: static or close_owned */
    char *close_owned;       /* an allocated reason (outq_close_dup) */
    uint8_t framing;         /* enum wire_framing of this connection */
    bool is_pending;
    bool is_closing;
    bool is_sendq_exceeded;
};

/* Initialises an empty queue with a SendQ limit in bytes and a framing. */
void outq_init(struct outq *q, size_t limit, enum wire_framing framing);
/* Drops every reference and frees storage. Unlinks nothing: net/ pops
 * pending queues itself and must not keep a closed one on the list. */
void outq_cleanup(struct outq *q);
/* outq_cleanup, and frees an allocated close reason: when the connection
 * itself goes away. */
void outq_release(struct outq *q);

/* Appends a reference to mb (takes a new reference; the caller keeps its
 * own). If the queue would pass its limit, nothing is queued, the queue is
 * marked closing with reason "SendQ exceeded" and SL_ELIMIT is returned;
 * from then on pushes are silent no-ops (SL_ECLOSED). A queue that is
 * closing for another reason still takes pushes: last words (an ERROR
 * line, a close frame) are queued after outq_close. */
enum sl_err outq_push(struct outq *q, struct msgbuf *mb);
/* Appends a reference to mb->data[off..off+len), as outq_push does; a range
 * that starts where the last entry's ends, in the same msgbuf, extends that
 * entry. The bytes must not change while queued. */
enum sl_err outq_push_range(struct outq *q, struct msgbuf *mb, uint32_t off, uint32_t len);
/* The i-th queued entry (0: the next to write), for tests and inspection. */
const struct outq_ent *outq_entry(const struct outq *q, uint32_t i);
/* Frames line[0..len) for this queue's framing and pushes it. */
enum sl_err outq_push_line(struct outq *q, const char *line, size_t len);
/* printf-style variant of outq_push_line; the line is cut at 8191 bytes. */
enum sl_err outq_printf(struct outq *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Marks the queue closing with a static reason (first reason wins) and puts
 * it on the pending list, so net/ closes the connection at a safe point
 * after flushing what is queued. */
void outq_close(struct outq *q, const char *reason);

/* Like outq_close, for a reason built at run time (copied). */
void outq_close_dup(struct outq *q, const char *reason);

/* Writes as much as the kernel takes to the socket fd, with send() for one
 * buffer and writev (IOV_MAX entries per call) for several, at most
 * max_bytes per call so one fast reader cannot starve the rest.
 * Returns SL_OK when the queue is empty, SL_EAGAIN when bytes remain,
 * SL_EIO when the socket failed (errno kept). Bytes left behind that are
 * less than half of a msgbuf others hold too (a slow reader's share of a
 * turn's buffer) are first copied into a buffer of their own, so what a
 * queue keeps alive stays within twice what it holds. */
enum sl_err outq_flush(struct outq *q, int fd, size_t max_bytes);

/* The same write in two halves, for a caller that batches many sockets'
 * writes into one system call (net/batch.h). outq_iov fills iov with the
 * queue's first ranges, at most max_iov of them and about max_bytes, and
 * sets *want to their total; outq_wrote accounts the write of those
 * ranges: res bytes written, or -errno. It returns SL_OK when all of want
 * went and less than max_bytes (so more may follow within max_bytes - want),
 * SL_EAGAIN when the kernel took less or max_bytes is spent with bytes left
 * (the queue is compacted as outq_flush does), SL_EIO when the socket failed
 * (errno set). */
int outq_iov(const struct outq *q, struct iovec *iov, int max_iov, size_t max_bytes,
             size_t *want);
enum sl_err outq_wrote(struct outq *q, ssize_t res, size_t want, size_t max_bytes);

/* One write of iov[0..n) to the socket fd: send() for one buffer, writev()
 * for several. Returns what the call returned (errno set on -1). */
ssize_t outq_write_iov(int fd, const struct iovec *iov, int n);

/* The global pending list, owned by the loop thread. */
void outq_mark_pending(struct outq *q);
/* Pops one pending queue, or NULL. */
struct outq *outq_pending_pop(void);

#endif
