#include "core/history.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/strmap.h"

struct entry {
    struct store_msg m;     /* strings live in the same allocation */
};

struct history {
    char *key;
    struct entry **ring;
    unsigned cap, head, count;
    bool is_complete;       /* memory holds every message the key has */
    struct history *older, *newer;  /* private rings, oldest first */
    struct history *prev_all, *next_all;    /* every ring, for lookups */
};

static struct history *all_rings;

static void link_all(struct history *h)
{
    h->next_all = all_rings;
    if (all_rings)
        all_rings->prev_all = h;
    all_rings = h;
}

static void unlink_all(struct history *h)
{
    if (h->prev_all)
        h->prev_all->next_all = h->next_all;
    else
        all_rings = h->next_all;
    if (h->next_all)
        h->next_all->prev_all = h->prev_all;
}

static struct store *store;
static bool is_starting = true;
static struct strmap privates;
static struct history *oldest_private, *newest_private;
static unsigned private_cap_count = 4096;
static char msgid_prefix[9];
static uint32_t msgid_counter;

void history_init(struct store *st, unsigned private_capacity)
{
    store = st;
    if (private_capacity)
        private_cap_count = private_capacity;
    unsigned char rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(msgid_prefix, sizeof msgid_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
}

struct store *history_store(void)
{
    return store;
}

void history_started(void)
{
    is_starting = false;
}

void history_new_msgid(char *out)
{
    snprintf(out, HISTORY_MSGID_MAX, "%llx%s%06x", (unsigned long long)clock_wall_ms(),
             msgid_prefix, (unsigned)(++msgid_counter & 0xffffff));
}

void history_private_key(char *out, const char *a, const char *b)
{
    if (strcmp(a, b) > 0) {
        const char *t = a;
        a = b;
        b = t;
    }
    snprintf(out, HISTORY_KEY_MAX, "@%s@%s", a, b);
}

static struct entry *entry_new(const struct store_msg *m)
{
    const char *parts[] = {m->msgid, m->key, m->sender, m->source, m->command, m->target, m->text};
    size_t lens[7], total = sizeof(struct entry);
    for (int i = 0; i < 7; i++) {
        lens[i] = strlen(parts[i] ? parts[i] : "") + 1;
        total += lens[i];
    }
    struct entry *e = xmalloc(total);
    char *p = (char *)(e + 1);
    const char **dst[] = {&e->m.msgid, &e->m.key, &e->m.sender, &e->m.source,
                          &e->m.command, &e->m.target, &e->m.text};
    for (int i = 0; i < 7; i++) {
        memcpy(p, parts[i] ? parts[i] : "", lens[i]);
        *dst[i] = p;
        p += lens[i];
    }
    e->m.time_ms = m->time_ms;
    return e;
}

static void push(struct history *h, struct entry *e)
{
    if (h->cap == 0) {
        free(e);
        return;
    }
    if (!h->ring)
        h->ring = xcalloc(h->cap, sizeof *h->ring);
    if (h->count == h->cap) {
        free(h->ring[h->head]);
        h->ring[h->head] = e;
        h->head = (h->head + 1) % h->cap;
        h->is_complete = false;
    } else {
        h->ring[(h->head + h->count) % h->cap] = e;
        h->count++;
    }
}

static void load_one(const struct store_msg *m, void *ud)
{
    push(ud, entry_new(m));
}

static struct history *history_new(const char *key, unsigned cap)
{
    struct history *h = xcalloc(1, sizeof *h);
    h->key = xstrdup(key);
    h->cap = cap;
    link_all(h);
    return h;
}

struct history *history_open(const char *key, unsigned cap)
{
    struct history *h = history_new(key, cap);
    if (is_starting && store) {
        size_t n = store_recent(store, key, cap, load_one, h);
        h->is_complete = n < cap;
    } else if (!store) {
        h->is_complete = true;
    }
    return h;
}

void history_close(struct history *h)
{
    if (!h)
        return;
    unlink_all(h);
    for (unsigned i = 0; i < h->count; i++)
        free(h->ring[(h->head + i) % h->cap]);
    free(h->ring);
    free(h->key);
    free(h);
}

static void unlink_private(struct history *h)
{
    if (h->older)
        h->older->newer = h->newer;
    else
        oldest_private = h->newer;
    if (h->newer)
        h->newer->older = h->older;
    else
        newest_private = h->older;
    h->older = h->newer = NULL;
}

static void link_newest(struct history *h)
{
    h->older = newest_private;
    if (newest_private)
        newest_private->newer = h;
    newest_private = h;
    if (!oldest_private)
        oldest_private = h;
}

struct history *history_private(const char *key, unsigned cap)
{
    struct history *h = strmap_get(&privates, key);
    if (h) {
        unlink_private(h);
        link_newest(h);
        return h;
    }
    if (privates.len >= private_cap_count && oldest_private) {
        struct history *old = oldest_private;
        unlink_private(old);
        strmap_del(&privates, old->key);
        history_close(old);
    }
    /* Not read from storage: older private messages come from store_query
     * when asked for, so a new ring is not known to be complete. */
    h = history_new(key, cap);
    h->is_complete = store == NULL;
    strmap_put(&privates, h->key, h);
    link_newest(h);
    return h;
}

void history_add(struct history *h, const struct store_msg *m)
{
    push(h, entry_new(m));
    if (store)
        store_append_message(store, m);
}

int64_t history_last_time(const struct history *h)
{
    if (h->count == 0)
        return -1;
    return h->ring[(h->head + h->count - 1) % h->cap]->m.time_ms;
}

bool history_covers(const struct history *h, size_t limit)
{
    return h->count >= limit || h->is_complete;
}

bool history_latest(struct history *h, size_t limit, store_msg_fn *fn, void *ud)
{
    if (!history_covers(h, limit))
        return false;
    size_t n = h->count < limit ? h->count : limit;
    for (size_t i = h->count - n; i < h->count; i++)
        fn(&h->ring[(h->head + i) % h->cap]->m, ud);
    return true;
}

const struct store_msg *history_lookup(const char *msgid, struct history **out)
{
    for (struct history *h = all_rings; h; h = h->next_all) {
        for (unsigned i = 0; i < h->count; i++) {
            struct entry *e = h->ring[(h->head + i) % h->cap];
            if (strcmp(e->m.msgid, msgid) == 0) {
                *out = h;
                return &e->m;
            }
        }
    }
    return NULL;
}

size_t history_snapshot(const struct history *h, const struct store_msg **out, size_t max)
{
    size_t n = h->count < max ? h->count : max;
    for (size_t i = 0; i < n; i++)
        out[i] = &h->ring[(h->head + h->count - n + i) % h->cap]->m;
    return n;
}

const char *history_key(const struct history *h)
{
    return h->key;
}

bool history_remove(const char *msgid)
{
    if (store)
        store_remove_message(store, msgid);
    for (struct history *h = all_rings; h; h = h->next_all) {
        for (unsigned i = 0; i < h->count; i++) {
            unsigned at = (h->head + i) % h->cap;
            if (strcmp(h->ring[at]->m.msgid, msgid) != 0)
                continue;
            free(h->ring[at]);
            /* Close the gap, keeping order. */
            for (unsigned k = i; k + 1 < h->count; k++)
                h->ring[(h->head + k) % h->cap] = h->ring[(h->head + k + 1) % h->cap];
            h->count--;
            return true;
        }
    }
    return false;
}
