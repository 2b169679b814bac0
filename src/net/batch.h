#ifndef SALON_NET_BATCH_H
#define SALON_NET_BATCH_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Many sockets' writes in one system call.
 *
 * Before the loop sleeps, net/ has one write to make on every connection
 * that has output (conn.c: before_sleep). Made one by one, each costs a
 * system call on top of the kernel's own work; handed to io_uring as one
 * submission, the kernel runs them all in a single entry. On the benchmark
 * machine a 120-byte loopback write cost 4.93-4.96 us of CPU as send() and
 * 4.37-4.46 us as one of 100 io_uring sends (docs/benchmarks.md).
 *
 * Every socket is non-blocking and every write asks not to wait, so the
 * kernel completes them during the submission: a full socket answers
 * -EAGAIN at once, as send() would. Where io_uring is missing or refused
 * (an old kernel, a container's seccomp policy, kernel.io_uring_disabled),
 * batch_run makes the same writes one by one with send()/writev(). */

/* Writes per submission; ranges per write, and in all the writes of one
 * submission (the caller's pool of iovecs: a JOIN storm leaves hundreds of
 * ranges in each member's queue, a quiet turn one). */
#define BATCH_WRITES_MAX 64
#define BATCH_IOV_MAX 256
#define BATCH_IOV_POOL 2048

struct batch_write {
    int fd;
    int niov;
    struct iovec *iov;
    ssize_t res;            /* after batch_run: bytes written, or -errno;
                             * 0 for an entry with niov 0 (nothing to write) */
    void *ud;
};

/* Sets up io_uring unless use_uring is false. Returns whether it is used;
 * batch_run works either way. */
bool batch_init(bool use_uring);
void batch_shutdown(void);
bool batch_uses_uring(void);

/* Makes the n writes (n <= BATCH_WRITES_MAX) and sets each one's res. The
 * iovecs must stay valid until it returns; nothing is kept after. */
void batch_run(struct batch_write *w, int n);

#endif
