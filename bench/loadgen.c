/*
 * loadgen — IRC load generator for salon's benchmarks (TCP and WebSocket).
 *
 * One process, one epoll loop, one 1 ms timerfd that drives every phase:
 *   connect (ramped) -> register (NICK/USER, wait 001) -> join rooms
 *   round-robin (wait 366) -> send phase (open loop, paced by the timer)
 *   -> drain -> report.
 * "idle" mode stops after registration, holds the connections and reports
 * the server's RSS growth per connection. "max" mode repeats the send phase
 * at increasing rates until latency or delivery falls behind.
 *
 * Every room message carries "<seq> <send_time_ns> <run_id> <padding>",
 * zero-padded to 10, 19 and 12 digits so that receivers read them at fixed
 * offsets, eight digits at a time; receivers use CLOCK_MONOTONIC (same
 * machine) for end-to-end latency and a per-message record for exact
 * loss/duplicate counting. See bench/README.md.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* RFC 1459 §2.3: 512 bytes per line; IRCv3 message-tags allow 8191 more. */
#define LINE_MAX_BYTES (512 + 8191)
/* One read() per readiness event: large enough to swallow a burst. */
#define READ_CHUNK 65536
/* Bytes we queue towards a server that stopped reading (its flood control
 * throttles us). Beyond this the client is stuck and we drop it. */
#define OUT_MAX (1u << 20)
/* Largest server WebSocket message we accept: one IRC line with tags. */
#define WS_MSG_MAX (LINE_MAX_BYTES + 16)
#define TICK_NS 1000000LL
/* A connect that dies before registration (listen backlog overflow: the
 * peer answers a SYN cookie, then resets) is retried this many times. */
#define SETUP_RETRIES 3
#define NS_PER_S 1000000000LL
/* RFC 6455 §1.3 */
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_SUBPROTOCOL "text.ircv3.net"

/* Log-linear latency histogram (HdrHistogram's idea): 64 sub-buckets per
 * power of two, so every bucket is within 1/64 (1.6 %) of its value. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS (HIST_SUB * 44)

enum mode { MODE_FANOUT, MODE_IDLE, MODE_MAX };

enum cstate {
	C_NEW,
	C_CONNECTING,
	C_WS_HANDSHAKE,
	C_REGISTERING,
	C_REGISTERED,
	C_JOINING,
	C_JOINED,
	C_CLOSED,
};

enum phase { PH_CONNECT, PH_JOIN, PH_SETTLE, PH_SEND, PH_DRAIN, PH_QUIET, PH_HOLD, PH_DONE };

/* Max mode: after a failing step the server may still be working through
 * the backlog the drain gave up on (or be wedged by it). The next step
 * starts only once, for QUIET_NS, no copy has arrived, the server used
 * under QUIET_CPU_S of CPU and loadgen has nothing left to write; if that
 * takes more than QUIET_MAX_NS the search ends there. */
#define QUIET_CPU_S 0.05
#define QUIET_NS (NS_PER_S)
#define QUIET_MAX_NS (30 * NS_PER_S)

struct client {
	int fd;
	uint32_t idx;
	uint32_t room;
	uint8_t state;
	bool is_sender;
	bool want_out;
	bool ws_closing;
	/* Connection attempts that failed before registration. */
	uint8_t tries;
	/* Unparsed input kept between reads (partial line or frame). */
	char *in;
	uint32_t in_len, in_cap;
	/* Output the kernel would not take yet. */
	char *out;
	uint32_t out_len, out_off, out_cap;
	/* A fragmented WebSocket message being reassembled (rare). */
	char *frag;
	uint32_t frag_len;
};

struct msgrec {
	uint32_t expected;
	uint32_t got;
};

struct hist {
	uint64_t b[HIST_BUCKETS];
	uint64_t n, max, sum;
};

static struct opts {
	char host[256];
	char hostport[300];
	char path[256];
	uint16_t port;
	bool ws;
	uint32_t clients, rooms, senders;
	double rate, duration, drain, hold, ramp, setup_timeout;
	uint32_t addrs, window, join_window, size, id_offset;
	const char *pass, *nick_prefix, *room_prefix, *label, *oper;
	pid_t server_pid;
	enum mode mode;
	double p99_max_ms, step, rate_max;
	uint32_t step_tries;
	bool quiet;
	uint64_t run_id;
} o;

static struct client *cl;
static struct msgrec *recs;
static uint64_t recs_cap;
static uint32_t *room_members;
static int ep = -1, tfd = -1;
static struct sockaddr_in dst;
static bool dst_loopback;
static uint64_t rng_state;
static char rid_text[32]; /* o.run_id as sent: RID_DIGITS digits */

static enum phase phase;
static int64_t t_start, t_phase, t_deadline, t_reg_done, t_join_done;
static int64_t send_start, send_end;
static uint32_t n_started, n_registered, n_failed, n_joined,
	n_join_failed, n_join_sent, n_closed_late, n_retries;
static uint32_t *retry_stack, retry_len;
static uint32_t join_next;
static double cur_rate;
static uint64_t seq_next, seq_base, sender_rr;

static struct {
	uint64_t sent, expected, delivered, dup, foreign, late, bad, backlog_drop;
	int64_t behind_max, gap_max;
	struct hist h;
} st;

struct srv_sample {
	bool ok;
	double cpu_s;
	long rss_kb;
};

static struct srv_sample srv_base, srv_before, srv_after;
static int step_no;
static uint32_t step_try;
static double best_rate;
static int64_t last_rx; /* last PRIVMSG read, late ones included */
static int64_t quiet_mark;
static bool quiet_timeout;
static struct srv_sample quiet_cpu;
static bool interrupted;
/* loadgen's own CPU seconds at the start of the send phase, and the wall
 * time the send phase + drain took: their ratio says whether the load
 * generator, not the server, was the bottleneck. */
static double my_cpu_before, my_cpu_step, step_wall_s;

/* Max mode: the last step that held (the reported maximum) and the step
 * that failed, with why. */
struct step_stats {
	bool valid;
	double rate, deliveries_per_s, cpu_us_per_delivery, p50_ms, p99_ms, server_util, loadgen_util;
	uint64_t lost;
	double behind_ms;
};
static struct step_stats best_step, fail_step;

/* ---------------------------------------------------------------- utils */

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static double self_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static uint64_t rng(void)
{
	/* xorshift64*: masks and WebSocket keys need variety, not secrecy. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	if (o.quiet)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "[%7.3f] ", (double)(now_ns() - t_start) / 1e9);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (!q && n)
		die("out of memory (%zu bytes)", n);
	return q;
}

static void hist_add(struct hist *h, uint64_t v)
{
	unsigned idx;

	if (v < HIST_SUB) {
		idx = (unsigned)v;
	} else {
		unsigned msb = 63u - (unsigned)__builtin_clzll(v);
		unsigned shift = msb - HIST_SUB_BITS;

		idx = (shift + 1) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
	}
	if (idx >= HIST_BUCKETS)
		idx = HIST_BUCKETS - 1;
	h->b[idx]++;
	h->n++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

/* Upper edge of a bucket: percentiles are reported conservatively. */
static uint64_t hist_value(unsigned idx)
{
	unsigned shift;

	if (idx < HIST_SUB)
		return idx;
	shift = idx / HIST_SUB - 1;
	return ((uint64_t)(idx % HIST_SUB + HIST_SUB) << shift) + ((1ull << shift) - 1);
}

static uint64_t hist_pct(const struct hist *h, double p)
{
	uint64_t want, acc = 0;

	if (!h->n)
		return 0;
	want = (uint64_t)ceil(p / 100.0 * (double)h->n);
	if (want < 1)
		want = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		acc += h->b[i];
		if (acc >= want) {
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

/* Server process CPU (utime+stime, proc(5)) and VmRSS. */
static struct srv_sample srv_sample(void)
{
	struct srv_sample s = { 0 };
	char path[64], buf[4096], *p;
	unsigned long ut, st_;
	FILE *f;
	ssize_t n;
	int fd;

	if (o.server_pid <= 0)
		return s;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)o.server_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return s;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return s;
	buf[n] = 0;
	/* comm may contain spaces and ')': fields restart after the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return s;
	/* After ") " come fields 3..: state ppid pgrp session tty tpgid flags
	 * minflt cminflt majflt cmajflt utime(14) stime(15). */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st_) != 2)
		return s;
	s.cpu_s = (double)(ut + st_) / (double)sysconf(_SC_CLK_TCK);
	snprintf(path, sizeof path, "/proc/%d/status", (int)o.server_pid);
	f = fopen(path, "re");
	if (!f)
		return s;
	while (fgets(buf, sizeof buf, f))
		if (sscanf(buf, "VmRSS: %ld", &s.rss_kb) == 1)
			break;
	fclose(f);
	s.ok = true;
	return s;
}

/* ---------------------------------------------------------------- output */

static void set_events(struct client *c, bool want_out)
{
	struct epoll_event ev = { .events = EPOLLIN | (want_out ? EPOLLOUT : 0), .data.u32 = c->idx };

	if (c->want_out == want_out)
		return;
	c->want_out = want_out;
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Closed, or closed and waiting for a setup retry. */
static bool gone(const struct client *c)
{
	return c->fd < 0;
}

static void client_close(struct client *c, const char *why);
static void client_close_how(struct client *c, const char *why, bool retryable);

static void out_append(struct client *c, const char *p, size_t n)
{
	if (c->out_off && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (c->out_len + n > OUT_MAX) {
		st.backlog_drop++;
		client_close(c, "output backlog over 1 MiB (server not reading)");
		return;
	}
	if (c->out_len + n > c->out_cap) {
		uint32_t cap = c->out_cap ? c->out_cap : 1024;

		while (cap < c->out_len + n)
			cap *= 2;
		c->out = xrealloc(c->out, cap);
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += (uint32_t)n;
}

static void raw_send(struct client *c, const char *p, size_t n)
{
	ssize_t w;

	if (gone(c))
		return;
	if (c->out_len > c->out_off) {
		out_append(c, p, n);
		return;
	}
	w = send(c->fd, p, n, MSG_NOSIGNAL);
	if (w < 0) {
		if (errno != EAGAIN && errno != EINTR) {
			client_close(c, strerror(errno));
			return;
		}
		w = 0;
	}
	if ((size_t)w < n) {
		out_append(c, p + w, n - (size_t)w);
		if (!gone(c))
			set_events(c, true);
	}
}

static void flush_out(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			client_close(c, strerror(errno));
			return;
		}
		c->out_off += (uint32_t)w;
	}
	c->out_off = c->out_len = 0;
	set_events(c, false);
}

/* RFC 6455 §5.2/§5.3: client frames are masked with a fresh 32-bit key. */
static void ws_send_frame(struct client *c, unsigned opcode, const char *p, size_t n)
{
	unsigned char hdr[14], buf[2048];
	size_t h = 0;
	uint32_t key = (uint32_t)rng();
	unsigned char mk[4] = { (unsigned char)key, (unsigned char)(key >> 8),
				(unsigned char)(key >> 16), (unsigned char)(key >> 24) };

	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		hdr[h++] = (unsigned char)(0x80 | n);
	} else if (n <= 0xffff) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(n >> 8);
		hdr[h++] = (unsigned char)n;
	} else {
		die("frame too large");
	}
	memcpy(hdr + h, mk, 4);
	h += 4;
	if (h + n > sizeof buf)
		die("frame too large");
	memcpy(buf, hdr, h);
	for (size_t i = 0; i < n; i++)
		buf[h + i] = (unsigned char)p[i] ^ mk[i & 3];
	raw_send(c, (const char *)buf, h + n);
}

/* Send one IRC line (without CRLF): CRLF over TCP, one text frame over WS. */
static void send_line(struct client *c, const char *line, size_t n)
{
	char buf[1024];

	if (o.ws) {
		ws_send_frame(c, 0x1, line, n);
		return;
	}
	if (n + 2 > sizeof buf)
		die("line too long");
	memcpy(buf, line, n);
	buf[n] = '\r';
	buf[n + 1] = '\n';
	raw_send(c, buf, n + 2);
}

static void send_linef(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void send_linef(struct client *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof buf)
		die("line too long");
	send_line(c, buf, (size_t)n);
}

/* ---------------------------------------------------------------- lifecycle */

static void client_close(struct client *c, const char *why)
{
	client_close_how(c, why, true);
}

/* retryable: a transport failure during setup, worth another connect. */
static void client_close_how(struct client *c, const char *why, bool retryable)
{
	bool retry = false;

	if (c->state == C_CLOSED || c->state == C_NEW)
		return;
	if (c->state < C_REGISTERED && retryable && phase == PH_CONNECT && c->tries < SETUP_RETRIES) {
		c->tries++;
		n_retries++;
		retry = true;
		retry_stack[retry_len++] = c->idx;
		if (n_retries <= 3)
			note("client %u setup failed (%s), retrying", c->idx, why);
	} else if (c->state < C_REGISTERED) {
		n_failed++;
		if (n_failed <= 5)
			note("client %u failed during setup: %s", c->idx, why);
	} else {
		if (c->state == C_JOINED)
			room_members[c->room]--;
		if (c->state == C_JOINING)
			n_join_failed++;
		if (phase != PH_DONE) {
			n_closed_late++;
			if (n_closed_late <= 5)
				note("client %u disconnected: %s", c->idx, why);
		}
	}
	c->state = retry ? C_NEW : C_CLOSED;
	c->ws_closing = false;
	c->want_out = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->in);
	free(c->out);
	free(c->frag);
	c->in = c->out = c->frag = NULL;
	c->in_len = c->in_cap = c->out_len = c->out_cap = c->out_off = c->frag_len = 0;
}

static void ws_key(uint32_t idx, char out[25])
{
	unsigned char raw[16];
	uint64_t a = o.run_id * 0x9E3779B97F4A7C15ULL ^ idx, b = a * 0xBF58476D1CE4E5B9ULL + idx;

	memcpy(raw, &a, 8);
	memcpy(raw + 8, &b, 8);
	EVP_EncodeBlock((unsigned char *)out, raw, 16);
}

/* A client's nickname: the prefix, its number, and a letter, so that no
 * nickname ends in a number a server may read as an age (salon refuses
 * "lg15" in adult rooms: docs/rules.md, fr.names.age). */
#define NICK_FMT "%s%" PRIu32 "x"

static void start_registration(struct client *c)
{
	c->state = C_REGISTERING;
	if (o.pass)
		send_linef(c, "PASS %s", o.pass);
	send_linef(c, "NICK " NICK_FMT, o.nick_prefix, o.id_offset + c->idx);
	send_linef(c, "USER lg%" PRIu32 " 0 * :salon loadgen", o.id_offset + c->idx);
}

static void on_connected(struct client *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
		client_close(c, strerror(err ? err : errno));
		return;
	}
	set_events(c, false);
	if (o.ws) {
		char key[25], req[768];
		int n;

		ws_key(c->idx, key);
		n = snprintf(req, sizeof req,
			     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
			     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
			     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: " WS_SUBPROTOCOL "\r\n"
			     /* Browsers always send Origin; InspIRCd 3 refuses an
			      * upgrade without one (m_websocket <wsorigin>). */
			     "Origin: http://%s\r\n\r\n",
			     o.path, o.hostport, key, o.hostport);
		c->state = C_WS_HANDSHAKE;
		raw_send(c, req, (size_t)n);
	} else {
		start_registration(c);
	}
}

static void start_connect(struct client *c)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = c->idx };
	int fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s (raise ulimit -n or run fewer clients per process)", strerror(errno));
	c->fd = fd;
	c->state = C_CONNECTING;
	c->want_out = true;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (dst_loopback && o.addrs > 0) {
		/* Spread sources over 127.0.0.1..127.0.0.N; with
		 * IP_BIND_ADDRESS_NO_PORT the port is picked at connect() per
		 * 4-tuple, so each address gets the whole ephemeral range. */
		struct sockaddr_in src = { .sin_family = AF_INET };

		src.sin_addr.s_addr = htonl(0x7f000001u + c->idx % o.addrs);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
		if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) {
			client_close(c, "bind");
			return;
		}
	}
	if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
		client_close(c, strerror(errno));
		return;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		die("epoll_ctl: %s", strerror(errno));
}

/* ---------------------------------------------------------------- input */

/* Eight ASCII digits at p, or -1: checked and combined in one 64-bit
 * word (pairs, then quads, then the eight), little-endian. At B's rates
 * parsing every copy's numbers a digit at a time was an eighth of
 * loadgen's CPU. */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "digits8 reads digits as a little-endian word"
#endif
static int64_t digits8(const char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	if (((v & 0xF0F0F0F0F0F0F0F0ULL) | (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) !=
	    0x3333333333333333ULL)
		return -1;
	v -= 0x3030303030303030ULL;
	v = v * 10 + (v >> 8);
	v = ((v & 0x000000FF000000FFULL) * (100 + (1000000ULL << 32)) +
	     ((v >> 16) & 0x000000FF000000FFULL) * (1 + (10000ULL << 32))) >> 32;
	return (int64_t)v;
}

/* n (< 8) digits at p, or -1. */
static int64_t digits_few(const char *p, unsigned n)
{
	int64_t x = 0;

	for (unsigned i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		x = x * 10 + (p[i] - '0');
	}
	return x;
}

#define SEQ_DIGITS 10
#define TS_DIGITS 19
#define RID_DIGITS 12
#define STAMP_LEN (SEQ_DIGITS + 1 + TS_DIGITS + 1 + RID_DIGITS)
/* on_privmsg reads seq as 2 + 8 digits and ts as 3 + 8 + 8. */
_Static_assert(SEQ_DIGITS == 2 + 8 && TS_DIGITS == 3 + 8 + 8, "digit groups of on_privmsg");

static void on_privmsg(const char *p, const char *end, int64_t now)
{
	const char *t = memmem(p, (size_t)(end - p), " :", 2);
	int64_t hi, mid, lo;
	uint64_t seq, ts;

	last_rx = now;
	if (!t || end - (t += 2) < STAMP_LEN || t[SEQ_DIGITS] != ' ' || t[SEQ_DIGITS + 1 + TS_DIGITS] != ' ') {
		st.bad++;
		return;
	}
	/* seq: 2 + 8 digits; ts: 3 + 8 + 8 digits. */
	hi = digits_few(t, 2);
	lo = digits8(t + 2);
	if (hi < 0 || lo < 0) {
		st.bad++;
		return;
	}
	seq = (uint64_t)hi * 100000000ULL + (uint64_t)lo;
	t += SEQ_DIGITS + 1;
	hi = digits_few(t, 3);
	mid = digits8(t + 3);
	lo = digits8(t + 11);
	if (hi < 0 || mid < 0 || lo < 0) {
		st.bad++;
		return;
	}
	ts = ((uint64_t)hi * 100000000ULL + (uint64_t)mid) * 100000000ULL + (uint64_t)lo;
	t += TS_DIGITS + 1;
	if (memcmp(t, rid_text, RID_DIGITS) != 0) {
		/* Another loadgen process's message (multi-process runs). */
		st.foreign++;
		return;
	}
	if (seq >= seq_next) {
		st.bad++;
		return;
	}
	if (seq < seq_base || phase == PH_DONE) {
		st.late++;
		return;
	}
	if (recs[seq].got >= recs[seq].expected) {
		st.dup++;
		return;
	}
	recs[seq].got++;
	st.delivered++;
	hist_add(&st.h, (uint64_t)(now > (int64_t)ts ? now - (int64_t)ts : 0));
}

static void on_line(struct client *c, const char *p, size_t n, int64_t now)
{
	const char *end = p + n, *cmd, *sp;
	size_t cl_;

	while (end > p && (end[-1] == '\r' || end[-1] == '\n'))
		end--;
	if (p < end && *p == '@') {
		sp = memchr(p, ' ', (size_t)(end - p));
		if (!sp)
			return;
		p = sp + 1;
	}
	if (p < end && *p == ':') {
		sp = memchr(p, ' ', (size_t)(end - p));
		if (!sp)
			return;
		p = sp + 1;
	}
	cmd = p;
	sp = memchr(p, ' ', (size_t)(end - p));
	cl_ = (size_t)((sp ? sp : end) - cmd);
	if (cl_ == 7 && !memcmp(cmd, "PRIVMSG", 7)) {
		on_privmsg(cmd + 7, end, now);
		return;
	}
	if (cl_ == 4 && !memcmp(cmd, "PING", 4)) {
		char buf[600];
		size_t m = (size_t)(end - cmd);

		if (m >= sizeof buf)
			m = sizeof buf - 1;
		memcpy(buf, cmd, m);
		buf[1] = 'O';
		send_line(c, buf, m);
		return;
	}
	if (cl_ == 3) {
		if (!memcmp(cmd, "001", 3) && c->state == C_REGISTERING) {
			c->state = C_REGISTERED;
			n_registered++;
			if (o.oper && c->is_sender) {
				/* ngIRCd throttles fast clients unless they are
				 * IRC operators with user mode +F. */
				const char *colon = strchr(o.oper, ':');

				send_linef(c, "OPER %.*s %s", (int)(colon - o.oper), o.oper, colon + 1);
				send_linef(c, "MODE " NICK_FMT " +F", o.nick_prefix, o.id_offset + c->idx);
			}
		} else if (!memcmp(cmd, "366", 3) && c->state == C_JOINING) {
			c->state = C_JOINED;
			room_members[c->room]++;
			n_joined++;
		} else if ((!memcmp(cmd, "433", 3) || !memcmp(cmd, "432", 3) || !memcmp(cmd, "464", 3)) &&
			   c->state == C_REGISTERING) {
			char why[160];

			snprintf(why, sizeof why, "registration refused: %.*s", (int)(end - cmd > 120 ? 120 : end - cmd), cmd);
			client_close_how(c, why, false);
		} else if ((!memcmp(cmd, "403", 3) || !memcmp(cmd, "405", 3) || !memcmp(cmd, "471", 3) ||
			    !memcmp(cmd, "473", 3) || !memcmp(cmd, "474", 3) || !memcmp(cmd, "475", 3) ||
			    !memcmp(cmd, "477", 3)) &&
			   c->state == C_JOINING) {
			c->state = C_REGISTERED;
			n_join_failed++;
			if (n_join_failed <= 5)
				note("client %u join refused: %.*s", c->idx, (int)(end - cmd > 120 ? 120 : end - cmd), cmd);
		}
		return;
	}
	if (cl_ == 5 && !memcmp(cmd, "ERROR", 5)) {
		char why[160];

		snprintf(why, sizeof why, "%.*s", (int)(end - cmd > 150 ? 150 : end - cmd), cmd);
		client_close_how(c, why, false);
	}
}

/* Split a chunk into CRLF/LF lines; returns bytes consumed. */
static size_t tcp_lines(struct client *c, const char *p, size_t n, int64_t now)
{
	size_t off = 0;

	while (off < n && !gone(c)) {
		const char *nl = memchr(p + off, '\n', n - off);

		if (!nl)
			break;
		on_line(c, p + off, (size_t)(nl - (p + off)), now);
		off = (size_t)(nl - p) + 1;
	}
	return off;
}

static void ws_message(struct client *c, const char *p, size_t n, int64_t now)
{
	/* One line per message (text.ircv3.net); tolerate embedded CRLFs. */
	size_t off = 0;

	while (off < n && !gone(c)) {
		const char *nl = memchr(p + off, '\n', n - off);
		size_t m = nl ? (size_t)(nl - (p + off)) : n - off;

		if (m)
			on_line(c, p + off, m, now);
		off += m + 1;
	}
}

/* Parse server frames (RFC 6455 §5.2); returns bytes consumed. */
static size_t ws_frames(struct client *c, char *p, size_t n, int64_t now)
{
	size_t off = 0;

	while (!gone(c) && n - off >= 2) {
		unsigned char b0 = (unsigned char)p[off], b1 = (unsigned char)p[off + 1];
		unsigned op = b0 & 0x0f;
		bool fin = b0 & 0x80, masked = b1 & 0x80;
		uint64_t len = b1 & 0x7f;
		size_t h = 2;
		char *pl;

		if (len == 126) {
			if (n - off < 4)
				break;
			len = ((uint64_t)(unsigned char)p[off + 2] << 8) | (unsigned char)p[off + 3];
			h = 4;
		} else if (len == 127) {
			if (n - off < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | (unsigned char)p[off + 2 + i];
			h = 10;
		}
		if (masked)
			h += 4;
		if (len > WS_MSG_MAX) {
			client_close(c, "server WebSocket frame too large");
			break;
		}
		if (n - off < h + len)
			break;
		pl = p + off + h;
		if (masked) {
			const unsigned char *mk = (unsigned char *)p + off + h - 4;

			for (uint64_t i = 0; i < len; i++)
				pl[i] ^= (char)mk[i & 3];
		}
		off += h + (size_t)len;
		switch (op) {
		case 0x0:
		case 0x1:
		case 0x2:
			if (op != 0 && fin && !c->frag_len) {
				ws_message(c, pl, (size_t)len, now);
				break;
			}
			if (c->frag_len + len > WS_MSG_MAX) {
				client_close(c, "fragmented WebSocket message too large");
				break;
			}
			c->frag = xrealloc(c->frag, c->frag_len + len + 1);
			memcpy(c->frag + c->frag_len, pl, (size_t)len);
			c->frag_len += (uint32_t)len;
			if (fin) {
				ws_message(c, c->frag, c->frag_len, now);
				c->frag_len = 0;
			}
			break;
		case 0x8:
			if (!c->ws_closing) {
				c->ws_closing = true;
				ws_send_frame(c, 0x8, pl, len >= 2 ? 2 : 0);
			}
			client_close(c, "server sent WebSocket close");
			break;
		case 0x9:
			ws_send_frame(c, 0xA, pl, (size_t)len);
			break;
		case 0xA:
			break;
		default:
			client_close(c, "unknown WebSocket opcode");
			break;
		}
	}
	return off;
}

/* Validate the 101 response (RFC 6455 §4.1); returns header length or 0. */
static size_t ws_handshake(struct client *c, const char *p, size_t n)
{
	const char *end = memmem(p, n, "\r\n\r\n", 4), *a;
	char key[25], cat[64], want[32];
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;

	if (!end)
		return 0;
	if (n < 12 || memcmp(p, "HTTP/1.1 101", 12)) {
		client_close(c, "WebSocket upgrade refused");
		return 0;
	}
	ws_key(c->idx, key);
	snprintf(cat, sizeof cat, "%s" WS_GUID, key);
	EVP_Digest(cat, strlen(cat), dg, &dl, EVP_sha1(), NULL);
	EVP_EncodeBlock((unsigned char *)want, dg, (int)dl);
	a = strcasestr(p, "\r\nSec-WebSocket-Accept:");
	if (!a || a > end) {
		client_close(c, "no Sec-WebSocket-Accept");
		return 0;
	}
	a += 23;
	while (*a == ' ')
		a++;
	if (strncmp(a, want, strlen(want))) {
		client_close(c, "bad Sec-WebSocket-Accept");
		return 0;
	}
	start_registration(c);
	return (size_t)(end - p) + 4;
}

static size_t consume(struct client *c, char *p, size_t n, int64_t now)
{
	size_t off = 0;

	if (c->state == C_WS_HANDSHAKE) {
		off = ws_handshake(c, p, n);
		if (!off)
			return gone(c) ? n : 0;
	}
	if (gone(c))
		return n;
	return off + (o.ws ? ws_frames(c, p + off, n - off, now) : tcp_lines(c, p + off, n - off, now));
}

static void on_readable(struct client *c)
{
	static char chunk[READ_CHUNK];
	ssize_t r = read(c->fd, chunk, sizeof chunk);
	int64_t now;
	size_t used;

	if (r <= 0) {
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		client_close(c, r == 0 ? "server closed the connection" : strerror(errno));
		return;
	}
	now = now_ns();
	if (!c->in_len) {
		used = consume(c, chunk, (size_t)r, now);
		if (gone(c) || used == (size_t)r)
			return;
		if ((size_t)r - used > LINE_MAX_BYTES + 16) {
			client_close(c, "line or frame too long");
			return;
		}
		c->in_cap = 2 * (LINE_MAX_BYTES + 16);
		c->in = xrealloc(c->in, c->in_cap);
		c->in_len = (uint32_t)((size_t)r - used);
		memcpy(c->in, chunk + used, c->in_len);
		return;
	}
	/* Rare path: a line or frame straddles reads. */
	if (c->in_len + (size_t)r > c->in_cap) {
		c->in_cap = c->in_len + (uint32_t)r;
		c->in = xrealloc(c->in, c->in_cap);
	}
	memcpy(c->in + c->in_len, chunk, (size_t)r);
	c->in_len += (uint32_t)r;
	used = consume(c, c->in, c->in_len, now);
	if (gone(c))
		return;
	if (c->in_len - used > LINE_MAX_BYTES + 16) {
		client_close(c, "line or frame too long");
		return;
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= (uint32_t)used;
	if (!c->in_len) {
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

/* ---------------------------------------------------------------- phases */

static void enter(enum phase p, int64_t now)
{
	phase = p;
	t_phase = now;
}

static void send_one(int64_t now)
{
	char line[1024];
	struct client *c = NULL;
	int n;

	for (uint32_t tries = 0; tries < o.senders; tries++) {
		struct client *x = &cl[sender_rr++ % o.senders];

		if (x->state == C_JOINED) {
			c = x;
			break;
		}
	}
	if (!c)
		return;
	if (seq_next >= recs_cap) {
		recs_cap = recs_cap ? recs_cap * 2 : 65536;
		recs = xrealloc(recs, recs_cap * sizeof *recs);
	}
	recs[seq_next].expected = room_members[c->room] - 1;
	recs[seq_next].got = 0;
	st.expected += recs[seq_next].expected;
	n = snprintf(line, sizeof line, "PRIVMSG #%s%u :%0*" PRIu64 " %0*" PRId64 " %s ", o.room_prefix, c->room,
		     SEQ_DIGITS, seq_next, TS_DIGITS, now, rid_text);
	/* Pad so the whole line, CRLF included, is o.size bytes. */
	while ((uint32_t)n + 2 < o.size && (size_t)n < sizeof line - 3)
		line[n++] = 'x';
	seq_next++;
	st.sent++;
	send_line(c, line, (size_t)n);
}

static void reset_step(void)
{
	memset(&st, 0, sizeof st);
	seq_base = seq_next;
}

static struct step_stats step_stats_now(double rate, double secs)
{
	double cpu = srv_before.ok && srv_after.ok ? srv_after.cpu_s - srv_before.cpu_s : NAN;
	struct step_stats s = {
		.valid = true,
		.rate = rate,
		.deliveries_per_s = secs > 0 ? (double)st.delivered / secs : 0,
		.cpu_us_per_delivery = st.delivered ? cpu * 1e6 / (double)st.delivered : NAN,
		.p50_ms = (double)hist_pct(&st.h, 50) / 1e6,
		.p99_ms = (double)hist_pct(&st.h, 99) / 1e6,
		.server_util = step_wall_s > 0 ? cpu / step_wall_s : NAN,
		.loadgen_util = step_wall_s > 0 ? my_cpu_step / step_wall_s : NAN,
		.lost = st.expected > st.delivered ? st.expected - st.delivered : 0,
		.behind_ms = (double)st.behind_max / 1e6,
	};
	return s;
}

static void report_step(const char *tag, double rate, double secs)
{
	struct step_stats s = step_stats_now(rate, secs);
	double cpu = srv_before.ok && srv_after.ok ? srv_after.cpu_s - srv_before.cpu_s : NAN;

	printf("%s rate=%.0f sent=%" PRIu64 " deliveries=%" PRIu64 "/%" PRIu64 " (%.0f/s) lost=%" PRIu64
	       " p50=%.3fms p99=%.3fms max=%.3fms server_cpu=%.2fs (%.0f%% of a CPU, %.3fus/delivery)"
	       " loadgen_cpu=%.0f%% behind_max=%.1fms\n",
	       tag, rate, st.sent, st.delivered, st.expected, s.deliveries_per_s, s.lost, s.p50_ms, s.p99_ms,
	       (double)st.h.max / 1e6, cpu, s.server_util * 100, s.cpu_us_per_delivery, s.loadgen_util * 100,
	       s.behind_ms);
	fflush(stdout);
}

static void final_report(void)
{
	double reg_s = t_reg_done ? (double)(t_reg_done - t_start) / 1e9 : NAN;
	double join_s = t_join_done && t_reg_done ? (double)(t_join_done - t_reg_done) / 1e9 : NAN;
	double send_s = send_end > send_start ? (double)(send_end - send_start) / 1e9 : 0;
	uint64_t lost = st.expected > st.delivered ? st.expected - st.delivered : 0;
	double cpu = srv_before.ok && srv_after.ok ? srv_after.cpu_s - srv_before.cpu_s : NAN;
	double my_cpu = self_cpu_s();
	const char *mode = o.mode == MODE_IDLE ? "idle" : o.mode == MODE_MAX ? "max" : "fanout";

	printf("\n== loadgen %s%s%s: %s %s:%u%s ==\n", mode, o.label ? " " : "", o.label ? o.label : "",
	       o.ws ? "ws" : "tcp", o.host, o.port, o.ws ? o.path : "");
	printf("connections     %u requested, %u registered, %u failed, %u dropped later, %u setup retries\n",
	       o.clients, n_registered, n_failed, n_closed_late, n_retries);
	printf("registration    %.3f s for all clients (%.0f/s)\n", reg_s, (double)n_registered / reg_s);
	if (o.mode == MODE_IDLE) {
		if (srv_base.ok && srv_after.ok && n_registered) {
			printf("server RSS      %ld kB before connecting, %ld kB after %.0f s hold\n", srv_base.rss_kb,
			       srv_after.rss_kb, o.hold);
			printf("RSS per conn    %.0f bytes\n",
			       (double)(srv_after.rss_kb - srv_base.rss_kb) * 1024.0 / n_registered);
		}
		printf("RESULT mode=idle transport=%s clients=%u registered=%u failed=%u retries=%u dropped=%u "
		       "reg_s=%.3f rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_b=%.0f loadgen_cpu_s=%.2f\n",
		       o.ws ? "ws" : "tcp", o.clients, n_registered, n_failed, n_retries, n_closed_late, reg_s,
		       srv_base.rss_kb,
		       srv_after.rss_kb,
		       srv_base.ok && srv_after.ok && n_registered
			       ? (double)(srv_after.rss_kb - srv_base.rss_kb) * 1024.0 / n_registered
			       : NAN,
		       my_cpu);
		return;
	}
	printf("joins           %u joined (%u refused) in %.3f s, rooms=%u\n", n_joined, n_join_failed, join_s, o.rooms);
	if (o.mode == MODE_MAX) {
		struct step_stats b = best_step, f = fail_step;
		const char *stop = "none", *limit = "none";

		/* Why the search stopped, and who ran out first. A step fails
		 * when a copy is missing, p99 exceeds the bound or the sender
		 * fell behind its schedule by more than the bound. If loadgen
		 * itself was near 100 % of its CPU in that step, the limit
		 * found is the load generator's, not the server's. */
		if (f.valid) {
			stop = f.lost ? "loss" : f.p99_ms > o.p99_max_ms ? "p99" : "behind";
			/* Sender late by more than the bound while neither
			 * process used 90 % of its CPU: both were waiting for
			 * a CPU someone else held (a shared machine). */
			limit = f.loadgen_util >= 0.9  ? "loadgen"
				: f.server_util >= 0.9 ? "server_cpu"
				: f.behind_ms > o.p99_max_ms ? "machine"
							     : "server_latency";
		} else if (step_no) {
			stop = "rate_max";
			limit = "rate_max";
		}
		printf("max rate        %.0f msg/s sustained (p99 <= %.1f ms, no loss)\n", best_rate, o.p99_max_ms);
		if (b.valid)
			printf("at that rate    %.0f deliveries/s, %.3f us server CPU per delivery, p50 %.3f ms, "
			       "p99 %.3f ms, server %.0f%% / loadgen %.0f%% of a CPU\n",
			       b.deliveries_per_s, b.cpu_us_per_delivery, b.p50_ms, b.p99_ms, b.server_util * 100,
			       b.loadgen_util * 100);
		if (f.valid)
			printf("next step       %.0f msg/s failed on %s (p99 %.3f ms, lost %" PRIu64 ", behind %.1f ms); "
			       "server %.0f%% / loadgen %.0f%% of a CPU -> limited by %s\n",
			       f.rate, stop, f.p99_ms, f.lost, f.behind_ms, f.server_util * 100, f.loadgen_util * 100,
			       limit);
		if (quiet_timeout)
			printf("NOTE            the server was still busy %.0f s after a failing step: not retried\n",
			       (double)QUIET_MAX_NS / 1e9);
		if (!strcmp(limit, "loadgen"))
			printf("NOTE            the load generator ran out of CPU: the maximum is a lower bound for "
			       "the server\n");
		printf("RESULT mode=max transport=%s clients=%u registered=%u rooms=%u senders=%u reg_s=%.3f join_s=%.3f "
		       "steps=%d max_rate=%.0f "
		       "deliveries_per_s=%.0f server_cpu_us_per_delivery=%.3f p50_ms=%.3f p99_ms=%.3f "
		       "server_cpu_util=%.2f loadgen_cpu_util=%.2f p99_bound_ms=%.1f stop=%s limited_by=%s "
		       "fail_rate=%.0f fail_p99_ms=%.3f fail_lost=%" PRIu64 " fail_server_cpu_util=%.2f "
		       "fail_loadgen_cpu_util=%.2f loadgen_cpu_s=%.2f\n",
		       o.ws ? "ws" : "tcp", o.clients, n_registered, o.rooms, o.senders, reg_s, join_s, step_no, best_rate,
		       b.valid ? b.deliveries_per_s : 0, b.valid ? b.cpu_us_per_delivery : NAN, b.valid ? b.p50_ms : NAN,
		       b.valid ? b.p99_ms : NAN, b.valid ? b.server_util : NAN, b.valid ? b.loadgen_util : NAN,
		       o.p99_max_ms, stop, limit, f.valid ? f.rate : 0, f.valid ? f.p99_ms : NAN, f.valid ? f.lost : 0,
		       f.valid ? f.server_util : NAN, f.valid ? f.loadgen_util : NAN, my_cpu);
		return;
	}
	printf("messages        %" PRIu64 " sent in %.3f s (%.0f/s, target %.0f/s, worst lag %.1f ms, longest event batch %.1f ms)\n",
	       st.sent, send_s, send_s ? (double)st.sent / send_s : 0, o.rate, (double)st.behind_max / 1e6,
	       (double)st.gap_max / 1e6);
	printf("deliveries      %" PRIu64 " of %" PRIu64 " expected, %.0f/s over the send phase; lost %" PRIu64
	       ", dup %" PRIu64 ", late %" PRIu64 ", foreign %" PRIu64 ", unparsable %" PRIu64 "\n",
	       st.delivered, st.expected, send_s ? (double)st.delivered / send_s : 0, lost, st.dup, st.late, st.foreign,
	       st.bad);
	printf("latency         p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, p99.9 %.3f ms, max %.3f ms, mean %.3f ms\n",
	       (double)hist_pct(&st.h, 50) / 1e6, (double)hist_pct(&st.h, 90) / 1e6, (double)hist_pct(&st.h, 99) / 1e6,
	       (double)hist_pct(&st.h, 99.9) / 1e6, (double)st.h.max / 1e6,
	       st.h.n ? (double)st.h.sum / (double)st.h.n / 1e6 : 0);
	if (srv_before.ok && srv_after.ok) {
		printf("server CPU      %.2f s over send+drain, %.3f us per delivery\n", cpu,
		       st.delivered ? cpu * 1e6 / (double)st.delivered : NAN);
		printf("server RSS      %ld kB before send phase, %ld kB after\n", srv_before.rss_kb, srv_after.rss_kb);
	}
	printf("loadgen CPU     %.2f s total, %.0f%% of a CPU over send+drain\n", my_cpu,
	       step_wall_s > 0 ? my_cpu_step / step_wall_s * 100 : NAN);
	printf("RESULT mode=fanout transport=%s clients=%u registered=%u failed=%u retries=%u dropped=%u rooms=%u "
	       "senders=%u "
	       "rate=%.0f duration_s=%.1f reg_s=%.3f join_s=%.3f sent=%" PRIu64 " expected=%" PRIu64
	       " delivered=%" PRIu64 " deliveries_per_s=%.0f lost=%" PRIu64 " dup=%" PRIu64 " p50_ms=%.3f p90_ms=%.3f "
	       "p99_ms=%.3f max_ms=%.3f server_cpu_s=%.2f server_cpu_us_per_delivery=%.3f "
	       "server_rss_before_kb=%ld server_rss_after_kb=%ld loadgen_cpu_s=%.2f behind_max_ms=%.1f batch_max_ms=%.1f "
	       "server_cpu_util=%.2f loadgen_cpu_util=%.2f\n",
	       o.ws ? "ws" : "tcp", o.clients, n_registered, n_failed, n_retries, n_closed_late, o.rooms, o.senders,
	       o.rate,
	       o.duration, reg_s, join_s, st.sent, st.expected, st.delivered,
	       send_s ? (double)st.delivered / send_s : 0, lost, st.dup, (double)hist_pct(&st.h, 50) / 1e6,
	       (double)hist_pct(&st.h, 90) / 1e6, (double)hist_pct(&st.h, 99) / 1e6, (double)st.h.max / 1e6, cpu,
	       st.delivered ? cpu * 1e6 / (double)st.delivered : NAN, srv_before.rss_kb, srv_after.rss_kb, my_cpu,
	       (double)st.behind_max / 1e6, (double)st.gap_max / 1e6,
	       step_wall_s > 0 ? cpu / step_wall_s : NAN, step_wall_s > 0 ? my_cpu_step / step_wall_s : NAN);
}

static void begin_send(int64_t now)
{
	reset_step();
	srv_before = srv_sample();
	my_cpu_before = self_cpu_s();
	send_start = now;
	enter(PH_SEND, now);
	note("send phase: %.0f msg/s from %u senders for %.1f s", cur_rate, o.senders, o.duration);
}

static void enter_quiet(int64_t now)
{
	enter(PH_QUIET, now);
	quiet_mark = now;
	quiet_cpu = srv_sample();
}

static bool senders_flushed(void)
{
	for (uint32_t i = 0; i < o.senders && i < o.clients; i++)
		if (!gone(&cl[i]) && cl[i].out_len > cl[i].out_off)
			return false;
	return true;
}

static void tick(int64_t now)
{
	switch (phase) {
	case PH_CONNECT: {
		/* Ramp: at most o.ramp connections per second, and at most
		 * o.window still in setup, so the listen backlog never
		 * overflows (a dropped SYN costs a 1 s retransmit). */
		double allowed = o.ramp > 0 ? o.ramp * (double)(now - t_phase) / 1e9 + 1 : (double)o.clients;
		uint32_t in_setup = n_started - n_registered - n_failed;

		/* Retries already hold their window slot. */
		while (retry_len)
			start_connect(&cl[retry_stack[--retry_len]]);
		while (n_started < o.clients && n_started < allowed && in_setup < o.window) {
			start_connect(&cl[n_started++]);
			in_setup++;
		}
		if (n_registered + n_failed == o.clients) {
			t_reg_done = now;
			note("registered %u of %u (%u failed) in %.3f s", n_registered, o.clients, n_failed,
			     (double)(now - t_start) / 1e9);
			if (o.rooms == 0) {
				enter(PH_HOLD, now);
				break;
			}
			join_next = 0;
			enter(PH_JOIN, now);
		}
		break;
	}
	case PH_JOIN: {
		uint32_t outstanding = n_join_sent - n_joined - n_join_failed;

		while (join_next < o.clients && outstanding < o.join_window) {
			struct client *c = &cl[join_next++];

			if (c->state != C_REGISTERED)
				continue;
			c->state = C_JOINING;
			n_join_sent++;
			outstanding++;
			send_linef(c, "JOIN #%s%u", o.room_prefix, c->room);
		}
		if (join_next >= o.clients && n_joined + n_join_failed >= n_join_sent) {
			t_join_done = now;
			note("joined %u clients to %u rooms in %.3f s", n_joined, o.rooms,
			     (double)(now - t_reg_done) / 1e9);
			enter(o.mode == MODE_IDLE ? PH_HOLD : PH_SETTLE, now);
		}
		break;
	}
	case PH_SETTLE:
		/* Let the JOIN fan-out finish before the clock starts. */
		if (now - t_phase >= NS_PER_S / 2)
			begin_send(now);
		break;
	case PH_SEND: {
		double el = (double)(now - send_start) / 1e9;
		uint64_t due;

		if (el >= o.duration)
			el = o.duration;
		due = (uint64_t)(cur_rate * el);
		if (due > st.sent + 1) {
			int64_t lag = (int64_t)((double)(due - st.sent) / cur_rate * 1e9);

			if (lag > st.behind_max)
				st.behind_max = lag;
		}
		while (st.sent < due)
			send_one(now);
		if (el >= o.duration) {
			send_end = now;
			enter(PH_DRAIN, now);
		}
		break;
	}
	case PH_DRAIN:
		if (st.delivered >= st.expected || now - t_phase >= (int64_t)(o.drain * 1e9)) {
			srv_after = srv_sample();
			my_cpu_step = self_cpu_s() - my_cpu_before;
			step_wall_s = (double)(now - send_start) / 1e9;
			if (o.mode == MODE_MAX) {
				double secs = (double)(send_end - send_start) / 1e9;
				bool ok = st.delivered == st.expected &&
					  (double)hist_pct(&st.h, 99) / 1e6 <= o.p99_max_ms &&
					  (double)st.behind_max / 1e6 <= o.p99_max_ms;
				char tag[48];

				/* A step fails on one stall of a shared machine (every
				 * process descheduled for 100+ ms) as surely as on a
				 * saturated server: a failing rate is tried again, up
				 * to --step-tries times, before the search stops. */
				bool retry = !ok && ++step_try < o.step_tries;

				snprintf(tag, sizeof tag, "STEP %d %s", ++step_no, ok ? "ok  " : retry ? "FAIL (retrying)" : "FAIL");
				report_step(tag, cur_rate, secs);
				if (retry) {
					enter_quiet(now);
					break;
				}
				step_try = 0;
				if (ok) {
					best_rate = cur_rate;
					best_step = step_stats_now(cur_rate, secs);
				} else {
					fail_step = step_stats_now(cur_rate, secs);
				}
				if (ok && cur_rate * o.step <= o.rate_max) {
					cur_rate *= o.step;
					begin_send(now);
					break;
				}
			}
			enter(PH_DONE, now);
		}
		break;
	case PH_QUIET:
		if (now - quiet_mark >= QUIET_NS) {
			struct srv_sample s = srv_sample();
			bool idle = !s.ok || !quiet_cpu.ok || s.cpu_s - quiet_cpu.cpu_s < QUIET_CPU_S;

			if (idle && now - last_rx >= QUIET_NS && senders_flushed()) {
				begin_send(now);
				break;
			}
			quiet_mark = now;
			quiet_cpu = s;
		}
		if (now - t_phase >= QUIET_MAX_NS) {
			note("server not idle %.0f s after a failing step: search stopped", (double)QUIET_MAX_NS / 1e9);
			quiet_timeout = true;
			enter(PH_DONE, now);
		}
		break;
	case PH_HOLD:
		if (now - t_phase >= (int64_t)(o.hold * 1e9)) {
			srv_after = srv_sample();
			enter(PH_DONE, now);
		}
		break;
	case PH_DONE:
		break;
	}
}

/* ---------------------------------------------------------------- setup */

static void usage(void)
{
	puts("usage: loadgen [options] (--server HOST:PORT | --server ws://HOST:PORT/PATH)\n"
	     "  -S, --server ADDR      TCP host:port, or ws://host:port/path for WebSocket\n"
	     "  -m, --mode MODE        fanout (default) | idle | max\n"
	     "  -n, --clients N        connections (default 100)\n"
	     "  -r, --rooms R          rooms, joined round-robin (default 10; 0 = none)\n"
	     "  -s, --senders S        clients that post (first S clients; default 10)\n"
	     "  -R, --rate M           total messages/s, open loop (default 100)\n"
	     "  -d, --duration D       send phase seconds (default 10)\n"
	     "      --drain T          max seconds to wait for in-flight deliveries (default 5)\n"
	     "      --hold H           idle mode: seconds to hold connections (default 5)\n"
	     "      --size B           bytes per PRIVMSG line incl. CRLF (default 120)\n"
	     "      --addrs X          source addresses 127.0.0.1..127.0.0.X (default 8)\n"
	     "      --ramp C           connections started per second (default 2000; 0 = no limit)\n"
	     "      --window W         max connections in setup at once (default 128)\n"
	     "      --join-window W    max JOINs outstanding at once (default 200)\n"
	     "      --pass STR         send \"PASS STR\" before NICK/USER\n"
	     "      --nick-prefix P    nick = P<index> (default lg)\n"
	     "      --room-prefix P    room = #P<index> (default bench)\n"
	     "      --id-offset K      add K to nick indexes (several processes, one server)\n"
	     "      --server-pid PID   sample /proc/PID for CPU and RSS\n"
	     "      --oper NAME:PASS   senders become IRC operators and set +F (ngIRCd flood relief)\n"
	     "      --setup-timeout T  seconds allowed for connect+register+join (default 120)\n"
	     "      --p99-max MS       max mode: p99 bound per step (default 50)\n"
	     "      --step F           max mode: rate multiplier per step (default 1.5)\n"
	     "      --rate-max M       max mode: stop at this rate (default 1000000)\n"
	     "      --step-tries N     max mode: a failing rate is tried up to N times (default 3)\n"
	     "      --label STR        free text printed in the report header\n"
	     "  -q, --quiet            no progress notes on stderr");
}

static void parse_server(const char *s)
{
	const char *hp = s, *colon, *slash;
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *ai;
	size_t hl;

	if (!strncmp(s, "ws://", 5)) {
		o.ws = true;
		hp = s + 5;
	} else if (!strncmp(s, "wss://", 6)) {
		die("wss:// is not supported (benchmarks run on loopback)");
	}
	slash = strchr(hp, '/');
	snprintf(o.path, sizeof o.path, "%s", slash ? slash : "/");
	hl = slash ? (size_t)(slash - hp) : strlen(hp);
	snprintf(o.hostport, sizeof o.hostport, "%.*s", (int)hl, hp);
	colon = memrchr(hp, ':', hl);
	if (!colon)
		die("server address needs a port: %s", s);
	snprintf(o.host, sizeof o.host, "%.*s", (int)(colon - hp), hp);
	o.port = (uint16_t)atoi(colon + 1);
	if (!o.port)
		die("bad port in %s", s);
	if (getaddrinfo(o.host, NULL, &hints, &ai) || !ai)
		die("cannot resolve %s", o.host);
	memcpy(&dst, ai->ai_addr, sizeof dst);
	freeaddrinfo(ai);
	dst.sin_port = htons(o.port);
	dst_loopback = (ntohl(dst.sin_addr.s_addr) >> 24) == 127;
}

static void on_signal(int sig)
{
	(void)sig;
	interrupted = true;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "server", 1, 0, 'S' },      { "mode", 1, 0, 'm' },       { "clients", 1, 0, 'n' },
		{ "rooms", 1, 0, 'r' },       { "senders", 1, 0, 's' },    { "rate", 1, 0, 'R' },
		{ "duration", 1, 0, 'd' },    { "drain", 1, 0, 1 },        { "hold", 1, 0, 2 },
		{ "size", 1, 0, 3 },          { "addrs", 1, 0, 4 },        { "ramp", 1, 0, 5 },
		{ "window", 1, 0, 6 },        { "join-window", 1, 0, 7 },  { "pass", 1, 0, 8 },
		{ "nick-prefix", 1, 0, 9 },   { "room-prefix", 1, 0, 10 }, { "id-offset", 1, 0, 11 },
		{ "server-pid", 1, 0, 12 },   { "oper", 1, 0, 13 },        { "setup-timeout", 1, 0, 14 },
		{ "p99-max", 1, 0, 15 },      { "step", 1, 0, 16 },        { "rate-max", 1, 0, 17 },      { "step-tries", 1, 0, 19 },
		{ "label", 1, 0, 18 },        { "quiet", 0, 0, 'q' },      { "help", 0, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct epoll_event evs[1024];
	struct itimerspec its = { .it_interval = { 0, TICK_NS }, .it_value = { 0, TICK_NS } };
	struct epoll_event tev = { .events = EPOLLIN, .data.u32 = UINT32_MAX };
	struct rlimit rl;
	const char *server = NULL;
	int opt, rc = 0;
	bool rooms_given = false;

	o = (struct opts){ .clients = 100, .rooms = 10, .senders = 10, .rate = 100, .duration = 10, .drain = 5,
			   .hold = 5, .size = 120, .addrs = 8, .ramp = 2000, .window = 128, .join_window = 200,
			   .nick_prefix = "lg", .room_prefix = "bench", .setup_timeout = 120, .p99_max_ms = 50,
			   .step = 1.5, .rate_max = 1e6, .step_tries = 3, .mode = MODE_FANOUT };
	while ((opt = getopt_long(argc, argv, "S:m:n:r:s:R:d:qh", lo, NULL)) != -1) {
		switch (opt) {
		case 'S': server = optarg; break;
		case 'm':
			if (!strcmp(optarg, "fanout"))
				o.mode = MODE_FANOUT;
			else if (!strcmp(optarg, "idle"))
				o.mode = MODE_IDLE;
			else if (!strcmp(optarg, "max"))
				o.mode = MODE_MAX;
			else
				die("unknown mode %s", optarg);
			break;
		case 'n': o.clients = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r':
			o.rooms = (uint32_t)strtoul(optarg, NULL, 10);
			rooms_given = true;
			break;
		case 's': o.senders = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'R': o.rate = atof(optarg); break;
		case 'd': o.duration = atof(optarg); break;
		case 1: o.drain = atof(optarg); break;
		case 2: o.hold = atof(optarg); break;
		case 3: o.size = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 4: o.addrs = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 5: o.ramp = atof(optarg); break;
		case 6: o.window = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 7: o.join_window = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 8: o.pass = optarg; break;
		case 9: o.nick_prefix = optarg; break;
		case 10: o.room_prefix = optarg; break;
		case 11: o.id_offset = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 12: o.server_pid = (pid_t)atoi(optarg); break;
		case 13: o.oper = optarg; break;
		case 14: o.setup_timeout = atof(optarg); break;
		case 15: o.p99_max_ms = atof(optarg); break;
		case 16: o.step = atof(optarg); break;
		case 17: o.rate_max = atof(optarg); break;
		case 19: o.step_tries = (uint32_t)atoi(optarg); break;
		case 18: o.label = optarg; break;
		case 'q': o.quiet = true; break;
		case 'h': usage(); return 0;
		default: usage(); return 2;
		}
	}
	if (!server)
		die("--server is required (see --help)");
	parse_server(server);
	if (!o.clients)
		die("--clients must be > 0");
	/* Idle mode joins nothing unless asked, and at most one room. */
	if (o.mode == MODE_IDLE)
		o.rooms = rooms_given && o.rooms ? 1 : 0;
	if (o.mode != MODE_IDLE) {
		if (!o.rooms)
			die("fanout and max modes need --rooms >= 1");
		if (!o.senders || o.senders > o.clients)
			die("--senders must be in 1..clients");
		if (o.rate <= 0 || o.duration <= 0)
			die("--rate and --duration must be > 0");
	}
	if (o.oper && !strchr(o.oper, ':'))
		die("--oper wants NAME:PASS");
	if (o.size > 900)
		o.size = 900;
	if (!o.window)
		o.window = 1;
	if (!o.join_window)
		o.join_window = 1;

	/* The hard limit here is 20,000 and cannot be raised; take all of it. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	if ((uint64_t)o.clients + 16 > (uint64_t)rl.rlim_cur)
		die("%u clients need more than the fd limit %llu: run several loadgen processes "
		    "(--id-offset) with fewer clients each",
		    o.clients, (unsigned long long)rl.rlim_cur);

	o.run_id = ((uint64_t)getpid() << 20 ^ (uint64_t)now_ns()) % 1000000000000ULL;
	snprintf(rid_text, sizeof rid_text, "%0*" PRIu64, RID_DIGITS, o.run_id);
	rng_state = o.run_id * 0x9E3779B97F4A7C15ULL | 1;
	cl = calloc(o.clients, sizeof *cl);
	room_members = calloc(o.rooms ? o.rooms : 1, sizeof *room_members);
	retry_stack = calloc(o.clients, sizeof *retry_stack);
	if (!cl || !room_members || !retry_stack)
		die("out of memory");
	for (uint32_t i = 0; i < o.clients; i++) {
		cl[i].fd = -1;
		cl[i].idx = i;
		cl[i].room = o.rooms ? i % o.rooms : 0;
		cl[i].is_sender = o.mode != MODE_IDLE && i < o.senders;
	}
	cur_rate = o.rate;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep < 0 || tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) < 0)
		die("epoll/timerfd setup: %s", strerror(errno));

	srv_base = srv_sample();
	t_start = now_ns();
	enter(PH_CONNECT, t_start);
	/* Every phase is bounded, so a run always ends by itself. */
	t_deadline = t_start + (int64_t)((o.setup_timeout + o.hold + o.drain + 5) * 1e9);
	if (o.mode == MODE_FANOUT)
		t_deadline += (int64_t)(o.duration * 1e9);
	else if (o.mode == MODE_MAX)
		t_deadline += (int64_t)((o.duration + o.drain + 1) * 1e9 * (o.step_tries ? o.step_tries : 1) *
					(1 + ceil(log(o.rate_max / o.rate) / log(o.step > 1.01 ? o.step : 1.01)))) +
			      (int64_t)(o.step_tries ? o.step_tries : 1) * QUIET_MAX_NS;
	note("loadgen %s: %u clients -> %s %s:%u, run id %" PRIu64, o.mode == MODE_IDLE ? "idle" : "fanout", o.clients,
	     o.ws ? "ws" : "tcp", o.host, o.port, o.run_id);

	while (phase != PH_DONE) {
		int n = epoll_wait(ep, evs, 1024, 100);
		int64_t now, t_loop = now_ns();

		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			struct client *c;

			if (evs[i].data.u32 == UINT32_MAX) {
				uint64_t exp;

				if (read(tfd, &exp, sizeof exp) < 0 && errno != EAGAIN)
					die("timerfd read: %s", strerror(errno));
				continue;
			}
			c = &cl[evs[i].data.u32];
			/* C_NEW: closed earlier in this batch, waiting to retry. */
			if (c->state == C_CLOSED || c->state == C_NEW)
				continue;
			if (c->state == C_CONNECTING) {
				on_connected(c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(c);
			if (!gone(c) && (evs[i].events & EPOLLOUT))
				flush_out(c);
		}
		now = now_ns();
		/* How long one batch of events kept the timer waiting: tells
		 * a slow load generator apart from a slow server. */
		if (now - t_loop > st.gap_max)
			st.gap_max = now - t_loop;
		tick(now);
		if (interrupted) {
			fprintf(stderr, "loadgen: interrupted\n");
			rc = 1;
			break;
		}
		if (phase != PH_DONE && now > t_deadline) {
			fprintf(stderr, "loadgen: deadline reached in phase %d, reporting what was measured\n", phase);
			rc = 1;
			break;
		}
		if ((phase == PH_CONNECT || phase == PH_JOIN) &&
		    now - t_start > (int64_t)(o.setup_timeout * 1e9)) {
			fprintf(stderr, "loadgen: setup timeout (%u registered, %u joined)\n", n_registered, n_joined);
			rc = 1;
			break;
		}
	}
	if (phase != PH_DONE) {
		if (phase == PH_SEND)
			send_end = now_ns();
		if (!srv_after.ok) {
			srv_after = srv_sample();
			my_cpu_step = self_cpu_s() - my_cpu_before;
			step_wall_s = send_start ? (double)(now_ns() - send_start) / 1e9 : 0;
		}
	}
	enter(PH_DONE, now_ns());
	final_report();
	if (o.mode == MODE_FANOUT && st.expected != st.delivered)
		rc = rc ? rc : 3;
	return rc;
}
