#ifndef SALON_NET_NET_H
#define SALON_NET_NET_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "net/conn.h"
#include "net/loop.h"

/* Listeners and the life of connections: accept, read, flush queued output
 * before the loop sleeps, close at a safe point. */

struct net_config {
    size_t max_connections;     /* accepted sockets at once */
    size_t in_max;              /* unconsumed input bytes per connection */
    size_t sendq;               /* output limit of IRC connections */
    size_t sendq_http;          /* output limit of HTTP connections */
    size_t flush_max;           /* bytes written per connection per turn */
};

/* Called for a new connection, before any input. Returns SL_OK, or an
 * error to refuse it (the callee may have queued a goodbye and called
 * outq_close; net flushes it and closes). */
typedef enum sl_err net_open_fn(struct conn *c);

void net_init(struct loop *loop, const struct net_config *cfg);

/* Listens on "host:port" ("[::1]:port" for IPv6). Accepted connections get
 * ops and kind, then open(c) (may be NULL). */
enum sl_err net_listen(const char *hostport, enum conn_kind kind,
                       const struct conn_ops *ops, net_open_fn *open);

/* Asks every connection to close with reason, flushes what can be flushed
 * without waiting, and frees everything. Call after loop_run returns. */
void net_shutdown(const char *reason);

/* Once a second: closes HTTP connections that have not become WebSocket
 * connections and sent nothing for NET_HTTP_IDLE_MS, or exist for longer
 * than NET_HTTP_MAX_AGE_MS (slow-request and idle keep-alive bounds; IRC
 * connections have their own ping timeouts). */
#define NET_HTTP_IDLE_MS 30000
#define NET_HTTP_MAX_AGE_MS 300000
void net_sweep(int64_t now_mono_ms);

#endif
