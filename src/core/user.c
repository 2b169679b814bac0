#include "core/user.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fanout.h"
#include "core/room.h"
#include "core/session.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/strmap.h"
#include "lib/utf8.h"

static struct strmap users_by_nick;     /* registered users, folded nick */
static uint32_t peer_generation;

struct user *user_new(struct outq *out, const char *session)
{
    struct user *u = xcalloc(1, sizeof *u);
    u->out = out;
    snprintf(u->session, sizeof u->session, "%s", session);
    /* Others see this cloak, never the address: a short, stable tag of the
     * session so that room operators can still ban a session by mask. */
    snprintf(u->host, sizeof u->host, "%.8s.salon", session);
    snprintf(u->nick, sizeof u->nick, "*");
    u->signon_ms = clock_wall_ms();
    u->idle_since_ms = u->signon_ms;
    return u;
}

void user_free(struct user *u)
{
    if (!u)
        return;
    free(u->realname);
    free(u->away);
    free(u->rooms);
    free(u);
}

bool user_nick_valid(const char *nick)
{
    size_t n = strlen(nick);
    if (n == 0 || n > NICK_MAX)
        return false;
    if ((nick[0] >= '0' && nick[0] <= '9') || nick[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = nick[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || strchr("[]\\`_^{|}-", c);
        if (!ok)
            return false;
    }
    return true;
}

struct user *user_find(const char *nick)
{
    return strmap_get(&users_by_nick, nick);
}

const char *user_mask(const struct user *u, char *out)
{
    snprintf(out, USER_MASK_MAX, "%s!%s@%s", u->nick, u->ident[0] ? u->ident : "~u", u->host);
    return out;
}

void user_for_each_peer(struct user *u, user_peer_fn *fn, void *ud)
{
    uint32_t gen = ++peer_generation;
    u->mark = gen;
    for (uint16_t i = 0; i < u->nrooms; i++) {
        struct room *r = u->rooms[i].room;
        for (uint32_t k = 0; k < r->nmembers; k++) {
            struct user *p = r->members[k];
            if (p->mark != gen) {
                p->mark = gen;
                fn(p, ud);
            }
        }
    }
}

struct peer_send {
    struct fanout *f;
    uint8_t need;       /* USER_WANTS_* a peer must have, 0: everyone */
};

static void send_to_peer(struct user *peer, void *ud)
{
    struct peer_send *ps = ud;
    if (!ps->need || (peer->wants & ps->need))
        fanout_to(ps->f, peer);
}

static void broadcast_to_peers(struct user *u, const struct event *ev, uint8_t need,
                               bool include_self)
{
    struct fanout f;
    fanout_init(&f, ev);
    struct peer_send ps = {&f, need};
    user_for_each_peer(u, send_to_peer, &ps);
    if (include_self)
        fanout_to(&f, u);
    fanout_done(&f);
}

enum sl_err user_set_nick(struct user *u, const char *nick)
{
    struct user *holder = user_find(nick);
    if (holder && holder != u)
        return SL_EEXIST;
    if (!u->is_registered) {
        snprintf(u->nick, sizeof u->nick, "%s", nick);
        return SL_OK;
    }
    if (strcmp(u->nick, nick) == 0)
        return SL_OK;
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask,
                       .command = "NICK", .params = {nick}, .nparams = 1};
    broadcast_to_peers(u, &ev, 0, true);
    strmap_del(&users_by_nick, u->nick);
    snprintf(u->nick, sizeof u->nick, "%s", nick);
    strmap_put(&users_by_nick, u->nick, u);
    if (u->sess)
        session_note_nick(u->sess, u->nick, clock_wall_ms());
    return SL_OK;
}

void user_register(struct user *u)
{
    assert(!user_find(u->nick) || user_find(u->nick) == u);
    u->is_registered = true;
    strmap_put(&users_by_nick, u->nick, u);
    if (u->sess)
        session_note_nick(u->sess, u->nick, clock_wall_ms());
}

void user_set_away(struct user *u, const char *text)
{
    free(u->away);
    u->away = text ? xstrndup(text, utf8_truncate(text, strlen(text), AWAY_MAX)) : NULL;
    char mask[USER_MASK_MAX];
    user_mask(u, mask);
    struct event ev = {.time_ms = clock_wall_ms(), .source = mask, .command = "AWAY",
                       .params = {u->away}, .nparams = u->away ? 1 : 0};
    broadcast_to_peers(u, &ev, USER_WANTS_AWAY_NOTIFY, false);
}

void user_quit(struct user *u, const char *reason)
{
    if (u->is_registered && u->nrooms > 0) {
        char mask[USER_MASK_MAX];
        user_mask(u, mask);
        struct event ev = {.time_ms = clock_wall_ms(), .source = mask,
                           .command = "QUIT", .params = {reason}, .nparams = 1};
        broadcast_to_peers(u, &ev, 0, false);
    }
    while (u->nrooms > 0) {
        struct room *r = u->rooms[u->nrooms - 1].room;
        room_remove_member(r, u);
        room_maybe_destroy(r);
    }
    if (u->is_registered && user_find(u->nick) == u)
        strmap_del(&users_by_nick, u->nick);
    u->is_registered = false;
}

size_t user_count(void)
{
    return users_by_nick.len;
}

struct user *user_next(size_t *pos)
{
    return strmap_next(&users_by_nick, pos);
}

struct user *user_find_session(const char *session)
{
    size_t pos = 0;
    for (struct user *u; (u = user_next(&pos)) != NULL;)
        if (strcmp(u->session, session) == 0)
            return u;
    return NULL;
}
