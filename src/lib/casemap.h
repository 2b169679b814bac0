#ifndef SALON_LIB_CASEMAP_H
#define SALON_LIB_CASEMAP_H

#include <stdbool.h>
#include <stddef.h>

/* CASEMAPPING=ascii (advertised in ISUPPORT): only A-Z fold to a-z. Used for
 * every nick and room-name comparison and for hash keys. */
void casemap_fold(char *dst, const char *src, size_t cap);
bool casemap_equal(const char *a, const char *b);
/* FNV-1a of the folded string, for hash tables. */
unsigned long casemap_hash(const char *s);

#endif
