#include "core/session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ticket.h"
#include "lib/alloc.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "store/store.h"

/* Storage record kind for a session's choices. */
#define RECORD_KIND "session"

static struct strmap sessions;
static struct store *store;

static void list_free(struct id_list *l)
{
    free(l->ids);
    l->ids = NULL;
    l->len = 0;
}

static void held_free(struct held_msg *h)
{
    free(h->msgid);
    free(h->command);
    free(h->text);
    free(h->client_tags);
}

static void session_free(struct session *s)
{
    strmap_del(&sessions, s->id);
    list_free(&s->accepted);
    list_free(&s->declined);
    list_free(&s->ignored);
    while (s->requests)
        session_request_drop(s, s->requests);
    free(s->nicks);
    free(s->actions);
    free(s);
}

bool session_list_has(const struct id_list *l, const char *id)
{
    for (size_t i = 0; i < l->len; i++)
        if (strcmp(l->ids[i], id) == 0)
            return true;
    return false;
}

static bool list_add(struct id_list *l, const char *id)
{
    if (session_list_has(l, id) || strlen(id) != SESSION_ID_LEN)
        return false;
    if (l->len == SESSION_LIST_MAX) {
        /* Bounded: the oldest entry goes first. */
        memmove(l->ids, l->ids + 1, (l->len - 1) * sizeof *l->ids);
        l->len--;
    }
    l->ids = xrealloc(l->ids, (l->len + 1) * sizeof *l->ids);
    memcpy(l->ids[l->len++], id, SESSION_ID_LEN + 1);
    return true;
}

static bool list_del(struct id_list *l, const char *id)
{
    for (size_t i = 0; i < l->len; i++) {
        if (strcmp(l->ids[i], id) == 0) {
            memmove(l->ids + i, l->ids + i + 1, (l->len - i - 1) * sizeof *l->ids);
            l->len--;
            return true;
        }
    }
    return false;
}

/* Record format: "v1|policy|age|gender|region|show|created|acc,acc|dec|ign|restricted"
 * (records written before restrictions existed have no last field). */
static void save(struct session *s)
{
    if (!store || !s->is_persistent)
        return;
    struct id_list *lists[] = {&s->accepted, &s->declined, &s->ignored};
    size_t cap = 128 + 3 * (SESSION_LIST_MAX * (SESSION_ID_LEN + 1));
    char *buf = xmalloc(cap);
    size_t n = (size_t)snprintf(buf, cap, "v1|%d|%d|%d|%s|%d|%lld", (int)s->pm_policy,
                                s->profile.age, (int)s->profile.gender, s->profile.region,
                                s->profile.show_region ? 1 : 0,
                                (long long)s->profile.session_created_ms);
    for (int k = 0; k < 3; k++) {
        buf[n++] = '|';
        for (size_t i = 0; i < lists[k]->len; i++)
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", lists[k]->ids[i]);
    }
    n += (size_t)snprintf(buf + n, cap - n, "|%d", s->is_pm_restricted ? 1 : 0);
    store_put_record(store, RECORD_KIND, s->id, buf, s->expires_ms);
    free(buf);
}

static void load_list(struct id_list *l, char *csv)
{
    char *save_ptr = NULL;
    for (char *id = strtok_r(csv, ",", &save_ptr); id; id = strtok_r(NULL, ",", &save_ptr))
        list_add(l, id);
}

static void load_one(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)ud;
    char *copy = xstrdup(value), *rest = copy, *f[11];
    int nf = 0;
    for (char *p; nf < 11 && (p = strsep(&rest, "|")) != NULL;)
        f[nf++] = p;
    if (nf < 10 || strcmp(f[0], "v1") != 0 || strlen(key) != SESSION_ID_LEN) {
        log_warn("session %.8s: unreadable record ignored", key);
        free(copy);
        return;
    }
    struct profile p = {0};
    p.age = atoi(f[2]);
    p.gender = (enum gender)atoi(f[3]);
    snprintf(p.region, sizeof p.region, "%s", f[4]);
    p.show_region = f[5][0] == '1';
    p.session_created_ms = strtoll(f[6], NULL, 10);
    struct session *s = session_get(key, &p, expires_ms, true);
    int policy = atoi(f[1]);
    s->pm_policy = policy >= PM_REQUESTS && policy <= PM_NOBODY ? (enum pm_policy)policy
                                                                : PM_REQUESTS;
    load_list(&s->accepted, f[7]);
    load_list(&s->declined, f[8]);
    load_list(&s->ignored, f[9]);
    s->is_pm_restricted = nf > 10 && f[10][0] == '1';
    free(copy);
}

void session_init(struct store *st, int64_t now_wall_ms)
{
    store = st;
    if (st) {
        size_t n = store_load_records(st, RECORD_KIND, now_wall_ms, load_one, NULL);
        if (n)
            log_info("restored %zu sessions", n);
    }
}

struct session *session_find(const char *id)
{
    return strmap_get(&sessions, id);
}

struct session *session_get(const char *id, const struct profile *profile,
                            int64_t expires_ms, bool persistent)
{
    struct session *s = session_find(id);
    if (s)
        return s;
    s = xcalloc(1, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    if (profile)
        s->profile = *profile;
    s->expires_ms = expires_ms;
    s->is_persistent = persistent;
    strmap_put(&sessions, s->id, s);
    return s;
}

void session_attach(struct session *s)
{
    s->users++;
}

void session_detach(struct session *s)
{
    if (!s)
        return;
    if (s->users > 0)
        s->users--;
    if (s->users == 0) {
        /* Nobody is there to answer waiting requests: they lapse. */
        while (s->requests)
            session_request_drop(s, s->requests);
        if (!s->is_persistent)
            session_free(s);
    }
}

bool session_accept(struct session *s, const char *id)
{
    bool changed = list_add(&s->accepted, id);
    changed = list_del(&s->declined, id) || changed;
    if (changed)
        save(s);
    return changed;
}

bool session_decline(struct session *s, const char *id)
{
    bool changed = list_add(&s->declined, id);
    changed = list_del(&s->accepted, id) || changed;
    if (changed)
        save(s);
    return changed;
}

bool session_ignore(struct session *s, const char *id, bool on)
{
    bool changed = on ? list_add(&s->ignored, id) : list_del(&s->ignored, id);
    if (changed)
        save(s);
    return changed;
}

void session_set_pm_policy(struct session *s, enum pm_policy p)
{
    if (s->pm_policy != p) {
        s->pm_policy = p;
        save(s);
    }
}

const char *session_pm_policy_name(enum pm_policy p)
{
    static const char *const names[] = {"requests", "everyone", "nobody"};
    return (unsigned)p < 3 ? names[p] : "requests";
}

int session_pm_policy_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(name, session_pm_policy_name((enum pm_policy)i)) == 0)
            return i;
    return -1;
}

struct pm_request *session_request_find(struct session *s, const char *from)
{
    for (struct pm_request *rq = s->requests; rq; rq = rq->next)
        if (strcmp(rq->from, from) == 0)
            return rq;
    return NULL;
}

struct pm_request *session_request_add(struct session *s, const char *from)
{
    struct pm_request *rq = session_request_find(s, from);
    if (rq)
        return rq;
    rq = xcalloc(1, sizeof *rq);
    snprintf(rq->from, sizeof rq->from, "%s", from);
    rq->next = s->requests;
    s->requests = rq;
    return rq;
}

void session_request_drop(struct session *s, struct pm_request *rq)
{
    for (struct pm_request **p = &s->requests; *p; p = &(*p)->next) {
        if (*p == rq) {
            *p = rq->next;
            break;
        }
    }
    for (unsigned i = 0; i < rq->nheld; i++)
        held_free(&rq->held[i]);
    free(rq);
}

enum sl_err session_request_hold(struct pm_request *rq, const char *msgid,
                                 const char *command, const char *text,
                                 const char *client_tags, int64_t time_ms)
{
    if (rq->nheld == SESSION_HELD_MAX)
        return SL_ELIMIT;
    struct held_msg *h = &rq->held[rq->nheld++];
    h->msgid = xstrdup(msgid);
    h->command = xstrdup(command);
    h->text = xstrdup(text);
    h->client_tags = client_tags ? xstrdup(client_tags) : NULL;
    h->time_ms = time_ms;
    return SL_OK;
}

const char *session_age_band(int age)
{
    if (age <= 0)
        return "?";
    if (age < 18)
        return age < 16 ? "13-15" : "16-17";
    if (age < 25)
        return "18-24";
    if (age < 35)
        return "25-34";
    if (age < 50)
        return "35-49";
    return "50+";
}

void session_profile_line(const struct profile *p, char *out, size_t cap)
{
    if (p->show_region && p->region[0])
        snprintf(out, cap, "%s %s %s", session_age_band(p->age), ticket_gender_name(p->gender),
                 p->region);
    else
        snprintf(out, cap, "%s %s", session_age_band(p->age), ticket_gender_name(p->gender));
}

void session_sweep(int64_t now)
{
    size_t pos = 0;
    struct session *s;
    /* Deleting during iteration only tombstones the slot: safe. */
    while ((s = strmap_next(&sessions, &pos)) != NULL)
        if (s->users == 0 && s->expires_ms && s->expires_ms <= now)
            session_free(s);
}

/* Room for one more entry in a history of n out of *cap (doubling up to
 * SESSION_PAST_MAX); the caller drops the oldest when n is the maximum. */
static void *past_grow(void *items, unsigned n, unsigned *cap, size_t size)
{
    if (n < *cap || *cap == SESSION_PAST_MAX)
        return items;
    *cap = *cap ? (*cap * 2 > SESSION_PAST_MAX ? SESSION_PAST_MAX : *cap * 2) : 1;
    return xrealloc(items, *cap * size);
}

void session_note_nick(struct session *s, const char *nick, int64_t now)
{
    if (s->nnicks && strcmp(s->nicks[s->nnicks - 1].nick, nick) == 0)
        return;
    s->nicks = past_grow(s->nicks, s->nnicks, &s->nicks_cap, sizeof *s->nicks);
    if (s->nnicks == SESSION_PAST_MAX) {
        memmove(s->nicks, s->nicks + 1, (SESSION_PAST_MAX - 1) * sizeof *s->nicks);
        s->nnicks--;
    }
    struct past_nick *p = &s->nicks[s->nnicks++];
    snprintf(p->nick, sizeof p->nick, "%s", nick);
    p->since_ms = now;
}

void session_note_action(struct session *s, int64_t action_id, const char *action,
                         const char *reason, int64_t now)
{
    s->actions = past_grow(s->actions, s->nactions, &s->actions_cap, sizeof *s->actions);
    if (s->nactions == SESSION_PAST_MAX) {
        memmove(s->actions, s->actions + 1, (SESSION_PAST_MAX - 1) * sizeof *s->actions);
        s->nactions--;
    }
    struct past_action *p = &s->actions[s->nactions++];
    p->action_id = action_id;
    p->time_ms = now;
    snprintf(p->action, sizeof p->action, "%s", action);
    snprintf(p->reason, sizeof p->reason, "%s", reason ? reason : "");
}

void session_set_pm_restricted(struct session *s, bool on)
{
    if (s->is_pm_restricted == on)
        return;
    s->is_pm_restricted = on;
    save(s);
}
