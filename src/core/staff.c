#include "core/staff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/strmap.h"
#include "store/store.h"

#define SESSION_TTL_MS (8LL * 3600 * 1000)
#define SESSIONS_MAX 1000

struct account {
    char name[STAFF_NAME_MAX + 1];
    char role[16];
    char pwhash[crypto_pwhash_STRBYTES];
    bool is_disabled;
};

static struct strmap accounts;
static struct staff_session sessions[SESSIONS_MAX];

bool staff_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > STAFF_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              (*p >= 'A' && *p <= 'Z')))
            return false;
    return true;
}

bool staff_role_valid(const char *role)
{
    return !strcmp(role, "moderator") || !strcmp(role, "admin");
}

static void load_one(const struct store_staff *s, void *ud)
{
    (void)ud;
    struct account *a = strmap_get(&accounts, s->name);
    if (!a) {
        a = xcalloc(1, sizeof *a);
        snprintf(a->name, sizeof a->name, "%s", s->name);
        strmap_put(&accounts, a->name, a);
    }
    snprintf(a->role, sizeof a->role, "%s", s->role);
    snprintf(a->pwhash, sizeof a->pwhash, "%s", s->pwhash);
    a->is_disabled = s->is_disabled;
}

void staff_init(struct store *st)
{
    if (st)
        store_load_staff(st, load_one, NULL);
}

enum sl_err staff_add(struct store *st, const char *name, const char *role, const char *password)
{
    if (!staff_name_valid(name) || !staff_role_valid(role))
        return SL_EINVAL;
    if (strlen(password) < 12)
        return SL_ELIMIT;       /* a passphrase, not a PIN */
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, strlen(password), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return SL_EIO;
    struct store_staff s = {.name = name, .role = role, .pwhash = hash,
                            .created_ms = clock_wall_ms()};
    return store_put_staff(st, &s);
}

bool staff_check_password(const char *name, const char *password, char role[16])
{
    struct account *a = strmap_get(&accounts, name);
    /* Verify against a dummy hash when the name is unknown, so that the
     * answer takes as long either way and does not reveal staff names. */
    static char dummy[crypto_pwhash_STRBYTES];
    if (!dummy[0] &&
        crypto_pwhash_str(dummy, "not a password", 14, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return false;
    const char *hash = a && !a->is_disabled ? a->pwhash : dummy;
    bool ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    if (!ok || !a || a->is_disabled)
        return false;
    snprintf(role, 16, "%s", a->role);
    return true;
}

static void random_hex(char out[STAFF_TOKEN_LEN + 1])
{
    unsigned char rnd[STAFF_TOKEN_LEN / 2];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(out, STAFF_TOKEN_LEN + 1, rnd, sizeof rnd);
}

const struct staff_session *staff_session_open(const char *name, const char *role)
{
    int64_t now = clock_wall_ms();
    struct staff_session *slot = &sessions[0];
    for (int i = 0; i < SESSIONS_MAX; i++) {
        if (sessions[i].expires_ms <= now) {
            slot = &sessions[i];
            break;
        }
        if (sessions[i].expires_ms < slot->expires_ms)
            slot = &sessions[i];        /* full: the oldest goes */
    }
    random_hex(slot->token);
    random_hex(slot->csrf);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    snprintf(slot->role, sizeof slot->role, "%s", role);
    slot->expires_ms = now + SESSION_TTL_MS;
    return slot;
}

const struct staff_session *staff_session_find(const char *token)
{
    if (!token || strlen(token) != STAFF_TOKEN_LEN)
        return NULL;
    int64_t now = clock_wall_ms();
    for (int i = 0; i < SESSIONS_MAX; i++)
        if (sessions[i].expires_ms > now &&
            sodium_memcmp(sessions[i].token, token, STAFF_TOKEN_LEN) == 0)
            return &sessions[i];
    return NULL;
}

void staff_session_close(const char *token)
{
    struct staff_session *s = (struct staff_session *)staff_session_find(token);
    if (s)
        memset(s, 0, sizeof *s);
}
