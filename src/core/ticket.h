#ifndef SALON_CORE_TICKET_H
#define SALON_CORE_TICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/user.h"
#include "lib/err.h"

/* Session tickets: the server's signed statement of who a session is (its
 * id, age, gender, region). The entry flow mints one; the client presents
 * it with PASS; the server checks the signature and expiry and takes the
 * profile from the ticket, never from the client. Ed25519 (libsodium); the
 * key is generated on first start and kept in the data directory.
 *
 * Wire form: "v1." base64url(payload) "." base64url(signature), where the
 * payload is "session|age|gender|region|show_region|issued_ms|expires_ms|nick|device"
 * (device may be empty: tickets minted on the command line have none). */
#define TICKET_MAX 400

struct ticket {
    char session[SESSION_ID_LEN + 1];
    char nick[NICK_MAX + 1];
    char device[SESSION_ID_LEN + 1];    /* the browser's device id, or "" */
    struct profile profile;
    int64_t issued_ms;
    int64_t expires_ms;
};

/* Loads data_dir/ticket.key or creates it (mode 0600). */
enum sl_err ticket_init(const char *data_dir);
/* Writes a new random session id (hex) into out. */
void ticket_new_session_id(char out[SESSION_ID_LEN + 1]);
/* Signs t into out; returns SL_ELIMIT when cap is too small. */
enum sl_err ticket_mint(const struct ticket *t, char *out, size_t cap);
/* Checks s and fills t. SL_EINVAL: malformed or forged; SL_EPERM: expired. */
enum sl_err ticket_verify(const char *s, int64_t now_wall_ms, struct ticket *t);

const char *ticket_gender_name(enum gender g);
int ticket_gender_parse(const char *s);     /* -1 when unknown */

#endif
