#include "lib/strmap.h"

#include <stdlib.h>

#include "lib/alloc.h"
#include "lib/casemap.h"

struct strmap_ent {
    const char *key;    /* NULL: empty; TOMBSTONE: deleted */
    void *value;
};

static const char TOMBSTONE[] = "";

void strmap_init(struct strmap *m)
{
    m->ents = NULL;
    m->cap = m->len = m->used = 0;
}

void strmap_cleanup(struct strmap *m)
{
    free(m->ents);
    strmap_init(m);
}

static struct strmap_ent *find(const struct strmap *m, const char *key)
{
    if (!m->cap)
        return NULL;
    size_t i = casemap_hash(key) & (m->cap - 1);
    for (;;) {
        struct strmap_ent *e = &m->ents[i];
        if (!e->key)
            return NULL;
        if (e->key != TOMBSTONE && casemap_equal(e->key, key))
            return e;
        i = (i + 1) & (m->cap - 1);
    }
}

static void rehash(struct strmap *m, size_t cap)
{
    struct strmap_ent *old = m->ents;
    size_t oldcap = m->cap;
    m->ents = xcalloc(cap, sizeof *m->ents);
    m->cap = cap;
    m->len = m->used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key && old[i].key != TOMBSTONE)
            strmap_put(m, old[i].key, old[i].value);
    free(old);
}

void *strmap_get(const struct strmap *m, const char *key)
{
    struct strmap_ent *e = find(m, key);
    return e ? e->value : NULL;
}

void strmap_put(struct strmap *m, const char *key, void *value)
{
    struct strmap_ent *e = find(m, key);
    if (e) {
        e->key = key;
        e->value = value;
        return;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        rehash(m, m->cap ? (m->len * 2 >= m->cap ? m->cap * 2 : m->cap) : 16);
    size_t i = casemap_hash(key) & (m->cap - 1);
    while (m->ents[i].key && m->ents[i].key != TOMBSTONE)
        i = (i + 1) & (m->cap - 1);
    if (!m->ents[i].key)
        m->used++;
    m->ents[i].key = key;
    m->ents[i].value = value;
    m->len++;
}

void *strmap_del(struct strmap *m, const char *key)
{
    struct strmap_ent *e = find(m, key);
    if (!e)
        return NULL;
    void *v = e->value;
    e->key = TOMBSTONE;
    e->value = NULL;
    m->len--;
    return v;
}

void *strmap_next(const struct strmap *m, size_t *pos)
{
    while (*pos < m->cap) {
        struct strmap_ent *e = &m->ents[(*pos)++];
        if (e->key && e->key != TOMBSTONE)
            return e->value;
    }
    return NULL;
}
