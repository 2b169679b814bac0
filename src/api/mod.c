/* The staff API (docs/moderation.md): login and logout, the report queue,
 * a report with its evidence, actions, the audit log; and the users' side:
 * POST /api/v1/reports and POST /api/v1/appeals. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/api.h"
#include "api/json.h"
#include "api/rules.h"
#include "core/audit.h"
#include "store/store.h"
#include "core/moderation.h"
#include "core/history.h"
#include "core/report.h"
#include "core/room.h"
#include "core/session.h"
#include "core/staff.h"
#include "core/ticket.h"
#include "core/user.h"
#include "lib/addr.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "transport/http.h"

/* Login attempts per address per minute (docs/moderation.md). */
#define LOGIN_ATTEMPTS_MAX 5
#define LOGIN_WINDOW_MS 60000
#define LOGIN_SLOTS 256

struct attempts {
    uint8_t addr[16];
    int64_t window_start;
    unsigned count;
};
static struct attempts login_attempts[LOGIN_SLOTS];

/* The staff session of the request, or NULL after answering 401/403.
 * State-changing requests must carry the session's CSRF token. */
static const struct staff_session *require_staff(struct conn *c, const struct http_request *req)
{
    char token[STAFF_TOKEN_LEN + 2];
    const struct staff_session *s = api_cookie(req, "salon_staff", token, sizeof token)
                                        ? staff_session_find(token) : NULL;
    if (!s) {
        api_error(c, 401, "staff_login_required", NULL, "Log in as staff first.", NULL);
        return NULL;
    }
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        const char *csrf = http_request_header(req, "X-CSRF-Token");
        if (!csrf || strlen(csrf) != STAFF_TOKEN_LEN || strcmp(csrf, s->csrf) != 0) {
            api_error(c, 403, "csrf", NULL, "Missing or wrong CSRF token.", NULL);
            return NULL;
        }
    }
    return s;
}

static bool login_allowed(const uint8_t addr[16])
{
    int64_t now = clock_wall_ms();
    struct attempts *slot = NULL, *oldest = &login_attempts[0];
    for (int i = 0; i < LOGIN_SLOTS; i++) {
        if (!memcmp(login_attempts[i].addr, addr, 16) && login_attempts[i].window_start) {
            slot = &login_attempts[i];
            break;
        }
        if (login_attempts[i].window_start < oldest->window_start)
            oldest = &login_attempts[i];
    }
    if (!slot) {
        slot = oldest;
        memcpy(slot->addr, addr, 16);
        slot->window_start = now;
        slot->count = 0;
    }
    if (now - slot->window_start >= LOGIN_WINDOW_MS) {
        slot->window_start = now;
        slot->count = 0;
    }
    return ++slot->count <= LOGIN_ATTEMPTS_MAX;
}

static enum sl_err login_route(struct conn *c, const struct http_request *req)
{
    if (!strcmp(req->path, "/api/v1/staff/logout")) {
        const struct staff_session *s = require_staff(c, req);
        if (!s)
            return SL_OK;
        char actor[64];
        snprintf(actor, sizeof actor, "staff:%s", s->name);
        audit_log(actor, "logout", s->name, "dashboard");
        staff_session_close(s->token);
        http_respond(c, 204, NULL, "", 0,
                     "Set-Cookie: salon_staff=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict\r\n");
        return SL_OK;
    }
    if (strcmp(req->path, "/api/v1/staff/login") != 0)
        return SL_ENOTFOUND;
    if (!login_allowed(c->addr)) {
        api_error(c, 429, "too_many_attempts", NULL, "Too many attempts; wait a minute.", NULL);
        return SL_OK;
    }
    json_t *doc = api_body_json(c, req);
    if (!doc)
        return SL_OK;
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *password = json_string_value(json_object_get(doc, "password"));
    char role[16];
    if (!name || !password || !staff_check_password(name, password, role)) {
        json_decref(doc);
        log_info("staff login refused");
        api_error(c, 401, "bad_credentials", NULL, "Wrong name or password.", NULL);
        return SL_OK;
    }
    const struct staff_session *s = staff_session_open(name, role);
    char actor[64], headers[256];
    snprintf(actor, sizeof actor, "staff:%s", name);
    audit_log(actor, "login", name, "dashboard");
    snprintf(headers, sizeof headers,
             "Set-Cookie: salon_staff=%s; Path=/; Max-Age=28800; HttpOnly; SameSite=Strict\r\n"
             "Cache-Control: no-store\r\n", s->token);
    api_send_json(c, 200, json_pack("{s:s, s:s, s:s}", "name", s->name, "role", s->role, "csrf",
                                s->csrf), headers);
    json_decref(doc);
    return SL_OK;
}

/* A report for the queue. Reports made by the rules engine also carry
 * what it kept (core/report.h): the rule, a held message (with its state),
 * a room awaiting approval, the conversation's risk score. */
static json_t *report_summary(const struct report *r)
{
    char when[CLOCK_ISO_LEN + 1];
    json_t *doc = json_pack("{s:I, s:s, s:s, s:i, s:s, s:s, s:s, s:s}", "id", (json_int_t)r->id,
                            "time", clock_iso8601(r->time_ms, when), "category", r->category,
                            "severity", r->severity, "where", r->where, "msgid", r->msgid,
                            "comment", r->comment, "reporter_nick", r->reporter_nick);
    json_t *automatic = r->automatic[0] ? json_loads(r->automatic, 0, NULL) : NULL;
    if (json_is_object(automatic)) {
        const char *keys[] = {"rule", "pending_room", "risk", "restricted"};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            json_t *v = json_object_get(automatic, keys[i]);
            if (v)
                json_object_set(doc, keys[i], v);
        }
        json_t *held = json_object_get(automatic, "held");
        if (held)
            json_object_set_new(doc, "held", json_pack(
                "{s:s, s:O, s:O, s:O}", "state", "held", "kind", json_object_get(held, "kind"),
                "target", json_object_get(held, "target"), "text",
                json_object_get(held, "text")));
    }
    json_decref(automatic);
    return doc;
}

static int by_severity_then_age(const void *a, const void *b)
{
    const struct report *x = *(struct report *const *)a, *y = *(struct report *const *)b;
    if (x->severity != y->severity)
        return y->severity - x->severity;
    return (x->time_ms > y->time_ms) - (x->time_ms < y->time_ms);
}

static enum sl_err queue_route(struct conn *c, const struct http_request *req,
                               const struct staff_session *s)
{
    (void)s;
    (void)req;
    size_t n = 0;
    for (struct report *r = report_list(); r; r = r->next)
        n++;
    struct report **all = calloc(n ? n : 1, sizeof *all);
    n = 0;
    for (struct report *r = report_list(); r; r = r->next)
        all[n++] = r;
    qsort(all, n, sizeof *all, by_severity_then_age);
    /* Grouped by the reported session, groups in the order of their
     * gravest (then oldest) report. */
    json_t *groups = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!all[i])
            continue;
        json_t *list = json_array();
        const char *who = all[i]->reported;
        json_t *g = json_pack("{s:s, s:s, s:i}", "reported", who, "reported_nick",
                              all[i]->reported_nick, "severity", all[i]->severity);
        for (size_t k = i; k < n; k++) {
            if (all[k] && !strcmp(all[k]->reported, who)) {
                json_array_append_new(list, report_summary(all[k]));
                all[k] = NULL;
            }
        }
        json_object_set_new(g, "reports", list);
        json_array_append_new(groups, g);
    }
    free(all);
    api_send_json(c, 200, json_pack("{s:o}", "groups", groups), NULL);
    return SL_OK;
}

static enum sl_err report_route(struct conn *c, int64_t id, const struct staff_session *s)
{
    struct report *r = report_find(id);
    if (!r) {
        api_error(c, 404, "not_found", NULL, "No such open report.", NULL);
        return SL_OK;
    }
    char actor[64], target[32];
    snprintf(actor, sizeof actor, "staff:%s", s->name);
    snprintf(target, sizeof target, "report %" PRId64, id);
    /* Evidence holds private data: every look is audited. */
    audit_log(actor, "view_report", target, "evidence of %s", r->reported_nick);
    json_t *doc = report_summary(r);
    json_t *ev = json_loads(r->evidence, 0, NULL);
    json_object_set_new(doc, "evidence", ev ? ev : json_array());
    json_object_set_new(doc, "reported", json_string(r->reported));
    json_object_set_new(doc, "reported_nick", json_string(r->reported_nick));
    struct user *u = user_find_session(r->reported);
    struct session *sess = session_find(r->reported);
    json_t *profile = json_null();
    if (sess) {
        char line[64];
        session_profile_line(&sess->profile, line, sizeof line);
        profile = json_pack("{s:s, s:b, s:s?}", "profile", line, "connected", u != NULL,
                            "nick", u ? u->nick : NULL);
    }
    json_object_set_new(doc, "profile", profile);
    json_t *history = json_array();
    for (struct report *o = report_list(); o; o = o->next)
        if (o != r && !strcmp(o->reported, r->reported))
            json_array_append_new(history, report_summary(o));
    json_object_set_new(doc, "history", history);
    /* The session's past: staff actions against it and the nicks it used. */
    json_t *actions = json_array(), *nicks = json_array();
    if (sess) {
        char when[CLOCK_ISO_LEN + 1];
        for (unsigned i = 0; i < sess->nactions; i++)
            json_array_append_new(actions, json_pack(
                "{s:I, s:s, s:s, s:s}", "action_id", (json_int_t)sess->actions[i].action_id,
                "time", clock_iso8601(sess->actions[i].time_ms, when), "action",
                sess->actions[i].action, "reason", sess->actions[i].reason));
        for (unsigned i = 0; i < sess->nnicks; i++)
            json_array_append_new(nicks, json_pack(
                "{s:s, s:s}", "nick", sess->nicks[i].nick, "since",
                clock_iso8601(sess->nicks[i].since_ms, when)));
    }
    json_object_set_new(doc, "actions", actions);
    json_object_set_new(doc, "nicks", nicks);
    json_t *related = json_array();
    if (u) {
        size_t pos = 0;
        for (struct user *o; (o = user_next(&pos)) != NULL;) {
            if (o == u)
                continue;
            bool same_device = u->device[0] && !strcmp(o->device, u->device);
            bool same_prefix = addr_same_prefix(o->addr, u->addr);
            if (same_device || same_prefix)
                json_array_append_new(related, json_pack("{s:s, s:s, s:b, s:b}", "nick", o->nick,
                                                         "session", o->session, "same_device",
                                                         same_device, "same_prefix", same_prefix));
        }
    }
    json_object_set_new(doc, "related", related);
    api_send_json(c, 200, doc, NULL);
    return SL_OK;
}

static const char *str(json_t *doc, const char *key)
{
    return json_string_value(json_object_get(doc, key));
}

static enum sl_err action_route(struct conn *c, const struct http_request *req,
                                const struct staff_session *s)
{
    json_t *doc = api_body_json(c, req);
    if (!doc)
        return SL_OK;
    char actor[64];
    snprintf(actor, sizeof actor, "staff:%s", s->name);
    struct mod_request rq = {
        .actor = actor, .action = str(doc, "action"), .reason = str(doc, "reason"),
        .rule = str(doc, "rule"), .session = str(doc, "session"), .nick = str(doc, "nick"),
        .msgid = str(doc, "msgid"), .room = str(doc, "room"), .ban_by = str(doc, "ban_by"),
        .pattern = str(doc, "pattern"),
        .report_id = json_integer_value(json_object_get(doc, "report_id")),
        .duration_s = json_integer_value(json_object_get(doc, "duration_s")),
        .ban_id = json_integer_value(json_object_get(doc, "ban_id")),
    };
    struct mod_result res;
    const char *error = "refused";
    enum sl_err err = moderation_act(&rq, &res, &error);
    json_decref(doc);
    if (err) {
        api_error(c, err == SL_ENOTFOUND ? 404 : 400,
                  err == SL_ENOTFOUND ? "not_found" : "invalid_action", NULL, error, NULL);
        return SL_OK;
    }
    json_t *out = json_pack("{s:I}", "action_id", (json_int_t)res.action_id);
    if (res.ban_id)
        json_object_set_new(out, "ban_id", json_integer(res.ban_id));
    api_send_json(c, 200, out, NULL);
    return SL_OK;
}


/* Percent-decodes src[0..len) into out (and '+' to a space when is_query). */
static void url_decode(const char *src, size_t len, char *out, size_t cap, bool is_query)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        char ch = src[i];
        if (ch == '+' && is_query) {
            ch = ' ';
        } else if (ch == '%' && i + 2 < len && isxdigit((unsigned char)src[i + 1]) &&
                   isxdigit((unsigned char)src[i + 2])) {
            char hex[3] = {src[i + 1], src[i + 2], 0};
            ch = (char)strtol(hex, NULL, 16);
            i += 2;
        }
        out[o++] = ch;
    }
    out[o] = '\0';
}

/* Query-string value of key, percent-decoded. */
static bool query_get(const char *query, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > kl && !strncmp(p, key, kl) && p[kl] == '=') {
            url_decode(p + kl + 1, len - kl - 1, out, cap, true);
            return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* Watching a room is audited once per moderator and room in this window,
 * not at every refresh of the dashboard, so the log stays readable. */
#define WATCH_AUDIT_WINDOW_MS (10 * 60 * 1000)
#define WATCH_SLOTS 64

struct watch_seen {
    char who[STAFF_NAME_MAX + 1];
    char room[ROOM_NAME_MAX + 1];
    int64_t at_ms;
};
static struct watch_seen watches[WATCH_SLOTS];

static bool watch_needs_audit(const char *who, const char *room, int64_t now)
{
    struct watch_seen *oldest = &watches[0];
    for (int i = 0; i < WATCH_SLOTS; i++) {
        struct watch_seen *w = &watches[i];
        if (!strcmp(w->who, who) && !strcasecmp(w->room, room)) {
            if (now - w->at_ms < WATCH_AUDIT_WINDOW_MS)
                return false;
            w->at_ms = now;
            return true;
        }
        if (w->at_ms < oldest->at_ms)
            oldest = w;
    }
    snprintf(oldest->who, sizeof oldest->who, "%.*s", STAFF_NAME_MAX, who);
    snprintf(oldest->room, sizeof oldest->room, "%.*s", ROOM_NAME_MAX, room);
    oldest->at_ms = now;
    return true;
}

static json_t *message_json(const struct store_msg *m)
{
    char when[CLOCK_ISO_LEN + 1], nick[NICK_MAX + 1];
    const char *bang = strchr(m->source, '!');
    snprintf(nick, sizeof nick, "%.*s", bang ? (int)(bang - m->source) : NICK_MAX, m->source);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "msgid", m->msgid, "time",
                     clock_iso8601(m->time_ms, when), "room", m->target, "nick", nick, "session",
                     m->sender, "text", m->text);
}

static bool contains_folded(const char *hay, const char *needle)
{
    if (!needle[0])
        return true;
    return strcasestr(hay, needle) != NULL;
}

/* GET /api/v1/mod/rooms: every room with its members count.
 * GET /api/v1/mod/rooms/<name>: the recent messages of a public room
 * (watching a room; audited).
 * GET /api/v1/mod/search?q=&nick=&room=&since=: recent public-room
 * messages (memory), never private ones; audited. */
static enum sl_err rooms_route(struct conn *c, const struct http_request *req,
                               const struct staff_session *s, const char *rest)
{
    char actor[64];
    snprintf(actor, sizeof actor, "staff:%s", s->name);
    if (!strcmp(rest, "rooms")) {
        json_t *list = json_array();
        size_t pos = 0;
        for (struct room *r; (r = room_next(&pos)) != NULL;)
            json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:b, s:b}", "name", r->name,
                                                  "topic", r->topic ? r->topic : "", "members",
                                                  (int)r->nmembers, "invite_only",
                                                  (r->modes & ROOM_MODE_INVITE) != 0, "closed",
                                                  r->is_closed));
        api_send_json(c, 200, json_pack("{s:o}", "rooms", list), NULL);
        return SL_OK;
    }
    const char *want_room = NULL;
    char q[256] = "", nick[64] = "", room[64] = "", since[64] = "";
    if (!strncmp(rest, "rooms/", 6)) {
        /* The room name in the path, percent-encoded ("%23" for '#'). */
        url_decode(rest + 6, strlen(rest + 6), room, sizeof room, false);
        want_room = room;
        if (!room_find(room)) {
            api_error(c, 404, "not_found", NULL, "No such room.", NULL);
            return SL_OK;
        }
        if (watch_needs_audit(s->name, room, clock_wall_ms()))
            audit_log(actor, "watch_room", room, "recent messages (one entry per 10 minutes)");
    } else {
        query_get(req->query, "q", q, sizeof q);
        query_get(req->query, "nick", nick, sizeof nick);
        query_get(req->query, "room", room, sizeof room);
        query_get(req->query, "since", since, sizeof since);
        if (room[0])
            want_room = room;
        audit_log(actor, "search", room[0] ? room : "*", "q=\"%s\" nick=\"%s\" since=%s", q,
                  nick, since);
    }
    int64_t from = since[0] ? clock_parse_iso8601(since) : 0;
    if (from < 0) {
        api_error(c, 400, "invalid_field", "since", "since is an ISO 8601 time (UTC).", NULL);
        return SL_OK;
    }
    json_t *list = json_array();
    size_t pos = 0;
    bool is_search = strncmp(rest, "rooms/", 6) != 0;
    for (struct room *r; (r = room_next(&pos)) != NULL;) {
        if (want_room && strcasecmp(r->name, want_room) != 0)
            continue;
        /* Search covers public rooms only; an invite-only room is watched
         * deliberately, by name (docs/moderation.md). */
        if (is_search && (r->modes & ROOM_MODE_INVITE))
            continue;
        const struct store_msg *msgs[1000];
        size_t n = history_snapshot(r->history, msgs, 1000);
        for (size_t i = 0; i < n; i++) {
            const struct store_msg *m = msgs[i];
            const char *bang = strchr(m->source, '!');
            char who[NICK_MAX + 1];
            snprintf(who, sizeof who, "%.*s", bang ? (int)(bang - m->source) : NICK_MAX,
                     m->source);
            if ((from > 0 && m->time_ms < from) || !contains_folded(m->text, q) ||
                (nick[0] && strcasecmp(who, nick) != 0))
                continue;
            json_array_append_new(list, message_json(m));
        }
    }
    api_send_json(c, 200, json_pack("{s:o}", "messages", list), NULL);
    return SL_OK;
}

static void audit_row(const struct store_audit *a, void *ud)
{
    char when[CLOCK_ISO_LEN + 1];
    json_array_append_new(ud, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "seq",
                                        (json_int_t)a->seq, "time", clock_iso8601(a->time_ms, when),
                                        "actor", a->actor, "action", a->action, "target",
                                        a->target, "detail", a->detail));
}

static enum sl_err mod_route(struct conn *c, const struct http_request *req)
{
    if (strncmp(req->path, "/api/v1/mod/", 12) != 0)
        return SL_ENOTFOUND;
    const struct staff_session *s = require_staff(c, req);
    if (!s)
        return SL_OK;
    const char *rest = req->path + 12;
    bool is_get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if (!strcmp(rest, "reports") && is_get)
        return queue_route(c, req, s);
    if (!strncmp(rest, "reports/", 8) && is_get) {
        char *end = NULL;
        long long id = strtoll(rest + 8, &end, 10);
        if (*end || id <= 0)
            return SL_ENOTFOUND;
        return report_route(c, id, s);
    }
    if (!strcmp(rest, "actions") && !strcmp(req->method, "POST"))
        return action_route(c, req, s);
    if ((!strcmp(rest, "rooms") || !strncmp(rest, "rooms/", 6) || !strcmp(rest, "search")) &&
        is_get)
        return rooms_route(c, req, s, rest);
    if (!strncmp(rest, "rules", 5) || !strcmp(rest, "lockdown")) {
        char actor[64];
        snprintf(actor, sizeof actor, "staff:%s", s->name);
        if (api_rules_route(c, req, actor, rest) == SL_OK)
            return SL_OK;
    }
    if (!strcmp(rest, "audit") && is_get) {
        json_t *list = json_array();
        audit_recent(audit_row, list);
        api_send_json(c, 200, json_pack("{s:o}", "entries", list), NULL);
        return SL_OK;
    }
    api_error(c, 404, "not_found", NULL, "No such endpoint.", NULL);
    return SL_OK;
}

/* POST /api/v1/reports: a user's report, from the page. The reporter is
 * the session of the ticket cookie, connected now. The report is written
 * synchronously: the answer "201 {id}" means it is on disk. */
static enum sl_err user_report_route(struct conn *c, const struct http_request *req)
{
    bool is_appeal = !strcmp(req->path, "/api/v1/appeals");
    if (!is_appeal && strcmp(req->path, "/api/v1/reports") != 0)
        return SL_ENOTFOUND;
    char text[TICKET_MAX + 2];
    struct ticket t;
    bool has_session = api_cookie(req, "salon_ticket", text, sizeof text) &&
                       ticket_verify(text, clock_wall_ms(), &t) == SL_OK;
    json_t *doc = api_body_json(c, req);
    if (!doc)
        return SL_OK;
    if (is_appeal) {
        json_int_t action = json_integer_value(json_object_get(doc, "action_id"));
        const char *words = str(doc, "text");
        char who[SESSION_ID_LEN + 1];
        if (has_session)
            snprintf(who, sizeof who, "%s", t.session);
        else if (!api_cookie(req, "salon_device", who, sizeof who))
            snprintf(who, sizeof who, "anonymous");
        if (action <= 0 || !words || !words[0]) {
            json_decref(doc);
            api_error(c, 400, "invalid_field", NULL, "Give the action id and your words.", NULL);
            return SL_OK;
        }
        int64_t id = 0;
        enum sl_err err = report_create_appeal(who, action, words, NULL, NULL, &id);
        json_decref(doc);
        if (err) {
            api_error(c, 503, "temporary_error", NULL, "Your appeal could not be saved; try again.", NULL);
            return SL_OK;
        }
        api_send_json(c, 201, json_pack("{s:I}", "id", (json_int_t)id), NULL);
        return SL_OK;
    }
    if (!has_session) {
        json_decref(doc);
        api_error(c, 401, "no_session", NULL, "Enter first.", NULL);
        return SL_OK;
    }
    struct user *by = user_find_session(t.session);
    const char *target = str(doc, "target"), *category = str(doc, "category");
    if (!by || !target || !category || report_severity(category) < 0 ||
        !strcmp(category, "appeal")) {
        json_decref(doc);
        api_error(c, 400, by ? "invalid_field" : "not_connected", NULL,
                  by ? "target and a known category are required." : "Connect to chat first.",
                  NULL);
        return SL_OK;
    }
    const char *comment = str(doc, "comment");
    struct user *reported = user_find(target);
    int64_t id = 0;
    enum sl_err err = reported == by ? SL_EINVAL
                      : report_create(by, reported, reported ? NULL : target, category,
                                      comment ? comment : "", NULL, NULL, &id);
    json_decref(doc);
    if (err == SL_EIO) {
        api_error(c, 503, "temporary_error", NULL, "Your report could not be saved; try again.", NULL);
        return SL_OK;
    }
    if (err) {
        api_error(c, 404, "unknown_target", NULL, "No such person or recent message.", NULL);
        return SL_OK;
    }
    /* Only now, with the report on disk, is it "received". */
    api_send_json(c, 201, json_pack("{s:I}", "id", (json_int_t)id), NULL);
    return SL_OK;
}

void api_mod_init(void)
{
    http_route_add("POST", "/api/v1/staff/", login_route);
    http_route_add("GET", "/api/v1/mod/", mod_route);
    http_route_add("POST", "/api/v1/mod/", mod_route);
    http_route_add("DELETE", "/api/v1/mod/", mod_route);
    http_route_add("POST", "/api/v1/reports", user_report_route);
    http_route_add("POST", "/api/v1/appeals", user_report_route);
}
