#ifndef SALON_LIB_ALLOC_H
#define SALON_LIB_ALLOC_H

#include <stddef.h>

/* Allocation wrappers that abort with a message on failure, as Redis's
 * zmalloc does. Memory a client can make us allocate is checked against its
 * limit *before* calling these, so a failure here is a real out-of-memory on
 * the machine, not something a client can provoke. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
