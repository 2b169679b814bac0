#include <stddef.h>
#include <string.h>

#include "policy/checks.h"
#include "policy/risk.h"
#include "policy/rules.h"

/* The content check: the rules engine's place in the gate (docs/rules.md).
 * It reads the text the gate normalised once (policy_text), runs every
 * rule that reads this kind of text, feeds the conversation risk score
 * with the signals found, and turns the strongest rule's action into a
 * verdict and effects that core carries out. It never bans: the gravest
 * thing it does alone is refuse, hold for a person, mute for minutes or
 * restrict until a person decides. */

/* Shown to the recipient, before the message, when someone they hardly
 * know sends a handle, a number or an app name. */
#define OFF_PLATFORM_WARNING                                                              \
    "Careful: this person you have only just met is asking to continue elsewhere or is "  \
    "sharing contact details. On other apps salon cannot protect you. Never share your "   \
    "number, address, school or photos with a stranger."

static enum rule_read read_of(enum action_kind kind)
{
    switch (kind) {
    case ACTION_SAY_ROOM: return READ_ROOM;
    case ACTION_SAY_PRIVATE: return READ_PRIVATE;
    case ACTION_NICK:
    case ACTION_ENTER: return READ_NICK;
    case ACTION_CREATE_ROOM: return READ_ROOM_NAME;
    case ACTION_TOPIC: return READ_TOPIC;
    case ACTION_AWAY: return READ_AWAY;
    default: return 0;
    }
}

/* The code a refusal carries, by what was refused. */
static const char *refusal_code(enum rule_read read)
{
    switch (read) {
    case READ_NICK: return "nick_refused";
    case READ_ROOM_NAME: return "ROOM_NAME_REFUSED";
    case READ_TOPIC: return "TOPIC_BLOCKED";
    case READ_AWAY: return "AWAY_BLOCKED";
    default: return "MESSAGE_BLOCKED";
    }
}

/* Signals feed the scores; the scores' thresholds become effects. */
static void note_risk(const struct action *a, const struct rule_hits *hits, struct verdict *v)
{
    if (!a->session)
        return;
    struct risk_update ru = {0};
    if (a->kind == ACTION_SAY_PRIVATE && a->target_session) {
        /* A message to oneself counts as a room's would (risk.h). */
        bool is_self = strcmp(a->session, a->target_session) == 0;
        uint64_t to = is_self ? 0 : policy_target_key(a);
        risk_note_keys(policy_session_key(a), is_self ? NULL : &to, hits->signals,
                       hits->weight, policy_mono_ms(a), &ru);
        v->risk = ru.conversation;
    } else if (a->kind == ACTION_SAY_ROOM && hits->signals) {
        risk_note_keys(policy_session_key(a), NULL, hits->signals, hits->weight,
                       policy_mono_ms(a), &ru);
    }
    v->effects |= ru.effects;
}

struct verdict check_content(const struct action *a)
{
    enum rule_read read = read_of(a->kind);
    struct verdict v = {.kind = VERDICT_NONE};
    if (!read || !policy_text)
        return v;
    struct rule_hits hits;
    bool in_room = a->kind == ACTION_SAY_ROOM || a->kind == ACTION_TOPIC;
    rules_match(policy_text,
                &(struct rule_context){.read = read, .room = in_room ? a->target : NULL,
                                       .room_category = a->room_category},
                &hits);
    note_risk(a, &hits, &v);
    const struct rule *r = hits.strongest;
    if (!r || r->action == RULE_NONE)
        return v;
    v.rule = r;
    switch (r->action) {
    case RULE_NONE:
        break;
    case RULE_BLOCK:
        v.kind = VERDICT_DENY;
        v.code = refusal_code(read);
        v.reason = r->reason;
        break;
    case RULE_HOLD:
        if (read == READ_ROOM_NAME) {
            /* The room may exist for its creator; the directory waits. */
            v.effects |= EFFECT_HIDE_ROOM;
        } else if (read == READ_ROOM || read == READ_PRIVATE) {
            v.kind = VERDICT_REVIEW;
            v.code = "HELD_FOR_REVIEW";
            v.reason = r->reason;
        } else {
            /* A nickname, topic or away text cannot wait: refused, and
             * moderators see the attempt. */
            v.kind = VERDICT_DENY;
            v.code = refusal_code(read);
            v.reason = r->reason;
            v.effects |= EFFECT_FLAG;
        }
        break;
    case RULE_MUTE:
        v.kind = VERDICT_DENY;
        v.code = "MUTED";
        v.reason = r->reason;
        v.effects |= EFFECT_MUTE | EFFECT_FLAG;
        v.mute_ms = r->mute_ms;
        break;
    case RULE_RESTRICT:
        v.effects |= EFFECT_RESTRICT_PM | EFFECT_FLAG;
        break;
    case RULE_FLAG:
        v.effects |= EFFECT_FLAG;
        break;
    case RULE_WARN:
        /* Friction, not refusal: between people who know each other a
         * phone number is ordinary. */
        if (a->kind == ACTION_SAY_PRIVATE && a->session && a->target_session &&
            risk_exchanged_keys(policy_session_key(a), policy_target_key(a))
                < policy_cfg.friction_messages) {
            v.effects |= EFFECT_WARN_RECIPIENT;
            v.warning = OFF_PLATFORM_WARNING;
        }
        break;
    }
    return v;
}
