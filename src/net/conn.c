#include "net/conn.h"
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include "lib/addr.h"
#include "lib/alloc.h"
#include "lib/log.h"
#include "net/batch.h"

/* Bytes read per read() call; a connection is read at most this much per
 * turn so one busy sender cannot starve the rest. */
#define NET_READ_CHUNK 16384
/* How long a closed connection may linger, draining last words and
 * discarding input so the kernel does not reset it before they arrive. */
#define NET_LINGER_MS 2000
/* Back-off before offering a throttled connection's input again. */
#define NET_THROTTLE_RETRY_MS 50
#define NET_LISTENERS_MAX 8

struct listener {
    struct loop_watch watch;
    const struct conn_ops *ops;
    net_open_fn *open;
    enum conn_kind kind;
    int fd;
};

static struct loop *net_loop;
static struct net_config net_cfg;
static struct listener listeners[NET_LISTENERS_MAX];
static int nlisteners;
static struct conn *conns;          /* every live connection */
static size_t nconns;
static uint32_t next_id = 1;
static struct conn *to_free;        /* closed this turn, freed before sleep */

static void conn_event(struct loop *loop, uint32_t events, void *ud);

static struct conn *conn_of(struct outq *q)
{
    return (struct conn *)((char *)q - offsetof(struct conn, out));
}

void conn_set_ops(struct conn *c, const struct conn_ops *ops, void *proto)
{
    c->ops = ops;
    c->proto = proto;
}

const char *conn_addr_text(const struct conn *c, char *out, size_t outlen)
{
    return addr_format(c->addr, out, outlen);
}

static void update_events(struct conn *c)
{
    uint32_t ev = 0;
    if (!c->is_throttled)
        ev |= EPOLLIN;
    if (c->want_write)
        ev |= EPOLLOUT;
    loop_mod(net_loop, &c->watch, ev);
}

/* Frees c's memory and fd. Only called from the before-sleep hook, when no
 * stack frame holds c. */
static void conn_destroy(struct conn *c)
{
    loop_timer_disarm(net_loop, &c->resume);
    loop_del(net_loop, &c->watch);
    close(c->watch.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nconns--;
    outq_release(&c->out);
    buf_cleanup(&c->in);
    free(c);
}

static void linger_expired(struct loop *loop, void *ud)
{
    (void)loop;
    struct conn *c = ud;
    if (!c->is_freed) {
        c->is_freed = true;
        c->prev_free = to_free;
        to_free = c;
    }
}

/* The transport is done with c: release upper layers now, then let the
 * socket linger until the last words are out and the peer hangs up. */
static void conn_finish(struct conn *c)
{
    if (c->ops) {
        const struct conn_ops *ops = c->ops;
        c->ops = NULL;
        ops->closed(c, c->out.close_reason ? c->out.close_reason : "Connection closed");
        c->proto = NULL;
    }
    buf_cleanup(&c->in);
    if (c->out.is_sendq_exceeded || c->out.bytes == 0) {
        shutdown(c->watch.fd, SHUT_WR);
        if (c->out.is_sendq_exceeded)
            outq_cleanup(&c->out);
    }
    c->is_throttled = false;
    loop_timer_arm(net_loop, &c->resume, NET_LINGER_MS, linger_expired, c);
    update_events(c);
}

/* Before a connection's write: a closing connection says its last words.
 * Returns whether there is anything to write. */
static bool flush_begin(struct conn *c)
{
    if (c->out.is_closing && c->ops && !c->is_farewelled) {
        c->is_farewelled = true;
        if (c->ops->farewell && !c->out.is_sendq_exceeded)
            c->ops->farewell(c, c->out.close_reason);
    }
    return c->out.bytes > 0 && !c->out.is_sendq_exceeded;
}

/* After it: err is how the write went. */
static void flush_end(struct conn *c, enum sl_err err)
{
    if (err == SL_EIO) {
        /* The peer is gone: nothing more can be said to it. */
        outq_cleanup(&c->out);
        outq_close(&c->out, "Write error");
        c->out.is_pending = false;
        c->want_write = false;
        if (c->ops)
            conn_finish(c);
        linger_expired(net_loop, c);
        return;
    }
    bool more = c->out.bytes > 0 && !c->out.is_sendq_exceeded;
    if (c->want_write != more) {
        c->want_write = more;
        update_events(c);
    }
    if (c->out.is_closing && c->ops)
        conn_finish(c);
    else if (!c->ops && !more)
        shutdown(c->watch.fd, SHUT_WR);
}

/* Flushes every pending queue, BATCH_WRITES_MAX sockets per system call
 * (net/batch.h). Each socket gets one write of up to BATCH_IOV_MAX ranges
 * here; the rare queue with more (a reader catching up) goes on with
 * outq_flush. A batch is gathered, written and accounted before any of its
 * connections is finished: finishing one (closing it) can queue output on
 * others, which then wait for the next batch. Meanwhile is_batched keeps a
 * connection from entering a batch twice (its farewell, say, puts it back
 * on the pending list): two writes of the same bytes would send them twice. */
static void flush_pending(void)
{
    static struct batch_write w[BATCH_WRITES_MAX];
    static size_t want[BATCH_WRITES_MAX];
    static struct iovec pool[BATCH_IOV_POOL];
    for (;;) {
        int n = 0, used = 0;
        struct outq *q;
        while (n < BATCH_WRITES_MAX && used + BATCH_IOV_MAX <= BATCH_IOV_POOL &&
               (q = outq_pending_pop()) != NULL) {
            struct conn *c = conn_of(q);
            if (c->is_freed || c->is_batched)
                continue;
            c->is_batched = true;
            w[n].fd = c->watch.fd;
            w[n].iov = pool + used;
            w[n].niov = 0;
            want[n] = 0;
            if (flush_begin(c))
                w[n].niov = outq_iov(&c->out, w[n].iov, BATCH_IOV_MAX, net_cfg.flush_max,
                                     &want[n]);
            used += w[n].niov;
            w[n].ud = c;
            n++;
        }
        if (n == 0)
            return;
        batch_run(w, n);
        enum sl_err err[BATCH_WRITES_MAX];
        for (int i = 0; i < n; i++) {
            struct conn *c = w[i].ud;
            if (w[i].niov == 0) {
                err[i] = SL_OK;
                continue;
            }
            err[i] = outq_wrote(&c->out, w[i].res, want[i], net_cfg.flush_max);
            if (err[i] == SL_OK && c->out.count > 0)
                err[i] = outq_flush(&c->out, c->watch.fd, net_cfg.flush_max - want[i]);
        }
        for (int i = 0; i < n; i++) {
            struct conn *c = w[i].ud;
            c->is_batched = false;
            if (!c->is_freed)
                flush_end(c, err[i]);
        }
    }
}

static void before_sleep(struct loop *loop, void *ud)
{
    (void)loop;
    (void)ud;
    /* Closing a connection can queue output for others (QUIT to its
     * rooms), which puts them on the list again: flush_pending drains
     * until it is empty. */
    flush_pending();
    while (to_free) {
        struct conn *c = to_free;
        to_free = c->prev_free;
        conn_destroy(c);
    }
}

static void resume_input(struct loop *loop, void *ud);

static void run_input(struct conn *c)
{
    enum sl_err err = c->ops->input(c);
    if (err == SL_EAGAIN) {
        if (!c->is_throttled) {
            c->is_throttled = true;
            update_events(c);
        }
        int64_t wait = c->throttle_ms > 0 ? c->throttle_ms : NET_THROTTLE_RETRY_MS;
        loop_timer_arm(net_loop, &c->resume, wait, resume_input, c);
        return;
    }
    if (c->is_throttled) {
        c->is_throttled = false;
        update_events(c);
    }
    if (err != SL_OK && !c->out.is_closing)
        outq_close(&c->out, err == SL_ELIMIT ? "Input limit exceeded" : "Protocol error");
}

static void resume_input(struct loop *loop, void *ud)
{
    (void)loop;
    struct conn *c = ud;
    if (c->ops && !c->out.is_closing)
        run_input(c);
}

static void read_conn(struct conn *c)
{
    if (!c->ops) {
        /* Lingering: discard whatever still arrives until the peer closes. */
        char sink[4096];
        ssize_t n = read(c->watch.fd, sink, sizeof sink);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            linger_expired(net_loop, c);
        return;
    }
    if (c->out.is_closing || c->is_throttled)
        return;
    size_t room = c->in_max > c->in.len ? c->in_max - c->in.len : 0;
    if (room == 0) {
        /* The transport left a full buffer unconsumed: it cannot make
         * progress, and reading more would be unbounded. */
        outq_close(&c->out, "Input buffer exceeded");
        return;
    }
    if (room > NET_READ_CHUNK)
        room = NET_READ_CHUNK;
    buf_reserve(&c->in, room, c->in_max);
    ssize_t n = read(c->watch.fd, buf_tail(&c->in), room);
    if (n < 0) {
        if (c->in.len == 0)
            buf_cleanup(&c->in);
        if (errno == EAGAIN || errno == EINTR)
            return;
        outq_close(&c->out, "Read error");
        return;
    }
    if (n == 0) {
        if (c->in.len == 0)
            buf_cleanup(&c->in);
        outq_close(&c->out, "Connection closed");
        return;
    }
    c->in.len += (uint32_t)n;
    c->last_read_ms = loop_now_ms(net_loop);
    run_input(c);
    if (c->in.len == 0)
        buf_cleanup(&c->in);
}

static void conn_event(struct loop *loop, uint32_t events, void *ud)
{
    (void)loop;
    struct conn *c = ud;
    if (c->is_freed)
        return;
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
        read_conn(c);
    if ((events & EPOLLOUT) && !c->is_freed)
        outq_mark_pending(&c->out);
}

static void accept_ready(struct loop *loop, uint32_t events, void *ud)
{
    (void)events;
    struct listener *l = ud;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept: %m");
            return;
        }
        if (nconns >= net_cfg.max_connections) {
            static const char full[] = "ERROR :Closing Link: (Server is full)\r\n";
            if (write(fd, full, sizeof full - 1) < 0) {
                /* nothing more to do for a peer we refuse anyway */
            }
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        struct conn *c = xcalloc(1, sizeof *c);
        c->id = next_id++;
        c->kind = (uint8_t)l->kind;
        c->in_max = (uint32_t)net_cfg.in_max;
        c->created_ms = c->last_read_ms = loop_now_ms(loop);
        c->ops = l->ops;
        outq_init(&c->out, l->kind == CONN_HTTP ? net_cfg.sendq_http : net_cfg.sendq, WIRE_LINE);
        if (ss.ss_family == AF_INET) {
            c->addr[10] = c->addr[11] = 0xff;
            memcpy(c->addr + 12, &((struct sockaddr_in *)&ss)->sin_addr, 4);
        } else {
            memcpy(c->addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
        }
        c->next = conns;
        if (conns)
            conns->prev = c;
        conns = c;
        nconns++;
        if (loop_add(loop, &c->watch, fd, EPOLLIN, conn_event, c) != SL_OK) {
            outq_close(&c->out, "Internal error");
            continue;
        }
        if (l->open && l->open(c) != SL_OK && !c->out.is_closing)
            outq_close(&c->out, "Connection refused");
    }
}

static enum sl_err parse_hostport(const char *hostport, char *host, size_t hostlen,
                                  char *port, size_t portlen)
{
    const char *colon;
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        if (!end || end[1] != ':')
            return SL_EINVAL;
        snprintf(host, hostlen, "%.*s", (int)(end - hostport - 1), hostport + 1);
        colon = end + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon)
            return SL_EINVAL;
        snprintf(host, hostlen, "%.*s", (int)(colon - hostport), hostport);
    }
    snprintf(port, portlen, "%s", colon + 1);
    return port[0] ? SL_OK : SL_EINVAL;
}

enum sl_err net_listen(const char *hostport, enum conn_kind kind,
                       const struct conn_ops *ops, net_open_fn *open)
{
    char host[256], port[16];
    if (nlisteners == NET_LISTENERS_MAX)
        return SL_ELIMIT;
    if (parse_hostport(hostport, host, sizeof host, port, sizeof port) != SL_OK) {
        log_error("bad listen address '%s' (want host:port)", hostport);
        return SL_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (rc != 0) {
        log_error("listen %s: %s", hostport, gai_strerror(rc));
        return SL_EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    enum sl_err err = SL_EIO;
    if (fd < 0)
        goto out;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        log_error("listen %s: %m", hostport);
        close(fd);
        goto out;
    }
    struct listener *l = &listeners[nlisteners++];
    l->fd = fd;
    l->ops = ops;
    l->open = open;
    l->kind = kind;
    err = loop_add(net_loop, &l->watch, fd, EPOLLIN, accept_ready, l);
    if (err == SL_OK)
        log_info("listening on %s (%s)", hostport, kind == CONN_HTTP ? "http" : "irc");
out:
    freeaddrinfo(res);
    return err;
}

void net_init(struct loop *loop, const struct net_config *cfg)
{
    net_loop = loop;
    net_cfg = *cfg;
    if (net_cfg.flush_max == 0)
        net_cfg.flush_max = 256 * 1024;
    loop_add_before_sleep(loop, before_sleep, NULL);
    batch_init(true);
}

static bool is_plain_http(const struct conn *c)
{
    for (int i = 0; i < nlisteners; i++)
        if (listeners[i].kind == CONN_HTTP && c->ops == listeners[i].ops)
            return c->kind == CONN_HTTP;
    return false;
}

void net_sweep(int64_t now)
{
    for (struct conn *c = conns; c; c = c->next) {
        if (!c->ops || c->out.is_closing || !is_plain_http(c))
            continue;
        if (now - c->last_read_ms >= NET_HTTP_IDLE_MS || now - c->created_ms >= NET_HTTP_MAX_AGE_MS)
            outq_close(&c->out, "Idle timeout");
    }
}

void net_shutdown(const char *reason)
{
    for (int i = 0; i < nlisteners; i++) {
        loop_del(net_loop, &listeners[i].watch);
        close(listeners[i].fd);
    }
    nlisteners = 0;
    for (struct conn *c = conns; c; c = c->next)
        if (c->ops)
            outq_close(&c->out, reason);
    before_sleep(net_loop, NULL);
    while (conns) {
        struct conn *c = conns;
        if (c->ops) {
            const struct conn_ops *ops = c->ops;
            c->ops = NULL;
            ops->closed(c, reason);
        }
        conn_destroy(c);
    }
    /* Queues of destroyed connections may still sit on the pending list. */
    while (outq_pending_pop())
        ;
    batch_shutdown();
}
