#ifndef SALON_LIB_UTF8_H
#define SALON_LIB_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool utf8_valid(const char *s, size_t len);
/* Returns the largest n <= max such that s[0..n) does not end inside a
 * multi-byte sequence; used to truncate text without splitting a character. */
size_t utf8_truncate(const char *s, size_t len, size_t max);

#endif
