#include <stddef.h>

#include "policy/checks.h"

#define MINUTE_MS 60000
#define DAY_MS 86400000

/* The documented defaults (gate.h); policy_configure fills every newer
 * field left 0 from here. */
#define DEFAULTS {                                                                      \
    .flood_rate = 4, .flood_burst = 20, .per_address = 16, .age_lock_ms = DAY_MS,       \
    .connect_per_minute = 20, .connect_prefix_per_minute = 60,                          \
    .messages_per_minute = 30,                                                          \
    .duplicate_targets = 3, .duplicate_sessions = 5, .duplicate_window_ms = MINUTE_MS,  \
    .new_session_ms = 10 * MINUTE_MS, .new_links_max = 1, .new_mentions_max = 3,        \
    .first_contacts_new = 3, .first_contacts_per_hour = 10,                             \
    .risk_half_life_ms = 7LL * DAY_MS, .risk_tip = 40, .risk_review = 70,               \
    .risk_restrict = 100, .session_review = 150, .risk_max_conversations = 100000,      \
    .pow_bits = 16, .friction_messages = 10,                                            \
}

static const struct policy_config defaults = DEFAULTS;
struct policy_config policy_cfg = DEFAULTS;

#define OR_DEFAULT(field)                       \
    do {                                        \
        if (!policy_cfg.field)                  \
            policy_cfg.field = defaults.field;  \
    } while (0)

void policy_configure(const struct policy_config *cfg)
{
    policy_cfg = *cfg;
    if (policy_cfg.flood_rate == 0)
        policy_cfg.flood_rate = 1;
    OR_DEFAULT(connect_per_minute);
    OR_DEFAULT(connect_prefix_per_minute);
    OR_DEFAULT(messages_per_minute);
    OR_DEFAULT(duplicate_targets);
    OR_DEFAULT(duplicate_sessions);
    OR_DEFAULT(duplicate_window_ms);
    OR_DEFAULT(new_session_ms);
    OR_DEFAULT(new_links_max);
    OR_DEFAULT(new_mentions_max);
    OR_DEFAULT(first_contacts_new);
    OR_DEFAULT(first_contacts_per_hour);
    OR_DEFAULT(risk_half_life_ms);
    OR_DEFAULT(risk_tip);
    OR_DEFAULT(risk_review);
    OR_DEFAULT(risk_restrict);
    OR_DEFAULT(session_review);
    OR_DEFAULT(risk_max_conversations);
    OR_DEFAULT(pow_bits);
    OR_DEFAULT(friction_messages);
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
