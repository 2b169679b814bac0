#include "policy/lockdown.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "policy/checks.h"
#include "store/store.h"

#define RECORD_KIND "lockdown"
#define RECORD_KEY "level"
/* A challenge: "v1." + 19 digits + "." + 32 hex + "." + 2 digits + "." +
 * 64 hex is 123 characters; a proof adds ":" and 20 digits. */
#define CHALLENGE_MAX 128
#define PROOF_MAX (CHALLENGE_MAX + 21)
#define NONCE_DIGITS_MAX 20
/* Bits: more than 32 would keep a phone busy for hours. */
#define BITS_MAX 32
/* Used challenges remembered until they expire: 65,536 x 32 bytes;
 * beyond that many proofs in five minutes the oldest is forgotten first
 * (it expires soonest). */
#define USED_MAX 65536

static const char *const level_names[] = {"off", "challenge", "closed"};

static enum lockdown_level level;
static struct store *store;
static unsigned char mac_key[crypto_auth_KEYBYTES];
static bool has_mac_key;

struct used {
    struct ptable_head h;
    int64_t expires_ms;
};
static struct ptable used = PTABLE_INIT(struct used);

const char *lockdown_level_name(enum lockdown_level l)
{
    return (unsigned)l < 3 ? level_names[l] : "?";
}

int lockdown_level_parse(const char *name)
{
    for (int i = 0; i < 3; i++)
        if (name && strcmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

enum lockdown_level lockdown_level(void)
{
    return level;
}

unsigned lockdown_bits(void)
{
    return policy_cfg.pow_bits < BITS_MAX ? policy_cfg.pow_bits : BITS_MAX;
}

static void load_one(const char *key, const char *value, int64_t expires_ms, void *ud)
{
    (void)expires_ms;
    (void)ud;
    int l = lockdown_level_parse(value);
    if (strcmp(key, RECORD_KEY) == 0 && l >= 0)
        level = (enum lockdown_level)l;
}

void lockdown_init(struct store *st)
{
    store = st;
    if (st)
        store_load_records(st, RECORD_KIND, clock_wall_ms(), load_one, NULL);
    if (level != LOCKDOWN_OFF)
        log_warn("lockdown: entry is at level %s (saved)", lockdown_level_name(level));
}

void lockdown_set(enum lockdown_level l)
{
    level = l;
    log_warn("lockdown: entry is now at level %s", lockdown_level_name(l));
    if (store)
        store_put_record(store, RECORD_KIND, RECORD_KEY, lockdown_level_name(l), 0);
}

static const unsigned char *key(void)
{
    if (!has_mac_key) {
        if (sodium_init() < 0)
            abort();
        crypto_auth_keygen(mac_key);
        has_mac_key = true;
    }
    return mac_key;
}

/* A fresh challenge, in a static buffer (until the next call). */
static const char *challenge_new(int64_t now_wall_ms)
{
    static char out[CHALLENGE_MAX + 1];
    unsigned char nonce[16], mac[crypto_auth_BYTES];
    char nonce_hex[2 * sizeof nonce + 1];
    randombytes_buf(nonce, sizeof nonce);
    sodium_bin2hex(nonce_hex, sizeof nonce_hex, nonce, sizeof nonce);
    int n = snprintf(out, sizeof out, "v1.%" PRId64 ".%s.%u.",
                     now_wall_ms + LOCKDOWN_CHALLENGE_MS, nonce_hex, lockdown_bits());
    crypto_auth(mac, (const unsigned char *)out, (size_t)n - 1, key());
    sodium_bin2hex(out + n, sizeof out - (size_t)n, mac, sizeof mac);
    return out;
}

static unsigned leading_zero_bits(const unsigned char *h, size_t len)
{
    unsigned bits = 0;
    for (size_t i = 0; i < len; i++) {
        if (h[i]) {
            for (unsigned char b = h[i]; !(b & 0x80); b <<= 1)
                bits++;
            return bits;
        }
        bits += 8;
    }
    return bits;
}

/* The parts of "v1.<expiry>.<random>.<bits>.<mac>" (no ':nonce'), or
 * false when it is not that shape or its MAC does not hold. */
struct challenge {
    int64_t expires_ms;
    unsigned bits;
    uint64_t id;        /* hash of the random part, for the used set */
};

static bool challenge_parse(const char *c, size_t len, struct challenge *out)
{
    char text[CHALLENGE_MAX + 1];
    if (len > CHALLENGE_MAX || len < 4 || memcmp(c, "v1.", 3) != 0)
        return false;
    memcpy(text, c, len);
    text[len] = '\0';
    char *mac_hex = strrchr(text, '.');
    unsigned char mac[crypto_auth_BYTES];
    size_t mac_len = 0;
    if (sodium_hex2bin(mac, sizeof mac, mac_hex + 1, strlen(mac_hex + 1), NULL, &mac_len, NULL)
        || mac_len != sizeof mac || strlen(mac_hex + 1) != 2 * sizeof mac
        || crypto_auth_verify(mac, (const unsigned char *)text, (size_t)(mac_hex - text), key()))
        return false;
    /* Signed by us: the rest is well formed. */
    char *end;
    out->expires_ms = strtoll(text + 3, &end, 10);
    char *random = end + 1, *bits = strchr(random, '.') + 1;
    out->bits = (unsigned)strtoul(bits, NULL, 10);
    out->id = policy_hash(random, (size_t)(bits - 1 - random));
    return true;
}

/* Whether proof is a good, unused answer at now; a good one is used up. */
static bool proof_ok(const char *proof, int64_t now_wall_ms)
{
    size_t len = strnlen(proof, PROOF_MAX + 1);
    const char *colon = memchr(proof, ':', len);
    if (len > PROOF_MAX || !colon)
        return false;
    size_t digits = len - (size_t)(colon + 1 - proof);
    if (digits < 1 || digits > NONCE_DIGITS_MAX || strspn(colon + 1, "0123456789") != digits)
        return false;
    struct challenge c;
    if (!challenge_parse(proof, (size_t)(colon - proof), &c) || c.expires_ms <= now_wall_ms)
        return false;
    struct used *u = ptable_find(&used, c.id);
    if (u && u->expires_ms > now_wall_ms)
        return false;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)proof, len);
    if (leading_zero_bits(h, sizeof h) < c.bits)
        return false;
    if (!u)
        u = ptable_add(&used, c.id, USED_MAX);
    u->expires_ms = c.expires_ms;
    return true;
}

struct verdict check_lockdown(const struct action *a)
{
    if (a->kind != ACTION_ENTER || level == LOCKDOWN_OFF)
        return (struct verdict){.kind = VERDICT_NONE};
    if (level == LOCKDOWN_CLOSED)
        return (struct verdict){.kind = VERDICT_DENY, .code = "closed",
                                .reason = "Entry is closed for a while: please come back later"};
    int64_t now = policy_wall_ms(a);
    if (a->pow && proof_ok(a->pow, now))
        return (struct verdict){.kind = VERDICT_NONE};
    return (struct verdict){.kind = VERDICT_DENY, .code = "pow_required",
                            .challenge = challenge_new(now),
                            .reason = "Many people are entering at once: your browser "
                                      "checks itself first, it takes a few seconds"};
}
