#include "policy/checks.h"

/* Private messages need consent (docs/protocol.md): with the "requests"
 * setting a stranger's messages are held as a request until the recipient
 * accepts; "nobody" refuses them; "everyone" lets them through. Once
 * accepted, nothing here stands in the way. */
struct verdict check_pm_consent(const struct action *a)
{
    const struct pm_facts *pm = a->pm;
    if (a->kind != ACTION_SAY_PRIVATE || !pm || pm->is_accepted)
        return (struct verdict){.kind = VERDICT_NONE};
    switch (pm->setting) {
    case POLICY_PM_EVERYONE:
        return (struct verdict){.kind = VERDICT_NONE};
    case POLICY_PM_NOBODY:
        return (struct verdict){.kind = VERDICT_DENY, .code = "PM_REFUSED",
                                .reason = "This person does not accept private messages"};
    default:
        break;
    }
    if (pm->is_declined)
        return (struct verdict){.kind = VERDICT_DENY, .code = "PM_DECLINED",
                                .reason = "This person did not accept your request"};
    if (pm->is_waiting && pm->held >= POLICY_PM_HELD_MAX)
        return (struct verdict){.kind = VERDICT_DENY, .code = "PM_PENDING",
                                .reason = "Waiting for this person to accept your request"};
    return (struct verdict){.kind = VERDICT_HOLD, .code = "PM_REQUEST",
                            .reason = "Held until the recipient accepts"};
}
