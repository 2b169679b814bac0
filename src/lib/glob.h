#ifndef SALON_LIB_GLOB_H
#define SALON_LIB_GLOB_H

#include <stdbool.h>

/* Matches text against mask with '*' (any run) and '?' (one byte), ASCII
 * case-insensitive, as IRC ban masks do. Iterative with one backtrack
 * point, so linear in practice even for masks like "*a*b*c". */
bool glob_match(const char *mask, const char *text);

#endif
