#include "core/fanout.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/user.h"
#include "lib/alloc.h"
#include "lib/outq.h"

static fanout_format_fn *formatter;
static char server_name[64] = "salon";

void fanout_set_server_name(const char *name)
{
    snprintf(server_name, sizeof server_name, "%s", name);
}

const char *fanout_server_name(void)
{
    return server_name;
}

void fanout_set_formatter(fanout_format_fn *fn)
{
    formatter = fn;
}

/* The buffers of this turn: one per (room, encoding) that spoke, found by
 * an open-addressing index of (room, variant), emptied by fanout_end_turn.
 * A buffer starts at about 1 KiB (small enough for malloc's per-thread
 * cache: a room that says one thing per turn, the common case, costs no
 * more than a msgbuf of its own) and the next one of the same turn
 * doubles, up to TURN_BUF_MAX, so its unused tail stays under half of what
 * the room said. A queue that keeps bytes past the turn copies them out when
 * they pin more than twice their size (outq_flush), so a slow reader never
 * holds a whole buffer for its few lines. */
#define TURN_BUF_MIN (1024 - sizeof(struct msgbuf))   /* glibc's per-thread cache */
#define TURN_BUF_MAX 65536

struct turn_buf {
    const void *room;
    uint32_t variant;
    uint32_t used;
    struct msgbuf *mb;
};

static struct turn_buf *turn_bufs;
static uint32_t nturn_bufs, turn_bufs_cap;
static uint32_t *turn_slots;            /* index + 1, 0: empty */
static uint32_t nturn_slots;            /* a power of two, >= 2 x cap */

static uint32_t turn_hash(const void *room, uint32_t variant)
{
    uint64_t h = (uint64_t)(uintptr_t)room * 0x9E3779B97F4A7C15ull + variant;
    return (uint32_t)(h >> 32);
}

static void turn_index(uint32_t i)
{
    uint32_t mask = nturn_slots - 1;
    uint32_t s = turn_hash(turn_bufs[i].room, turn_bufs[i].variant) & mask;
    while (turn_slots[s])
        s = (s + 1) & mask;
    turn_slots[s] = i + 1;
}

static struct turn_buf *turn_buf(const void *room, uint32_t variant)
{
    if (nturn_slots) {
        uint32_t mask = nturn_slots - 1;
        for (uint32_t s = turn_hash(room, variant) & mask; turn_slots[s]; s = (s + 1) & mask) {
            struct turn_buf *b = &turn_bufs[turn_slots[s] - 1];
            if (b->room == room && b->variant == variant)
                return b;
        }
    }
    if (nturn_bufs == turn_bufs_cap) {
        turn_bufs_cap = turn_bufs_cap ? turn_bufs_cap * 2 : 64;
        turn_bufs = xrealloc(turn_bufs, turn_bufs_cap * sizeof *turn_bufs);
        free(turn_slots);
        nturn_slots = turn_bufs_cap * 2;
        turn_slots = xcalloc(nturn_slots, sizeof *turn_slots);
        for (uint32_t i = 0; i < nturn_bufs; i++)
            turn_index(i);
    }
    struct turn_buf *b = &turn_bufs[nturn_bufs];
    *b = (struct turn_buf){.room = room, .variant = variant};
    turn_index(nturn_bufs++);
    return b;
}

void fanout_end_turn(void)
{
    if (!nturn_bufs)
        return;
    for (uint32_t i = 0; i < nturn_bufs; i++)
        msgbuf_unref(turn_bufs[i].mb);
    nturn_bufs = 0;
    memset(turn_slots, 0, nturn_slots * sizeof *turn_slots);
}

void fanout_init(struct fanout *f, const struct event *ev)
{
    memset(f, 0, sizeof *f);
    f->ev = ev;
}

void fanout_init_room(struct fanout *f, const struct event *ev, const void *room)
{
    fanout_init(f, ev);
    f->room = room;
}

static unsigned tags_for(const struct user *u)
{
    unsigned t = 0;
    if (u->wants & USER_WANTS_TIME)
        t |= FANOUT_TAG_TIME;
    if (u->wants & USER_WANTS_TAGS)
        t |= FANOUT_TAG_MSG;
    if (u->wants & USER_WANTS_EXTENDED_JOIN)
        t |= FANOUT_EXTENDED_JOIN;
    return t;
}

/* Frames line into the room's buffer of this turn for its encoding. */
static void encode_in_turn(struct fanout_enc *enc, const void *room, uint32_t variant,
                           enum wire_framing framing, const char *line, size_t len)
{
    size_t need = wire_frame_size(framing, len);
    struct turn_buf *b = turn_buf(room, variant);
    if (!b->mb || b->used + need > b->mb->len) {
        size_t cap = b->mb ? (size_t)b->mb->len * 2 : TURN_BUF_MIN;
        if (cap > TURN_BUF_MAX)
            cap = TURN_BUF_MAX;
        if (cap < need)
            cap = need;
        msgbuf_unref(b->mb);
        b->mb = msgbuf_new(cap);
        b->used = 0;
    }
    enc->mb = msgbuf_ref(b->mb);
    enc->off = b->used;
    enc->len = (uint32_t)wire_frame_into(framing, line, len, b->mb->data + b->used);
    b->used += enc->len;
}

void fanout_to(struct fanout *f, struct user *u)
{
    struct outq *q = u->out;
    if (q->is_sendq_exceeded || q->is_closing)
        return;
    unsigned tags = tags_for(u);
    struct fanout_enc *enc = &f->enc[tags][q->framing];
    if (!enc->mb) {
        /* 4096 bytes of tags + 512 of message, as IRCv3 allows a server. */
        char line[4096 + 512];
        size_t len = formatter(line, sizeof line, f->ev, tags);
        if (len == 0)
            return;
        enum wire_framing framing = (enum wire_framing)q->framing;
        if (f->room) {
            encode_in_turn(enc, f->room, tags * WIRE_FRAMINGS + framing, framing, line, len);
        } else {
            enc->mb = wire_frame(framing, line, len);
            enc->off = 0;
            enc->len = enc->mb->len;
        }
    }
    outq_push_range(q, enc->mb, enc->off, enc->len);
    f->deliveries++;
}

void fanout_done(struct fanout *f)
{
    for (int t = 0; t < FANOUT_TAG_VARIANTS; t++)
        for (int w = 0; w < WIRE_FRAMINGS; w++)
            msgbuf_unref(f->enc[t][w].mb);
}

void fanout_one(struct user *u, const struct event *ev)
{
    struct fanout f;
    fanout_init(&f, ev);
    fanout_to(&f, u);
    fanout_done(&f);
}
