#ifndef SALON_NET_LOOP_H
#define SALON_NET_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

/* The event loop: epoll (level-triggered), a timer heap, and a before-sleep
 * hook that flushes pending output. One loop, one thread; nothing here is
 * thread-safe except loop_wake(). */
struct loop;

typedef void loop_fd_fn(struct loop *loop, uint32_t events, void *ud);
typedef void loop_timer_fn(struct loop *loop, void *ud);
typedef void loop_hook_fn(struct loop *loop, void *ud);

/* A registration, embedded by the owner of the fd (no allocation per fd). */
struct loop_watch {
    loop_fd_fn *fn;
    void *ud;
    int fd;
    uint32_t events;
};

/* A timer, embedded by its owner; armed while heap_index != 0. */
struct loop_timer {
    int64_t when_ms;
    loop_timer_fn *fn;
    void *ud;
    uint32_t heap_index;    /* 1-based position in the heap; 0 = not armed */
};

struct loop *loop_new(void);
void loop_free(struct loop *loop);

/* Watches w->fd for events (EPOLLIN/EPOLLOUT). w must stay valid until
 * loop_del. Returns SL_EIO when epoll refuses. */
enum sl_err loop_add(struct loop *loop, struct loop_watch *w, int fd,
                     uint32_t events, loop_fd_fn *fn, void *ud);
/* Changes the events watched; cheap no-op when unchanged. */
enum sl_err loop_mod(struct loop *loop, struct loop_watch *w, uint32_t events);
void loop_del(struct loop *loop, struct loop_watch *w);

/* Arms t to fire once after delay_ms (re-arming moves it). */
void loop_timer_arm(struct loop *loop, struct loop_timer *t, int64_t delay_ms,
                    loop_timer_fn *fn, void *ud);
void loop_timer_disarm(struct loop *loop, struct loop_timer *t);

/* hook runs every turn before the loop waits (pending output is flushed
 * there). Several hooks run in the order they were added. */
void loop_add_before_sleep(struct loop *loop, loop_hook_fn *hook, void *ud);

/* Runs until loop_stop. */
void loop_run(struct loop *loop);
void loop_stop(struct loop *loop);
/* Monotonic time cached at the start of this turn. */
int64_t loop_now_ms(const struct loop *loop);

#endif
