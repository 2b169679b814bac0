/* net/batch: many sockets' writes in one submission, against real sockets,
 * with io_uring and with the one-by-one fallback. */
#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/batch.h"

/* Each writer end is non-blocking, as net/ makes every socket. */
static void pair(int sv[2])
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    cr_assert_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
}

static size_t drain(int fd, char *out, size_t cap)
{
    size_t got = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
        ssize_t r = read(fd, out + got, cap - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

static struct iovec iovs[8][BATCH_IOV_MAX];

static void set_iov(struct batch_write *w, int fd, const char *const *parts, int n)
{
    static int next;
    memset(w, 0, sizeof *w);
    w->iov = iovs[next++ % 8];
    w->fd = fd;
    w->niov = n;
    for (int i = 0; i < n; i++)
        w->iov[i] = (struct iovec){(void *)parts[i], strlen(parts[i])};
}

/* One batch: a single range, three ranges in order, nothing (niov 0), and a
 * socket whose reader has gone. */
static void one_batch_of_each_kind(void)
{
    int a[2], b[2], c[2], d[2];
    pair(a);
    pair(b);
    pair(c);
    pair(d);
    close(d[1]);
    static const char *one[] = {"PING :one\r\n"};
    static const char *three[] = {"first\r\n", "second\r\n", "third\r\n"};
    struct batch_write w[4];
    set_iov(&w[0], a[0], one, 1);
    set_iov(&w[1], b[0], three, 3);
    set_iov(&w[2], c[0], NULL, 0);
    set_iov(&w[3], d[0], one, 1);
    w[2].res = 99;
    batch_run(w, 4);

    char buf[256];
    cr_assert_eq(w[0].res, 11);
    cr_assert_eq(drain(a[1], buf, sizeof buf), 11);
    cr_assert_eq(memcmp(buf, "PING :one\r\n", 11), 0);
    cr_assert_eq(w[1].res, 22);
    cr_assert_eq(drain(b[1], buf, sizeof buf), 22);
    cr_assert_eq(memcmp(buf, "first\r\nsecond\r\nthird\r\n", 22), 0);
    cr_assert_eq(w[2].res, 0, "an entry with nothing to write was written");
    cr_assert_eq(drain(c[1], buf, sizeof buf), 0);
    cr_assert_eq(w[3].res, -EPIPE, "%zd", w[3].res);
    int fds[] = {a[0], a[1], b[0], b[1], c[0], c[1], d[0]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
}

/* A full socket answers -EAGAIN at once instead of holding up the batch,
 * and a write the kernel can only partly take says how much it took. */
static void a_full_socket_does_not_block_the_others(void)
{
    int full[2], ok[2];
    pair(full);
    pair(ok);
    static char big[1 << 16];
    memset(big, 'x', sizeof big);
    ssize_t took = 0;
    for (int round = 0; round < 64; round++) {
        struct batch_write w[2];
        memset(w, 0, sizeof w);
        struct iovec one = {big, sizeof big};
        w[0].fd = full[0];
        w[0].niov = 1;
        w[0].iov = &one;
        static const char *hi[] = {"hi\r\n"};
        set_iov(&w[1], ok[0], hi, 1);
        batch_run(w, 2);
        cr_assert_eq(w[1].res, 4, "round %d: %zd", round, w[1].res);
        char buf[8];
        cr_assert_eq(read(ok[1], buf, sizeof buf), 4);
        if (w[0].res == -EAGAIN)
            break;
        cr_assert_gt(w[0].res, 0, "round %d: %zd", round, w[0].res);
        took += w[0].res;
    }
    cr_assert_gt(took, 0);
    char *sink = malloc((size_t)took + sizeof big);
    cr_assert_eq((ssize_t)drain(full[1], sink, (size_t)took + sizeof big), took,
                 "the kernel kept other than what the writes reported");
    free(sink);
    int fds[] = {full[0], full[1], ok[0], ok[1]};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        close(fds[i]);
}

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
}

TestSuite(batch, .init = setup, .fini = batch_shutdown);

Test(batch, io_uring_writes_each_socket_its_own_bytes)
{
    if (!batch_init(true))
        cr_skip_test("io_uring is not available here");
    cr_assert(batch_uses_uring());
    one_batch_of_each_kind();
}

Test(batch, io_uring_full_socket_answers_eagain)
{
    if (!batch_init(true))
        cr_skip_test("io_uring is not available here");
    a_full_socket_does_not_block_the_others();
}

Test(batch, without_io_uring_writes_each_socket_its_own_bytes)
{
    cr_assert_not(batch_init(false));
    cr_assert_not(batch_uses_uring());
    one_batch_of_each_kind();
}

Test(batch, without_io_uring_full_socket_answers_eagain)
{
    cr_assert_not(batch_init(false));
    a_full_socket_does_not_block_the_others();
}
