/*
 * floor: the least work a chat relay can do, so that a benchmark can say
 * what the kernel and the load generator cost by themselves.
 *
 * It speaks just enough IRC for loadgen's fan-out and idle scenarios over
 * TCP: NICK, USER (answered with 001), JOIN of one room (answered with the
 * JOIN echo and 366), PRIVMSG to that room (relayed to every other member),
 * PING and QUIT. No parsing beyond the command word, no policy, no history,
 * no per-recipient work but the write itself: each message's line is built
 * once and written to every member, one send() each (--write send) or in
 * io_uring submissions of up to 512 sends (--write uring, as salon does).
 *
 * Whatever latency loadgen measures against this relay is the floor of the
 * machine, the kernel's loopback path and loadgen itself: no server doing
 * real work on the same CPU can go below it (docs/benchmarks.md, "The
 * floor"). It is not a server: one room per client, no limits but a 4 MiB
 * output queue per connection, loopback only.
 *
 *   floor --listen 127.0.0.1:PORT [--write send|uring]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define IN_MAX     1024              /* one IRC line is 512 bytes; room for two */
#define OUT_MAX    (4u << 20)        /* a reader this far behind is dropped */
#define ROOMS_MAX  4096
#define URING_SQES 512

struct conn {
	int fd;                 /* -1 when the slot is free */
	int room;               /* -1 before JOIN */
	uint32_t slot;          /* index in its room's member array */
	char nick[32];
	size_t in_len;
	char in[IN_MAX];
	bool doomed;            /* shut down; closed when epoll says so */
	char *out;              /* bytes the kernel has not taken yet */
	size_t out_len, out_cap;
};

struct room {
	char name[64];
	uint32_t *members;      /* connection indices */
	uint32_t n, cap;
};

static struct conn *conns;
static uint32_t conns_cap;
static uint32_t free_from;      /* no free slot below this index */
static struct room rooms[ROOMS_MAX];
static int n_rooms;
static int ep;
static bool use_uring;
static struct io_uring ring;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("realloc");
	return p;
}

static void conn_close(uint32_t i)
{
	struct conn *c = &conns[i];

	if (c->fd < 0)
		return;
	if (c->room >= 0) {
		struct room *r = &rooms[c->room];
		uint32_t last = r->members[--r->n];

		r->members[c->slot] = last;
		conns[last].slot = c->slot;
	}
	close(c->fd);
	free(c->out);
	memset(c, 0, sizeof *c);
	c->fd = -1;
	c->room = -1;
	if (i < free_from)
		free_from = i;
}

/* Closing now would reorder the room a fan-out is walking: shut the
 * socket down instead, and let the hang-up it causes close it. */
static void doom(uint32_t i)
{
	conns[i].doomed = true;
	shutdown(conns[i].fd, SHUT_RDWR);
}

static void want_out(uint32_t i, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.u32 = i };

	epoll_ctl(ep, EPOLL_CTL_MOD, conns[i].fd, &ev);
}

/* Keep what the kernel did not take; a reader too far behind is dropped. */
static void queue_rest(uint32_t i, const char *p, size_t n)
{
	struct conn *c = &conns[i];
	bool was_empty = c->out_len == 0;

	if (c->out_len + n > OUT_MAX) {
		doom(i);
		return;
	}
	if (c->out_len + n > c->out_cap) {
		c->out_cap = (c->out_len + n) * 2;
		c->out = xrealloc(c->out, c->out_cap);
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
	if (was_empty)
		want_out(i, true);
}

/* After a write of n bytes returned res. */
static void wrote(uint32_t i, const char *p, size_t n, ssize_t res)
{
	if (res < 0 && res != -EAGAIN) {
		doom(i);
		return;
	}
	if (res < 0)
		res = 0;
	if ((size_t)res < n)
		queue_rest(i, p + res, n - (size_t)res);
}

static void send_to(uint32_t i, const char *p, size_t n)
{
	ssize_t res;

	if (conns[i].doomed)
		return;
	if (conns[i].out_len) {
		queue_rest(i, p, n);
		return;
	}
	res = send(conns[i].fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	wrote(i, p, n, res < 0 ? -errno : res);
}

static void flush_out(uint32_t i)
{
	struct conn *c = &conns[i];
	ssize_t res = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (res < 0) {
		if (errno != EAGAIN)
			conn_close(i);
		return;
	}
	memmove(c->out, c->out + res, c->out_len - (size_t)res);
	c->out_len -= (size_t)res;
	if (!c->out_len)
		want_out(i, false);
}

/* The same line to every member of a room but one, through io_uring:
 * non-blocking sends complete during the submission. */
static void uring_fanout(const struct room *r, uint32_t except, const char *p, size_t n)
{
	uint32_t targets[URING_SQES];
	uint32_t k = 0;

	while (k < r->n) {
		unsigned queued = 0;

		for (; k < r->n && queued < URING_SQES; k++) {
			uint32_t i = r->members[k];
			struct io_uring_sqe *sqe;

			if (i == except || conns[i].doomed)
				continue;
			if (conns[i].out_len) {
				queue_rest(i, p, n);
				continue;
			}
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_send(sqe, conns[i].fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			io_uring_sqe_set_data64(sqe, queued);
			targets[queued++] = i;
		}
		if (!queued)
			continue;
		if (io_uring_submit_and_wait(&ring, queued) < 0)
			die("io_uring_submit_and_wait");
		for (unsigned m = 0; m < queued; m++) {
			struct io_uring_cqe *cqe;

			if (io_uring_wait_cqe(&ring, &cqe) < 0)
				die("io_uring_wait_cqe");
			wrote(targets[cqe->user_data], p, n, cqe->res);
			io_uring_cqe_seen(&ring, cqe);
		}
	}
}

static int room_find(const char *name, size_t len)
{
	if (len >= sizeof rooms[0].name)
		len = sizeof rooms[0].name - 1;
	for (int r = 0; r < n_rooms; r++)
		if (strlen(rooms[r].name) == len && !memcmp(rooms[r].name, name, len))
			return r;
	if (n_rooms == ROOMS_MAX)
		return -1;
	memcpy(rooms[n_rooms].name, name, len);
	rooms[n_rooms].name[len] = 0;
	return n_rooms++;
}

static void on_line(uint32_t i, char *p, size_t n)
{
	struct conn *c = &conns[i];
	char buf[IN_MAX + 128];
	char *arg = memchr(p, ' ', n);
	size_t cl = arg ? (size_t)(arg - p) : n, al = arg ? n - cl - 1 : 0;
	int len;

	if (arg)
		arg++;
	if (cl == 4 && !memcmp(p, "NICK", 4) && al) {
		snprintf(c->nick, sizeof c->nick, "%.*s", (int)al, arg);
	} else if (cl == 4 && !memcmp(p, "USER", 4)) {
		len = snprintf(buf, sizeof buf, ":floor 001 %s :floor\r\n", c->nick);
		send_to(i, buf, (size_t)len);
	} else if (cl == 4 && !memcmp(p, "PING", 4)) {
		len = snprintf(buf, sizeof buf, "PONG %.*s\r\n", (int)al, arg);
		send_to(i, buf, (size_t)len);
	} else if (cl == 4 && !memcmp(p, "JOIN", 4) && al && c->room < 0) {
		int r = room_find(arg, al);
		struct room *rm;

		if (r < 0)
			return;
		rm = &rooms[r];
		if (rm->n == rm->cap) {
			rm->cap = rm->cap ? rm->cap * 2 : 64;
			rm->members = xrealloc(rm->members, rm->cap * sizeof *rm->members);
		}
		c->room = r;
		c->slot = rm->n;
		rm->members[rm->n++] = i;
		len = snprintf(buf, sizeof buf, ":%s!f@floor JOIN %s\r\n:floor 366 %s %s :End\r\n",
			       c->nick, rm->name, c->nick, rm->name);
		send_to(i, buf, (size_t)len);
	} else if (cl == 7 && !memcmp(p, "PRIVMSG", 7) && c->room >= 0) {
		const struct room *rm = &rooms[c->room];

		/* The line is built once, whatever the target says: the one
		 * room this client joined is where it goes. */
		len = snprintf(buf, sizeof buf, ":%s!f@floor PRIVMSG %.*s\r\n", c->nick, (int)al, arg);
		if (len >= (int)sizeof buf)
			return;
		if (use_uring) {
			uring_fanout(rm, i, buf, (size_t)len);
		} else {
			for (uint32_t k = 0; k < rm->n; k++)
				if (rm->members[k] != i)
					send_to(rm->members[k], buf, (size_t)len);
		}
	} else if (cl == 4 && !memcmp(p, "QUIT", 4)) {
		conn_close(i);
	}
}

static void on_readable(uint32_t i)
{
	struct conn *c = &conns[i];
	ssize_t n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
	size_t off = 0;

	if (n <= 0) {
		if (n == 0 || errno != EAGAIN)
			conn_close(i);
		return;
	}
	c->in_len += (size_t)n;
	for (;;) {
		char *nl = memchr(c->in + off, '\n', c->in_len - off);
		size_t m;

		if (!nl)
			break;
		m = (size_t)(nl - (c->in + off));
		if (m && c->in[off + m - 1] == '\r')
			m--;
		on_line(i, c->in + off, m);
		if (conns[i].fd < 0)
			return;
		off = (size_t)(nl - c->in) + 1;
	}
	if (off == 0 && c->in_len == IN_MAX) {
		conn_close(i);          /* a line longer than any IRC line */
		return;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void on_accept(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct epoll_event ev = { .events = EPOLLIN };
		uint32_t i;

		if (fd < 0)
			return;
		for (i = free_from; i < conns_cap && conns[i].fd >= 0; i++)
			;
		free_from = i + 1;
		if (i == conns_cap) {
			uint32_t cap = conns_cap ? conns_cap * 2 : 1024;

			conns = xrealloc(conns, cap * sizeof *conns);
			for (uint32_t k = conns_cap; k < cap; k++) {
				memset(&conns[k], 0, sizeof conns[k]);
				conns[k].fd = -1;
				conns[k].room = -1;
			}
			conns_cap = cap;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		conns[i].fd = fd;
		ev.data.u32 = i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			die("epoll_ctl");
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	char *listen_at = NULL, *colon, *end;
	long port;
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = UINT32_MAX }, evs[256];
	int lfd, one = 1;

	for (int a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--listen") && a + 1 < argc) {
			listen_at = argv[++a];
		} else if (!strcmp(argv[a], "--write") && a + 1 < argc) {
			a++;
			if (!strcmp(argv[a], "uring"))
				use_uring = true;
			else if (strcmp(argv[a], "send"))
				goto usage;
		} else {
			goto usage;
		}
	}
	if (!listen_at || !(colon = strrchr(listen_at, ':')))
		goto usage;
	*colon = 0;
	port = strtol(colon + 1, &end, 10);
	if (inet_pton(AF_INET, listen_at, &sa.sin_addr) != 1 || end == colon + 1 || *end || port < 1 ||
	    port > 65535)
		goto usage;
	sa.sin_port = htons((uint16_t)port);

	signal(SIGPIPE, SIG_IGN);
	if (use_uring && io_uring_queue_init(URING_SQES, &ring, 0) < 0)
		die("io_uring_queue_init");
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 4096) < 0)
		die("listen");
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll");
	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int k = 0; k < n; k++) {
			uint32_t i = evs[k].data.u32;

			if (i == UINT32_MAX) {
				on_accept(lfd);
				continue;
			}
			if (conns[i].fd < 0)
				continue;
			if (evs[k].events & EPOLLOUT)
				flush_out(i);
			if (conns[i].fd >= 0 && (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
				on_readable(i);
		}
	}
usage:
	fprintf(stderr, "usage: floor --listen 127.0.0.1:PORT [--write send|uring]\n");
	return 2;
}
