#include "core/report.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/history.h"
#include "core/room.h"
#include "core/user.h"
#include "lib/addr.h"
#include "lib/alloc.h"
#include "lib/casemap.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "store/store.h"

/* Lines of context captured around a reported message or conversation. */
#define REPORT_CONTEXT 30

static struct store *store;
static struct report *open_reports;

static const struct {
    const char *name;
    int severity;
} categories[] = {
    {"child_safety", 100}, {"sexual_violence", 90}, {"threat", 80}, {"hate", 60},
    {"harassment", 50}, {"illegal", 50}, {"spam", 20}, {"other", 10}, {"appeal", 5},
};

int report_severity(const char *category)
{
    for (size_t i = 0; i < sizeof categories / sizeof categories[0]; i++)
        if (strcmp(categories[i].name, category) == 0)
            return categories[i].severity;
    return -1;
}

static char *dup_or_empty(const char *s)
{
    return xstrdup(s ? s : "");
}

static struct report *report_from(const struct store_report *sr)
{
    struct report *r = xcalloc(1, sizeof *r);
    r->id = sr->id;
    r->time_ms = sr->time_ms;
    r->category = dup_or_empty(sr->category);
    r->severity = sr->severity;
    r->reporter = dup_or_empty(sr->reporter);
    r->reporter_nick = dup_or_empty(sr->reporter_nick);
    r->reported = dup_or_empty(sr->reported);
    r->reported_nick = dup_or_empty(sr->reported_nick);
    r->where = dup_or_empty(sr->where);
    r->msgid = dup_or_empty(sr->msgid);
    r->comment = dup_or_empty(sr->comment);
    r->evidence = dup_or_empty(sr->evidence);
    r->status = xstrdup(sr->status ? sr->status : "open");
    r->automatic = dup_or_empty(sr->automatic);
    return r;
}

static void load_one(const struct store_report *sr, void *ud)
{
    (void)ud;
    struct report *r = report_from(sr);
    r->next = open_reports;
    open_reports = r;
}

void report_init(struct store *st)
{
    store = st;
    if (st)
        store_load_reports(st, "open", load_one, NULL);
}

struct report *report_list(void)
{
    return open_reports;
}

struct report *report_find(int64_t id)
{
    for (struct report *r = open_reports; r; r = r->next)
        if (r->id == id)
            return r;
    return NULL;
}

static void report_free(struct report *r)
{
    free(r->category);
    free(r->reporter);
    free(r->reporter_nick);
    free(r->reported);
    free(r->reported_nick);
    free(r->where);
    free(r->msgid);
    free(r->comment);
    free(r->evidence);
    free(r->status);
    free(r->automatic);
    free(r);
}

void report_close(struct report *r, const char *status, const char *resolution)
{
    if (store)
        store_update_report(store, r->id, status, resolution);
    for (struct report **p = &open_reports; *p; p = &(*p)->next) {
        if (*p == r) {
            *p = r->next;
            break;
        }
    }
    report_free(r);
}

/* Every connected participant's address and device go with the evidence:
 * the platform is accountable, even though users are anonymous to each
 * other (docs/privacy.md). */
static json_t *participant(const char *session)
{
    struct user *u = user_find_session(session);
    if (!u)
        return json_null();
    char addr[ADDR_TEXT_MAX];
    addr_format(u->addr, addr, sizeof addr);
    return json_pack("{s:s, s:s, s:s}", "nick", u->nick, "address", addr, "device", u->device);
}

static json_t *evidence_of(struct history *h, const char *highlight)
{
    const struct store_msg *msgs[REPORT_CONTEXT];
    size_t n = h ? history_snapshot(h, msgs, REPORT_CONTEXT) : 0;
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct store_msg *m = msgs[i];
        char when[CLOCK_ISO_LEN + 1];
        const char *bang = strchr(m->source, '!');
        char nick[64];
        snprintf(nick, sizeof nick, "%.*s", bang ? (int)(bang - m->source) : 63, m->source);
        json_array_append_new(list, json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:o}", "msgid", m->msgid, "time",
            clock_iso8601(m->time_ms, when), "session", m->sender, "nick", nick, "target",
            m->target, "text", m->text, "reported", highlight && !strcmp(highlight, m->msgid),
            "participant", participant(m->sender)));
    }
    return list;
}

struct pending {
    report_done_fn *done;
    void *ud;
    struct store_report sr;
    char *strings[10];
};

static void pending_free(struct pending *p)
{
    for (int i = 0; i < 10; i++)
        free(p->strings[i]);
    free(p);
}

static void on_stored(enum sl_err err, int64_t id, void *ud)
{
    struct pending *p = ud;
    if (err == SL_OK) {
        p->sr.id = id;
        struct report *r = report_from(&p->sr);
        r->next = open_reports;
        open_reports = r;
        log_info("report #%lld (%s) stored", (long long)id, p->sr.category);
    } else {
        log_error("report could not be stored: %s", sl_strerror(err));
    }
    if (p->done)
        p->done(err, id, p->ud);
    pending_free(p);
}

/* Writes p: asynchronously when it has a done callback, else right now
 * (the id goes to *id_now). */
static enum sl_err submit(struct pending *p, int64_t *id_now)
{
    if (p->done && store) {
        store_add_report(store, &p->sr, on_stored, p);
        return SL_OK;
    }
    int64_t id = 0;
    enum sl_err err = store ? store_add_report_now(store, &p->sr, &id) : SL_OK;
    if (id_now)
        *id_now = id;
    on_stored(err, id, p);
    return err;
}

enum sl_err report_create_appeal(const char *who, int64_t action_id, const char *text,
                                 report_done_fn *done, void *ud, int64_t *id_now)
{
    struct pending *p = xcalloc(1, sizeof *p);
    char where[32];
    snprintf(where, sizeof where, "action %lld", (long long)action_id);
    p->done = done;
    p->ud = ud;
    p->strings[0] = xstrdup("[]");
    p->strings[1] = xstrdup("appeal");
    p->strings[2] = xstrdup(who);
    p->strings[3] = xstrdup(who);
    p->strings[4] = xstrdup("");
    p->strings[5] = xstrdup(where);
    p->strings[6] = xstrdup("");
    p->strings[7] = xstrdup(text ? text : "");
    p->sr = (struct store_report){
        .time_ms = clock_wall_ms(), .category = p->strings[1], .severity = report_severity("appeal"),
        .reporter = p->strings[2], .reported = p->strings[3], .reported_nick = p->strings[4],
        .where = p->strings[5], .msgid = p->strings[6], .comment = p->strings[7],
        .evidence = p->strings[0], .status = "open"};
    return submit(p, id_now);
}

enum sl_err report_create(struct user *by, struct user *reported, const char *msgid,
                          const char *category, const char *comment,
                          report_done_fn *done, void *ud, int64_t *id_now)
{
    int severity = report_severity(category);
    if (severity < 0)
        return SL_EINVAL;
    struct history *h = NULL;
    const struct store_msg *m = NULL;
    char where[ROOM_NAME_MAX + 1] = "private", reported_session[SESSION_ID_LEN + 1] = "";
    char reported_nick[NICK_MAX + 1] = "";
    if (msgid && msgid[0]) {
        m = history_lookup(msgid, &h);
        if (!m)
            return SL_ENOTFOUND;
        const char *key = history_key(h);
        if (key[0] == '#') {
            /* Only a member may report from a room's history. */
            struct room *r = room_find(m->target);
            if (!r || room_member_modes(r, by) < 0)
                return SL_ENOTFOUND;
            snprintf(where, sizeof where, "%s", r->name);
        } else if (!strstr(key, by->session)) {
            return SL_ENOTFOUND;    /* someone else's private conversation */
        }
        snprintf(reported_session, sizeof reported_session, "%s", m->sender);
        const char *bang = strchr(m->source, '!');
        snprintf(reported_nick, sizeof reported_nick, "%.*s",
                 bang ? (int)(bang - m->source) : NICK_MAX, m->source);
    } else if (reported) {
        snprintf(reported_session, sizeof reported_session, "%s", reported->session);
        snprintf(reported_nick, sizeof reported_nick, "%s", reported->nick);
        /* The private conversation between the two, if any. */
        char key[HISTORY_KEY_MAX];
        history_private_key(key, by->session, reported->session);
        h = history_private(key, 100);
    } else {
        return SL_ENOTFOUND;
    }
    json_t *ev = evidence_of(h, m ? m->msgid : NULL);
    struct pending *p = xcalloc(1, sizeof *p);
    p->done = done;
    p->ud = ud;
    p->strings[0] = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    p->strings[1] = xstrdup(category);
    p->strings[2] = xstrdup(by->session);
    p->strings[3] = xstrdup(reported_session);
    p->strings[4] = xstrdup(reported_nick);
    p->strings[5] = xstrdup(where);
    p->strings[6] = xstrdup(m ? m->msgid : "");
    p->strings[7] = xstrdup(comment ? comment : "");
    p->strings[8] = xstrdup(by->nick);
    p->sr = (struct store_report){
        .time_ms = clock_wall_ms(), .category = p->strings[1], .severity = severity,
        .reporter = p->strings[2], .reporter_nick = p->strings[8], .reported = p->strings[3], .reported_nick = p->strings[4],
        .where = p->strings[5], .msgid = p->strings[6], .comment = p->strings[7],
        .evidence = p->strings[0], .status = "open"};
    return submit(p, id_now);
}

static void auto_stored(enum sl_err err, int64_t id, void *ud)
{
    (void)err;
    (void)id;
    (void)ud;
}

enum sl_err report_create_auto(const struct auto_report *ar)
{
    int severity = ar->severity > 0 ? ar->severity : report_severity(ar->category);
    if (severity < 0)
        return SL_EINVAL;
    json_t *ev = evidence_of(ar->context, ar->msgid);
    if (ar->held_text) {
        char when[CLOCK_ISO_LEN + 1];
        json_array_append_new(ev, json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:o}", "msgid",
            ar->held_msgid ? ar->held_msgid : "", "time", clock_iso8601(clock_wall_ms(), when),
            "session", ar->reported, "nick", ar->reported_nick, "target",
            ar->held_target ? ar->held_target : "", "text", ar->held_text, "reported", true,
            "held", true, "participant", participant(ar->reported)));
    }
    struct pending *p = xcalloc(1, sizeof *p);
    p->done = auto_stored;
    p->strings[0] = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    p->strings[1] = xstrdup(ar->category);
    p->strings[2] = xstrdup("salon");
    p->strings[3] = xstrdup(ar->reported ? ar->reported : "");
    p->strings[4] = xstrdup(ar->reported_nick ? ar->reported_nick : "");
    p->strings[5] = xstrdup(ar->where ? ar->where : "");
    p->strings[6] = xstrdup(ar->msgid ? ar->msgid : "");
    p->strings[7] = xstrdup(ar->comment ? ar->comment : "");
    p->strings[8] = xstrdup("(automatic)");
    p->strings[9] = xstrdup(ar->automatic ? ar->automatic : "{}");
    p->sr = (struct store_report){
        .time_ms = clock_wall_ms(), .category = p->strings[1], .severity = severity,
        .reporter = p->strings[2], .reporter_nick = p->strings[8], .reported = p->strings[3],
        .reported_nick = p->strings[4], .where = p->strings[5], .msgid = p->strings[6],
        .comment = p->strings[7], .evidence = p->strings[0], .status = "open",
        .automatic = p->strings[9]};
    return submit(p, NULL);
}
