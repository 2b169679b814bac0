#ifndef SALON_CORE_FANOUT_H
#define SALON_CORE_FANOUT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/msgbuf.h"
#include "lib/wire.h"

struct user;

/* Something that happened, as its recipients will see it. The chat model is
 * IRC-shaped (source, verb, parameters), but core does not format wire
 * lines: irc/ registers a formatter at start-up (main.c), so core never
 * includes an irc/ header. */
#define EVENT_PARAMS_MAX 4
struct event {
    const char *msgid;          /* NULL: none */
    int64_t time_ms;            /* wall clock */
    const char *client_tags;    /* escaped "+a=b;+c", or NULL */
    const char *batch;          /* batch reference tag, or NULL */
    const char *source;         /* "nick!user@host" or the server name */
    const char *command;
    const char *params[EVENT_PARAMS_MAX];
    size_t nparams;
    const char *realname;       /* JOIN: the profile line, for extended-join */
};

/* Which tags a recipient gets, from its negotiated capabilities. */
enum {
    FANOUT_TAG_TIME = 1,        /* server-time */
    FANOUT_TAG_MSG = 2,         /* message-tags: msgid, client-only tags */
    FANOUT_EXTENDED_JOIN = 4,   /* extended-join: JOIN carries the profile */
    FANOUT_TAG_VARIANTS = 8,
};

/* Writes the line for ev with the tag set `tags` (FANOUT_TAG_*) into out,
 * without CRLF; returns its length, 0 when it does not fit. */
typedef size_t fanout_format_fn(char *out, size_t cap, const struct event *ev,
                                unsigned tags);
void fanout_set_formatter(fanout_format_fn *fn);
/* The server's name, as the source of server notices from core. */
void fanout_set_server_name(const char *name);
const char *fanout_server_name(void);

/* One delivery round: each distinct (tag set, framing) encoding of ev is
 * built once, on first need, and shared by reference with every recipient.
 * Usage: fanout_init (or fanout_init_room), fanout_to(...) per recipient,
 * fanout_done. */
struct fanout_enc {
    struct msgbuf *mb;          /* NULL until first needed */
    uint32_t off, len;          /* the encoding's bytes in mb */
};

struct fanout {
    const struct event *ev;
    const void *room;           /* fanout_init_room's key, or NULL */
    struct fanout_enc enc[FANOUT_TAG_VARIANTS][WIRE_FRAMINGS];
    uint32_t deliveries;
};

void fanout_init(struct fanout *f, const struct event *ev);
/* fanout_init for an event said in a room (`room` is any pointer that names
 * it). Its encodings are written end to end after the room's earlier ones
 * of this loop turn, one buffer per encoding, so a member who gets several
 * of the room's messages in one turn has them in one range of its queue
 * (lib/outq.h): one iovec, and one run for the kernel to copy. */
void fanout_init_room(struct fanout *f, const struct event *ev, const void *room);
/* Queues the event for u (skips users whose connection is closing). */
void fanout_to(struct fanout *f, struct user *u);
/* Releases the encodings (recipients keep their own references). */
void fanout_done(struct fanout *f);
/* Ends the loop turn: rooms' next messages start new buffers. Called before
 * the loop sleeps, once the queues have been flushed. */
void fanout_end_turn(void);

/* Convenience: one event to one user. */
void fanout_one(struct user *u, const struct event *ev);

#endif
