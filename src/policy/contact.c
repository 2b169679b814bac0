#include <stdio.h>
#include <string.h>

#include "policy/checks.h"
#include "policy/risk.h"

/* First contacts (docs/rules.md): opening private conversations with
 * strangers is how both spam and grooming start, so each session has a
 * budget of new conversations per sliding hour, smaller while the session
 * is new. A conversation is new when the pair never exchanged a message
 * (risk.h keeps the count) and the recipient has not accepted the sender.
 * A request held for consent spends the budget like a delivered message;
 * a refused message spends nothing. A session restricted by a moderator
 * or by its risk score may not open new conversations at all. */
#define HOUR_MS 3600000LL
/* The most new conversations an hour one session can be allowed (the
 * ring below holds that many times). */
#define FIRST_CONTACTS_MAX 32
/* Sessions tracked: 32,768 x about 290 bytes = 9.5 MB; past that the one
 * whose last first contact is oldest goes first. */
#define CONTACT_SESSIONS_MAX 32768

struct contacts {
    struct ptable_head h;
    uint32_t n, next;                   /* times held, next ring slot */
    int64_t at[FIRST_CONTACTS_MAX];     /* monotonic times of first contacts */
};

static struct ptable table = PTABLE_INIT(struct contacts);

static bool is_new_conversation(const struct action *a)
{
    if (!a->session || !a->target_session || strcmp(a->session, a->target_session) == 0)
        return false;
    if (a->pm && a->pm->is_accepted)
        return false;
    return risk_exchanged_keys(policy_session_key(a), policy_target_key(a)) == 0;
}

static unsigned budget(const struct action *a)
{
    unsigned n = policy_cfg.first_contacts_per_hour;
    if (policy_session_is_new(a) && policy_cfg.first_contacts_new < n)
        n = policy_cfg.first_contacts_new;
    return n < FIRST_CONTACTS_MAX ? n : FIRST_CONTACTS_MAX;
}

/* How long until fewer than limit first contacts are in the last hour (0:
 * already), from the times in the ring, oldest first. */
static int64_t wait_ms(const struct contacts *c, unsigned limit, int64_t now)
{
    int64_t recent[FIRST_CONTACTS_MAX];
    unsigned n = 0;
    for (unsigned i = 0; i < c->n; i++) {
        int64_t t = c->at[(c->next + FIRST_CONTACTS_MAX - c->n + i) % FIRST_CONTACTS_MAX];
        if (t > now - HOUR_MS)
            recent[n++] = t;
    }
    return n < limit ? 0 : recent[n - limit] + HOUR_MS - now;
}

struct verdict check_first_contact(const struct action *a)
{
    if (a->kind != ACTION_SAY_PRIVATE || !is_new_conversation(a))
        return (struct verdict){.kind = VERDICT_NONE};
    if (a->pm_restricted)
        return (struct verdict){.kind = VERDICT_DENY, .code = "PM_RESTRICTED",
                                .reason = "You cannot start new private conversations until "
                                          "a moderator has looked at your account"};
    int64_t now = policy_mono_ms(a);
    struct contacts *c = ptable_find(&table, policy_session_key(a));
    int64_t wait = c ? wait_ms(c, budget(a), now) : 0;
    if (!wait)
        return (struct verdict){.kind = VERDICT_NONE};
    static char reason[160];
    int64_t minutes = (wait + 59999) / 60000;
    snprintf(reason, sizeof reason, "You started many new conversations lately: you can "
             "start another in %lld minute%s", (long long)minutes, minutes > 1 ? "s" : "");
    return (struct verdict){.kind = VERDICT_DENY, .code = "FIRST_CONTACT_LIMIT",
                            .reason = reason, .retry_ms = wait};
}

void contact_passed(const struct action *a)
{
    if (!a->session || !a->target_session)
        return;
    int64_t now = policy_mono_ms(a);
    if (is_new_conversation(a)) {
        struct contacts *c = ptable_use(&table, policy_session_key(a), CONTACT_SESSIONS_MAX);
        c->at[c->next] = now;
        c->next = (c->next + 1) % FIRST_CONTACTS_MAX;
        if (c->n < FIRST_CONTACTS_MAX)
            c->n++;
    }
    if (strcmp(a->session, a->target_session) != 0)
        risk_count_message_keys(policy_session_key(a), policy_target_key(a), now);
}
