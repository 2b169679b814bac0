#ifndef SALON_POLICY_LOCKDOWN_H
#define SALON_POLICY_LOCKDOWN_H

#include <stdint.h>

/* Lockdown (docs/rules.md): what staff switch on during a raid, for new
 * entries (ACTION_ENTER, the session API) only; people already inside,
 * and tickets already issued, are not affected.
 *
 * - challenge: an entry must carry a proof of work. The refusal (code
 *   "pow_required") carries a challenge
 *   "v1.<expiry wall ms>.<16 random bytes, hex>.<bits>.<MAC, hex>" whose
 *   MAC (crypto_auth, a key drawn per process) covers everything before
 *   it. The proof is "<challenge>:<nonce>", nonce 1 to 20 decimal digits,
 *   such that SHA-256 of the whole proof starts with `bits` zero bits. A
 *   proof is good once: the MAC holds, the challenge has not expired (it
 *   lives LOCKDOWN_CHALLENGE_MS) and was never used before. A restart
 *   draws a new key, so challenges issued before it are refused.
 * - closed: every entry is refused (code "closed").
 *
 * IRC registration (ACTION_REGISTER) is not gated: a ticket holder passed
 * the entry gate when the ticket was issued, and open registration is for
 * private networks, where a lockdown has nothing to keep out.
 *
 * The level survives restarts (a storage record). Loop thread only. */

enum lockdown_level { LOCKDOWN_OFF, LOCKDOWN_CHALLENGE, LOCKDOWN_CLOSED };

#define LOCKDOWN_CHALLENGE_MS 300000    /* 5 minutes to solve and submit */

struct store;

/* Loads the saved level (start-up; st may be NULL in unit tests) and
 * keeps later changes there. */
void lockdown_init(struct store *st);
/* Sets (and saves) the level. The caller audits who did it and why. */
void lockdown_set(enum lockdown_level level);
enum lockdown_level lockdown_level(void);
/* "off", "challenge", "closed"; parse returns -1 for anything else. */
const char *lockdown_level_name(enum lockdown_level level);
int lockdown_level_parse(const char *name);
/* The zero bits a new challenge asks for (policy_cfg.pow_bits, 1 to 32). */
unsigned lockdown_bits(void);

#endif
