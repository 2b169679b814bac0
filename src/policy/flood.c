#include <stddef.h>

#include "policy/checks.h"

struct policy_config policy_cfg = {.flood_rate = 4, .flood_burst = 20, .per_address = 16,
                                   .age_lock_ms = 86400000};

void policy_configure(const struct policy_config *cfg)
{
    policy_cfg = *cfg;
    if (policy_cfg.flood_rate == 0)
        policy_cfg.flood_rate = 1;
}

/* Flood control as a penalty clock (the model of RFC 1459 section 8.10 and
 * ngIRCd): every command moves the client's clock forward by cost/rate
 * seconds, never behind now. A client may run `burst` commands ahead; past
 * that the command is throttled and the transport stops reading until the
 * clock catches up, so a flooder is slowed by back-pressure (its own socket
 * buffers fill) rather than served late at everyone else's expense. */
struct verdict check_flood(const struct action *a)
{
    if (a->kind != ACTION_COMMAND || !a->clock)
        return (struct verdict){.kind = VERDICT_NONE};
    int64_t step = 1000 / policy_cfg.flood_rate;
    if (step < 1)
        step = 1;
    int64_t window = step * policy_cfg.flood_burst;
    struct flood_clock *c = a->clock;
    if (c->ahead_until_ms < a->now_ms)
        c->ahead_until_ms = a->now_ms;
    int64_t next = c->ahead_until_ms + step * (a->cost ? a->cost : 1);
    if (next - a->now_ms > window && c->ahead_until_ms > a->now_ms) {
        /* Wait until this command fits in the window again. */
        return (struct verdict){.kind = VERDICT_THROTTLE, .retry_ms = next - window - a->now_ms};
    }
    c->ahead_until_ms = next;
    return (struct verdict){.kind = VERDICT_NONE};
}
