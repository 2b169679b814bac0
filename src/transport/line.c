#include "transport/line.h"

#include <stdlib.h>
#include <string.h>

#include "irc/irc.h"
#include "lib/alloc.h"

struct line_state {
    struct irc_client *client;
    bool is_discarding;     /* inside an over-long line: drop to its end */
};

enum sl_err line_open(struct conn *c)
{
    char addr[64];
    conn_addr_text(c, addr, sizeof addr);
    struct irc_client *client = irc_client_new(&c->out, c->addr, addr, IRC_TRANSPORT_TCP);
    if (!client)
        return SL_EDENIED;
    struct line_state *st = xcalloc(1, sizeof *st);
    st->client = client;
    c->proto = st;
    return SL_OK;
}

static char *find_eol(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == '\n' || p[i] == '\r')
            return p + i;
    return NULL;
}

static enum sl_err line_input(struct conn *c)
{
    struct line_state *st = c->proto;
    size_t used = 0;
    enum sl_err err = SL_OK;

    while (used < c->in.len) {
        char *start = c->in.data + used;
        size_t avail = c->in.len - used;
        char *eol = find_eol(start, avail);
        if (st->is_discarding) {
            if (!eol) {
                used = c->in.len;
                break;
            }
            st->is_discarding = false;
            used += (size_t)(eol - start) + 1;
            continue;
        }
        if (!eol) {
            if (avail > IRC_LINE_MAX) {
                /* Too long and still going: let irc/ answer 417 once, then
                 * drop the rest of the line as it arrives. */
                err = irc_client_line(st->client, start, IRC_LINE_MAX + 1);
                if (err == SL_EAGAIN)
                    break;
                st->is_discarding = true;
                used = c->in.len;
                if (err)
                    break;
            }
            break;
        }
        size_t len = (size_t)(eol - start);
        if (len > 0) {
            err = irc_client_line(st->client, start, len);
            if (err == SL_EAGAIN)
                break;
        }
        used += len + 1;
        if (err)
            break;
    }
    buf_consume(&c->in, used);
    if (err == SL_EAGAIN)
        c->throttle_ms = (int32_t)irc_client_throttle_ms(st->client);
    return err;
}

static void line_farewell(struct conn *c, const char *reason)
{
    struct line_state *st = c->proto;
    if (st)
        irc_client_farewell(st->client, reason);
}

static void line_closed(struct conn *c, const char *reason)
{
    struct line_state *st = c->proto;
    if (st) {
        irc_client_free(st->client, reason);
        free(st);
        c->proto = NULL;
    }
}

const struct conn_ops line_conn_ops = {
    .input = line_input,
    .farewell = line_farewell,
    .closed = line_closed,
};
