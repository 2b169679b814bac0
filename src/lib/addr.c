#include "lib/addr.h"

#include <arpa/inet.h>
#include <string.h>

static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool addr_is_v4(const uint8_t a[16])
{
    return memcmp(a, v4_mapped, 12) == 0;
}

const char *addr_format(const uint8_t a[16], char *out, size_t cap)
{
    if (addr_is_v4(a))
        inet_ntop(AF_INET, a + 12, out, (socklen_t)cap);
    else
        inet_ntop(AF_INET6, a, out, (socklen_t)cap);
    return out;
}

bool addr_parse(const char *text, uint8_t out[16])
{
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, text, &a4) == 1) {
        memcpy(out, v4_mapped, 12);
        memcpy(out + 12, &a4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, text, &a6) == 1) {
        memcpy(out, &a6, 16);
        return true;
    }
    return false;
}

bool addr_same_prefix(const uint8_t a[16], const uint8_t b[16])
{
    if (addr_is_v4(a) != addr_is_v4(b))
        return false;
    return addr_is_v4(a) ? memcmp(a, b, 15) == 0 : memcmp(a, b, 8) == 0;
}
