#ifndef SALON_LIB_STRMAP_H
#define SALON_LIB_STRMAP_H

#include <stddef.h>

/* A hash map from strings (compared with CASEMAPPING=ascii folding) to
 * pointers: open addressing, linear probing, tombstones. Keys are borrowed:
 * the value must own its key string and outlive its entry. */
struct strmap {
    struct strmap_ent *ents;
    size_t cap, len, used;      /* used counts tombstones too */
};

void strmap_init(struct strmap *m);
void strmap_cleanup(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key);
/* Inserts or replaces; key must stay valid while present. */
void strmap_put(struct strmap *m, const char *key, void *value);
/* Removes key; returns the old value or NULL. */
void *strmap_del(struct strmap *m, const char *key);
/* Iterates: *pos starts at 0; returns the next value or NULL at the end. */
void *strmap_next(const struct strmap *m, size_t *pos);

#endif
