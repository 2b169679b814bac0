#include "policy/checks.h"

#include <stdlib.h>
#include <string.h>

#include "lib/addr.h"
#include "lib/alloc.h"

/* Connections per address, counted in a small open-addressing table keyed
 * by the 16-byte address. Entries vanish when their count reaches zero. */
struct addr_count {
    uint8_t addr[16];
    uint32_t count;         /* 0: empty slot */
};

static struct addr_count *table;
static size_t cap, used;

static size_t slot_hash(const uint8_t *addr)
{
    uint64_t h = 1469598103934665603ULL;
    for (int i = 0; i < 16; i++) {
        h ^= addr[i];
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

static struct addr_count *lookup(const uint8_t *addr, bool create)
{
    if (create && (used + 1) * 2 >= cap) {
        size_t oldcap = cap;
        struct addr_count *old = table;
        cap = cap ? cap * 2 : 64;
        table = xcalloc(cap, sizeof *table);
        used = 0;
        for (size_t i = 0; i < oldcap; i++) {
            if (old[i].count) {
                struct addr_count *e = lookup(old[i].addr, true);
                e->count = old[i].count;
            }
        }
        free(old);
    }
    if (!cap)
        return NULL;
    for (size_t i = slot_hash(addr) & (cap - 1);; i = (i + 1) & (cap - 1)) {
        struct addr_count *e = &table[i];
        if (e->count == 0) {
            if (!create)
                return NULL;
            memcpy(e->addr, addr, 16);
            used++;
            return e;
        }
        if (memcmp(e->addr, addr, 16) == 0)
            return e;
    }
}

/* Rebuilds the table without the zero-count entries that linear probing
 * cannot simply delete. */
static void compact(void)
{
    size_t oldcap = cap;
    struct addr_count *old = table;
    table = xcalloc(cap, sizeof *table);
    used = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].count && old[i].count != UINT32_MAX) {
            struct addr_count *e = lookup(old[i].addr, true);
            e->count = old[i].count;
        }
    }
    free(old);
}

/* Counts only: the connection is counted by connlimit_opened once the
 * whole chain allowed it, so a later refusal (connect rate) costs no slot
 * that no close would give back. */
struct verdict check_connection_limit(const struct action *a)
{
    if (a->kind != ACTION_CONNECT || !policy_cfg.per_address)
        return (struct verdict){.kind = VERDICT_NONE};
    struct addr_count *e = lookup(a->addr, false);
    if (e && e->count != UINT32_MAX && e->count >= policy_cfg.per_address)
        return (struct verdict){.kind = VERDICT_DENY, .reason = "Too many connections from your address", .code = "TOO_MANY_CONNECTIONS"};
    return (struct verdict){.kind = VERDICT_NONE};
}

void connlimit_opened(const uint8_t addr[16])
{
    struct addr_count *e = lookup(addr, true);
    if (e->count == UINT32_MAX)
        e->count = 0;       /* a released slot being reused */
    e->count++;
}

void policy_connection_closed(const uint8_t addr[16])
{
    struct addr_count *e = lookup(addr, false);
    if (!e || e->count == 0 || e->count == UINT32_MAX)
        return;
    if (--e->count == 0) {
        /* Keep probing chains intact: mark released, compact when many. */
        e->count = UINT32_MAX;
        static unsigned released;
        if (++released > 1024) {
            released = 0;
            compact();
        }
    }
}

/* The rate of new connections from addresses nobody entered from lately,
 * per address and per /24 (IPv4) or /64 (IPv6) prefix: a raid opens
 * connections by the hundred from fresh addresses, while people come back
 * from addresses that already entered. An address becomes known when an
 * entry from it is allowed (ENTER or REGISTER, gate.c) and stays known
 * for KNOWN_FOR_MS, so a household, a school behind one NAT, or a test
 * suite on loopback is limited only until its first entry. Each rate
 * allows per_minute at once, then one every minute / per_minute. A refused
 * connection is closed (no THROTTLE: the listener has nowhere to keep
 * it), and counts for nothing. */
#define KNOWN_FOR_MS 86400000LL
/* Entries in each table: 65,536 x 32 bytes (24-byte entry + index) is
 * 2 MB per table; past that the least recently seen goes first. */
#define RATE_TABLE_MAX 65536

struct known {
    struct ptable_head h;
    int64_t until_ms;
};

struct rate {
    struct ptable_head h;
    int64_t tat_us;         /* rate_wait/rate_take */
};

static struct ptable known = PTABLE_INIT(struct known);
static struct ptable by_addr = PTABLE_INIT(struct rate);
static struct ptable by_prefix = PTABLE_INIT(struct rate);

void connect_rate_known(const uint8_t addr[16], int64_t now_ms)
{
    struct known *k = ptable_use(&known, policy_hash(addr, 16), RATE_TABLE_MAX);
    k->until_ms = now_ms + KNOWN_FOR_MS;
}

static bool is_known(const uint8_t addr[16], int64_t now_ms)
{
    struct known *k = ptable_find(&known, policy_hash(addr, 16));
    return k && k->until_ms > now_ms;
}

static struct rate *rate_of(struct ptable *t, const uint8_t key[16])
{
    return ptable_use(t, policy_hash(key, 16), RATE_TABLE_MAX);
}

struct verdict check_connect_rate(const struct action *a)
{
    if (a->kind != ACTION_CONNECT || !a->addr)
        return (struct verdict){.kind = VERDICT_NONE};
    int64_t now = policy_mono_ms(a);
    if (is_known(a->addr, now))
        return (struct verdict){.kind = VERDICT_NONE};
    uint8_t prefix[16];
    memcpy(prefix, a->addr, 16);
    if (addr_is_v4(prefix))
        prefix[15] = 0;
    else
        memset(prefix + 8, 0, 8);
    /* Two tables: a pointer into one stays valid while the other changes. */
    struct rate *one = rate_of(&by_addr, a->addr), *all = rate_of(&by_prefix, prefix);
    unsigned per_addr = policy_cfg.connect_per_minute;
    unsigned per_prefix = policy_cfg.connect_prefix_per_minute;
    if (rate_wait(one->tat_us, per_addr, now) || rate_wait(all->tat_us, per_prefix, now))
        return (struct verdict){.kind = VERDICT_DENY, .code = "CONNECT_RATE",
                                .reason = "Too many new connections from your network: "
                                          "try again in a minute"};
    rate_take(&one->tat_us, per_addr, now);
    rate_take(&all->tat_us, per_prefix, now);
    return (struct verdict){.kind = VERDICT_NONE};
}
