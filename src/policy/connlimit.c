#include "policy/checks.h"

#include <stdlib.h>
#include <string.h>

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

struct verdict check_connection_limit(const struct action *a)
{
    if (a->kind != ACTION_CONNECT)
        return (struct verdict){.kind = VERDICT_NONE};
    struct addr_count *e = lookup(a->addr, true);
    if (e->count == UINT32_MAX)
        e->count = 0;       /* a released slot being reused */
    if (policy_cfg.per_address && e->count >= policy_cfg.per_address) {
        return (struct verdict){.kind = VERDICT_DENY, .reason = "Too many connections from your address", .code = "TOO_MANY_CONNECTIONS"};
    }
    e->count++;
    return (struct verdict){.kind = VERDICT_NONE};
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
