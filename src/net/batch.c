#include "net/batch.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <liburing.h>

#include "lib/log.h"
#include "lib/outq.h"

/* See batch.h. One ring, owned by the loop thread. */

static struct io_uring ring;
static bool has_ring;
static struct msghdr msgs[BATCH_WRITES_MAX];

/* The kernel runs the submission on the submitting thread (no polling
 * thread): SUBMIT_ALL goes on past a failing entry, COOP_TASKRUN and
 * SINGLE_ISSUER spare it the interrupts a shared ring would need. Kernels
 * before 6.0 refuse these flags; the plain ring works there too. */
bool batch_init(bool use_uring)
{
    if (has_ring || !use_uring)
        return has_ring;
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    p.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SINGLE_ISSUER;
    int rc = io_uring_queue_init_params(BATCH_WRITES_MAX, &ring, &p);
    if (rc == -EINVAL) {
        memset(&p, 0, sizeof p);
        rc = io_uring_queue_init_params(BATCH_WRITES_MAX, &ring, &p);
    }
    if (rc < 0) {
        log_info("net: io_uring unavailable (%s): one system call per write", strerror(-rc));
        return false;
    }
    has_ring = true;
    return true;
}

void batch_shutdown(void)
{
    if (has_ring)
        io_uring_queue_exit(&ring);
    has_ring = false;
}

bool batch_uses_uring(void)
{
    return has_ring;
}

static void write_one(struct batch_write *w)
{
    ssize_t r;
    do
        r = outq_write_iov(w->fd, w->iov, w->niov);
    while (r < 0 && errno == EINTR);
    w->res = r < 0 ? -errno : r;
}

/* The ring failed in a way that leaves the fate of submitted writes
 * unknown: those connections cannot trust their byte count any more and
 * are failed (closed by the caller); later batches write one by one. */
static void give_up(struct batch_write *w, int n, int rc)
{
    log_error("net: io_uring failed (%s): writing one by one from now on", strerror(-rc));
    for (int i = 0; i < n; i++)
        if (w[i].res == -EINPROGRESS)
            w[i].res = -EIO;
    batch_shutdown();
}

void batch_run(struct batch_write *w, int n)
{
    int nwrites = 0;
    for (int i = 0; i < n; i++) {
        w[i].res = 0;
        nwrites += w[i].niov > 0;
    }
    /* One write gains nothing from a ring and pays for its set-up. */
    if (!has_ring || nwrites < 2) {
        for (int i = 0; i < n; i++)
            if (w[i].niov > 0)
                write_one(&w[i]);
        return;
    }
    for (int i = 0; i < n; i++) {
        if (w[i].niov == 0)
            continue;
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        if (w[i].niov == 1) {
            io_uring_prep_send(sqe, w[i].fd, w[i].iov[0].iov_base, w[i].iov[0].iov_len,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            msgs[i] = (struct msghdr){.msg_iov = w[i].iov, .msg_iovlen = (size_t)w[i].niov};
            io_uring_prep_sendmsg(sqe, w[i].fd, &msgs[i], MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        io_uring_sqe_set_data64(sqe, (uint64_t)i);
        w[i].res = -EINPROGRESS;
    }
    int submitted = 0;
    while (submitted < nwrites) {
        int rc = io_uring_submit(&ring);
        if (rc == -EINTR)
            continue;
        if (rc < 0) {
            give_up(w, n, rc);
            return;
        }
        submitted += rc;
    }
    /* Writes to non-blocking sockets complete during the submission; a
     * wait here only covers one the kernel chose to finish on a worker. */
    for (int done = 0; done < nwrites;) {
        struct io_uring_cqe *cqe;
        int rc = io_uring_wait_cqe(&ring, &cqe);
        if (rc == -EINTR)
            continue;
        if (rc < 0) {
            give_up(w, n, rc);
            return;
        }
        uint64_t i = io_uring_cqe_get_data64(cqe);
        if (i < (uint64_t)n)
            w[i].res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        done++;
    }
}
