#include "policy/gate.h"

#include <stddef.h>

#include "policy/checks.h"

/* What happens when no check has an opinion. ACTION_KINDS entries are
 * zero-initialised to VERDICT_NONE, which policy_check treats as deny, so a
 * new action kind fails closed until it is declared here. */
static const enum verdict_kind defaults[ACTION_KINDS] = {
    [ACTION_CONNECT] = VERDICT_ALLOW,
    [ACTION_ENTER] = VERDICT_ALLOW,
    [ACTION_COMMAND] = VERDICT_ALLOW,
    [ACTION_REGISTER] = VERDICT_ALLOW,
    [ACTION_NICK] = VERDICT_ALLOW,
    [ACTION_JOIN] = VERDICT_ALLOW,
    [ACTION_CREATE_ROOM] = VERDICT_ALLOW,
    [ACTION_SAY_ROOM] = VERDICT_ALLOW,
    [ACTION_SAY_PRIVATE] = VERDICT_ALLOW,
};

typedef struct verdict check_fn(const struct action *a);

/* The chain, in order. Cheap structural checks first. */
static check_fn *const chain[] = {
    check_ban,
    check_age,
    check_mute,
    check_connection_limit,
    check_flood,
    check_pm_consent,
};

struct verdict policy_check(const struct action *a)
{
    for (size_t i = 0; i < sizeof chain / sizeof chain[0]; i++) {
        struct verdict v = chain[i](a);
        if (v.kind != VERDICT_NONE)
            return v;
    }
    if ((unsigned)a->kind < ACTION_KINDS && defaults[a->kind] != VERDICT_NONE)
        return (struct verdict){.kind = defaults[a->kind]};
    return (struct verdict){.kind = VERDICT_DENY, .reason = "Action not permitted"};
}
