#include "lib/casemap.h"

static inline char fold(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

void casemap_fold(char *dst, const char *src, size_t cap)
{
    size_t i = 0;
    if (cap == 0)
        return;
    for (; src[i] && i + 1 < cap; i++)
        dst[i] = fold(src[i]);
    dst[i] = '\0';
}

bool casemap_equal(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (fold(*a) != fold(*b))
            return false;
    return *a == *b;
}

unsigned long casemap_hash(const char *s)
{
    unsigned long h = 1469598103934665603UL;
    for (; *s; s++) {
        h ^= (unsigned char)fold(*s);
        h *= 1099511628211UL;
    }
    return h;
}
