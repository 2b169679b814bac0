#ifndef SALON_LIB_ADDR_H
#define SALON_LIB_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Peer addresses as 16 bytes, IPv4 stored IPv4-mapped (::ffff:a.b.c.d),
 * so one comparison serves both families. */
#define ADDR_TEXT_MAX 46    /* INET6_ADDRSTRLEN */

bool addr_is_v4(const uint8_t a[16]);
/* Printable form ("192.0.2.7", "2001:db8::1") into out; returns out. */
const char *addr_format(const uint8_t a[16], char *out, size_t cap);
/* Parses either family; false when text is not an address. */
bool addr_parse(const char *text, uint8_t out[16]);
/* Same /24 (IPv4) or /64 (IPv6) prefix: the unit of a prefix ban, and of
 * "other sessions from the same prefix" (docs/moderation.md). */
bool addr_same_prefix(const uint8_t a[16], const uint8_t b[16]);

#endif
