#ifndef SALON_CORE_STAFF_H
#define SALON_CORE_STAFF_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct store;

/* Named staff accounts (moderators, admins) and their dashboard sessions.
 * Passwords are stored as argon2id hashes (libsodium crypto_pwhash_str);
 * a dashboard session is a random token in an HttpOnly cookie plus a CSRF
 * token the page sends back in a header. */
#define STAFF_NAME_MAX 32
#define STAFF_TOKEN_LEN 64              /* hex of 32 random bytes */

struct staff_session {
    char token[STAFF_TOKEN_LEN + 1];
    char csrf[STAFF_TOKEN_LEN + 1];
    char name[STAFF_NAME_MAX + 1];
    char role[16];
    int64_t expires_ms;
};

/* Loads the accounts (start-up). */
void staff_init(struct store *st);
bool staff_name_valid(const char *name);
bool staff_role_valid(const char *role);
/* Command line: creates or replaces an account. */
enum sl_err staff_add(struct store *st, const char *name, const char *role,
                      const char *password);

/* Checks a password (slow on purpose: argon2id). Writes the role into
 * role (16 bytes) and returns true when it matches an enabled account. */
bool staff_check_password(const char *name, const char *password, char role[16]);

/* Opens a dashboard session for name (8 hours). */
const struct staff_session *staff_session_open(const char *name, const char *role);
/* The session with token, when valid now; NULL otherwise. */
const struct staff_session *staff_session_find(const char *token);
void staff_session_close(const char *token);

#endif
