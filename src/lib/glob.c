#include "lib/glob.h"

#include <stddef.h>

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + ('a' - 'A')) : c;
}

bool glob_match(const char *mask, const char *text)
{
    const char *star = NULL, *resume = NULL;
    while (*text) {
        if (*mask == '*') {
            star = ++mask;
            resume = text;
        } else if (*mask && (*mask == '?' || lower(*mask) == lower(*text))) {
            mask++;
            text++;
        } else if (star) {
            mask = star;
            text = ++resume;
        } else {
            return false;
        }
    }
    while (*mask == '*')
        mask++;
    return *mask == '\0';
}
