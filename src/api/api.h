#ifndef SALON_API_API_H
#define SALON_API_API_H

#include <stdbool.h>
#include <stdint.h>

/* The HTTP JSON API (docs/api.md). It enters the core through the same
 * functions and the same policy gate as IRC commands. */

struct api_config {
    int64_t ticket_ttl_ms;
    bool secure_cookies;        /* add "Secure" (behind TLS) */
};

/* Registers the routes with transport/http; call once at start-up. */
void api_init(const struct api_config *cfg);
/* Registers the staff and report routes (api/mod.c). */
void api_mod_init(void);

#endif
