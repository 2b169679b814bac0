#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/fanout.h"
#include "core/history.h"
#include "core/room.h"
#include "core/user.h"
#include "irc/client.h"
#include "lib/alloc.h"
#include "lib/casemap.h"
#include "lib/clock.h"

/* IRCv3 draft/chathistory. Replies come in a "chathistory" batch; the
 * newest messages of a room come from memory, everything else from
 * storage, asynchronously (the client is held until the answer arrives). */

struct request {
    struct irc_client *c;
    char target[ROOM_NAME_MAX + NICK_MAX + 2];  /* as the client named it */
    bool is_targets;
    int64_t from_ms, to_ms;                     /* TARGETS: the time range */
    size_t limit;
};

static void batch_ref(char *out, size_t cap)
{
    static unsigned counter;
    snprintf(out, cap, "h%u", ++counter);
}

static void batch_open(struct irc_client *c, char *ref, size_t cap, const char *type,
                       const char *target)
{
    ref[0] = '\0';
    if (!(c->caps & CAP_BATCH))
        return;
    batch_ref(ref, cap);
    if (target)
        irc_send(c, ":%s BATCH +%s %s %s", irc_cfg.server_name, ref, type, target);
    else
        irc_send(c, ":%s BATCH +%s %s", irc_cfg.server_name, ref, type);
}

static void batch_close(struct irc_client *c, const char *ref)
{
    if (ref[0])
        irc_send(c, ":%s BATCH -%s", irc_cfg.server_name, ref);
}

struct target_row {
    char name[ROOM_NAME_MAX + NICK_MAX + 2];
    int64_t time_ms;
};

static int newest_first(const void *a, const void *b)
{
    const struct target_row *x = a, *y = b;
    return (x->time_ms < y->time_ms) - (x->time_ms > y->time_ms);
}

/* TARGETS: private conversations come from storage; the rooms the client
 * is in come from memory (their newest message). Merged newest first. */
static void send_targets(struct irc_client *c, const struct request *rq,
                         const struct store_result *res)
{
    struct user *u = c->user;
    size_t cap = res->count + u->nrooms, n = 0;
    struct target_row *rows = xcalloc(cap ? cap : 1, sizeof *rows);
    int64_t lo = rq->from_ms < rq->to_ms ? rq->from_ms : rq->to_ms;
    int64_t hi = rq->from_ms < rq->to_ms ? rq->to_ms : rq->from_ms;
    for (size_t i = 0; i < res->count; i++) {
        snprintf(rows[n].name, sizeof rows[n].name, "%s", res->msgs[i].target);
        rows[n++].time_ms = res->msgs[i].time_ms;
    }
    for (uint16_t i = 0; i < u->nrooms; i++) {
        struct room *r = u->rooms[i].room;
        int64_t t = history_last_time(r->history);
        if (t > lo && t < hi) {
            snprintf(rows[n].name, sizeof rows[n].name, "%s", r->name);
            rows[n++].time_ms = t;
        }
    }
    qsort(rows, n, sizeof *rows, newest_first);
    if (n > rq->limit)
        n = rq->limit;
    char ref[16], when[CLOCK_ISO_LEN + 1];
    batch_open(c, ref, sizeof ref, "draft/chathistory-targets", NULL);
    for (size_t i = 0; i < n; i++) {
        clock_iso8601(rows[i].time_ms, when);
        if (ref[0])
            irc_send(c, "@batch=%s :%s CHATHISTORY TARGETS %s %s", ref, irc_cfg.server_name,
                     rows[i].name, when);
        else
            irc_send(c, ":%s CHATHISTORY TARGETS %s %s", irc_cfg.server_name, rows[i].name,
                     when);
    }
    batch_close(c, ref);
    free(rows);
}

static void fail(struct irc_client *c, const char *code, const char *sub,
                 const char *target, const char *text)
{
    irc_send(c, ":%s FAIL CHATHISTORY %s %s%s%s :%s", irc_cfg.server_name, code, sub,
             target ? " " : "", target ? target : "", text);
}


struct replay {
    struct irc_client *c;
    const char *batch;
};

static void replay_one(const struct store_msg *sm, void *ud)
{
    struct replay *rp = ud;
    struct event ev = {.msgid = sm->msgid, .time_ms = sm->time_ms, .batch = rp->batch,
                       .source = sm->source, .command = sm->command,
                       .params = {sm->target, sm->text}, .nparams = 2};
    fanout_one(rp->c->user, &ev);
}

static void query_done(const struct store_result *res, void *ud)
{
    struct request *rq = ud;
    struct irc_client *c = rq->c;
    if (!c->is_gone) {
        if (res->err == SL_ENOTFOUND) {
            fail(c, "INVALID_MSGREFID", "*", rq->target, "Unknown message reference");
        } else if (res->err) {
            fail(c, "MESSAGE_ERROR", "*", rq->target, "History is unavailable right now");
        } else if (rq->is_targets) {
            send_targets(c, rq, res);
        } else {
            char ref[16];
            batch_open(c, ref, sizeof ref, "chathistory", rq->target);
            struct replay rp = {c, ref[0] ? ref : NULL};
            for (size_t i = 0; i < res->count; i++)
                replay_one(&res->msgs[i], &rp);
            batch_close(c, ref);
        }
    }
    irc_client_release(c);
    free(rq);
}

/* "msgid=X" | "timestamp=T" | "*" into a bound; false when malformed. */
static bool parse_bound(const char *s, struct store_bound *b, bool star_ok)
{
    b->msgid = NULL;
    b->time_ms = -1;
    if (strcmp(s, "*") == 0)
        return star_ok;
    if (strncmp(s, "msgid=", 6) == 0 && s[6]) {
        b->msgid = s + 6;
        return true;
    }
    if (strncmp(s, "timestamp=", 10) == 0) {
        b->time_ms = clock_parse_iso8601(s + 10);
        return b->time_ms >= 0;
    }
    return false;
}

/* The history key of target as seen by c, or false when c may not read
 * it. A room's history is for its current members (so the history of an
 * emptied +i room does not become readable by whoever guesses its name);
 * a private conversation is only ever readable by its two parties. */
static bool target_key(struct irc_client *c, const char *target, char *key, size_t cap,
                       struct room **room)
{
    *room = NULL;
    if (target[0] == '#') {
        struct room *r = room_find(target);
        if (!r || room_member_modes(r, c->user) < 0)
            return false;
        casemap_fold(key, r->name, cap);
        *room = r;
        return true;
    }
    struct user *peer = user_find(target);
    if (!peer)
        return false;
    history_private_key(key, c->user->session, peer->session);
    return true;
}

enum sl_err cmd_chathistory(struct irc_client *c, struct irc_msg *m)
{
    const char *sub = m->params[0];
    struct store_query q = {0};
    size_t need;
    if (strcasecmp(sub, "TARGETS") == 0) {
        q.dir = STORE_TARGETS;
        need = 4;
    } else if (strcasecmp(sub, "BETWEEN") == 0) {
        q.dir = STORE_BETWEEN;
        need = 5;
    } else {
        need = 4;
        if (strcasecmp(sub, "LATEST") == 0)
            q.dir = STORE_LATEST;
        else if (strcasecmp(sub, "BEFORE") == 0)
            q.dir = STORE_BEFORE;
        else if (strcasecmp(sub, "AFTER") == 0)
            q.dir = STORE_AFTER;
        else if (strcasecmp(sub, "AROUND") == 0)
            q.dir = STORE_AROUND;
        else {
            fail(c, "INVALID_PARAMS", sub, NULL, "Unknown subcommand");
            return SL_OK;
        }
    }
    if (m->nparams < need) {
        fail(c, "INVALID_PARAMS", sub, NULL, "Not enough parameters");
        return SL_OK;
    }
    char *end = NULL;
    long limit = strtol(m->params[need - 1], &end, 10);
    if (*end || limit <= 0) {
        fail(c, "INVALID_PARAMS", sub, NULL, "Invalid limit");
        return SL_OK;
    }
    if (limit > (long)irc_cfg.chathistory_max)
        limit = (long)irc_cfg.chathistory_max;
    q.limit = (size_t)limit;

    struct request *rq = xcalloc(1, sizeof *rq);
    rq->c = c;
    char key[HISTORY_KEY_MAX];
    if (q.dir == STORE_TARGETS) {
        if (!parse_bound(m->params[1], &q.a, false) || !parse_bound(m->params[2], &q.b, false) ||
            q.a.msgid || q.b.msgid) {
            fail(c, "INVALID_PARAMS", sub, NULL, "TARGETS takes two timestamps");
            free(rq);
            return SL_OK;
        }
        rq->is_targets = true;
        rq->from_ms = q.a.time_ms;
        rq->to_ms = q.b.time_ms;
        rq->limit = q.limit;
        q.party = c->user->session;
    } else {
        const char *target = m->params[1];
        struct room *room;
        snprintf(rq->target, sizeof rq->target, "%s", target);
        if (!target_key(c, target, key, sizeof key, &room)) {
            fail(c, "INVALID_TARGET", sub, target, "No such target or not allowed");
            free(rq);
            return SL_OK;
        }
        bool ok = parse_bound(m->params[2], &q.a, q.dir == STORE_LATEST);
        if (ok && q.dir == STORE_BETWEEN)
            ok = parse_bound(m->params[3], &q.b, false);
        if (!ok) {
            fail(c, "INVALID_PARAMS", sub, target, "Invalid message reference");
            free(rq);
            return SL_OK;
        }
        q.key = key;
        /* The fast path: the newest messages of a room are in memory. */
        if (q.dir == STORE_LATEST && !q.a.msgid && q.a.time_ms < 0 && room &&
            history_covers(room->history, q.limit)) {
            char ref[16];
            batch_open(c, ref, sizeof ref, "chathistory", room->name);
            struct replay rp = {c, ref[0] ? ref : NULL};
            history_latest(room->history, q.limit, replay_one, &rp);
            batch_close(c, ref);
            free(rq);
            return SL_OK;
        }
    }
    struct store *st = history_store();
    irc_client_hold(c);     /* released in query_done */
    if (!st)
        query_done(&(struct store_result){.err = SL_OK}, rq);
    else
        store_query(st, &q, query_done, rq);
    return SL_OK;
}
