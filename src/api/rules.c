/* The staff API for automatic protection (docs/rules.md, docs/moderation.md):
 * the rules (list, switch on and off, add and remove custom rules, test a
 * pattern, reload the packs) and the lockdown level. Every change is
 * audited with the rule set's version after it. Reached through mod.c,
 * which has already checked the staff session and its CSRF token. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "api/json.h"
#include "api/rules.h"
#include "core/audit.h"
#include "policy/lockdown.h"
#include "policy/normalize.h"
#include "policy/rules.h"

static const char *const scope_names[] = {"all", "rooms", "private"};
static const char *const view_names[] = {"folded", "plain"};

static json_t *rule_json(const struct rule *r)
{
    json_t *reads = json_array(), *langs = json_array();
    for (unsigned bit = 1; bit <= READ_AWAY; bit <<= 1)
        if (r->reads & bit)
            json_array_append_new(reads, json_string(rule_read_name((enum rule_read)bit)));
    if (r->langs & RULE_LANG_FR)
        json_array_append_new(langs, json_string("fr"));
    if (r->langs & RULE_LANG_EN)
        json_array_append_new(langs, json_string("en"));
    return json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:s, s:s, s:s, s:i, s:s?, s:s?, s:s?, "
                     "s:s?, s:s, s:s, s:s, s:b}",
                     "id", r->id, "name", r->name ? r->name : "", "category",
                     r->category ? r->category : "", "severity", r->severity, "reads", reads,
                     "langs", langs, "scope", scope_names[r->scope], "action",
                     rule_action_name(r->action), "signal", rule_signal_name(r->signal),
                     "weight", r->weight, "keywords", r->keywords, "regex", r->regex,
                     "and_keywords", r->and_keywords, "and_regex", r->and_regex, "view",
                     view_names[r->view], "reason", r->reason ? r->reason : "", "origin",
                     r->origin ? r->origin : "", "enabled", r->enabled);
}

/* A change takes effect once compiled in the background: the answer gives
 * the version that will carry it, and the running one. */
static void send_version(struct conn *c, int status)
{
    api_send_json(c, status, json_pack("{s:I, s:I}", "version",
                                       (json_int_t)rules_version_pending(), "running",
                                       (json_int_t)rules_version()), NULL);
}

static enum sl_err list(struct conn *c)
{
    json_t *all = json_array();
    for (size_t i = 0; i < rules_count(); i++)
        json_array_append_new(all, rule_json(rules_at(i)));
    api_send_json(c, 200, json_pack("{s:I, s:o}", "version", (json_int_t)rules_version(),
                                    "rules", all), NULL);
    return SL_OK;
}

/* A reason is required for every change, as for the other staff actions. */
static const char *reason_of(json_t *doc, const char *key)
{
    const char *r = json_string_value(json_object_get(doc, key));
    return r && r[0] ? r : NULL;
}

static enum sl_err set_enabled(struct conn *c, json_t *doc, const char *actor, const char *id)
{
    json_t *on = json_object_get(doc, "enabled");
    const char *reason = reason_of(doc, "reason");
    if (!json_is_boolean(on) || !reason) {
        api_error(c, 400, "invalid_field", NULL, "Give enabled (true or false) and a reason.",
                  NULL);
        return SL_OK;
    }
    char err[200] = "";
    if (rules_set_enabled(id, json_is_true(on), err, sizeof err) != SL_OK) {
        api_error(c, 404, "not_found", NULL, err[0] ? err : "No such rule.", NULL);
        return SL_OK;
    }
    audit_log(actor, json_is_true(on) ? "rule_enable" : "rule_disable", id,
              "%s; rules version %llu", reason, (unsigned long long)rules_version_pending());
    send_version(c, 200);
    return SL_OK;
}

/* The keys a custom rule may give: those of a pack's [rule] section. */
static const char *const rule_keys[] = {
    "name", "category", "reads", "keywords", "regex", "view", "lang", "scope",
    "room_categories", "exempt_rooms", "action", "mute", "signal", "weight", "severity",
    "reason", "enabled", "and_keywords", "and_regex",
};

static enum sl_err add(struct conn *c, json_t *doc, const char *actor)
{
    const char *id = json_string_value(json_object_get(doc, "id"));
    const char *why = reason_of(doc, "why");
    if (!id || !why) {
        api_error(c, 400, "invalid_field", NULL, "Give the rule's id and why it is added.",
                  NULL);
        return SL_OK;
    }
    const char *keys[sizeof rule_keys / sizeof rule_keys[0]];
    const char *values[sizeof rule_keys / sizeof rule_keys[0]];
    char numbers[4][24];
    size_t n = 0, nnum = 0;
    for (size_t i = 0; i < sizeof rule_keys / sizeof rule_keys[0]; i++) {
        json_t *v = json_object_get(doc, rule_keys[i]);
        if (!v || json_is_null(v))
            continue;
        if (json_is_integer(v) && nnum < 4) {
            snprintf(numbers[nnum], sizeof numbers[nnum], "%lld",
                     (long long)json_integer_value(v));
            values[n] = numbers[nnum++];
        } else if (json_is_boolean(v)) {
            values[n] = json_is_true(v) ? "true" : "false";
        } else if (json_is_string(v)) {
            values[n] = json_string_value(v);
        } else {
            api_error(c, 400, "bad_rule", rule_keys[i], "Values are strings or numbers.", NULL);
            return SL_OK;
        }
        keys[n++] = rule_keys[i];
    }
    char err[300] = "";
    if (rules_add(id, keys, values, n, err, sizeof err) != SL_OK) {
        api_error(c, 400, "bad_rule", NULL, err[0] ? err : "This rule cannot be loaded.", NULL);
        return SL_OK;
    }
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    audit_log(actor, "rule_add", id, "%s; rules version %llu; %s", why,
              (unsigned long long)rules_version_pending(), text ? text : "");
    free(text);
    api_send_json(c, 201, json_pack("{s:s, s:I, s:I}", "id", id, "version",
                                    (json_int_t)rules_version_pending(), "running",
                                    (json_int_t)rules_version()), NULL);
    return SL_OK;
}

static enum sl_err remove_rule(struct conn *c, json_t *doc, const char *actor, const char *id)
{
    const char *reason = doc ? reason_of(doc, "reason") : NULL;
    char err[200] = "";
    if (rules_remove(id, err, sizeof err) != SL_OK) {
        api_error(c, 404, "not_found", NULL, err[0] ? err : "No such custom rule.", NULL);
        return SL_OK;
    }
    audit_log(actor, "rule_remove", id, "%s; rules version %llu",
              reason ? reason : "no reason given", (unsigned long long)rules_version_pending());
    send_version(c, 200);
    return SL_OK;
}

/* Shows staff what the rules would read and whether a pattern matches it. */
static enum sl_err test(struct conn *c, json_t *doc)
{
    const char *kw = json_string_value(json_object_get(doc, "keywords"));
    const char *re = json_string_value(json_object_get(doc, "regex"));
    const char *text = json_string_value(json_object_get(doc, "text"));
    const char *view = json_string_value(json_object_get(doc, "view"));
    enum rule_view v = view ? (strcmp(view, "plain") ? VIEW_FOLDED : VIEW_PLAIN)
                            : (re ? VIEW_PLAIN : VIEW_FOLDED);
    char err[300] = "";
    bool matches = false;
    bool valid = rules_check_pattern(kw, re, v, text ? text : "", &matches, err, sizeof err);
    static struct norm_text nt;
    normalize_text(text ? text : "", text ? strlen(text) : 0, &nt);
    json_t *out = json_pack("{s:b, s:b, s:s, s:s}", "valid", valid, "matches", matches,
                            "plain", nt.plain, "folded", nt.folded);
    if (!valid)
        json_object_set_new(out, "error", json_string(err));
    api_send_json(c, 200, out, NULL);
    return SL_OK;
}

static enum sl_err lockdown(struct conn *c, json_t *doc, const char *actor)
{
    if (doc) {
        const char *name = json_string_value(json_object_get(doc, "level"));
        const char *reason = reason_of(doc, "reason");
        int level = name ? lockdown_level_parse(name) : -1;
        if (level < 0 || !reason) {
            api_error(c, 400, "invalid_field", NULL,
                      "Give a level (off, challenge or closed) and a reason.", NULL);
            return SL_OK;
        }
        lockdown_set((enum lockdown_level)level);
        audit_log(actor, "lockdown", name, "%s", reason);
    }
    api_send_json(c, 200, json_pack("{s:s, s:i}", "level", lockdown_level_name(lockdown_level()),
                                    "bits", (int)lockdown_bits()), NULL);
    return SL_OK;
}

enum sl_err api_rules_route(struct conn *c, const struct http_request *req, const char *actor,
                            const char *rest)
{
    bool is_get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    bool is_post = !strcmp(req->method, "POST");
    bool is_delete = !strcmp(req->method, "DELETE");
    if (!strcmp(rest, "rules") && is_get)
        return list(c);
    if (!strcmp(rest, "lockdown") && is_get)
        return lockdown(c, NULL, actor);
    if (!strcmp(rest, "rules/reload") && is_post) {
        rules_reload();
        audit_log(actor, "rules_reload", "rules", "packs re-read; rules version %llu",
                  (unsigned long long)rules_version_pending());
        send_version(c, 202);
        return SL_OK;
    }
    if (!is_post && !is_delete)
        return SL_ENOTFOUND;
    /* Every other request carries JSON (a DELETE may have no body). */
    json_t *doc = NULL;
    if (is_post || req->body_len) {
        doc = api_body_json(c, req);
        if (!doc)
            return SL_OK;
    }
    enum sl_err err = SL_ENOTFOUND;
    char id[RULE_ID_MAX + 16];
    if (!strcmp(rest, "lockdown") && is_post) {
        err = lockdown(c, doc, actor);
    } else if (!strcmp(rest, "rules/test") && is_post) {
        err = test(c, doc);
    } else if (!strcmp(rest, "rules") && is_post) {
        err = add(c, doc, actor);
    } else if (!strncmp(rest, "rules/", 6) && strlen(rest + 6) < sizeof id) {
        snprintf(id, sizeof id, "%s", rest + 6);
        char *slash = strchr(id, '/');
        if (slash && !strcmp(slash, "/enabled") && is_post) {
            *slash = '\0';
            err = set_enabled(c, doc, actor, id);
        } else if (!slash && is_delete) {
            err = remove_rule(c, doc, actor, id);
        }
    }
    json_decref(doc);
    return err;
}
