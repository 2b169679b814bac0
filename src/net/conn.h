#ifndef SALON_NET_CONN_H
#define SALON_NET_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/outq.h"
#include "net/loop.h"

struct conn;

/* What a transport (transport/line.c, transport/http.c, transport/ws.c)
 * provides for a connection. net/ calls these; they never call back into
 * net/ except through the functions of this header. */
struct conn_ops {
    /* New bytes are in c->in. Consume every complete unit (line, request,
     * frame). Return SL_OK to wait for more bytes; SL_EAGAIN when the upper
     * layer is throttling (net stops reading and calls input again later,
     * without new bytes); anything else closes the connection (the
     * transport has queued whatever goodbye it wants first). */
    enum sl_err (*input)(struct conn *c);
    /* The connection is going away; queue last words if the protocol has
     * some (IRC "ERROR", a WebSocket close frame). Optional. */
    void (*farewell)(struct conn *c, const char *reason);
    /* The connection is being freed: release c->proto and anything above. */
    void (*closed)(struct conn *c, const char *reason);
};

enum conn_kind { CONN_IRC_TCP, CONN_HTTP };

struct conn {
    struct loop_watch watch;
    struct outq out;            /* what we send; also the close flag */
    struct buf in;              /* what was read and not yet consumed */
    const struct conn_ops *ops;
    void *proto;                /* the transport's per-connection state */
    struct conn *prev, *next;   /* every live connection */
    struct conn *prev_free;     /* on the to-free list, once closed */
    struct loop_timer resume;   /* wakes a throttled connection */
    int64_t created_ms;
    int64_t last_read_ms;       /* monotonic, last bytes received */
    uint32_t id;
    uint32_t in_max;            /* input bytes that may wait unconsumed */
    int32_t throttle_ms;        /* set by a transport returning SL_EAGAIN:
                                   how long until input may go on */
    uint8_t addr[16];           /* IPv4-mapped for IPv4 */
    uint8_t kind;               /* enum conn_kind */
    bool is_throttled;
    bool want_write;
    bool is_farewelled;
    bool is_freed;
    bool is_batched;            /* in the batch net/ is writing (conn.c) */
};

/* Switches the transport of c (HTTP → WebSocket after the upgrade). */
void conn_set_ops(struct conn *c, const struct conn_ops *ops, void *proto);
/* Text form of the peer address ("127.0.0.1", "::1") into out (64 bytes). */
const char *conn_addr_text(const struct conn *c, char *out, size_t outlen);

#endif
