#include "core/fanout.h"

#include <stdio.h>
#include <string.h>

#include "core/user.h"
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

void fanout_init(struct fanout *f, const struct event *ev)
{
    memset(f, 0, sizeof *f);
    f->ev = ev;
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

void fanout_to(struct fanout *f, struct user *u)
{
    struct outq *q = u->out;
    if (q->is_sendq_exceeded || q->is_closing)
        return;
    unsigned tags = tags_for(u);
    struct msgbuf **slot = &f->enc[tags][q->framing];
    if (!*slot) {
        /* 4096 bytes of tags + 512 of message, as IRCv3 allows a server. */
        char line[4096 + 512];
        size_t len = formatter(line, sizeof line, f->ev, tags);
        if (len == 0)
            return;
        *slot = wire_frame((enum wire_framing)q->framing, line, len);
    }
    outq_push(q, *slot);
    f->deliveries++;
}

void fanout_done(struct fanout *f)
{
    for (int t = 0; t < FANOUT_TAG_VARIANTS; t++)
        for (int w = 0; w < WIRE_FRAMINGS; w++)
            msgbuf_unref(f->enc[t][w]);
}

void fanout_one(struct user *u, const struct event *ev)
{
    struct fanout f;
    fanout_init(&f, ev);
    fanout_to(&f, u);
    fanout_done(&f);
}
