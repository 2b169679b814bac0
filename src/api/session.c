/* POST/GET/DELETE /api/v1/session: one-step anonymous entry, returning
 * visitors, leaving. GET /api/v1/rooms: the room directory. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "api/api.h"
#include "api/json.h"
#include "core/room.h"
#include "core/session.h"
#include "core/ticket.h"
#include "core/user.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "policy/gate.h"
#include "policy/lockdown.h"
#include "transport/http.h"

#define COOKIE_DEVICE "salon_device"
#define COOKIE_TICKET "salon_ticket"
#define DEVICE_ID_LEN 32
#define DEVICE_COOKIE_AGE_S (365L * 24 * 3600)

static struct api_config cfg = {.ticket_ttl_ms = 86400000};

static bool device_valid(const char *d)
{
    if (strlen(d) != DEVICE_ID_LEN)
        return false;
    for (const char *p = d; *p; p++)
        if (!isxdigit((unsigned char)*p))
            return false;
    return true;
}

/* The device id from the cookie, or a new one (and its Set-Cookie line
 * appended to headers). */
static void device_of(const struct http_request *req, char device[DEVICE_ID_LEN + 1],
                      char *headers, size_t cap)
{
    if (api_cookie(req, COOKIE_DEVICE, device, DEVICE_ID_LEN + 1) && device_valid(device))
        return;
    ticket_new_session_id(device);      /* the same 128 random bits */
    size_t n = strlen(headers);
    snprintf(headers + n, cap - n,
             "Set-Cookie: " COOKIE_DEVICE "=%s; Path=/; Max-Age=%ld; HttpOnly; SameSite=Lax%s\r\n",
             device, DEVICE_COOKIE_AGE_S, cfg.secure_cookies ? "; Secure" : "");
}

static void ticket_cookie(char *headers, size_t cap, const char *ticket, long max_age_s)
{
    size_t n = strlen(headers);
    snprintf(headers + n, cap - n,
             "Set-Cookie: " COOKIE_TICKET "=%s; Path=/api; Max-Age=%ld; HttpOnly; "
             "SameSite=Strict%s\r\n",
             ticket, max_age_s, cfg.secure_cookies ? "; Secure" : "");
}

static json_t *profile_json(const struct ticket *t)
{
    char created[CLOCK_ISO_LEN + 1];
    clock_iso8601(t->profile.session_created_ms, created);
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "nick", t->nick, "age_band",
                     session_age_band(t->profile.age), "gender",
                     ticket_gender_name(t->profile.gender), "region", t->profile.region,
                     "show_region", t->profile.show_region, "created", created);
}

static void send_session(struct conn *c, int status, const char *ticket, const struct ticket *t,
                         const char *headers)
{
    char expires[CLOCK_ISO_LEN + 1];
    clock_iso8601(t->expires_ms, expires);
    api_send_json(c, status,
              json_pack("{s:s, s:s, s:o}", "ticket", ticket, "expires", expires, "profile",
                        profile_json(t)),
              headers);
}

/* French départements (01-95 with 2A/2B, 971-976), BE, CH, CA, other. */
static bool region_valid(const char *r)
{
    static const char *const others[] = {"2A", "2B", "971", "972", "973", "974", "976",
                                         "BE", "CH", "CA", "other"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        if (strcmp(r, others[i]) == 0)
            return true;
    if (strlen(r) != 2 || !isdigit((unsigned char)r[0]) || !isdigit((unsigned char)r[1]))
        return false;
    int n = atoi(r);
    return n >= 1 && n <= 95 && n != 20;
}

/* A valid ticket from the cookie into t (and its text into text). */
static enum sl_err ticket_from_cookie(const struct http_request *req, char *text, size_t cap,
                                      struct ticket *t)
{
    if (!api_cookie(req, COOKIE_TICKET, text, cap) || !text[0])
        return SL_ENOTFOUND;
    return ticket_verify(text, clock_wall_ms(), t);
}

static enum sl_err session_get_route(struct conn *c, const struct http_request *req)
{
    char text[TICKET_MAX + 1], headers[512] = "";
    struct ticket t;
    enum sl_err err = ticket_from_cookie(req, text, sizeof text, &t);
    if (err == SL_EPERM) {
        ticket_cookie(headers, sizeof headers, "", 0);
        api_error(c, 401, "expired", NULL,
                   "Your session has expired. Please enter again.", headers);
        return SL_OK;
    }
    if (err) {
        api_error(c, 401, "no_session", NULL, "No session: please enter.", NULL);
        return SL_OK;
    }
    send_session(c, 200, text, &t, NULL);
    return SL_OK;
}

static enum sl_err session_delete_route(struct conn *c, const struct http_request *req)
{
    (void)req;
    char headers[512] = "";
    ticket_cookie(headers, sizeof headers, "", 0);
    http_respond(c, 204, NULL, "", 0, headers);
    return SL_OK;
}

static enum sl_err session_post_route(struct conn *c, const struct http_request *req)
{
    char headers[1024] = "", device[DEVICE_ID_LEN + 1];
    const char *ctype = http_request_header(req, "Content-Type");
    device_of(req, device, headers, sizeof headers);
    if (!ctype || strncasecmp(ctype, "application/json", 16) != 0 ||
        (ctype[16] && ctype[16] != ';' && ctype[16] != ' ')) {
        api_error(c, 415, "unsupported_media_type", NULL, "Send JSON (application/json).",
                   headers);
        return SL_OK;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        json_decref(body);
        api_error(c, 400, "invalid_json", NULL, "The request is not a JSON object.", headers);
        return SL_OK;
    }
    char existing[TICKET_MAX + 1];
    struct ticket t;
    if (ticket_from_cookie(req, existing, sizeof existing, &t) == SL_OK) {
        json_decref(body);
        api_error(c, 409, "session_exists", NULL,
                   "You have already entered; your profile cannot change.", headers);
        return SL_OK;
    }

    const char *code = NULL, *field = NULL, *message = NULL;
    json_t *jnick = json_object_get(body, "nick"), *jage = json_object_get(body, "age");
    json_t *jgender = json_object_get(body, "gender"), *jregion = json_object_get(body, "region");
    json_t *jshow = json_object_get(body, "show_region"), *jrules = json_object_get(body, "accept_rules");
    json_t *jpow = json_object_get(body, "pow");
    int gender = -1;
    /* The age rule first: a device locked for age learns nothing else. The
     * nickname goes to the rules only when it is a valid one. */
    struct verdict v = policy_check(&(struct action){
        .kind = ACTION_ENTER, .device = device, .addr = c->addr, .wall_ms = clock_wall_ms(),
        .now_ms = clock_mono_ms(),
        .nick = json_is_string(jnick) && user_nick_valid(json_string_value(jnick))
                    ? json_string_value(jnick) : NULL,
        .pow = json_is_string(jpow) ? json_string_value(jpow) : NULL,
        .age = json_is_integer(jage) && json_integer_value(jage) >= 0 &&
                       json_integer_value(jage) <= 1000 ? (int)json_integer_value(jage) : 18});
    if (v.kind == VERDICT_DENY && v.code && !strcmp(v.code, "banned")) {
        json_decref(body);
        api_error(c, 403, "banned", NULL, v.reason, headers);
        return SL_OK;
    }
    if (v.kind == VERDICT_DENY && v.code && !strcmp(v.code, "pow_required")) {
        /* Lockdown: the page proves some work first (docs/api.md). */
        json_decref(body);
        json_t *e = json_pack("{s:s, s:n, s:s, s:s, s:i}", "code", "pow_required", "field",
                              "message", v.reason ? v.reason : "Please wait a moment.",
                              "challenge", v.challenge ? v.challenge : "", "bits",
                              (int)lockdown_bits());
        api_send_json(c, 403, json_pack("{s:o}", "error", e), headers);
        return SL_OK;
    }
    if (v.kind == VERDICT_DENY && v.code && !strcmp(v.code, "closed")) {
        json_decref(body);
        api_error(c, 503, "closed", NULL, v.reason, headers);
        return SL_OK;
    }
    if (v.kind == VERDICT_DENY && v.code && !strcmp(v.code, "nick_refused")) {
        json_decref(body);
        api_error(c, 400, "nick_refused", "nick", v.reason, headers);
        return SL_OK;
    }
    if (v.kind == VERDICT_DENY && v.code && !strcmp(v.code, "age_locked")) {
        json_decref(body);
        json_t *e = json_pack("{s:s, s:n, s:s, s:I}", "code", "age_locked", "field",
                              "message", "Entry from this device is paused after an age refusal.",
                              "retry_after", (json_int_t)((v.retry_ms + 999) / 1000));
        api_send_json(c, 429, json_pack("{s:o}", "error", e), headers);
        return SL_OK;
    }
    if (!jnick) {
        code = "missing_field", field = "nick", message = "Choose a pseudonym.";
    } else if (!json_is_string(jnick) || !user_nick_valid(json_string_value(jnick))) {
        code = "invalid_nick", field = "nick",
        message = "1 to 30 letters, digits or _-[]{}|^` ; not starting with a digit or '-'.";
    } else if (!jage) {
        code = "missing_field", field = "age", message = "Give your age.";
    } else if (!json_is_integer(jage) || json_integer_value(jage) < 0 ||
               json_integer_value(jage) > 120) {
        code = "invalid_age", field = "age", message = "Age must be a whole number of years.";
    } else if (!jgender) {
        code = "missing_field", field = "gender", message = "Choose a gender (or 'not said').";
    } else if (!json_is_string(jgender) ||
               (gender = ticket_gender_parse(json_string_value(jgender))) < 0) {
        code = "invalid_gender", field = "gender", message = "One of woman, man, other, unsaid.";
    } else if (!jregion) {
        code = "missing_field", field = "region", message = "Choose a region.";
    } else if (!json_is_string(jregion) || !region_valid(json_string_value(jregion))) {
        code = "invalid_region", field = "region", message = "Unknown region.";
    } else if (jshow && !json_is_boolean(jshow)) {
        code = "invalid_field", field = "show_region", message = "show_region is true or false.";
    } else if (!json_is_true(jrules)) {
        code = "rules_not_accepted", field = "accept_rules",
        message = "Please read and accept the house rules.";
    }
    if (code) {
        api_error(c, 400, code, field, message, headers);
        json_decref(body);
        return SL_OK;
    }
    if (v.kind == VERDICT_DENY) {
        /* Under age: refused kindly, with where to find help. */
        json_t *e = json_pack(
            "{s:s, s:s, s:s, s:s}", "code", v.code ? v.code : "refused", "field", "age",
            "message", "salon is for adults only. If you need to talk to someone, "
                       "in France call 3018 (free, anonymous, for young people) or 119 "
                       "(children in danger).",
            "help", "https://e-enfance.org/numero-3018/");
        api_send_json(c, 403, json_pack("{s:o}", "error", e), headers);
        json_decref(body);
        return SL_OK;
    }
    const char *nick = json_string_value(jnick);
    if (user_find(nick)) {
        api_error(c, 409, "nick_in_use", "nick", "This pseudonym is in use right now.",
                   headers);
        json_decref(body);
        return SL_OK;
    }
    memset(&t, 0, sizeof t);
    ticket_new_session_id(t.session);
    snprintf(t.nick, sizeof t.nick, "%s", nick);
    snprintf(t.device, sizeof t.device, "%s", device);
    t.profile.age = (int)json_integer_value(jage);
    t.profile.gender = (enum gender)gender;
    snprintf(t.profile.region, sizeof t.profile.region, "%s", json_string_value(jregion));
    t.profile.show_region = json_is_true(jshow);
    t.issued_ms = clock_wall_ms();
    t.profile.session_created_ms = t.issued_ms;
    t.expires_ms = t.issued_ms + cfg.ticket_ttl_ms;
    json_decref(body);
    char text[TICKET_MAX + 1];
    if (ticket_mint(&t, text, sizeof text) != SL_OK) {
        api_error(c, 500, "internal", NULL, "Could not create the session.", headers);
        return SL_OK;
    }
    /* The cookie outlives the ticket by a week, so that a returning visitor
     * is told the session expired rather than finding none. */
    ticket_cookie(headers, sizeof headers, text, (long)(cfg.ticket_ttl_ms / 1000) + 7 * 86400);
    log_info("session %.8s entered (device %.8s)", t.session, device);
    send_session(c, 201, text, &t, headers);
    return SL_OK;
}

static enum sl_err session_route(struct conn *c, const struct http_request *req)
{
    if (strcmp(req->path, "/api/v1/session") != 0)
        return SL_ENOTFOUND;
    if (!strcmp(req->method, "POST"))
        return session_post_route(c, req);
    if (!strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"))
        return session_get_route(c, req);
    if (!strcmp(req->method, "DELETE"))
        return session_delete_route(c, req);
    api_error(c, 405, "method_not_allowed", NULL, "Use GET, POST or DELETE.",
               "Allow: GET, HEAD, POST, DELETE\r\n");
    return SL_OK;
}

static enum sl_err rooms_route(struct conn *c, const struct http_request *req)
{
    if (strcmp(req->path, "/api/v1/rooms") != 0)
        return SL_ENOTFOUND;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        api_error(c, 405, "method_not_allowed", NULL, "Use GET.", "Allow: GET, HEAD\r\n");
        return SL_OK;
    }
    static const char *const cats[] = {"user", "theme", "region", "age"};
    json_t *list = json_array();
    size_t pos = 0;
    for (struct room *r; (r = room_next(&pos)) != NULL;) {
        if (!room_is_listed(r, NULL))
            continue;
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:i}", "name", r->name, "topic",
                                              r->topic ? r->topic : "", "category",
                                              r->is_catalogue ? cats[r->category ? r->category : ROOM_CAT_THEME] : "user",
                                              "members", (int)r->nmembers));
    }
    api_send_json(c, 200, json_pack("{s:o}", "rooms", list), "Cache-Control: no-store\r\n");
    return SL_OK;
}

void api_init(const struct api_config *c)
{
    cfg = *c;
    http_route_add("POST", "/api/v1/session", session_route);
    http_route_add("GET", "/api/v1/session", session_route);
    http_route_add("DELETE", "/api/v1/session", session_route);
    http_route_add("PUT", "/api/v1/session", session_route);
    http_route_add("GET", "/api/v1/rooms", rooms_route);
    http_route_add("POST", "/api/v1/rooms", rooms_route);
    api_mod_init();
}
