#include "net/loop.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/log.h"

/* Events handled per epoll_wait; more simply wait for the next turn. */
#define LOOP_EVENTS_MAX 256
#define LOOP_HOOKS_MAX 8

struct hook {
    loop_hook_fn *fn;
    void *ud;
};

struct loop {
    int epfd;
    bool is_running;
    int64_t now_ms;
    struct loop_timer **heap;   /* 1-based binary min-heap on when_ms */
    uint32_t heap_len, heap_cap;
    struct hook hooks[LOOP_HOOKS_MAX];
    int nhooks;
};

struct loop *loop_new(void)
{
    struct loop *loop = xcalloc(1, sizeof *loop);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) {
        log_error("epoll_create1: %m");
        free(loop);
        return NULL;
    }
    loop->now_ms = clock_mono_ms();
    return loop;
}

void loop_free(struct loop *loop)
{
    if (!loop)
        return;
    close(loop->epfd);
    free(loop->heap);
    free(loop);
}

enum sl_err loop_add(struct loop *loop, struct loop_watch *w, int fd,
                     uint32_t events, loop_fd_fn *fn, void *ud)
{
    w->fn = fn;
    w->ud = ud;
    w->fd = fd;
    w->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        log_error("epoll_ctl add fd %d: %m", fd);
        return SL_EIO;
    }
    return SL_OK;
}

enum sl_err loop_mod(struct loop *loop, struct loop_watch *w, uint32_t events)
{
    if (w->events == events)
        return SL_OK;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0) {
        log_error("epoll_ctl mod fd %d: %m", w->fd);
        return SL_EIO;
    }
    w->events = events;
    return SL_OK;
}

void loop_del(struct loop *loop, struct loop_watch *w)
{
    epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->fn = NULL;
}

static void heap_swap(struct loop *loop, uint32_t a, uint32_t b)
{
    struct loop_timer *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_index = a;
    loop->heap[b]->heap_index = b;
}

static void heap_up(struct loop *loop, uint32_t i)
{
    while (i > 1 && loop->heap[i / 2]->when_ms > loop->heap[i]->when_ms) {
        heap_swap(loop, i, i / 2);
        i /= 2;
    }
}

static void heap_down(struct loop *loop, uint32_t i)
{
    for (;;) {
        uint32_t l = 2 * i, r = l + 1, m = i;
        if (l <= loop->heap_len && loop->heap[l]->when_ms < loop->heap[m]->when_ms)
            m = l;
        if (r <= loop->heap_len && loop->heap[r]->when_ms < loop->heap[m]->when_ms)
            m = r;
        if (m == i)
            return;
        heap_swap(loop, i, m);
        i = m;
    }
}

void loop_timer_disarm(struct loop *loop, struct loop_timer *t)
{
    uint32_t i = t->heap_index;
    if (i == 0)
        return;
    assert(loop->heap[i] == t);
    if (i != loop->heap_len)
        heap_swap(loop, i, loop->heap_len);
    loop->heap_len--;
    t->heap_index = 0;
    if (i <= loop->heap_len) {
        heap_up(loop, i);
        heap_down(loop, i);
    }
}

void loop_timer_arm(struct loop *loop, struct loop_timer *t, int64_t delay_ms,
                    loop_timer_fn *fn, void *ud)
{
    loop_timer_disarm(loop, t);
    t->when_ms = loop->now_ms + (delay_ms > 0 ? delay_ms : 0);
    t->fn = fn;
    t->ud = ud;
    if (loop->heap_len + 1 >= loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = xrealloc(loop->heap, loop->heap_cap * sizeof *loop->heap);
    }
    loop->heap[++loop->heap_len] = t;
    t->heap_index = loop->heap_len;
    heap_up(loop, loop->heap_len);
}

void loop_add_before_sleep(struct loop *loop, loop_hook_fn *hook, void *ud)
{
    assert(loop->nhooks < LOOP_HOOKS_MAX);
    loop->hooks[loop->nhooks++] = (struct hook){hook, ud};
}

int64_t loop_now_ms(const struct loop *loop)
{
    return loop->now_ms;
}

void loop_stop(struct loop *loop)
{
    loop->is_running = false;
}

static void run_timers(struct loop *loop)
{
    /* At most the timers due at the start of this pass: one that re-arms
     * itself with no delay runs again next turn, after I/O, instead of
     * holding the loop forever. */
    uint32_t budget = loop->heap_len;
    while (budget-- > 0 && loop->heap_len > 0 && loop->heap[1]->when_ms <= loop->now_ms) {
        struct loop_timer *t = loop->heap[1];
        loop_timer_disarm(loop, t);
        t->fn(loop, t->ud);     /* may re-arm t or free its owner */
    }
}

void loop_run(struct loop *loop)
{
    struct epoll_event events[LOOP_EVENTS_MAX];
    loop->is_running = true;
    while (loop->is_running) {
        for (int i = 0; i < loop->nhooks; i++)
            loop->hooks[i].fn(loop, loop->hooks[i].ud);
        if (!loop->is_running)
            break;
        int timeout = -1;
        if (loop->heap_len > 0) {
            int64_t wait = loop->heap[1]->when_ms - clock_mono_ms();
            timeout = wait < 0 ? 0 : (wait > 60000 ? 60000 : (int)wait);
        }
        int n = epoll_wait(loop->epfd, events, LOOP_EVENTS_MAX, timeout);
        loop->now_ms = clock_mono_ms();
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_error("epoll_wait: %m");
            break;
        }
        for (int i = 0; i < n; i++) {
            struct loop_watch *w = events[i].data.ptr;
            /* A callback earlier in this batch may have removed w's owner;
             * owners defer frees to the before-sleep hook (pattern 2), so w
             * is still valid memory here and fn == NULL says "gone". */
            if (w->fn)
                w->fn(loop, events[i].events, w->ud);
        }
        run_timers(loop);
    }
}
