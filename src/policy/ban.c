#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/addr.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/glob.h"
#include "lib/log.h"
#include "policy/checks.h"
#include "store/store.h"

/* Bans live in memory (they are few and checked on every entry) and in
 * storage records (kind "ban"), so that they survive restarts. */
#define RECORD_KIND "ban"
#define BANS_MAX 100000

static struct ban *bans;
static size_t nbans;
static int64_t next_id = 1;
static struct store *store;

static const char *const kind_names[] = {"session", "device", "address", "prefix", "nick"};

int ban_kind_parse(const char *name)
{
    for (int i = 0; i < 5; i++)
        if (strcmp(name, kind_names[i]) == 0)
            return i;
    return -1;
}

const char *ban_kind_name(enum ban_kind k)
{
    return (unsigned)k < 5 ? kind_names[k] : "?";
}

static void save(const struct ban *b)
{
    if (!store)
        return;
    char key[32];
    snprintf(key, sizeof key, "%" PRId64, b->id);
    json_t *doc = json_pack("{s:s, s:s, s:I, s:s, s:s}", "kind", kind_names[b->kind], "value",
                            b->value, "created", (json_int_t)b->created_ms, "by", b->by,
                            "reason", b->reason);
    char *value = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (value)
        store_put_record(store, RECORD_KIND, key, value, b->until_ms);
    free(value);
}

static struct ban *add(enum ban_kind kind, const char *value, int64_t until_ms,
                       const char *reason, const char *by)
{
    struct ban b = {.kind = kind, .until_ms = until_ms, .created_ms = clock_wall_ms()};
    if (strlen(value) >= sizeof b.value || nbans >= BANS_MAX)
        return NULL;
    snprintf(b.value, sizeof b.value, "%s", value);
    if ((kind == BAN_ADDRESS || kind == BAN_PREFIX) && !addr_parse(value, b.addr))
        return NULL;
    if ((kind == BAN_SESSION || kind == BAN_DEVICE) && strlen(value) != 32)
        return NULL;
    if (kind == BAN_NICK && !value[0])
        return NULL;
    snprintf(b.reason, sizeof b.reason, "%s", reason ? reason : "");
    snprintf(b.by, sizeof b.by, "%s", by ? by : "");
    bans = xrealloc(bans, (nbans + 1) * sizeof *bans);
    bans[nbans] = b;
    return &bans[nbans++];
}

int64_t policy_ban_add(enum ban_kind kind, const char *value, int64_t until_ms,
                       const char *reason, const char *by)
{
    struct ban *b = add(kind, value, until_ms, reason, by);
    if (!b)
        return 0;
    b->id = next_id++;
    save(b);
    return b->id;
}

bool policy_ban_remove(int64_t id)
{
    for (size_t i = 0; i < nbans; i++) {
        if (bans[i].id == id) {
            if (store) {
                char key[32];
                snprintf(key, sizeof key, "%" PRId64, id);
                store_put_record(store, RECORD_KIND, key, NULL, 0);
            }
            bans[i] = bans[--nbans];
            return true;
        }
    }
    return false;
}

static void load_one(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)ud;
    json_t *doc = json_loads(value, 0, NULL);
    const char *kind_name = json_string_value(json_object_get(doc, "kind"));
    const char *val = json_string_value(json_object_get(doc, "value"));
    int kind = kind_name ? ban_kind_parse(kind_name) : -1;
    struct ban *b = kind < 0 || !val ? NULL
                    : add((enum ban_kind)kind, val, expires_ms,
                          json_string_value(json_object_get(doc, "reason")),
                          json_string_value(json_object_get(doc, "by")));
    if (!b) {
        json_decref(doc);
        log_warn("ban %s: unreadable record ignored", key);
        return;
    }
    b->id = strtoll(key, NULL, 10);
    b->created_ms = json_integer_value(json_object_get(doc, "created"));
    json_decref(doc);
    if (b->id >= next_id)
        next_id = b->id + 1;
}

void policy_bans_init(struct store *st, int64_t now_wall_ms)
{
    store = st;
    if (st)
        store_load_records(st, RECORD_KIND, now_wall_ms, load_one, NULL);
}

const struct ban *policy_ban_find(const char *session, const char *device,
                                  const uint8_t *addr, const char *nick, int64_t now)
{
    for (size_t i = 0; i < nbans; i++) {
        const struct ban *b = &bans[i];
        if (b->until_ms && b->until_ms <= now)
            continue;
        bool hit = false;
        switch (b->kind) {
        case BAN_SESSION: hit = session && !strcmp(session, b->value); break;
        case BAN_DEVICE: hit = device && device[0] && !strcmp(device, b->value); break;
        case BAN_ADDRESS: hit = addr && !memcmp(addr, b->addr, 16); break;
        case BAN_PREFIX: hit = addr && addr_same_prefix(addr, b->addr); break;
        case BAN_NICK: hit = nick && glob_match(b->value, nick); break;
        }
        if (hit)
            return b;
    }
    return NULL;
}

struct verdict check_ban(const struct action *a)
{
    const struct ban *b = NULL;
    int64_t now = a->wall_ms ? a->wall_ms : clock_wall_ms();
    switch (a->kind) {
    case ACTION_CONNECT:
        b = policy_ban_find(NULL, NULL, a->addr, NULL, now);
        break;
    case ACTION_ENTER:
    case ACTION_REGISTER:
    case ACTION_NICK:
        b = policy_ban_find(a->session, a->device, a->addr, a->nick, now);
        break;
    default:
        return (struct verdict){.kind = VERDICT_NONE};
    }
    if (!b)
        return (struct verdict){.kind = VERDICT_NONE};
    /* The reason names the ban so that an appeal can cite it. */
    static char reason[400];
    snprintf(reason, sizeof reason, "You are banned (ban %" PRId64 "%s): %s. To appeal, "
             "write to the moderators with this ban number.", b->id,
             b->until_ms ? ", for a time" : "", b->reason);
    return (struct verdict){.kind = VERDICT_DENY, .code = "banned", .reason = reason,
                            .retry_ms = b->id};
}

struct verdict check_mute(const struct action *a)
{
    if ((a->kind != ACTION_SAY_ROOM && a->kind != ACTION_SAY_PRIVATE) || !a->muted_until_ms)
        return (struct verdict){.kind = VERDICT_NONE};
    int64_t now = a->wall_ms ? a->wall_ms : clock_wall_ms();
    if (a->muted_until_ms <= now)
        return (struct verdict){.kind = VERDICT_NONE};
    return (struct verdict){.kind = VERDICT_DENY, .code = "MUTED",
                            .reason = "You are muted by a moderator for now"};
}
